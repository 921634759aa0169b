//! Publishers with JWTs (Mercure's claims) against a real server: where `mercure.publish`
//! allows and nowhere else, every bad token refused with 401 and counted by reason, secrets and
//! RSA and EC public keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::jwt::{bad_tokens, hs256};
use common::{Publisher, TestServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const SECRET: &str = "a secret for the publisher tests";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

async fn publish(server: &TestServer, token: &str, topics: &[&str]) -> common::Response {
    let mut body: String = topics
        .iter()
        .map(|topic| {
            let topic: String = form_urlencoded::byte_serialize(topic.as_bytes()).collect();
            format!("topic={topic}&")
        })
        .collect();
    body.push_str("data=x");
    Publisher::connect(server.addr, Some(token))
        .await
        .post("application/x-www-form-urlencoded", &body)
        .await
}

#[tokio::test]
async fn a_jwt_publishes_where_its_claim_allows_and_nowhere_else() {
    let server = TestServer::start(&["--jwt-secret", SECRET]);
    let token = hs256(
        &json!({ "mercure": { "publish": ["https://example.com/books/{id}", "news"] } }),
        SECRET.as_bytes(),
    );
    for allowed in [&["news"][..], &["https://example.com/books/1", "news"]] {
        let response = publish(&server, &token, allowed).await;
        assert_eq!(response.head.status(), 200, "{}", response.body_text());
    }
    let denied = publish(&server, &token, &["news", "https://example.com/users/1"]).await;
    assert_eq!(denied.head.status(), 403);
    let error = denied.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("https://example.com/users/1"), "{error}");
    let clock = publish(&server, &token, &["clock"]).await;
    assert_eq!(clock.head.status(), 403, "the server's own topic");
}

#[tokio::test]
async fn every_bad_token_answers_401_and_is_counted_by_reason() {
    let server = TestServer::start(&[
        "--jwt-secret",
        SECRET,
        "--jwt-audience",
        "herald",
        "--jwt-issuer",
        "https://app.example",
    ]);
    let good =
        json!({ "mercure": { "publish": ["*"] }, "aud": "herald", "iss": "https://app.example" });
    let ok = publish(&server, &hs256(&good, SECRET.as_bytes()), &["t"]).await;
    assert_eq!(ok.head.status(), 200, "{}", ok.body_text());
    let cases = bad_tokens(&good, SECRET.as_bytes());
    for (token, reason) in &cases {
        let response = publish(&server, token, &["t"]).await;
        assert_eq!(
            response.head.status(),
            401,
            "{reason}: {}",
            response.body_text()
        );
        assert!(
            response.json()["error"]
                .as_str()
                .unwrap()
                .starts_with("invalid token")
        );
    }
    let metrics = server.metrics().await;
    for (_, reason) in &cases {
        let name = format!("herald_tokens_refused_total{{reason=\"{reason}\"}}");
        assert_eq!(metrics.get(&name), Some(&1), "{name}");
    }
}

#[tokio::test]
async fn rsa_and_ec_public_keys_verify_their_tokens_and_nothing_signed_with_the_key_itself() {
    let claims = json!({ "mercure": { "publish": ["*"] } });
    for (public, private, algorithm) in [
        ("jwt-rsa.pub.pem", "jwt-rsa.pem", Algorithm::RS256),
        ("jwt-ec.pub.pem", "jwt-ec.pem", Algorithm::ES256),
    ] {
        let server = TestServer::start(&["--jwt-public-key", &fixture(public)]);
        let pem = std::fs::read(fixture(private)).unwrap();
        let key = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
            _ => EncodingKey::from_ec_pem(&pem).unwrap(),
        };
        let token = jsonwebtoken::encode(&Header::new(algorithm), &claims, &key).unwrap();
        let response = publish(&server, &token, &["t"]).await;
        assert_eq!(
            response.head.status(),
            200,
            "{algorithm:?}: {}",
            response.body_text()
        );
        // The classic confusion: HS256 "signed" with the public key's own bytes.
        let public_pem = std::fs::read(fixture(public)).unwrap();
        let forged = hs256(&claims, &public_pem);
        let response = publish(&server, &forged, &["t"]).await;
        assert_eq!(response.head.status(), 401, "{algorithm:?}");
    }
}

#[tokio::test]
async fn the_secret_may_come_from_a_file() {
    let path = std::env::temp_dir().join(format!("herald-jwt-secret-{}", std::process::id()));
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    let server = TestServer::start(&["--jwt-secret-file", path.to_str().unwrap()]);
    let token = hs256(
        &json!({ "mercure": { "publish": ["t"] } }),
        SECRET.as_bytes(),
    );
    let response = publish(&server, &token, &["t"]).await;
    assert_eq!(response.head.status(), 200, "{}", response.body_text());
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_key_that_cannot_work_stops_the_start_with_one_line_and_code_2() {
    let not_a_key = fixture("README.md");
    for args in [
        vec!["--jwt-public-key", not_a_key.as_str()],
        vec!["--jwt-public-key", "/nonexistent/key.pem"],
        vec![
            "--jwt-secret",
            SECRET,
            "--jwt-public-key",
            not_a_key.as_str(),
        ],
        vec!["--jwt-audience", "herald"],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--bind", "127.0.0.1:0", "--dist", "/nonexistent"])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("jwt"), "{stderr}");
    }
}
