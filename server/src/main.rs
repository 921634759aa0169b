//! The `server` binary: parses flags, sets up logging, binds, and runs the library until
//! SIGINT or SIGTERM.

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use server::Config;
use tracing_subscriber::EnvFilter;

/// Exit code for a configuration that cannot work (the same as clap's usage errors).
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(problem) = config.validate() {
        eprintln!("error: {problem}");
        return ExitCode::from(USAGE);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[actix_web::main]
async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.bind)
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let local = listener.local_addr()?;
    if !config.dist.join("index.html").is_file() {
        tracing::warn!(dist = %config.dist.display(), "no built UI here; run `cargo xtask run` to build it");
    }
    // Printed on stdout, one line, so scripts can read the actual address (e.g. with port 0).
    println!("Herald listening on http://{local}");
    server::run(listener, config, shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(err) => {
                    tracing::warn!(%err, "cannot watch SIGTERM; only Ctrl-C stops the server");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
