//! `cargo xtask test`: every check CI runs, in order, stopping at the first failure: formatting,
//! clippy (host and wasm), host tests, the UI build, browser tests in headless Chromium against a
//! live server, and the end-to-end test.

use std::net::TcpListener;
use std::time::Instant;

use anyhow::Context as _;

use crate::build;
use crate::process::{Ctx, human};
use crate::server::TestServer;
use crate::tools::{self, Browser, CHROMEDRIVER, CHROMIUM};

/// Raised from the runner's default 20 s: the live browser test waits on a real server.
const BROWSER_TEST_TIMEOUT_SECS: &str = "60";

pub(crate) fn test(ctx: &Ctx) -> anyhow::Result<()> {
    let started = Instant::now();
    let outcome = all(ctx);
    let elapsed = human(started.elapsed());
    match &outcome {
        Ok(()) => println!("==> all checks passed in {elapsed}"),
        Err(_) => println!("==> checks failed after {elapsed}"),
    }
    outcome
}

fn all(ctx: &Ctx) -> anyhow::Result<()> {
    tools::install(ctx, Browser::Install)?;

    ctx.run(ctx.cargo().args(["fmt", "--all", "--check"]))?;
    ctx.run(ctx.cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    ctx.run(ctx.cargo().args([
        "clippy",
        "-p",
        "client",
        "--target",
        "wasm32-unknown-unknown",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    ctx.run(ctx.cargo().args(["test", "--workspace"]))?;

    // The server serves dist/, and the end-to-end test loads it in Chromium.
    build::build(ctx)?;

    browser_tests(ctx)?;

    ctx.run(
        ctx.cargo()
            // `--workspace`, as in the host tests: selecting one package would resolve features
            // differently and rebuild half the dependencies.
            .args([
                "test",
                "--workspace",
                "--test",
                "e2e",
                "--",
                "--ignored",
                "--test-threads=1",
            ])
            .env("HERALD_E2E_DIST", ctx.root.join("dist"))
            .env("CHROMEDRIVER", CHROMEDRIVER)
            .env("CHROMIUM", CHROMIUM),
    )
}

/// The client's wasm-bindgen tests in headless Chromium, against a live debug server that allows
/// the test runner's origin. The runner's port is chosen here, because the server must know the
/// origin before the page that makes requests exists.
fn browser_tests(ctx: &Ctx) -> anyhow::Result<()> {
    let runner_port = free_port()?;
    let runner_origin = format!("http://127.0.0.1:{runner_port}");

    // Already built by the host tests (with the workspace's features), so this is quick.
    ctx.run(ctx.cargo().args(["build", "--workspace", "--bins"]))?;
    let mut command = ctx.command(ctx.root.join("target").join("debug").join("server"));
    command
        .args(["--bind", "127.0.0.1:0", "--dist", "dist"])
        .args(["--allow-origin", &runner_origin, "--heartbeat", "15s"])
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
        );
    println!("==> {} &", ctx.describe(&command));
    let server = TestServer::start(command)?;
    println!("    test server on http://{}", server.addr);

    let outcome = ctx.run(
        ctx.cargo()
            .args(["test", "-p", "client", "--target", "wasm32-unknown-unknown"])
            .env("HERALD_TEST_SERVER_URL", format!("http://{}", server.addr))
            .env(
                "WASM_BINDGEN_TEST_ADDRESS",
                format!("127.0.0.1:{runner_port}"),
            )
            .env("CHROMEDRIVER", CHROMEDRIVER)
            .env("WASM_BINDGEN_TEST_TIMEOUT", BROWSER_TEST_TIMEOUT_SECS),
    );
    drop(server);
    outcome
}

/// A port nothing listens on right now: bound on port 0, read, released. (Another process could
/// take it before the runner does; on a test machine that is unlikely enough.)
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a free local port")?;
    Ok(listener.local_addr()?.port())
}
