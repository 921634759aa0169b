//! JSON Web Tokens with Mercure's claims: verified with a shared secret (HS256) or a public key
//! (RS256, ES256), and read into what a token grants: the topic selectors it may publish to
//! (`mercure.publish`) and receive private events of (`mercure.subscribe`), until it expires.
//!
//! A token that fails any check is refused, for one of a fixed set of reasons (each a metric
//! label); it is never taken for no token at all. Tokens themselves are never logged.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::selector::{SelectorError, Selectors};

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub(crate) enum Refusal {
    /// Not a JWT, or claims that do not parse.
    #[error("the token is malformed")]
    Malformed,
    /// Signed with another algorithm than the key's (`none` among them).
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// The signature does not verify.
    #[error("the token's signature does not verify")]
    Signature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before its `nbf`.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Not for this hub's audience.
    #[error("the token is for another audience")]
    Audience,
    /// From another issuer.
    #[error("the token is from another issuer")]
    Issuer,
    /// A topic selector in its claims does not parse.
    #[error("the token's topic selectors are malformed")]
    Selector,
}

impl Refusal {
    /// Every reason, for `/metrics`.
    pub(crate) const ALL: [Self; 8] = [
        Self::Malformed,
        Self::Algorithm,
        Self::Signature,
        Self::Expired,
        Self::NotYetValid,
        Self::Audience,
        Self::Issuer,
        Self::Selector,
    ];

    /// The metric label.
    #[must_use]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Audience => "audience",
            Self::Issuer => "issuer",
            Self::Selector => "selector",
        }
    }

    fn from_kind(kind: &ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidSignature => Self::Signature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::MissingAlgorithm => Self::Algorithm,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidAudience => Self::Audience,
            ErrorKind::InvalidIssuer => Self::Issuer,
            _ => Self::Malformed,
        }
    }
}

/// What a valid token grants.
#[derive(Debug, Clone, Default)]
pub(crate) struct Grants {
    /// Where it may publish.
    pub(crate) publish: Selectors,
    /// Which topics' private events it may receive.
    pub(crate) subscribe: Selectors,
    /// When it stops being valid, if ever.
    pub(crate) expires: Option<SystemTime>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    mercure: MercureClaim,
    exp: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct MercureClaim {
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    subscribe: Vec<String>,
}

/// Checks tokens against one key.
pub(crate) struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs and panics.
        f.debug_struct("Verifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

/// Where the key comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeySource<'a> {
    /// A shared secret: HS256.
    Secret(&'a [u8]),
    /// A PEM public key: RS256 for RSA, ES256 for P-256.
    PublicKeyFile(&'a Path),
}

impl Verifier {
    /// A verifier for `source`, checking `audience` and `issuer` when given.
    ///
    /// # Errors
    /// One line naming the problem: an unreadable file, a key that is neither RSA nor P-256 PEM,
    /// an empty secret.
    pub(crate) fn new(
        source: KeySource<'_>,
        audience: Option<&str>,
        issuer: Option<&str>,
    ) -> Result<Self, String> {
        let (key, algorithm) = match source {
            KeySource::Secret(secret) => {
                if secret.is_empty() {
                    return Err("the JWT secret is empty".to_owned());
                }
                (DecodingKey::from_secret(secret), Algorithm::HS256)
            }
            KeySource::PublicKeyFile(path) => {
                let pem = std::fs::read(path)
                    .map_err(|err| format!("--jwt-public-key {}: {err}", path.display()))?;
                if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                    (key, Algorithm::RS256)
                } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                    (key, Algorithm::ES256)
                } else {
                    return Err(format!(
                        "--jwt-public-key {}: not an RSA or EC (P-256) public key in PEM",
                        path.display()
                    ));
                }
            }
        };
        let mut validation = Validation::new(algorithm);
        // Mercure's tokens need not expire; when they do, to the second.
        validation.required_spec_claims = HashSet::new();
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.validate_aud = audience.is_some();
        if let Some(audience) = audience {
            validation.set_audience(&[audience]);
        }
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(Self { key, validation })
    }

    /// What `token` grants.
    ///
    /// # Errors
    /// The [`Refusal`] when any check fails.
    pub(crate) fn verify(&self, token: &str) -> Result<Grants, Refusal> {
        // An algorithm the crate does not know (`none` above all) would otherwise read as a
        // malformed header: say what it is.
        if let Some(alg) = header_algorithm(token)
            && !self
                .validation
                .algorithms
                .iter()
                .any(|known| format!("{known:?}") == alg)
        {
            return Err(Refusal::Algorithm);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|err| Refusal::from_kind(err.kind()))?;
        let claims = data.claims;
        let parse = |list: &[String]| {
            Selectors::parse(list.iter().map(String::as_str))
                .map_err(|_: SelectorError| Refusal::Selector)
        };
        Ok(Grants {
            publish: parse(&claims.mercure.publish)?,
            subscribe: parse(&claims.mercure.subscribe)?,
            expires: claims.exp.map(|exp| UNIX_EPOCH + Duration::from_secs(exp)),
        })
    }
}

/// The `alg` a token's header names, if the header reads as JSON.
fn header_algorithm(token: &str) -> Option<String> {
    use base64::Engine as _;
    let header = token.split('.').next()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let header: serde_json::Value = serde_json::from_slice(&json).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use shared::TopicName;

    use super::*;

    const SECRET: &[u8] = b"a development secret of some length";

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn sign(claims: &serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn verifier() -> Verifier {
        Verifier::new(KeySource::Secret(SECRET), None, None).unwrap()
    }

    #[test]
    fn a_valid_token_grants_its_selectors_and_expiry() {
        let token = sign(
            &json!({ "mercure": { "publish": ["/a/{id}"], "subscribe": ["*"] }, "exp": now() + 60 }),
            SECRET,
        );
        let grants = verifier().verify(&token).unwrap();
        let topic = |name: &str| TopicName::new(name).unwrap();
        assert!(grants.publish.matches(&topic("/a/1")));
        assert!(!grants.publish.matches(&topic("/b")));
        assert!(grants.subscribe.matches(&topic("/anything")));
        assert!(grants.expires.is_some());
        let bare = sign(&json!({}), SECRET);
        let grants = verifier().verify(&bare).unwrap();
        assert!(
            !grants.publish.matches(&topic("/a/1")),
            "no claim, no grant"
        );
        assert_eq!(grants.expires, None);
    }

    #[test]
    fn every_bad_token_is_refused_for_its_reason() {
        let verifier = verifier();
        let claims = json!({ "mercure": { "publish": ["*"] } });
        let cases = [
            (
                sign(&claims, b"another secret entirely"),
                Refusal::Signature,
            ),
            (
                sign(&json!({ "exp": now() - 10 }), SECRET),
                Refusal::Expired,
            ),
            (
                sign(&json!({ "nbf": now() + 600 }), SECRET),
                Refusal::NotYetValid,
            ),
            (
                sign(&json!({ "mercure": { "publish": ["/a/{id"] } }), SECRET),
                Refusal::Selector,
            ),
            ("not.a.jwt".to_owned(), Refusal::Malformed),
            // `alg: none`, unsigned.
            (
                "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdfX0."
                    .to_owned(),
                Refusal::Algorithm,
            ),
        ];
        for (token, reason) in cases {
            assert_eq!(verifier.verify(&token).unwrap_err(), reason);
        }
    }

    #[test]
    fn audience_and_issuer_are_checked_when_set() {
        let verifier =
            Verifier::new(KeySource::Secret(SECRET), Some("hub"), Some("https://app")).unwrap();
        let good = sign(&json!({ "aud": "hub", "iss": "https://app" }), SECRET);
        assert!(verifier.verify(&good).is_ok());
        let other_aud = sign(&json!({ "aud": "elsewhere", "iss": "https://app" }), SECRET);
        assert_eq!(verifier.verify(&other_aud).unwrap_err(), Refusal::Audience);
        let other_iss = sign(&json!({ "aud": "hub", "iss": "https://evil" }), SECRET);
        assert_eq!(verifier.verify(&other_iss).unwrap_err(), Refusal::Issuer);
    }
}
