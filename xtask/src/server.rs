//! A Herald server for the browser tests: started on a free port, its address read from the line
//! it prints, and killed (by its own PID) when the guard drops, however the tests end.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// The line the server prints on stdout once it listens, followed by its address.
const LISTENING: &str = "Herald listening on http://";

/// A cold debug server starts in well under a second; this allows for a loaded machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server; dropping it kills the process and reaps it.
#[derive(Debug)]
pub(crate) struct ServerChild {
    child: Child,
    /// `host:port` it listens on.
    pub(crate) addr: String,
}

impl ServerChild {
    /// Starts `command` and waits for it to print where it listens. Its stdout (the address
    /// line and any logs) is copied to our stderr with a `server| ` prefix, for the life of the
    /// process, so the pipe never fills and blocks the server.
    pub(crate) fn start(mut command: Command) -> anyhow::Result<Self> {
        let child = command
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the test server")?;
        // From here on the guard owns the process, so every early return kills it.
        let mut server = Self {
            child,
            addr: String::new(),
        };
        let stdout = server
            .child
            .stdout
            .take()
            .context("the test server's stdout was not piped")?;

        let (found, addr) = mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("server| {line}");
                if let Some(addr) = line.strip_prefix(LISTENING)
                    && let Some(found) = found.take()
                {
                    // The receiver may have given up already; then nobody needs the address.
                    let _ = found.send(addr.trim().to_owned());
                }
            }
        });

        match addr.recv_timeout(STARTUP_TIMEOUT) {
            Ok(addr) => {
                server.addr = addr;
                Ok(server)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                "the test server did not print `{LISTENING}…` within {}s",
                STARTUP_TIMEOUT.as_secs()
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server
                    .child
                    .wait()
                    .context("cannot wait for the test server")?;
                bail!("the test server exited ({status}) before it listened")
            }
        }
    }
}

impl ServerChild {
    /// The server's process id, to watch it from `/proc`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // Already exited is fine; anything else is only worth a note, since we are cleaning up.
        if let Ok(None) = self.child.try_wait() {
            if let Err(err) = self.child.kill() {
                eprintln!(
                    "warning: cannot kill test server {}: {err}",
                    self.child.id()
                );
            }
            let _ = self.child.wait();
        }
    }
}
