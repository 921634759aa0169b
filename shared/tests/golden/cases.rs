//! The golden table: input bytes of an event stream and what a spec-exact parser must make of
//! them. Plain data with no dependency on `shared`, so `xtask fuzz` can include this file too and
//! write every input as a seed of the fuzz corpus.
//!
//! Written by us from the WHATWG processing model; the cases follow the spec's own examples and
//! the byte-level situations exercised by the web-platform-tests `eventsource/format-*` tests.

/// One dispatched event: (event type, data, last event id).
pub(crate) type Event = (&'static str, &'static str, &'static str);

/// One row of the table.
pub(crate) struct Case {
    /// What the row checks; printed when it fails.
    pub(crate) name: &'static str,
    /// The whole stream; its end is the end of the stream.
    pub(crate) input: Vec<u8>,
    /// Every event dispatched, in order.
    pub(crate) events: Vec<Event>,
    /// The last event id string at the end of the stream.
    pub(crate) last_event_id: &'static str,
    /// The reconnection time at the end of the stream.
    pub(crate) retry: Option<u64>,
}

fn case(
    name: &'static str,
    input: impl Into<Vec<u8>>,
    events: &[Event],
    last_event_id: &'static str,
    retry: Option<u64>,
) -> Case {
    Case {
        name,
        input: input.into(),
        events: events.to_vec(),
        last_event_id,
        retry,
    }
}

/// A comment long enough to cross any small read buffer.
fn long_comment(len: usize) -> Vec<u8> {
    let mut line = vec![b':'];
    line.resize(len + 1, b'x');
    line
}

/// The table.
#[allow(clippy::too_many_lines)] // one row per case reads best as one list
pub(crate) fn cases() -> Vec<Case> {
    const M: &str = "message";
    vec![
        // --- The spec's examples ---------------------------------------------------------
        case(
            "spec: three messages, one of two lines",
            "data: This is the first message.\n\n\
             data: This is the second message, it\ndata: has two lines.\n\n\
             data: This is the third message.\n\n",
            &[
                (M, "This is the first message.", ""),
                (M, "This is the second message, it\nhas two lines.", ""),
                (M, "This is the third message.", ""),
            ],
            "",
            None,
        ),
        case(
            "spec: event types",
            "event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
            &[
                ("add", "73857293", ""),
                ("remove", "2153", ""),
                ("add", "113411", ""),
            ],
            "",
            None,
        ),
        case(
            "spec: stock ticker, data lines joined with LF",
            "data: YHOO\ndata: +2\ndata: 10\n\n",
            &[(M, "YHOO\n+2\n10", "")],
            "",
            None,
        ),
        case(
            "spec: comment, id set then reset by a bare `id`, two leading spaces keep one",
            ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
            &[
                (M, "first event", "1"),
                (M, "second event", ""),
                (M, " third event", ""),
            ],
            "",
            None,
        ),
        case(
            "spec: `data` without colon; the unterminated last event is discarded",
            "data\n\ndata\ndata\n\ndata:",
            &[(M, "", ""), (M, "\n", "")],
            "",
            None,
        ),
        case(
            "spec: the space after the colon is optional",
            "data:test\n\ndata: test\n\n",
            &[(M, "test", ""), (M, "test", "")],
            "",
            None,
        ),
        // --- Comments (format-comments) --------------------------------------------------
        case(
            "comments between data lines, with NUL, every line ending, and long ones",
            [
                &b"data:1\r:\0\n:\r\ndata:2\n"[..],
                &long_comment(3000),
                b"\rdata:3\n:data:fail\r",
                &long_comment(3000),
                b"\ndata:4\n\n",
            ]
            .concat(),
            &[(M, "1\n2\n3\n4", "")],
            "",
            None,
        ),
        case(
            "a stream of heartbeats only dispatches nothing",
            ":\n\n: keep-alive\n\n:\r\n\r\n",
            &[],
            "",
            None,
        ),
        // --- Byte order mark (format-bom, format-bom-2) ----------------------------------
        case(
            "one leading BOM is stripped; a later one is part of a field name",
            "\u{FEFF}data:1\n\n\u{FEFF}data:2\n\ndata:3\n\n",
            &[(M, "1", ""), (M, "3", "")],
            "",
            None,
        ),
        case(
            "only the first of two leading BOMs is stripped",
            "\u{FEFF}\u{FEFF}data:1\n\ndata:2\n\ndata:3\n\n",
            &[(M, "2", ""), (M, "3", "")],
            "",
            None,
        ),
        case(
            "a BOM in data is kept",
            "data:\u{FEFF}x\n\n",
            &[(M, "\u{FEFF}x", "")],
            "",
            None,
        ),
        case(
            "the first bytes of a BOM that is not one are line content",
            b"\xEF\xBBdata:1\n\ndata:2\n\n".to_vec(),
            &[(M, "2", "")],
            "",
            None,
        ),
        case("a stream that is only a BOM", "\u{FEFF}", &[], "", None),
        case("an empty stream", "", &[], "", None),
        // --- Line endings ----------------------------------------------------------------
        case(
            "lone CR ends lines and, doubled, events",
            "data:a\rdata:b\r\rdata:c\r\r",
            &[(M, "a\nb", ""), (M, "c", "")],
            "",
            None,
        ),
        case(
            "CRLF, LF and CR mixed in one stream",
            "data:1\r\ndata:2\ndata:3\r\r\ndata:4\n\r\ndata:5\r\n\n",
            &[(M, "1\n2\n3", ""), (M, "4", ""), (M, "5", "")],
            "",
            None,
        ),
        case(
            "LF CR is two line ends",
            "data:x\n\rdata:y\n\n",
            &[(M, "x", ""), (M, "y", "")],
            "",
            None,
        ),
        case(
            "a final CR completes the blank line",
            "data:x\n\r",
            &[(M, "x", "")],
            "",
            None,
        ),
        case(
            "blank lines with nothing buffered dispatch nothing",
            "\n\n\r\n\r\r",
            &[],
            "",
            None,
        ),
        // --- Field names and values (format-field-parsing and friends) ---------------------
        case(
            "field names are exact: odd case, NUL, spaces and punctuation are unknown fields",
            "data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\r\
             data:\r\n data:32\ndata:4\n\n",
            &[(M, "\0\n 2\n1\n3\n\n4", "")],
            "",
            None,
        ),
        case(
            "`data :` (space before the colon) is an unknown field",
            "data : x\ndata:y\n\n",
            &[(M, "y", "")],
            "",
            None,
        ),
        case(
            "exactly one leading space is removed; tabs and trailing spaces are kept",
            "data:  two\ndata:\tTab\ndata:   \ndata: end \n\n",
            &[(M, " two\n\tTab\n  \nend ", "")],
            "",
            None,
        ),
        case(
            "a colon inside the value is content",
            "data: a: b\ndata::\n\n",
            &[(M, "a: b\n:", "")],
            "",
            None,
        ),
        case(
            "NUL in data is kept (format-null-character)",
            "data:\0\n\n",
            &[(M, "\0", "")],
            "",
            None,
        ),
        case(
            "data is always UTF-8 (format-utf-8)",
            "data:ok\u{2026}\n\n",
            &[(M, "ok\u{2026}", "")],
            "",
            None,
        ),
        case(
            "invalid UTF-8 becomes U+FFFD",
            b"data: \xFF\xC3\ndata:\xE2\x82\n\n".to_vec(),
            &[(M, "\u{FFFD}\u{FFFD}\n\u{FFFD}", "")],
            "",
            None,
        ),
        case(
            "unknown fields are ignored, with or without a value",
            "foo: bar\ndata: x\nbaz\nDATA: y\n\nfoo\n\n",
            &[(M, "x", "")],
            "",
            None,
        ),
        // --- event (format-field-event, format-field-event-empty) --------------------------
        case(
            "a custom type, then the default again",
            "event:test\ndata:x\n\ndata:x\n\n",
            &[("test", "x", ""), (M, "x", "")],
            "",
            None,
        ),
        case(
            "an empty `event` means `message`",
            "event: \ndata:data\n\nevent\ndata:d2\n\n",
            &[(M, "data", ""), (M, "d2", "")],
            "",
            None,
        ),
        case(
            "the last `event` wins; a leading space past the first is kept",
            "event: a\nevent:  b\ndata: x\n\n",
            &[(" b", "x", "")],
            "",
            None,
        ),
        case(
            "an event type without data is dropped with the event",
            "event: lost\n\ndata: x\n\n",
            &[(M, "x", "")],
            "",
            None,
        ),
        // --- id (format-field-id, -2, -3, -null) -------------------------------------------
        case(
            "an id persists across events until changed",
            "id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\ndata: d\n\n",
            &[(M, "a", "1"), (M, "b", "1"), (M, "c", "2"), (M, "d", "2")],
            "2",
            None,
        ),
        case(
            "an empty id resets the last event id, with or without a colon",
            "id: 1\ndata: a\n\nid:\ndata: b\n\nid: 3\ndata: c\n\nid\ndata: d\n\n",
            &[(M, "a", "1"), (M, "b", ""), (M, "c", "3"), (M, "d", "")],
            "",
            None,
        ),
        case(
            "an id containing NUL is ignored",
            "id: 1\ndata: a\n\nid: a\0b\ndata: b\n\nid:\0\n\n",
            &[(M, "a", "1"), (M, "b", "1")],
            "1",
            None,
        ),
        case(
            "non-ASCII ids and their spaces are kept",
            "id:  \u{2026} x \ndata\n\n",
            &[(M, "", " \u{2026} x ")],
            " \u{2026} x ",
            None,
        ),
        case(
            "the last event id is set at dispatch even when no event is dispatched",
            "id: 5\n\nid: 6\nevent: e\n\n",
            &[],
            "6",
            None,
        ),
        case(
            "an id line without its blank line never takes effect",
            "data: a\nid: 1\n\nid: 2\ndata: b\n",
            &[(M, "a", "1")],
            "1",
            None,
        ),
        // --- retry (format-field-retry, -bogus) ----------------------------------------------
        case(
            "retry with a leading zero is decimal",
            "retry:03000\ndata:x\n\n",
            &[(M, "x", "")],
            "",
            Some(3000),
        ),
        case(
            "a bogus retry leaves the earlier one in force",
            "retry:2000\nretry:1000x\ndata:x\n\n",
            &[(M, "x", "")],
            "",
            Some(2000),
        ),
        case(
            "empty, signed, spaced, fractional and non-ASCII retries are ignored",
            "retry\nretry:\nretry: \nretry:-1\nretry:+1\nretry:  10\nretry: 1 0\nretry:1.5\n\
             retry:\u{0661}\nretry:10 \ndata:x\n\n",
            &[(M, "x", "")],
            "",
            None,
        ),
        case(
            "retry takes effect at once, without a blank line or data",
            "retry: 0\n\nretry: 7",
            &[],
            "",
            Some(0),
        ),
        case(
            "a retry beyond u64 saturates",
            "retry: 99999999999999999999999\n\n",
            &[],
            "",
            Some(u64::MAX),
        ),
        // --- End of stream (format-data-before-final-empty-line) ---------------------------
        case(
            "an event without its final blank line is discarded at the end",
            "retry:1000\ndata:test1\n\nid:test\ndata:test2",
            &[(M, "test1", "")],
            "",
            Some(1000),
        ),
        case(
            "one line end is not enough to dispatch",
            "data:x\n",
            &[],
            "",
            None,
        ),
        case(
            "a trailing lone CR ends the line but not the event",
            "data:x\r",
            &[],
            "",
            None,
        ),
        // --- Herald's own frames -----------------------------------------------------------
        case(
            "what Herald's encoder writes: retry, welcome, a ticked clock and an empty event",
            "retry: 3000\n\ndata: hello from stream\n\n:\n\nevent: currentTime\nid: 7\n\
             data: {\"t\":1}\n\nid: 8\ndata: \n\n",
            &[
                (M, "hello from stream", ""),
                ("currentTime", "{\"t\":1}", "7"),
                (M, "", "8"),
            ],
            "8",
            Some(3000),
        ),
    ]
}
