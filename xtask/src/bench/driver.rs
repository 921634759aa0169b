//! Driving loadgen for one scenario: its command line, the `PHASE` lines it prints (the moments
//! the server's CPU and RSS are read, and a profile starts and stops), and its `RESULT` line.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::measure::Subject;
use super::pinning::{LOADGEN_CORE, Mode};
use super::procfs::{cpu_ticks, rss_kb};
use super::servers::{Addresses, Bins, TOKEN};

/// A moment loadgen announced (`PHASE name` on its stdout), with the server's state then.
#[derive(Debug)]
pub(super) struct Moment {
    pub(super) name: String,
    pub(super) cpu_ticks: f64,
    pub(super) rss_kb: u64,
}

pub(super) fn run_loadgen(
    bins: &Bins,
    subject: Subject<'_>,
    addresses: Addresses,
    pids: &[u32],
    profile: Option<&Path>,
) -> anyhow::Result<(BTreeMap<String, f64>, Vec<Moment>)> {
    let Subject {
        server,
        scenario,
        mode,
        tls,
        ..
    } = subject;
    let mut command = mode.command(LOADGEN_CORE, &bins.loadgen);
    command
        .arg("run")
        .args(["--target", server.name()])
        .args(["--addr", &addresses.addr.to_string()]);
    if let Some(publish) = addresses.publish {
        command.args(["--publish-addr", &publish.to_string()]);
    }
    if let Some(tls) = tls {
        command.arg("--tls-ca").arg(&tls.cert);
    }
    command
        .args(["--token", TOKEN])
        .args(["--subscribers", &scenario.subscribers.to_string()])
        .args(["--messages", &scenario.messages.to_string()])
        .args(["--rate", &scenario.rate.to_string()])
        .args(["--in-flight", &scenario.in_flight.to_string()])
        .args(["--hold", &scenario.hold.to_string()])
        .args(["--drain", &scenario.drain.to_string()])
        .args(["--timeout", &scenario.timeout.to_string()])
        .args(["--sources", "32"]);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start loadgen")?;
    let stdout = child.stdout.take().context("loadgen's stdout is piped")?;
    let pids = pids.to_vec();
    let profile = profile.map(Path::to_owned);
    let pin = mode == Mode::Pinned;
    let reader = std::thread::spawn(move || {
        let (mut text, mut phases) = (String::new(), Vec::new());
        let mut recorder = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(name) = line.strip_prefix("PHASE ") {
                let name = name.trim();
                // The profile covers deliveries only: from the first publish to the last event.
                if let Some(running) = recorder.take_if(|_| name == "drained")
                    && let Err(err) = crate::profile::Recorder::stop(running)
                {
                    println!("    {err:#}");
                }
                phases.push(Moment {
                    name: name.to_owned(),
                    cpu_ticks: cpu_ticks(&pids),
                    rss_kb: rss_kb(&pids),
                });
                if let (Some(data), "publish") = (&profile, name) {
                    match crate::profile::Recorder::start(&pids, data, pin) {
                        Ok(running) => recorder = Some(running),
                        Err(err) => println!("    {err:#}"),
                    }
                }
            } else {
                text.push_str(&line);
                text.push('\n');
            }
        }
        (text, phases)
    });
    // loadgen bounds itself; this bound only catches a loadgen that hangs.
    let until = Instant::now() + Duration::from_secs_f64(scenario.timeout + 30.0);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            bail!("loadgen ran past its own timeout and was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (text, phases) = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("loadgen failed ({status})");
    }
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .context("loadgen printed no RESULT line")?;
    let mut metrics = BTreeMap::new();
    for pair in line.split_whitespace() {
        if let Some((key, text)) = pair.split_once('=') {
            let value = match text {
                "true" => Some(1.0),
                "false" => Some(0.0),
                number => number.parse().ok(),
            };
            if let Some(value) = value {
                metrics.insert(key.to_owned(), value);
            } else if key == "first_error" && !text.is_empty() {
                println!("    loadgen's first error: {text}");
            }
        }
    }
    Ok((metrics, phases))
}
