//! Running commands: the workspace context every command starts from, and helpers that print a
//! command as it starts, let it write straight to the terminal, and fail with its exit status.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Where commands run and which programs they find.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The workspace root (the parent of `xtask/`).
    pub(crate) root: PathBuf,
    /// The cargo that started us (`$CARGO`), so nested builds use the same toolchain.
    cargo: OsString,
    /// `PATH` for every command: the caller's, plus cargo's `bin/` (where `cargo install` puts
    /// Trunk and wasm-bindgen) when it is missing.
    path: OsString,
    /// `PATH` for Trunk: npm's `node_modules/.bin` first, so Trunk runs the pinned wasm-opt.
    trunk_path: OsString,
}

impl Ctx {
    pub(crate) fn new() -> anyhow::Result<Self> {
        let root = workspace_root()?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect())
            .unwrap_or_default();
        if let Some(cargo_bin) = cargo_bin()
            && !dirs.contains(&cargo_bin)
        {
            dirs.push(cargo_bin);
        }
        let path = std::env::join_paths(&dirs).context("PATH holds an unusable directory")?;
        dirs.insert(0, root.join("node_modules").join(".bin"));
        let trunk_path = std::env::join_paths(&dirs).context("PATH holds an unusable directory")?;
        Ok(Self {
            root,
            cargo,
            path,
            trunk_path,
        })
    }

    /// A command run at the workspace root, with our `PATH` and no stdin (we run unattended).
    pub(crate) fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(&self.root)
            .env("PATH", &self.path)
            .stdin(Stdio::null());
        command
    }

    pub(crate) fn cargo(&self) -> Command {
        self.command(&self.cargo)
    }

    /// `trunk`, finding npm's wasm-opt before any other (see [`Ctx::trunk_path`]).
    pub(crate) fn trunk(&self) -> Command {
        let mut command = self.command("trunk");
        command.env("PATH", &self.trunk_path);
        command
    }

    /// The `PATH` Trunk runs with.
    pub(crate) fn trunk_path(&self) -> &OsStr {
        &self.trunk_path
    }

    /// Prints the command, runs it with the terminal as its stdout and stderr, and fails unless
    /// it succeeds.
    pub(crate) fn run(&self, command: &mut Command) -> anyhow::Result<()> {
        let shown = self.describe(command);
        println!("==> {shown}");
        let started = Instant::now();
        let status = command
            .status()
            .with_context(|| format!("cannot start `{shown}`"))?;
        if !status.success() {
            bail!("`{shown}` failed ({status})");
        }
        println!("    done in {}", human(started.elapsed()));
        Ok(())
    }

    /// How a command reads in the log: its environment changes, then the command line, with
    /// `$CARGO` shown as `cargo`.
    pub(crate) fn describe(&self, command: &Command) -> String {
        let mut words: Vec<String> = Vec::new();
        for (key, value) in command.get_envs() {
            match (key.to_str(), value) {
                (Some("PATH"), Some(value)) if value == self.trunk_path => {
                    words.push("PATH=node_modules/.bin:$PATH".to_owned());
                }
                (Some("PATH"), _) => {}
                (_, Some(value)) => words.push(format!(
                    "{}={}",
                    key.to_string_lossy(),
                    value.to_string_lossy()
                )),
                (_, None) => {}
            }
        }
        if command.get_program() == self.cargo {
            words.push("cargo".to_owned());
        } else {
            words.push(command.get_program().to_string_lossy().into_owned());
        }
        words.extend(
            command
                .get_args()
                .map(|arg| arg.to_string_lossy().into_owned()),
        );
        words.join(" ")
    }
}

/// The workspace root: the parent of `xtask/`, from the `CARGO_MANIFEST_DIR` that `cargo run`
/// (and `cargo test`) set. The compile-time value is only a fallback, because it goes stale when
/// a checkout moves together with its `target/`.
pub(crate) fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .context("xtask/ has no parent directory")
}

/// The first line a command prints on stdout, when it runs and succeeds (a tool's `--version`);
/// `None` when it is missing or fails.
pub(crate) fn first_line(command: &mut Command) -> Option<String> {
    let output = command.stderr(Stdio::null()).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.lines().next().map(|line| line.trim().to_owned())
}

/// Every `name` on `path`, in the order a shell would try them.
pub(crate) fn find_on_path(path: &OsStr, name: &str) -> Vec<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .filter(|candidate| candidate.is_file())
        .collect()
}

/// Whether this process runs as root (apt-get needs it).
pub(crate) fn is_root() -> bool {
    first_line(Command::new("id").arg("-u")).as_deref() == Some("0")
}

/// A duration as a person reads it: `42.1s` or `3m 07s`.
pub(crate) fn human(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs < 60 {
        format!("{:.1}s", elapsed.as_secs_f64())
    } else {
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
}

/// Where `cargo install` puts binaries: `$CARGO_HOME/bin`, by default `~/.cargo/bin`.
fn cargo_bin() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))?;
    Some(home.join("bin"))
}
