//! A stalled reader among fast ones: one subscriber with a tiny receive buffer that never reads,
//! beside readers that read as fast as they can, while events are published flat out. The fast
//! readers must get every event in order; what became of the stalled one (cut once history no
//! longer held its next event, or not) is reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::client::{EventStream, Publisher, connect, metric, subscribe_request};
use super::ledger::{Ledger, Seen};
use super::{Figures, Target};

/// Connections being opened at once.
const CONNECT_CONCURRENCY: usize = 64;
/// How long the readers may take to connect, and the server to register every subscriber.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The stalled socket's receive buffer (the kernel doubles it and keeps a floor).
const STALLED_BUFFER: u32 = 4096;
/// How long the stalled socket's backlog may take to read at the end.
const DRAIN_STALLED: Duration = Duration::from_secs(10);
const PREFIX: &str = "stall ";

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: Target,
    /// Readers that read as fast as they can.
    #[arg(long, default_value_t = 200)]
    readers: usize,
    /// Events to publish.
    #[arg(long, default_value_t = 10_000)]
    events: u64,
    /// Bytes of data per event.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Seconds after the last publish for every reader to have everything.
    #[arg(long, default_value_t = 60.0)]
    drain: f64,
    #[arg(long, default_value = "soak-stall")]
    topic: String,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<Figures> {
    let addr = args.target.check()?;
    let began = Instant::now();

    // The stalled reader: its request goes out, and nothing of the answer is read until the end.
    let mut stalled = connect(addr, 0, Some(STALLED_BUFFER)).await?;
    stalled
        .write_all(&subscribe_request(&args.topic, None))
        .await?;

    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let ready = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let mut readers = tokio::task::JoinSet::new();
    for index in 1..=args.readers {
        let (args, gate, ready, stop) = (
            args.clone(),
            Arc::clone(&gate),
            Arc::clone(&ready),
            stop.clone(),
        );
        readers.spawn(async move { reader(addr, index, &args, &gate, &ready, &stop).await });
    }
    let deadline = Instant::now() + READY_TIMEOUT;
    let want = u64::try_from(args.readers + 1)?;
    let mut registered = 0;
    while Instant::now() < deadline {
        registered = metric(addr, "herald_subscribers").await.unwrap_or(0);
        if ready.load(Ordering::Relaxed) == args.readers && registered >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let readers_ready = ready.load(Ordering::Relaxed);

    let publish_start = Instant::now();
    let mut publisher = Publisher::new(addr, &args.target.token);
    let (mut published, mut publish_errors, mut first_error) = (0u64, 0u64, String::new());
    for seq in 0..args.events {
        let mut data = format!("{PREFIX}{seq} ");
        data.extend(std::iter::repeat_n(
            'x',
            args.size.saturating_sub(data.len()),
        ));
        match publisher.publish(&args.topic, &data).await {
            Ok(_) => published += 1,
            Err(err) => {
                publish_errors += 1;
                if first_error.is_empty() {
                    first_error = format!("{err:#}");
                }
            }
        }
    }
    let publish_took = publish_start.elapsed();

    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain);
    let mut seen: Vec<(Seen, u64)> = Vec::with_capacity(args.readers);
    loop {
        match tokio::time::timeout_at(drain_deadline.into(), readers.join_next()).await {
            Ok(Some(joined)) => seen.push(joined.context("a reader task failed")?),
            Ok(None) => break,
            Err(_) => stop.cancel(),
        }
    }
    let caught_up = publish_start.elapsed();
    let cut_total = metric(addr, "herald_slow_clients_cut_total").await?;

    // Now what reached the stalled reader: its backlog, and whether the server ended it.
    let mut stalled_ledger = Ledger::new(PREFIX, args.events)?;
    let stalled_closed = tokio::time::timeout(DRAIN_STALLED, async {
        let mut stream = EventStream::requested(stalled).await?;
        while let Some(event) = stream.next_event().await? {
            stalled_ledger.record(&event);
        }
        anyhow::Ok(())
    })
    .await
    .is_ok_and(|read| read.is_ok());

    let sum = |field: fn(&Seen) -> u64| seen.iter().map(|(seen, _)| field(seen)).sum::<u64>();
    let mut figures = Figures::default();
    figures
        .add("readers", args.readers)
        .add("readers_ready", readers_ready)
        .add("registered", registered)
        .add("events", args.events)
        .add("size", args.size)
        .add("published", published)
        .add("publish_errors", publish_errors)
        .add(
            "publish_rate",
            format!("{:.0}", published as f64 / publish_took.as_secs_f64()),
        )
        .add(
            "readers_complete",
            seen.iter()
                .filter(|(seen, _)| seen.complete_at.is_some())
                .count(),
        )
        .add("lost", seen.iter().map(|(_, lost)| lost).sum::<u64>())
        .add("duplicated", sum(|seen| seen.duplicated))
        .add("out_of_order", sum(|seen| seen.out_of_order))
        .add("resets", sum(|seen| seen.resets))
        .add("readers_ended_by_server", sum(|seen| seen.server_ended))
        .add("slow_clients_cut_total", cut_total)
        .add("stalled_received", stalled_ledger.seen.unique)
        .add("stalled_out_of_order", stalled_ledger.seen.out_of_order)
        .add("stalled_closed_by_server", stalled_closed)
        .add("all_read_s", format!("{:.1}", caught_up.as_secs_f64()))
        .add("wall_s", format!("{:.1}", began.elapsed().as_secs_f64()))
        .add("first_error", first_error);
    Ok(figures)
}

/// One fast reader: connects, then reads every event until it has them all, the server ends
/// its stream (it does not come back: a fast reader is never to be cut), or the run stops.
/// Returns what it saw and how many events it lacks.
async fn reader(
    addr: std::net::SocketAddrV4,
    index: usize,
    args: &Args,
    gate: &Semaphore,
    ready: &AtomicUsize,
    stop: &CancellationToken,
) -> (Seen, u64) {
    let Ok(mut ledger) = Ledger::new(PREFIX, args.events) else {
        return (Seen::default(), args.events);
    };
    let opened = {
        let Ok(_permit) = gate.acquire().await else {
            return (ledger.seen, args.events);
        };
        welcome(addr, index, &args.topic).await
    };
    let Ok(mut stream) = opened else {
        return (ledger.seen, args.events);
    };
    ready.fetch_add(1, Ordering::Relaxed);
    while !ledger.complete() {
        let event = tokio::select! {
            () = stop.cancelled() => break,
            event = stream.next_event() => event,
        };
        match event {
            Ok(Some(event)) => ledger.record(&event),
            Ok(None) | Err(_) => {
                ledger.seen.server_ended += 1;
                break;
            }
        }
    }
    (ledger.seen, ledger.lost())
}

async fn welcome(
    addr: std::net::SocketAddrV4,
    index: usize,
    topic: &str,
) -> anyhow::Result<EventStream> {
    tokio::time::timeout(READY_TIMEOUT, EventStream::welcomed(addr, index, topic))
        .await
        .context("no welcome in time")?
}
