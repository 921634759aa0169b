//! Helper processes for runs larger than one process may hold: each helper is `loadgen` run
//! again for a share of the subscribers; it reports its counters while it runs and its
//! histograms when told to stop, and the process that started it folds them into its report.
//!
//! The wire between them is line-based: the helper writes `STATUS <json>` every 50 ms and one
//! `REPORT <json>` at the end on its stdout; a line (or end of file) on its stdin stops it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::counters::{self, Counts, CountsSnapshot, Field};
use crate::histogram::Snapshot;
use crate::job::Job;
use crate::subscriber;

/// How often a helper reports its counters.
const STATUS_EVERY: Duration = Duration::from_millis(50);
/// How long a helper may take to stop and report before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What a helper measured, sent when it stops.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct HelperReport {
    pub(crate) counts: CountsSnapshot,
    pub(crate) latency: Snapshot,
    pub(crate) connect: Snapshot,
    pub(crate) first_error: String,
    /// The helper's CPU seconds over its whole life.
    pub(crate) cpu_s: f64,
}

/// One running helper, seen from the process that started it.
#[derive(Debug)]
struct Helper {
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    /// Its counters as last reported.
    status: Arc<Counts>,
    report: Arc<Mutex<Option<HelperReport>>>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

/// The helpers of one run (none when the run fits in one process).
#[derive(Debug, Default)]
pub(crate) struct Fleet {
    helpers: Vec<Helper>,
}

impl Fleet {
    /// Starts helpers for the subscribers beyond the first `local`, at most `--per-process`
    /// each.
    pub(crate) fn spawn(config: &RunConfig, local: usize) -> anyhow::Result<Self> {
        let mut fleet = Self::default();
        let mut first = local;
        while first < config.subscribers {
            let count = (config.subscribers - first).min(config.per_process);
            fleet.helpers.push(Helper::spawn(config, first, count)?);
            first += count;
        }
        Ok(fleet)
    }

    /// A counter summed over the helpers, as they last reported it.
    pub(crate) fn total(&self, field: Field) -> u64 {
        self.helpers
            .iter()
            .map(|helper| field(&helper.status).load(Ordering::Relaxed))
            .sum()
    }

    /// The latest delivery any helper saw, in wall-clock nanoseconds.
    pub(crate) fn last_delivery_ns(&self) -> u64 {
        self.helpers
            .iter()
            .map(|helper| helper.status.last_delivery_ns.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }

    /// Stops every helper and returns their reports; their final counters replace the last
    /// status, so [`Fleet::total`] is exact afterwards. A helper that does not report in time
    /// is killed and contributes its last status only.
    pub(crate) fn finish(&self) -> Vec<HelperReport> {
        for helper in &self.helpers {
            // A line, then end of file: either one stops it.
            if let Some(mut stdin) = lock(&helper.stdin).take() {
                let _ = stdin.write_all(b"stop\n");
            }
        }
        let until = Instant::now() + STOP_TIMEOUT;
        let mut reports = Vec::new();
        for helper in &self.helpers {
            {
                let mut child = lock(&helper.child);
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if Instant::now() >= until => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }
            // The helper is gone, so its stdout is at end of file and the reader returns.
            if let Some(reader) = lock(&helper.reader).take() {
                let _ = reader.join();
            }
            if let Some(report) = lock(&helper.report).take() {
                helper.status.store(&report.counts);
                reports.push(report);
            }
        }
        reports
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // An early error in the run: no helper outlives it.
        for helper in &self.helpers {
            let mut child = lock(&helper.child);
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Helper {
    fn spawn(config: &RunConfig, first: usize, count: usize) -> anyhow::Result<Self> {
        let mut share = config.clone();
        share.subscribers = count;
        share.quiet = true;
        let exe = std::env::current_exe().context("cannot find loadgen's own executable")?;
        let mut child = Command::new(exe)
            .arg("helper")
            .arg("--config")
            .arg(serde_json::to_string(&share)?)
            .arg("--first-index")
            .arg(first.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start a loadgen helper")?;
        let stdout = child
            .stdout
            .take()
            .context("the helper's stdout is piped")?;
        let stdin = child.stdin.take();
        let status = Arc::new(Counts::default());
        let report = Arc::new(Mutex::new(None));
        let reader = {
            let (status, report) = (Arc::clone(&status), Arc::clone(&report));
            std::thread::spawn(move || read_helper(BufReader::new(stdout), &status, &report))
        };
        Ok(Self {
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            status,
            report,
            reader: Mutex::new(Some(reader)),
        })
    }
}

fn read_helper(
    stdout: impl std::io::BufRead,
    status: &Counts,
    report: &Mutex<Option<HelperReport>>,
) {
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        if let Some(json) = line.strip_prefix("STATUS ") {
            if let Ok(snapshot) = serde_json::from_str::<CountsSnapshot>(json) {
                status.store(&snapshot);
            }
        } else if let Some(Ok(final_report)) = line
            .strip_prefix("REPORT ")
            .map(serde_json::from_str::<HelperReport>)
        {
            *lock(report) = Some(final_report);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A helper's whole life (`loadgen helper`): hold subscribers `first_index..` until stopped
/// (a line or end of file on stdin, or the run's timeout), reporting as it goes.
pub(crate) fn helper(config: RunConfig, first_index: usize) -> anyhow::Result<()> {
    config.check()?;
    let runtime = config.runtime()?;
    runtime.block_on(async move {
        let timeout = Duration::from_secs_f64(config.timeout);
        let count = config.subscribers;
        let job = Arc::new(Job::new(config)?);
        let tasks = subscriber::spawn(&job, first_index..first_index + count);
        let stop = job.stop.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            stop.cancel();
        });
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            println!(
                "STATUS {}",
                serde_json::to_string(&job.tally.counts.snapshot())?
            );
            tokio::select! {
                () = job.stop.cancelled() => break,
                () = tokio::time::sleep_until(deadline) => break,
                () = tokio::time::sleep(STATUS_EVERY) => {}
            }
        }
        subscriber::stop(&job, tasks).await;
        let tally = &job.tally;
        let report = HelperReport {
            counts: tally.counts.snapshot(),
            latency: tally.latency.snapshot(),
            connect: tally.connect.snapshot(),
            first_error: tally.first_error(),
            cpu_s: counters::cpu_seconds(),
        };
        println!("REPORT {}", serde_json::to_string(&report)?);
        Ok(())
    })
}
