//! One load run, phase by phase: open the subscribers (helper processes take what one process
//! cannot hold), make sure every subscription is live, publish, wait for the deliveries to
//! drain, and sum what every process measured into one [`Report`].
//!
//! Every phase has a deadline under the run's overall `--timeout`: a server that stalls yields
//! a report marked `timed_out`, never a hung benchmark.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::RunConfig;
use crate::counters::{self, Field};
use crate::fleet::Fleet;
use crate::job::Job;
use crate::report::Report;
use crate::{payload, publisher, subscriber};

/// This process's job and its helpers: the whole run, as the process that started it sees it.
#[derive(Debug)]
struct Whole {
    job: Arc<Job>,
    /// The helper processes holding the subscribers beyond this one's share.
    fleet: Fleet,
}

impl Whole {
    /// A counter summed over this process and its helpers (as they last reported).
    fn total(&self, field: Field) -> u64 {
        field(&self.job.tally.counts).load(Ordering::Relaxed) + self.fleet.total(field)
    }
}

/// Runs `config` to completion on a runtime of its own and returns what it measured.
pub(crate) fn run(config: RunConfig) -> anyhow::Result<Report> {
    config.check()?;
    config.runtime()?.block_on(drive(config))
}

async fn drive(config: RunConfig) -> anyhow::Result<Report> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(config.timeout);
    let cpu_before = counters::cpu_seconds();
    // This process keeps what it may hold beside its publishers; helpers take the rest.
    let local = config
        .subscribers
        .min(config.per_process.saturating_sub(config.in_flight + 1));
    // Every process connects its share at once: split the concurrency so that the server's
    // accept queue sees the same bound as with one process.
    let processes = 1 + (config.subscribers - local).div_ceil(config.per_process);
    let mut config = config;
    config.connect_concurrency = config.connect_concurrency.div_ceil(processes);
    // The job first: a `--tls-ca` that cannot be trusted stops the run before any helper starts.
    let job = Arc::new(Job::new(config)?);
    let fleet = Fleet::spawn(&job.config, local)?;
    let whole = Whole { job, fleet };
    let job = &whole.job;
    let config = &job.config;
    let total = config.subscribers as u64;
    let mut timed_out = false;

    // Connect.
    let bar = progress(config.quiet, total, "connect");
    let tasks = subscriber::spawn(job, 0..local);
    let connect_started = Instant::now();
    timed_out |= !wait_for(deadline, &bar, || {
        let done = whole.total(|c| &c.connected) + whole.total(|c| &c.failed);
        (done, done >= total)
    })
    .await;
    let connect_all_s = connect_started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let connected = whole.total(|c| &c.connected);

    // Hold (idle), or warm up, publish and drain.
    let mut publish_started_ns = 0;
    let mut publish_s = 0.0;
    let mut live_at_publish = 0;
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
        let all_warm = || {
            let live = whole.total(|c| &c.connected) - whole.total(|c| &c.dropped);
            whole.total(|c| &c.warmed) >= live
        };
        if !publisher::warm_up(job, deadline, all_warm).await? {
            job.tally.error(&anyhow::anyhow!(
                "only {} of {connected} subscriptions saw a warm-up event",
                whole.total(|c| &c.warmed)
            ));
        }
        // Streams the server already ended lost their connection, not events: none was sent
        // yet. They count in `dropped`; `lost` counts what live streams missed.
        live_at_publish = whole
            .total(|c| &c.connected)
            .saturating_sub(whole.total(|c| &c.dropped));
        phase("publish");
        let expected = live_at_publish * config.messages;
        let bar = progress(config.quiet, expected, "deliver");
        publish_started_ns = payload::now_ns();
        let mut publishers = publisher::spawn(job, Instant::now());
        let all_published = async { while publishers.join_next().await.is_some() {} };
        let live = async {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                bar.set_position(whole.total(|c| &c.deliveries));
            }
        };
        tokio::select! {
            () = all_published => {}
            () = live => {}
            () = tokio::time::sleep_until(deadline.into()) => timed_out = true,
        }
        publish_s = Duration::from_nanos(
            job.tally
                .last_publish_ns
                .load(Ordering::Relaxed)
                .saturating_sub(publish_started_ns),
        )
        .as_secs_f64();
        let drain_deadline = (Instant::now() + Duration::from_secs_f64(config.drain)).min(deadline);
        if !timed_out {
            // Done when every stream still open has every event.
            wait_for(drain_deadline, &bar, || {
                let complete = whole.total(|c| &c.complete) + whole.total(|c| &c.dropped);
                (whole.total(|c| &c.deliveries), complete >= connected)
            })
            .await;
        }
        bar.finish_and_clear();
        phase("drained");
    }

    subscriber::stop(job, tasks).await;
    Ok(sum_up(
        &whole,
        Sums {
            connected,
            live_at_publish,
            connect_all_s,
            publish_started_ns,
            publish_s,
            timed_out,
            cpu_before,
            started,
        },
    ))
}

/// What the phases measured beside the counters.
#[derive(Debug)]
struct Sums {
    /// Subscriptions open when the connect phase ended (what the loss is counted against).
    connected: u64,
    /// Subscriptions still open when publishing began.
    live_at_publish: u64,
    connect_all_s: f64,
    publish_started_ns: u64,
    publish_s: f64,
    timed_out: bool,
    cpu_before: f64,
    started: Instant,
}

/// Folds the helpers' final reports into this process's counts and makes the report.
fn sum_up(whole: &Whole, sums: Sums) -> Report {
    let (config, tally) = (&whole.job.config, &whole.job.tally);
    // The helpers' final counts replace their last status; their histograms join ours.
    let helpers = whole.fleet.finish();
    let mut latency = tally.latency.snapshot();
    let mut connect = tally.connect.snapshot();
    let mut first_error = tally.first_error();
    for helper in &helpers {
        latency.merge(&helper.latency);
        connect.merge(&helper.connect);
        if first_error.is_empty() {
            first_error.clone_from(&helper.first_error);
        }
    }
    let publish_rtt = tally.publish_rtt.snapshot();
    let connected = sums.connected;
    let deliveries = whole.total(|c| &c.deliveries);
    let published = tally.published.load(Ordering::Relaxed);
    let last_delivery = tally
        .counts
        .last_delivery_ns
        .load(Ordering::Relaxed)
        .max(whole.fleet.last_delivery_ns());
    let delivery_s = last_delivery.saturating_sub(sums.publish_started_ns) as f64 / 1e9;
    let per_second = |count: u64, seconds: f64| {
        if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        }
    };
    Report {
        subscribers: config.subscribers as u64,
        connected,
        connect_failed: whole.total(|c| &c.failed),
        connect_retries: whole.total(|c| &c.retried),
        dropped: whole.total(|c| &c.dropped),
        connect_all_s: sums.connect_all_s,
        connect_p50_ms: ms(connect.quantile(0.5)),
        connect_p99_ms: ms(connect.quantile(0.99)),
        connect_max_ms: ms(connect.max()),
        messages: config.messages,
        published,
        publish_errors: tally.publish_errors.load(Ordering::Relaxed),
        publish_s: sums.publish_s,
        publish_rate: per_second(published, sums.publish_s),
        publish_p50_ms: ms(publish_rtt.quantile(0.5)),
        publish_p99_ms: ms(publish_rtt.quantile(0.99)),
        deliveries,
        deliveries_per_s: per_second(deliveries, delivery_s),
        latency_p50_ms: ms(latency.quantile(0.5)),
        latency_p99_ms: ms(latency.quantile(0.99)),
        latency_max_ms: ms(latency.max()),
        lost: (sums.live_at_publish * published).saturating_sub(whole.total(|c| &c.unique)),
        duplicated: whole.total(|c| &c.duplicated),
        timed_out: sums.timed_out,
        loadgen_cpu_s: counters::cpu_seconds() - sums.cpu_before
            + helpers.iter().map(|helper| helper.cpu_s).sum::<f64>(),
        wall_s: sums.started.elapsed().as_secs_f64(),
        first_error,
    }
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
