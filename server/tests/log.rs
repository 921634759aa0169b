//! The hub as a log, against a real server: a stalled reader is cut only once history passes it
//! and never holds the others back; replays stream as sockets take them instead of piling up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Conn, EventReader, PATIENCE, Publisher, TestServer};
use shared::names::WELCOME_TEXT;
use tokio::net::TcpSocket;

const TOKEN: &str = "log-token";

/// Publishes `count` events numbered `0..count` on `topic` from four keep-alive connections,
/// never more than `lead` events ahead of the slowest reader's `progress` (healthy readers
/// keep up; what is tested is that nobody but the stalled reader is cut, not how fast).
/// Returns the sequence numbers in the hub's id order: the order every reader must see.
async fn publish_paced(
    addr: SocketAddr,
    topic: &'static str,
    count: usize,
    filler: &str,
    progress: Arc<Vec<AtomicUsize>>,
    lead: usize,
) -> Vec<usize> {
    const LANES: usize = 4;
    let mut lanes = Vec::new();
    for lane in 0..LANES {
        let filler = filler.to_owned();
        let progress = Arc::clone(&progress);
        lanes.push(tokio::spawn(async move {
            let mut publisher = Publisher::connect(addr, Some(TOKEN)).await;
            let mut ids = Vec::new();
            for seq in (lane..count).step_by(LANES) {
                let deadline = tokio::time::Instant::now() + PATIENCE;
                while progress
                    .iter()
                    .map(|done| done.load(Ordering::Relaxed))
                    .min()
                    .unwrap_or(count)
                    + lead
                    < seq
                {
                    assert!(tokio::time::Instant::now() < deadline, "readers stopped");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let id: u64 = publisher
                    .publish(topic, &format!("{seq:08}{filler}"))
                    .await
                    .parse()
                    .unwrap();
                ids.push((id, seq));
            }
            ids
        }));
    }
    let mut by_id = Vec::new();
    for lane in lanes {
        by_id.extend(lane.await.unwrap());
    }
    by_id.sort_unstable();
    by_id.into_iter().map(|(_, seq)| seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_cut_once_history_passes_it_and_the_others_lose_nothing() {
    const READERS: usize = 1000;
    const EVENTS: usize = 10_000;
    const HISTORY: usize = 2000;
    let server = TestServer::start(&["--publish-token", TOKEN, "--history", &HISTORY.to_string()]);

    // The stalled reader: a tiny receive buffer, and it never reads after its request. It also
    // reads `bulk`, whose large events fill its socket buffers first.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stalled = socket.connect(server.addr).await.unwrap();
    let mut stalled = Conn::from_stream(stalled);
    stalled
        .send(b"GET /events?topic=bulk&topic=load HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;

    let progress: Arc<Vec<AtomicUsize>> =
        Arc::new((0..READERS).map(|_| AtomicUsize::new(0)).collect());
    let mut readers = Vec::new();
    for index in 0..READERS {
        let mut reader = EventReader::open(server.addr, "/events?topic=load", &[]).await;
        let progress = Arc::clone(&progress);
        readers.push(tokio::spawn(async move {
            let mut seqs = Vec::with_capacity(EVENTS);
            while seqs.len() < EVENTS {
                let event = reader
                    .next_event()
                    .await
                    .expect("a healthy reader is never cut");
                if event.data == WELCOME_TEXT {
                    continue;
                }
                seqs.push(event.data[..8].parse::<usize>().unwrap());
                progress[index].store(seqs.len(), Ordering::Relaxed);
            }
            // The reader stays open: it is counted below as a subscriber still served.
            (seqs, reader)
        }));
    }
    server
        .wait_for_metric("herald_subscribers", READERS as u64 + 1)
        .await;

    // 12 MB on `bulk`: more than the stalled socket's buffers on both sides can hold.
    let mut bulk = Publisher::connect(server.addr, Some(TOKEN)).await;
    let big = "b".repeat(60 * 1024);
    for _ in 0..200 {
        bulk.publish("bulk", &big).await;
    }
    let expected = publish_paced(server.addr, "load", EVENTS, "", progress, 500).await;
    let mut open = Vec::new();
    for reader in readers {
        let (seqs, reader) = reader.await.unwrap();
        assert!(seqs == expected, "every event, in id order, none repeated");
        open.push(reader);
    }

    // History passed the stalled reader after at most HISTORY of the 10,000 `load` events.
    server
        .wait_for_metric("herald_slow_clients_cut_total", 1)
        .await;
    // What the hub holds is bounded by history, whatever the stalled reader did: exactly the
    // newest HISTORY events of `load`, all of `bulk`, and the clock's ticks (every event
    // published but ours), read from one scrape.
    let metrics = server.metrics().await;
    let ticks = metrics["herald_events_published_total"] - EVENTS as u64 - 200;
    assert_eq!(
        metrics["herald_history_events"],
        HISTORY as u64 + 200 + ticks
    );
    server
        .wait_for_metric("herald_subscribers", READERS as u64)
        .await;
    // Once it reads again, its stream ends (after a `retry:` hint) well before the last event.
    let head = stalled.read_head().await;
    assert_eq!(head.status(), 200);
    let mut body = Vec::new();
    while let Some(chunk) = stalled.read_chunk().await {
        body.extend_from_slice(&chunk);
    }
    let last = format!("{:08}", EVENTS - 1);
    assert!(
        body.ends_with(b"retry: 2000\n\n"),
        "ended with a retry hint"
    );
    assert!(
        memchr::memmem::find(&body, last.as_bytes()).is_none(),
        "cut before the end"
    );
    drop(open);
}

/// The server binary as a child process, so its memory is its own.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start(flags: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--bind", "127.0.0.1:0", "--dist", "/nonexistent"])
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server prints its address")
                .unwrap();
            if let Some(addr) = line.trim().strip_prefix("Herald listening on http://") {
                break addr.parse().unwrap();
            }
        };
        // Whatever the server prints later goes nowhere; a closed pipe would fail its writes.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, addr }
    }

    /// Resident memory, in kB, from `/proc`.
    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .expect("VmRSS in /proc status")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_replays_at_once_stream_without_piling_up() {
    const CLIENTS: usize = 500;
    const BEHIND: usize = 1000;
    let server = ServerProcess::start(&["--publish-token", TOKEN]);
    let mut publisher = Publisher::connect(server.addr, Some(TOKEN)).await;
    let first = publisher.publish("replay", "start").await;
    let filler = "r".repeat(16 * 1024 - 8);
    for seq in 0..BEHIND {
        publisher
            .publish("replay", &format!("{seq:08}{filler}"))
            .await;
    }
    let before = server.rss_kb();

    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let addr = server.addr;
        let first = first.clone();
        let done = Arc::clone(&done);
        clients.push(tokio::spawn(async move {
            let mut reader =
                EventReader::open(addr, "/events?topic=replay", &[("Last-Event-ID", &first)]).await;
            let mut next = 0;
            loop {
                let Some(event) = reader.next_event().await else {
                    panic!(
                        "stream ended after {next} events: {} {:?}",
                        reader.head.status_line,
                        String::from_utf8_lossy(&reader.raw[..reader.raw.len().min(200)])
                    );
                };
                if event.data == WELCOME_TEXT {
                    break;
                }
                let seq: usize = event.data[..8].parse().unwrap();
                assert_eq!(seq, next, "the replay in order");
                next += 1;
            }
            assert_eq!(next, BEHIND, "the whole replay, then the welcome");
            done.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let watcher = {
        let peak = Arc::clone(&peak);
        let done = Arc::clone(&done);
        let pid = server.child.id();
        tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < CLIENTS {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
                let rss: usize = status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))
                    .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                    .unwrap();
                peak.fetch_max(rss, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    for client in clients {
        client.await.unwrap();
    }
    watcher.await.unwrap();
    let growth_mb = (peak.load(Ordering::Relaxed) as u64).saturating_sub(before) / 1024;
    // 500 clients x 16 MB of replay = 8 GB: assembled whole it would be 8 GB of memory.
    assert!(
        growth_mb < 100,
        "RSS grew by {growth_mb} MB during the replays"
    );
}
