//! [`RetryLayer`]: send an idempotent request again after a failure worth retrying, with
//! exponential backoff and full jitter, within a [`RetryBudget`], honouring `Retry-After`.
//! The rules are in `RetryLayer`'s docs; this file also parses `Retry-After`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Request, StatusCode};

use crate::body::Body;
use crate::client::{Middleware, Next, Response};
use crate::error::{Error, ErrorKind};
use crate::request::{is_idempotent, RequestOptions};

/// The `log` target of the layer's lines (debug level: each retry and why; a retry the
/// budget refused).
const TARGET: &str = "wirepool::retry";

/// Slots of a budget's sliding window: the window moves on in steps of a tenth.
const BUDGET_SLOTS: usize = 10;

/// Retries idempotent requests that failed in a way worth retrying.
///
/// What is worth retrying: a connection that could not be made (DNS, connect, TLS
/// handshake timeout), a connection that broke (`ConnectionClosed`, I/O), a response head
/// that did not come in time, and the statuses `429`, `502`, `503` and `504`. What is not:
/// anything the caller got wrong, a protocol error, a TLS certificate error, the request's
/// own deadline, a closed pool.
///
/// The backoff before retry `n` (1, 2, ...) is a uniformly random time between zero and
/// `min(max_backoff, base_backoff × 2ⁿ⁻¹)` ("full jitter": clients that failed together
/// do not come back together). A `503` or `429` with a `Retry-After` header waits exactly
/// that long instead; longer than `max_retry_after` and the response is returned as it is.
/// No retry is made whose wait would end past the request's deadline
/// (`RequestOptions::timeout`, which the layer turns into one deadline for all attempts,
/// or `RequestOptions::deadline`).
///
/// Clones share one [`RetryBudget`]. Defaults: 2 retries, backoff from 50 ms up to 2 s,
/// `Retry-After` honoured up to 30 s, the default budget (20 % of recent requests, plus
/// 10 per second).
///
/// A request is idempotent when its method is (`GET`, `HEAD`, `OPTIONS`, `PUT`,
/// `DELETE`, `TRACE`) or it carries an `Idempotency-Key` header. Each attempt sends a
/// copy of the request: an in-memory body is shared, not copied ([`Body::try_clone`]); a
/// streamed body is retried only if it can start again (a factory or a path: see
/// [`Body`]), and otherwise the request is sent once.
#[derive(Clone, Debug)]
pub struct RetryLayer {
    max_retries: u32,
    base_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    budget: Arc<RetryBudget>,
}

impl Default for RetryLayer {
    fn default() -> Self {
        RetryLayer::new()
    }
}

impl RetryLayer {
    /// The layer with its defaults.
    pub fn new() -> RetryLayer {
        RetryLayer {
            max_retries: 2,
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(30),
            budget: Arc::new(RetryBudget::default()),
        }
    }

    /// Retries per request at most (0 turns the layer off).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The backoff bound of the first retry; it doubles for each retry after.
    pub fn base_backoff(mut self, d: Duration) -> Self {
        self.base_backoff = d;
        self
    }

    /// The largest backoff bound.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// The longest `Retry-After` honoured; a server asking for more gets its response
    /// returned to the caller instead.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// The budget to draw retries from (share one between layers or clients to bound
    /// their retries together).
    pub fn budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// The bound of the backoff before retry `n` (1, 2, ...), before jitter.
    fn backoff_bound(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base_backoff
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_backoff)
    }
}

/// Why an attempt should be repeated, and how long to wait first.
enum Verdict {
    /// Return this attempt's outcome.
    Done,
    /// Retry after `delay`; `why` for the log.
    Again { delay: Duration, why: String },
}

impl RetryLayer {
    fn verdict(&self, result: &Result<Response, Error>, n: u32) -> Verdict {
        let jittered = || self.backoff_bound(n).mul_f64(random_unit());
        match result {
            Ok(resp) => {
                let status = resp.status();
                if !is_retried_status(status) {
                    return Verdict::Done;
                }
                let asked = matches!(status.as_u16(), 429 | 503)
                    .then(|| retry_after(resp.headers(), SystemTime::now()))
                    .flatten();
                match asked {
                    Some(d) if d > self.max_retry_after => Verdict::Done,
                    Some(d) => Verdict::Again {
                        delay: d,
                        why: format!("status {} (Retry-After {d:?})", status.as_u16()),
                    },
                    None => Verdict::Again {
                        delay: jittered(),
                        why: format!("status {}", status.as_u16()),
                    },
                }
            }
            Err(e) if is_retried_error(e) => Verdict::Again {
                delay: jittered(),
                why: e.to_string(),
            },
            Err(_) => Verdict::Done,
        }
    }
}

impl Middleware for RetryLayer {
    fn handle(
        &self,
        request: Request<Body>,
        mut opts: RequestOptions,
        next: Next<'_>,
    ) -> Result<Response, Error> {
        self.budget.deposit();
        if self.max_retries == 0
            || !is_idempotent(request.method(), request.headers())
            || !request.body().can_clone()
        {
            return next.run(request, opts);
        }
        // One deadline for every attempt: retries never extend the caller's timeout.
        let started = Instant::now();
        let deadline = match (
            opts.timeout.and_then(|t| started.checked_add(t)),
            opts.deadline,
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        opts.deadline = deadline;
        let mut request = Some(request);
        let mut n = 0;
        loop {
            let last = n == self.max_retries;
            let attempt = if last {
                request.take()
            } else {
                request.as_ref().and_then(copy_of)
            };
            let Some(attempt) = attempt else {
                // Unreachable: the original is only taken for the last attempt.
                return Err(Error::msg(ErrorKind::InvalidRequest, "no request to retry"));
            };
            let result = next.run(attempt, opts);
            if last {
                return result;
            }
            n += 1;
            let Verdict::Again { delay, why } = self.verdict(&result, n) else {
                return result;
            };
            let too_late = |d| Instant::now().checked_add(delay).map_or(true, |t| t >= d);
            if deadline.is_some_and(too_late) {
                log::debug!(target: TARGET, "not retried: the deadline comes first (after {why})");
                return result;
            }
            if !self.budget.try_withdraw() {
                log::debug!(target: TARGET, "not retried: retry budget spent (after {why})");
                return result;
            }
            if let Some(r) = &request {
                log::debug!(
                    target: TARGET,
                    "{} {}: retry {n} in {delay:?} after {why}",
                    r.method(),
                    r.uri()
                );
            }
            // A response is dropped unread: the engine drains or closes its connection.
            drop(result);
            std::thread::sleep(delay);
        }
    }
}

/// A copy of `request` to send (the body shared where it is in memory); `None` when its
/// body cannot be sent twice.
fn copy_of(request: &Request<Body>) -> Option<Request<Body>> {
    let mut copy = Request::new(request.body().try_clone()?);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

/// Statuses retried: too many requests, and the gateway and availability errors.
fn is_retried_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// Errors retried: the connection could not be made or broke, or the head was late.
fn is_retried_error(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Dns
            | ErrorKind::Connect
            | ErrorKind::ConnectTimeout
            | ErrorKind::TlsHandshakeTimeout
            | ErrorKind::ConnectionClosed
            | ErrorKind::Io
            | ErrorKind::ResponseHeaderTimeout
    )
}

/// A uniformly random number in `[0, 1)`, from std's per-process random hash keys (no
/// dependency; good enough to spread retries, not for secrets).
fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The wait a `Retry-After` header asks for (RFC 9110 §10.2.3): delay-seconds, or an
/// HTTP-date in the IMF-fixdate form every current server sends (a date in the past is
/// zero). `None` when absent or unreadable.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_imf_fixdate(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7 IMF-fixdate).
fn parse_imf_fixdate(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = num(5..7)?;
    let month = MONTHS.iter().position(|m| s.get(8..11) == Some(*m))? as u64 + 1;
    let year = num(12..16)?;
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    let (hour, min, sec) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + min * 60 + sec;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days from 1970-01-01 to `year-month-day` (proleptic Gregorian, year ≥ 1970): Howard
/// Hinnant's `days_from_civil`.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12; // March is 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// How many retries may be made: at most a fraction of the requests of a recent window,
/// plus a few per second so that a quiet client can still retry (Finagle's
/// `RetryBudget`; Envoy bounds retries by a fraction of active requests the same way).
///
/// Every request through a [`RetryLayer`] counts as a deposit; each retry must withdraw
/// one. With the defaults (20 %, 10 per second, a 10 s window), a client sending 1 000
/// requests a second to a failing server adds at most 210 retries a second, not 2 000.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: u32,
    window: Duration,
    epoch: Instant,
    slots: Mutex<[Slot; BUDGET_SLOTS]>,
}

/// Counts of one tenth of the window.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Which tenth since `epoch` these counts are for.
    tick: u64,
    requests: u64,
    retries: u64,
}

impl Default for RetryBudget {
    /// 20 % of the requests of the last 10 s, plus 10 retries a second.
    fn default() -> Self {
        RetryBudget::new(0.2, 10, Duration::from_secs(10))
    }
}

impl RetryBudget {
    /// Retries may be `ratio` of the requests of the last `window`, plus `min_per_sec`
    /// each second of it. A negative or NaN ratio counts as 0; a window shorter than
    /// 10 ms as 10 ms.
    pub fn new(ratio: f64, min_per_sec: u32, window: Duration) -> RetryBudget {
        RetryBudget {
            ratio: if ratio.is_nan() { 0.0 } else { ratio.max(0.0) },
            min_per_sec,
            window: window.max(Duration::from_millis(10)),
            epoch: Instant::now(),
            slots: Mutex::new([Slot::default(); BUDGET_SLOTS]),
        }
    }

    /// Retries that could be made now.
    pub fn available(&self) -> u64 {
        let tick = self.tick();
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let (requests, retries) = Self::sums(&slots, tick);
        self.allowed(requests).saturating_sub(retries)
    }

    /// Counts a request.
    pub(crate) fn deposit(&self) {
        let tick = self.tick();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Self::slot(&mut slots, tick).requests += 1;
    }

    /// Takes one retry from the budget; false when it is spent.
    pub(crate) fn try_withdraw(&self) -> bool {
        let tick = self.tick();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let (requests, retries) = Self::sums(&slots, tick);
        if retries >= self.allowed(requests) {
            return false;
        }
        Self::slot(&mut slots, tick).retries += 1;
        true
    }

    /// Retries allowed in a window that saw `requests`.
    fn allowed(&self, requests: u64) -> u64 {
        let reserve = self.window.as_secs_f64() * f64::from(self.min_per_sec);
        (reserve + self.ratio * requests as f64).floor() as u64
    }

    /// The current tenth of the window since `epoch`.
    fn tick(&self) -> u64 {
        let slot = self.window / BUDGET_SLOTS as u32;
        let elapsed = self.epoch.elapsed().as_nanos();
        (elapsed / slot.as_nanos().max(1)) as u64
    }

    fn slot(slots: &mut [Slot; BUDGET_SLOTS], tick: u64) -> &mut Slot {
        let slot = &mut slots[(tick % BUDGET_SLOTS as u64) as usize];
        if slot.tick != tick {
            *slot = Slot {
                tick,
                ..Slot::default()
            };
        }
        slot
    }

    /// Requests and retries of the slots still in the window.
    fn sums(slots: &[Slot; BUDGET_SLOTS], tick: u64) -> (u64, u64) {
        slots
            .iter()
            .filter(|s| tick.saturating_sub(s.tick) < BUDGET_SLOTS as u64)
            .fold((0, 0), |(q, r), s| (q + s.requests, r + s.retries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, value.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_imf_dates() {
        // 1994-11-06 08:49:37 UTC
        let then = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let cases = [
            ("0", Some(Duration::ZERO)),
            ("120", Some(Duration::from_secs(120))),
            (" 7 ", Some(Duration::from_secs(7))),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(Duration::ZERO)),
            (
                "Sun, 06 Nov 1994 08:50:07 GMT",
                Some(Duration::from_secs(30)),
            ),
            (
                "Mon, 07 Nov 1994 08:49:37 GMT",
                Some(Duration::from_secs(86_400)),
            ),
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(Duration::ZERO)), // past: now
            (
                "Thu, 29 Feb 1996 00:00:00 GMT",
                Some(Duration::from_secs(825_552_000 - 784_111_777)),
            ),
            ("Sunday, 06-Nov-94 08:49:37 GMT", None), // RFC 850 form: not read
            ("-5", None),
            ("soon", None),
            ("", None),
            ("Sun, 06 Nov 1994 25:49:37 GMT", None),
            ("Sun, 06 Foo 1994 08:49:37 GMT", None),
        ];
        for (value, want) in cases {
            assert_eq!(retry_after(&headers(value), then), want, "{value:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), then), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let layer = RetryLayer::new()
            .base_backoff(Duration::from_millis(10))
            .max_backoff(Duration::from_millis(70));
        let bounds: Vec<_> = (1..=5).map(|n| layer.backoff_bound(n)).collect();
        let ms = Duration::from_millis;
        assert_eq!(bounds, [ms(10), ms(20), ms(40), ms(70), ms(70)]);
        assert_eq!(layer.backoff_bound(200), ms(70));
        for _ in 0..1000 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn a_budget_allows_its_reserve_plus_a_fraction_of_requests() {
        // No reserve: 25 % of requests.
        let budget = RetryBudget::new(0.25, 0, Duration::from_secs(3600));
        assert!(!budget.try_withdraw());
        for _ in 0..8 {
            budget.deposit();
        }
        assert_eq!(budget.available(), 2);
        assert!(budget.try_withdraw());
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
        assert_eq!(budget.available(), 0);
        // A reserve of 1 per second over a 2 s window: 2 retries with no requests.
        let quiet = RetryBudget::new(0.0, 1, Duration::from_secs(2));
        assert!(quiet.try_withdraw());
        assert!(quiet.try_withdraw());
        assert!(!quiet.try_withdraw());
        // NaN and negative ratios allow nothing beyond the reserve.
        let nan = RetryBudget::new(f64::NAN, 0, Duration::from_secs(1));
        nan.deposit();
        assert!(!nan.try_withdraw());
    }

    #[test]
    fn old_slots_leave_the_window() {
        let budget = RetryBudget::new(1.0, 0, Duration::from_secs(1));
        let now = budget.tick();
        let mut slots = budget.slots.lock().unwrap();
        RetryBudget::slot(&mut slots, now).requests = 5;
        RetryBudget::slot(&mut slots, now + 3).requests = 2;
        assert_eq!(RetryBudget::sums(&slots, now + 3), (7, 0));
        assert_eq!(RetryBudget::sums(&slots, now + 10), (2, 0));
        assert_eq!(RetryBudget::sums(&slots, now + 13), (0, 0));
    }
}
