//! The size budget of what a browser downloads to run the UI: the wasm and its JS glue in
//! `dist/`, gzipped as a server or CDN would send them, at most [`LIMIT`] bytes.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

/// 150 KB: the budget the client keeps to, gzipped.
pub(crate) const LIMIT: u64 = 150 * 1024;

/// Measures `dist`'s `.wasm` and `.js` files gzipped (`gzip -9`) and fails past [`LIMIT`].
pub(crate) fn check(dist: &Path) -> anyhow::Result<()> {
    let mut sizes = Vec::new();
    for entry in
        std::fs::read_dir(dist).with_context(|| format!("cannot list {}", dist.display()))?
    {
        let path = entry?.path();
        if matches!(
            path.extension().and_then(|ext| ext.to_str()),
            Some("wasm" | "js")
        ) {
            sizes.push((path.display().to_string(), gzipped(&path)?));
        }
    }
    if sizes.is_empty() {
        bail!("no .wasm or .js in {}: was the UI built?", dist.display());
    }
    let total = verdict(&sizes).map_err(anyhow::Error::msg)?;
    println!(
        "==> UI bundle: {} bytes gzipped ({:.0} % of the {} KB budget)",
        total,
        percent(total),
        LIMIT / 1024
    );
    Ok(())
}

/// The size of `path` compressed by `gzip -9`.
fn gzipped(path: &Path) -> anyhow::Result<u64> {
    let output = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .context("cannot run gzip")?;
    if !output.status.success() {
        bail!("gzip {} failed: {}", path.display(), output.status);
    }
    Ok(output.stdout.len() as u64)
}

/// The total, or the one-line reason it is over budget (naming each file's share).
fn verdict(sizes: &[(String, u64)]) -> Result<u64, String> {
    let total: u64 = sizes.iter().map(|(_, size)| size).sum();
    if total <= LIMIT {
        return Ok(total);
    }
    let parts: Vec<String> = sizes
        .iter()
        .map(|(name, size)| format!("{name} {size} B"))
        .collect();
    Err(format!(
        "the UI bundle is {total} bytes gzipped, over its {LIMIT}-byte budget ({})",
        parts.join(", ")
    ))
}

#[allow(clippy::cast_precision_loss)]
fn percent(total: u64) -> f64 {
    total as f64 * 100.0 / LIMIT as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_the_sum_of_the_files() {
        let fits = [("a.wasm".to_owned(), LIMIT - 100), ("a.js".to_owned(), 100)];
        assert_eq!(verdict(&fits), Ok(LIMIT));
        let over = [("a.wasm".to_owned(), LIMIT), ("a.js".to_owned(), 1)];
        let err = verdict(&over).unwrap_err();
        assert!(err.contains("a.wasm") && err.contains("a.js 1 B"), "{err}");
    }

    #[test]
    fn gzip_measures_a_real_file() {
        let path = std::env::temp_dir().join(format!("herald-bundle-{}.js", std::process::id()));
        std::fs::write(&path, "x".repeat(100_000)).unwrap();
        let size = gzipped(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            size > 0 && size < 1_000,
            "100 kB of one letter gzips small: {size}"
        );
    }
}
