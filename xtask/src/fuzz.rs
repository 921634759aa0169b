//! `cargo xtask fuzz`: builds the wire-format fuzz target (`fuzz/`) and runs it for a bounded
//! time, seeded with the golden table.
//!
//! Stable toolchain only. cargo-fuzz's default build needs nightly (`-Zsanitizer`), so we do
//! what it does without the sanitizer: libfuzzer-sys compiles libFuzzer (C++, hence a C++
//! compiler), and rustc instruments our code for coverage through the *stable* `-C passes` and
//! `-C llvm-args` flags below. No address sanitizer: the code under test is safe Rust, so
//! memory errors are impossible there and panics (assertions) are what we look for.
//!
//! Everything lives under `target/fuzz/`: the build, the corpus (`corpus/parser`, which keeps
//! growing across runs), the dictionary and any crash (`artifacts/parser/`).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

// The golden table is plain data, shared with `shared/tests/golden.rs`: every input becomes a
// seed. Only the inputs are read here.
#[allow(dead_code)]
#[path = "../../shared/tests/golden/cases.rs"]
mod cases;

/// How long `cargo xtask fuzz` runs when not told: long enough to get past the seeds' easy
/// paths, short enough to run before every release.
pub(crate) const DEFAULT_SECONDS: u64 = 60;

/// The fuzz target (a `[[bin]]` of `fuzz/Cargo.toml`).
const TARGET: &str = "parser";

/// What cargo-fuzz passes for coverage, minus the nightly-only sanitizer flag. `--cfg fuzzing`
/// matches cargo-fuzz; debug assertions and overflow checks turn silent bugs into crashes.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// The two header bytes the target reads before the stream (bound / 4, chunk-size seed): each
/// golden input is written with a roomy bound, a tight one and a zero one.
const SEED_HEADERS: [[u8; 2]; 3] = [[255, 1], [8, 77], [0, 200]];

/// Tokens libFuzzer splices into inputs: field names, line ends, the BOM.
const DICTIONARY: &str = r#""data"
"data:"
"data: "
"event:"
"id:"
"retry:"
":"
"\x0d\x0a"
"\x0d"
"\x0a"
"\x0a\x0a"
"\xef\xbb\xbf"
"\x00"
"#;

/// libFuzzer's limits: inputs up to 4 KiB (plenty against a bound of at most 1020 bytes),
/// 512 MiB of RSS, 10 s per input.
const LIBFUZZER_LIMITS: &[&str] = &["-max_len=4096", "-rss_limit_mb=512", "-timeout=10"];

/// Builds the target and fuzzes it for `seconds`.
///
/// # Errors
/// When the build fails, or the fuzzer finds an input that panics (its path is in the error).
pub(crate) fn run(root: &Path, seconds: u64) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let work = root.join("target").join("fuzz");
    ensure_cxx()?;
    let binary = build(root, &cargo, &work)?;

    let corpus = work.join("corpus").join(TARGET);
    let artifacts = work.join("artifacts").join(TARGET);
    fs::create_dir_all(&artifacts).with_context(|| format!("creating {}", artifacts.display()))?;
    let seeds = write_seeds(&corpus)?;
    let dictionary = work.join(format!("{TARGET}.dict"));
    fs::write(&dictionary, DICTIONARY)
        .with_context(|| format!("writing {}", dictionary.display()))?;

    eprintln!(
        "fuzzing `{TARGET}` for {seconds} s ({seeds} golden seeds in {})",
        corpus.display()
    );
    let mut artifact_prefix = artifacts.into_os_string();
    artifact_prefix.push("/");
    let status = Command::new(&binary)
        .current_dir(root)
        .stdin(Stdio::null())
        .arg(&corpus)
        .arg(format!("-max_total_time={seconds}"))
        .args(LIBFUZZER_LIMITS)
        .arg(flag("-dict=", dictionary.as_os_str()))
        .arg(flag("-artifact_prefix=", &artifact_prefix))
        .arg("-print_final_stats=1")
        .status()
        .with_context(|| format!("starting {}", binary.display()))?;
    if !status.success() {
        bail!(
            "the fuzzer found a failing input ({status}); it is in {}: replay it with `{} FILE`",
            PathBuf::from(artifact_prefix).display(),
            binary.display()
        );
    }
    Ok(())
}

fn flag(name: &str, value: &std::ffi::OsStr) -> OsString {
    let mut flag = OsString::from(name);
    flag.push(value);
    flag
}

/// libfuzzer-sys compiles libFuzzer's C++ sources; install a compiler with apt-get if the
/// machine has none (a no-op when one is there).
fn ensure_cxx() -> anyhow::Result<()> {
    let found = Command::new("c++")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return Ok(());
    }
    eprintln!("no C++ compiler (needed to build libFuzzer): installing g++ with apt-get");
    for args in [
        &["update"][..],
        &["install", "--yes", "--no-install-recommends", "g++"][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .context("running apt-get (install g++ by hand if this is not Debian)")?;
        if !status.success() {
            bail!(
                "`apt-get {}` failed ({status}): install g++ by hand",
                args.join(" ")
            );
        }
    }
    Ok(())
}

/// `cargo build` of the target for the host triple. Naming `--target` explicitly keeps
/// RUSTFLAGS off build scripts and proc macros, which must not be instrumented.
fn build(root: &Path, cargo: &OsString, work: &Path) -> anyhow::Result<PathBuf> {
    let host = host_triple()?;
    let status = Command::new(cargo)
        .current_dir(root)
        .stdin(Stdio::null())
        .args(["build", "--release", "--manifest-path", "fuzz/Cargo.toml"])
        .args(["--bin", TARGET, "--target", &host])
        .env("CARGO_TARGET_DIR", work)
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .context("starting cargo build for the fuzz target")?;
    if !status.success() {
        bail!("building the fuzz target failed ({status})");
    }
    Ok(work.join(host).join("release").join(TARGET))
}

fn host_triple() -> anyhow::Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no host triple")
}

/// Writes every golden input, under each header, into the corpus (overwriting earlier seeds, so
/// running again is harmless). Returns how many seeds were written.
fn write_seeds(corpus: &Path) -> anyhow::Result<usize> {
    fs::create_dir_all(corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let mut written = 0;
    for (index, case) in cases::cases().iter().enumerate() {
        for (variant, header) in SEED_HEADERS.iter().enumerate() {
            let path = corpus.join(format!("golden-{index:03}-{variant}"));
            fs::write(&path, [&header[..], &case.input].concat())
                .with_context(|| format!("writing {}", path.display()))?;
            written += 1;
        }
    }
    Ok(written)
}
