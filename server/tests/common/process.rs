//! The server binary as a child process: for what only a process has (signals, an exit code,
//! its own log lines). Signals go to its own PID; dropping it kills and reaps it.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::PATIENCE;

/// A running server binary and every line it has written (stdout and stderr).
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// `http` or `https`, as it said.
    pub scheme: String,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl ServerProcess {
    /// Starts `server --bind 127.0.0.1:0 FLAGS` (with `--dist /nonexistent` unless given)
    /// with `RUST_LOG=rust_log` (unset for `None`), and waits until it says where it listens.
    pub fn start(flags: &[&str], rust_log: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
        command.args(["--bind", "127.0.0.1:0"]);
        if !flags.contains(&"--dist") {
            command.args(["--dist", "/nonexistent"]);
        }
        match rust_log {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        let mut child = command
            .args(flags)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (found, listening) = mpsc::channel();
        let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        let mut readers = Vec::new();
        for pipe in [stdout, stderr] {
            let lines = Arc::clone(&lines);
            let found = found.clone();
            // Reading to the end keeps the pipes open, so the server's writes never fail.
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let line = strip_ansi(&line);
                    if let Some((scheme, addr)) = line
                        .strip_prefix("Herald listening on ")
                        .and_then(|url| url.trim().split_once("://"))
                    {
                        let _ = found.send((scheme.to_owned(), addr.parse::<SocketAddr>()));
                    }
                    lines.lock().unwrap().push(line);
                }
            }));
        }
        let (scheme, addr) = listening
            .recv_timeout(PATIENCE)
            .expect("the server said where it listens");
        Self {
            child,
            addr: addr.expect("an address"),
            scheme,
            lines,
            readers,
        }
    }

    /// Kills the server and returns every line it wrote.
    pub fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        std::mem::take(&mut *self.lines.lock().unwrap())
    }

    /// Sends `signal` (`TERM`, `INT`) to the server's own PID.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.child.id());
    }

    /// Waits up to `limit` for the server to exit; `None` if it is still running then.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The lines written so far that contain `text`.
    pub fn lines_with(&self, text: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(text))
            .cloned()
            .collect()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes colour codes (`ESC [ … m`), in case the log is coloured despite `NO_COLOR`.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs the server binary with `flags` until it exits by itself (a configuration it refuses),
/// at most [`PATIENCE`]: its exit code and what it wrote on stderr.
pub fn refused(flags: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--bind", "127.0.0.1:0", "--dist", "/nonexistent"])
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server binary");
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().expect("poll the child").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started with {flags:?}; it should have refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("its output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
