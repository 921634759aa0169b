//! The incremental parser: the WHATWG "event stream" processing model, fed bytes in chunks of
//! any size (a chunk may end between CR and LF or inside a UTF-8 character).
//!
//! Used by tests, the load generator and any native client. Memory is bounded: a line, or the
//! event being assembled (its data so far plus the line being read), larger than the configured
//! maximum is an error, checked *before* the bytes are buffered, so no buffer ever holds more
//! than the bound.
//!
//! Speed: `data` lines are appended as raw bytes and decoded once per event. That is exact:
//! the stream is UTF-8 decoded with replacement (WHATWG "UTF-8 decode"), and because every line
//! break and the `:`/space before a value are ASCII, a byte sequence can never straddle the
//! boundary between a value and what surrounds it, so decoding the joined value bytes once gives
//! the same text as decoding the stream and then splitting it.

use memchr::{memchr, memchr2};

/// The UTF-8 byte order mark; one at the very start of the stream is skipped.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
/// The default bound on one event: 1 MiB, far above anything Herald sends (64 KiB bodies).
pub const DEFAULT_MAX_EVENT_SIZE: usize = 1 << 20;

/// An event the stream dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// The event type (`message` when the stream named none).
    pub event: String,
    /// The data lines joined with LF.
    pub data: String,
    /// The last event id in force when the event was dispatched (empty when none).
    pub id: String,
}

/// Why parsing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A line, or the event being assembled, outgrew the parser's bound.
    #[error("event larger than {limit} bytes")]
    EventTooLarge {
        /// The configured bound.
        limit: usize,
    },
}

/// An incremental event-stream parser. Feed it bytes with [`Parser::feed`].
#[derive(Debug)]
pub struct Parser {
    /// Bytes of a line whose end has not arrived yet.
    line: Vec<u8>,
    /// The last chunk ended with CR: an LF starting the next one belongs to that line break.
    after_cr: bool,
    /// How many BOM bytes have matched at the start of the stream; `None` once decided.
    bom_matched: Option<usize>,
    /// The data buffer as raw bytes, each line followed by LF; decoded once, at dispatch.
    data: Vec<u8>,
    /// The length of the last dispatched data: reserved up front for the next event's data, so
    /// a stream of similar events grows the buffer once per event instead of by doubling.
    data_hint: usize,
    event_type: String,
    last_event_id: String,
    /// The id buffer: set by `id:` lines, copied to `last_event_id` at each dispatch.
    id_buffer: String,
    retry: Option<u64>,
    max_event_size: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_SIZE)
    }
}

impl Parser {
    /// A parser refusing lines and events larger than `max_event_size` bytes.
    #[must_use]
    pub fn new(max_event_size: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            bom_matched: Some(0),
            data: Vec::new(),
            data_hint: 0,
            event_type: String::new(),
            last_event_id: String::new(),
            id_buffer: String::new(),
            retry: None,
            max_event_size,
        }
    }

    /// The last event id string: what a reconnecting client sends as `Last-Event-ID`.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time the stream asked for, in milliseconds, if it did.
    #[must_use]
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Bytes held for the event being assembled: its data so far plus the partial line. Never
    /// more than the bound given to [`Parser::new`] after a successful [`Parser::feed`].
    ///
    /// The bound counts input bytes: a dispatched event's text can be up to three times longer
    /// when the input was invalid UTF-8 (each bad byte becomes a 3-byte U+FFFD).
    #[must_use]
    pub fn pending_len(&self) -> usize {
        self.line.len() + self.data.len()
    }

    /// Parses `chunk`, passing each dispatched event to `emit`.
    ///
    /// # Errors
    /// [`ParseError::EventTooLarge`] when a line or an event outgrows the bound; the parser
    /// should then be dropped with its connection.
    pub fn feed(
        &mut self,
        mut chunk: &[u8],
        emit: &mut impl FnMut(ParsedEvent),
    ) -> Result<(), ParseError> {
        if let Some(matched) = self.bom_matched {
            chunk = self.skip_bom(matched, chunk);
        }
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(end) = memchr2(b'\r', b'\n', chunk) {
            self.check_size(self.line.len() + end)?;
            if self.line.is_empty() {
                // The common case: the whole line is in this chunk; no copy.
                self.process_line(&chunk[..end], emit);
            } else {
                self.line.extend_from_slice(&chunk[..end]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, emit);
                // Keep the allocation for the next partial line.
                self.line = line;
                self.line.clear();
            }
            let mut next = end + 1;
            if chunk[end] == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            chunk = &chunk[next..];
        }
        self.check_size(self.line.len() + chunk.len())?;
        self.line.extend_from_slice(chunk);
        Ok(())
    }

    /// Parses a whole stream at once and returns its events; the end of `bytes` is the end of
    /// the stream, so an event without its final blank line is discarded.
    ///
    /// # Errors
    /// As [`Parser::feed`].
    pub fn parse_all(&mut self, bytes: &[u8]) -> Result<Vec<ParsedEvent>, ParseError> {
        let mut events = Vec::new();
        self.feed(bytes, &mut |event| events.push(event))?;
        Ok(events)
    }

    fn skip_bom<'c>(&mut self, mut matched: usize, mut chunk: &'c [u8]) -> &'c [u8] {
        while let Some((&byte, rest)) = chunk.split_first() {
            if byte != BOM[matched] {
                // Not a BOM after all: the bytes held back are ordinary line content.
                self.line.extend_from_slice(&BOM[..matched]);
                self.bom_matched = None;
                return chunk;
            }
            matched += 1;
            chunk = rest;
            if matched == BOM.len() {
                self.bom_matched = None;
                return chunk;
            }
        }
        self.bom_matched = Some(matched);
        chunk
    }

    /// Refuses a line of `line_len` bytes before it is buffered or processed. A `data` value
    /// is shorter than its line, so passing this check also keeps the data buffer in bounds.
    fn check_size(&self, line_len: usize) -> Result<(), ParseError> {
        if line_len + self.data.len() > self.max_event_size {
            Err(ParseError::EventTooLarge {
                limit: self.max_event_size,
            })
        } else {
            Ok(())
        }
    }

    fn process_line(&mut self, line: &[u8], emit: &mut impl FnMut(ParsedEvent)) {
        if line.is_empty() {
            self.dispatch(emit);
            return;
        }
        let (field, value) = match memchr(b':', line) {
            Some(0) => return, // a comment
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.data.capacity() == 0 {
                    self.data.reserve(self.data_hint);
                }
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => self.event_type = String::from_utf8_lossy(value).into_owned(),
            // An id containing NUL is ignored (the spec, and browsers).
            b"id" if !value.contains(&0) => {
                self.id_buffer = String::from_utf8_lossy(value).into_owned();
            }
            // Only ASCII digits; an empty value is not a number either.
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let millis = value.iter().fold(0u64, |acc, digit| {
                    acc.saturating_mul(10)
                        .saturating_add(u64::from(digit - b'0'))
                });
                self.retry = Some(millis);
            }
            _ => {} // unknown fields (and refused values) are ignored
        }
    }

    fn dispatch(&mut self, emit: &mut impl FnMut(ParsedEvent)) {
        // The id is taken even when nothing is dispatched (WHATWG "dispatch the event", step 1).
        if self.last_event_id != self.id_buffer {
            self.last_event_id.clone_from(&self.id_buffer);
        }
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the LF every data line appended
        self.data_hint = data.len() + 1;
        // One validation per event; only invalid input pays for a copy.
        let data = String::from_utf8(data)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
        let event = if self.event_type.is_empty() {
            crate::event::MESSAGE.to_owned()
        } else {
            std::mem::take(&mut self.event_type)
        };
        emit(ParsedEvent {
            event,
            data,
            id: self.last_event_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: &str, data: &str, id: &str) -> ParsedEvent {
        ParsedEvent {
            event: event.into(),
            data: data.into(),
            id: id.into(),
        }
    }

    #[test]
    fn parses_whole_frames() {
        let mut parser = Parser::default();
        let events = parser
            .parse_all(b"retry: 3000\n\ndata: hello from stream\n\nevent: currentTime\nid: 2\ndata: a\ndata: b\n\n")
            .unwrap();
        assert_eq!(
            events,
            [
                event("message", "hello from stream", ""),
                event("currentTime", "a\nb", "2")
            ]
        );
        assert_eq!(parser.retry(), Some(3000));
        assert_eq!(parser.last_event_id(), "2");
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let stream = "\u{FEFF}data: é\r\n\r\nid: 1\rdata:x\r\r:c\nevent: e\ndata\n\n".as_bytes();
        let whole = Parser::default().parse_all(stream).unwrap();
        assert_eq!(
            whole,
            [
                event("message", "é", ""),
                event("message", "x", "1"),
                event("e", "", "1")
            ]
        );
        for a in 0..=stream.len() {
            for b in a..=stream.len() {
                let mut parser = Parser::default();
                let mut got = Vec::new();
                for part in [&stream[..a], &stream[a..b], &stream[b..]] {
                    parser.feed(part, &mut |e| got.push(e)).unwrap();
                }
                assert_eq!(got, whole, "split at {a}, {b}");
            }
        }
    }

    #[test]
    fn an_oversized_event_is_an_error() {
        let mut parser = Parser::new(8);
        assert_eq!(
            parser.parse_all(b"data: 0123456789\n\n"),
            Err(ParseError::EventTooLarge { limit: 8 })
        );
        let mut parser = Parser::new(8);
        assert_eq!(
            parser.feed(b"data: 01234", &mut |_| {}),
            Err(ParseError::EventTooLarge { limit: 8 })
        );
    }

    #[test]
    fn the_bound_covers_every_line_and_is_checked_before_buffering() {
        // A long `event`, `id` or comment line whole in one chunk is refused too.
        for line in [
            &b"event: 0123456789\n"[..],
            b"id: 0123456789\n",
            b":0123456789\n",
        ] {
            assert_eq!(
                Parser::new(8).parse_all(line),
                Err(ParseError::EventTooLarge { limit: 8 }),
                "{line:?}"
            );
        }
        // Data plus the line being read: 5 + 4 fits, then one more byte does not.
        let mut parser = Parser::new(9);
        parser.feed(b"data:abcd\n", &mut |_| {}).unwrap();
        parser.feed(b"da:x", &mut |_| {}).unwrap();
        assert_eq!(parser.pending_len(), 9);
        assert_eq!(
            parser.feed(b"x", &mut |_| {}),
            Err(ParseError::EventTooLarge { limit: 9 })
        );
        assert_eq!(
            parser.pending_len(),
            9,
            "nothing was buffered past the bound"
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_as_a_whole_stream_decode_would() {
        let events = Parser::default()
            .parse_all(b"data: a\xF0\x9F\nda\xFFta: x\ndata:\x80b\nevent: \xC3\n\n")
            .unwrap();
        assert_eq!(events, [event("\u{FFFD}", "a\u{FFFD}\n\u{FFFD}b", "")]);
    }
}
