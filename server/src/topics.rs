//! How a request names its topics: the rules live in [`shared::TopicName`]; here they become
//! the server's answers (400 with the rule broken).

use shared::TopicName;

use crate::error::ApiError;

/// The topics named (validated, repeats dropped, at most [`shared::topic_name::MAX_TOPICS`]).
///
/// # Errors
/// [`ApiError::BadRequest`] saying which rule a name breaks.
pub(crate) fn named<S: AsRef<str>>(
    names: impl IntoIterator<Item = S>,
) -> Result<Vec<TopicName>, ApiError> {
    TopicName::list(names).map_err(|err| ApiError::BadRequest(format!("topic: {err}")))
}

/// The topics a stream asked for, or the defaults when it named none.
///
/// # Errors
/// As [`named`].
pub(crate) fn requested(asked: Vec<String>) -> Result<Vec<TopicName>, ApiError> {
    if asked.is_empty() {
        return Ok(TopicName::defaults());
    }
    named(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_dedup_and_refusals() {
        let names = |topics: Vec<TopicName>| -> Vec<String> {
            topics.iter().map(ToString::to_string).collect()
        };
        assert_eq!(names(requested(vec![]).unwrap()), ["clock", "messages"]);
        assert_eq!(
            names(requested(vec!["b".into(), "a".into(), "b".into()]).unwrap()),
            ["b", "a"]
        );
        let refused = requested(vec!["a\nb".into()]).unwrap_err();
        assert!(
            refused.to_string().contains("control characters"),
            "{refused}"
        );
    }
}
