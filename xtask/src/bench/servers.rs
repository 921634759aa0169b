//! The servers under test: how each is started on free ports (pinned or not), when it is ready,
//! which processes are its own, and how it is stopped, by its own PID and its children's.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::pinning::{Mode, SERVER_CORE};
use super::procfs::children;
use super::pushpin;
use super::tls::Tls;
use crate::process::is_root;

/// Herald's publish token for the run (loopback only, never a secret).
pub(super) const TOKEN: &str = "bench-token";
pub(super) const NGINX: &str = "/usr/sbin/nginx";
pub(super) const NCHAN_MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";
pub(super) const PUSHPIN: &str = "/usr/bin/pushpin";
pub(super) const CONDURE: &str = "/usr/bin/condure";
pub(super) const ZURL: &str = "/usr/bin/zurl";
/// How long a server may take to accept connections after it starts (Pushpin starts four
/// processes).
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a readiness probe (a connect, a subscription's answer) may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a graceful stop (nginx's SIGQUIT, Pushpin's SIGTERM) may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Server {
    Herald,
    Axum,
    Nchan,
    Pushpin,
}

pub(super) const SERVERS: [Server; 4] =
    [Server::Herald, Server::Axum, Server::Nchan, Server::Pushpin];

impl Server {
    /// Its name in the report, on the command line, and as loadgen's `--target`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Herald => "herald",
            Self::Axum => "axum",
            Self::Nchan => "nchan",
            Self::Pushpin => "pushpin",
        }
    }

    /// The signal that stops it gracefully (with its workers or services), if any: the others
    /// hold nothing worth a graceful stop and get SIGKILL.
    fn graceful_stop(self) -> Option<&'static str> {
        match self {
            Self::Nchan => Some("-QUIT"),
            Self::Pushpin => Some("-TERM"),
            Self::Herald | Self::Axum => None,
        }
    }
}

/// What the servers are run from.
#[derive(Debug)]
pub(super) struct Bins {
    pub(super) herald: PathBuf,
    pub(super) loadgen: PathBuf,
    pub(super) axum: PathBuf,
    /// `bench/nchan/nginx.conf`, a template.
    pub(super) nchan_conf: String,
    /// `bench/pushpin/pushpin.conf`, a template.
    pub(super) pushpin_conf: String,
}

/// Where loadgen reaches a server.
#[derive(Debug, Clone, Copy)]
pub(super) struct Addresses {
    /// Subscriptions (and publishes, unless `publish` says otherwise).
    pub(super) addr: SocketAddr,
    /// Publishes, when on a port of their own (Pushpin's handler).
    pub(super) publish: Option<SocketAddr>,
}

/// A server under test; stopped (by its own PID, then its children's) when dropped.
#[derive(Debug)]
pub(super) struct Running {
    server: Server,
    child: Child,
    /// Processes that serve beside it and are measured with it (Pushpin's GRIP origin);
    /// stopped after it.
    companions: Vec<Companion>,
    /// Ports that must accept connections before it is ready.
    ports: Vec<SocketAddr>,
    /// Pushpin's run directory, held to be removed (on drop) once every process is stopped.
    _scratch: Option<Scratch>,
    log: PathBuf,
    pub(super) addresses: Addresses,
}

impl Running {
    /// Its processes: the one started, its children (nginx's workers, Pushpin's services),
    /// and its companions.
    pub(super) fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        pids.extend(children(self.child.id()));
        pids.extend(self.companions.iter().map(|companion| companion.0.id()));
        pids
    }

    /// Waits until every port accepts connections and, for Pushpin, a subscription makes it
    /// through all its processes to the origin and back.
    pub(super) fn wait_ready(&mut self) -> anyhow::Result<()> {
        let until = Instant::now() + START_TIMEOUT;
        let mut waiting = self.ports.clone();
        while Instant::now() < until {
            waiting.retain(|addr| TcpStream::connect_timeout(addr, PROBE_TIMEOUT).is_err());
            if waiting.is_empty()
                && (self.server != Server::Pushpin || subscribes(self.addresses.addr))
            {
                return Ok(());
            }
            let gone = std::iter::once(&mut self.child)
                .chain(self.companions.iter_mut().map(|companion| &mut companion.0))
                .any(|child| !matches!(child.try_wait(), Ok(None)));
            if gone {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        bail!(
            "{} did not get ready (ports still closed: {waiting:?}); its log:\n{log}",
            self.server.name()
        )
    }
}

/// Whether `GET /events` on `addr` is answered 200 within [`PROBE_TIMEOUT`] (on a topic of
/// its own, which no run measures).
fn subscribes(addr: SocketAddr) -> bool {
    let probe = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
        stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
        stream.write_all(
            format!("GET /events?topic=ready HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
        )?;
        let mut head = [0; 12];
        stream.read_exact(&mut head)?;
        Ok(head.ends_with(b" 200"))
    };
    probe().unwrap_or(false)
}

impl Drop for Running {
    fn drop(&mut self) {
        let workers = children(self.child.id());
        if let (Ok(None), Some(signal)) = (self.child.try_wait(), self.server.graceful_stop()) {
            let _ = Command::new("kill")
                .args([signal, &self.child.id().to_string()])
                .status();
            let until = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        for worker in workers {
            // Only if the graceful stop left one behind (it is ours: a child of our process).
            if Path::new(&format!("/proc/{worker}")).exists() {
                let _ = Command::new("kill")
                    .args(["-KILL", &worker.to_string()])
                    .status();
            }
        }
        // Then the fields drop: the companions stop, and the scratch directory goes.
    }
}

/// A process started beside a server; killed (by its own PID) when dropped.
#[derive(Debug)]
struct Companion(Child);

impl Drop for Companion {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory removed when dropped.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `server` on free ports, its output into `log`, its files under `work`; serving HTTPS
/// with `tls` (Herald only).
pub(super) fn start(
    bins: &Bins,
    work: &Path,
    server: Server,
    mode: Mode,
    tls: Option<&Tls>,
    log: &Path,
) -> anyhow::Result<Running> {
    if tls.is_some() && server != Server::Herald {
        bail!("only Herald is measured over HTTPS, not {}", server.name());
    }
    let [port, publish_port, origin_port] = free_ports()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let bind = addr.to_string();
    let workers = mode.workers().to_string();
    let mut addresses = Addresses {
        addr,
        publish: None,
    };
    let mut companions = Vec::new();
    let mut ports = vec![addr];
    let mut scratch = None;
    let mut command = match server {
        Server::Herald => {
            let mut command = mode.command(SERVER_CORE, &bins.herald);
            command
                .args(["--bind", &bind, "--publish-token", TOKEN])
                .args(["--open-topics", "bench", "--max-connections", "19500"])
                .args(["--history", "1000", "--client-buffer", "1024"])
                .args(["--heartbeat", "15s", "--dist", "/nonexistent"])
                .args(["--workers", &workers])
                .env("RUST_LOG", "warn");
            if let Some(tls) = tls {
                command
                    .arg("--tls-cert")
                    .arg(&tls.cert)
                    .arg("--tls-key")
                    .arg(&tls.key);
            }
            command
        }
        Server::Axum => {
            let mut command = mode.command(SERVER_CORE, &bins.axum);
            command.arg(&bind).env("TOKIO_WORKER_THREADS", &workers);
            command
        }
        Server::Nchan => {
            let dir = work.join(format!("nchan-{port}"));
            for sub in ["tmp", "logs"] {
                std::fs::create_dir_all(dir.join(sub))?;
            }
            // As root, nginx would run its workers as `nobody`, who cannot write the prefix.
            let user = if is_root() { "user root;" } else { "" };
            let conf = bins
                .nchan_conf
                .replace("@PORT@", &port.to_string())
                .replace("@WORKERS@", &workers)
                .replace("@USER@", user);
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf)?;
            let mut command = mode.command(SERVER_CORE, NGINX);
            command
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(dir.join("logs/error.log"))
                .args(["-g", "daemon off;"]);
            command
        }
        Server::Pushpin => {
            let origin = SocketAddr::from(([127, 0, 0, 1], origin_port));
            let publish = SocketAddr::from(([127, 0, 0, 1], publish_port));
            let setup = pushpin::Setup {
                template: &bins.pushpin_conf,
                dir: &work.join(format!("pushpin-{port}")),
                http_port: port,
                publish_port,
                origin,
                condure_workers: mode.workers(),
            };
            let files = setup.write()?;
            scratch = Some(Scratch(files.rundir));
            addresses.publish = Some(publish);
            // The origin first: Pushpin proxies the first subscription to it.
            let origin_log = std::fs::File::create(log.with_extension("origin.log"))?;
            companions.push(Companion(
                mode.command(SERVER_CORE, &bins.loadgen)
                    .args(["origin", "--bind", &origin.to_string()])
                    .stdin(Stdio::null())
                    .stdout(origin_log.try_clone()?)
                    .stderr(origin_log)
                    .spawn()
                    .context("cannot start the GRIP origin")?,
            ));
            ports.push(origin);
            let mut command = mode.command(SERVER_CORE, PUSHPIN);
            command.arg("--config").arg(&files.config);
            command
        }
    };
    ports.extend(addresses.publish);
    let log_file = std::fs::File::create(log)?;
    // On an early return, `companions` drops and stops what already started.
    let child = command
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {}", server.name()))?;
    Ok(Running {
        server,
        child,
        companions,
        ports,
        _scratch: scratch,
        log: log.to_owned(),
        addresses,
    })
}

/// Three ports free now on 127.0.0.1, all different (the server binds them a moment later;
/// nothing else here races).
fn free_ports() -> anyhow::Result<[u16; 3]> {
    let listeners = [
        TcpListener::bind("127.0.0.1:0")?,
        TcpListener::bind("127.0.0.1:0")?,
        TcpListener::bind("127.0.0.1:0")?,
    ];
    let mut ports = [0; 3];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}
