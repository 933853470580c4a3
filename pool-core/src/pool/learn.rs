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
//! confirmed; if it does not, the server has changed and the limit is forgotten (and
//! learned again from new closes if it comes back). Watching costs no request: a
//! retired connection never carries one.
//!
//! # What it deliberately does not do
//!
//! It never sees a connection, a socket or a clock: the engine reports what happened
//! with durations, and asks for the limits. The `Keep-Alive` hint a server does send is
//! not here either (the connection reads it and the engine applies it): a server that
//! announces its limits closes before them, not silently.

use std::time::Duration;

/// How soon after going idle a server's close counts as "right after the response": the
/// mark of a request limit rather than an idle timeout. Far above the time a FIN takes to
/// follow the last response (well under a millisecond on a LAN, one network delay over a
/// WAN), and below the idle timeouts servers use (1 s and more).
pub(crate) const PROMPT_CLOSE: Duration = Duration::from_millis(250);

/// Which learned limit retired a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The connection carried as many responses as the server allows.
    Requests,
    /// The connection sat idle for as long as the server allows (less the margin).
    Idle,
}

/// What the pool learned about one host's server, in [`HostStats`](crate::HostStats).
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
}

impl LearnedLimits {
    /// Adds `other`'s counters into `self` (for totals); the limits are per host.
    pub(crate) fn add(&mut self, other: &LearnedLimits) {
        self.silent_closes += other.silent_closes;
        self.confirmed += other.confirmed;
        self.refuted += other.refuted;
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
}

impl Learner {
    /// The learned request limit, if any.
    pub(crate) fn request_limit(&self) -> Option<u32> {
        self.known.requests_per_conn
    }

    /// The learned idle limit, if any.
    pub(crate) fn idle_limit(&self) -> Option<Duration> {
        self.known.idle_timeout
    }

    /// The limits and counters, for the stats.
    pub(crate) fn snapshot(&self) -> LearnedLimits {
        self.known
    }

    /// A connection completed its `served`-th response; it had been idle for
    /// `idle_before` when that request went out (`None`: its first request, or not
    /// reused). Evidence *for* the server's patience; cheap enough for every response.
    pub(crate) fn on_response(&mut self, served: u32, idle_before: Option<Duration>) {
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
    /// responses and idled for `idle`. Returns the limit this close taught, if it
    /// completed one.
    pub(crate) fn on_silent_close(&mut self, served: u32, idle: Duration) -> Option<Limit> {
        self.known.silent_closes += 1;
        if served == 0 {
            // Closed before its first response was asked for: says nothing about limits.
            return None;
        }
        if idle < PROMPT_CLOSE {
            let agreed = self.request_vote == Some(served) && self.served_since_vote <= served;
            if agreed {
                self.request_vote = None;
                self.known.requests_per_conn = Some(served);
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
    /// (`closed`), confirming the limit, or kept it open past the watch, refuting it.
    pub(crate) fn on_watch(&mut self, limit: Limit, closed: bool) {
        if closed {
            self.known.confirmed += 1;
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

    #[test]
    fn two_prompt_closes_at_one_count_teach_a_request_limit() {
        let mut l = Learner::default();
        for _ in 0..3 {
            l.on_response(1, None);
        }
        assert_eq!(l.on_silent_close(5, MS), None, "one close teaches nothing");
        assert_eq!(l.request_limit(), None);
        l.on_response(4, Some(MS));
        assert_eq!(l.on_silent_close(5, Duration::ZERO), Some(Limit::Requests));
        assert_eq!(l.request_limit(), Some(5));
        assert_eq!(l.snapshot().silent_closes, 2);
    }

    #[test]
    fn votes_that_disagree_teach_nothing() {
        let mut l = Learner::default();
        // Different counts in a row: a restart or a deploy, not a limit.
        for served in [3, 7, 1, 9, 2] {
            assert_eq!(l.on_silent_close(served, MS), None);
        }
        assert_eq!(l.request_limit(), None);
        // The same count, but a connection completed more responses in between.
        l.on_silent_close(4, MS);
        l.on_response(6, Some(MS));
        assert_eq!(l.on_silent_close(4, MS), None);
        assert_eq!(l.request_limit(), None);
        // A connection closed before its first response says nothing.
        assert_eq!(l.on_silent_close(0, MS), None);
        assert_eq!(l.on_silent_close(0, MS), None);
        assert_eq!(l.snapshot().silent_closes, 9);
    }

    #[test]
    fn a_response_past_the_limit_refutes_it() {
        let mut l = Learner::default();
        l.on_silent_close(2, MS);
        l.on_silent_close(2, MS);
        assert_eq!(l.request_limit(), Some(2));
        l.on_response(2, Some(MS));
        assert_eq!(l.request_limit(), Some(2), "at the limit is consistent");
        l.on_response(3, Some(MS));
        assert_eq!(l.request_limit(), None);
        assert_eq!(l.snapshot().refuted, 1);
    }

    #[test]
    fn a_lower_limit_replaces_a_higher_one() {
        let mut l = Learner::default();
        l.on_silent_close(10, MS);
        l.on_silent_close(10, MS);
        assert_eq!(l.request_limit(), Some(10));
        // The server now closes after 3; connections still finish up to 3.
        l.on_response(3, Some(MS));
        l.on_silent_close(3, MS);
        l.on_response(2, Some(MS));
        assert_eq!(l.on_silent_close(3, MS), Some(Limit::Requests));
        assert_eq!(l.request_limit(), Some(3));
    }

    #[test]
    fn slow_closes_teach_an_idle_limit_not_a_request_limit() {
        let mut l = Learner::default();
        // Node's 5 s keep-alive: closes at 5 s idle after any number of responses.
        l.on_response(1, None);
        assert_eq!(l.on_silent_close(1, secs(5.002)), None);
        l.on_response(3, Some(secs(1.0)));
        assert_eq!(l.on_silent_close(3, secs(5.010)), Some(Limit::Idle));
        assert_eq!(l.idle_limit(), Some(secs(5.002)));
        assert_eq!(l.request_limit(), None);
    }

    #[test]
    fn idle_votes_must_agree_and_not_be_contradicted() {
        let mut l = Learner::default();
        l.on_silent_close(1, secs(5.0));
        assert_eq!(
            l.on_silent_close(1, secs(30.0)),
            None,
            "5 s and 30 s disagree"
        );
        // 30 s then 31 s agree within 10 %, but a reuse answered after 30.5 s idle.
        l.on_response(2, Some(secs(30.5)));
        assert_eq!(l.on_silent_close(1, secs(31.0)), None);
        assert_eq!(l.idle_limit(), None);
        // Two that agree with nothing against them.
        assert_eq!(l.on_silent_close(1, secs(60.1)), None);
        assert_eq!(l.on_silent_close(2, secs(60.0)), Some(Limit::Idle));
        assert_eq!(l.idle_limit(), Some(secs(60.0)));
        // A reuse that answered after a longer idle time refutes it.
        l.on_response(3, Some(secs(61.0)));
        assert_eq!(l.idle_limit(), None);
        assert_eq!(l.snapshot().refuted, 1);
    }

    #[test]
    fn watches_confirm_or_refute() {
        let mut l = Learner::default();
        l.on_silent_close(1, MS);
        l.on_silent_close(1, MS);
        l.on_watch(Limit::Requests, true);
        assert_eq!(l.request_limit(), Some(1));
        assert_eq!(l.snapshot().confirmed, 1);
        l.on_watch(Limit::Requests, false);
        assert_eq!(l.request_limit(), None);
        assert_eq!(l.snapshot().refuted, 1);
        // A second refutation of a limit already gone counts nothing.
        l.on_watch(Limit::Requests, false);
        assert_eq!(l.snapshot().refuted, 1);
        // And it is learned again when the server closes again.
        l.on_silent_close(1, MS);
        l.on_silent_close(1, MS);
        assert_eq!(l.request_limit(), Some(1));
    }

    #[test]
    fn watch_windows() {
        let mut l = Learner::default();
        let margin = Duration::from_secs(1);
        assert_eq!(l.watch_for(Limit::Requests, margin), PROMPT_CLOSE);
        l.on_silent_close(1, secs(5.0));
        l.on_silent_close(1, secs(5.0));
        // Retired at 4 s idle, watched until 6 s.
        assert_eq!(l.watch_for(Limit::Idle, margin), secs(2.0));
        // A limit shorter than the margin: retired at once, watched until T + margin.
        let mut short = Learner::default();
        short.on_silent_close(1, secs(0.5));
        short.on_silent_close(1, secs(0.5));
        assert_eq!(short.watch_for(Limit::Idle, margin), secs(1.5));
    }
}
