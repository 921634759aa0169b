//! `cargo xtask`: Herald's one entry point to install the tools, build the UI, run the server and
//! run every check, on a machine that starts with nothing but rustup, node and npm.
//!
//! The pattern is matklad's cargo-xtask: plain Rust instead of shell scripts, std and `anyhow`
//! only, because compiling this crate is the first thing every command does.

mod bench;
mod build;
mod bundle;
mod fuzz;
mod pins;
mod process;
mod profile;
mod run;
mod server;
mod soak;
mod test;
mod tidy;
mod tools;

use std::process::ExitCode;

use anyhow::bail;

use crate::process::Ctx;
use crate::tools::Browser;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  install            install the pinned tools (wasm target, Trunk, wasm-bindgen, wasm-opt)
  build              install, then build the UI into dist/ (trunk build --release)
  run [-- ARGS...]   install, build, then run the release server on http://127.0.0.1:3000
                     with a fresh publish token; ARGS go to the server
  token [--publish SEL]... [--subscribe SEL]... [--ttl 1h]
                     a JWT signed with the development secret that `run` uses and prints
  fuzz [SECONDS]     fuzz the SSE parser with libFuzzer (default 60 s)
  bench [--quick] [--pin-only | --no-pin] [--perf] [--tls] [--rounds N] [--scenario NAME]
        [--server NAME]
                     Herald vs an axum baseline, Nchan and Pushpin under load, pinned (one
                     core per server) and unpinned (workers = cores); results in bench/results/
                     (--quick: a tenth of the sizes, into target/bench/quick/, under 2 minutes;
                     --pin-only/--no-pin, --scenario/--server: part of it, into
                     target/bench/partial/; --perf: CPU profiles while delivering, into
                     profiles/ beside the results; --tls: Herald's fanout-1k over HTTPS too,
                     beside its cleartext one, and a TLS cost section in the report (e.g.
                     --tls --server herald --scenario fanout-1k for just those two);
                     --rounds: rounds of a full run, 3 by default)
  soak [--small]     the fault suite against the release server: reconnect storm, churn,
                     slow heads and bodies, a stalled reader; PASS/FAIL per check, figures in
                     bench/results/soak.md (--small: a tenth of it on the test build, well
                     under a minute, into target/soak/)
  test               install (with Chromium), then fmt, clippy, UI build, host tests with
                     the end-to-end test, and browser tests, stopping at the first failure";

fn main() -> ExitCode {
    match dispatch() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole chain on one line, without a backtrace to wade through.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        bail!("no command given");
    };
    let ctx = Ctx::new()?;
    match (command.as_str(), rest) {
        ("install", []) => tools::install(&ctx, Browser::Skip),
        ("build", []) => {
            tools::install(&ctx, Browser::Skip)?;
            build::build(&ctx)
        }
        ("run", rest) => run::run(&ctx, server_args(rest)?),
        ("test", []) => test::test(&ctx),
        ("token", rest) => run::mint(&ctx, rest),
        ("fuzz", []) => fuzz::run(&ctx.root, fuzz::DEFAULT_SECONDS),
        ("fuzz", [seconds]) => {
            let seconds = seconds
                .parse()
                .map_err(|_| anyhow::anyhow!("fuzz takes a number of seconds, got {seconds:?}"))?;
            fuzz::run(&ctx.root, seconds)
        }
        ("bench", rest) => bench::bench(&ctx, bench::options(rest)?),
        ("soak", rest) => soak::soak(&ctx, soak::options(rest)?),
        ("help" | "--help" | "-h", _) => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            bail!("unknown command or arguments: {}", args.join(" "))
        }
    }
}

/// The arguments after `--`, which `run` passes to the server untouched.
fn server_args(rest: &[String]) -> anyhow::Result<&[String]> {
    match rest.split_first() {
        None => Ok(&[]),
        Some((dashes, server_args)) if dashes == "--" => Ok(server_args),
        Some(_) => bail!(
            "server arguments go after `--`, e.g. `cargo xtask run -- --heartbeat 5s`; got: {}",
            rest.join(" ")
        ),
    }
}
