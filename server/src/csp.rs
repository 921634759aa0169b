//! The Content-Security-Policy of the UI: only our own scripts, styles and connections.
//!
//! Trunk writes one small inline module script into `index.html` to load the wasm; instead of
//! allowing every inline script, the policy allows that script by its SHA-256 hash, computed
//! from the built `index.html` when the server starts.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// The policy for the UI built into `dist`.
#[must_use]
pub(crate) fn policy_for(dist: &Path) -> String {
    let html = std::fs::read_to_string(dist.join("index.html")).unwrap_or_default();
    let hashes: String = inline_scripts(&html)
        .map(|script| format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(script))))
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    )
}

/// The bodies of `<script>` elements without a `src` attribute.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || {
        loop {
            let open = rest.find("<script")?;
            let after_open = &rest[open..];
            let tag_end = after_open.find('>')?;
            let tag = &after_open[..tag_end];
            let body_start = &after_open[tag_end + 1..];
            let close = body_start.find("</script>")?;
            rest = &body_start[close..];
            if !tag.contains(" src=") {
                return Some(&body_start[..close]);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_inline_scripts_only() {
        let html = r#"<head><script src="/a.js"></script><script type="module">
import init from '/x.js';</script><p>
<script>b()</script></head>"#;
        let found: Vec<&str> = inline_scripts(html).collect();
        assert_eq!(found, ["\nimport init from '/x.js';", "b()"]);
    }

    #[test]
    fn policy_hashes_each_inline_script() {
        let dir = std::env::temp_dir().join(format!("herald-csp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<script>x</script>").unwrap();
        let policy = policy_for(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        // sha256("x"), base64.
        assert!(
            policy.contains("'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='"),
            "{policy}"
        );
        assert!(policy.starts_with("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'"));
    }
}
