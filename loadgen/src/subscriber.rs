//! The subscribers: SSE connections opened with bounded concurrency from source addresses
//! 127.0.0.2 and up, each reading events until the run stops, and counting per sequence number
//! what arrived (once, twice, or not at all) and how late.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use shared::wire::Parser;
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;

use crate::http::{Dechunker, Framing, HttpConn};
use crate::job::Job;
use crate::payload::{self, Stamp};
use crate::tls::Stream;

/// Bound on one event on the wire; ours are tens of bytes.
const MAX_EVENT: usize = 64 * 1024;
/// How long one TCP connect (and TLS handshake) plus response head may take before it counts
/// as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts one subscription may take. A server may answer 5xx in a connection storm
/// (Pushpin's proxy does when over 100 requests wait for its origin client); the subscriber
/// asks again, as a client reconnecting would, and its connect time includes the retries.
const MAX_ATTEMPTS: u32 = 10;
/// The pause before a subscription is asked again.
const RETRY_AFTER: Duration = Duration::from_millis(100);
/// How long the subscribers may take to stop once told to.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the subscribers numbered `indices` (the number picks the source address).
pub(crate) fn spawn(job: &Arc<Job>, indices: std::ops::Range<usize>) -> tokio::task::JoinSet<()> {
    let gate = Arc::new(Semaphore::new(job.config.connect_concurrency));
    let request: Arc<[u8]> = job.config.subscribe_request().into();
    let mut tasks = tokio::task::JoinSet::new();
    for index in indices {
        let (job, gate, request) = (Arc::clone(job), Arc::clone(&gate), request.clone());
        tasks.spawn(async move {
            if let Err(err) = subscriber(&job, index, &gate, &request).await {
                job.tally.error(&err);
            }
        });
    }
    tasks
}

/// Ends every subscriber: they stop at once on `stop`; the wait is bounded in case a socket
/// misbehaves.
pub(crate) async fn stop(job: &Job, mut tasks: tokio::task::JoinSet<()>) {
    job.stop.cancel();
    let _ = tokio::time::timeout(STOP_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
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
    job: &Job,
    index: usize,
    gate: &Semaphore,
    request: &[u8],
) -> anyhow::Result<()> {
    let (config, counts) = (&job.config, &job.tally.counts);
    let (mut conn, framing) = {
        // Held through the retries too: they count against the connect concurrency.
        let _permit = gate.acquire().await?;
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let failed =
                match tokio::time::timeout(CONNECT_TIMEOUT, open(job, index, request)).await {
                    Ok(Ok(Ok(opened))) => {
                        job.tally.connect.record(
                            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
                        );
                        counts.connected.fetch_add(1, Ordering::Relaxed);
                        break opened;
                    }
                    Ok(Ok(Err(status))) if status >= 500 && attempt < MAX_ATTEMPTS => {
                        counts.retried.fetch_add(1, Ordering::Relaxed);
                        attempt += 1;
                        tokio::time::sleep(RETRY_AFTER).await;
                        continue;
                    }
                    Ok(Ok(Err(status))) => anyhow::anyhow!("subscribe answered {status}"),
                    Ok(Err(err)) => err,
                    Err(_) => {
                        anyhow::anyhow!("connect and response head took over {CONNECT_TIMEOUT:?}")
                    }
                };
            counts.failed.fetch_add(1, Ordering::Relaxed);
            return Err(failed);
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
        handle(job, &mut seen, &event.data, messages);
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
            () = job.stop.cancelled() => return Ok(()),
            more = conn.fill() => {
                if !more.unwrap_or(false) {
                    counts.dropped.fetch_add(1, Ordering::Relaxed);
                    bail!("the server ended a stream early");
                }
            }
        }
        feed(&conn.buf)?;
        conn.buf.clear();
    }
}

fn handle(job: &Job, seen: &mut Seen, data: &str, messages: u64) {
    let counts = &job.tally.counts;
    match payload::decode(data) {
        Some(Stamp::Bench { seq, sent_ns }) if seq < messages => {
            let now = payload::now_ns();
            job.tally.latency.record(now.saturating_sub(sent_ns));
            counts.deliveries.fetch_add(1, Ordering::Relaxed);
            counts.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
            let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
            if seen.bits[word] & bit == 0 {
                seen.bits[word] |= bit;
                seen.unique += 1;
                counts.unique.fetch_add(1, Ordering::Relaxed);
                if seen.unique == messages {
                    counts.complete.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                counts.duplicated.fetch_add(1, Ordering::Relaxed);
            }
        }
        Some(Stamp::Warm) if !seen.warmed => {
            seen.warmed = true;
            counts.warmed.fetch_add(1, Ordering::Relaxed);
        }
        // Welcome, reset, later warm-ups, or events of another run: not measured.
        _ => {}
    }
}

/// Connects subscriber `index` from its source address (over TLS when the run is), and reads
/// the response head: the stream, or the status when it is not 200.
async fn open(
    job: &Job,
    index: usize,
    request: &[u8],
) -> anyhow::Result<Result<(HttpConn<Stream>, Framing), u16>> {
    let config = &job.config;
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
    // Closed by RST when the run ends: a close by FIN would leave the connection in TIME_WAIT
    // for a minute, and the next run (another server's, on the same loopback) would start
    // among tens of thousands of them, measured ~40 % slower on this machine.
    // (A TLS stream dropped sends no close_notify either: the RST is all the server sees.)
    stream.set_zero_linger()?;
    let stream = job
        .connector
        .connect(stream, config.addr)
        .await
        .with_context(|| format!("no TLS session with {}", config.addr))?;
    let mut conn = HttpConn::new(stream);
    conn.write_all(request).await?;
    let head = conn.read_head().await?;
    if head.status != 200 {
        return Ok(Err(head.status));
    }
    Ok(Ok((conn, head.framing)))
}
