//! Tokens for the JWT tests: signed with a secret, and every kind of bad one a hub must refuse.

use serde_json::{Value, json};

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// `claims` signed with `secret` (HS256).
pub fn hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("a signed token")
}

/// Tokens that fail one check each, for a hub that accepts `good` (whose `aud` and `iss` it
/// checks) signed with `secret`, with the reason `/metrics` counts each under.
pub fn bad_tokens(good: &Value, secret: &[u8]) -> Vec<(String, &'static str)> {
    use base64::Engine as _;
    let with = |extra: Value| {
        let mut claims = good.clone();
        if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            claims.extend(extra.clone());
        }
        hs256(&claims, secret)
    };
    let unsigned_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(good.to_string());
    vec![
        (hs256(good, b"not the hub's secret"), "signature"),
        // `alg: none`, unsigned.
        (
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{unsigned_claims}."),
            "algorithm",
        ),
        (with(json!({ "exp": now() - 5 })), "expired"),
        (with(json!({ "nbf": now() + 600 })), "not_yet_valid"),
        (with(json!({ "aud": "someone-else" })), "audience"),
        (with(json!({ "iss": "https://evil.example" })), "issuer"),
        ("garbage".to_owned(), "malformed"),
    ]
}
