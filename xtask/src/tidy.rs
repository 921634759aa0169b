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
        for member in ["server", "client", "shared", "xtask", "loadgen", "fuzz"] {
            rust_files(&root.join(member), &mut files);
        }
        assert!(files.len() > 10, "found only {files:?}");
        let missing: Vec<_> = files
            .iter()
            .filter(|file| {
                let text = std::fs::read_to_string(file).expect("source is readable UTF-8");
                !text.trim_start().starts_with("//!")
            })
            .map(|file| {
                file.strip_prefix(&root)
                    .unwrap_or(file)
                    .display()
                    .to_string()
            })
            .collect();
        assert!(
            missing.is_empty(),
            "these files need a `//!` header saying what they are for: {missing:?}"
        );
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
