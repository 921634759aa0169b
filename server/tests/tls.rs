//! HTTPS on the real binary: certificates refused with one line, HTTP/2 by ALPN carrying many
//! event streams on one connection (one stream that is not read delays none of the others and
//! is cut like any slow reader), HTTP/1.1 over TLS, and CORS for the `https` origin.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::PATIENCE;
use common::process::{ServerProcess, refused};
use common::tls::{Certificate, metrics, publish, send};
use shared::wire::Parser;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const TOKEN: &str = "tls-token";

/// Headers that belong to one HTTP/1.1 connection, which HTTP/2 forbids (RFC 9113, 8.2.2).
const CONNECTION_HEADERS: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

fn start(cert: &Certificate, flags: &[&str]) -> ServerProcess {
    let tls = cert.flags();
    let mut all: Vec<&str> = tls.iter().map(String::as_str).collect();
    all.extend_from_slice(flags);
    let server = ServerProcess::start(&all, Some("warn"));
    assert_eq!(server.scheme, "https", "it says it serves HTTPS");
    server
}

#[test]
fn a_certificate_or_key_that_cannot_work_exits_2_naming_the_file() {
    let cert = Certificate::new("tls-refused");
    let other = Certificate::new("tls-refused-other");
    let cert_file = cert.cert.to_str().unwrap();
    let key_file = cert.key.to_str().unwrap();
    let cases = [
        (
            vec!["--tls-cert", "/nonexistent/cert.pem", "--tls-key", key_file],
            "/nonexistent/cert.pem",
        ),
        (
            vec!["--tls-cert", key_file, "--tls-key", key_file],
            "no certificate",
        ),
        (
            vec!["--tls-cert", cert_file, "--tls-key", cert_file],
            "no private key",
        ),
        (
            vec![
                "--tls-cert",
                cert_file,
                "--tls-key",
                other.key.to_str().unwrap(),
            ],
            "not the private key of the certificate",
        ),
    ];
    for (flags, expected) in cases {
        let (code, stderr) = refused(&flags);
        assert_eq!(code, Some(2), "{flags:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(expected),
            "{stderr:?} should say {expected:?}"
        );
    }
    let (code, stderr) = refused(&["--tls-cert", cert_file]);
    assert_eq!(code, Some(2), "a certificate without its key: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_streams_on_one_h2_connection_get_every_event_and_a_closed_window_delays_none() {
    const STREAMS: usize = 100;
    const EVENTS: usize = 600;
    const HISTORY: &str = "200";
    let cert = Certificate::new("tls-h2");
    let server = start(
        &cert,
        &[
            "--publish-token",
            TOKEN,
            "--history",
            HISTORY,
            "--open-rate",
            "100000",
        ],
    );
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    // One connection for the readers and the stalled stream; the publisher has its own.
    let mut streams = cert.h2(server.addr, 64 * 1024).await;
    let mut publisher = cert.h2(server.addr, 1 << 20).await;

    let received = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..STREAMS {
        let request = http::Request::get(format!("{base}/events?topic=t"))
            .header("accept", "text/event-stream")
            .body(())
            .unwrap();
        let response = send(&mut streams, request, None).await;
        assert_eq!(response.status(), 200);
        for name in CONNECTION_HEADERS {
            assert!(
                !response.headers().contains_key(name),
                "{name} on an h2 response"
            );
        }
        let received = Arc::clone(&received);
        readers.push(tokio::spawn(async move {
            let mut body = response.into_body();
            let mut parser = Parser::default();
            let mut data = Vec::new();
            while data.len() < EVENTS {
                let chunk = tokio::time::timeout(PATIENCE, body.data())
                    .await
                    .expect("events keep coming")
                    .expect("the stream stays open")
                    .expect("body data");
                let _ = body.flow_control().release_capacity(chunk.len());
                parser
                    .feed(&chunk, &mut |event| {
                        if event.data.starts_with('e') {
                            data.push(event.data);
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                    .unwrap();
            }
            data
        }));
    }
    // The stalled stream, on the same connection: never read, so its window closes once the
    // big events on `bulk` fill it; then history passes it on `t`.
    let request = http::Request::get(format!("{base}/events?topic=bulk&topic=t"))
        .header("accept", "text/event-stream")
        .body(())
        .unwrap();
    let stalled = send(&mut streams, request, None).await;
    assert_eq!(stalled.status(), 200);
    let big = "b".repeat(60 * 1024);
    for _ in 0..4 {
        publish(&mut publisher, &base, TOKEN, "bulk", &big).await;
    }
    let expected: Vec<String> = (0..EVENTS).map(|seq| format!("e{seq:05}")).collect();
    for data in &expected {
        publish(&mut publisher, &base, TOKEN, "t", data).await;
    }
    for reader in readers {
        let data = reader.await.expect("reader");
        assert!(data == expected, "every event, in order, none repeated");
    }
    assert_eq!(received.load(Ordering::Relaxed), STREAMS * EVENTS);

    // The stalled stream is cut once history passes it, like any slow reader.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let metrics = metrics(&mut publisher, &base).await;
        if metrics.get("herald_slow_clients_cut_total") == Some(&1) {
            assert_eq!(metrics["herald_subscribers"], STREAMS as u64);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled stream was never cut"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_over_tls_works_and_cors_allows_the_https_origin_only() {
    let cert = Certificate::new("tls-h1");
    let server = start(&cert, &[]);
    let port = server.addr.port();
    for (origin, allowed) in [
        (format!("https://127.0.0.1:{port}"), true),
        (format!("https://localhost:{port}"), true),
        (format!("http://127.0.0.1:{port}"), false),
    ] {
        let mut tls = cert.connect(server.addr, &[b"http/1.1"]).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let request = format!(
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let _ = tokio::time::timeout(PATIENCE, tls.read_to_end(&mut response))
            .await
            .expect("answered in time");
        let response = String::from_utf8_lossy(&response).to_ascii_lowercase();
        assert!(response.starts_with("http/1.1 200"), "{response}");
        let grant = format!("access-control-allow-origin: {origin}");
        assert_eq!(response.contains(&grant), allowed, "{origin}: {response}");
    }
}
