//! A log-linear histogram of nanosecond values (HdrHistogram's layout, 64 sub-buckets per power
//! of two, so any value is kept within 1.6 %), with atomic counters so that every subscriber
//! task records into one shared histogram without a lock.
//!
//! Fixed size (3,776 counters, 30 KB) whatever the range: a run records millions of latencies
//! and must not keep them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two: 2^6, i.e. a bucket is at most 1/64 of its value wide.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values below `2 * SUB` are counted exactly, one bucket each.
const LINEAR: u64 = 2 * SUB;
/// Enough buckets for any `u64`.
const BUCKETS: usize = ((64 - SUB_BITS - 1) as usize) * SUB as usize + LINEAR as usize;

fn index(value: u64) -> usize {
    if value < LINEAR {
        return value as usize;
    }
    let shift = 63 - value.leading_zeros() - SUB_BITS;
    // `value >> shift` is in [SUB, 2 * SUB): the top 7 bits of the value.
    (u64::from(shift) * SUB + (value >> shift)) as usize
}

/// The smallest value counted in bucket `index`, and the bucket's width.
fn bounds(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < LINEAR {
        return (index, 1);
    }
    let shift = index / SUB - 1;
    let mantissa = index - shift * SUB;
    (mantissa << shift, 1 << shift)
}

/// Counts of values, shared by many recording tasks.
#[derive(Debug)]
pub(crate) struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    pub(crate) fn record(&self, value: u64) {
        self.counts[index(value)].fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of the counts.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            counts: self
                .counts
                .iter()
                .map(|count| count.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// Frozen counts, to compute percentiles from (and to send from one process to another).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Snapshot {
    counts: Vec<u64>,
}

impl Snapshot {
    /// Adds `other`'s counts to these: the histogram of both sets of values.
    pub(crate) fn merge(&mut self, other: &Self) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value below which a fraction `quantile` (0..=1) of the values lie: the middle of
    /// the bucket holding the value of that rank. `None` when nothing was recorded.
    pub(crate) fn quantile(&self, quantile: f64) -> Option<u64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        // The rank of the wanted value, from 1: p50 of 1..=100 is the 50th value.
        let rank = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = bounds(index);
                return Some(low + (width - 1) / 2);
            }
        }
        None
    }

    /// The largest value recorded (the top of its bucket).
    pub(crate) fn max(&self) -> Option<u64> {
        let index = self.counts.iter().rposition(|&count| count > 0)?;
        let (low, width) = bounds(index);
        Some(low + (width - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_u64() {
        let mut expected_low = 0;
        for index in 0..BUCKETS {
            let (low, width) = bounds(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert_eq!(self::index(low), index);
            assert_eq!(self::index(low + (width - 1)), index);
            expected_low = low.wrapping_add(width);
        }
        assert_eq!(expected_low, 0, "the last bucket ends at u64::MAX");
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn small_values_are_exact() {
        let histogram = Histogram::default();
        for value in [3, 3, 5, 100] {
            histogram.record(value);
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.total(), 4);
        assert_eq!(snapshot.quantile(0.5), Some(3));
        assert_eq!(snapshot.quantile(0.75), Some(5));
        assert_eq!(snapshot.quantile(1.0), Some(100));
        assert_eq!(snapshot.max(), Some(100));
    }

    #[test]
    fn percentiles_of_a_uniform_range_are_within_two_percent() {
        let histogram = Histogram::default();
        for value in 1..=100_000u64 {
            histogram.record(value * 1_000);
        }
        let snapshot = histogram.snapshot();
        for (quantile, exact) in [
            (0.5, 50_000_000.0),
            (0.99, 99_000_000.0),
            (0.999, 99_900_000.0),
        ] {
            let got = snapshot.quantile(quantile).expect("values were recorded") as f64;
            assert!(
                (got - exact).abs() / exact < 0.02,
                "p{quantile}: {got} vs {exact}"
            );
        }
        let max = snapshot.max().expect("values were recorded") as f64;
        assert!((max - 1e8).abs() / 1e8 < 0.02);
    }

    #[test]
    fn merged_snapshots_count_both_sets_of_values() {
        let (low, high) = (Histogram::default(), Histogram::default());
        for value in 1..=50 {
            low.record(value);
            high.record(value + 50);
        }
        let mut merged = Snapshot::default();
        merged.merge(&low.snapshot());
        merged.merge(&high.snapshot());
        assert_eq!(merged.total(), 100);
        assert_eq!(merged.quantile(0.5), Some(50));
        assert_eq!(merged.max(), Some(100));
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        let snapshot = Histogram::default().snapshot();
        assert_eq!(snapshot.quantile(0.5), None);
        assert_eq!(snapshot.max(), None);
    }
}
