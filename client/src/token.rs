//! The page's token: a JWT read from the page's own URL (`?authorization=TOKEN`, the parameter
//! `/events` itself reads), so that a link such as the one `cargo xtask run` prints opens a page
//! that may read the private topic and publish to it.
//!
//! A token is a credential: its `Debug` hides it, and nothing here logs it. The page only ever
//! sends it to its own server: on the stream's URL and as the publish request's bearer.

use std::fmt;

use wasm_bindgen::JsValue;
use web_sys::UrlSearchParams;

/// The query parameter carrying the token, on the page's URL and on the stream's
/// (`server/src/routes/events.rs`).
pub const PARAM: &str = "authorization";

/// A non-empty token, as given; the server alone decides whether it is good.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// `raw`, trimmed, or `None` when nothing is left: a page opened with an empty
    /// `?authorization=` is anonymous, not one presenting an empty token that the server would
    /// refuse with a `401`, which makes an `EventSource` give up for good.
    #[must_use]
    pub fn new(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        (!raw.is_empty()).then(|| Self(raw.to_owned()))
    }

    /// The token in a URL query (`location.search`, with or without its `?`).
    ///
    /// # Errors
    /// When the browser cannot parse the query (it always can).
    pub fn from_query(query: &str) -> Result<Option<Self>, JsValue> {
        let params = UrlSearchParams::new_with_str(query)?;
        Ok(params.get(PARAM).as_deref().and_then(Self::new))
    }

    /// The token in the page's own URL, if any. A page whose URL cannot be read is treated as
    /// anonymous: it then shows what needs no token, rather than nothing at all.
    #[must_use]
    pub fn from_page() -> Option<Self> {
        let url = web_sys::window()?.document()?.url().ok()?;
        Self::from_query(query_of(&url)).ok().flatten()
    }

    /// The token itself, to put on a request to the server.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The query of `url`, without its `?` (empty when it has none). The document's URL rather
/// than `location.search` saves the client a `web-sys` feature for one string.
fn query_of(url: &str) -> &str {
    // The fragment goes first: a `?` in it is not a query's.
    let before_fragment = url.split('#').next().unwrap_or_default();
    before_fragment
        .split_once('?')
        .map_or("", |(_, query)| query)
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(hidden)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_no_token() {
        assert_eq!(Token::new(""), None);
        assert_eq!(Token::new(" \t"), None);
        assert_eq!(
            Token::new(" a.b.c ").map(|t| t.as_str().to_owned()),
            Some("a.b.c".into())
        );
    }

    #[test]
    fn the_query_is_between_the_path_and_the_fragment() {
        assert_eq!(query_of("http://h:1/"), "");
        assert_eq!(
            query_of("http://h:1/?authorization=a.b.c"),
            "authorization=a.b.c"
        );
        assert_eq!(
            query_of("http://h:1/?x=1&authorization=t#frag?no"),
            "x=1&authorization=t"
        );
        assert_eq!(query_of("http://h:1/#frag?authorization=no"), "");
    }

    #[test]
    fn debug_hides_the_token() {
        let token = Token::new("secret.jwt.here").unwrap();
        assert_eq!(format!("{token:?}"), "Token(hidden)");
        assert_eq!(format!("{:?}", Some(token)), "Some(Token(hidden))");
    }
}
