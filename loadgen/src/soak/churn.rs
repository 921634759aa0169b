//! Connection churn: open a stream, read its welcome, leave; over and over, a bounded number at
//! a time, alternating FIN and RST. `cargo xtask soak` compares the server's gauges, open files
//! and memory before and after.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::client::{Close, EventStream};
use super::{Figures, Target, ms};

/// Bound on one cycle: connect, head, welcome.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: Target,
    /// Cycles to run.
    #[arg(long, default_value_t = 10_000)]
    cycles: u64,
    /// Cycles in flight at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Number of the first cycle (cycle n closes by FIN when n is even, by RST when odd), so
    /// that a run split in two parts alternates as one.
    #[arg(long, default_value_t = 0)]
    first: u64,
    #[arg(long, default_value = "soak-churn")]
    topic: String,
}

#[derive(Debug, Default)]
struct Counts {
    fin: AtomicU64,
    rst: AtomicU64,
    failed: AtomicU64,
    slowest_us: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<Figures> {
    let addr = args.target.check()?;
    let began = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let counts = Arc::new(Counts::default());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (args, next, counts) = (args.clone(), Arc::clone(&next), Arc::clone(&counts));
        workers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= args.cycles {
                    return;
                }
                let cycle = args.first + n;
                let started = Instant::now();
                let index = usize::try_from(cycle).unwrap_or(0);
                match tokio::time::timeout(
                    CYCLE_TIMEOUT,
                    EventStream::welcomed(addr, index, &args.topic),
                )
                .await
                {
                    Ok(Ok(stream)) => {
                        let how = Close::alternate(index);
                        stream.close(how).await;
                        let counter = if how == Close::Fin {
                            &counts.fin
                        } else {
                            &counts.rst
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(err)) => counts.failed(&format!("{err:#}")),
                    Err(_) => counts.failed("a cycle took over 10 s"),
                }
                let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                counts.slowest_us.fetch_max(took, Ordering::Relaxed);
            }
        });
    }
    while workers.join_next().await.is_some() {}

    let wall = began.elapsed();
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let closed = load(&counts.fin) + load(&counts.rst);
    let first_error = counts
        .first_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .unwrap_or_default();
    let mut figures = Figures::default();
    figures
        .add("cycles", args.cycles)
        .add("closed", closed)
        .add("fin", load(&counts.fin))
        .add("rst", load(&counts.rst))
        .add("failed", load(&counts.failed))
        .add(
            "cycles_per_s",
            format!("{:.0}", closed as f64 / wall.as_secs_f64()),
        )
        .add(
            "slowest_cycle_ms",
            ms(Duration::from_micros(load(&counts.slowest_us))),
        )
        .add("wall_s", format!("{:.1}", wall.as_secs_f64()))
        .add("first_error", first_error);
    Ok(figures)
}

impl Counts {
    fn failed(&self, error: &str) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert_with(|| error.to_owned());
    }
}
