//! `cargo xtask run`: the release server on `http://127.0.0.1:3000`, serving a fresh UI build,
//! with a publish token made up for this run and the development JWT secret, and a link to the
//! UI carrying a JWT for the demo's private topic; and `cargo xtask token`, which mints JWTs
//! with that secret.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;

use crate::build;
use crate::process::Ctx;
use crate::tools::{self, Browser};

const BIND: &str = "127.0.0.1:3000";

/// The demo's private topic, as the UI names it (`client::state::PRIVATE_TOPIC`; spelt again
/// here because xtask depends on nothing of ours, to stay quick to compile).
const PRIVATE_TOPIC: &str = "private/demo";

/// How long the demo page's token lasts: a working day of development. A page whose token
/// expired loses its stream (the server refuses the reconnect with 401); a new run prints a
/// new link.
const DEMO_TOKEN_TTL: &str = "12h";

pub(crate) fn run(ctx: &Ctx, server_args: &[String]) -> anyhow::Result<()> {
    tools::install(ctx, Browser::Skip)?;
    build::build(ctx)?;
    ctx.run(ctx.cargo().args(["build", "--release", "-p", "server"]))?;

    let token = token()?;
    let secret_file = dev_secret(ctx)?;
    let secret = std::fs::read_to_string(&secret_file)
        .with_context(|| format!("cannot read {}", secret_file.display()))?;
    // One token to read the private topic and publish to it, as the page does both.
    let demo_token = sign(
        ctx,
        &secret_file,
        &[
            "--subscribe",
            PRIVATE_TOPIC,
            "--publish",
            PRIVATE_TOPIC,
            "--ttl",
            DEMO_TOKEN_TTL,
        ],
    )?;
    let mut server = ctx.command(ctx.root.join("target").join("release").join("server"));
    server
        .args(["--bind", BIND, "--dist", "dist", "--publish-token", &token])
        .arg("--jwt-secret-file")
        .arg(&secret_file)
        .args(server_args)
        .stdin(Stdio::inherit());

    println!();
    println!("Herald: http://{BIND}");
    println!("Publish token (new each run): {token}");
    println!(
        "JWT secret (development, kept in {}): {}",
        secret_file.display(),
        secret.trim()
    );
    println!(
        "  mint tokens with: cargo xtask token --publish SELECTOR --subscribe SELECTOR [--ttl 1h]"
    );
    println!(
        "Private topic: this link's token (valid {DEMO_TOKEN_TTL}) reads and publishes {PRIVATE_TOPIC:?}, \
         locked on the page without it:"
    );
    println!("  http://{BIND}/?authorization={demo_token}");
    println!("Try:");
    println!(
        "  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \
         -d '{{\"topic\":\"messages\",\"data\":\"hi\"}}' http://{BIND}/publish"
    );
    println!("Ctrl-C stops the server.");
    println!();
    println!("==> {}", ctx.describe(&server));
    hand_over(server)
}

/// Runs the server in our place. On Unix this process becomes the server (`exec`), so Ctrl-C
/// reaches only the server, which drains gracefully, and its exit status is ours.
#[cfg(unix)]
fn hand_over(mut server: Command) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    // `exec` returns only when it could not start the program.
    Err(server.exec()).context("cannot start the server")
}

/// Elsewhere: wait for the server and exit with its status.
#[cfg(not(unix))]
fn hand_over(mut server: Command) -> anyhow::Result<()> {
    let status = server.status().context("cannot start the server")?;
    std::process::exit(status.code().unwrap_or(1));
}

/// `cargo xtask token ARGS`: a JWT signed with the development secret (`herald-token ARGS`).
pub(crate) fn mint(ctx: &Ctx, args: &[String]) -> anyhow::Result<()> {
    let secret_file = dev_secret(ctx)?;
    // Quiet: only the token goes to stdout, so that `$(cargo xtask token ...)` is the token.
    let built = ctx
        .cargo()
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "server",
            "--bin",
            "herald-token",
        ])
        .status()
        .context("cannot run cargo")?;
    anyhow::ensure!(built.success(), "building herald-token failed ({built})");
    println!("{}", sign(ctx, &secret_file, args)?);
    Ok(())
}

/// A JWT from the release `herald-token` (built by the caller) signed with the secret in
/// `secret_file`: the one signing path for `run` and `token`.
fn sign(ctx: &Ctx, secret_file: &Path, args: &[impl AsRef<OsStr>]) -> anyhow::Result<String> {
    let minted = ctx
        .command(ctx.root.join("target").join("release").join("herald-token"))
        .arg("--secret-file")
        .arg(secret_file)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot start herald-token")?;
    anyhow::ensure!(
        minted.status.success(),
        "herald-token failed ({})",
        minted.status
    );
    let token = String::from_utf8(minted.stdout).context("herald-token printed non-UTF-8")?;
    Ok(token.trim().to_owned())
}

/// The development JWT secret's file, made (random) on first use and kept under `target/`, so
/// that tokens minted for one run of `cargo xtask run` work in the next.
fn dev_secret(ctx: &Ctx) -> anyhow::Result<PathBuf> {
    let path = ctx.root.join("target").join("herald-dev-jwt-secret");
    if !path.is_file() {
        std::fs::create_dir_all(ctx.root.join("target")).context("cannot create target/")?;
        std::fs::write(&path, format!("{}{}\n", token()?, token()?))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(path)
}

/// 16 random bytes from the kernel, as 32 hex digits.
fn token() -> anyhow::Result<String> {
    let mut bytes = [0_u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for the publish token")?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}
