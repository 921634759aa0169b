//! Pushpin's files for one run: its configuration (from `bench/pushpin/pushpin.conf`, with free
//! ports and a run directory of its own), the routes file pointing at the GRIP origin, and a
//! condure wrapper setting the worker count, which Pushpin's configuration cannot.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::servers::CONDURE;

/// Longest IPC socket path Pushpin may be given: a Unix socket path holds 107 bytes, and
/// Pushpin's longest name in the run directory is `pushpin-condure-out-stream`.
const MAX_RUNDIR: usize = 107 - "/pushpin-condure-out-stream".len();

/// What one Pushpin instance is set up with.
#[derive(Debug)]
pub(super) struct Setup<'a> {
    /// `bench/pushpin/pushpin.conf`.
    pub(super) template: &'a str,
    /// Where the configuration and the logs go.
    pub(super) dir: &'a Path,
    /// The proxy's port: subscriptions.
    pub(super) http_port: u16,
    /// The handler's port: publishes.
    pub(super) publish_port: u16,
    /// The GRIP origin every request is routed to.
    pub(super) origin: SocketAddr,
    pub(super) condure_workers: usize,
}

/// The files [`Setup::write`] made.
#[derive(Debug)]
pub(super) struct Files {
    pub(super) config: PathBuf,
    /// IPC sockets and pid files; under the system's temporary directory, to keep socket
    /// paths short. The caller removes it once Pushpin has stopped.
    pub(super) rundir: PathBuf,
}

impl Setup<'_> {
    pub(super) fn write(&self) -> anyhow::Result<Files> {
        let rundir = std::env::temp_dir().join(format!("herald-bench-pushpin-{}", self.http_port));
        if rundir.as_os_str().len() > MAX_RUNDIR {
            bail!("{} is too long for Pushpin's IPC sockets", rundir.display());
        }
        let logdir = self.dir.join("logs");
        for dir in [&rundir, &logdir] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let condure = self.dir.join("condure");
        std::fs::write(
            &condure,
            format!(
                "#!/bin/sh\nexec {CONDURE} --workers {} \"$@\"\n",
                self.condure_workers
            ),
        )?;
        std::fs::set_permissions(&condure, std::fs::Permissions::from_mode(0o755))?;
        std::fs::write(self.dir.join("routes"), format!("* {}\n", self.origin))?;
        let config = self.dir.join("pushpin.conf");
        let text = self
            .template
            .replace("@RUNDIR@", &rundir.to_string_lossy())
            .replace("@LOGDIR@", &logdir.to_string_lossy())
            .replace("@CONDURE@", &condure.to_string_lossy())
            .replace("@HTTP_PORT@", &self.http_port.to_string())
            .replace("@PUBLISH_PORT@", &self.publish_port.to_string());
        std::fs::write(&config, text)?;
        Ok(Files { config, rundir })
    }
}
