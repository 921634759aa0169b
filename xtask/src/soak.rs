//! `cargo xtask soak [--small]`: Herald's fault suite. Each check starts the real server binary
//! on a free loopback port, lets `loadgen soak <check>` drive one kind of trouble at it, watches
//! the server from outside (`/metrics`, `/proc/<pid>/fd`, `VmRSS`), and prints PASS or FAIL
//! with its figures:
//!
//! 1. reconnect storm: subscribers dropped by FIN and RST while events flow, each resuming with
//!    `Last-Event-ID`: none loses, repeats or reorders an event;
//! 2. churn: subscribe, welcome, close, thousands of times: gauges and open files come back, and
//!    memory does not grow;
//! 3. slow heads and bodies: real clients are served within 2 s while slow sockets are held,
//!    and the server's timeouts close the slow ones;
//! 4. a stalled reader among fast ones: the fast ones get everything in order.
//!
//! The full size (release build, under 5 minutes) writes `bench/results/soak.md`; `--small` (the
//! test build, well under a minute) runs inside `cargo xtask test` and writes under `target/`.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::process::{Ctx, human};
use crate::server::ServerChild;

mod checks;
mod watch;

/// The publish token of the soak's servers (loopback only, never a secret).
const TOKEN: &str = "soak-token";
/// Bound on one loadgen run; each check bounds itself well within it.
const LOADGEN_TIMEOUT: Duration = Duration::from_secs(240);

/// The two sizes of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Size {
    /// A tenth of the load, on the test build: part of `cargo xtask test`.
    Small,
    /// The figures in `bench/results/soak.md`, on the release build.
    Full,
}

impl Size {
    fn scale(self, full: u64) -> u64 {
        match self {
            Self::Small => full / 10,
            Self::Full => full,
        }
    }
}

pub(crate) fn options(args: &[String]) -> anyhow::Result<Size> {
    match args {
        [] => Ok(Size::Full),
        [small] if small == "--small" => Ok(Size::Small),
        _ => bail!("soak takes --small or nothing, not {}", args.join(" ")),
    }
}

/// The programs under test.
#[derive(Debug)]
struct Bins {
    server: PathBuf,
    loadgen: PathBuf,
}

/// One check's outcome.
#[derive(Debug)]
struct Verdict {
    name: &'static str,
    /// What the check does and what must hold, for the report.
    what: &'static str,
    /// Why it failed; empty when it passed.
    failures: Vec<String>,
    /// Parts that could not be checked, and why.
    skipped: Vec<String>,
    /// What was measured, in order.
    figures: Vec<(String, String)>,
}

impl Verdict {
    fn new(name: &'static str, what: &'static str) -> Self {
        Self {
            name,
            what,
            failures: Vec::new(),
            skipped: Vec::new(),
            figures: Vec::new(),
        }
    }

    /// Records `what` as failed unless `holds`.
    fn expect(&mut self, holds: bool, what: impl Into<String>) {
        if !holds {
            self.failures.push(what.into());
        }
    }

    fn figure(&mut self, key: &str, value: impl ToString) {
        self.figures.push((key.to_owned(), value.to_string()));
    }

    fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

pub(crate) fn soak(ctx: &Ctx, size: Size) -> anyhow::Result<()> {
    let started = Instant::now();
    let bins = build(ctx, size)?;
    let help = Command::new(&bins.server)
        .arg("--help")
        .output()
        .context("cannot run the server for --help")?;
    let body_timeout = String::from_utf8_lossy(&help.stdout).contains("--body-timeout");

    let load_at_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut verdicts = Vec::new();
    for (name, what, check) in CHECKS {
        println!("==> soak: {name}");
        let mut verdict = Verdict::new(name, what);
        if let Err(err) = check(ctx, &bins, size, body_timeout, &mut verdict) {
            verdict.failures.push(format!("{err:#}"));
        }
        print_verdict(&verdict);
        verdicts.push(verdict);
    }

    let out = match size {
        Size::Full => ctx.root.join("bench/results/soak.md"),
        Size::Small => ctx.root.join("target/soak/soak-small.md"),
    };
    std::fs::create_dir_all(out.parent().context("a report has a directory")?)?;
    let report = report(
        ctx,
        size,
        &verdicts,
        started.elapsed(),
        load_at_start.trim(),
    );
    std::fs::write(&out, report).with_context(|| format!("cannot write {}", out.display()))?;
    println!("    figures in {}", out.display());

    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|verdict| !verdict.passed())
        .map(|verdict| verdict.name)
        .collect();
    if !failed.is_empty() {
        bail!("soak failed: {}", failed.join(", "));
    }
    println!("==> soak passed in {}", human(started.elapsed()));
    Ok(())
}

/// A check: runs against fresh servers and fills in its verdict (the flag: whether the server
/// has `--body-timeout`).
type Check = fn(&Ctx, &Bins, Size, bool, &mut Verdict) -> anyhow::Result<()>;

/// The checks, in the order they run: name, what it does and asks, and the check itself.
const CHECKS: [(&str, &str, Check); 4] = [
    (
        "reconnect storm",
        "Subscribers on one topic while 200 events/s are published for 15 s (small: 5 s); each \
         is dropped 1 to 3 times at random, alternately by FIN and by RST, and resumes at once \
         with Last-Event-ID. Each must get every event exactly once, in id order, with no reset.",
        checks::storm,
    ),
    (
        "churn",
        "Cycles of subscribe, read the welcome, close, 200 at a time, alternating FIN and RST. \
         1 s after the last close, the subscriber and connection gauges and the server's open \
         files must be back where they were before; RSS within 10 % of its value after the \
         first tenth of the cycles.",
        checks::churn,
    ),
    (
        "slow heads and bodies",
        "Sockets that send half a request head, or a publish head and then a body byte a \
         second, or nothing. While they are held, a new subscriber must get its welcome and a \
         publish its 200 within 2 s; unfinished heads must be closed by the server's request \
         timeout (5 s), and slow bodies by its body timeout when it has one.",
        checks::slow,
    ),
    (
        "stalled reader",
        "One subscriber with a 4 KiB receive buffer that never reads, among 200 that read as \
         fast as they can, while 1 KiB events are published back to back. The 200 must get \
         every event in order and never be cut; the stalled one must be cut once history no \
         longer holds its next event.",
        checks::stalled,
    ),
];

/// Builds the server and loadgen: the release build for the full size; for `--small`, the
/// build `cargo test --workspace` made (same profile, same features), so that inside `cargo
/// xtask test` only loadgen's binary is new.
fn build(ctx: &Ctx, size: Size) -> anyhow::Result<Bins> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| ctx.root.join("target"), |dir| ctx.root.join(dir));
    let profile = match size {
        Size::Full => {
            ctx.run(
                ctx.cargo()
                    .args(["build", "--release", "-p", "server", "-p", "loadgen"]),
            )?;
            "release"
        }
        Size::Small => {
            ctx.run(
                ctx.cargo()
                    .args(["build", "--workspace", "--bins", "--tests"]),
            )?;
            "debug"
        }
    };
    Ok(Bins {
        server: target.join(profile).join("server"),
        loadgen: target.join(profile).join("loadgen"),
    })
}

/// Starts a server on a free loopback port with the soak's token and `extra` flags.
fn start_server(ctx: &Ctx, bins: &Bins, extra: &[&str]) -> anyhow::Result<ServerChild> {
    let mut command = ctx.command(&bins.server);
    command
        .args(["--bind", "127.0.0.1:0", "--dist", "target/soak/no-ui"])
        .args(["--publish-token", TOKEN])
        .args(extra)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "error".to_owned()),
        );
    println!("==> {} &", ctx.describe(&command));
    ServerChild::start(command)
}

/// Runs `loadgen soak <check> --addr ADDR --token TOKEN ARGS` and returns its figures.
fn loadgen(
    ctx: &Ctx,
    bins: &Bins,
    server: &ServerChild,
    check: &str,
    args: &[String],
) -> anyhow::Result<Figures> {
    let mut command = ctx.command(&bins.loadgen);
    command
        .args(["soak", check, "--addr", &server.addr, "--token", TOKEN])
        .args(args)
        .stdout(Stdio::piped());
    println!("==> {}", ctx.describe(&command));
    let mut child = command.spawn().context("cannot start loadgen")?;
    let deadline = Instant::now() + LOADGEN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            // Ours, by its own PID.
            let _ = child.kill();
            let _ = child.wait();
            bail!("loadgen soak {check} ran past {LOADGEN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .context("loadgen's stdout was piped")?
        .read_to_string(&mut stdout)?;
    if !status.success() {
        bail!("loadgen soak {check} failed ({status})");
    }
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .context("loadgen printed no RESULT line")?;
    Ok(Figures(
        line.split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
    ))
}

/// What loadgen reported, in its order.
#[derive(Debug)]
struct Figures(Vec<(String, String)>);

impl Figures {
    /// A figure as loadgen wrote it; empty when it reported none.
    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map_or("", |(_, value)| value.as_str())
    }

    /// A figure as a number (`true` and `false` as 1 and 0).
    fn num(&self, key: &str) -> anyhow::Result<f64> {
        match self.get(key) {
            "" => bail!("loadgen reported no {key}"),
            "true" => Ok(1.0),
            "false" => Ok(0.0),
            number => number
                .parse()
                .with_context(|| format!("loadgen's {key} is not a number: {number:?}")),
        }
    }

    /// Copies every figure into the verdict.
    fn keep(&self, verdict: &mut Verdict) {
        for (key, value) in &self.0 {
            verdict.figure(key, value);
        }
    }
}

fn print_verdict(verdict: &Verdict) {
    let figures: Vec<String> = verdict
        .figures
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    let word = if verdict.passed() { "PASS" } else { "FAIL" };
    println!("{word} {}: {}", verdict.name, figures.join(" "));
    for failure in &verdict.failures {
        println!("    failed: {failure}");
    }
    for skipped in &verdict.skipped {
        println!("    SKIPPED: {skipped}");
    }
}

/// The Markdown report.
fn report(ctx: &Ctx, size: Size, verdicts: &[Verdict], took: Duration, load: &str) -> String {
    let mut out = String::from("# Soak: Herald under faults\n\n");
    let (command, build) = match size {
        Size::Full => ("cargo xtask soak", "release"),
        Size::Small => ("cargo xtask soak --small", "test (debug)"),
    };
    let commit =
        crate::process::first_line(ctx.command("git").args(["rev-parse", "--short", "HEAD"]))
            .unwrap_or_default();
    let _ = writeln!(
        out,
        "Made by `{command}` at commit {commit}, {build} build, in {}; each check on a fresh \
         server on 127.0.0.1. Load average at the start: {load}.\n",
        human(took),
    );
    out.push_str("| check | result | failed |\n|---|---|---|\n");
    for verdict in verdicts {
        let word = if verdict.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(
            out,
            "| {} | {word} | {} |",
            verdict.name,
            verdict.failures.join("; ")
        );
    }
    for verdict in verdicts {
        let _ = writeln!(out, "\n## {}\n\n{}\n", verdict.name, verdict.what);
        for skipped in &verdict.skipped {
            let _ = writeln!(out, "- skipped: {skipped}");
        }
        for (key, value) in &verdict.figures {
            let _ = writeln!(out, "- {key}: {value}");
        }
    }
    out
}
