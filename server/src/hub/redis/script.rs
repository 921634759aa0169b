//! The two Lua scripts the shared log runs in Redis, and their replies read into Rust values.
//! A script runs atomically, so an append checks the epoch and the key, takes its id and
//! writes every topic's stream as one step that no other node can interleave with.

use redis::{Script, Value};

use super::ids;

/// Appends one event. KEYS: the epoch, the log, the last id, then each topic's stream, then
/// (with an idempotency key) each topic's key marker. ARGV: the epoch expected, history per
/// topic, history age in ms, the log's length, the key (or empty), the topics (one per line),
/// the event name, data and retry (or empty), the number of topics, and `1` for a private
/// event (or empty).
///
/// Answers `{1, id}` for a new event, `{0, id}` for a key seen on an event still in history,
/// or the error `HERALD_EPOCH` when the log is not the one this node follows (Redis lost it).
const APPEND: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('HERALD_EPOCH the log this node follows is gone')
end
local topics = tonumber(ARGV[10])
local key = ARGV[5]
if key ~= '' then
  for i = 1, topics do
    local seen = redis.call('GET', KEYS[3 + topics + i])
    if seen and #redis.call('XRANGE', KEYS[3 + i], seen, seen) > 0 then
      return {0, seen}
    end
  end
end
local prev = redis.call('GET', KEYS[3]) or '0-0'
local fields = {'t', ARGV[6], 'e', ARGV[7], 'd', ARGV[8], 'r', ARGV[9], 'k', key, 'v', ARGV[11]}
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'p', prev, unpack(fields))
redis.call('SET', KEYS[3], id)
local now = redis.call('TIME')
local expired = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[3])
local history = tonumber(ARGV[2])
for i = 1, topics do
  local stream = KEYS[3 + i]
  redis.call('XADD', stream, id, unpack(fields))
  -- XDEL, not XTRIM: Redis then records the highest id that left, which tells a reader
  -- exactly whether it missed anything. Bounded work per append; the rest goes next time.
  local excess = redis.call('XLEN', stream) - history
  for _ = 1, 64 do
    local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    if not oldest then break end
    if excess <= 0 and tonumber(string.match(oldest[1], '^(%d+)')) >= expired then break end
    redis.call('XDEL', stream, oldest[1])
    excess = excess - 1
  end
  if key ~= '' then
    redis.call('SET', KEYS[3 + topics + i], id, 'PX', ARGV[3])
  end
end
return {1, id}
";

/// Reads one topic's stream backwards: KEYS[1] the stream; ARGV the newest entry wanted
/// (inclusive), the oldest bound (`-`, or `(ID` exclusive), and how many at most. Answers the
/// highest id ever trimmed from it (`0-0` when none) and the entries, newest first.
const RANGE: &str = r"
local deleted = '0-0'
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'max-deleted-entry-id' then
      deleted = info[i + 1]
    end
  end
end
return {deleted, redis.call('XREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])}
";

/// Begins the log when Redis holds none, with Redis's own clock (the one its ids follow), in
/// one step that two starting nodes cannot both win. KEYS: the epoch, the last id. Answers
/// both.
const EPOCH: &str = r"
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('SET', KEYS[1], string.format('%d', ms), 'NX')
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
";

/// The scripts, loaded once (the crate sends each by its hash, and its source when Redis has
/// not seen it yet: after a restart, say).
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) epoch: Script,
    pub(crate) append: Script,
    pub(crate) range: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            epoch: Script::new(EPOCH),
            append: Script::new(APPEND),
            range: Script::new(RANGE),
        }
    }
}

/// One stream entry as the log writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: u64,
    /// The log entry before it (only in the log; topic streams leave it empty).
    pub(crate) prev: Option<u64>,
    /// Its topics, one per line.
    pub(crate) topics: String,
    pub(crate) event: String,
    pub(crate) data: String,
    pub(crate) retry: Option<u64>,
    pub(crate) key: String,
    /// Only for subscribers entitled to one of its topics.
    pub(crate) private: bool,
}

/// Text of a bulk or simple string reply.
pub(crate) fn text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

/// The items of an array reply.
pub(crate) fn items(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// An entry from `[id, [field, value, …]]`; `None` when it is not one of ours.
pub(crate) fn entry(value: &Value) -> Option<Entry> {
    let [id, fields] = items(value)? else {
        return None;
    };
    let mut entry = Entry {
        id: ids::from_entry(text(id)?)?,
        prev: None,
        topics: String::new(),
        event: String::new(),
        data: String::new(),
        retry: None,
        key: String::new(),
        private: false,
    };
    for pair in items(fields)?.chunks(2) {
        let [field, value] = pair else {
            return None;
        };
        let value = text(value)?;
        match text(field)? {
            "p" => {
                entry.prev = Some(if value == "0-0" {
                    0
                } else {
                    ids::from_entry(value)?
                })
            }
            "t" => value.clone_into(&mut entry.topics),
            "e" => value.clone_into(&mut entry.event),
            "d" => value.clone_into(&mut entry.data),
            "r" if !value.is_empty() => entry.retry = Some(value.parse().ok()?),
            "k" => value.clone_into(&mut entry.key),
            "v" => entry.private = value == "1",
            _ => {}
        }
    }
    Some(entry)
}

/// A `RANGE` reply: the highest id trimmed (0 when none) and the entries, oldest first.
pub(crate) fn range(value: &Value) -> Option<(u64, Vec<Entry>)> {
    let [deleted, entries] = items(value)? else {
        return None;
    };
    let deleted = match text(deleted)? {
        "0-0" => 0,
        other => ids::from_entry(other)?,
    };
    let mut entries = items(entries)?
        .iter()
        .map(entry)
        .collect::<Option<Vec<Entry>>>()?;
    entries.reverse();
    Some((deleted, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn an_entry_reads_back_with_its_fields() {
        let reply = Value::Array(vec![
            bulk("1700000000000-3"),
            Value::Array(
                [
                    "p",
                    "1700000000000-2",
                    "t",
                    "a\nb",
                    "e",
                    "",
                    "d",
                    "hi",
                    "r",
                    "",
                    "k",
                    "x",
                ]
                .into_iter()
                .map(bulk)
                .collect(),
            ),
        ]);
        let entry = entry(&reply).unwrap();
        assert_eq!(entry.id, ids::from_entry("1700000000000-3").unwrap());
        assert_eq!(entry.prev, ids::from_entry("1700000000000-2"));
        assert_eq!((entry.topics.as_str(), entry.data.as_str()), ("a\nb", "hi"));
        assert_eq!((entry.retry, entry.key.as_str()), (None, "x"));
    }

    #[test]
    fn a_range_comes_back_oldest_first_and_garbage_is_refused() {
        let one = |id: &str| Value::Array(vec![bulk(id), Value::Array(vec![bulk("d"), bulk(id)])]);
        let reply = Value::Array(vec![
            bulk("5-0"),
            Value::Array(vec![one("9-0"), one("7-0")]),
        ]);
        let (deleted, entries) = range(&reply).unwrap();
        assert_eq!(deleted, ids::from_entry("5-0").unwrap());
        assert_eq!(entries[0].data, "7-0");
        assert_eq!(range(&bulk("nonsense")), None);
    }
}
