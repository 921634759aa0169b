//! The follower: one task per node that reads the log stream in order and puts each event into
//! the window, waking its readers, so that each event crosses Redis once per node. Before it
//! delivers anything newer it makes up for what it could have missed: a gap in the log (an
//! entry whose predecessor it never saw), a lost connection, or a Redis that lost its data.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::Value;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use shared::TopicName;

use super::script::{self, Entry, Scripts};
use super::{RedisLog, Shared, ids, keys};
use crate::hub::log::LogError;

/// How long one read waits for news before asking again.
pub(super) const BLOCK: Duration = Duration::from_secs(1);
/// Entries read at once.
const BATCH: usize = 512;
/// Pause between attempts while Redis is away: a node is back within this of Redis.
const RETRY: Duration = Duration::from_millis(250);

/// The log's epoch (beginning it if need be) and the id of its newest entry (0 when none).
pub(super) async fn join(
    commands: &ConnectionManager,
    scripts: &Scripts,
) -> redis::RedisResult<(u64, u64)> {
    let mut connection = commands.clone();
    let reply: Value = scripts
        .epoch
        .key(keys::EPOCH)
        .key(keys::LAST)
        .invoke_async(&mut connection)
        .await?;
    let malformed = || redis::RedisError::from((redis::ErrorKind::Parse, "unexpected epoch reply"));
    let [epoch, last] = script::items(&reply).ok_or_else(malformed)? else {
        return Err(malformed());
    };
    let epoch = script::text(epoch)
        .and_then(|text| text.parse().ok())
        .ok_or_else(malformed)?;
    let last = match last {
        Value::Nil => 0,
        last => script::text(last)
            .and_then(ids::from_entry)
            .ok_or_else(malformed)?,
    };
    Ok((epoch, last))
}

/// Follows the log for as long as the node runs, reconnecting whenever Redis goes away.
pub(super) async fn run(shared: Arc<Shared>) {
    loop {
        let Err(err) = follow(&shared).await;
        let reason = match err {
            LogError::Unavailable { reason } => reason,
            LogError::TooManyTopics { .. } => "redis refused a command",
        };
        shared.set_down(reason);
        tokio::time::sleep(RETRY).await;
    }
}

/// One connection's worth of following: returns only when Redis fails it.
async fn follow(shared: &Shared) -> Result<Infallible, LogError> {
    let mut link = tokio::time::timeout(
        super::CONNECT_TIMEOUT,
        shared
            .client
            .get_multiplexed_async_connection_with_config(&RedisLog::follower_config()),
    )
    .await
    .map_err(|_| super::command::unavailable("redis unreachable"))?
    .map_err(|err| super::command::classify(&err))?;
    resync(shared).await?;
    shared.set_up();
    loop {
        let batch = read(&mut link, shared.window.head()).await?;
        let _applying = shared.applying.lock().await;
        for entry in batch {
            // A topic filled meanwhile may have taken the window past it.
            if entry.id <= shared.window.head() {
                continue;
            }
            if let Some(prev) = entry.prev
                && prev > shared.window.head()
            {
                // Entries between are gone from the log stream: fetch them from the topics.
                catch_up(shared, prev).await?;
            }
            deliver(shared, entry);
        }
    }
}

/// After (re)connecting: the same log still, caught up to its newest entry; or a log Redis
/// lost, after which every reader here is told it may have missed events.
async fn resync(shared: &Shared) -> Result<(), LogError> {
    let (epoch, last) = join(&shared.commands, &shared.scripts)
        .await
        .map_err(|err| super::command::classify(&err))?;
    let _applying = shared.applying.lock().await;
    if epoch != shared.epoch.load(Ordering::Acquire) {
        let through = last.max(ids::floor(epoch));
        tracing::warn!(
            "the shared log was lost (Redis restarted empty?): readers here get `reset`"
        );
        shared.epoch.store(epoch, Ordering::Release);
        let topics = shared.window.lose_all(through);
        shared.window.advance(through);
        shared.arrived(&topics);
    } else if last > shared.window.head() {
        catch_up(shared, last).await?;
    }
    Ok(())
}

/// The entries after `from`, waiting up to [`BLOCK`] for one.
async fn read(link: &mut MultiplexedConnection, from: u64) -> Result<Vec<Entry>, LogError> {
    let reply: Value = redis::cmd("XREAD")
        .arg("COUNT")
        .arg(BATCH)
        .arg("BLOCK")
        .arg(u64::try_from(BLOCK.as_millis()).unwrap_or(1_000))
        .arg("STREAMS")
        .arg(keys::LOG)
        .arg(ids::to_entry(from))
        .query_async(link)
        .await
        .map_err(|err| super::command::classify(&err))?;
    let garbage = || super::command::unavailable("redis answered garbage");
    let streams = match &reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams,
        _ => return Err(garbage()),
    };
    let mut entries = Vec::new();
    for stream in streams {
        let [_, items] = script::items(stream).ok_or_else(garbage)? else {
            return Err(garbage());
        };
        for item in script::items(items).ok_or_else(garbage)? {
            entries.push(script::entry(item).ok_or_else(garbage)?);
        }
    }
    Ok(entries)
}

/// Makes up for the entries after the window's head up to `through` that the log stream no
/// longer holds, from the streams of the topics this node holds; a topic whose stream lost
/// some of them too has its readers told so. With the `applying` lock held.
async fn catch_up(shared: &Shared, through: u64) -> Result<(), LogError> {
    let from = shared.window.head();
    // An event on several held topics comes back from each: once is enough.
    let mut missed: BTreeMap<u64, Entry> = BTreeMap::new();
    for topic in shared.window.topics() {
        let (gone, entries) = shared.range(&topic, Some(from), through).await?;
        if gone > from {
            shared.window.lose(&topic, gone);
        }
        for entry in entries {
            missed.entry(entry.id).or_insert(entry);
        }
    }
    for entry in missed.into_values() {
        deliver(shared, entry);
    }
    shared.window.advance(through);
    Ok(())
}

/// Puts `entry` into the window and wakes its readers.
fn deliver(shared: &Shared, entry: Entry) {
    let topics: Vec<TopicName> = shared.window.apply(&entry);
    shared.window.advance(entry.id);
    shared.arrived(&topics);
}
