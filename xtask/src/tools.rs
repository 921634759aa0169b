//! The install step: every tool the build and the tests need, each skipped when already present
//! at its pinned version, so a second run costs a few `--version` calls.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::pins;
use crate::process::{Ctx, find_on_path, first_line, is_root};

/// The target the browser client compiles to.
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Where `cargo install` builds tools: outside the project's `target/`, and shared between
/// checkouts so a second clone does not rebuild Trunk.
const TOOLS_TARGET_DIR: &str = "/tmp/herald-tools-target";

/// Debian's Chromium and its WebDriver, which run the browser tests.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Redis, which the tests of the shared log start on ports of their own.
const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// Debian packages the tests need, each with the file that shows it is installed.
const TEST_PACKAGES: [(&str, &str); 3] = [
    ("chromium", CHROMIUM),
    ("chromium-driver", CHROMEDRIVER),
    ("redis-server", REDIS_SERVER),
];

/// Whether the install step also sets up what only the tests need (Chromium, Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Browser {
    Skip,
    Install,
}

/// Installs what is missing; fails, saying which file to fix, when pinned versions disagree.
pub(crate) fn install(ctx: &Ctx, browser: Browser) -> anyhow::Result<()> {
    let wasm_bindgen = pins::wasm_bindgen(&ctx.root)?;
    pins::check_binaryen(&ctx.root)?;
    wasm_target(ctx)?;
    trunk(ctx)?;
    wasm_bindgen_cli(ctx, &wasm_bindgen)?;
    wasm_opt(ctx)?;
    if browser == Browser::Install {
        debian_packages(ctx, &TEST_PACKAGES)?;
    }
    Ok(())
}

fn wasm_target(ctx: &Ctx) -> anyhow::Result<()> {
    let installed = ctx
        .command("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("cannot run `rustup`; install Rust with rustup")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == WASM_TARGET)
    {
        println!("==> rust target {WASM_TARGET}: installed");
        return Ok(());
    }
    ctx.run(ctx.command("rustup").args(["target", "add", WASM_TARGET]))
}

fn trunk(ctx: &Ctx) -> anyhow::Result<()> {
    let wanted = format!("trunk {}", pins::TRUNK);
    if version(ctx, "trunk").as_deref() == Some(wanted.as_str()) {
        println!("==> {wanted}: installed");
        return Ok(());
    }
    ctx.run(cargo_install(ctx).args(["trunk", "--version", pins::TRUNK, "--locked"]))?;
    expect_version(ctx, "trunk", &wanted)
}

fn wasm_bindgen_cli(ctx: &Ctx, pinned: &str) -> anyhow::Result<()> {
    let wanted = format!("wasm-bindgen {pinned}");
    let runner = format!("wasm-bindgen-test-runner {pinned}");
    if version(ctx, "wasm-bindgen").as_deref() == Some(wanted.as_str())
        && version(ctx, "wasm-bindgen-test-runner").as_deref() == Some(runner.as_str())
    {
        println!("==> {wanted}: installed");
        return Ok(());
    }
    // Not `--locked`: the published lock pins a webpki-roots release that crates.io lacks.
    ctx.run(cargo_install(ctx).args(["wasm-bindgen-cli", "--version", pinned]))?;
    expect_version(ctx, "wasm-bindgen", &wanted)?;
    expect_version(ctx, "wasm-bindgen-test-runner", &runner)
}

/// npm's binaryen, from `package.json` and its lock; Trunk finds it first on its `PATH`.
fn wasm_opt(ctx: &Ctx) -> anyhow::Result<()> {
    let ours = ctx.root.join("node_modules").join(".bin").join("wasm-opt");
    if !reports_binaryen(ctx, &ours) {
        ctx.run(ctx.command("npm").args(["ci", "--no-audit", "--no-fund"]))?;
        if !reports_binaryen(ctx, &ours) {
            bail!(
                "`npm ci` ran, but {} does not report version {}",
                ours.display(),
                pins::BINARYEN
            );
        }
    }
    let found = find_on_path(ctx.trunk_path(), "wasm-opt");
    match found.first() {
        Some(first) if same_file(first, &ours) => {}
        other => bail!(
            "Trunk would run {other:?} instead of {}; node_modules/.bin must come first on PATH",
            ours.display()
        ),
    }
    for shadowed in found.iter().skip(1).filter(|path| !same_file(path, &ours)) {
        println!(
            "    note: {} is also on PATH; Trunk does not use it",
            shadowed.display()
        );
    }
    println!("==> wasm-opt {} (npm binaryen): installed", pins::BINARYEN);
    Ok(())
}

/// Debian `packages`, installed with apt-get (in one run) when any of their files is missing.
fn debian_packages(ctx: &Ctx, packages: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(_, file)| !Path::new(file).is_file())
        .map(|(package, _)| *package)
        .collect();
    for (_, file) in packages
        .iter()
        .filter(|(package, _)| !missing.contains(package))
    {
        println!("==> {file}: installed");
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "{} missing and installing needs root: sudo apt-get install --no-install-recommends {}",
            missing.join(", "),
            missing.join(" ")
        );
    }
    ctx.run(apt_get(ctx).arg("update"))?;
    ctx.run(
        apt_get(ctx)
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
    )?;
    for (package, file) in packages {
        if !Path::new(file).is_file() {
            bail!("apt-get installed {package}, but {file} is missing");
        }
    }
    Ok(())
}

/// apt-get, unattended, waiting up to ten minutes for another apt run (an image's unattended
/// upgrades, say) to release its lock instead of failing at once.
pub(crate) fn apt_get(ctx: &Ctx) -> Command {
    let mut command = ctx.command("apt-get");
    command
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["-o", "DPkg::Lock::Timeout=600"]);
    command
}

/// `cargo install` with a cheap release profile (tools need not be fast, just built fast) and
/// its own target directory.
fn cargo_install(ctx: &Ctx) -> Command {
    let mut command = ctx.cargo();
    command
        .arg("install")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_TARGET_DIR", TOOLS_TARGET_DIR);
    command
}

/// What `program --version` prints, found on our `PATH`.
fn version(ctx: &Ctx, program: &str) -> Option<String> {
    first_line(ctx.command(program).arg("--version"))
}

fn expect_version(ctx: &Ctx, program: &str, wanted: &str) -> anyhow::Result<()> {
    match version(ctx, program) {
        Some(found) if found == wanted => Ok(()),
        found => bail!(
            "installed {wanted}, but `{program} --version` on PATH reports {found:?}; \
             is cargo's bin directory ($CARGO_HOME/bin) ahead of other copies on PATH?"
        ),
    }
}

/// Whether this `wasm-opt --version` reports the pinned binaryen (`wasm-opt version 132 (...)`).
fn reports_binaryen(ctx: &Ctx, wasm_opt: &Path) -> bool {
    let Some(line) = first_line(ctx.command(wasm_opt).arg("--version")) else {
        return false;
    };
    let mut words = line.split_whitespace();
    words.any(|word| word == "version") && words.next() == Some(pins::BINARYEN)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
