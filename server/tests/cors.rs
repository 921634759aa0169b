//! CORS against a real server: allowed origins echoed with credentials, others get no grant,
//! preflights answered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{EventReader, TestServer, request};

const DEV_UI: &str = "http://127.0.0.1:1234";
const EXTRA: &str = "https://app.example.com";

#[tokio::test]
async fn allowed_origins_are_echoed_exactly_with_credentials() {
    let server = TestServer::start(&["--allow-origin", EXTRA]);
    let own = format!("http://{}", server.addr);
    for origin in [DEV_UI, EXTRA, own.as_str()] {
        let stream = EventReader::open(server.addr, "/events", &[("Origin", origin)]).await;
        let head = &stream.head;
        assert_eq!(head.status(), 200);
        assert_eq!(head.header("access-control-allow-origin"), Some(origin));
        assert_eq!(
            head.header("access-control-allow-credentials"),
            Some("true")
        );
        assert!(head.all("vary").iter().any(|v| v.contains("Origin")));
    }
}

#[tokio::test]
async fn other_origins_get_no_grant() {
    let server = TestServer::start(&[]);
    for origin in ["https://evil.example", "http://127.0.0.1:1235", "null", "*"] {
        let stream = EventReader::open(server.addr, "/events", &[("Origin", origin)]).await;
        let head = &stream.head;
        assert_eq!(head.header("access-control-allow-origin"), None, "{origin}");
        assert_eq!(head.header("access-control-allow-credentials"), None);
        assert!(head.all("vary").iter().any(|v| v.contains("Origin")));
    }
    let plain = request(server.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(plain.head.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn preflight_allows_last_event_id_for_allowed_origins_only() {
    let server = TestServer::start(&[]);
    let preflight = |origin: &'static str| {
        let addr = server.addr;
        async move {
            request(
                addr,
                "OPTIONS",
                "/events",
                &[
                    ("Origin", origin),
                    ("Access-Control-Request-Method", "GET"),
                    ("Access-Control-Request-Headers", "last-event-id"),
                ],
                "",
            )
            .await
        }
    };
    let allowed = preflight(DEV_UI).await;
    assert_eq!(allowed.head.status(), 204);
    assert_eq!(
        allowed.head.header("access-control-allow-origin"),
        Some(DEV_UI)
    );
    assert_eq!(
        allowed.head.header("access-control-allow-credentials"),
        Some("true")
    );
    let headers = allowed.head.header("access-control-allow-headers").unwrap();
    assert!(
        headers.to_ascii_lowercase().contains("last-event-id"),
        "{headers}"
    );
    assert!(
        allowed
            .head
            .header("access-control-allow-methods")
            .unwrap()
            .contains("GET")
    );

    let denied = preflight("https://evil.example").await;
    assert_eq!(denied.head.status(), 403);
    assert_eq!(denied.head.header("access-control-allow-origin"), None);
    assert!(denied.json()["error"].as_str().unwrap().contains("origin"));
}
