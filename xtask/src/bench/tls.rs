//! `cargo xtask bench --tls`: what HTTPS costs Herald per delivery. Beside its cleartext
//! fanout-1k, each round and mode also runs Herald's fanout-1k over HTTPS (TLS 1.3 on rustls and
//! ring, loadgen offering ALPN `http/1.1`), right before or after the cleartext one so that the
//! machine's drift hits both alike; the report's "TLS cost" section sets the two side by side.
//!
//! The certificate is self-signed, made fresh by `loadgen tls-cert` for `127.0.0.1` (an IP SAN,
//! which loadgen verifies against the address it dials) and `localhost`, into
//! `target/bench/tls/`: xtask stays std-only, and loadgen already links rustls.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::pinning::Mode;
use super::report::Medians;
use super::servers::Server;
use crate::process::Ctx;

/// The scenario measured over HTTPS too.
pub(super) const SCENARIO: &str = "fanout-1k";
/// Herald over HTTPS, as the results name it (`bench.tsv`, `runs.tsv`).
pub(super) const LABEL: &str = "herald-tls";

/// The metrics the "TLS cost" tables show, in order.
const SHOWN: [&str; 12] = [
    "deliveries_per_s",
    "cpu_us_per_delivery",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "publish_rate",
    "connect_p50_ms",
    "peak_rss_mb",
    "lost",
    "duplicated",
    "dropped",
    "loadgen_cpu_s",
];

/// The certificate Herald serves HTTPS with, and loadgen trusts.
#[derive(Debug)]
pub(super) struct Tls {
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
}

/// Makes a fresh self-signed certificate in `dir` with `loadgen tls-cert`.
pub(super) fn certificate(ctx: &Ctx, loadgen: &Path, dir: &Path) -> anyhow::Result<Tls> {
    ctx.run(Command::new(loadgen).arg("tls-cert").arg("--dir").arg(dir))?;
    Ok(Tls {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    })
}

/// Whether `server` running `scenario` is measured over HTTPS too.
pub(super) fn applies(server: Server, scenario: &str) -> bool {
    server == Server::Herald && scenario == SCENARIO
}

/// The "TLS cost" section: per mode, Herald's fanout-1k in cleartext and over HTTPS, and their
/// ratio; empty when the run made no HTTPS measurement.
pub(super) fn markdown(medians: &Medians, modes: &[Mode]) -> String {
    let mut md = String::new();
    let pairs: Vec<_> = modes
        .iter()
        .filter_map(|&mode| {
            let clear = medians.get(&(mode, SCENARIO, Server::Herald.name()))?;
            let tls = medians.get(&(mode, SCENARIO, LABEL))?;
            Some((mode, clear, tls))
        })
        .collect();
    if pairs.is_empty() {
        return md;
    }
    let _ = writeln!(
        md,
        "## TLS cost\n\n\
         Herald's {SCENARIO} in cleartext and over HTTPS in the same run, one right after the \
         other: TLS 1.3 (rustls on ring, a self-signed P-256 certificate for 127.0.0.1), \
         loadgen offering ALPN `http/1.1` and verifying the certificate. Ratio = HTTPS / \
         cleartext.\n"
    );
    for (mode, clear, tls) in pairs {
        let _ = writeln!(md, "### {}\n", mode.name());
        if let (Some(clear_us), Some(tls_us)) = (
            clear.get("cpu_us_per_delivery"),
            tls.get("cpu_us_per_delivery"),
        ) {
            let _ = writeln!(
                md,
                "TLS adds {:.3} µs of server CPU per delivery ({clear_us:.3} → {tls_us:.3} µs).\n",
                tls_us - clear_us
            );
        }
        md.push_str(
            "| metric | | cleartext | HTTPS | HTTPS/cleartext |\n|---|---|---:|---:|---:|\n",
        );
        for metric in SHOWN {
            let arrow = if super::report::higher_is_better(metric) {
                "↑"
            } else {
                "↓"
            };
            let _ = writeln!(
                md,
                "| {metric} | {arrow} | {} | {} | {} |",
                super::report::cell(clear.get(metric)),
                super::report::cell(tls.get(metric)),
                super::report::ratio(tls.get(metric), clear.get(metric)),
            );
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Medians of Herald's fanout-1k: (mode, label, deliveries/s, CPU µs per delivery).
    fn medians_of(entries: &[(Mode, &'static str, f64, f64)]) -> Medians {
        let mut medians = Medians::new();
        for &(mode, label, deliveries, cpu) in entries {
            medians.insert(
                (mode, SCENARIO, label),
                BTreeMap::from([
                    ("deliveries_per_s".to_owned(), deliveries),
                    ("cpu_us_per_delivery".to_owned(), cpu),
                ]),
            );
        }
        medians
    }

    #[test]
    fn only_heralds_fanout_1k_goes_over_https() {
        assert!(applies(Server::Herald, "fanout-1k"));
        assert!(!applies(Server::Axum, "fanout-1k"));
        assert!(!applies(Server::Herald, "fanout-10k"));
    }

    #[test]
    fn a_table_per_mode_measured_both_ways() {
        let medians = medians_of(&[
            (Mode::Pinned, "herald", 1_000_000.0, 0.5),
            (Mode::Pinned, LABEL, 800_000.0, 0.75),
            // Unpinned measured in cleartext only: no pair, no table.
            (Mode::Unpinned, "herald", 900_000.0, 0.6),
        ]);
        let md = markdown(&medians, &[Mode::Pinned, Mode::Unpinned]);
        assert!(md.starts_with("## TLS cost\n"), "{md}");
        assert!(md.contains("### pinned"), "{md}");
        assert!(!md.contains("### unpinned"), "{md}");
        assert!(
            md.contains("| deliveries_per_s | ↑ | 1000000 | 800000 | 0.80 |"),
            "{md}"
        );
        assert!(
            md.contains("| cpu_us_per_delivery | ↓ | 0.500 | 0.750 | 1.50 |"),
            "{md}"
        );
        assert!(
            md.contains("TLS adds 0.250 µs of server CPU per delivery"),
            "{md}"
        );
        // Metrics not measured show as such.
        assert!(md.contains("| latency_p99_ms | ↓ | – | – | – |"), "{md}");
    }

    #[test]
    fn no_section_without_an_https_run() {
        let medians = medians_of(&[(Mode::Pinned, "herald", 1.0, 1.0)]);
        assert!(markdown(&medians, &[Mode::Pinned]).is_empty());
    }
}
