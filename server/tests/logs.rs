//! What clients send never raises an ERROR in the server's log, and the warnings it may cause
//! are rate-limited: the real binary, with its real logging set-up, fed garbage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::process::ServerProcess;
use common::{Conn, PATIENCE, request};
use tokio::time::Instant;

/// The body timeout: short, so that slow bodies are answered quickly.
const BODY_TIMEOUT: &str = "300ms";
/// What the server logs when it answers a late body (`body_deadline`).
const LATE_BODY: &str = "request body not complete";
/// Lines a second one kind of warning may log (`server::log_limit::PER_SECOND`).
const PER_SECOND: usize = 5;
/// Late bodies sent at once: several times what may be logged for them in a second.
const LATE_AT_ONCE: usize = 30;

/// The server binary with the short body timeout.
fn server() -> ServerProcess {
    server_with(&[], None)
}

/// [`server`] with extra flags, and `RUST_LOG` when given.
fn server_with(flags: &[&str], rust_log: Option<&str>) -> ServerProcess {
    let mut all = vec!["--body-timeout", BODY_TIMEOUT];
    all.extend_from_slice(flags);
    ServerProcess::start(&all, rust_log)
}

/// Requests no server could make sense of, and clients that misbehave mid-request.
fn garbage() -> Vec<Vec<u8>> {
    let many_headers: String = (0..200).map(|n| format!("X-{n}: y\r\n")).collect();
    [
        b"\x00\x01\x02 garbage\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n".to_vec(),
        b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(),
        b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
        b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        b"GET /..%2fCargo.toml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"DELETE /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
    ]
    .to_vec()
}

/// A head and the first byte of a body that never comes.
const LATE: &[u8] =
    b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{";

async fn late_body(addr: SocketAddr) {
    let mut conn = Conn::open(addr).await;
    conn.send(LATE).await;
    assert_eq!(conn.read_response().await.head.status(), 408);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_garbage_logs_no_error_and_its_warnings_are_rate_limited() {
    let server = server();
    let addr = server.addr;

    for _ in 0..3 {
        for bytes in garbage() {
            let mut conn = Conn::open(addr).await;
            conn.send(&bytes).await;
            conn.wait_closed().await;
        }
    }
    // Clients that vanish: mid-stream (FIN and RST), mid-head, mid-body.
    for reset in [false, true] {
        for request in [
            &b"GET /events?topic=x HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET /events?topic=x HTTP/1.1\r\nHo",
            b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{",
        ] {
            let mut conn = Conn::open(addr).await;
            conn.send(request).await;
            if reset {
                conn.reset();
            } else {
                conn.shutdown_write().await;
                conn.wait_closed().await;
            }
        }
    }

    // A late chunked body, which the server cuts by failing its answer's body on purpose.
    let mut conn = Conn::open(addr).await;
    conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n")
        .await;
    assert_eq!(conn.read_response().await.head.status(), 408);
    conn.wait_closed().await;

    // A burst of late bodies: far more than one second's budget of warnings.
    let burst: Vec<_> = (0..LATE_AT_ONCE)
        .map(|_| tokio::spawn(late_body(addr)))
        .collect();
    for late in burst {
        late.await.unwrap();
    }
    let logged = server.lines_with(LATE_BODY).len();
    // The burst falls in one or two windows of the limit (three on a machine slow to connect
    // thirty clients): at most half of it is logged.
    assert!(
        (1..=3 * PER_SECOND).contains(&logged),
        "{logged} warnings for {LATE_AT_ONCE} late bodies"
    );
    // The next window's first warning says how many were held back.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let counted = server.lines_with(LATE_BODY).iter().any(|line| {
            line.split_whitespace()
                .filter_map(|field| field.strip_prefix("suppressed="))
                .any(|count| count.parse::<u64>().is_ok_and(|count| count > 0))
        });
        if counted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no warning counted the held-back ones"
        );
        late_body(addr).await;
    }

    // Everything the clients did is over before the log is read.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let metrics = request(addr, "GET", "/metrics", &[], "").await.body_text();
        if metrics
            .lines()
            .any(|line| line == "herald_tcp_connections 1")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections still open:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let lines = server.stop();
    let bad: Vec<_> = lines
        .iter()
        .filter(|line| line.contains(" ERROR ") || line.contains("panicked"))
        .collect();
    assert!(bad.is_empty(), "client input logged errors:\n{bad:#?}");
    // The log did record things: the start, and the warnings above.
    assert!(
        lines.iter().any(|line| line.contains(" WARN ")),
        "{lines:#?}"
    );
}

/// Tokens, good and bad, presented every way a client can: none of them, nor any part that
/// would let someone use them, reaches the log (at debug level) or `/metrics`.
#[tokio::test]
async fn tokens_and_cookies_never_reach_the_log_or_the_metrics() {
    const SECRET: &str = "the log test's secret";
    let server = server_with(&["--jwt-secret", SECRET], Some("debug"));
    let sign =
        |claims: serde_json::Value, secret: &str| common::jwt::hs256(&claims, secret.as_bytes());
    let good = sign(
        serde_json::json!({ "mercure": { "publish": ["*"], "subscribe": ["*"] } }),
        SECRET,
    );
    let bad = sign(
        serde_json::json!({ "mercure": { "publish": ["*"] } }),
        "not the secret",
    );
    for token in [&good, &bad] {
        let auth = format!("Bearer {token}");
        let body = r#"{"topic":"t","data":"x"}"#;
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        request(server.addr, "POST", "/publish", &headers, body).await;
        let cookie = format!("mercureAuthorization={token}");
        for (path, headers) in [
            (
                "/events?topic=t".to_owned(),
                vec![("Cookie", cookie.as_str())],
            ),
            (format!("/events?topic=t&authorization={token}"), vec![]),
            (
                "/events?topic=t".to_owned(),
                vec![("Authorization", auth.as_str())],
            ),
        ] {
            let mut conn = Conn::open(server.addr).await;
            let mut head =
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n");
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            conn.send(head.as_bytes()).await;
            let status = conn.read_head().await.status();
            assert!(status == 200 || status == 401, "{status}");
        }
    }
    let metrics = request(server.addr, "GET", "/metrics", &[], "")
        .await
        .body_text();
    let lines = server.stop();
    assert!(!lines.is_empty(), "debug logging wrote something");
    for token in [&good, &bad] {
        let signature = token.rsplit('.').next().unwrap();
        for line in &lines {
            assert!(!line.contains(signature), "a token in the log: {line}");
        }
        assert!(!metrics.contains(signature), "a token in /metrics");
    }
}
