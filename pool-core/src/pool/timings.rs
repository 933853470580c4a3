//! Latency histograms of a host: connect, TLS handshake, wait for a connection, time to
//! first byte and total ([`Timings`]), each a [`Histogram`] with fixed buckets.
//!
//! # What this module owns
//!
//! The bucket bounds ([`Histogram::BOUNDS`]) and recording a duration: find the first
//! bound it does not exceed (a binary search over 18 numbers) and add to three integers.
//! That is cheap enough to do for every request on the engine thread, which is where
//! it happens, without a lock and without allocating.
//!
//! # What it deliberately does not do
//!
//! No percentiles and no adaptive buckets: a fixed set of bounds is what Prometheus
//! histograms are made of (percentiles are computed by the server, across processes,
//! from the buckets), and a fixed-size array keeps a snapshot a plain copy. For exact
//! percentiles of one run, `loadgen` keeps its own HdrHistogram.

use std::time::Duration;

/// How many bucket bounds a [`Histogram`] has (an overflow bucket follows them).
const BOUND_COUNT: usize = 18;

/// Counts of durations in fixed buckets, plus their number and sum: the shape of a
/// Prometheus histogram.
///
/// Buckets are bounded above by [`Histogram::BOUNDS`] (25 µs to 10 s, roughly 1-2.5-5
/// per decade, from loopback round trips to slow servers); a duration equal to a bound
/// counts in that bound's bucket, and anything over 10 s in the overflow bucket (`+Inf`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Histogram {
    /// Per bucket (not cumulative); the last one is the overflow bucket.
    counts: [u64; BOUND_COUNT + 1],
    /// Durations recorded.
    count: u64,
    /// Their sum, in nanoseconds (saturating: 584 years).
    sum_nanos: u64,
}

impl Histogram {
    /// The upper bounds of the buckets, in microseconds.
    const BOUNDS_MICROS: [u64; BOUND_COUNT] = [
        25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
        500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
    ];

    /// The upper bounds of the buckets, smallest first (the overflow bucket, `+Inf`, is
    /// not listed).
    pub const BOUNDS: [Duration; BOUND_COUNT] = {
        let mut bounds = [Duration::ZERO; BOUND_COUNT];
        let mut i = 0;
        while i < BOUND_COUNT {
            bounds[i] = Duration::from_micros(Self::BOUNDS_MICROS[i]);
            i += 1;
        }
        bounds
    };

    /// Counts one duration.
    pub fn record(&mut self, d: Duration) {
        let micros = d.as_micros();
        // The first bound at or above `d` (a duration of 25.4 µs counts as 26 µs).
        let exact = u128::from(d.subsec_nanos() % 1_000 != 0);
        let micros = micros + exact;
        let bucket = Self::BOUNDS_MICROS.partition_point(|&b| u128::from(b) < micros);
        self.counts[bucket] += 1;
        self.count += 1;
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
    }

    /// Durations recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Their sum.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_nanos)
    }

    /// Each bucket's upper bound (`None` for the overflow bucket) and how many durations
    /// fell in it (not cumulative).
    pub fn buckets(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        Self::BOUNDS
            .iter()
            .map(|&b| Some(b))
            .chain(std::iter::once(None))
            .zip(self.counts.iter().copied())
    }

    /// The smallest bucket bound at or under which at least `q` (0..=1) of the durations
    /// fall: an upper estimate of the quantile, at bucket resolution. `None` when empty
    /// or when the quantile is in the overflow bucket.
    pub fn quantile_bound(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let want = ((self.count as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bound, n) in self.buckets() {
            seen += n;
            if seen >= want {
                return bound;
            }
        }
        None
    }

    /// Adds `other`'s counts into `self` (totals across hosts).
    pub(crate) fn add(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum_nanos = self.sum_nanos.saturating_add(other.sum_nanos);
    }
}

/// The latency histograms of a host (or of all hosts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Timings {
    /// TCP connect of each new connection (from the first attempt to the winner).
    pub connect: Histogram,
    /// TLS handshake of each new `https` connection.
    pub tls: Histogram,
    /// Per request: from submission until it had a connection
    /// ([`RequestInfo::wait`](crate::RequestInfo::wait)).
    pub wait: Histogram,
    /// Per finished request: from submission to the first response byte.
    pub ttfb: Histogram,
    /// Per finished request: from submission to the end of the body.
    pub total: Histogram,
}

impl Timings {
    /// Adds `other` into `self`.
    pub(crate) fn add(&mut self, other: &Timings) {
        self.connect.add(&other.connect);
        self.tls.add(&other.tls);
        self.wait.add(&other.wait);
        self.ttfb.add(&other.ttfb);
        self.total.add(&other.total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_the_first_bucket_at_or_above_them() {
        let cases = [
            (Duration::ZERO, Some(Duration::from_micros(25))),
            (Duration::from_micros(25), Some(Duration::from_micros(25))),
            (
                Duration::from_nanos(25_001),
                Some(Duration::from_micros(50)),
            ),
            (Duration::from_micros(999), Some(Duration::from_millis(1))),
            (Duration::from_millis(1), Some(Duration::from_millis(1))),
            (Duration::from_secs(10), Some(Duration::from_secs(10))),
            (Duration::from_nanos(10_000_000_001), None),
            (Duration::MAX, None),
        ];
        for (d, want) in cases {
            let mut h = Histogram::default();
            h.record(d);
            let got: Vec<_> = h.buckets().filter(|(_, n)| *n > 0).collect();
            assert_eq!(got, [(want, 1)], "{d:?}");
            assert_eq!(h.count(), 1);
        }
    }

    #[test]
    fn sums_counts_and_quantile_bounds() {
        let mut h = Histogram::default();
        for us in [10, 20, 30, 40, 600, 700, 800, 900, 3_000, 20_000_000] {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 10);
        assert_eq!(
            h.sum(),
            Duration::from_micros(10 + 20 + 30 + 40 + 600 + 700 + 800 + 900 + 3_000 + 20_000_000)
        );
        assert_eq!(h.quantile_bound(0.2), Some(Duration::from_micros(25)));
        assert_eq!(h.quantile_bound(0.4), Some(Duration::from_micros(50)));
        assert_eq!(h.quantile_bound(0.8), Some(Duration::from_millis(1)));
        assert_eq!(h.quantile_bound(0.9), Some(Duration::from_millis(5)));
        assert_eq!(h.quantile_bound(1.0), None);
        let mut twice = h;
        twice.add(&h);
        assert_eq!(twice.count(), 20);
        assert_eq!(twice.sum(), h.sum() * 2);
        assert_eq!(Histogram::default().quantile_bound(0.5), None);
    }
}
