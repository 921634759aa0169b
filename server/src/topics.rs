//! Topic names: what a valid one is, and how a request names the ones it wants.

use crate::error::ApiError;

/// Longest topic name, in bytes: long enough for URLs and paths, short enough to bound keys.
pub const MAX_TOPIC_LEN: usize = 256;
/// Most topics one stream may subscribe to at once.
pub const MAX_TOPICS_PER_STREAM: usize = 64;

/// Checks that `name` is 1–256 bytes without control characters.
///
/// # Errors
/// [`ApiError::BadRequest`] saying what is wrong.
pub fn validate(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > MAX_TOPIC_LEN {
        return Err(ApiError::BadRequest(format!(
            "topic must be 1 to {MAX_TOPIC_LEN} bytes long"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "topic must not contain control characters".to_owned(),
        ));
    }
    Ok(())
}

/// The topics a stream asked for (deduplicated, in first-seen order), or the defaults.
///
/// # Errors
/// When a topic is invalid or there are more than [`MAX_TOPICS_PER_STREAM`].
pub fn requested(asked: Vec<String>) -> Result<Vec<String>, ApiError> {
    if asked.is_empty() {
        return Ok(shared::topic::DEFAULTS.map(str::to_owned).to_vec());
    }
    let mut topics: Vec<String> = Vec::with_capacity(asked.len());
    for name in asked {
        validate(&name)?;
        if !topics.contains(&name) {
            topics.push(name);
        }
    }
    if topics.len() > MAX_TOPICS_PER_STREAM {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_TOPICS_PER_STREAM} topics per stream"
        )));
    }
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(validate("clock").is_ok());
        assert!(validate(&"x".repeat(MAX_TOPIC_LEN)).is_ok());
        assert!(validate("").is_err());
        assert!(validate(&"x".repeat(MAX_TOPIC_LEN + 1)).is_err());
        assert!(validate("a\nb").is_err());
        assert!(validate("a\u{7f}").is_err());
    }

    #[test]
    fn defaults_and_dedup() {
        assert_eq!(requested(vec![]).unwrap(), ["clock", "messages"]);
        assert_eq!(
            requested(vec!["b".into(), "a".into(), "b".into()]).unwrap(),
            ["b", "a"]
        );
    }
}
