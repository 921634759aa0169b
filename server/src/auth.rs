//! Who may publish where: a configured bearer token may publish to any topic but the reserved
//! ones, a JWT to the topics its `mercure.publish` selectors match; anyone may publish to the
//! open topics (and is rate-limited there instead).

use std::collections::HashSet;
use std::sync::Arc;

use shared::TopicName;

use crate::error::ApiError;
use crate::jwt::Verifier;

/// Topics only the server itself publishes to.
pub(crate) const RESERVED_TOPICS: [&str; 1] = [shared::topic::CLOCK];

/// How a publish was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// With a valid token.
    Token,
    /// Without one, to open topics only: subject to the per-client rate limit.
    Open,
}

/// The publish rules of this server.
#[derive(Debug, Clone)]
pub(crate) struct PublishPolicy {
    tokens: Vec<String>,
    open_topics: HashSet<String>,
    jwt: Option<Arc<Verifier>>,
}

impl PublishPolicy {
    /// Rules from the configured tokens, open topics and JWT verifier.
    #[must_use]
    pub(crate) fn new(
        tokens: &[String],
        open_topics: &[String],
        jwt: Option<Arc<Verifier>>,
    ) -> Self {
        Self {
            tokens: tokens
                .iter()
                .filter(|token| !token.is_empty())
                .cloned()
                .collect(),
            open_topics: open_topics.iter().cloned().collect(),
            jwt,
        }
    }

    /// Decides whether a request with this `Authorization` header may publish to `topics`.
    ///
    /// # Errors
    /// 403 for a reserved topic or one a JWT does not grant; 401 when a token is needed and
    /// missing or wrong.
    pub(crate) fn authorize(
        &self,
        authorization: Option<&str>,
        topics: &[TopicName],
    ) -> Result<Access, ApiError> {
        if let Some(reserved) = topics
            .iter()
            .find(|topic| RESERVED_TOPICS.contains(&topic.as_str()))
        {
            return Err(ApiError::Forbidden(format!(
                "topic {reserved:?} is published by the server only"
            )));
        }
        let presented = authorization.and_then(|value| value.strip_prefix("Bearer "));
        if let Some(token) = presented {
            if self.tokens.iter().any(|known| same_secret(known, token)) {
                return Ok(Access::Token);
            }
            let Some(jwt) = &self.jwt else {
                return Err(ApiError::Unauthorized);
            };
            let grants = jwt.verify(token).map_err(ApiError::BadToken)?;
            if let Some(denied) = topics.iter().find(|topic| !grants.publish.matches(topic)) {
                return Err(ApiError::Forbidden(format!(
                    "this token may not publish to topic {:?}",
                    denied.as_str()
                )));
            }
            return Ok(Access::Token);
        }
        if topics
            .iter()
            .all(|topic| self.open_topics.contains(topic.as_str()))
        {
            Ok(Access::Open)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

/// Compares secrets in time independent of where they differ, so timing reveals no prefix.
fn same_secret(known: &str, presented: &str) -> bool {
    let (known, presented) = (known.as_bytes(), presented.as_bytes());
    known.len() == presented.len()
        && known
            .iter()
            .zip(presented)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(names: &[&str]) -> Vec<TopicName> {
        TopicName::list(names).unwrap()
    }

    fn policy() -> PublishPolicy {
        PublishPolicy::new(&["s3cret".into()], &["messages".into()], None)
    }

    #[test]
    fn tokens_open_topics_and_reserved_topics() {
        let policy = policy();
        assert_eq!(
            policy.authorize(Some("Bearer s3cret"), &t(&["a"])).unwrap(),
            Access::Token
        );
        assert_eq!(
            policy.authorize(None, &t(&["messages"])).unwrap(),
            Access::Open
        );
        assert!(matches!(
            policy.authorize(None, &t(&["a"])),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            policy.authorize(None, &t(&["messages", "a"])),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            policy.authorize(Some("Bearer s3cre"), &t(&["messages"])),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            policy.authorize(Some("Bearer s3cret"), &t(&["clock"])),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[test]
    fn empty_tokens_are_never_accepted() {
        let policy = PublishPolicy::new(&[String::new()], &[], None);
        assert!(policy.authorize(Some("Bearer "), &t(&["a"])).is_err());
    }
}
