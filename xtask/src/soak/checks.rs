//! The four checks of the soak: what each asks of loadgen, what it measures of the server
//! itself, and what must hold.

use std::time::{Duration, Instant};

use crate::process::Ctx;
use crate::server::ServerChild;

use super::watch::{metric, open_files, rss_kb, scrape};
use super::{Bins, Figures, Size, Verdict, loadgen, start_server};

/// The server's default history per topic, which the stalled check reasons with.
const HISTORY: f64 = 1000.0;
/// Real clients must be served this fast while slow sockets are held.
const SERVED_WITHIN_MS: f64 = 2000.0;
/// actix-web's default client request timeout, which closes unfinished heads.
const HEAD_TIMEOUT_S: f64 = 5.0;
/// The body timeout the server is started with, when it has the flag.
const BODY_TIMEOUT_S: f64 = 3.0;
/// Slack on top of a server timeout before a socket it should have closed counts as held.
const CLOSE_SLACK_S: f64 = 5.0;
/// Memory may grow this much between the first tenth of the churn and its end.
const RSS_GROWTH: f64 = 0.10;
/// When gauges are checked after the last close of the churn.
const SETTLE: Duration = Duration::from_secs(1);
/// Cycles run before the baseline is read: enough to reach every worker.
const WARM_UP_CYCLES: u64 = 200;
/// Bound on waiting for the server's RSS to stop falling once a crowd left (its allocator gives
/// freed memory back over about a second).
const RSS_SETTLE: Duration = Duration::from_secs(5);
/// Between two readings of RSS while it settles.
const RSS_STEP: Duration = Duration::from_millis(250);
/// How long to keep watching gauges that had not come back, to report when they do.
const SETTLE_WATCH: Duration = Duration::from_secs(20);
pub(super) fn storm(
    ctx: &Ctx,
    bins: &Bins,
    size: Size,
    _: bool,
    verdict: &mut Verdict,
) -> anyhow::Result<()> {
    let server = start_server(ctx, bins, &[])?;
    let subscribers = size.scale(2000);
    let args: Vec<String> = vec![
        "--subscribers".into(),
        subscribers.to_string(),
        "--rate".into(),
        "200".into(),
        "--seconds".into(),
        (if size == Size::Full { "15" } else { "5" }).into(),
    ];
    let figures = loadgen(ctx, bins, &server, "storm", &args)?;
    let value = |key: &str| figures.num(key);
    figures.keep(verdict);
    verdict.expect(
        value("connected")? == subscribers as f64,
        "every subscriber connected and got its welcome",
    );
    verdict.expect(
        value("published")? == value("events")? && value("publish_errors")? == 0.0,
        "every event was published",
    );
    verdict.expect(
        value("drops_fin")? >= subscribers as f64 / 2.0
            && value("drops_rst")? >= subscribers as f64 / 2.0,
        "subscribers were dropped by FIN and by RST",
    );
    for key in [
        "lost",
        "duplicated",
        "out_of_order",
        "unexpected",
        "resets",
        "incomplete",
    ] {
        verdict.expect(value(key)? == 0.0, format!("{key} is 0"));
    }
    Ok(())
}

/// `pid`'s RSS once it stopped falling (or after [`RSS_SETTLE`]): both readings the churn
/// compares are taken alike, at rest, so what differs is what the server kept.
fn settled_rss_kb(pid: u32) -> anyhow::Result<u64> {
    let deadline = Instant::now() + RSS_SETTLE;
    let mut last = rss_kb(pid)?;
    loop {
        std::thread::sleep(RSS_STEP);
        let now = rss_kb(pid)?;
        if now >= last || Instant::now() > deadline {
            return Ok(now.min(last));
        }
        last = now;
    }
}

/// The gauges the churn must leave as it found them.
const GAUGES: [&str; 3] = [
    "herald_subscribers",
    "herald_connections",
    "herald_tcp_connections",
];

/// The server's open files and gauges now.
fn census(server: &ServerChild) -> anyhow::Result<(u64, Vec<u64>)> {
    let fds = open_files(server.pid())?;
    let metrics = scrape(&server.addr)?;
    let gauges = GAUGES
        .iter()
        .map(|name| metric(&metrics, name))
        .collect::<anyhow::Result<_>>()?;
    Ok((fds, gauges))
}

pub(super) fn churn(
    ctx: &Ctx,
    bins: &Bins,
    size: Size,
    _: bool,
    verdict: &mut Verdict,
) -> anyhow::Result<()> {
    let server = start_server(ctx, bins, &[])?;
    let cycles = size.scale(10_000);
    let first_part = cycles / 10;

    let mut failed = 0.0;
    let part = |first: u64, count: u64| -> anyhow::Result<Figures> {
        let args = vec![
            "--cycles".to_owned(),
            count.to_string(),
            "--first".to_owned(),
            first.to_string(),
        ];
        loadgen(ctx, bins, &server, "churn", &args)
    };
    // "Where they were" is a server that has served: actix starts each worker's poller and
    // timers with its first connections, files that stay for the server's life. A warm-up of
    // a few cycles, released (waited for as a condition), is the baseline.
    let warm_up = part(0, WARM_UP_CYCLES)?;
    failed += warm_up.num("failed")?;
    let warm_deadline = Instant::now() + SETTLE_WATCH;
    let before = loop {
        let census = census(&server)?;
        if census.1 == [0, 0, 1] || Instant::now() > warm_deadline {
            break census;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let early = part(WARM_UP_CYCLES, first_part)?;
    failed += early.num("failed")?;
    let rss_early = settled_rss_kb(server.pid())?;
    let figures = part(WARM_UP_CYCLES + first_part, cycles - first_part)?;
    failed += figures.num("failed")?;
    // Measured the stated time after the last close: the requirement, not a wait for a state.
    std::thread::sleep(SETTLE);
    let after = census(&server)?;
    let rss_end = settled_rss_kb(server.pid())?;

    verdict.figure("cycles", cycles);
    verdict.figure("failed_cycles", failed);
    for (part, figures) in [("first_tenth", &early), ("rest", &figures)] {
        for key in ["cycles_per_s", "slowest_cycle_ms", "first_error"] {
            verdict.figure(&format!("{part}_{key}"), figures.get(key));
        }
    }
    verdict.figure("open_files_before", before.0);
    verdict.figure("open_files_1s_after", after.0);
    for (at, name) in GAUGES.iter().enumerate() {
        verdict.figure(&format!("{name}_before"), before.1[at]);
        verdict.figure(&format!("{name}_1s_after"), after.1[at]);
    }
    verdict.figure(&format!("rss_kb_after_{first_part}"), rss_early);
    verdict.figure("rss_kb_at_end", rss_end);
    let growth = rss_end as f64 / rss_early as f64 - 1.0;
    verdict.figure("rss_growth_pct", format!("{:.1}", growth * 100.0));

    verdict.expect(failed == 0.0, "every cycle got its welcome");
    verdict.expect(
        after.0 == before.0,
        "open files back 1 s after the last close",
    );
    for (at, name) in GAUGES.iter().enumerate() {
        verdict.expect(
            after.1[at] == before.1[at],
            format!("{name} back 1 s after the last close"),
        );
    }
    verdict.expect(
        growth <= RSS_GROWTH,
        format!(
            "RSS within {:.0} % of its value after the first tenth",
            RSS_GROWTH * 100.0
        ),
    );
    if after != before && size == Size::Full {
        // Not part of the verdict: when (if ever, within the watch) things did come back.
        let watch_start = Instant::now();
        let back = loop {
            if census(&server)? == before {
                break Some(watch_start.elapsed() + SETTLE);
            }
            if watch_start.elapsed() > SETTLE_WATCH {
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        verdict.figure(
            "back_after_s",
            back.map_or_else(
                || format!("not_within_{}", (SETTLE_WATCH + SETTLE).as_secs()),
                |after| format!("{:.1}", after.as_secs_f64()),
            ),
        );
    }
    Ok(())
}

pub(super) fn slow(
    ctx: &Ctx,
    bins: &Bins,
    size: Size,
    body_timeout: bool,
    verdict: &mut Verdict,
) -> anyhow::Result<()> {
    let timeout_flag = format!("{BODY_TIMEOUT_S}s");
    let flags: &[&str] = if body_timeout {
        &["--body-timeout", &timeout_flag]
    } else {
        &[]
    };
    let server = start_server(ctx, bins, flags)?;
    let mut args = vec!["--sockets".to_owned(), size.scale(2000).to_string()];
    if body_timeout {
        args.push("--expect-body-close".to_owned());
    }
    let figures = loadgen(ctx, bins, &server, "slow", &args)?;
    let value = |key: &str| figures.num(key);
    figures.keep(verdict);
    verdict.expect(
        value("opened")? == value("sockets")?,
        "every slow socket was opened",
    );
    verdict.expect(
        value("probes_while_all_held")? >= 1.0,
        "real clients were tried while every slow socket was held",
    );
    verdict.expect(
        value("probe_failures")? == 0.0,
        "every real client was served",
    );
    for key in ["probe_subscribe_max_ms", "probe_publish_max_ms"] {
        verdict.expect(
            value(key)? <= SERVED_WITHIN_MS,
            format!("{key} within {SERVED_WITHIN_MS} ms"),
        );
    }
    verdict.expect(
        value("heads_closed")? == value("heads")?,
        "every unfinished head was closed by the server",
    );
    verdict.expect(
        value("heads_close_max_s")? <= HEAD_TIMEOUT_S + CLOSE_SLACK_S,
        format!("unfinished heads closed within {HEAD_TIMEOUT_S} s + {CLOSE_SLACK_S} s"),
    );
    if body_timeout {
        for kind in ["trickle", "silent"] {
            verdict.expect(
                value(&format!("{kind}_closed"))? == value(kind)?,
                format!("every {kind} body was closed by the server"),
            );
            verdict.expect(
                value(&format!("{kind}_close_max_s"))? <= BODY_TIMEOUT_S + CLOSE_SLACK_S,
                format!("{kind} bodies closed within {BODY_TIMEOUT_S} s + {CLOSE_SLACK_S} s"),
            );
        }
    } else {
        verdict.skipped.push(
            "slow bodies closed by a body timeout: the server has no --body-timeout flag, so \
             nothing closes a body that never completes"
                .to_owned(),
        );
    }
    Ok(())
}

pub(super) fn stalled(
    ctx: &Ctx,
    bins: &Bins,
    size: Size,
    _: bool,
    verdict: &mut Verdict,
) -> anyhow::Result<()> {
    let server = start_server(ctx, bins, &[])?;
    // Enough bytes to overflow the stalled socket's buffers (a few MB), and enough events past
    // what those hold for its next event to leave the history of 1000.
    let (events, size) = match size {
        Size::Full => (10_000, 1024),
        Size::Small => (6_000, 1024),
    };
    let args = vec![
        "--readers".to_owned(),
        "200".to_owned(),
        "--events".to_owned(),
        events.to_string(),
        "--size".to_owned(),
        size.to_string(),
    ];
    let figures = loadgen(ctx, bins, &server, "stalled", &args)?;
    let value = |key: &str| figures.num(key);
    figures.keep(verdict);
    verdict.expect(
        value("readers_ready")? == value("readers")? && value("registered")? > value("readers")?,
        "every reader and the stalled one were subscribed before the first event",
    );
    verdict.expect(
        value("published")? == value("events")?,
        "every event was published",
    );
    verdict.expect(
        value("readers_complete")? == value("readers")?,
        "every fast reader got every event",
    );
    for key in [
        "lost",
        "duplicated",
        "out_of_order",
        "resets",
        "readers_ended_by_server",
    ] {
        verdict.expect(value(key)? == 0.0, format!("{key} is 0"));
    }
    verdict.expect(
        value("stalled_out_of_order")? == 0.0,
        "what the stalled reader did get came in order",
    );
    // Once history no longer holds its next event, the stalled reader must have been cut.
    if value("events")? - value("stalled_received")? > HISTORY {
        verdict.expect(
            value("stalled_closed_by_server")? == 1.0,
            "the stalled reader, whose next event left history, was cut",
        );
    }
    Ok(())
}
