//! What the pool learns about a server from the way it closes connections: the limits
//! it never announces.
//!
//! Many servers close keep-alive connections without saying so — no
//! `Connection: close`, no `Keep-Alive` header: after a fixed number of requests (a
//! request cap per connection), or after some idle time (Node's 5 s keep-alive, load
//! balancers' idle timeouts). The pool sees only the FIN. If it arrives before the pool
//! reuses the connection, the connection is dropped and nobody notices; if the pool
//! reuses it first, the request fails — and a `POST` may not be resent. [`Learner`]
//! watches these *silent closes* for one host and infers the limit behind them, so the
//! engine stops reusing a connection just before the point where the server would close
//! it.
//!
//! # The evidence
//!
//! A silent close is a FIN (or reset) on an idle connection, or a reused connection
//! that ends before any byte of the response to the request sent on it. Each gives two
//! numbers: how many responses the connection had carried (`served`), and how long it
//! had been idle when the server closed it (for a failed reuse: how long it had been
//! idle when the request went out, which is when the FIN was in flight).
//!
//! - A close within [`PROMPT_CLOSE`] of going idle is a vote for a **request limit**
//!   at `served`: servers with a request cap close right after the last response.
//!   Two votes in a row for the same count, with no connection having completed more
//!   responses in between, make it the learned limit `L`: from then on a connection
//!   that has carried `L` responses is not reused.
//! - A later close is a vote for an **idle limit** at that idle time. Two votes in a
//!   row that agree (within [`PROMPT_CLOSE`] or 10 %), with no reused connection having
//!   answered after a longer idle time in between, make the earlier of the two the
//!   learned idle limit `T`; the engine then reuses a connection only while it has been
//!   idle for less than `T` minus `keepalive_margin`.
//!
//! # Never less than the evidence justifies, and adapting when the server changes
//!
//! The limits only ever come from the server's own closes, and a single close never
//! teaches anything (a restart or a deploy closes everything once). Evidence against a
//! limit removes it at once: a connection that completes more responses than `L`, or
//! that answers after idling longer than `T`. Since the engine stops reusing at the
//! limit, that evidence could never come again by itself; so a connection retired at a
//! learned limit is not closed by the pool but *watched*: kept open, unused, for a short
//! while ([`Learner::watch_for`]). If the server closes it as predicted, the limit is
//! confirmed; if it does not, and the server has been seen closing connections on its
//! own (a FIN on an idle connection, or an earlier watch), the server has changed and
//! the limit is forgotten (and learned again from new closes if it comes back).
//! Watching costs no request: a retired connection never carries one.
//!
//! Some servers close only when the next request arrives (they count requests, or look
//! at the idle time, on receipt): all the pool ever sees is a reused connection dying,
//! never a FIN on an idle one, so a watch proves nothing either way. A limit learned
//! from such a server is kept without watching, for [`LAZY_TTL`] at first, then
//! forgotten and learned again (two failed requests); each time it comes back the same
//! it is kept twice as long, up to [`LAZY_TTL_MAX`]: a server that raises its limit is
//! noticed within that time, at the price of two failures per period.
//!
//! # What it deliberately does not do
//!
//! It never sees a connection, a socket or a clock: the engine reports what happened
//! with durations, and asks for the limits. The `Keep-Alive` hint a server does send is
//! not here either (the connection reads it and the engine applies it): a server that
//! announces its limits closes before them, not silently.

use std::time::{Duration, Instant};

/// How soon after going idle a server's close counts as "right after the response": the
/// mark of a request limit rather than an idle timeout. Far above the time a FIN takes to
/// follow the last response (well under a millisecond on a LAN, one network delay over a
/// WAN), and below the idle timeouts servers use (1 s and more).
pub(crate) const PROMPT_CLOSE: Duration = Duration::from_millis(250);

/// How long a limit learned from a server that closes only on the next request is kept
/// before it is learned again (it cannot be checked by watching).
pub(crate) const LAZY_TTL: Duration = Duration::from_secs(60);

/// The longest [`LAZY_TTL`] grows to while the limit keeps coming back the same.
pub(crate) const LAZY_TTL_MAX: Duration = Duration::from_secs(3600);

/// Which learned limit retired a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The connection carried as many responses as the server allows.
    Requests,
    /// The connection sat idle for as long as the server allows (less the margin).
    Idle,
}

/// What the pool learned about one host's server, in [`HostStats`](crate::HostStats).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LearnedLimits {
    /// The server closes a connection silently after this many responses; the pool
    /// retires connections that reached it. `None`: no such limit seen (or it was
    /// refuted). Always `None` in the total.
    pub requests_per_conn: Option<u32>,
    /// The server closes a connection silently after it idled this long; the pool
    /// reuses a connection only while it has idled less (by `keepalive_margin`).
    /// Always `None` in the total.
    pub idle_timeout: Option<Duration>,
    /// Connections the server closed without warning: a FIN or reset while idle, or a
    /// reused connection that ended before any response byte.
    pub silent_closes: u64,
    /// Retired connections the server then closed, as the learned limit predicted.
    pub confirmed: u64,
    /// Learned limits dropped because the server did not behave as they predicted (it
    /// kept a retired connection open, or a connection went past the limit).
    pub refuted: u64,
    /// Limits learned from a server that closes only on the next request, dropped after
    /// their time to be learned again (see `docs/tuning.md`).
    pub expired: u64,
}

impl LearnedLimits {
    /// Adds `other`'s counters into `self` (for totals); the limits are per host.
    pub(crate) fn add(&mut self, other: &LearnedLimits) {
        self.silent_closes += other.silent_closes;
        self.confirmed += other.confirmed;
        self.refuted += other.refuted;
        self.expired += other.expired;
    }
}

/// The limits learned for one host, and the evidence behind them. See the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Learner {
    /// What is known, and the counters for the stats.
    known: LearnedLimits,
    /// The last vote for a request limit not yet matched: a prompt close after this many
    /// responses.
    request_vote: Option<u32>,
    /// The most responses any connection completed since `request_vote` was cast.
    served_since_vote: u32,
    /// The last vote for an idle limit not yet matched.
    idle_vote: Option<Duration>,
    /// The longest idle time after which a reused connection answered, since
    /// `idle_vote` was cast.
    idle_ok_since_vote: Duration,
    /// The server has been seen closing a connection on its own (a FIN or reset on an
    /// idle connection, or during a watch): a watch that sees no close refutes.
    closes_on_its_own: bool,
    /// Until when a limit learned without that is kept (request limit, idle limit).
    request_expires: Option<Instant>,
    idle_expires: Option<Instant>,
    /// How long the next such limit is kept, and the value that last expired (the
    /// time doubles when the same limit comes back).
    lazy_ttl: Duration,
    expired_request_limit: Option<u32>,
}

impl Learner {
    /// The learned request limit at `now`, if any (one past its time counts as gone).
    pub(crate) fn request_limit(&self, now: Instant) -> Option<u32> {
        match self.request_expires {
            Some(at) if at <= now => None,
            _ => self.known.requests_per_conn,
        }
    }

    /// The learned idle limit at `now`, if any.
    pub(crate) fn idle_limit(&self, now: Instant) -> Option<Duration> {
        match self.idle_expires {
            Some(at) if at <= now => None,
            _ => self.known.idle_timeout,
        }
    }

    /// Drops the limits whose time ran out at `now` (learned from a server that closes
    /// only on the next request), so that they are learned again.
    fn expire(&mut self, now: Instant) {
        if self.request_expires.is_some_and(|at| at <= now) {
            self.request_expires = None;
            self.expired_request_limit = self.known.requests_per_conn.take();
            self.known.expired += 1;
        }
        if self.idle_expires.is_some_and(|at| at <= now) {
            self.idle_expires = None;
            self.known.idle_timeout = None;
            self.known.expired += 1;
        }
    }

    /// How long a limit just learned from a lazily closing server is kept.
    fn lazy_expiry(&mut self, now: Instant, same_as_before: bool) -> Option<Instant> {
        if self.closes_on_its_own {
            return None;
        }
        let ttl = if self.lazy_ttl.is_zero() || !same_as_before {
            LAZY_TTL
        } else {
            self.lazy_ttl.saturating_mul(2).min(LAZY_TTL_MAX)
        };
        self.lazy_ttl = ttl;
        now.checked_add(ttl)
    }

    /// The server closed a connection on its own: watches can now refute, and what was
    /// learned no longer needs to expire.
    fn saw_own_close(&mut self) {
        self.closes_on_its_own = true;
        self.request_expires = None;
        self.idle_expires = None;
    }

    /// The limits and counters, for the stats.
    pub(crate) fn snapshot(&self) -> LearnedLimits {
        self.known
    }

    /// A connection completed its `served`-th response; it had been idle for
    /// `idle_before` when that request went out (`None`: its first request, or not
    /// reused). Evidence *for* the server's patience; cheap enough for every response.
    pub(crate) fn on_response(&mut self, served: u32, idle_before: Option<Duration>, now: Instant) {
        if self.request_expires.is_some() || self.idle_expires.is_some() {
            self.expire(now);
        }
        self.served_since_vote = self.served_since_vote.max(served);
        if self
            .known
            .requests_per_conn
            .is_some_and(|limit| served > limit)
        {
            log::debug!(target: "wirepool::pool", "learned limit of {:?} requests per connection refuted: a connection answered its request {served}", self.known.requests_per_conn);
            self.known.requests_per_conn = None;
            self.known.refuted += 1;
        }
        if let Some(idle) = idle_before {
            self.idle_ok_since_vote = self.idle_ok_since_vote.max(idle);
            if self.known.idle_timeout.is_some_and(|limit| idle > limit) {
                log::debug!(target: "wirepool::pool", "learned idle limit of {:?} refuted: a connection answered after {idle:?} idle", self.known.idle_timeout);
                self.known.idle_timeout = None;
                self.known.refuted += 1;
            }
        }
    }

    /// A silent close, counted for the stats only (learning is off).
    pub(crate) fn count_silent_close(&mut self) {
        self.known.silent_closes += 1;
    }

    /// The server closed a connection without warning after it had carried `served`
    /// responses and idled for `idle`: on its own (`on_reuse` false: a FIN or reset on
    /// the idle connection), or as the next request went out on it. Returns the limit
    /// this close taught, if it completed one.
    pub(crate) fn on_silent_close(
        &mut self,
        served: u32,
        idle: Duration,
        on_reuse: bool,
        now: Instant,
    ) -> Option<Limit> {
        self.known.silent_closes += 1;
        self.expire(now);
        if !on_reuse {
            self.saw_own_close();
        }
        if served == 0 {
            // Closed before its first response was asked for: says nothing about limits.
            return None;
        }
        if idle < PROMPT_CLOSE {
            let agreed = self.request_vote == Some(served) && self.served_since_vote <= served;
            if agreed {
                self.request_vote = None;
                self.known.requests_per_conn = Some(served);
                let same = self.expired_request_limit == Some(served);
                self.request_expires = self.lazy_expiry(now, same);
                return Some(Limit::Requests);
            }
            self.request_vote = Some(served);
            self.served_since_vote = 0;
            return None;
        }
        let agreed = self.idle_vote.filter(|&earlier| {
            let (lo, hi) = (earlier.min(idle), earlier.max(idle));
            hi - lo <= PROMPT_CLOSE.max(hi / 10) && self.idle_ok_since_vote < lo
        });
        if let Some(earlier) = agreed {
            self.idle_vote = None;
            self.known.idle_timeout = Some(earlier.min(idle));
            self.idle_expires = self.lazy_expiry(now, false);
            return Some(Limit::Idle);
        }
        self.idle_vote = Some(idle);
        self.idle_ok_since_vote = Duration::ZERO;
        None
    }

    /// How long a connection retired at `limit` is watched for the server's close,
    /// counted from its retirement: the prompt-close window for a request limit; for an
    /// idle limit, until `margin` past the learned idle time (it was retired `margin`
    /// before it).
    pub(crate) fn watch_for(&self, limit: Limit, margin: Duration) -> Duration {
        match limit {
            Limit::Requests => PROMPT_CLOSE,
            Limit::Idle => match self.known.idle_timeout {
                Some(t) => margin.saturating_add(margin).min(t.saturating_add(margin)),
                None => PROMPT_CLOSE,
            },
        }
    }

    /// The watch of a connection retired at `limit` ended: the server closed it
    /// (`closed`), confirming the limit, or kept it open past the watch, refuting it —
    /// if the server is known to close connections on its own; if not, silence says
    /// nothing (it may close only when a request comes).
    pub(crate) fn on_watch(&mut self, limit: Limit, closed: bool) {
        if closed {
            self.known.confirmed += 1;
            self.saw_own_close();
            return;
        }
        if !self.closes_on_its_own {
            return;
        }
        let slot = match limit {
            Limit::Requests => self.known.requests_per_conn.take().is_some(),
            Limit::Idle => self.known.idle_timeout.take().is_some(),
        };
        if slot {
            log::debug!(target: "wirepool::pool", "learned {limit:?} limit refuted: the server kept a retired connection open");
            self.known.refuted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// A learner and the instant its evidence arrives at (time only matters for the
    /// expiry of limits learned from lazily closing servers).
    fn learner() -> (Learner, Instant) {
        (Learner::default(), Instant::now())
    }

    #[test]
    fn two_prompt_closes_at_one_count_teach_a_request_limit() {
        let (mut l, t) = learner();
        for _ in 0..3 {
            l.on_response(1, None, t);
        }
        assert_eq!(
            l.on_silent_close(5, MS, false, t),
            None,
            "one close teaches nothing"
        );
        assert_eq!(l.request_limit(t), None);
        l.on_response(4, Some(MS), t);
        assert_eq!(
            l.on_silent_close(5, Duration::ZERO, true, t),
            Some(Limit::Requests)
        );
        assert_eq!(l.request_limit(t), Some(5));
        assert_eq!(l.snapshot().silent_closes, 2);
        // The server closes on its own (the first close): the limit does not expire.
        assert_eq!(l.request_limit(t + LAZY_TTL_MAX * 2), Some(5));
    }

    #[test]
    fn votes_that_disagree_teach_nothing() {
        let (mut l, t) = learner();
        // Different counts in a row: a restart or a deploy, not a limit.
        for served in [3, 7, 1, 9, 2] {
            assert_eq!(l.on_silent_close(served, MS, false, t), None);
        }
        assert_eq!(l.request_limit(t), None);
        // The same count, but a connection completed more responses in between.
        l.on_silent_close(4, MS, false, t);
        l.on_response(6, Some(MS), t);
        assert_eq!(l.on_silent_close(4, MS, false, t), None);
        assert_eq!(l.request_limit(t), None);
        // A connection closed before its first response says nothing.
        assert_eq!(l.on_silent_close(0, MS, false, t), None);
        assert_eq!(l.on_silent_close(0, MS, false, t), None);
        assert_eq!(l.snapshot().silent_closes, 9);
    }

    #[test]
    fn a_response_past_the_limit_refutes_it() {
        let (mut l, t) = learner();
        l.on_silent_close(2, MS, false, t);
        l.on_silent_close(2, MS, false, t);
        assert_eq!(l.request_limit(t), Some(2));
        l.on_response(2, Some(MS), t);
        assert_eq!(l.request_limit(t), Some(2), "at the limit is consistent");
        l.on_response(3, Some(MS), t);
        assert_eq!(l.request_limit(t), None);
        assert_eq!(l.snapshot().refuted, 1);
    }

    #[test]
    fn a_lower_limit_replaces_a_higher_one() {
        let (mut l, t) = learner();
        l.on_silent_close(10, MS, false, t);
        l.on_silent_close(10, MS, false, t);
        assert_eq!(l.request_limit(t), Some(10));
        // The server now closes after 3; connections still finish up to 3.
        l.on_response(3, Some(MS), t);
        l.on_silent_close(3, MS, true, t);
        l.on_response(2, Some(MS), t);
        assert_eq!(l.on_silent_close(3, MS, true, t), Some(Limit::Requests));
        assert_eq!(l.request_limit(t), Some(3));
    }

    #[test]
    fn slow_closes_teach_an_idle_limit_not_a_request_limit() {
        let (mut l, t) = learner();
        // Node's 5 s keep-alive: closes at 5 s idle after any number of responses.
        l.on_response(1, None, t);
        assert_eq!(l.on_silent_close(1, secs(5.002), false, t), None);
        l.on_response(3, Some(secs(1.0)), t);
        assert_eq!(
            l.on_silent_close(3, secs(5.010), false, t),
            Some(Limit::Idle)
        );
        assert_eq!(l.idle_limit(t), Some(secs(5.002)));
        assert_eq!(l.request_limit(t), None);
    }

    #[test]
    fn idle_votes_must_agree_and_not_be_contradicted() {
        let (mut l, t) = learner();
        l.on_silent_close(1, secs(5.0), false, t);
        assert_eq!(
            l.on_silent_close(1, secs(30.0), false, t),
            None,
            "5 s and 30 s disagree"
        );
        // 30 s then 31 s agree within 10 %, but a reuse answered after 30.5 s idle.
        l.on_response(2, Some(secs(30.5)), t);
        assert_eq!(l.on_silent_close(1, secs(31.0), false, t), None);
        assert_eq!(l.idle_limit(t), None);
        // Two that agree with nothing against them.
        assert_eq!(l.on_silent_close(1, secs(60.1), false, t), None);
        assert_eq!(
            l.on_silent_close(2, secs(60.0), false, t),
            Some(Limit::Idle)
        );
        assert_eq!(l.idle_limit(t), Some(secs(60.0)));
        // A reuse that answered after a longer idle time refutes it.
        l.on_response(3, Some(secs(61.0)), t);
        assert_eq!(l.idle_limit(t), None);
        assert_eq!(l.snapshot().refuted, 1);
    }

    #[test]
    fn watches_confirm_or_refute() {
        let (mut l, t) = learner();
        l.on_silent_close(1, MS, false, t);
        l.on_silent_close(1, MS, false, t);
        l.on_watch(Limit::Requests, true);
        assert_eq!(l.request_limit(t), Some(1));
        assert_eq!(l.snapshot().confirmed, 1);
        l.on_watch(Limit::Requests, false);
        assert_eq!(l.request_limit(t), None);
        assert_eq!(l.snapshot().refuted, 1);
        // A second refutation of a limit already gone counts nothing.
        l.on_watch(Limit::Requests, false);
        assert_eq!(l.snapshot().refuted, 1);
        // And it is learned again when the server closes again.
        l.on_silent_close(1, MS, true, t);
        l.on_silent_close(1, MS, true, t);
        assert_eq!(l.request_limit(t), Some(1));
    }

    #[test]
    fn a_server_that_closes_only_on_the_next_request() {
        let (mut l, t) = learner();
        // Only reuses that die: never a close on its own.
        l.on_silent_close(2, MS, true, t);
        assert_eq!(l.on_silent_close(2, MS, true, t), Some(Limit::Requests));
        // A watch sees nothing, which proves nothing: the limit stays.
        l.on_watch(Limit::Requests, false);
        assert_eq!(l.request_limit(t), Some(2));
        assert_eq!(l.snapshot().refuted, 0);
        // It is kept for LAZY_TTL, then learned again...
        assert_eq!(l.request_limit(t + LAZY_TTL - MS), Some(2));
        let later = t + LAZY_TTL;
        assert_eq!(l.request_limit(later), None);
        l.on_response(1, None, later);
        assert_eq!(l.snapshot().expired, 1);
        assert_eq!(l.snapshot().requests_per_conn, None);
        // ...and kept twice as long when it comes back the same.
        l.on_silent_close(2, MS, true, later);
        l.on_silent_close(2, MS, true, later);
        assert_eq!(l.request_limit(later + LAZY_TTL * 2 - MS), Some(2));
        assert_eq!(l.request_limit(later + LAZY_TTL * 2), None);
        // Once the server is seen closing on its own, the limit no longer expires.
        l.on_watch(Limit::Requests, true);
        assert_eq!(l.request_limit(later + LAZY_TTL_MAX * 2), Some(2));
    }

    #[test]
    fn watch_windows() {
        let (mut l, t) = learner();
        let margin = Duration::from_secs(1);
        assert_eq!(l.watch_for(Limit::Requests, margin), PROMPT_CLOSE);
        l.on_silent_close(1, secs(5.0), false, t);
        l.on_silent_close(1, secs(5.0), false, t);
        // Retired at 4 s idle, watched until 6 s.
        assert_eq!(l.watch_for(Limit::Idle, margin), secs(2.0));
        // A limit shorter than the margin: retired at once, watched until T + margin.
        let (mut short, t) = learner();
        short.on_silent_close(1, secs(0.5), false, t);
        short.on_silent_close(1, secs(0.5), false, t);
        assert_eq!(short.watch_for(Limit::Idle, margin), secs(1.5));
    }
}
