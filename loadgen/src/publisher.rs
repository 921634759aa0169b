//! The publishers: warm-up events until every subscription is live, then the measured events,
//! each carrying its sequence number and send time, from `--in-flight` keep-alive connections
//! that each wait for their answer, at `--rate` or as fast as that allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::http::HttpConn;
use crate::job::Job;
use crate::payload;
use crate::tls::Stream;

/// How often warm-up events go out while waiting for every subscription to be live.
const WARM_EVERY: Duration = Duration::from_millis(50);
/// How long to wait for every subscription to see a warm-up event.
const WARM_TIMEOUT: Duration = Duration::from_secs(15);

/// Publishes warm-up events until `all_warm` says every open subscription has seen one; `false`
/// if some never did within [`WARM_TIMEOUT`].
pub(crate) async fn warm_up(
    job: &Job,
    deadline: Instant,
    all_warm: impl Fn() -> bool,
) -> anyhow::Result<bool> {
    let config = &job.config;
    let mut conn = connect(job).await?;
    let request = config.publish().request(None, payload::warm());
    let until = (Instant::now() + WARM_TIMEOUT).min(deadline);
    loop {
        if all_warm() {
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
            conn = connect(job).await?;
        }
        tokio::time::sleep(WARM_EVERY).await;
    }
}

/// Starts `--in-flight` publishers sharing one sequence, the first due at `started`.
pub(crate) fn spawn(job: &Arc<Job>, started: Instant) -> tokio::task::JoinSet<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut publishers = tokio::task::JoinSet::new();
    for _ in 0..job.config.in_flight {
        let (job, next) = (Arc::clone(job), Arc::clone(&next));
        publishers.spawn(async move {
            if let Err(err) = publisher(&job, &next, started).await {
                job.tally.error(&err);
                job.tally.publish_errors.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    publishers
}

/// A publisher's connection, over TLS when the run's is.
async fn connect(job: &Job) -> anyhow::Result<HttpConn<Stream>> {
    let addr = job.config.publishes_to();
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect the publisher to {addr}"))?;
    stream.set_nodelay(true)?;
    let stream = job
        .connector
        .connect(stream, addr)
        .await
        .with_context(|| format!("no TLS session with {addr}"))?;
    Ok(HttpConn::new(stream))
}

/// One publisher connection: takes the next sequence number, waits for its slot when a rate is
/// set, publishes it and waits for the answer (so in-flight requests = publishers).
async fn publisher(job: &Job, next: &AtomicU64, started: Instant) -> anyhow::Result<()> {
    let (config, tally) = (&job.config, &job.tally);
    let mut conn = connect(job).await?;
    loop {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if seq >= config.messages || job.stop.is_cancelled() {
            return Ok(());
        }
        if config.rate > 0.0 {
            let due = started + Duration::from_secs_f64(seq as f64 / config.rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let sent = Instant::now();
        let data = payload::encode(seq, payload::now_ns(), config.size);
        conn.write_all(&config.publish().request(Some(seq), &data))
            .await?;
        let head = conn.read_head().await?;
        conn.skip_body(head.framing).await?;
        tally
            .publish_rtt
            .record(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if (200..300).contains(&head.status) {
            tally.published.fetch_add(1, Ordering::Relaxed);
        } else {
            tally.publish_errors.fetch_add(1, Ordering::Relaxed);
            tally.error(&anyhow::anyhow!("publish answered {}", head.status));
        }
        tally
            .last_publish_ns
            .fetch_max(payload::now_ns(), Ordering::Relaxed);
        if head.close {
            conn = connect(job).await?;
        }
    }
}
