//! Watching a server from outside: its `/metrics` page, its open files and its resident memory
//! from `/proc`.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

/// `GET /metrics`, whole, on a connection of its own.
pub(super) fn scrape(addr: &str) -> anyhow::Result<String> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}

pub(super) fn metric(page: &str, name: &str) -> anyhow::Result<u64> {
    page.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .with_context(|| format!("/metrics has no {name}"))
}

pub(super) fn open_files(pid: u32) -> anyhow::Result<u64> {
    let dir = Path::new("/proc").join(pid.to_string()).join("fd");
    Ok(std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .count() as u64)
}

pub(super) fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}
