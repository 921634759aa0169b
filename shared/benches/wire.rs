//! Wire-format throughput: encoding and parsing 64-byte single-line events and 16 KiB events of
//! 64-byte lines. Run with `cargo bench -p shared --bench wire`; results and targets are in
//! `bench/results/protocol.md`. Short warm-up and measurement times keep a full run well under
//! two minutes on a shared two-core machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shared::wire::{EventFrame, EventId, Parser};

/// Events per parsed stream of small events: enough that per-call overhead does not dominate.
const SMALL_EVENTS_PER_STREAM: usize = 1024;
/// Large events per parsed stream.
const LARGE_EVENTS_PER_STREAM: usize = 16;
/// Bytes handed to the parser per `feed`, like one socket read; not aligned to events.
const READ_SIZE: usize = 16 * 1024;

/// 64 bytes on one line, JSON-ish like Herald's payloads.
fn small_data() -> String {
    let data = format!("{{\"topic\":\"messages\",\"text\":\"{}\"}}", "x".repeat(34));
    assert_eq!(data.len(), 64);
    data
}

/// 16 KiB: 256 lines of 63 characters, each ended by LF.
fn large_data() -> String {
    let line = format!("{}\n", "y".repeat(63));
    let data = line.repeat(256);
    assert_eq!(data.len(), 16 * 1024);
    data
}

fn stream(data: &str, count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for seq in 0..count {
        let id = EventId::from_seq(seq as u64);
        EventFrame::new(data).id(&id).encode_into(&mut out);
    }
    out
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    let id = EventId::from_seq(123_456);
    for (name, data) in [("64B", small_data()), ("16KiB", large_data())] {
        let frame = EventFrame::new(&data).id(&id);
        group.throughput(Throughput::Elements(1));
        // The server's pattern: one reusable buffer, cleared per event.
        let mut out = Vec::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                black_box(frame).encode_into(&mut out);
                black_box(out.len())
            });
        });
    }
    group.finish();
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (name, data, count) in [
        ("64B", small_data(), SMALL_EVENTS_PER_STREAM),
        ("16KiB", large_data(), LARGE_EVENTS_PER_STREAM),
    ] {
        let bytes = stream(&data, count);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut parser = Parser::default();
                let mut events = 0usize;
                for read in bytes.chunks(READ_SIZE) {
                    parser
                        .feed(black_box(read), &mut |event| {
                            events += 1;
                            black_box(event);
                        })
                        .expect("the stream is within bounds");
                }
                assert_eq!(events, count);
            });
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(40)
}

criterion_group! {
    name = benches;
    config = config();
    targets = encode, parse
}
criterion_main!(benches);
