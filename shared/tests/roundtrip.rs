//! Property tests: any event the encoder accepts — Unicode data with any mix of CR, LF, CRLF
//! and leading spaces, ids, event types, retry, interleaved heartbeats — parses back to itself
//! (data with line breaks normalised to LF) however the byte stream is cut into chunks; the
//! parser gives the same result for any cut of arbitrary bytes; and encoding never grows a
//! buffer that was reserved with `max_encoded_len`.

// Helpers outside `#[test]` functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::sample::Index;
use shared::wire::{
    Comment, EventFrame, EventId, EventName, ParsedEvent, Parser, encode_comment, encode_retry,
};

/// Cases per property: enough to hit the interesting mixes, few enough that `cargo test` stays
/// well under a few seconds in a debug build. `PROPTEST_CASES` raises it for a long run.
const CASES: u32 = 256;

/// One event as a test generates it.
#[derive(Debug, Clone)]
struct Event {
    event: Option<String>,
    id: Option<String>,
    data: String,
    retry: Option<u64>,
    /// A heartbeat comment written before the event.
    comment: Option<String>,
    /// A retry-only frame written before the event.
    retry_frame: Option<u64>,
}

/// Text made of pieces chosen to hit the edges: line breaks of every kind, spaces, colons,
/// NUL, a BOM, multi-byte characters, and any other `char`.
fn text(allow_breaks: bool, max_pieces: usize) -> impl Strategy<Value = String> {
    let breaks: &[&str] = if allow_breaks {
        &["\r", "\n", "\r\n", "\n\r", "\r\r\n"]
    } else {
        &[" "]
    };
    let piece = prop_oneof![
        3 => any::<char>().prop_map(String::from),
        1 => prop::sample::select(breaks).prop_map(str::to_owned),
        1 => prop::sample::select(&[" ", "  ", ":", ": ", "data: ", "\u{FEFF}", "é", "\u{1F600}"][..])
            .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..max_pieces).prop_map(|pieces| pieces.concat())
}

/// Text without CR and LF (and without NUL, which ids and event types refuse).
fn field_text(max_pieces: usize) -> impl Strategy<Value = String> {
    text(false, max_pieces).prop_map(|text| text.replace(['\r', '\n', '\0'], "_"))
}

fn event() -> impl Strategy<Value = Event> {
    (
        prop::option::of(field_text(6).prop_filter("event type is non-empty", |s| !s.is_empty())),
        prop::option::of(field_text(6)),
        text(true, 24),
        prop::option::of(any::<u64>()),
        prop::option::weighted(0.2, field_text(4)),
        prop::option::weighted(0.1, any::<u64>()),
    )
        .prop_map(|(event, id, data, retry, comment, retry_frame)| Event {
            event,
            id,
            data,
            retry,
            comment,
            retry_frame,
        })
}

/// Cut points: indexes into the stream, sorted when used.
fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..12)
}

fn chunks<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut parts = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for point in points {
        parts.push(&bytes[start..point]);
        start = point;
    }
    parts.push(&bytes[start..]);
    parts
}

/// The validated event type and id of a generated event (generated values are always valid).
fn fields(event: &Event) -> (Option<EventName>, Option<EventId>) {
    let name = event
        .event
        .as_deref()
        .map(|name| EventName::new(name).unwrap());
    let id = event.id.as_deref().map(|id| EventId::new(id).unwrap());
    (name, id)
}

/// The frame of a generated event.
fn frame_of<'a>(
    event: &'a Event,
    name: Option<&'a EventName>,
    id: Option<&'a EventId>,
) -> EventFrame<'a> {
    let mut frame = EventFrame::new(&event.data);
    if let Some(name) = name {
        frame = frame.event(name);
    }
    if let Some(id) = id {
        frame = frame.id(id);
    }
    if let Some(millis) = event.retry {
        frame = frame.retry(millis);
    }
    frame
}

fn encode(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        if let Some(comment) = &event.comment {
            encode_comment(&Comment::new(comment.as_str()).unwrap(), &mut out);
        }
        if let Some(millis) = event.retry_frame {
            encode_retry(millis, &mut out);
        }
        let (name, id) = fields(event);
        frame_of(event, name.as_ref(), id.as_ref()).encode_into(&mut out);
    }
    out
}

/// What the parser must give back: the default type, LF-only data, the id in force.
fn expected(events: &[Event]) -> (Vec<ParsedEvent>, String, Option<u64>) {
    let mut last_id = String::new();
    let mut retry = None;
    let parsed = events
        .iter()
        .map(|event| {
            retry = event.retry.or(event.retry_frame).or(retry);
            if let Some(id) = &event.id {
                last_id.clone_from(id);
            }
            ParsedEvent {
                event: event.event.clone().unwrap_or_else(|| "message".into()),
                data: event.data.replace("\r\n", "\n").replace('\r', "\n"),
                id: last_id.clone(),
            }
        })
        .collect();
    (parsed, last_id, retry)
}

fn parse(parts: &[&[u8]]) -> (Result<Vec<ParsedEvent>, shared::wire::ParseError>, Parser) {
    let mut parser = Parser::default();
    let mut got = Vec::new();
    for part in parts {
        if let Err(err) = parser.feed(part, &mut |event| got.push(event)) {
            return (Err(err), parser);
        }
    }
    (Ok(got), parser)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn parse_of_encode_is_identity(
        events in prop::collection::vec(event(), 0..6),
        cuts in cuts(),
    ) {
        let bytes = encode(&events);
        let (got, parser) = parse(&chunks(&bytes, &cuts));
        let (want, last_id, retry) = expected(&events);
        prop_assert_eq!(got.unwrap(), want);
        prop_assert_eq!(parser.last_event_id(), last_id.as_str());
        prop_assert_eq!(parser.retry(), retry);
    }

    #[test]
    fn any_bytes_parse_the_same_however_they_are_cut(
        bytes in prop::collection::vec(
            prop_oneof![
                3 => any::<u8>(),
                2 => prop::sample::select(&b"\r\n: dataidevent\xEF\xBB\xBF"[..]),
            ],
            0..200,
        ),
        cuts in cuts(),
    ) {
        let (whole, whole_parser) = parse(&[&bytes]);
        let (split, split_parser) = parse(&chunks(&bytes, &cuts));
        prop_assert_eq!(whole, split);
        prop_assert_eq!(whole_parser.last_event_id(), split_parser.last_event_id());
        prop_assert_eq!(whole_parser.retry(), split_parser.retry());
    }

    #[test]
    fn encoding_never_grows_a_reserved_buffer(event in event(), reused in any::<bool>()) {
        let (name, id) = fields(&event);
        let frame = frame_of(&event, name.as_ref(), id.as_ref());
        // A fresh reservation, or a buffer reused after an earlier, larger frame.
        let mut out = Vec::with_capacity(frame.max_encoded_len());
        if reused {
            out.extend_from_slice(&[b'x'; 64]);
            out.clear();
        }
        let (ptr, capacity) = (out.as_ptr(), out.capacity());
        frame.encode_into(&mut out);
        prop_assert_eq!(out.as_ptr(), ptr, "the buffer was reallocated");
        prop_assert_eq!(out.capacity(), capacity);
        // `to_vec` reserves once, exactly: one allocation per event.
        let fresh = frame.to_vec();
        prop_assert_eq!(fresh.capacity(), frame.max_encoded_len());
        prop_assert_eq!(fresh, out);
    }
}
