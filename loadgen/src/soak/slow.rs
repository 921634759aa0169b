//! Slow heads and slow bodies: sockets that send part of a request head and then nothing, or a
//! publish head with its `Content-Length` and then one body byte a second, or nothing. While
//! they are held, real clients (a subscriber waiting for its welcome, a publisher waiting for
//! its 200) are timed again and again; the slow sockets are watched until the server closes
//! them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::client::{EventStream, Publisher, connect};
use super::{Figures, Target, ms};

/// Connections being opened at once.
const CONNECT_CONCURRENCY: usize = 256;
/// Bound on one probe; a probe that takes longer counts as failed at this time.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two probe rounds.
const PROBE_EVERY: Duration = Duration::from_millis(200);
/// The declared length of a slow body: at a byte a second it never completes within a run.
const BODY_LEN: usize = 1000;
/// Bytes of a server's answer kept, to read its status line.
const KEPT: usize = 64;
/// Subscriber numbers of the probes, clear of the slow sockets' (they pick source addresses).
const PROBE_INDEX: usize = 1_000_000;
const TOPIC: &str = "soak-slow";
/// The probes' own topic.
const PROBE_TOPIC: &str = "soak-slow-probe";

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: Target,
    /// Slow sockets: half partial heads, a quarter slow bodies, a quarter silent bodies.
    #[arg(long, default_value_t = 2000)]
    sockets: usize,
    /// The server has a body timeout: wait for the slow bodies to be closed too.
    #[arg(long)]
    expect_body_close: bool,
    /// Seconds to wait at most for the server to close what it should.
    #[arg(long, default_value_t = 30.0)]
    wait: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Part of a request head, then nothing.
    Head,
    /// A whole publish head, then a body byte a second.
    Trickle,
    /// A whole publish head, then nothing.
    Silent,
}

impl Kind {
    fn of(index: usize) -> Self {
        match index % 4 {
            0 | 1 => Self::Head,
            2 => Self::Trickle,
            _ => Self::Silent,
        }
    }

    /// What the socket sends first.
    fn opening(self, index: usize, token: &str) -> Vec<u8> {
        match self {
            // Two shapes of an unfinished head: cut inside a header name and inside a value.
            Self::Head if index.is_multiple_of(2) => {
                format!("GET /events?topic={TOPIC} HTTP/1.1\r\nHost: 127.0.0.1\r\nAcce").into()
            }
            Self::Head => "POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1".into(),
            Self::Trickle | Self::Silent => format!(
                "POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: {BODY_LEN}\r\n\r\n"
            )
            .into(),
        }
    }
}

/// The body a trickling socket sends a byte at a time: a valid publish, padded.
fn slow_body() -> Vec<u8> {
    let start = format!(r#"{{"topic":"{TOPIC}","data":""#);
    let mut body = start.into_bytes();
    body.resize(BODY_LEN - 2, b'x');
    body.extend_from_slice(br#""}"#);
    body
}

/// What became of one slow socket.
#[derive(Debug, Clone, Copy)]
struct Fate {
    kind: Kind,
    /// How long after its opening bytes the server closed it; `None`: still open at the end.
    closed_after: Option<Duration>,
    /// The status of the answer the server sent before closing, if any.
    status: Option<u16>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<Figures> {
    let addr = args.target.check()?;
    let began = Instant::now();
    let stop = CancellationToken::new();
    let opened = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut sockets = tokio::task::JoinSet::new();
    for index in 0..args.sockets {
        let (stop, gate, token) = (stop.clone(), Arc::clone(&gate), args.target.token.clone());
        let (opened, failed, closed) = (
            Arc::clone(&opened),
            Arc::clone(&failed),
            Arc::clone(&closed),
        );
        sockets.spawn(async move {
            let fate = slow_socket(addr, index, &token, &gate, &opened, &stop).await;
            match fate {
                Some(fate) if fate.closed_after.is_some() => {
                    closed.fetch_add(1, Ordering::Relaxed);
                }
                Some(_) => {}
                None => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            fate
        });
    }
    let all_sent = async {
        while opened.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < args.sockets {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(60), all_sent).await;
    let held_from = Instant::now();

    // How many must close before the run can end: the heads always, the bodies when the
    // server has a body timeout.
    let heads = (0..args.sockets)
        .filter(|&index| Kind::of(index) == Kind::Head)
        .count();
    let expected = if args.expect_body_close {
        args.sockets
    } else {
        heads
    };
    let deadline = held_from + Duration::from_secs_f64(args.wait);
    let mut probes = Probes::default();
    let mut round = 0;
    while Instant::now() < deadline {
        let expected_left = expected.saturating_sub(closed.load(Ordering::Relaxed));
        if expected_left == 0 || closed.load(Ordering::Relaxed) >= args.sockets {
            break;
        }
        let all_held = closed.load(Ordering::Relaxed) == 0;
        probes
            .round(addr, &args.target.token, round, all_held)
            .await;
        round += 1;
        tokio::time::sleep(PROBE_EVERY).await;
    }
    stop.cancel();
    let mut fates = Vec::with_capacity(args.sockets);
    while let Some(joined) = sockets.join_next().await {
        if let Ok(Some(fate)) = joined {
            fates.push(fate);
        }
    }

    let mut figures = Figures::default();
    figures
        .add("sockets", args.sockets)
        .add("opened", opened.load(Ordering::Relaxed))
        .add("open_failed", failed.load(Ordering::Relaxed));
    for (kind, name) in [
        (Kind::Head, "heads"),
        (Kind::Trickle, "trickle"),
        (Kind::Silent, "silent"),
    ] {
        let of_kind: Vec<&Fate> = fates.iter().filter(|fate| fate.kind == kind).collect();
        let closes: Vec<Duration> = of_kind
            .iter()
            .filter_map(|fate| fate.closed_after)
            .collect();
        let answered_408 = of_kind
            .iter()
            .filter(|fate| fate.status == Some(408))
            .count();
        figures
            .add(name, of_kind.len())
            .add(closed_key(kind), closes.len())
            .add(answered_key(kind), answered_408)
            .add(
                min_key(kind),
                format!(
                    "{:.2}",
                    closes.iter().min().map_or(0.0, Duration::as_secs_f64)
                ),
            )
            .add(
                max_key(kind),
                format!(
                    "{:.2}",
                    closes.iter().max().map_or(0.0, Duration::as_secs_f64)
                ),
            );
    }
    figures
        .add("probes", probes.rounds)
        .add("probes_while_all_held", probes.while_all_held)
        .add("probe_failures", probes.failures)
        .add("probe_subscribe_max_ms", ms(probes.subscribe_max))
        .add("probe_publish_max_ms", ms(probes.publish_max))
        .add("wall_s", format!("{:.1}", began.elapsed().as_secs_f64()))
        .add("probe_error", probes.first_error);
    Ok(figures)
}

fn closed_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Head => "heads_closed",
        Kind::Trickle => "trickle_closed",
        Kind::Silent => "silent_closed",
    }
}

fn answered_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Head => "heads_408",
        Kind::Trickle => "trickle_408",
        Kind::Silent => "silent_408",
    }
}

fn min_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Head => "heads_close_min_s",
        Kind::Trickle => "trickle_close_min_s",
        Kind::Silent => "silent_close_min_s",
    }
}

fn max_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Head => "heads_close_max_s",
        Kind::Trickle => "trickle_close_max_s",
        Kind::Silent => "silent_close_max_s",
    }
}

/// One slow socket: sends its opening, then trickles or waits, until the server closes it or
/// the run stops. `None` when it could not even connect.
async fn slow_socket(
    addr: std::net::SocketAddrV4,
    index: usize,
    token: &str,
    gate: &Semaphore,
    opened: &AtomicUsize,
    stop: &CancellationToken,
) -> Option<Fate> {
    let kind = Kind::of(index);
    let mut stream = {
        let _permit = gate.acquire().await.ok()?;
        let mut stream = connect(addr, index, None).await.ok()?;
        stream.write_all(&kind.opening(index, token)).await.ok()?;
        stream
    };
    let sent = Instant::now();
    opened.fetch_add(1, Ordering::Relaxed);
    let body = slow_body();
    let mut trickled = 0;
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let closed_after = loop {
        tokio::select! {
            () = stop.cancelled() => break None,
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break Some(sent.elapsed()),
                Ok(n) => {
                    let room = KEPT.saturating_sub(answer.len());
                    answer.extend_from_slice(&buf[..n.min(room)]);
                }
            },
            _ = ticks.tick(), if kind == Kind::Trickle && trickled < body.len() => {
                if stream.write_all(&body[trickled..=trickled]).await.is_err() {
                    break Some(sent.elapsed());
                }
                trickled += 1;
            }
        }
    };
    let status = std::str::from_utf8(&answer)
        .ok()
        .and_then(|text| text.split(' ').nth(1)?.parse().ok());
    Some(Fate {
        kind,
        closed_after,
        status,
    })
}

/// Real clients timed while the slow sockets are held.
#[derive(Debug, Default)]
struct Probes {
    rounds: u64,
    while_all_held: u64,
    failures: u64,
    subscribe_max: Duration,
    publish_max: Duration,
    first_error: String,
}

impl Probes {
    /// One subscriber and one publish at once, each timed to its answer.
    async fn round(&mut self, addr: std::net::SocketAddrV4, token: &str, round: usize, held: bool) {
        let subscribe = async {
            let started = Instant::now();
            let opened = tokio::time::timeout(
                PROBE_TIMEOUT,
                EventStream::welcomed(addr, PROBE_INDEX + round, PROBE_TOPIC),
            )
            .await;
            (
                started.elapsed(),
                flatten(opened.map(|stream| stream.map(drop))),
            )
        };
        let publish = async {
            let started = Instant::now();
            let mut publisher = Publisher::new(addr, token);
            let answered =
                tokio::time::timeout(PROBE_TIMEOUT, publisher.publish(PROBE_TOPIC, "probe")).await;
            (
                started.elapsed(),
                flatten(answered.map(|id| id.map(|_| ()))),
            )
        };
        let ((subscribe_took, subscribed), (publish_took, published)) =
            tokio::join!(subscribe, publish);
        self.rounds += 1;
        if held {
            self.while_all_held += 1;
        }
        self.subscribe_max = self.subscribe_max.max(subscribe_took);
        self.publish_max = self.publish_max.max(publish_took);
        for outcome in [subscribed, published] {
            if let Err(err) = outcome {
                self.failures += 1;
                if self.first_error.is_empty() {
                    self.first_error = err;
                }
            }
        }
    }
}

fn flatten(outcome: Result<anyhow::Result<()>, tokio::time::error::Elapsed>) -> Result<(), String> {
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("{err:#}")),
        Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
    }
}
