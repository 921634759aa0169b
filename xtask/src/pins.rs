//! The pinned tool versions, and the check that every file naming one agrees: a wasm-bindgen CLI
//! that differs from the library by one patch release produces a .wasm that fails at load time.

use std::path::Path;

use anyhow::{Context as _, bail};

/// Trunk, built from crates.io (0.22 needs a newer rustc than the workspace's 1.95).
pub(crate) const TRUNK: &str = "0.21.14";

/// binaryen's version, as npm's `binaryen` package and `wasm-opt --version` spell it. Never
/// Debian's binaryen (108), which silently breaks the .wasm.
pub(crate) const BINARYEN: &str = "132";

/// The wasm-bindgen version, once the three places that name it agree: the `Cargo.lock` entry,
/// the `=X` requirement in the root `Cargo.toml`, and `[tools] wasm_bindgen` in `Trunk.toml`.
pub(crate) fn wasm_bindgen(root: &Path) -> anyhow::Result<String> {
    let lock = read(root, "Cargo.lock")?;
    let locked = locked_version(&lock, "wasm-bindgen")
        .context("Cargo.lock has no `wasm-bindgen` package; run `cargo generate-lockfile`")?;

    let manifest = read(root, "Cargo.toml")?;
    let required = assignment(&manifest, "wasm-bindgen")
        .context("the root Cargo.toml has no `wasm-bindgen = \"=X\"` line")?;
    let Some(pinned) = required.strip_prefix('=') else {
        bail!(
            "the root Cargo.toml requires wasm-bindgen {required:?}; pin it exactly \
             (`wasm-bindgen = \"={locked}\"`), since the CLI must match it"
        );
    };

    let trunk = read(root, "Trunk.toml")?;
    let for_trunk = assignment(&trunk, "wasm_bindgen")
        .context("Trunk.toml has no `wasm_bindgen = \"X\"` under [tools]")?;

    if locked != pinned || locked != for_trunk {
        bail!(
            "wasm-bindgen versions disagree: Cargo.lock has {locked}, the root Cargo.toml pins \
             ={pinned}, Trunk.toml's [tools] wasm_bindgen says {for_trunk}; make all three equal"
        );
    }
    Ok(locked.to_owned())
}

/// Checks that `package.json` and `Trunk.toml` both name binaryen [`BINARYEN`].
pub(crate) fn check_binaryen(root: &Path) -> anyhow::Result<()> {
    let package = read(root, "package.json")?;
    let wanted = format!("\"binaryen\": \"{BINARYEN}.0.0\"");
    if !package.contains(&wanted) {
        bail!("package.json must pin binaryen exactly: `{wanted}` in devDependencies");
    }
    let trunk = read(root, "Trunk.toml")?;
    let wasm_opt = assignment(&trunk, "wasm_opt");
    if wasm_opt != Some(&format!("version_{BINARYEN}")) {
        bail!(
            "Trunk.toml's [tools] wasm_opt is {wasm_opt:?}; it must be \"version_{BINARYEN}\", \
             the binaryen that package.json installs"
        );
    }
    Ok(())
}

fn read(root: &Path, name: &str) -> anyhow::Result<String> {
    let path = root.join(name);
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// The version of the `[[package]]` called `name` in a `Cargo.lock`.
fn locked_version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            return lines
                .next()?
                .trim()
                .strip_prefix("version = \"")?
                .strip_suffix('"');
        }
    }
    None
}

/// The string value of the first `key = "value"` line (enough for the flat lines we pin).
fn assignment<'a>(toml: &'a str, key: &str) -> Option<&'a str> {
    toml.lines().find_map(|line| {
        let (left, right) = line.split_once('=')?;
        if left.trim() != key {
            return None;
        }
        right.trim().strip_prefix('"')?.strip_suffix('"')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_locked_version() {
        let lock = "[[package]]\nname = \"wasm-bindgen-macro\"\nversion = \"9.9.9\"\n\n\
                    [[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(locked_version(lock, "wasm-bindgen"), Some("0.2.130"));
        assert_eq!(locked_version(lock, "js-sys"), None);
    }

    #[test]
    fn reads_flat_assignments_only() {
        let toml = "wasm-bindgen-futures = \"0.4\"\nwasm-bindgen = \"=0.2.130\"\n";
        assert_eq!(assignment(toml, "wasm-bindgen"), Some("=0.2.130"));
        assert_eq!(
            assignment("wasm-bindgen = { version = \"1\" }", "wasm-bindgen"),
            None
        );
    }

    #[test]
    fn this_workspace_agrees_with_itself() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask/ has a parent");
        wasm_bindgen(root).expect("wasm-bindgen pins agree");
        check_binaryen(root).expect("binaryen pins agree");
    }
}
