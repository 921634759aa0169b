//! Fuzz target for the incremental SSE parser: arbitrary bytes, cut into arbitrary chunks, with
//! a small event-size bound. It checks that the parser never panics, never buffers more than the
//! bound, and gives exactly the same events, errors, last event id and retry as when the same
//! bytes arrive in one piece.
//!
//! Input layout: byte 0 picks the bound (0..=1020 bytes, in steps of 4), byte 1 seeds the chunk
//! sizes, the rest is the stream. `xtask fuzz` writes the golden table in this layout as seeds.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::wire::{ParsedEvent, Parser};

/// Bytes a failed BOM match may move into the line buffer before the next size check.
const BOM_SLACK: usize = 2;
/// How much UTF-8 decoding can grow text: one invalid byte becomes U+FFFD, three bytes.
const REPLACEMENT_GROWTH: usize = 3;

/// Everything a parse produces, compared between whole and chunked feeding.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    events: Vec<ParsedEvent>,
    failed: bool,
    last_event_id: String,
    retry: Option<u64>,
}

fn parse<'a>(max: usize, chunks: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut parser = Parser::new(max);
    let mut events = Vec::new();
    let mut failed = false;
    for chunk in chunks {
        let result = parser.feed(chunk, &mut |event| {
            // Nothing dispatched is larger than the bound either, counted in input bytes:
            // decoding turns each invalid byte into at most one 3-byte U+FFFD.
            let decoded_max = max * REPLACEMENT_GROWTH;
            assert!(
                event.data.len() <= decoded_max,
                "data of {} bytes",
                event.data.len()
            );
            assert!(event.event.len() <= decoded_max.max(shared::event::MESSAGE.len()));
            assert!(event.id.len() <= decoded_max);
            events.push(event);
        });
        let pending = parser.pending_len();
        if result.is_err() {
            assert!(
                pending <= max + BOM_SLACK,
                "pending {pending} > {max} after an error"
            );
            failed = true;
            break;
        }
        assert!(pending <= max, "pending {pending} > {max}");
    }
    Outcome {
        events,
        failed,
        last_event_id: parser.last_event_id().to_owned(),
        retry: parser.retry(),
    }
}

/// Chunk lengths from a xorshift sequence: 0 (an empty read) up to 63 bytes.
fn chunked(stream: &[u8], seed: u8) -> impl Iterator<Item = &[u8]> {
    let mut state = u32::from(seed) | 0x100;
    let mut rest = stream;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (state % 64) as usize;
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        done = rest.is_empty() && chunk.is_empty();
        Some(chunk)
    })
}

fuzz_target!(|input: &[u8]| {
    let [size, seed, stream @ ..] = input else {
        return;
    };
    let max = usize::from(*size) * 4;
    let whole = parse(max, std::iter::once(stream));
    let split = parse(max, chunked(stream, *seed));
    assert_eq!(whole, split);
});
