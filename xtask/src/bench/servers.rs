//! The servers under test: how each is started on a free port (pinned or not), when it is ready,
//! and how it is stopped, by its own PID and its children's.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::Options;
use super::procfs::children;
use crate::process::is_root;

/// Herald's publish token for the run (loopback only, never a secret).
pub(super) const TOKEN: &str = "bench-token";
pub(super) const NGINX: &str = "/usr/sbin/nginx";
pub(super) const NCHAN_MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";
/// How long a server may take to accept connections after it starts.
pub(super) const START_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Server {
    Herald,
    Axum,
    Nchan,
}

pub(super) const SERVERS: [Server; 3] = [Server::Herald, Server::Axum, Server::Nchan];

impl Server {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Herald => "herald",
            Self::Axum => "axum",
            Self::Nchan => "nchan",
        }
    }
}

#[derive(Debug)]
pub(super) struct Bins {
    pub(super) herald: PathBuf,
    pub(super) loadgen: PathBuf,
    pub(super) axum: PathBuf,
    pub(super) nchan_conf: String,
}

/// A server process under test; stopped (by its own PID) when dropped.
#[derive(Debug)]
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) server: Server,
}

impl Running {
    /// The process and, for nginx, its workers.
    pub(super) fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        pids.extend(children(self.child.id()));
        pids
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let workers = children(self.child.id());
        if self.server == Server::Nchan {
            // SIGQUIT: nginx's graceful stop, which also ends its workers.
            let _ = Command::new("kill")
                .args(["-QUIT", &self.child.id().to_string()])
                .status();
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        for worker in workers {
            // Only if the graceful stop left one behind (it is ours: a child of our nginx).
            if Path::new(&format!("/proc/{worker}")).exists() {
                let _ = Command::new("kill")
                    .args(["-KILL", &worker.to_string()])
                    .status();
            }
        }
    }
}

pub(super) fn start(
    bins: &Bins,
    work: &Path,
    server: Server,
    port: u16,
    log: &Path,
    options: Options,
) -> anyhow::Result<Running> {
    let bind = format!("127.0.0.1:{port}");
    let mut command = if options.pin {
        let mut taskset = Command::new("taskset");
        taskset.args(["-c", "0"]);
        taskset
    } else {
        // `env` with nothing to set: the same argv shape as `taskset -c 0 PROGRAM`.
        Command::new("env")
    };
    match server {
        Server::Herald => {
            command.arg(&bins.herald).args([
                "--bind",
                &bind,
                "--publish-token",
                TOKEN,
                "--open-topics",
                "bench",
                "--max-connections",
                "19500",
                "--history",
                "1000",
                "--client-buffer",
                "1024",
                "--heartbeat",
                "15s",
                "--dist",
                "/nonexistent",
            ]);
            if options.pin {
                command.args(["--workers", "1"]);
            }
            command.env("RUST_LOG", "warn");
        }
        Server::Axum => {
            command.arg(&bins.axum).arg(&bind);
            if options.pin {
                command.env("TOKIO_WORKER_THREADS", "1");
            }
        }
        Server::Nchan => {
            let dir = work.join(format!("nchan-{port}"));
            for sub in ["tmp", "logs"] {
                std::fs::create_dir_all(dir.join(sub))?;
            }
            let workers = if options.pin {
                "1".to_owned()
            } else {
                std::thread::available_parallelism()
                    .map_or(1, std::num::NonZeroUsize::get)
                    .to_string()
            };
            // As root, nginx would run its workers as `nobody`, who cannot write the prefix.
            let user = if is_root() { "user root;" } else { "" };
            let conf = bins
                .nchan_conf
                .replace("@PORT@", &port.to_string())
                .replace("@WORKERS@", &workers)
                .replace("@USER@", user);
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf)?;
            command
                .arg(NGINX)
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(dir.join("logs/error.log"))
                .args(["-g", "daemon off;"]);
        }
    }
    let log_file = std::fs::File::create(log)?;
    let child = command
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {}", server.name()))?;
    Ok(Running { child, server })
}

pub(super) fn wait_listening(
    addr: SocketAddr,
    running: &Running,
    log: &Path,
) -> anyhow::Result<()> {
    let until = Instant::now() + START_TIMEOUT;
    while Instant::now() < until {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if !Path::new(&format!("/proc/{}", running.child.id())).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    bail!("the server did not listen on {addr}; its log:\n{log}")
}

/// A port free now on 127.0.0.1 (the server binds it a moment later; nothing else here races).
pub(super) fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
