//! `loadgen soak <check>`: the network side of `cargo xtask soak`, Herald's fault suite. Each
//! check drives one kind of trouble against a server on loopback (reconnect storms, connection
//! churn, slow heads and bodies, a stalled reader) and prints what it saw as one `RESULT` line
//! of `key=value` figures; `cargo xtask soak` starts the server, watches it from `/proc`, and
//! judges the figures.
//!
//! Every check is bounded in sockets and in time: a server that stalls yields figures that fail
//! the check, never a hung run.

mod churn;
mod client;
mod ledger;
mod slow;
mod stalled;
mod storm;

use std::fmt::Display;
use std::net::SocketAddrV4;

use anyhow::bail;

/// One check; see `loadgen soak <check> --help`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Check {
    /// Subscribers dropped by FIN and RST at random while events flow, each resuming with
    /// `Last-Event-ID`: counts what each one lost, got twice, or got out of order.
    Storm(storm::Args),
    /// Subscribe, read the welcome, close; many times over, alternating FIN and RST.
    Churn(churn::Args),
    /// Sockets that send part of a request head, or a body slowly or never, while real clients
    /// are timed: counts how soon the server served the real ones and closed the slow ones.
    Slow(slow::Args),
    /// One subscriber that never reads among readers that read as fast as they can.
    Stalled(stalled::Args),
}

/// The server under test.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Target {
    /// The server's address; loopback only.
    #[arg(long)]
    addr: SocketAddrV4,
    /// A token that may publish (the checks that publish need one).
    #[arg(long, default_value = "")]
    token: String,
}

/// Runs one check on a runtime of its own and prints its figures.
pub(crate) fn run(check: Check) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(async {
        match check {
            Check::Storm(args) => storm::run(args).await,
            Check::Churn(args) => churn::run(args).await,
            Check::Slow(args) => slow::run(args).await,
            Check::Stalled(args) => stalled::run(args).await,
        }
    })?;
    eprintln!("{}", figures.summary());
    println!("{}", figures.line());
    // Sockets still held by tasks (slow sockets the server never closed) go with the runtime.
    runtime.shutdown_background();
    Ok(())
}

impl Target {
    fn check(&self) -> anyhow::Result<SocketAddrV4> {
        if !self.addr.ip().is_loopback() {
            bail!("loadgen soak targets loopback only, not {}", self.addr);
        }
        Ok(self.addr)
    }
}

/// What a check measured, in the order it was added.
#[derive(Debug, Default)]
pub(crate) struct Figures(Vec<(&'static str, String)>);

impl Figures {
    pub(crate) fn add(&mut self, key: &'static str, value: impl Display) -> &mut Self {
        self.0
            .push((key, value.to_string().replace(char::is_whitespace, "_")));
        self
    }

    /// `RESULT key=value ...`, for `cargo xtask soak` to read.
    fn line(&self) -> String {
        let mut line = String::from("RESULT");
        for (key, value) in &self.0 {
            line.push_str(&format!(" {key}={value}"));
        }
        line
    }

    /// The same figures for a person.
    fn summary(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k} {v}")).collect();
        pairs.join(", ")
    }
}

/// A small deterministic generator (SplitMix64): reproducible random drop times without a
/// dependency. Not for anything that needs real randomness.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0; the slight bias of a modulo does not matter here).
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// A fraction in `[0, 1)`.
    pub(crate) fn fraction(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Milliseconds of a duration, for figures.
pub(crate) fn ms(duration: std::time::Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}
