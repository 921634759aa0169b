//! Every error is `{"error": "…"}` with a JSON content type and the right status, whoever
//! produces it: our routes, actix-web's routing (405), actix-files (hostile paths), the server
//! before any route (a body too slow), or actix-http's dispatcher (a request it cannot parse, a
//! head too large or too slow), which our patched actix-http makes speak JSON too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{Conn, Head, TestServer};

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
];
const ROUTES: [&str; 7] = [
    "/events",
    "/publish",
    "/healthz",
    "/readyz",
    "/metrics",
    "/",
    "/no/such/thing",
];

/// A built UI to serve: actix-files answers for `/` and the paths below only when there is one.
struct Dist(PathBuf);

impl Dist {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("herald-errors-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(
            dir.join("index.html"),
            "<!doctype html><title>Herald</title>",
        )
        .unwrap();
        std::fs::write(dir.join("assets/app.js"), "console.log(1)").unwrap();
        std::fs::write(dir.join(".secret"), "hidden").unwrap();
        Self(dir)
    }
}

impl Drop for Dist {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends `method path` and returns the head, and the body unless it is a stream or a HEAD's.
async fn exchange(server: &TestServer, method: &str, path: &str) -> (Head, Vec<u8>) {
    let mut conn = Conn::open(server.addr).await;
    let length = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    conn.send(
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{length}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    let head = conn.read_head().await;
    if method == "HEAD" || head.header("content-type") == Some("text/event-stream") {
        return (head, Vec::new());
    }
    // The request asked to close: the body is the rest of the connection.
    let body = conn.read_to_end().await;
    (head, body)
}

/// Asserts that an answer, if it is an error, is one in JSON form.
fn assert_json_error(method: &str, path: &str, head: &Head, body: &[u8]) {
    let status = head.status();
    if status < 400 {
        return;
    }
    let case = format!("{method} {path} → {}", head.status_line);
    assert_eq!(
        head.header("content-type"),
        Some("application/json"),
        "{case}"
    );
    if method == "HEAD" {
        // A HEAD answer has no body, but says how long the JSON one would be.
        assert_ne!(head.header("content-length"), Some("0"), "{case}");
        return;
    }
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|err| {
        panic!(
            "{case}: body is not JSON ({err}): {:?}",
            String::from_utf8_lossy(body)
        )
    });
    let error = json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{case}: {json}"));
    assert!(
        !error.is_empty() && !error.contains('\n'),
        "{case}: {error:?}"
    );
    assert_eq!(json.as_object().unwrap().len(), 1, "{case}: {json}");
    if status == 405 {
        assert!(head.header("allow").is_some(), "{case}: no Allow header");
    }
}

#[tokio::test]
async fn every_route_and_method_errs_in_json() {
    let dist = Dist::new();
    let server = TestServer::start(&["--dist", dist.0.to_str().unwrap()]);
    let mut errors = 0;
    for path in ROUTES {
        for method in METHODS {
            let (head, body) = exchange(&server, method, path).await;
            assert_json_error(method, path, &head, &body);
            errors += usize::from(head.status() >= 400);
        }
    }
    // Most of these are errors: the walk does check something.
    assert!(errors > 40, "only {errors} errors");

    // What each route takes, and what it says to anything else.
    for (path, allow) in [
        ("/events", "GET"),
        ("/publish", "POST"),
        ("/healthz", "GET"),
        ("/", "GET, HEAD"),
    ] {
        let (head, _) = exchange(&server, "PUT", path).await;
        assert_eq!(head.status(), 405, "PUT {path}");
        assert_eq!(head.header("allow"), Some(allow), "PUT {path}");
    }
    let (head, _) = exchange(&server, "GET", "/no/such/thing").await;
    assert_eq!(head.status(), 404);
}

/// Paths that try to leave the UI's directory, hide in encodings, or are just too much.
fn hostile_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        "/..%2fCargo.toml",
        "/..%2F..%2Fetc%2Fpasswd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/.%2e/.%2e/etc/passwd",
        "/%252e%252e/etc/passwd",
        "//etc/passwd",
        "/../../etc/passwd",
        "/assets/../../Cargo.toml",
        "/..%5c..%5cCargo.toml",
        "/.secret",
        "/..%2f.secret",
        "/%2e%2e/.secret",
        "/%2e%2e%2f.secret",
        "/%00",
        "/index.html%00.js",
        "/%zz",
        "/%",
        "/%c0%af",
        "/%ff%fe",
        "/events/../metrics",
        "/assets/app.js/..",
        "/publish/",
        "/events%00",
        "/healthz%2f",
    ]
    .map(str::to_owned)
    .to_vec();
    paths.push(format!("/{}", "a".repeat(8000)));
    paths.push(format!("/{}", "../".repeat(2000)));
    paths.push(format!("/assets/{}", "%2e%2e%2f".repeat(1000)));
    paths
}

#[tokio::test]
async fn hostile_paths_are_refused_in_json_and_leak_nothing() {
    let dist = Dist::new();
    // Something worth stealing next to the UI's directory: serve `assets/` alone.
    let server = TestServer::start(&["--dist", dist.0.join("assets").to_str().unwrap()]);
    for path in hostile_paths() {
        for method in ["GET", "HEAD", "POST"] {
            let (head, body) = exchange(&server, method, &path).await;
            let shown = &path[..path.len().min(60)];
            assert_json_error(method, shown, &head, &body);
            let text = String::from_utf8_lossy(&body);
            assert!(
                !["[package]", "root:", "hidden", "<title>Herald"]
                    .iter()
                    .any(|secret| text.contains(secret)),
                "{method} {shown} leaked: {text}"
            );
            // An error repeats at most a bounded piece of the path.
            assert!(body.len() < 1024, "{method} {shown}: {} bytes", body.len());
        }
    }
}

#[tokio::test]
async fn a_cors_preflight_is_still_answered_by_the_cors_layer() {
    let server = TestServer::start(&[]);
    let origin = format!("http://127.0.0.1:{}", server.addr.port());
    let mut conn = Conn::open(server.addr).await;
    conn.send(
        format!(
            "OPTIONS /events HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    let head = conn.read_head().await;
    assert_eq!(head.status(), 204);
    assert_eq!(
        head.header("access-control-allow-origin"),
        Some(origin.as_str())
    );
}

/// Requests actix-http cannot parse are refused inside its HTTP/1 dispatcher, before any of our
/// code runs (`poll_request` in `h1/dispatcher.rs`); our patched actix-http (`vendor/`) answers
/// them in JSON too, and closes the connection.
#[tokio::test]
async fn unparseable_requests_are_refused_in_json_by_the_dispatcher() {
    let server = TestServer::start(&[]);
    let many_headers: String = (0..200).map(|n| format!("X-{n}: y\r\n")).collect();
    let cases: [(Vec<u8>, u16); 5] = [
        (b"\x00\x01 garbage\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            400,
        ),
        (
            format!("GET / HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
            431,
        ),
    ];
    for (request, status) in cases {
        let mut conn = Conn::open(server.addr).await;
        conn.send(&request).await;
        let head = conn.read_head().await;
        assert_eq!(head.status(), status, "{}", head.status_line);
        assert_eq!(head.header("connection"), Some("close"));
        let body = conn.read_to_end().await;
        assert_json_error("raw", "dispatcher", &head, &body);
    }
}

/// A head that does not arrive within actix's request timeout (5 s) is answered 408 by the
/// dispatcher's own timer, in JSON as well.
#[tokio::test]
async fn a_head_too_slow_is_refused_in_json_by_the_dispatcher() {
    let server = TestServer::start(&[]);
    let mut conn = Conn::open(server.addr).await;
    conn.send(b"GET /healthz HTTP/1.1\r\nHo").await;
    let head = conn.read_head().await;
    assert_eq!(head.status(), 408, "{}", head.status_line);
    let body = conn.read_to_end().await;
    assert_json_error("GET", "/healthz (slow head)", &head, &body);
}
