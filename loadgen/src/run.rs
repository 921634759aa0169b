//! One load run: open the subscribers (bounded concurrency, spread over 127.0.0.x source
//! addresses), make sure every subscription is live, publish at a rate or as fast as the
//! bounded in-flight publishers allow, wait for the deliveries to drain, and measure.
//!
//! Every phase has a deadline under the run's overall `--timeout`: a server that stalls yields
//! a report marked `timed_out`, never a hung benchmark.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use shared::wire::Parser;
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::fleet::Fleet;
use crate::histogram::Histogram;
use crate::http::{Conn, Dechunker, Framing};
use crate::payload::{self, Payload};

/// Sockets one process may hold: the open-file limit here is 20,000, less room for the
/// runtime and stdio. Subscribers beyond it go to helper processes.
pub(crate) const MAX_SOCKETS_PER_PROCESS: usize = 19_900;
/// Subscribers one run may open, over all its processes (ten source addresses' worth of
/// ephemeral ports is far more; this bounds the run).
const MAX_SUBSCRIBERS: usize = 200_000;
/// Bound on one event on the wire; ours are tens of bytes.
const MAX_EVENT: usize = 64 * 1024;
/// How long one TCP connect plus response head may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often warm-up events go out while waiting for every subscription to be live.
const WARM_EVERY: Duration = Duration::from_millis(50);
/// How long to wait for every subscription to see a warm-up event.
const WARM_TIMEOUT: Duration = Duration::from_secs(15);

/// The server under test decides the request shapes; each is started by `cargo xtask bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub(crate) enum Target {
    /// Herald: `POST /publish` with a JSON body and a bearer token.
    Herald,
    /// bench/baseline-axum: `POST /publish`, the raw body is the data.
    Axum,
    /// Nchan (bench/nchan/nginx.conf): `POST /publish?topic=bench`, the raw body is the data.
    Nchan,
}

/// What one run does; see `loadgen run --help`.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub(crate) struct Config {
    /// The server's kind (request shapes).
    #[arg(long, value_enum)]
    pub(crate) target: Target,
    /// The server's address; loopback only.
    #[arg(long)]
    pub(crate) addr: SocketAddrV4,
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

impl Config {
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        if !self.addr.ip().is_loopback() {
            bail!("loadgen targets loopback only, not {}", self.addr);
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

    fn subscribe_request(&self) -> Vec<u8> {
        format!(
            "GET /events?topic={topic} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\
             Cache-Control: no-cache\r\n\r\n",
            topic = self.topic,
            addr = self.addr
        )
        .into_bytes()
    }

    fn publish_request(&self, data: &str) -> Vec<u8> {
        let (path, content_type, auth, body) = match self.target {
            Target::Herald => (
                "/publish".to_owned(),
                "application/json",
                format!("Authorization: Bearer {}\r\n", self.token),
                // Our data never needs JSON escapes: digits, spaces, `x`.
                format!(r#"{{"topic":"{}","data":"{data}"}}"#, self.topic),
            ),
            Target::Axum => (
                "/publish".to_owned(),
                "text/plain",
                String::new(),
                data.to_owned(),
            ),
            Target::Nchan => (
                format!("/publish?topic={}", self.topic),
                "text/plain",
                String::new(),
                data.to_owned(),
            ),
        };
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {content_type}\r\n\
             Content-Length: {len}\r\n\r\n{body}",
            addr = self.addr,
            len = body.len()
        )
        .into_bytes()
    }
}

/// What a run measured. Durations in milliseconds, rates per second.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) subscribers: u64,
    pub(crate) connected: u64,
    pub(crate) connect_failed: u64,
    /// Streams the server ended before the run did.
    pub(crate) dropped: u64,
    pub(crate) connect_all_s: f64,
    pub(crate) connect_p50_ms: f64,
    pub(crate) connect_p99_ms: f64,
    pub(crate) connect_max_ms: f64,
    pub(crate) messages: u64,
    pub(crate) published: u64,
    pub(crate) publish_errors: u64,
    pub(crate) publish_s: f64,
    pub(crate) publish_rate: f64,
    pub(crate) publish_p50_ms: f64,
    pub(crate) publish_p99_ms: f64,
    pub(crate) deliveries: u64,
    pub(crate) deliveries_per_s: f64,
    pub(crate) latency_p50_ms: f64,
    pub(crate) latency_p99_ms: f64,
    pub(crate) latency_max_ms: f64,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    pub(crate) timed_out: bool,
    /// CPU seconds (user + system) of this process and its helpers: near the wall time means
    /// loadgen, not the server, was the bottleneck.
    pub(crate) loadgen_cpu_s: f64,
    pub(crate) wall_s: f64,
    /// The first error a connection met, to explain failures.
    pub(crate) first_error: String,
}

impl Report {
    /// `key=value` pairs on one line, for `cargo xtask bench` to read without a JSON parser.
    pub(crate) fn to_line(&self) -> anyhow::Result<String> {
        let value = serde_json::to_value(self)?;
        let object = value.as_object().context("a report is an object")?;
        let mut line = String::from("RESULT");
        for (key, value) in object {
            let text = match value {
                serde_json::Value::String(text) => text.replace(char::is_whitespace, "_"),
                other => other.to_string(),
            };
            line.push_str(&format!(" {key}={text}"));
        }
        Ok(line)
    }
}

/// State every task of the run shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) stop: CancellationToken,
    /// What this process's subscribers counted.
    pub(crate) counts: Counts,
    /// The helper processes holding the subscribers beyond this one's share.
    fleet: Fleet,
    published: AtomicU64,
    publish_errors: AtomicU64,
    last_publish_ns: AtomicU64,
    pub(crate) latency: Histogram,
    pub(crate) connect: Histogram,
    publish_rtt: Histogram,
    first_error: std::sync::Mutex<Option<String>>,
}

/// Subscriber counters, this process's or (as last reported) a helper's.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) connected: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) warmed: AtomicU64,
    pub(crate) complete: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) unique: AtomicU64,
    pub(crate) duplicated: AtomicU64,
    /// Wall-clock nanoseconds of the last delivery.
    pub(crate) last_delivery_ns: AtomicU64,
}

/// [`Counts`] frozen, to send from a helper process to the one that started it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CountsSnapshot {
    pub(crate) connected: u64,
    pub(crate) failed: u64,
    pub(crate) dropped: u64,
    pub(crate) warmed: u64,
    pub(crate) complete: u64,
    pub(crate) deliveries: u64,
    pub(crate) unique: u64,
    pub(crate) duplicated: u64,
    pub(crate) last_delivery_ns: u64,
}

impl Counts {
    pub(crate) fn snapshot(&self) -> CountsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CountsSnapshot {
            connected: load(&self.connected),
            failed: load(&self.failed),
            dropped: load(&self.dropped),
            warmed: load(&self.warmed),
            complete: load(&self.complete),
            deliveries: load(&self.deliveries),
            unique: load(&self.unique),
            duplicated: load(&self.duplicated),
            last_delivery_ns: load(&self.last_delivery_ns),
        }
    }

    pub(crate) fn store(&self, snapshot: &CountsSnapshot) {
        let store = |counter: &AtomicU64, value| counter.store(value, Ordering::Relaxed);
        store(&self.connected, snapshot.connected);
        store(&self.failed, snapshot.failed);
        store(&self.dropped, snapshot.dropped);
        store(&self.warmed, snapshot.warmed);
        store(&self.complete, snapshot.complete);
        store(&self.deliveries, snapshot.deliveries);
        store(&self.unique, snapshot.unique);
        store(&self.duplicated, snapshot.duplicated);
        store(&self.last_delivery_ns, snapshot.last_delivery_ns);
    }
}

/// Which counter of [`Counts`] to read.
pub(crate) type Field = fn(&Counts) -> &AtomicU64;

impl Shared {
    pub(crate) fn new(config: Config, fleet: Fleet) -> Self {
        Self {
            config,
            stop: CancellationToken::new(),
            counts: Counts::default(),
            fleet,
            published: AtomicU64::new(0),
            publish_errors: AtomicU64::new(0),
            last_publish_ns: AtomicU64::new(0),
            latency: Histogram::default(),
            connect: Histogram::default(),
            publish_rtt: Histogram::default(),
            first_error: std::sync::Mutex::new(None),
        }
    }

    /// A counter summed over this process and its helpers (as they last reported).
    fn total(&self, field: Field) -> u64 {
        field(&self.counts).load(Ordering::Relaxed) + self.fleet.total(field)
    }

    pub(crate) fn first_error(&self) -> String {
        self.first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_default()
    }

    pub(crate) fn error(&self, err: &anyhow::Error) {
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        first.get_or_insert_with(|| format!("{err:#}"));
    }
}

/// Runs `config` to completion on a runtime of its own and returns what it measured.
pub(crate) fn run(config: Config) -> anyhow::Result<Report> {
    config.check()?;
    runtime(&config)?.block_on(drive(config))
}

/// A runtime for one process's share of the run: `--threads` workers, by default one per core
/// this process may run on.
pub(crate) fn runtime(config: &Config) -> anyhow::Result<tokio::runtime::Runtime> {
    let threads = config.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

async fn drive(config: Config) -> anyhow::Result<Report> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(config.timeout);
    let cpu_before = crate::cpu_seconds();
    // This process keeps what it may hold beside its publishers; helpers take the rest.
    let local = config
        .subscribers
        .min(config.per_process.saturating_sub(config.in_flight + 1));
    // Every process connects its share at once: split the concurrency so that the server's
    // accept queue sees the same bound as with one process.
    let processes = 1 + (config.subscribers - local).div_ceil(config.per_process);
    let mut config = config;
    config.connect_concurrency = config.connect_concurrency.div_ceil(processes);
    let fleet = Fleet::spawn(&config, local)?;
    let shared = Arc::new(Shared::new(config, fleet));
    let config = &shared.config;
    let total = config.subscribers as u64;
    let mut timed_out = false;

    // Connect.
    let bar = progress(config.quiet, total, "connect");
    let tasks = spawn_subscribers(&shared, 0..local);
    let connect_started = Instant::now();
    timed_out |= !wait_for(deadline, &bar, || {
        let done = shared.total(|c| &c.connected) + shared.total(|c| &c.failed);
        (done, done >= total)
    })
    .await;
    let connect_all_s = connect_started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let connected = shared.total(|c| &c.connected);

    // Hold (idle), or warm up, publish and drain.
    let mut publish_started_ns = 0;
    let mut publish_s = 0.0;
    if config.hold > 0.0 && !timed_out {
        let hold = Duration::from_secs_f64(config.hold);
        let bar = progress(config.quiet, hold.as_secs(), "hold");
        let until = (Instant::now() + hold).min(deadline);
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100).min(until - Instant::now())).await;
            bar.set_position((hold.as_secs_f64() - (until - Instant::now()).as_secs_f64()) as u64);
        }
        bar.finish_and_clear();
        phase("held");
    }
    if config.messages > 0 && connected > 0 && !timed_out {
        if !warm_up(&shared, deadline).await? {
            shared.error(&anyhow::anyhow!(
                "only {} of {connected} subscriptions saw a warm-up event",
                shared.total(|c| &c.warmed)
            ));
        }
        phase("publish");
        let expected = connected * config.messages;
        let bar = progress(config.quiet, expected, "deliver");
        publish_started_ns = payload::now_ns();
        let publish_started = Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let mut publishers = tokio::task::JoinSet::new();
        for _ in 0..config.in_flight {
            let (shared, next) = (Arc::clone(&shared), Arc::clone(&next));
            publishers.spawn(async move {
                if let Err(err) = publisher(&shared, &next, publish_started).await {
                    shared.error(&err);
                    shared.publish_errors.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let all_published = async { while publishers.join_next().await.is_some() {} };
        let live = async {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                bar.set_position(shared.total(|c| &c.deliveries));
            }
        };
        tokio::select! {
            () = all_published => {}
            () = live => {}
            () = tokio::time::sleep_until(deadline.into()) => timed_out = true,
        }
        publish_s = Duration::from_nanos(
            shared
                .last_publish_ns
                .load(Ordering::Relaxed)
                .saturating_sub(publish_started_ns),
        )
        .as_secs_f64();
        let drain_deadline = (Instant::now() + Duration::from_secs_f64(config.drain)).min(deadline);
        if !timed_out {
            // Done when every stream still open has every event.
            wait_for(drain_deadline, &bar, || {
                let complete = shared.total(|c| &c.complete) + shared.total(|c| &c.dropped);
                (shared.total(|c| &c.deliveries), complete >= connected)
            })
            .await;
        }
        bar.finish_and_clear();
        phase("drained");
    }

    stop_subscribers(&shared, tasks).await;
    // The helpers' final counts replace their last status; their histograms join ours.
    let helpers = shared.fleet.finish();
    let mut latency = shared.latency.snapshot();
    let mut connect = shared.connect.snapshot();
    let mut first_error = shared.first_error();
    for helper in &helpers {
        latency.merge(&helper.latency);
        connect.merge(&helper.connect);
        if first_error.is_empty() {
            first_error.clone_from(&helper.first_error);
        }
    }
    let publish_rtt = shared.publish_rtt.snapshot();
    let deliveries = shared.total(|c| &c.deliveries);
    let published = shared.published.load(Ordering::Relaxed);
    let last_delivery = shared
        .counts
        .last_delivery_ns
        .load(Ordering::Relaxed)
        .max(shared.fleet.last_delivery_ns());
    let delivery_s = last_delivery.saturating_sub(publish_started_ns) as f64 / 1e9;
    Ok(Report {
        subscribers: total,
        connected,
        connect_failed: shared.total(|c| &c.failed),
        dropped: shared.total(|c| &c.dropped),
        connect_all_s,
        connect_p50_ms: ms(connect.quantile(0.5)),
        connect_p99_ms: ms(connect.quantile(0.99)),
        connect_max_ms: ms(connect.max()),
        messages: config.messages,
        published,
        publish_errors: shared.publish_errors.load(Ordering::Relaxed),
        publish_s,
        publish_rate: if publish_s > 0.0 {
            published as f64 / publish_s
        } else {
            0.0
        },
        publish_p50_ms: ms(publish_rtt.quantile(0.5)),
        publish_p99_ms: ms(publish_rtt.quantile(0.99)),
        deliveries,
        deliveries_per_s: if delivery_s > 0.0 {
            deliveries as f64 / delivery_s
        } else {
            0.0
        },
        latency_p50_ms: ms(latency.quantile(0.5)),
        latency_p99_ms: ms(latency.quantile(0.99)),
        latency_max_ms: ms(latency.max()),
        lost: (connected * published).saturating_sub(shared.total(|c| &c.unique)),
        duplicated: shared.total(|c| &c.duplicated),
        timed_out,
        loadgen_cpu_s: crate::cpu_seconds() - cpu_before
            + helpers.iter().map(|helper| helper.cpu_s).sum::<f64>(),
        wall_s: started.elapsed().as_secs_f64(),
        first_error,
    })
}

/// Starts the subscribers numbered `indices` (the number picks the source address).
pub(crate) fn spawn_subscribers(
    shared: &Arc<Shared>,
    indices: std::ops::Range<usize>,
) -> tokio::task::JoinSet<()> {
    let gate = Arc::new(Semaphore::new(shared.config.connect_concurrency));
    let request: Arc<[u8]> = shared.config.subscribe_request().into();
    let mut tasks = tokio::task::JoinSet::new();
    for index in indices {
        let (shared, gate, request) = (Arc::clone(shared), Arc::clone(&gate), request.clone());
        tasks.spawn(async move {
            if let Err(err) = subscriber(&shared, index, &gate, &request).await {
                shared.error(&err);
            }
        });
    }
    tasks
}

/// Ends every subscriber: they stop at once on `stop`; the wait is bounded in case a socket
/// misbehaves.
pub(crate) async fn stop_subscribers(shared: &Shared, mut tasks: tokio::task::JoinSet<()>) {
    shared.stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}

/// Tells `cargo xtask bench` (reading our stdout) that a phase begins or ends, so that it reads
/// the server's CPU time and RSS at that moment: CPU per delivery counts the publish phase
/// only, not the connection storm before it.
fn phase(name: &str) {
    // stdout is line-buffered: the line leaves now.
    println!("PHASE {name}");
}

fn ms(nanos: Option<u64>) -> f64 {
    nanos.map_or(0.0, |nanos| nanos as f64 / 1e6)
}

fn progress(quiet: bool, len: u64, phase: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>8} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec})",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(phase.to_owned());
    bar
}

/// Polls `check` (progress, done) every 20 ms until done or `deadline`; `false` on timeout.
async fn wait_for(
    deadline: Instant,
    bar: &ProgressBar,
    mut check: impl FnMut() -> (u64, bool),
) -> bool {
    loop {
        let (position, done) = check();
        bar.set_position(position);
        if done {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes warm-up events until every open subscription has seen one; `false` if some never
/// did within [`WARM_TIMEOUT`].
async fn warm_up(shared: &Shared, deadline: Instant) -> anyhow::Result<bool> {
    let config = &shared.config;
    let mut conn = publish_conn(config).await?;
    let request = config.publish_request(payload::warm());
    let until = (Instant::now() + WARM_TIMEOUT).min(deadline);
    loop {
        let live = shared.total(|c| &c.connected) - shared.total(|c| &c.dropped);
        if shared.total(|c| &c.warmed) >= live {
            return Ok(true);
        }
        if Instant::now() >= until {
            return Ok(false);
        }
        conn.write_all(&request).await?;
        let head = conn.read_head().await?;
        if !(200..300).contains(&head.status) {
            bail!("warm-up publish answered {}", head.status);
        }
        conn.skip_body(head.framing).await?;
        if head.close {
            conn = publish_conn(config).await?;
        }
        tokio::time::sleep(WARM_EVERY).await;
    }
}

async fn publish_conn(config: &Config) -> anyhow::Result<Conn> {
    let stream = tokio::net::TcpStream::connect(config.addr)
        .await
        .with_context(|| format!("cannot connect the publisher to {}", config.addr))?;
    stream.set_nodelay(true)?;
    Ok(Conn::new(stream))
}

/// One publisher connection: takes the next sequence number, waits for its slot when a rate is
/// set, publishes it and waits for the answer (so in-flight requests = publishers).
async fn publisher(shared: &Shared, next: &AtomicU64, started: Instant) -> anyhow::Result<()> {
    let config = &shared.config;
    let mut conn = publish_conn(config).await?;
    loop {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if seq >= config.messages || shared.stop.is_cancelled() {
            return Ok(());
        }
        if config.rate > 0.0 {
            let due = started + Duration::from_secs_f64(seq as f64 / config.rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let sent = Instant::now();
        let request = config.publish_request(&payload::encode(seq, payload::now_ns(), config.size));
        conn.write_all(&request).await?;
        let head = conn.read_head().await?;
        conn.skip_body(head.framing).await?;
        shared
            .publish_rtt
            .record(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if (200..300).contains(&head.status) {
            shared.published.fetch_add(1, Ordering::Relaxed);
        } else {
            shared.publish_errors.fetch_add(1, Ordering::Relaxed);
            shared.error(&anyhow::anyhow!("publish answered {}", head.status));
        }
        shared
            .last_publish_ns
            .fetch_max(payload::now_ns(), Ordering::Relaxed);
        if head.close {
            conn = publish_conn(config).await?;
        }
    }
}

/// The events one subscriber has seen: a bit per sequence number.
#[derive(Debug)]
struct Seen {
    bits: Vec<u64>,
    unique: u64,
    warmed: bool,
}

/// One SSE connection, from connect to `stop`.
async fn subscriber(
    shared: &Shared,
    index: usize,
    gate: &Semaphore,
    request: &[u8],
) -> anyhow::Result<()> {
    let config = &shared.config;
    let (mut conn, framing) = {
        let _permit = gate.acquire().await?;
        let started = Instant::now();
        match tokio::time::timeout(CONNECT_TIMEOUT, open(config, index, request)).await {
            Ok(Ok(opened)) => {
                shared
                    .connect
                    .record(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
                shared.counts.connected.fetch_add(1, Ordering::Relaxed);
                opened
            }
            Ok(Err(err)) => {
                shared.counts.failed.fetch_add(1, Ordering::Relaxed);
                return Err(err);
            }
            Err(_) => {
                shared.counts.failed.fetch_add(1, Ordering::Relaxed);
                bail!("connect and response head took over {CONNECT_TIMEOUT:?}");
            }
        }
    };

    let messages = config.messages;
    let mut seen = Seen {
        bits: vec![0; usize::try_from(messages.div_ceil(64))?],
        unique: 0,
        warmed: false,
    };
    let mut parser = Parser::new(MAX_EVENT);
    let mut dechunker = Dechunker::default();
    let mut on_event = |event: shared::wire::ParsedEvent| {
        handle(shared, &mut seen, &event.data, messages);
    };
    // Bytes that arrived with the head.
    let mut feed = |bytes: &[u8]| -> anyhow::Result<()> {
        match framing {
            Framing::Chunked => {
                let mut result = Ok(());
                dechunker.feed(bytes, &mut |body| {
                    if result.is_ok() {
                        result = parser.feed(body, &mut on_event);
                    }
                })?;
                result?;
            }
            _ => parser.feed(bytes, &mut on_event)?,
        }
        Ok(())
    };
    let leftover = std::mem::take(&mut conn.buf);
    feed(&leftover)?;
    conn.buf = leftover;
    conn.buf.clear();
    loop {
        tokio::select! {
            () = shared.stop.cancelled() => return Ok(()),
            more = conn.fill() => {
                if !more.unwrap_or(false) {
                    shared.counts.dropped.fetch_add(1, Ordering::Relaxed);
                    bail!("the server ended a stream early");
                }
            }
        }
        feed(&conn.buf)?;
        conn.buf.clear();
    }
}

fn handle(shared: &Shared, seen: &mut Seen, data: &str, messages: u64) {
    match payload::decode(data) {
        Some(Payload::Bench { seq, sent_ns }) if seq < messages => {
            let now = payload::now_ns();
            shared.latency.record(now.saturating_sub(sent_ns));
            shared.counts.deliveries.fetch_add(1, Ordering::Relaxed);
            shared
                .counts
                .last_delivery_ns
                .fetch_max(now, Ordering::Relaxed);
            let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
            if seen.bits[word] & bit == 0 {
                seen.bits[word] |= bit;
                seen.unique += 1;
                shared.counts.unique.fetch_add(1, Ordering::Relaxed);
                if seen.unique == messages {
                    shared.counts.complete.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                shared.counts.duplicated.fetch_add(1, Ordering::Relaxed);
            }
        }
        Some(Payload::Warm) if !seen.warmed => {
            seen.warmed = true;
            shared.counts.warmed.fetch_add(1, Ordering::Relaxed);
        }
        // Welcome, reset, later warm-ups, or events of another run: not measured.
        _ => {}
    }
}

/// Connects subscriber `index` from its source address and reads the response head.
async fn open(config: &Config, index: usize, request: &[u8]) -> anyhow::Result<(Conn, Framing)> {
    let source = Ipv4Addr::new(127, 0, 0, 2 + (index % usize::from(config.sources)) as u8);
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))
        .with_context(|| format!("cannot bind a socket to {source}"))?;
    let stream = socket
        .connect(SocketAddr::V4(config.addr))
        .await
        .with_context(|| format!("cannot connect to {}", config.addr))?;
    stream.set_nodelay(true)?;
    let mut conn = Conn::new(stream);
    conn.write_all(request).await?;
    let head = conn.read_head().await?;
    if head.status != 200 {
        bail!("subscribe answered {}", head.status);
    }
    Ok((conn, head.framing))
}
