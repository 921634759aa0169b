//! The `server` binary: parses flags, sets up logging, binds, and runs the library until
//! SIGINT or SIGTERM (then drains; a second signal exits at once).

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use server::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit code for a configuration that cannot work (the same as clap's usage errors).
const USAGE: u8 = 2;
/// Exit code when a second signal cuts the drain short: 128 + SIGINT, as a shell reports it.
const INTERRUPTED: i32 = 130;

/// What is logged when `RUST_LOG` is not set.
const DEFAULT_LOG: &str = "info";

/// Where actix-http logs, at ERROR, what clients do wrong or to it: a malformed request, a
/// connection reset or timed out, a request body given up on. Client input must not raise
/// errors in the log, and these carry no detail an operator could act on, so they are off
/// unless `RUST_LOG` names `actix_http` (e.g. `RUST_LOG=info,actix_http=debug`).
const CLIENT_FAULT_TARGETS: [&str; 2] = ["actix_http::h1::dispatcher", "actix_http::h1::decoder"];

fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(problem) = config.validate() {
        eprintln!("error: {problem}");
        return ExitCode::from(USAGE);
    }
    let logs = tracing_subscriber::fmt().with_env_filter(log_filter());
    match config.log_format {
        LogFormat::Pretty => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            // A wrong `--redis-url` or a Redis not there is the configuration's fault.
            match err.downcast_ref::<server::RunError>() {
                Some(server::RunError::Log(_) | server::RunError::Config(_)) => {
                    ExitCode::from(USAGE)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// `RUST_LOG` (or [`DEFAULT_LOG`]), with [`CLIENT_FAULT_TARGETS`] off unless it names them.
fn log_filter() -> EnvFilter {
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_LOG.to_owned());
    let mut filter = EnvFilter::try_new(&spec).unwrap_or_else(|err| {
        eprintln!("warning: RUST_LOG={spec:?} is not a log filter ({err}); using {DEFAULT_LOG:?}");
        EnvFilter::new(DEFAULT_LOG)
    });
    if !spec.contains("actix_http") {
        for target in CLIENT_FAULT_TARGETS {
            match format!("{target}=off").parse() {
                Ok(directive) => filter = filter.add_directive(directive),
                Err(err) => eprintln!("warning: cannot quiet {target}: {err}"),
            }
        }
    }
    filter
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
    println!("Herald listening on {}://{local}", config.scheme());
    let mut signals = Signals::new();
    let shutdown = async move {
        signals.next().await;
        tracing::info!("signal received: draining (a second signal exits at once)");
        tokio::spawn(async move {
            signals.next().await;
            tracing::warn!("second signal: exiting without waiting for the drain");
            std::process::exit(INTERRUPTED);
        });
    };
    server::run(listener, config, shutdown).await?;
    Ok(())
}

/// SIGINT and SIGTERM, each time one arrives.
struct Signals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let terminate = signal(SignalKind::terminate())
                .inspect_err(|err| {
                    tracing::warn!(%err, "cannot watch SIGTERM; only Ctrl-C stops the server");
                })
                .ok();
            Self { terminate }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Completes on the next SIGINT or SIGTERM.
    async fn next(&mut self) {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        if let Some(terminate) = self.terminate.as_mut() {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        // No SIGTERM watcher: Ctrl-C only; if even that cannot be watched, never.
        if interrupt.await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
