//! Event ids on the shared log: a Redis stream entry id `MS-SEQ` read as one number that orders
//! the same way, with odd numbers left free for marks (a welcome's id between two events).

/// Ids per millisecond: room for `SEQ` up to half of it, which no Redis reaches in a
/// millisecond, and the decimal id still reads as `MS` followed by six digits.
const PER_MS: u64 = 1_000_000;

/// The id of the stream entry `MS-SEQ`, or `None` when `text` is not one (or out of range).
#[must_use]
pub(crate) fn from_entry(text: &str) -> Option<u64> {
    let (ms, seq) = text.split_once('-')?;
    let (ms, seq) = (ms.parse::<u64>().ok()?, seq.parse::<u64>().ok()?);
    if seq >= PER_MS / 2 {
        return None;
    }
    ms.checked_mul(PER_MS)?.checked_add(seq * 2)
}

/// The stream entry id of event `id`; for a mark (odd), of the event just before it, so that
/// reading from it exclusively reads what follows the mark.
#[must_use]
pub(crate) fn to_entry(id: u64) -> String {
    format!("{}-{}", id / PER_MS, (id % PER_MS) / 2)
}

/// The millisecond an id was handed out in.
#[must_use]
pub(crate) fn millis(id: u64) -> u64 {
    id / PER_MS
}

/// The position before every event of an epoch begun at `epoch_ms`: even, so that a mark
/// after it is odd, and below `epoch_ms-0`, the first entry the epoch can hold.
#[must_use]
pub(crate) fn floor(epoch_ms: u64) -> u64 {
    epoch_ms.saturating_mul(PER_MS).saturating_sub(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_become_even_ids_in_the_same_order_and_back() {
        let ids: Vec<u64> = ["1700000000000-0", "1700000000000-1", "1700000000001-0"]
            .iter()
            .map(|text| from_entry(text).unwrap())
            .collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(ids.iter().all(|id| id % 2 == 0));
        assert_eq!(to_entry(ids[1]), "1700000000000-1");
        assert_eq!(
            to_entry(ids[1] + 1),
            "1700000000000-1",
            "a mark reads after its event"
        );
        assert_eq!(millis(ids[2]), 1_700_000_000_001);
    }

    #[test]
    fn what_is_not_an_entry_id_is_refused() {
        for text in [
            "",
            "12",
            "a-1",
            "1-b",
            "1-500000",
            "99999999999999999-0",
            "-1",
        ] {
            assert_eq!(from_entry(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_floor_is_below_the_first_entry_of_its_epoch_and_even() {
        let epoch = 1_700_000_000_000;
        let first = from_entry(&format!("{epoch}-0")).unwrap();
        assert!(floor(epoch) < first);
        assert_eq!(floor(epoch) % 2, 0);
        assert!(floor(epoch) > from_entry(&format!("{}-400000", epoch - 1)).unwrap());
    }
}
