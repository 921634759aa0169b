//! `herald-token`: mints a JWT with Mercure's claims, signed (HS256) with a secret read from a
//! file, for development (`cargo xtask token` runs it with the secret `cargo xtask run` uses).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Parser;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// Mints a JWT for Herald (HS256, Mercure's claims).
#[derive(Debug, Parser)]
#[command(name = "herald-token", about)]
struct Args {
    /// The file holding the secret (trailing whitespace ignored).
    #[arg(long)]
    secret_file: PathBuf,
    /// A topic selector the token may publish to; repeatable.
    #[arg(long)]
    publish: Vec<String>,
    /// A topic selector whose private events the token may receive; repeatable.
    #[arg(long)]
    subscribe: Vec<String>,
    /// How long the token is valid.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
}

fn main() -> ExitCode {
    match mint(&Args::parse()) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn mint(args: &Args) -> anyhow::Result<String> {
    let secret = std::fs::read_to_string(&args.secret_file)
        .with_context(|| format!("cannot read {}", args.secret_file.display()))?;
    let secret = secret.trim_end();
    anyhow::ensure!(
        !secret.is_empty(),
        "{} is empty",
        args.secret_file.display()
    );
    let expires = SystemTime::now().duration_since(UNIX_EPOCH)? + args.ttl;
    let claims = serde_json::json!({
        "mercure": { "publish": args.publish, "subscribe": args.subscribe },
        "exp": expires.as_secs(),
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .context("cannot sign the token")
}
