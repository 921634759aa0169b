//! What the bench reads about a server from `/proc`: its child processes (nginx's workers,
//! Pushpin's services), their resident memory (now, and its peak while a scenario runs) and
//! their CPU time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Sampling period of server RSS while a scenario runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// `USER_HZ`: the unit of CPU times in `/proc/<pid>/stat` (100 on every Linux we run on).
pub(super) const TICKS_PER_SECOND: f64 = 100.0;

/// Direct children of `pid` (nginx's workers, Pushpin's services), from `/proc/<pid>/task/*/children`.
pub(super) fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            found.extend(
                text.split_whitespace()
                    .filter_map(|pid| pid.parse::<u32>().ok()),
            );
        }
    }
    found
}

/// Summed `VmRSS` of `pids`, in KiB.
pub(super) fn rss_kb(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| {
                    value
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .sum()
}

/// Summed user + system CPU time of `pids`, in clock ticks.
pub(super) fn cpu_ticks(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        })
        .sum()
}

/// The highest summed RSS of some processes, sampled on a thread of its own until stopped.
#[derive(Debug)]
pub(super) struct PeakRss {
    peak: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    sampler: Option<std::thread::JoinHandle<()>>,
}

impl PeakRss {
    /// Starts sampling `pids` every [`SAMPLE_EVERY`], from `floor` KiB.
    pub(super) fn start(pids: &[u32], floor: u64) -> Self {
        let peak = Arc::new(AtomicU64::new(floor));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done, pids) = (Arc::clone(&peak), Arc::clone(&done), pids.to_vec());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kb(&pids), Ordering::Relaxed);
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
        };
        Self {
            peak,
            done,
            sampler: Some(sampler),
        }
    }

    /// Stops sampling and returns the peak, in KiB.
    pub(super) fn stop(mut self) -> u64 {
        self.done.store(true, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}
