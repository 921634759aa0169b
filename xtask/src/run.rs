//! `cargo xtask run`: the release server on `http://127.0.0.1:3000`, serving a fresh UI build,
//! with a publish token made up for this run.

use std::fs::File;
use std::io::Read as _;
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
    let mut server = ctx.command(ctx.root.join("target").join("release").join("server"));
    server
        .args(["--bind", BIND, "--dist", "dist", "--publish-token", &token])
        .args(server_args)
        .stdin(std::process::Stdio::inherit());

    println!();
    println!("Herald: http://{BIND}");
    println!("Publish token (new each run): {token}");
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

/// 16 random bytes from the kernel, as 32 hex digits.
fn token() -> anyhow::Result<String> {
    let mut bytes = [0_u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for the publish token")?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}
