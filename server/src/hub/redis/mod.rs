//! The shared event log on Redis (`--redis-url`): one order of ids for every node (the ids of
//! one Redis stream that every append goes through), each topic's history in a stream of its
//! own bounded by `--history` and `--history-age`, and on each node a [`window::Window`] of
//! the topics its subscribers read. Appends run as one Lua script; [`follow`] brings every
//! event to each node once, and recovers from gaps, outages and a Redis that lost its data.

mod command;
mod follow;
mod ids;
mod keys;
mod script;
mod window;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;
use redis::{AsyncConnectionConfig, Client, Value};
use shared::TopicName;
use tokio::task::JoinHandle;

use super::log::{
    Appended, Arrivals, Census, EventLog, Health, LogError, NewEvent, Resume, TopicLog,
};
use super::memory::LogLimits;
use command::unavailable;
use script::Scripts;
use window::Window;

/// Longest wait for a connection to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Entries the log stream keeps (about; Redis trims it in whole nodes): how far a node may
/// fall behind and still catch up from it rather than from each topic's stream.
const LOG_LEN: usize = 10_000;

/// Why the shared log could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The URL does not parse.
    #[error("--redis-url is not a Redis URL ({0})")]
    BadUrl(String),
    /// Redis did not answer.
    #[error("cannot reach Redis at {addr} ({reason})")]
    Unreachable {
        /// Where (without credentials).
        addr: String,
        /// What happened.
        reason: String,
    },
}

/// What the node and its follower share.
#[derive(Debug)]
pub(crate) struct Shared {
    limits: LogLimits,
    client: Client,
    commands: ConnectionManager,
    scripts: Scripts,
    window: Window,
    /// Held while the follower moves the window's head (applying entries, catching up) and
    /// while a topic is filled from Redis up to that head, so that a topic's history and its
    /// live events meet exactly.
    applying: tokio::sync::Mutex<()>,
    /// The epoch followed, in Redis's milliseconds.
    epoch: AtomicU64,
    down: Mutex<Option<&'static str>>,
    arrivals: OnceLock<Arc<dyn Arrivals>>,
}

impl Shared {
    fn set_down(&self, reason: &'static str) {
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        if down.is_none() {
            tracing::warn!(reason, "shared log unavailable");
        }
        *down = Some(reason);
    }

    fn set_up(&self) {
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        if down.take().is_some() {
            tracing::info!("shared log available again");
        }
    }

    fn health(&self) -> Health {
        match *self.down.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(reason) => Health::Down(reason),
            None => Health::Up,
        }
    }

    fn arrived(&self, topics: &[TopicName]) {
        if let Some(arrivals) = self.arrivals.get()
            && !topics.is_empty()
        {
            arrivals.arrived(topics);
        }
    }

    /// Runs `script` on the shared connection.
    async fn query(&self, script: &redis::ScriptInvocation<'_>) -> Result<Value, LogError> {
        command::run(self.commands.clone(), script).await
    }

    /// `topic`'s history up to `through` and after `after` (all of it when `None`), oldest
    /// first, at most `--history` events; and the highest id known to have left it.
    async fn range(
        &self,
        topic: &TopicName,
        after: Option<u64>,
        through: u64,
    ) -> Result<(u64, Vec<script::Entry>), LogError> {
        let mut invocation = self.scripts.range.prepare_invoke();
        invocation
            .key(keys::topic(topic))
            .arg(ids::to_entry(through))
            .arg(after.map_or_else(
                || "-".to_owned(),
                |after| format!("({}", ids::to_entry(after)),
            ))
            .arg(self.limits.history_len + 1);
        let reply = self.query(&invocation).await?;
        let (mut gone, mut entries) =
            script::range(&reply).ok_or_else(|| unavailable("redis answered garbage"))?;
        if entries.len() > self.limits.history_len {
            // One more than history holds: the oldest tells what a reader before it missed.
            let oldest = entries.remove(0);
            gone = gone.max(oldest.id);
        }
        Ok((gone, entries))
    }
}

/// The log shared through Redis.
#[derive(Debug)]
pub(crate) struct RedisLog {
    shared: Arc<Shared>,
    follower: JoinHandle<()>,
}

impl Drop for RedisLog {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

impl RedisLog {
    /// Connects to Redis at `url`, joins (or begins) its log, and starts following it.
    ///
    /// # Errors
    /// [`ConnectError`] when the URL is wrong or Redis does not answer.
    pub(crate) async fn connect(url: &str, limits: LogLimits) -> Result<Self, ConnectError> {
        let client = Client::open(url).map_err(|err| ConnectError::BadUrl(err.to_string()))?;
        let addr = client.get_connection_info().addr().to_string();
        let unreachable = |reason: String| ConnectError::Unreachable {
            addr: addr.clone(),
            reason,
        };
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(command::TIMEOUT))
            .set_max_delay(Duration::from_millis(500));
        let commands = tokio::time::timeout(
            CONNECT_TIMEOUT * 2,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| unreachable("timed out".to_owned()))?
        .map_err(|err| unreachable(err.to_string()))?;
        let scripts = Scripts::default();
        let (epoch, last) = follow::join(&commands, &scripts)
            .await
            .map_err(|err| unreachable(err.to_string()))?;
        let position = last.max(ids::floor(epoch));
        let shared = Arc::new(Shared {
            limits,
            client,
            commands,
            scripts,
            window: Window::new(limits, position),
            applying: tokio::sync::Mutex::new(()),
            epoch: AtomicU64::new(epoch),
            down: Mutex::new(None),
            arrivals: OnceLock::new(),
        });
        let follower = tokio::spawn(follow::run(Arc::clone(&shared)));
        Ok(Self { shared, follower })
    }

    /// A connection of its own for the follower's blocking reads.
    fn follower_config() -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(follow::BLOCK + command::TIMEOUT))
    }

    async fn append_event(&self, event: &NewEvent<'_>) -> Result<Appended, LogError> {
        if let Health::Down(reason) = self.shared.health() {
            return Err(unavailable(reason));
        }
        let shared = &self.shared;
        let key = event.key.unwrap_or("");
        let mut invocation = shared.scripts.append.prepare_invoke();
        invocation.key(keys::EPOCH).key(keys::LOG).key(keys::LAST);
        for topic in event.topics {
            invocation.key(keys::topic(topic));
        }
        if !key.is_empty() {
            for topic in event.topics {
                invocation.key(keys::marker(topic, key));
            }
        }
        let topics: Vec<&str> = event.topics.iter().map(TopicName::as_str).collect();
        let age_ms = u64::try_from(shared.limits.history_age.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_AGE_MS);
        invocation
            .arg(shared.epoch.load(Ordering::Acquire))
            .arg(shared.limits.history_len)
            .arg(age_ms)
            .arg(LOG_LEN)
            .arg(key)
            .arg(topics.join("\n"))
            .arg(event.event.map_or("", |name| name.as_str()))
            .arg(event.data)
            .arg(
                event
                    .retry
                    .map(|retry| retry.to_string())
                    .unwrap_or_default(),
            )
            .arg(event.topics.len())
            .arg(if event.private { "1" } else { "" });
        let reply = shared.query(&invocation).await?;
        let garbage = || unavailable("redis answered garbage");
        let [flag, id] = script::items(&reply).ok_or_else(garbage)? else {
            return Err(garbage());
        };
        let id = script::text(id)
            .and_then(ids::from_entry)
            .ok_or_else(garbage)?;
        match flag {
            Value::Int(1) => Ok(Appended::New(id)),
            _ => Ok(Appended::Repeated(id)),
        }
    }

    async fn open_topics(&self, topics: &[TopicName]) -> Result<Vec<Arc<dyn TopicLog>>, LogError> {
        if let Health::Down(reason) = self.shared.health() {
            return Err(unavailable(reason));
        }
        let window = &self.shared.window;
        let missing = topics
            .iter()
            .filter(|topic| window.ring(topic).is_none())
            .count();
        if missing > 0 && !window.fits(missing) {
            return Err(LogError::TooManyTopics {
                max: self.shared.limits.max_topics,
            });
        }
        // The follower waits while topics are filled: each meets the live events exactly.
        let _applying = self.shared.applying.lock().await;
        let position = window.head();
        let mut opened: Vec<Arc<dyn TopicLog>> = Vec::with_capacity(topics.len());
        for topic in topics {
            let ring = match window.ring(topic) {
                Some(ring) => ring,
                None => {
                    let (gone, entries) = self.shared.range(topic, None, position).await?;
                    window.hold(topic, gone, &entries)
                }
            };
            opened.push(ring);
        }
        Ok(opened)
    }
}

/// The longest history age Redis is asked to keep keys for (ten years).
const MAX_AGE_MS: u64 = 10 * 365 * 24 * 3600 * 1000;

impl EventLog for RedisLog {
    fn attach(&self, arrivals: Arc<dyn Arrivals>) {
        let _ = self.shared.arrivals.set(arrivals);
    }

    fn append<'a>(&'a self, event: &'a NewEvent<'a>) -> BoxFuture<'a, Result<Appended, LogError>> {
        Box::pin(self.append_event(event))
    }

    fn mark(&self) -> u64 {
        // Event ids are even: the odd id after the head sorts after every event read so far and
        // before any still to come.
        self.shared.window.head() | 1
    }

    fn head(&self) -> u64 {
        self.shared.window.head()
    }

    fn resume(&self, last_event_id: &[u8]) -> Resume {
        let id = std::str::from_utf8(last_event_id)
            .ok()
            .filter(|text| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|text| text.parse::<u64>().ok());
        let floor = ids::floor(self.shared.epoch.load(Ordering::Acquire));
        match id {
            // Ahead of this node's head: another node's event this one has yet to read (an id
            // cannot be from the future).
            Some(id)
                if id >= floor
                    && (id <= self.head()
                        || ids::millis(id) <= window::unix_millis() + FUTURE_SLACK_MS) =>
            {
                Resume::After(id)
            }
            _ => Resume::Unknown,
        }
    }

    fn open<'a>(
        &'a self,
        topics: &'a [TopicName],
    ) -> BoxFuture<'a, Result<Vec<Arc<dyn TopicLog>>, LogError>> {
        Box::pin(self.open_topics(topics))
    }

    fn health(&self) -> Health {
        self.shared.health()
    }

    fn sweep(&self) {
        self.shared.window.sweep();
    }

    fn census(&self) -> Census {
        self.shared.window.census()
    }
}

/// How far ahead of this node's clock an id may be and still be taken for Redis's.
const FUTURE_SLACK_MS: u64 = 1_000;
