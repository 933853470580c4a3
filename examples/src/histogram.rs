//! A latency histogram with log-linear buckets, in the spirit of HdrHistogram.
//!
//! `loadgen` records one value per request, so recording must be cheap (an index
//! computation and an increment, no allocation) and the memory fixed whatever the run
//! length. Percentiles come from bucket boundaries, so they are approximate, but with a
//! known bound.
//!
//! Layout: values are nanoseconds. Below [`LINEAR_LIMIT_NS`] (128 ns) every value has
//! its own bucket. Above it, each power of two `[2^k, 2^(k+1))` is cut into
//! [`SUB_BUCKETS`] (128) equal buckets, so a bucket is at most 1/128 of the values it
//! holds wide: **every value is known to within 0.79 %** (a percentile is reported as the
//! top of its bucket, so it may read up to 0.79 % high, never low). The range runs to
//! [`MAX_TRACKABLE_NS`] (60 s); longer values go to the top bucket but
//! [`Histogram::max`] stays exact, as do [`Histogram::min`], the count and the mean.
//!
//! ```text
//!  index  0..128        : value v (ns), exact
//!  index  128·b + s     : v in [2^(b+6), 2^(b+7)), s = top 8 bits of v minus 128
//!          (b ≥ 1)        bucket width 2^(b-1) ns
//! ```
//!
//! What it does not do: no auto-resizing, no coordinated-omission correction (a
//! closed-loop generator like `loadgen` or `wrk` sends the next request only after the
//! previous one finished, so a server stall shows up as fewer requests, not as more
//! slow ones), no interpolation inside a bucket.

use std::time::Duration;

/// Bits of the value kept below its top bit: 2^7 = 128 buckets per power of two.
const SUB_BUCKET_BITS: u32 = 7;

/// Buckets per power of two (and exact buckets below [`LINEAR_LIMIT_NS`]).
pub const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;

/// Values below this (ns) are counted exactly, one bucket each.
pub const LINEAR_LIMIT_NS: u64 = SUB_BUCKETS as u64;

/// The largest value tracked with full precision: 60 s, far beyond any sane request
/// (the pool's default total timeout is 30 s).
pub const MAX_TRACKABLE_NS: u64 = 60_000_000_000;

/// Number of buckets needed to reach [`MAX_TRACKABLE_NS`].
const BUCKETS: usize = index_of(MAX_TRACKABLE_NS) + 1;

// 3808 counters, 30 KiB: the layout stays small enough to keep one per thread.
const _: () = assert!(BUCKETS == 3808);

/// Bucket index of `v` nanoseconds (`v` ≤ [`MAX_TRACKABLE_NS`]).
const fn index_of(v: u64) -> usize {
    if v < LINEAR_LIMIT_NS {
        return v as usize;
    }
    let top_bit = 63 - v.leading_zeros(); // ≥ SUB_BUCKET_BITS
    let shift = top_bit - SUB_BUCKET_BITS;
    let mantissa = (v >> shift) as usize; // in [128, 256)
    (shift as usize + 1) * SUB_BUCKETS + (mantissa - SUB_BUCKETS)
}

/// The lowest value (ns) that falls in bucket `index`.
const fn lowest_of(index: usize) -> u64 {
    if index < SUB_BUCKETS {
        return index as u64;
    }
    let shift = (index / SUB_BUCKETS - 1) as u32;
    let mantissa = (index % SUB_BUCKETS + SUB_BUCKETS) as u64;
    mantissa << shift
}

/// The highest value (ns) that falls in bucket `index`.
const fn highest_of(index: usize) -> u64 {
    if index < SUB_BUCKETS {
        return index as u64;
    }
    let shift = (index / SUB_BUCKETS - 1) as u32;
    lowest_of(index) + (1u64 << shift) - 1
}

/// Counts of latencies in log-linear buckets; see the module docs for the precision.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.total)
            .field("min_ns", &self.min_ns)
            .field("max_ns", &self.max_ns)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram (about 30 KiB of counters, allocated once).
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    /// Records one latency.
    pub fn record(&mut self, d: Duration) {
        self.record_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records one value in nanoseconds.
    pub fn record_ns(&mut self, ns: u64) {
        self.counts[index_of(ns.min(MAX_TRACKABLE_NS))] += 1;
        self.total += 1;
        self.sum_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds every value of `other` (per-thread histograms merged after a run).
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The smallest value recorded, exact (zero when empty).
    pub fn min(&self) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.min_ns)
    }

    /// The largest value recorded, exact (zero when empty).
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    /// The arithmetic mean, exact (zero when empty).
    pub fn mean(&self) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let ns = self.sum_ns / u128::from(self.total);
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// The value below or at which `percent` % of the recorded values lie (`percent` in
    /// 0..=100), as the top of its bucket and never above the exact maximum. Zero when
    /// empty.
    pub fn percentile(&self, percent: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let fraction = (percent / 100.0).clamp(0.0, 1.0);
        // The rank of the wanted value, 1-based: at least the first value. The small
        // epsilon keeps float noise (0.99 × 10 000 = 9900.000…01) from skipping a rank.
        let rank = ((fraction * self.total as f64 - 1e-9).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (index, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let top = highest_of(index).min(self.max_ns).max(self.min_ns);
                return Duration::from_nanos(top);
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_once_and_tile_the_range() {
        assert_eq!(lowest_of(0), 0);
        for index in 0..BUCKETS - 1 {
            assert!(lowest_of(index) <= highest_of(index), "bucket {index}");
            assert_eq!(
                highest_of(index) + 1,
                lowest_of(index + 1),
                "gap or overlap after bucket {index}"
            );
        }
        assert!(highest_of(BUCKETS - 1) >= MAX_TRACKABLE_NS);
    }

    #[test]
    fn every_value_lands_in_a_bucket_within_one_percent() {
        // Every power of two and its neighbours, plus a sweep with an odd stride.
        let mut values: Vec<u64> = (0..36)
            .flat_map(|k| {
                let p = 1u64 << k;
                [p - 1, p, p + 1]
            })
            .collect();
        let mut v = 1u64;
        while v < MAX_TRACKABLE_NS {
            values.push(v);
            v = v * 1009 / 1000 + 7;
        }
        for v in values.into_iter().filter(|&v| v <= MAX_TRACKABLE_NS) {
            let i = index_of(v);
            let (lo, hi) = (lowest_of(i), highest_of(i));
            assert!(lo <= v && v <= hi, "{v} outside bucket {i} [{lo}, {hi}]");
            let width = (hi - lo + 1) as f64;
            assert!(
                v < LINEAR_LIMIT_NS && width == 1.0 || width / lo as f64 <= 1.0 / 128.0,
                "{v}: bucket [{lo}, {hi}] is {:.3} % wide",
                100.0 * width / lo as f64
            );
        }
    }

    #[test]
    fn one_microsecond_and_sixty_seconds_are_precise() {
        for v in [1_000, 60_000_000_000u64] {
            let i = index_of(v);
            let width = (highest_of(i) - lowest_of(i) + 1) as f64;
            assert!(width / v as f64 <= 0.01, "{v}");
        }
    }

    /// Percentiles of a known distribution: 1..=10_000 µs, each once.
    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut h = Histogram::new();
        for us in 1..=10_000u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 10_000);
        for (p, want_us) in [
            (50.0, 5_000.0),
            (90.0, 9_000.0),
            (99.0, 9_900.0),
            (99.9, 9_990.0),
            (100.0, 10_000.0),
        ] {
            let got = h.percentile(p).as_nanos() as f64 / 1000.0;
            assert!(
                got >= want_us && got <= want_us * 1.008,
                "p{p}: got {got} µs, want {want_us} µs (+0.8 %)"
            );
        }
        assert_eq!(h.min(), Duration::from_micros(1));
        assert_eq!(h.max(), Duration::from_micros(10_000));
        assert_eq!(h.mean(), Duration::from_nanos(5_000_500));
    }

    /// A bimodal distribution: 99 % fast, 1 % slow; the tail percentiles see the slow mode.
    #[test]
    fn percentiles_of_a_bimodal_distribution() {
        let mut h = Histogram::new();
        for _ in 0..9_900 {
            h.record(Duration::from_micros(50));
        }
        for _ in 0..100 {
            h.record(Duration::from_millis(20));
        }
        let within = |d: Duration, want: Duration| {
            let (d, want) = (d.as_nanos() as f64, want.as_nanos() as f64);
            d >= want && d <= want * 1.008
        };
        assert!(within(h.percentile(50.0), Duration::from_micros(50)));
        assert!(within(h.percentile(99.0), Duration::from_micros(50)));
        assert!(within(h.percentile(99.9), Duration::from_millis(20)));
        assert_eq!(h.percentile(100.0), Duration::from_millis(20));
    }

    #[test]
    fn single_value_percentiles_are_exact_and_empty_is_zero() {
        let mut h = Histogram::new();
        assert_eq!(h.percentile(50.0), Duration::ZERO);
        assert_eq!(h.mean(), Duration::ZERO);
        assert_eq!(h.min(), Duration::ZERO);
        h.record(Duration::from_nanos(123_457));
        for p in [0.0, 50.0, 99.9, 100.0] {
            assert_eq!(h.percentile(p), Duration::from_nanos(123_457), "p{p}");
        }
    }

    #[test]
    fn values_past_the_range_keep_an_exact_max() {
        let mut h = Histogram::new();
        h.record(Duration::from_secs(3600));
        h.record(Duration::from_micros(10));
        assert_eq!(h.max(), Duration::from_secs(3600));
        assert!(h.percentile(100.0) >= Duration::from_secs(60));
        assert_eq!(h.count(), 2);
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for i in 0..5_000u64 {
            let d = Duration::from_nanos(1_000 + i * 997);
            if i % 3 == 0 {
                a.record(d);
            } else {
                b.record(d);
            }
            all.record(d);
        }
        a.merge(&b);
        assert_eq!(a.count(), all.count());
        for p in [1.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
            assert_eq!(a.percentile(p), all.percentile(p), "p{p}");
        }
        assert_eq!(
            (a.min(), a.max(), a.mean()),
            (all.min(), all.max(), all.mean())
        );
    }
}
