//! A property of the hub: whatever the grants, subscriptions and events, each subscriber
//! receives exactly the events it is entitled to (on one of its topics, and public or granted),
//! in order, live and resumed after any of them.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use proptest::prelude::*;
use shared::TopicName;
use shared::wire::{ParsedEvent, Parser};

use super::Hub;
use super::log::NewEvent;
use super::memory::{LogLimits, MemoryLog};
use super::subscriber::{Next, Subscriber};
use crate::selector::Selectors;

const TOPICS: [&str; 3] = ["a", "b", "c"];

/// A non-empty subset of [`TOPICS`], from three bits.
fn subset(bits: u8) -> Vec<&'static str> {
    let chosen: Vec<&str> = TOPICS
        .iter()
        .enumerate()
        .filter(|(index, _)| bits & (1 << index) != 0)
        .map(|(_, topic)| *topic)
        .collect();
    if chosen.is_empty() { vec!["a"] } else { chosen }
}

#[derive(Debug, Clone)]
struct Reader {
    topics: u8,
    /// `None`: anonymous; `Some(0)`: a token granting nothing; `Some(8)`: `*`.
    grants: Option<u8>,
}

impl Reader {
    fn selectors(&self) -> Option<Arc<Selectors>> {
        self.grants.map(|bits| {
            let list = match bits {
                0 => Vec::new(),
                8.. => vec!["*"],
                bits => subset(bits),
            };
            Arc::new(Selectors::parse(list).unwrap())
        })
    }

    fn entitled(&self, (topics, private): &(u8, bool)) -> bool {
        let mine = subset(self.topics);
        let theirs = subset(*topics);
        let on_mine = theirs.iter().any(|topic| mine.contains(topic));
        let granted = match self.grants {
            None | Some(0) => false,
            Some(8..) => true,
            Some(bits) => theirs.iter().any(|topic| subset(bits).contains(topic)),
        };
        on_mine && (!private || granted)
    }
}

fn names(list: &[&str]) -> Vec<TopicName> {
    TopicName::list(list).unwrap()
}

/// Everything the subscriber can read now, as events (the welcome left out).
fn drain(subscriber: &mut Subscriber) -> Vec<ParsedEvent> {
    let mut parser = Parser::default();
    let mut events = Vec::new();
    while let Next::Chunk { bytes, .. } = subscriber.read() {
        parser
            .feed(&bytes, &mut |event| events.push(event))
            .unwrap();
    }
    events.retain(|event| event.data != shared::names::WELCOME_TEXT);
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn each_subscriber_gets_exactly_what_it_is_entitled_to_in_order(
        readers in prop::collection::vec(
            (1u8..8, prop::option::of(0u8..9)).prop_map(|(topics, grants)| Reader { topics, grants }),
            1..6,
        ),
        events in prop::collection::vec((1u8..8, any::<bool>()), 1..30),
        resume_at in any::<prop::sample::Index>(),
    ) {
        let log = MemoryLog::new(LogLimits {
            history_len: 100,
            history_age: Duration::from_secs(3600),
            history_bytes: usize::MAX,
            max_topics: 10,
        });
        let hub = Arc::new(Hub::new(Arc::new(log), 4, Duration::from_secs(2)));
        let subscribe = |reader: &Reader, last: Option<&str>| {
            hub.subscribe(&names(&subset(reader.topics)), last.map(str::as_bytes), reader.selectors())
                .now_or_never()
                .unwrap()
                .unwrap()
                .subscriber
        };
        let mut live: Vec<Subscriber> = readers.iter().map(|reader| subscribe(reader, None)).collect();
        let mut ids = Vec::new();
        for (n, (topics, private)) in events.iter().enumerate() {
            let topics = names(&subset(*topics));
            let data = n.to_string();
            let event = NewEvent { private: *private, ..NewEvent::new(&topics, None, &data) };
            ids.push(hub.publish(&event).now_or_never().unwrap().unwrap().id().to_string());
        }
        let from = resume_at.index(events.len());
        for (reader, subscriber) in readers.iter().zip(&mut live) {
            let wanted: Vec<String> = (0..events.len())
                .filter(|n| reader.entitled(&events[*n]))
                .map(|n| n.to_string())
                .collect();
            let got: Vec<String> = drain(subscriber).into_iter().map(|event| event.data).collect();
            prop_assert_eq!(&got, &wanted, "live");
            let mut resumed = subscribe(reader, Some(&ids[from]));
            let wanted_after: Vec<String> = (from + 1..events.len())
                .filter(|n| reader.entitled(&events[*n]))
                .map(|n| n.to_string())
                .collect();
            let got: Vec<String> = drain(&mut resumed).into_iter().map(|event| event.data).collect();
            prop_assert_eq!(got, wanted_after, "resumed");
        }
    }
}
