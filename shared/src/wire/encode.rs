//! The encoder: turns an event into the exact bytes of one SSE frame.
//!
//! `data` is split on CR, LF and CRLF (the three line breaks the parser recognises), each line
//! getting its own `data: ` line, so no payload can end a frame early or forge a field. Event
//! types, ids and comments are validated types ([`EventName`], [`EventId`], [`Comment`]) and
//! `retry` is a number, so every field is safe by construction.
//!
//! Every value is written after `field: ` — a colon and one space — because the parser removes
//! exactly one leading space: a value that itself starts with a space keeps it.
//!
//! Empty `data` encodes to a single `data: ` line; a browser dispatches it as an event whose data
//! is the empty string (the data buffer holds one LF, which is then stripped).

use memchr::{memchr2, memchr2_iter};

use super::field::{Comment, EventId, EventName};

/// Bytes a `data: ` line adds around its text: the prefix and the closing LF.
const DATA_LINE_OVERHEAD: usize = b"data: \n".len();
/// Longest decimal text of a `u64`.
const MAX_U64_DIGITS: usize = 20;

/// One event, ready to encode. Build it with [`EventFrame::new`] and the setters.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct EventFrame<'a> {
    event: Option<&'a EventName>,
    id: Option<&'a EventId>,
    data: &'a str,
    retry: Option<u64>,
}

impl<'a> EventFrame<'a> {
    /// An event of the default type (`message`) carrying `data`.
    pub fn new(data: &'a str) -> Self {
        Self {
            event: None,
            id: None,
            data,
            retry: None,
        }
    }

    /// Sets the event type.
    pub fn event(mut self, event: &'a EventName) -> Self {
        self.event = Some(event);
        self
    }

    /// Sets the event id.
    pub fn id(mut self, id: &'a EventId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the reconnection time hint, in milliseconds.
    pub fn retry(mut self, millis: u64) -> Self {
        self.retry = Some(millis);
        self
    }

    /// An upper bound on the encoded length, tight enough to reserve once.
    #[must_use]
    pub fn max_encoded_len(&self) -> usize {
        let breaks = memchr2_iter(b'\r', b'\n', self.data.as_bytes()).count();
        let mut len = self.data.len() + (breaks + 1) * DATA_LINE_OVERHEAD + 1;
        if let Some(event) = self.event {
            len += b"event: \n".len() + event.as_str().len();
        }
        if let Some(id) = self.id {
            len += b"id: \n".len() + id.as_str().len();
        }
        if self.retry.is_some() {
            len += b"retry: \n".len() + MAX_U64_DIGITS;
        }
        len
    }

    /// Appends the frame to `out`, growing it at most once.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.max_encoded_len());
        if let Some(millis) = self.retry {
            out.extend_from_slice(b"retry: ");
            push_decimal(out, millis);
            out.push(b'\n');
        }
        if let Some(event) = self.event {
            push_field(out, b"event: ", event.as_str().as_bytes());
        }
        if let Some(id) = self.id {
            push_field(out, b"id: ", id.as_str().as_bytes());
        }
        let data = self.data.as_bytes();
        let mut start = 0;
        while let Some(offset) = memchr2(b'\r', b'\n', &data[start..]) {
            let end = start + offset;
            push_field(out, b"data: ", &data[start..end]);
            start = end + 1;
            if data[end] == b'\r' && data.get(start) == Some(&b'\n') {
                start += 1;
            }
        }
        push_field(out, b"data: ", &data[start..]);
        out.push(b'\n');
    }

    /// The frame as a new buffer: exactly one allocation.
    #[must_use]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

/// Appends a comment frame (`:text`, then a blank line), as used for heartbeats.
pub fn encode_comment(comment: &Comment, out: &mut Vec<u8>) {
    push_field(out, b":", comment.as_str().as_bytes());
    out.push(b'\n');
}

/// Appends a frame that only sets the client's reconnection time, in milliseconds.
pub fn encode_retry(millis: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(b"retry: ");
    push_decimal(out, millis);
    out.extend_from_slice(b"\n\n");
}

fn push_field(out: &mut Vec<u8>, prefix: &[u8], value: &[u8]) {
    out.extend_from_slice(prefix);
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; MAX_U64_DIGITS];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `value % 10` is below 10, so the cast cannot truncate.
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(frame: EventFrame<'_>) -> String {
        String::from_utf8(frame.to_vec()).unwrap()
    }

    #[test]
    fn default_event_is_one_data_line_and_a_blank_line() {
        assert_eq!(
            encode(EventFrame::new("hello from stream")),
            "data: hello from stream\n\n"
        );
    }

    #[test]
    fn every_line_break_kind_starts_a_new_data_line() {
        assert_eq!(
            encode(EventFrame::new("a\nb\rc\r\nd")),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(
            encode(EventFrame::new("\r\n\n")),
            "data: \ndata: \ndata: \n\n"
        );
        assert_eq!(encode(EventFrame::new("x\r")), "data: x\ndata: \n\n");
    }

    #[test]
    fn all_fields_in_a_fixed_order() {
        let name = EventName::new("currentTime").unwrap();
        let id = EventId::from_seq(7);
        assert_eq!(
            encode(EventFrame::new(" lead").event(&name).id(&id).retry(3000)),
            "retry: 3000\nevent: currentTime\nid: 7\ndata:  lead\n\n"
        );
    }

    #[test]
    fn empty_data_is_one_empty_data_line() {
        assert_eq!(encode(EventFrame::new("")), "data: \n\n");
    }

    #[test]
    fn comments_and_retry_frames() {
        let mut out = Vec::new();
        encode_comment(&Comment::new("").unwrap(), &mut out);
        encode_retry(0, &mut out);
        encode_retry(u64::MAX, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            ":\n\nretry: 0\n\nretry: 18446744073709551615\n\n"
        );
    }

    #[test]
    fn the_reservation_is_never_exceeded() {
        let name = EventName::new("e").unwrap();
        let id = EventId::from_seq(u64::MAX);
        for data in ["", "a", "\r\n\r\n", "\n\n\n", "x\ry\nz", "é\r\nü"] {
            let frame = EventFrame::new(data).event(&name).id(&id).retry(u64::MAX);
            let out = frame.to_vec();
            assert!(out.len() <= frame.max_encoded_len(), "{data:?}");
        }
    }
}
