//! Tidiness checks that run with the host tests (rust-analyzer's idea): cheap rules a reviewer
//! should not have to point out.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every Rust file in the workspace opens with a `//!` paragraph saying what it is for.
    #[test]
    fn every_module_has_a_doc_header() {
        let root = crate::process::workspace_root().expect("xtask/ has a parent");
        let mut files = Vec::new();
        for member in [
            "server", "client", "shared", "native", "xtask", "loadgen", "fuzz",
        ] {
            rust_files(&root.join(member), &mut files);
        }
        assert!(files.len() > 10, "found only {files:?}");
        let missing: Vec<_> = files
            .iter()
            .filter(|file| {
                let text = std::fs::read_to_string(file).expect("source is readable UTF-8");
                !text.trim_start().starts_with("//!")
            })
            .map(|file| shown(&root, file))
            .collect();
        assert!(
            missing.is_empty(),
            "these files need a `//!` header saying what they are for: {missing:?}"
        );
    }

    /// Event names are spelled once, in `shared`'s event types: a string literal equal to one
    /// anywhere else is a name that can drift from its payload unnoticed. Send and listen
    /// through the types of `shared::events` (or name them by `shared::event::*`).
    #[test]
    fn event_names_are_spelled_only_in_shared() {
        let root = crate::process::workspace_root().expect("xtask/ has a parent");
        // From the definitions themselves, so a new event type is covered without editing this.
        let names = shared::event::ALL;
        let mut files = Vec::new();
        for member in ["server", "client", "native", "loadgen", "xtask", "fuzz"] {
            rust_files(&root.join(member), &mut files);
        }
        assert!(files.len() > 10, "found only {files:?}");
        let mut spelled = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).expect("source is readable UTF-8");
            for (line, literal) in string_literals(&text) {
                if names.contains(&literal.as_str()) {
                    spelled.push(format!("{}:{line}: {literal:?}", shown(&root, file)));
                }
            }
        }
        assert!(
            spelled.is_empty(),
            "event names spelled outside `shared` (use the constants in shared::event):\n{}",
            spelled.join("\n")
        );
    }

    #[test]
    fn string_literals_are_found_where_code_has_them() {
        let code = r####"
            // "in a line comment"
            /* "in a block /* nested "deep" */ comment" */
            let a = "plain \" escaped";
            let b = r#"raw "quoted""#;
            let c = '"'; let d = '\''; fn f<'a>(x: &'a str) {}
            let e = b"bytes";
            /// "in a doc comment"
            let f = "two
            lines"; let g = "after";
        "####;
        let found = string_literals(code);
        let found: Vec<(usize, &str)> = found.iter().map(|(l, s)| (*l, s.as_str())).collect();
        assert_eq!(
            found,
            [
                (4, r#"plain \" escaped"#),
                (5, r#"raw "quoted""#),
                (7, "bytes"),
                (9, "two\n            lines"),
                (10, "after"),
            ]
        );
    }

    /// Every string literal of Rust `code` (plain, raw and byte strings; not those in comments
    /// or char literals), with the line it starts on, as written between its quotes.
    fn string_literals(code: &str) -> Vec<(usize, String)> {
        let chars: Vec<char> = code.chars().collect();
        let mut found = Vec::new();
        let mut line = 1;
        let mut at = 0;
        // Advances past `count` characters, counting lines.
        let advance = |at: &mut usize, line: &mut usize, count: usize| {
            for &c in &chars[*at..(*at + count).min(chars.len())] {
                if c == '\n' {
                    *line += 1;
                }
            }
            *at += count;
        };
        while at < chars.len() {
            let rest = &chars[at..];
            let ident_before = at > 0 && (chars[at - 1].is_alphanumeric() || chars[at - 1] == '_');
            if rest.starts_with(&['/', '/']) {
                let len = rest.iter().position(|&c| c == '\n').unwrap_or(rest.len());
                advance(&mut at, &mut line, len);
            } else if rest.starts_with(&['/', '*']) {
                let mut depth = 0;
                let mut len = 0;
                while len < rest.len() {
                    if rest[len..].starts_with(&['/', '*']) {
                        depth += 1;
                        len += 2;
                    } else if rest[len..].starts_with(&['*', '/']) {
                        depth -= 1;
                        len += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        len += 1;
                    }
                }
                advance(&mut at, &mut line, len);
            } else if !ident_before && raw_string_start(rest).is_some() {
                let (prefix, hashes) = raw_string_start(rest).unwrap_or_default();
                let body = &rest[prefix..];
                let mut closing = vec!['"'];
                closing.extend(std::iter::repeat_n('#', hashes));
                let len = (0..body.len())
                    .find(|&i| body[i..].starts_with(&closing))
                    .unwrap_or(body.len());
                found.push((line, body[..len].iter().collect()));
                advance(&mut at, &mut line, prefix + len + closing.len());
            } else if rest[0] == '"' || (!ident_before && rest.starts_with(&['b', '"'])) {
                let open = if rest[0] == '"' { 1 } else { 2 };
                let mut len = 0;
                let body = &rest[open..];
                while len < body.len() && body[len] != '"' {
                    len += if body[len] == '\\' { 2 } else { 1 };
                }
                let len = len.min(body.len());
                found.push((line, body[..len].iter().collect()));
                advance(&mut at, &mut line, open + len + 1);
            } else if rest[0] == '\'' {
                // A char literal (`'x'`, `'\''`, `'\u{..}'`) is skipped whole; a lifetime or a
                // label (`'a`) only by its quote.
                let len = if rest.get(1) == Some(&'\\') {
                    // The escaped character, then up to the closing quote.
                    let after = rest.get(3..).unwrap_or_default();
                    3 + after.iter().position(|&c| c == '\'').map_or(0, |i| i + 1)
                } else if rest.get(2) == Some(&'\'') {
                    3
                } else {
                    1
                };
                advance(&mut at, &mut line, len.max(1));
            } else {
                advance(&mut at, &mut line, 1);
            }
        }
        found
    }

    /// `r"`, `r#"`, `br##"`...: the length of the opening and the number of `#`.
    fn raw_string_start(rest: &[char]) -> Option<(usize, usize)> {
        let after_b = usize::from(rest.first() == Some(&'b'));
        if rest.get(after_b) != Some(&'r') {
            return None;
        }
        let hashes = rest[after_b + 1..]
            .iter()
            .take_while(|&&c| c == '#')
            .count();
        (rest.get(after_b + 1 + hashes) == Some(&'"')).then_some((after_b + 2 + hashes, hashes))
    }

    fn shown(root: &Path, file: &Path) -> String {
        file.strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string()
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && entry.file_name() != "target" {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
}
