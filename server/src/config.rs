//! The server's configuration: command-line flags, each with a `HERALD_*` environment twin.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::jwt::{KeySource, Verifier};

/// Herald: server-sent events hub.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HERALD_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// Directory of the built browser client, served at `/`.
    #[arg(long, env = "HERALD_DIST", default_value = "dist")]
    pub dist: PathBuf,

    /// A token that may publish to any topic (`Authorization: Bearer TOKEN`); repeatable.
    #[arg(
        long = "publish-token",
        env = "HERALD_PUBLISH_TOKEN",
        value_delimiter = ','
    )]
    pub publish_tokens: Vec<String>,

    /// Topics anyone may publish to without a token (rate-limited per client IP).
    #[arg(
        long,
        env = "HERALD_OPEN_TOPICS",
        value_delimiter = ',',
        default_value = "messages"
    )]
    pub open_topics: Vec<String>,

    /// An extra origin allowed to read streams with credentials (CORS), e.g.
    /// `https://app.example.com`; repeatable. The server's own origin and the development UI's
    /// (`trunk serve`, port 1234) are always allowed.
    #[arg(
        long = "allow-origin",
        env = "HERALD_ALLOW_ORIGIN",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,

    /// Send a comment after this long without traffic, so proxies keep the stream and dead
    /// peers are noticed.
    #[arg(long, env = "HERALD_HEARTBEAT", default_value = "15s", value_parser = parse_duration)]
    pub heartbeat: Duration,

    /// Keep the event log in Redis, shared by every node given the same URL
    /// (`redis://HOST:PORT[/DB]`): one order of ids, and `Last-Event-ID` resumes on any node.
    /// Without it the log is in this process's memory.
    #[arg(long, env = "HERALD_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Accept JWTs signed with this secret (HS256), with Mercure's claims: `mercure.publish`
    /// says where a token may publish.
    #[arg(long, env = "HERALD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Read the JWT secret (HS256) from this file (trailing whitespace ignored).
    #[arg(long, env = "HERALD_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,

    /// Accept JWTs signed with the private half of this PEM public key (RSA: RS256; P-256:
    /// ES256) instead of a secret.
    #[arg(long, env = "HERALD_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,

    /// Accept only JWTs whose `aud` names this audience.
    #[arg(long, env = "HERALD_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Accept only JWTs whose `iss` is this issuer.
    #[arg(long, env = "HERALD_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Least time between two writes to one stream while its events keep coming: whatever
    /// arrives meanwhile goes out in one write, which is what keeps fan-out cheap under load.
    /// Events further apart than this are never delayed; `0s` writes every event at once. With
    /// many streams busy at once the pace stretches with their number (up to 100 ms).
    #[arg(long, env = "HERALD_PACE", default_value = "5ms", value_parser = parse_duration)]
    pub pace: Duration,

    /// Events kept per topic. History is also every subscriber's queue: a subscriber is cut
    /// (and told `reset` when it reconnects) only once it is this many events behind, so it is
    /// also how long a burst a reader may lag through.
    #[arg(long, env = "HERALD_HISTORY", default_value_t = 10_000)]
    pub history: usize,

    /// Bytes of encoded events kept over all topics; past it, the oldest events go first.
    #[arg(long, env = "HERALD_HISTORY_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub history_bytes: usize,

    /// How long an event stays replayable.
    #[arg(long, env = "HERALD_HISTORY_AGE", default_value = "1h", value_parser = parse_duration)]
    pub history_age: Duration,

    /// Open event streams allowed at once; beyond it clients are told to come back later.
    /// Default: this process's open-file limit less a reserve for publishers and files.
    #[arg(long, env = "HERALD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// TCP connections of any kind held at once (streams, publishers, health checks, files);
    /// beyond it new connections wait in the kernel's queue until one closes. Default: this
    /// process's open-file limit less a few hundred files for the server itself and the files
    /// it serves, so that accepting never fails for want of a file descriptor.
    #[arg(long, env = "HERALD_MAX_TCP_CONNECTIONS")]
    pub max_tcp_connections: Option<usize>,

    /// How long a request body may take to arrive in full, from its head; a slower one is
    /// answered 408 and its connection closed, so a client trickling bytes cannot hold a
    /// connection. (A request head has its own 5 s limit.)
    #[arg(long, env = "HERALD_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: Duration,

    /// Topics held at once (each with its subscribers and history); publishing or subscribing
    /// to a new topic beyond it is refused with 503 until idle topics expire.
    #[arg(long, env = "HERALD_MAX_TOPICS", default_value_t = 10_000)]
    pub max_topics: usize,

    /// Events gathered into one write to a subscriber at most (a write also stops at 16 KiB,
    /// past its first event); a subscriber further behind gets the rest in the next writes.
    #[arg(long, env = "HERALD_CLIENT_BUFFER", default_value_t = 256)]
    pub client_buffer: usize,

    /// Largest publish body accepted, in bytes.
    #[arg(long, env = "HERALD_MAX_BODY", default_value_t = 64 * 1024)]
    pub max_body: usize,

    /// Publishes per second allowed to one client IP on open topics (bursts of twice that).
    #[arg(long, env = "HERALD_OPEN_RATE", default_value_t = 10.0)]
    pub open_rate: f64,

    /// Reconnection delay suggested to browsers (`retry:`).
    #[arg(long, env = "HERALD_RETRY", default_value = "2s", value_parser = parse_duration)]
    pub retry: Duration,

    /// How long a graceful shutdown (SIGINT, SIGTERM) may take before open connections are
    /// dropped and the process exits.
    #[arg(
        long = "drain-timeout",
        alias = "shutdown-timeout",
        env = "HERALD_DRAIN_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration
    )]
    pub drain_timeout: Duration,

    /// How long, from the signal, the server keeps accepting while it drains: `/readyz`
    /// answers 503 and new streams are sent away, so that load balancers see it leave before
    /// connections are refused. Part of `--drain-timeout`.
    #[arg(long, env = "HERALD_DRAIN_NOTICE", default_value = "1s", value_parser = parse_duration)]
    pub drain_notice: Duration,

    /// Certificate chain (PEM) to serve HTTPS with, HTTP/2 offered by ALPN; needs `--tls-key`.
    #[arg(long, env = "HERALD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of `--tls-cert`.
    #[arg(long, env = "HERALD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// How logs are written: `pretty` for people, `json` (one object a line) for collectors.
    #[arg(long, env = "HERALD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Worker threads serving HTTP (default: one per core).
    #[arg(long, env = "HERALD_WORKERS")]
    pub workers: Option<usize>,
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// File descriptors kept back from streams: publishers, the listener, files served, logs.
const RESERVED_FILES: usize = 1000;
/// The stream limit when the open-file limit cannot be read (not Linux).
const FALLBACK_MAX_CONNECTIONS: usize = 10_000;
/// File descriptors kept back from TCP connections: the listener, each worker's event loop and
/// wake-ups, standard streams, and the static files being served at once (each open for the
/// time of its response). Below [`RESERVED_FILES`], so that with streams at their default limit
/// a few hundred other connections (publishers, health checks) still fit.
const RESERVED_FOR_SERVER: usize = 400;
/// The TCP connection limit when the open-file limit cannot be read (not Linux).
const FALLBACK_MAX_TCP_CONNECTIONS: usize = 10_600;

impl Config {
    /// The stream limit in force: the flag, or the open-file limit less [`RESERVED_FILES`].
    #[must_use]
    pub fn max_connections(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            open_file_limit().map_or(FALLBACK_MAX_CONNECTIONS, |limit| {
                limit.saturating_sub(RESERVED_FILES).max(1)
            })
        })
    }

    /// The limit on TCP connections of any kind: the flag, or the open-file limit less
    /// [`RESERVED_FOR_SERVER`].
    #[must_use]
    pub fn max_tcp_connections(&self) -> usize {
        self.max_tcp_connections.unwrap_or_else(|| {
            open_file_limit().map_or(FALLBACK_MAX_TCP_CONNECTIONS, |limit| {
                limit.saturating_sub(RESERVED_FOR_SERVER).max(2)
            })
        })
    }

    /// HTTP worker threads: the flag, or one per core (actix's own default).
    #[must_use]
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
    }

    /// Connections each worker may hold: actix bounds connections per worker, so the TCP limit
    /// is shared out evenly (rounding down, so the total never passes it).
    #[must_use]
    pub fn max_tcp_connections_per_worker(&self) -> usize {
        (self.max_tcp_connections() / self.worker_count()).max(1)
    }
}

/// The soft limit on open files, read from `/proc/self/limits` (no unsafe `getrlimit` needed).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Longest pacing interval accepted.
const MAX_PACE: Duration = Duration::from_secs(1);

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|err| format!("{err} (examples: 15s, 500ms, 1h)"))
}

impl Config {
    /// The defaults, as if started with no flags and no environment (for tests and embedding).
    #[must_use]
    pub fn defaults() -> Self {
        // Parsing an empty command line only applies defaults; that cannot fail unless a
        // default above is itself invalid, which the unit test below rules out.
        Self::try_parse_from(["server"]).expect("built-in defaults are valid")
    }
}

impl Config {
    /// The JWT verifier the flags ask for, if any.
    ///
    /// # Errors
    /// One line: two key sources at once, an unreadable file, a key that is not one.
    pub(crate) fn jwt_verifier(&self) -> Result<Option<Verifier>, String> {
        let secret_file = match &self.jwt_secret_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|err| format!("--jwt-secret-file {}: {err}", path.display()))?
                    .trim_end()
                    .to_owned(),
            ),
            None => None,
        };
        let source = match (&self.jwt_secret, &secret_file, &self.jwt_public_key) {
            (None, None, None) => {
                if self.jwt_audience.is_some() || self.jwt_issuer.is_some() {
                    return Err("--jwt-audience and --jwt-issuer need a JWT key: \
                                --jwt-secret, --jwt-secret-file or --jwt-public-key"
                        .to_owned());
                }
                return Ok(None);
            }
            (Some(secret), None, None) | (None, Some(secret), None) => {
                KeySource::Secret(secret.as_bytes())
            }
            (None, None, Some(path)) => KeySource::PublicKeyFile(path),
            _ => {
                return Err("give one JWT key: --jwt-secret, --jwt-secret-file or \
                            --jwt-public-key"
                    .to_owned());
            }
        };
        Verifier::new(
            source,
            self.jwt_audience.as_deref(),
            self.jwt_issuer.as_deref(),
        )
        .map(Some)
    }

    /// The HTTPS configuration `--tls-cert` and `--tls-key` ask for, if any.
    ///
    /// # Errors
    /// One line naming the file and its problem.
    pub(crate) fn tls(&self) -> Result<Option<rustls::ServerConfig>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::tls::server_config(cert, key).map(Some),
            (None, None) => Ok(None),
            // clap requires each with the other; this is for configs built in code.
            _ => Err("--tls-cert and --tls-key go together".to_owned()),
        }
    }

    /// Whether the server speaks HTTPS.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Checks what clap cannot: values that parse but cannot work.
    ///
    /// # Errors
    /// One line saying which flag is wrong and what would do.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_topics == 0 {
            return Err("--max-topics must be at least 1".to_owned());
        }
        self.jwt_verifier()?;
        self.tls()?;
        if self.history == 0 {
            return Err("--history must be at least 1".to_owned());
        }
        if self.client_buffer == 0 {
            return Err("--client-buffer must be at least 1".to_owned());
        }
        if self.max_connections == Some(0) {
            return Err("--max-connections must be at least 1".to_owned());
        }
        if self.max_tcp_connections.is_some_and(|max| max < 2) {
            return Err("--max-tcp-connections must be at least 2".to_owned());
        }
        let (streams, tcp) = (self.max_connections(), self.max_tcp_connections());
        if streams >= tcp {
            return Err(format!(
                "--max-connections ({streams}) must be below the TCP connection limit ({tcp}): \
                 publishers and health checks need connections too; lower it, or raise \
                 --max-tcp-connections (default: the open-file limit, `ulimit -n`, less {RESERVED_FOR_SERVER})"
            ));
        }
        if self.workers.is_some_and(|workers| workers > tcp) {
            return Err(format!(
                "--workers must be at most the TCP connection limit ({tcp})"
            ));
        }
        if self.body_timeout.is_zero() {
            return Err("--body-timeout must be longer than 0s".to_owned());
        }
        if self.max_body == 0 {
            return Err("--max-body must be at least 1 byte".to_owned());
        }
        if self.drain_notice >= self.drain_timeout {
            return Err("--drain-notice must be shorter than --drain-timeout".to_owned());
        }
        if self.heartbeat.is_zero() {
            return Err("--heartbeat must be longer than 0s".to_owned());
        }
        if self.pace > MAX_PACE {
            return Err("--pace must be at most 1s: events would wait that long".to_owned());
        }
        if !(self.open_rate.is_finite() && self.open_rate > 0.0) {
            return Err("--open-rate must be a positive number".to_owned());
        }
        if self.workers == Some(0) {
            return Err("--workers must be at least 1".to_owned());
        }
        for origin in &self.allow_origins {
            let Some((scheme, host)) = origin.split_once("://") else {
                return Err(format!(
                    "--allow-origin {origin:?} must look like http://host:port"
                ));
            };
            let host = host.trim_end_matches('/');
            if !matches!(scheme, "http" | "https") || host.is_empty() || host.contains('/') {
                return Err(format!(
                    "--allow-origin {origin:?} must look like http://host:port"
                ));
            }
        }
        for topic in &self.open_topics {
            shared::TopicName::new(topic)
                .map_err(|err| format!("--open-topics {topic:?}: {err}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::try_parse_from(["server"]).unwrap();
        assert_eq!(config.bind, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(config.heartbeat, Duration::from_secs(15));
        assert_eq!(config.pace, Duration::from_millis(5));
        assert_eq!(config.history, 10_000);
        assert_eq!(config.history_age, Duration::from_secs(3600));
        assert_eq!(config.open_topics, ["messages"]);
        assert_eq!(config.max_body, 65_536);
        assert_eq!(config.body_timeout, Duration::from_secs(10));
        // Below this process's open-file limit, whatever it is; streams below connections.
        if let Some(limit) = open_file_limit() {
            assert!(config.max_connections() < limit);
            assert!(config.max_tcp_connections() < limit);
        }
        assert!(config.max_connections() < config.max_tcp_connections());
    }

    #[test]
    fn the_tcp_limit_is_shared_out_between_workers() {
        let config = Config::try_parse_from([
            "server",
            "--max-tcp-connections",
            "1001",
            "--max-connections",
            "900",
            "--workers",
            "2",
        ])
        .unwrap();
        assert!(config.validate().is_ok());
        assert_eq!(config.max_tcp_connections_per_worker(), 500);
        // Streams cannot be allowed more connections than TCP as a whole.
        let config = Config::try_parse_from([
            "server",
            "--max-tcp-connections",
            "100",
            "--max-connections",
            "100",
        ])
        .unwrap();
        assert!(
            config
                .validate()
                .unwrap_err()
                .contains("--max-connections (100)")
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Config::try_parse_from(["server", "--heartbeat", "soon"]).is_err());
        assert!(Config::try_parse_from(["server", "--bind", "nowhere"]).is_err());
        let config = Config::try_parse_from(["server", "--allow-origin", "example.com"]).unwrap();
        assert!(config.validate().unwrap_err().contains("--allow-origin"));
        let config = Config::try_parse_from(["server", "--client-buffer", "0"]).unwrap();
        assert!(config.validate().is_err());
        let config = Config::try_parse_from(["server", "--body-timeout", "0s"]).unwrap();
        assert!(config.validate().unwrap_err().contains("--body-timeout"));
        assert!(Config::try_parse_from(["server", "--body-timeout", "slowly"]).is_err());
        assert!(Config::defaults().validate().is_ok());
    }
}
