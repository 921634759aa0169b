//! Golden tests: the table in `golden/cases.rs` run through the parser whole, split at every
//! byte (and every pair of bytes for short inputs) and fed one byte at a time, so each case is
//! also a test of incremental parsing — between CR and LF, inside a BOM, inside a UTF-8
//! character. A few exact-bytes checks of the encoder close the file.

// Helpers outside `#[test]` functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

#[path = "golden/cases.rs"]
mod cases;

use cases::{Case, cases};
use shared::wire::{Comment, EventFrame, EventId, EventName, ParsedEvent, Parser, encode_comment};

/// Inputs up to this length are also split at every pair of points (quadratic, so bounded).
const PAIR_SPLIT_MAX_LEN: usize = 200;

fn expected(case: &Case) -> Vec<ParsedEvent> {
    case.events
        .iter()
        .map(|&(event, data, id)| ParsedEvent {
            event: event.into(),
            data: data.into(),
            id: id.into(),
        })
        .collect()
}

/// Feeds `parts` in order and checks everything the case promises.
fn check(case: &Case, parts: &[&[u8]], how: &str) {
    let mut parser = Parser::default();
    let mut got = Vec::new();
    for part in parts {
        parser
            .feed(part, &mut |event| got.push(event))
            .unwrap_or_else(|err| panic!("{}: {how}: {err}", case.name));
    }
    assert_eq!(got, expected(case), "{}: {how}", case.name);
    assert_eq!(
        parser.last_event_id(),
        case.last_event_id,
        "{}: {how}: last event id",
        case.name
    );
    assert_eq!(parser.retry(), case.retry, "{}: {how}: retry", case.name);
}

#[test]
fn every_case_parses_whole() {
    for case in cases() {
        check(&case, &[&case.input], "whole");
    }
}

#[test]
fn every_case_parses_split_anywhere() {
    for case in cases() {
        let input = &case.input[..];
        for a in 0..=input.len() {
            check(&case, &[&input[..a], &input[a..]], &format!("split at {a}"));
        }
        if input.len() <= PAIR_SPLIT_MAX_LEN {
            for a in 0..=input.len() {
                for b in a..=input.len() {
                    let parts = [&input[..a], &input[a..b], &input[b..]];
                    check(&case, &parts, &format!("split at {a}, {b}"));
                }
            }
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        check(&case, &bytes, "one byte at a time");
    }
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<_> = cases().iter().map(|case| case.name).collect();
    names.sort_unstable();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count);
}

fn encoded(frame: EventFrame<'_>) -> String {
    String::from_utf8(frame.to_vec()).unwrap()
}

#[test]
fn encoder_golden_frames() {
    let name = EventName::new("currentTime").unwrap();
    let id = EventId::new("a b").unwrap();
    let empty_id = EventId::new("").unwrap();
    // Empty data is one empty `data` line: dispatched, with data "".
    assert_eq!(encoded(EventFrame::new("")), "data: \n\n");
    // A leading space survives because the encoder always writes one before the value.
    assert_eq!(encoded(EventFrame::new("  x")), "data:   x\n\n");
    // CR, LF and CRLF each start a new data line; a trailing break gives an empty last line.
    assert_eq!(
        encoded(EventFrame::new("1\r2\n3\r\n4\n")),
        "data: 1\ndata: 2\ndata: 3\ndata: 4\ndata: \n\n"
    );
    assert_eq!(
        encoded(EventFrame::new("d").event(&name).id(&id).retry(10)),
        "retry: 10\nevent: currentTime\nid: a b\ndata: d\n\n"
    );
    // An empty id is written, to reset the client's last event id.
    assert_eq!(
        encoded(EventFrame::new("d").id(&empty_id)),
        "id: \ndata: d\n\n"
    );
    let mut out = Vec::new();
    encode_comment(&Comment::new(" keep-alive").unwrap(), &mut out);
    assert_eq!(out, b": keep-alive\n\n");
}

#[test]
fn encoded_frames_parse_back() {
    let name = EventName::new(" spaced").unwrap();
    let id = EventId::new(" 7").unwrap();
    let frame = EventFrame::new(" a\r\nb\rc\n")
        .event(&name)
        .id(&id)
        .retry(5);
    let mut parser = Parser::default();
    let events = parser.parse_all(&frame.to_vec()).unwrap();
    assert_eq!(
        events,
        [ParsedEvent {
            event: " spaced".into(),
            data: " a\nb\nc\n".into(),
            id: " 7".into(),
        }]
    );
    assert_eq!(parser.retry(), Some(5));
    assert_eq!(
        Parser::default()
            .parse_all(&EventFrame::new("").to_vec())
            .unwrap(),
        [ParsedEvent {
            event: "message".into(),
            data: String::new(),
            id: String::new(),
        }]
    );
}

#[test]
fn field_values_that_could_forge_a_frame_are_refused() {
    for bad in ["a\nb", "a\rb", "\r\n"] {
        assert!(EventName::new(bad).is_err());
        assert!(EventId::new(bad).is_err());
        assert!(Comment::new(bad).is_err());
    }
    assert!(EventId::new("a\0").is_err());
}
