//! The machine a bench ran on, as the report states it: cores, CPU, kernel, memory, load and
//! the versions of everything measured.

use std::process::Command;

use crate::process::{Ctx, first_line};

/// Cores, CPU, kernel, memory and versions, as a Markdown list.
pub(super) fn machine_facts(ctx: &Ctx) -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let memory = read("/proc/meminfo")
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or_else(String::new, |kb| format!("{} GiB", kb / 1024 / 1024));
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let nginx = Command::new("nginx")
        .arg("-v")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stderr).trim().to_owned())
        .unwrap_or_default();
    let debian = |package: &str| {
        first_line(Command::new("dpkg-query").args(["-W", "-f=${Version}", package]))
            .unwrap_or_default()
    };
    let rustc = first_line(Command::new("rustc").arg("-V")).unwrap_or_default();
    let axum = read(
        &ctx.root
            .join("bench/baseline-axum/Cargo.lock")
            .to_string_lossy(),
    )
    .split("[[package]]")
    .find(|package| package.contains("name = \"axum\""))
    .and_then(|package| {
        package
            .lines()
            .find_map(|line| line.strip_prefix("version = "))
            .map(|version| version.trim_matches('"').to_owned())
    })
    .unwrap_or_default();
    let nofile = first_line(Command::new("sh").args(["-c", "ulimit -n"])).unwrap_or_default();
    format!(
        "- cores: {cores} ({cpu}), memory {memory}\n- kernel: {}\n- load average at start: \
         {}\n- open files per process: {nofile}\n- rustc: {rustc}; Herald built with \
         `--profile perf` (fat LTO), axum {axum} with `--release`\n- {nginx}, \
         libnginx-mod-nchan {} (Debian)\n- pushpin {}, condure {}, zurl {} (Debian)\n",
        read("/proc/sys/kernel/osrelease").trim(),
        read("/proc/loadavg").trim(),
        debian("libnginx-mod-nchan"),
        debian("pushpin"),
        debian("condure"),
        debian("zurl"),
    )
}
