//! What one load run does (`loadgen run --help`), the bounds every run stays under, and the
//! check that a configuration respects them before anything connects.

use std::net::SocketAddrV4;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::target::{self, PublishRoute, Target};

/// Sockets one process may hold: the open-file limit here is 20,000, less room for the
/// runtime and stdio. Subscribers beyond it go to helper processes.
pub(crate) const MAX_SOCKETS_PER_PROCESS: usize = 19_900;
/// Subscribers one run may open, over all its processes (ten source addresses' worth of
/// ephemeral ports is far more; this bounds the run).
const MAX_SUBSCRIBERS: usize = 200_000;

/// What one run does; see `loadgen run --help`.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub(crate) struct RunConfig {
    /// The server's kind (request shapes).
    #[arg(long, value_enum)]
    pub(crate) target: Target,
    /// The server's address; loopback only.
    #[arg(long)]
    pub(crate) addr: SocketAddrV4,
    /// Where to publish, when not at `--addr` (Pushpin's handler); loopback only.
    #[arg(long)]
    pub(crate) publish_addr: Option<SocketAddrV4>,
    /// Speak HTTPS (TLS, ALPN `http/1.1`) to the server, trusting only the certificates in this
    /// PEM file, each connection's certificate verified for the IP address dialled.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// The topic (or channel) to subscribe and publish to.
    #[arg(long, default_value = "bench")]
    pub(crate) topic: String,
    /// Herald's publish token.
    #[arg(long, default_value = "T")]
    pub(crate) token: String,
    /// SSE connections to open.
    #[arg(long, default_value_t = 100)]
    pub(crate) subscribers: usize,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 256)]
    pub(crate) connect_concurrency: usize,
    /// Source addresses to spread subscribers over: 127.0.0.2 and up, so that tens of
    /// thousands of connections do not run out of ephemeral ports on one address pair.
    #[arg(long, default_value_t = 16)]
    pub(crate) sources: u8,
    /// Measured events to publish (0: only hold the connections).
    #[arg(long, default_value_t = 0)]
    pub(crate) messages: u64,
    /// Publishes per second; 0 publishes as fast as the in-flight bound allows.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) rate: f64,
    /// Publish requests in flight at once (one keep-alive connection each).
    #[arg(long, default_value_t = 4)]
    pub(crate) in_flight: usize,
    /// Bytes of data per event.
    #[arg(long, default_value_t = 64)]
    pub(crate) size: usize,
    /// Seconds to hold the connections once open (the idle scenario).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) hold: f64,
    /// Seconds to wait after the last publish for deliveries still in flight.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) drain: f64,
    /// Bound on the whole run, in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub(crate) timeout: f64,
    /// Sockets one process holds at most; subscribers beyond it are spread over helper
    /// processes (`loadgen` started again), whose counts and histograms join this one's.
    #[arg(long, default_value_t = MAX_SOCKETS_PER_PROCESS)]
    pub(crate) per_process: usize,
    /// Runtime worker threads (default: the cores this process may run on).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// No progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub(crate) quiet: bool,
}

impl RunConfig {
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        for addr in [self.addr, self.publishes_to()] {
            if !addr.ip().is_loopback() {
                bail!("loadgen targets loopback only, not {addr}");
            }
        }
        if self.target == Target::Pushpin && self.publish_addr.is_none() {
            bail!("Pushpin takes publishes on its own port: --publish-addr");
        }
        if !(self.in_flight + 2..=MAX_SOCKETS_PER_PROCESS).contains(&self.per_process) {
            bail!(
                "--per-process must be {}..={MAX_SOCKETS_PER_PROCESS} (the publishers' sockets \
                 and one subscriber, up to what one process may hold)",
                self.in_flight + 2
            );
        }
        if self.subscribers > MAX_SUBSCRIBERS {
            bail!("at most {MAX_SUBSCRIBERS} subscribers in one run");
        }
        if self.sources == 0 || self.sources > 250 {
            bail!("--sources must be 1..=250");
        }
        if self.in_flight == 0 || self.connect_concurrency == 0 {
            bail!("--in-flight and --connect-concurrency must be at least 1");
        }
        if !(self.timeout > 0.0 && self.hold >= 0.0 && self.drain >= 0.0 && self.rate >= 0.0) {
            bail!("--timeout must be positive; --hold, --drain and --rate not negative");
        }
        Ok(())
    }

    /// The request that opens one subscription.
    pub(crate) fn subscribe_request(&self) -> Vec<u8> {
        target::subscribe_request(self.addr, &self.topic)
    }

    /// The address publish requests go to.
    pub(crate) fn publishes_to(&self) -> SocketAddrV4 {
        self.publish_addr.unwrap_or(self.addr)
    }

    /// Where and how this run publishes.
    pub(crate) fn publish(&self) -> PublishRoute<'_> {
        PublishRoute {
            target: self.target,
            addr: self.publishes_to(),
            topic: &self.topic,
            token: &self.token,
        }
    }

    /// A runtime for one process's share of the run: `--threads` workers, by default one per
    /// core this process may run on.
    pub(crate) fn runtime(&self) -> anyhow::Result<tokio::runtime::Runtime> {
        let threads = self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_all()
            .build()
            .context("cannot start the runtime")
    }
}
