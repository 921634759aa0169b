//! Topic selectors, as Mercure's `mercure.publish` and `mercure.subscribe` claims carry them:
//! `*` (every topic), an exact topic, or a URI template (RFC 6570) that matches every topic it
//! could expand to, e.g. `https://example.com/users/{id}` or `/books{/id}{?lang}`.
//!
//! A template is matched, not expanded: a `{var}` stands for any text its operator could
//! produce (unreserved characters and percent-escapes for `{var}`, reserved ones too for
//! `{+var}`, each operator's prefix and separators for `{/var}`, `{?var}` and the rest).

use shared::TopicName;

/// One selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector {
    /// `*`: every topic.
    Any,
    /// This topic exactly.
    Exact(String),
    /// The topics a URI template can expand to.
    Template(Vec<Part>),
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Text that must appear as it is.
    Literal(String),
    /// An expression: what its operator may expand to (possibly nothing).
    Expression(Operator),
}

/// An expression's operator (RFC 6570, section 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    /// `{var}`.
    Simple,
    /// `{+var}`.
    Reserved,
    /// `{#var}`.
    Fragment,
    /// `{.var}`.
    Label,
    /// `{/var}`.
    Path,
    /// `{;var}`.
    Parameter,
    /// `{?var}`.
    Query,
    /// `{&var}`.
    Continuation,
}

impl Operator {
    fn from_char(op: char) -> Option<Self> {
        Some(match op {
            '+' => Self::Reserved,
            '#' => Self::Fragment,
            '.' => Self::Label,
            '/' => Self::Path,
            ';' => Self::Parameter,
            '?' => Self::Query,
            '&' => Self::Continuation,
            _ => return None,
        })
    }

    /// What the expansion starts with, when it is not empty.
    fn prefix(self) -> Option<char> {
        match self {
            Self::Simple | Self::Reserved => None,
            Self::Fragment => Some('#'),
            Self::Label => Some('.'),
            Self::Path => Some('/'),
            Self::Parameter => Some(';'),
            Self::Query => Some('?'),
            Self::Continuation => Some('&'),
        }
    }

    /// Whether `byte` may appear in the expansion after the prefix.
    fn allows(self, byte: u8) -> bool {
        let unreserved = byte.is_ascii_alphanumeric() || b"-._~%".contains(&byte);
        let reserved = b":/?#[]@!$&'()*+,;=".contains(&byte);
        match self {
            Self::Reserved | Self::Fragment => unreserved || reserved,
            // Lists are joined by `,`; named operators add `name=` pairs.
            Self::Simple => unreserved || byte == b',',
            Self::Label => unreserved || byte == b',',
            Self::Path => unreserved || b",/".contains(&byte),
            Self::Parameter => unreserved || b",;=".contains(&byte),
            Self::Query | Self::Continuation => unreserved || b",&=".contains(&byte),
        }
    }
}

/// Why a selector was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SelectorError {
    /// An empty selector.
    #[error("a topic selector cannot be empty")]
    Empty,
    /// A `{` without its `}`, or an expression without a variable.
    #[error("a topic selector has a malformed template expression: {0}")]
    Template(String),
}

impl Selector {
    /// Parses one selector.
    ///
    /// # Errors
    /// [`SelectorError`] for an empty selector or a malformed template.
    pub(crate) fn parse(text: &str) -> Result<Self, SelectorError> {
        if text.is_empty() {
            return Err(SelectorError::Empty);
        }
        if text == "*" {
            return Ok(Self::Any);
        }
        if !text.contains('{') {
            return Ok(Self::Exact(text.to_owned()));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| SelectorError::Template(text.to_owned()))?;
            let body = &after[..close];
            let mut chars = body.chars();
            let (operator, names) = match chars.next().and_then(Operator::from_char) {
                Some(operator) => (operator, chars.as_str()),
                None => (Operator::Simple, body),
            };
            let valid_name = |name: &str| {
                let name = name.trim_end_matches('*');
                let name = name.split_once(':').map_or(name, |(name, _)| name);
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|byte| byte.is_ascii_alphanumeric() || b"_.%".contains(&byte))
            };
            if !names.split(',').all(valid_name) {
                return Err(SelectorError::Template(text.to_owned()));
            }
            parts.push(Part::Expression(operator));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self::Template(parts))
    }

    /// Whether `topic` is selected.
    #[must_use]
    pub(crate) fn matches(&self, topic: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(exact) => exact == topic,
            Self::Template(parts) => match_parts(parts, topic.as_bytes()),
        }
    }
}

/// Whether `text` is exactly what `parts` can produce. Backtracks over the lengths each
/// expression takes; topics are short (at most [`shared::topic_name::MAX_TOPIC_LEN`] bytes),
/// and each expression only ever spans a run of the bytes its operator allows.
fn match_parts(parts: &[Part], text: &[u8]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return text.is_empty();
    };
    match first {
        Part::Literal(literal) => text
            .strip_prefix(literal.as_bytes())
            .is_some_and(|text| match_parts(rest, text)),
        Part::Expression(operator) => {
            // Undefined variables expand to nothing.
            if match_parts(rest, text) {
                return true;
            }
            let body = match operator.prefix() {
                Some(prefix) => match text.strip_prefix(&[prefix as u8]) {
                    Some(body) => body,
                    None => return false,
                },
                None => text,
            };
            let run = body
                .iter()
                .position(|byte| !operator.allows(*byte))
                .unwrap_or(body.len());
            // An expansion with a prefix may be the prefix alone (a defined, empty variable).
            let shortest = usize::from(operator.prefix().is_none());
            (shortest..=run)
                .rev()
                .any(|len| match_parts(rest, &body[len..]))
        }
    }
}

/// A list of selectors, as a claim carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selectors(Vec<Selector>);

impl Selectors {
    /// Parses every selector of a claim.
    ///
    /// # Errors
    /// The first [`SelectorError`].
    pub(crate) fn parse<'a>(
        texts: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, SelectorError> {
        texts
            .into_iter()
            .map(Selector::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether any selector selects `topic`.
    #[must_use]
    pub(crate) fn matches(&self, topic: &TopicName) -> bool {
        self.0
            .iter()
            .any(|selector| selector.matches(topic.as_str()))
    }

    /// Whether any selector selects one of `topics`.
    #[must_use]
    pub(crate) fn matches_any(&self, topics: &[TopicName]) -> bool {
        topics.iter().any(|topic| self.matches(topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selects(selector: &str, topic: &str) -> bool {
        Selector::parse(selector).unwrap().matches(topic)
    }

    #[test]
    fn star_and_exact_topics() {
        assert!(selects("*", "anything at all"));
        assert!(selects(
            "https://example.com/books/1",
            "https://example.com/books/1"
        ));
        assert!(!selects(
            "https://example.com/books/1",
            "https://example.com/books/12"
        ));
    }

    #[test]
    fn a_simple_variable_takes_one_segment_and_no_more() {
        let users = "https://example.com/users/{id}";
        assert!(selects(users, "https://example.com/users/42"));
        assert!(selects(users, "https://example.com/users/d%C3%A9j%C3%A0"));
        assert!(
            selects(users, "https://example.com/users/"),
            "an undefined variable"
        );
        assert!(!selects(users, "https://example.com/users/42/posts"));
        assert!(!selects(users, "https://example.com/users/42?x=1"));
        assert!(!selects(users, "https://example.com/groups/42"));
        assert!(selects("/users/{id}/posts/{post}", "/users/1/posts/2"));
        assert!(!selects("/users/{id}/posts/{post}", "/users/1/2/posts/3"));
    }

    #[test]
    fn operators_add_their_prefixes_and_reserved_takes_slashes() {
        assert!(selects("/files{+path}", "/files/a/b/c.txt"));
        assert!(!selects("/files{path}", "/files/a/b"));
        assert!(selects("/books{/id}", "/books/7"));
        assert!(selects("/books{/id}", "/books"));
        assert!(!selects("/books{/id}", "/books7"));
        assert!(selects("/books{?lang,page}", "/books?lang=fr&page=2"));
        assert!(selects("/books{?lang}{&page}", "/books?lang=fr&page=2"));
        assert!(selects("/doc{#section}", "/doc#intro"));
        assert!(selects("/x{.ext}", "/x.json"));
        assert!(selects("/m{;v}", "/m;v=1"));
    }

    #[test]
    fn malformed_templates_and_empty_selectors_are_refused() {
        for bad in ["", "/users/{id", "/users/{}", "/users/{+}", "/a/{x y}"] {
            assert!(Selector::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_list_matches_when_any_selector_does() {
        let selectors = Selectors::parse(["/a", "/b/{id}"]).unwrap();
        let topic = |name: &str| TopicName::new(name).unwrap();
        assert!(selectors.matches(&topic("/b/1")));
        assert!(!selectors.matches(&topic("/c")));
        assert!(selectors.matches_any(&[topic("/c"), topic("/a")]));
        assert!(!Selectors::default().matches(&topic("/a")));
    }
}
