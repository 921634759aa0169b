//! `cargo xtask test`: every check CI runs, in order, stopping at the first failure: formatting,
//! clippy (host and wasm), the UI build and its size budget, host tests with the end-to-end
//! tests, and browser tests in headless Chromium against a live server, and the fault suite
//! (`cargo xtask soak`) at its small size.

use std::net::TcpListener;
use std::time::Instant;

use anyhow::Context as _;

use crate::build;
use crate::process::{Ctx, human};
use crate::server::ServerChild;
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
    // The server serves dist/, and the end-to-end tests load it in Chromium.
    build::build(ctx)?;
    crate::bundle::check(&ctx.root.join("dist"))?;

    // Host tests and the end-to-end tests (ignored by a plain `cargo test`, as they need dist/
    // and chromedriver) in one cargo run: one feature resolution, one build. Selecting a single
    // package or test target would resolve features differently and rebuild half the
    // dependencies.
    ctx.run(
        ctx.cargo()
            .args(["test", "--workspace", "--", "--include-ignored"])
            .env("HERALD_E2E_DIST", ctx.root.join("dist"))
            .env("CHROMEDRIVER", CHROMEDRIVER)
            .env("CHROMIUM", CHROMIUM),
    )?;
    // The fault suite at its small size, on the binaries the host tests built.
    crate::soak::soak(ctx, crate::soak::Size::Small)?;

    browser_tests(ctx)
}

/// The client's wasm-bindgen tests in headless Chromium, against a live debug server that allows
/// the test runner's origin. The runner's port is chosen here, because the server must know the
/// origin before the page that makes requests exists.
fn browser_tests(ctx: &Ctx) -> anyhow::Result<()> {
    let runner_port = free_port()?;
    let runner_origin = format!("http://127.0.0.1:{runner_port}");

    // Built by the host tests: cargo builds a package's binaries for its integration tests.
    let binary = ctx.root.join("target").join("debug").join("server");
    anyhow::ensure!(
        binary.is_file(),
        "{} was not built by the host tests",
        binary.display()
    );
    let mut command = ctx.command(binary);
    command
        .args(["--bind", "127.0.0.1:0", "--dist", "dist"])
        .args(["--allow-origin", &runner_origin, "--heartbeat", "15s"])
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
        );
    println!("==> {} &", ctx.describe(&command));
    let server = ServerChild::start(command)?;
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
