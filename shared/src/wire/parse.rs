//! The incremental parser: the WHATWG "event stream" processing model, fed bytes in chunks of
//! any size (a chunk may end between CR and LF or inside a UTF-8 character).
//!
//! Used by tests, the load generator and any native client. Memory is bounded: an event (its
//! data plus the line being read) larger than the configured maximum is an error, never growth.

use std::borrow::Cow;

use memchr::memchr2;

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
    /// The event being assembled outgrew the parser's bound.
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
    data: String,
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
    /// A parser refusing events larger than `max_event_size` bytes.
    #[must_use]
    pub fn new(max_event_size: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            bom_matched: Some(0),
            data: String::new(),
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

    /// Parses `chunk`, passing each dispatched event to `emit`.
    ///
    /// # Errors
    /// [`ParseError::EventTooLarge`] when an event outgrows the bound; the parser should then be
    /// dropped with its connection.
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
            if self.line.is_empty() {
                self.process_line(&chunk[..end], emit)?;
            } else {
                self.line.extend_from_slice(&chunk[..end]);
                let line = std::mem::take(&mut self.line);
                let result = self.process_line(&line, emit);
                // Keep the allocation for the next partial line.
                self.line = line;
                self.line.clear();
                result?;
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
        self.line.extend_from_slice(chunk);
        self.check_size()
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

    fn check_size(&self) -> Result<(), ParseError> {
        if self.line.len() + self.data.len() > self.max_event_size {
            Err(ParseError::EventTooLarge {
                limit: self.max_event_size,
            })
        } else {
            Ok(())
        }
    }

    fn process_line(
        &mut self,
        line: &[u8],
        emit: &mut impl FnMut(ParsedEvent),
    ) -> Result<(), ParseError> {
        if line.is_empty() {
            self.dispatch(emit);
            return Ok(());
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(0) => return Ok(()), // a comment
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
                if self.data.len() > self.max_event_size {
                    return Err(ParseError::EventTooLarge {
                        limit: self.max_event_size,
                    });
                }
            }
            b"event" => self.event_type = utf8(value).into_owned(),
            // An id containing NUL is ignored, as browsers do.
            b"id" if !value.contains(&0) => self.id_buffer = utf8(value).into_owned(),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let millis = value.iter().fold(0u64, |acc, digit| {
                    acc.saturating_mul(10)
                        .saturating_add(u64::from(digit - b'0'))
                });
                self.retry = Some(millis);
            }
            _ => {} // unknown fields are ignored
        }
        Ok(())
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

fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
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
}
