//! `cargo xtask run`: the release server on `http://127.0.0.1:3000`, serving a fresh UI build,
//! with a publish token made up for this run and the development JWT secret; and
//! `cargo xtask token`, which mints JWTs with that secret.

use std::fs::File;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Context as _;

use crate::build;
use crate::process::Ctx;
use crate::tools::{self, Browser};

const BIND: &str = "127.0.0.1:3000";

pub(crate) fn run(ctx: &Ctx, server_args: &[String]) -> anyhow::Result<()> {
    tools::install(ctx, Browser::Skip)?;
    build::build(ctx)?;
    ctx.run(ctx.cargo().args(["build", "--release", "-p", "server"]))?;

    let token = token()?;
    let secret_file = dev_secret(ctx)?;
    let secret = std::fs::read_to_string(&secret_file)
        .with_context(|| format!("cannot read {}", secret_file.display()))?;
    let mut server = ctx.command(ctx.root.join("target").join("release").join("server"));
    server
        .args(["--bind", BIND, "--dist", "dist", "--publish-token", &token])
        .arg("--jwt-secret-file")
        .arg(&secret_file)
        .args(server_args)
        .stdin(std::process::Stdio::inherit());

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
    // Only the token goes to stdout, so that `$(cargo xtask token ...)` is the token.
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
    let minted = ctx
        .command(ctx.root.join("target").join("release").join("herald-token"))
        .arg("--secret-file")
        .arg(&secret_file)
        .args(args)
        .status()
        .context("cannot start herald-token")?;
    anyhow::ensure!(minted.success(), "herald-token failed ({minted})");
    Ok(())
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
