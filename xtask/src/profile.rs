//! `cargo xtask bench --perf`: a CPU profile of each server while it delivers (from loadgen's
//! `PHASE publish` to `PHASE drained`), summarised as the top costs per delivered event.
//!
//! `perf record -e cpu-clock` (a software clock: this VM exposes no hardware counters) samples
//! the server's threads, kernel included; the summary divides each symbol's share of the
//! sampled time by the deliveries, so profiles of runs of any length compare directly.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::process::{Ctx, is_root};
use crate::tools::apt_get;

/// Samples per second.
const FREQUENCY: &str = "2000";
/// Rows in the summary.
const TOP: usize = 15;

/// Installs Debian's `linux-perf` unless `perf` runs (idempotent).
pub(crate) fn install(ctx: &Ctx) -> anyhow::Result<()> {
    if Command::new("perf")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
    {
        println!("==> perf: installed");
        return Ok(());
    }
    if !is_root() {
        bail!("perf is missing and installing it needs root: sudo apt-get install linux-perf");
    }
    ctx.run(apt_get(ctx).arg("update"))?;
    ctx.run(apt_get(ctx).args(["install", "-y", "--no-install-recommends", "linux-perf"]))
}

/// A `perf record` attached to a running server.
#[derive(Debug)]
pub(crate) struct Recorder {
    child: Child,
    data: PathBuf,
}

impl Recorder {
    /// Starts sampling `pids` into `data`, on core 1 when the run is pinned (beside loadgen, off
    /// the server's core).
    pub(crate) fn start(pids: &[u32], data: &Path, pin: bool) -> anyhow::Result<Self> {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        let mut command = if pin {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", "1", "perf"]);
            taskset
        } else {
            Command::new("perf")
        };
        let child = command
            .args([
                "record",
                "-e",
                "cpu-clock",
                "-F",
                FREQUENCY,
                "-g",
                "-q",
                "-p",
            ])
            .arg(pids.join(","))
            .arg("-o")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start perf record")?;
        Ok(Self {
            child,
            data: data.to_owned(),
        })
    }

    /// Stops sampling (SIGINT, so that perf writes its file) and waits for the file.
    pub(crate) fn stop(mut self) -> anyhow::Result<PathBuf> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(self.data.clone());
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("perf record did not stop");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Only when `stop` was not reached: never leave a recorder behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One row of `perf report`: a symbol's share of the samples.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    percent: f64,
    kernel: bool,
    symbol: String,
}

/// The sampled nanoseconds and the rows of `perf report --sort sym -g none` output.
fn parse_report(text: &str) -> Option<(f64, Vec<Row>)> {
    let total = text
        .lines()
        .find_map(|line| line.split_once("Event count (approx.):"))
        .and_then(|(_, count)| count.trim().parse::<f64>().ok())?;
    let rows = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (percent, rest) = line.trim().split_once('%')?;
            let rest = rest.trim();
            let (kind, symbol) = rest.split_at_checked(3)?;
            Some(Row {
                percent: percent.trim().parse().ok()?,
                kernel: kind == "[k]",
                symbol: symbol.trim().to_owned(),
            })
        })
        .collect();
    Some((total, rows))
}

/// Shortens a Rust symbol for a table: `<A<T> as B<U>>::f` becomes `A<T>::f`.
fn short(symbol: &str) -> String {
    let mut out = symbol.replace("{{closure}}", "{closure}");
    while let Some(as_at) = out.find(" as ") {
        // The `<` that opens this qualified path, and the `>` that closes it.
        let open = unmatched(out[..as_at].char_indices().rev(), '>', '<');
        let close = unmatched(out[as_at..].char_indices(), '<', '>').map(|at| as_at + at);
        let (Some(open), Some(close)) = (open, close) else {
            break;
        };
        out = format!(
            "{}{}{}",
            &out[..open],
            &out[open + 1..as_at],
            &out[close + 1..]
        );
    }
    out.chars().take(90).collect()
}

/// The position of the first `target` not paired with an earlier `nested`, walking `chars`.
fn unmatched(
    chars: impl Iterator<Item = (usize, char)>,
    nested: char,
    target: char,
) -> Option<usize> {
    let mut depth = 0usize;
    for (at, c) in chars {
        if c == nested {
            depth += 1;
        } else if c == target {
            if depth == 0 {
                return Some(at);
            }
            depth -= 1;
        }
    }
    None
}

/// Writes the top costs per delivered event of `data` as Markdown into `out`.
pub(crate) fn summarize(
    data: &Path,
    deliveries: f64,
    title: &str,
    out: &Path,
) -> anyhow::Result<()> {
    let report = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "sym",
            "-g",
            "none",
        ])
        .args(["--percent-limit", "0.01", "-i"])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .context("cannot run perf report")?;
    let text = String::from_utf8_lossy(&report.stdout);
    let Some((total_ns, rows)) = parse_report(&text) else {
        bail!("perf report found no samples in {}", data.display());
    };
    if deliveries <= 0.0 {
        bail!("no deliveries to divide the profile by");
    }
    let per_delivery = total_ns / deliveries;
    let kernel: f64 = rows
        .iter()
        .filter(|row| row.kernel)
        .map(|row| row.percent)
        .sum();
    let mut markdown = format!(
        "### {title}\n\n{per_delivery:.0} ns of server CPU per delivered event: kernel {:.0} ns, \
         user space {:.0} ns.\n\n| ns / delivery | where | symbol |\n|---:|---|---|\n",
        per_delivery * kernel / 100.0,
        per_delivery * (100.0 - kernel) / 100.0,
    );
    for row in rows.iter().take(TOP) {
        let _ = writeln!(
            markdown,
            "| {:.0} | {} | `{}` |",
            per_delivery * row.percent / 100.0,
            if row.kernel { "kernel" } else { "user" },
            short(&row.symbol)
        );
    }
    std::fs::write(out, markdown).with_context(|| format!("cannot write {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_gives_its_total_and_rows() {
        let text = "# Samples: 8K of event 'cpu-clock'\n# Event count (approx.): 4081000000\n#\n\
                    # Overhead  Symbol\n    10.16%  [k] _raw_spin_unlock_irqrestore\n     \
                    2.50%  [.] <server::stream::EventStream as futures_core::Stream>::poll_next\n";
        let (total, rows) = parse_report(text).unwrap();
        assert!((total - 4.081e9).abs() < 1.0);
        assert_eq!(rows.len(), 2);
        assert!(rows[0].kernel);
        assert!(!rows[1].kernel);
        assert_eq!(
            short(&rows[1].symbol),
            "server::stream::EventStream::poll_next"
        );
    }
}
