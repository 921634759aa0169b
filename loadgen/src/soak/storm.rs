//! The reconnect storm: subscribers that the network drops at random, by FIN or by RST, while
//! events flow at a steady rate; each comes back at once with `Last-Event-ID` set to the last
//! id it received, as a browser would. Afterwards every subscriber must have every event
//! exactly once and in order.
//!
//! Events carry their sequence number in `data` (`storm <seq>`): ids are strictly increasing
//! but not consecutive (the welcome and the reset events take ids too), so loss and repetition
//! are counted by sequence number, and order by id.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::client::{Close, EventStream, Publisher};
use super::ledger::{Ledger, Seen};
use super::{Figures, SplitMix, Target, ms};

/// Connections being opened at once in the connect phase.
const CONNECT_CONCURRENCY: usize = 256;
/// How long every subscriber may take to connect and get its welcome.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause before trying again when a reconnect failed (a browser waits `retry:`, longer).
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// The prefix of the soak's event data; the sequence number follows.
const PREFIX: &str = "storm ";

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: Target,
    /// Subscribers, all on one topic.
    #[arg(long, default_value_t = 2000)]
    subscribers: usize,
    /// Events published per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Seconds of publishing; every drop falls inside them.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Each subscriber is dropped between 1 and this many times (0: never, a baseline).
    #[arg(long, default_value_t = 3)]
    max_drops: u64,
    /// How subscribers are dropped: by FIN, by RST, or alternately by both.
    #[arg(long, value_enum, default_value_t = Closes::Both)]
    close: Closes,
    /// Seed of the drop times (the run is reproducible for a seed).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds after the last publish for every subscriber to have caught up.
    #[arg(long, default_value_t = 30.0)]
    drain: f64,
    #[arg(long, default_value = "soak-storm")]
    topic: String,
}

/// Which closes a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Closes {
    Both,
    Fin,
    Rst,
}

/// What every subscriber task shares.
#[derive(Debug)]
struct Run {
    args: Args,
    addr: std::net::SocketAddrV4,
    events: u64,
    welcomed: AtomicUsize,
    connect_failed: AtomicUsize,
    /// When publishing started; `None` until then.
    start: watch::Receiver<Option<Instant>>,
    stop: CancellationToken,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<Figures> {
    let addr = args.target.check()?;
    let began = Instant::now();
    let events = (args.rate * args.seconds).round() as u64;
    let (start_tx, start) = watch::channel(None);
    let run = Arc::new(Run {
        addr,
        events,
        welcomed: AtomicUsize::new(0),
        connect_failed: AtomicUsize::new(0),
        start,
        stop: CancellationToken::new(),
        args,
    });

    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..run.args.subscribers {
        let run = Arc::clone(&run);
        let gate = Arc::clone(&gate);
        tasks.spawn(async move { subscriber(&run, index, &gate).await });
    }

    // Every subscriber is live (it has its welcome) before the first event.
    let connect_deadline = Instant::now() + CONNECT_TIMEOUT;
    while run.welcomed.load(Ordering::Relaxed) + run.connect_failed.load(Ordering::Relaxed)
        < run.args.subscribers
        && Instant::now() < connect_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connected = run.welcomed.load(Ordering::Relaxed);

    let publish_start = Instant::now();
    start_tx.send_replace(Some(publish_start));
    let mut publisher = Publisher::new(addr, &run.args.target.token);
    let (mut published, mut publish_errors, mut first_error) = (0u64, 0u64, String::new());
    for seq in 0..events {
        let due = publish_start + Duration::from_secs_f64(seq as f64 / run.args.rate);
        tokio::time::sleep_until(due.into()).await;
        match publisher
            .publish(&run.args.topic, &format!("{PREFIX}{seq}"))
            .await
        {
            Ok(_) => published += 1,
            Err(err) => {
                publish_errors += 1;
                if first_error.is_empty() {
                    first_error = format!("{err:#}");
                }
            }
        }
    }
    let publish_end = Instant::now();

    // Every subscriber catches up, or the drain time runs out.
    let drain_deadline = publish_end + Duration::from_secs_f64(run.args.drain);
    let mut seen = Vec::with_capacity(run.args.subscribers);
    loop {
        let next = tokio::time::timeout_at(drain_deadline.into(), tasks.join_next()).await;
        match next {
            Ok(Some(joined)) => seen.push(joined.context("a subscriber task failed")?),
            Ok(None) => break,
            Err(_) => run.stop.cancel(),
        }
    }

    let sum = |field: fn(&Seen) -> u64| seen.iter().map(field).sum::<u64>();
    let lost: u64 = seen
        .iter()
        .map(|seen| events.saturating_sub(seen.unique))
        .sum();
    let incomplete = seen
        .iter()
        .filter(|seen| seen.complete_at.is_none())
        .count()
        + run.args.subscribers.saturating_sub(seen.len());
    let caught_up = seen
        .iter()
        .filter_map(|seen| seen.complete_at)
        .max()
        .map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(publish_end)
        });
    let mut figures = Figures::default();
    figures
        .add("subscribers", run.args.subscribers)
        .add("connected", connected)
        .add("connect_failed", run.connect_failed.load(Ordering::Relaxed))
        .add("events", events)
        .add("published", published)
        .add("publish_errors", publish_errors)
        .add(
            "publish_rate",
            format!(
                "{:.1}",
                published as f64 / publish_end.duration_since(publish_start).as_secs_f64()
            ),
        )
        .add("drops_fin", sum(|seen| seen.drops_fin))
        .add("drops_rst", sum(|seen| seen.drops_rst))
        .add("server_ended", sum(|seen| seen.server_ended))
        .add("reconnect_failures", sum(|seen| seen.reconnect_failures))
        .add("resets", sum(|seen| seen.resets))
        .add("lost", lost)
        .add("duplicated", sum(|seen| seen.duplicated))
        .add("out_of_order", sum(|seen| seen.out_of_order))
        .add("unexpected", sum(|seen| seen.unexpected))
        .add("incomplete", incomplete)
        .add("stuck_reading", sum(|seen| seen.stuck_reading))
        .add("stuck_resuming", sum(|seen| seen.stuck_resuming))
        .add("stuck_unparsed_bytes", sum(|seen| seen.stuck_bytes))
        .add(
            "stuck_events_on_stream_max",
            seen.iter()
                .filter(|seen| seen.stuck_reading > 0)
                .map(|seen| seen.stuck_events_on_stream)
                .max()
                .unwrap_or(0),
        )
        .add(
            "stuck_with_no_event_on_stream",
            seen.iter()
                .filter(|seen| seen.stuck_reading > 0 && seen.stuck_events_on_stream == 0)
                .count(),
        )
        .add(
            "stuck_quiet_max_ms",
            ms(seen
                .iter()
                .map(|seen| seen.quiet_for)
                .max()
                .unwrap_or_default()),
        )
        .add("caught_up_ms", ms(caught_up))
        .add("wall_s", format!("{:.1}", began.elapsed().as_secs_f64()))
        .add("first_error", &first_error);
    Ok(figures)
}

/// One subscriber from connect to its last event (or the stop).
async fn subscriber(run: &Run, index: usize, gate: &Semaphore) -> Seen {
    let mut ledger = match Ledger::new(PREFIX, run.events) {
        Ok(ledger) => ledger,
        Err(_) => return Seen::default(),
    };
    let opened = {
        let Ok(_permit) = gate.acquire().await else {
            return ledger.seen;
        };
        welcome(run, index).await
    };
    let Some(mut stream) = opened else {
        run.connect_failed.fetch_add(1, Ordering::Relaxed);
        return ledger.seen;
    };
    run.welcomed.fetch_add(1, Ordering::Relaxed);

    let mut start = run.start.clone();
    let start = tokio::select! {
        () = run.stop.cancelled() => return ledger.seen,
        started = start.wait_for(Option::is_some) => match started.ok().and_then(|at| *at) {
            Some(at) => at,
            None => return ledger.seen,
        },
    };
    let mut random = SplitMix::new(run.args.seed.wrapping_mul(1_000_003) ^ index as u64);
    let drop_count = match run.args.max_drops {
        0 => 0,
        max => 1 + random.below(max),
    };
    let mut drops: Vec<Instant> = (0..drop_count)
        .map(|_| start + Duration::from_secs_f64(random.fraction() * run.args.seconds))
        .collect();
    drops.sort_unstable();
    let mut drops = drops.into_iter().enumerate().peekable();

    let mut last_event = Instant::now();
    let mut on_stream = 0u64;
    while !ledger.complete() {
        let due = drops.peek().map(|&(_, at)| at);
        let event = tokio::select! {
            () = run.stop.cancelled() => {
                // Stopped while waiting on an open stream: how long it had been quiet.
                ledger.seen.stuck_reading += 1;
                ledger.seen.quiet_for = last_event.elapsed();
                ledger.seen.stuck_bytes = stream.bytes_since_event();
                ledger.seen.stuck_events_on_stream = on_stream;
                break;
            }
            () = sleep_until(due), if due.is_some() => {
                let Some((nth, _)) = drops.next() else { continue };
                let how = match run.args.close {
                    Closes::Both => Close::alternate(index + nth),
                    Closes::Fin => Close::Fin,
                    Closes::Rst => Close::Rst,
                };
                match how {
                    Close::Fin => ledger.seen.drops_fin += 1,
                    Close::Rst => ledger.seen.drops_rst += 1,
                }
                let last_id = stream.last_event_id().to_owned();
                stream.close(how).await;
                match resume(run, index, &last_id, &mut ledger.seen).await {
                    Some(again) => stream = again,
                    None => break,
                }
                last_event = Instant::now();
                on_stream = 0;
                continue;
            }
            event = stream.next_event() => event,
        };
        match event {
            Ok(Some(event)) => {
                last_event = Instant::now();
                on_stream += 1;
                ledger.record(&event);
            }
            // The server ended the stream: come back as a browser would.
            Ok(None) | Err(_) => {
                ledger.seen.server_ended += 1;
                let last_id = stream.last_event_id().to_owned();
                match resume(run, index, &last_id, &mut ledger.seen).await {
                    Some(again) => stream = again,
                    None => break,
                }
            }
        }
    }
    ledger.seen
}

/// Opens the stream and reads up to its welcome; `None` if that failed.
async fn welcome(run: &Run, index: usize) -> Option<EventStream> {
    let opening = EventStream::welcomed(run.addr, index, &run.args.topic);
    tokio::time::timeout(CONNECT_TIMEOUT, opening)
        .await
        .ok()?
        .ok()
}

/// Reconnects after `last_id` until it works or the run stops.
async fn resume(run: &Run, index: usize, last_id: &str, seen: &mut Seen) -> Option<EventStream> {
    let last_id = (!last_id.is_empty()).then_some(last_id);
    loop {
        let opened = tokio::select! {
            () = run.stop.cancelled() => {
                seen.stuck_resuming += 1;
                return None;
            }
            opened = EventStream::open(run.addr, index, &run.args.topic, last_id) => opened,
        };
        match opened {
            Ok(stream) => return Some(stream),
            Err(_) => {
                seen.reconnect_failures += 1;
                tokio::time::sleep(RECONNECT_PAUSE).await;
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
