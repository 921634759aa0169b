//! One measurement: a fresh server, one scenario driven by loadgen, and what `/proc` says the
//! server spent meanwhile (CPU over the publish phase, peak RSS, RSS per held connection), with
//! a CPU profile of its deliveries when asked.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::driver::run_loadgen;
use super::pinning::Mode;
use super::procfs::{PeakRss, TICKS_PER_SECOND, cpu_ticks, rss_kb};
use super::scenarios::Scenario;
use super::servers::{Bins, Server, start};
use super::tls::Tls;

/// How long a started server settles (nginx forks its workers, Pushpin's services connect to
/// each other) before the baseline reading.
const SETTLE: Duration = Duration::from_millis(300);

/// Which measurement: one scenario on one server, in one mode and round, in cleartext or over
/// HTTPS.
#[derive(Debug, Clone, Copy)]
pub(super) struct Subject<'a> {
    pub(super) server: Server,
    pub(super) scenario: &'a Scenario,
    pub(super) mode: Mode,
    pub(super) round: usize,
    /// The certificate, when over HTTPS.
    pub(super) tls: Option<&'a Tls>,
}

impl Subject<'_> {
    /// A file name for this measurement's logs, data and profile.
    fn stem(&self) -> String {
        format!(
            "{}-{}-{}{}-{}",
            self.mode.name(),
            self.scenario.name,
            self.server.name(),
            if self.tls.is_some() { "-tls" } else { "" },
            self.round
        )
    }

    /// The measurement in words, for titles and errors.
    pub(super) fn describe(&self) -> String {
        format!(
            "{} on {}{} ({})",
            self.scenario.name,
            self.server.name(),
            if self.tls.is_some() {
                " over HTTPS"
            } else {
                ""
            },
            self.mode.name()
        )
    }
}

/// Runs `subject`, with logs (and perf's data) in `work` and a profile summary (with `perf`)
/// in `out/profiles/`, and returns its metrics.
pub(super) fn measure(
    bins: &Bins,
    work: &Path,
    out: &Path,
    subject: Subject<'_>,
    perf: bool,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let Subject {
        server, mode, tls, ..
    } = subject;
    let log = work.join(format!("{}.log", subject.stem()));
    let mut running = start(bins, work, server, mode, tls, &log)?;
    running.wait_ready()?;
    std::thread::sleep(SETTLE);
    let pids = running.pids();
    let rss_before = rss_kb(&pids);
    let cpu_before = cpu_ticks(&pids);
    let peak = PeakRss::start(&pids, rss_before);
    // perf's data stays in the work directory; only its summary joins the results.
    let profile = perf.then(|| work.join(format!("{}.perf.data", subject.stem())));
    let result = run_loadgen(bins, subject, running.addresses, &pids, profile.as_deref());
    let peak = peak.stop();
    let cpu_total = (cpu_ticks(&pids) - cpu_before) / TICKS_PER_SECOND;
    drop(running);
    let (mut metrics, phases) = result?;

    let connected = metrics.get("connected").copied().unwrap_or(0.0);
    let deliveries = metrics.get("deliveries").copied().unwrap_or(0.0);
    let at = |name: &str| phases.iter().find(|phase| phase.name == name);
    // CPU of the publish phase when there was one: the deliveries' cost, not the connects'.
    let cpu = match (at("publish"), at("drained")) {
        (Some(start), Some(end)) => (end.cpu_ticks - start.cpu_ticks) / TICKS_PER_SECOND,
        _ => cpu_total,
    };
    metrics.insert("cpu_s".to_owned(), cpu);
    metrics.insert("cpu_total_s".to_owned(), cpu_total);
    metrics.insert("peak_rss_mb".to_owned(), peak as f64 / 1024.0);
    metrics.insert("base_rss_mb".to_owned(), rss_before as f64 / 1024.0);
    if connected > 0.0 {
        // Idle: RSS with every connection open and settled, at the end of the hold.
        let held = at("held").map_or(peak, |phase| phase.rss_kb);
        metrics.insert(
            "rss_kb_per_conn".to_owned(),
            held.saturating_sub(rss_before) as f64 / connected,
        );
    }
    if deliveries > 0.0 {
        metrics.insert("cpu_us_per_delivery".to_owned(), cpu * 1e6 / deliveries);
        if let Some(data) = profile.filter(|data| data.is_file()) {
            let title = subject.describe();
            let summary = out.join("profiles").join(format!("{}.md", subject.stem()));
            crate::profile::summarize(&data, deliveries, &title, &summary)?;
        }
    }
    Ok(metrics)
}
