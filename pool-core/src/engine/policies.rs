//! The pool's policies about the server behind a host: how long a connection may sit
//! idle and how many requests it may carry, by what the server announced and by what
//! the pool learned; retiring connections at a learned limit; the retry budget.
//!
//! - **Announced limits.** A connection reads the server's `Keep-Alive: timeout=N,
//!   max=M` from each response (`conn/read.rs`) and refuses reuse once `M` is used up
//!   (`CloseCause::KeepAliveMax`). Here the idle side: an idle connection is reused only
//!   while it has been idle less than `N − keepalive_margin`
//!   (`CloseCause::KeepAliveTimeout`), and never longer than `idle_timeout`.
//! - **Learned limits** (`learn_server_limits`). Silent closes — FIN or reset on an
//!   idle connection, or a reused connection ending before any response byte — go to the
//!   host's [`Learner`](crate::pool::Learner) with the responses the connection carried
//!   and how long it had idled; so does every completed response (evidence that the
//!   server allowed it). Once a limit is learned, a connection that reaches it is
//!   *retired*: counted closed (`CloseCause::LearnedRequestLimit` /
//!   `LearnedIdleLimit`), taken out of the pool's accounting so a new dial can replace
//!   it, but left open and unused in `State::Retiring` until the server closes it
//!   (confirming the limit) or the watch ends (refuting it); then its socket is freed.
//! - **The retry budget** (`retry_budget`): the engine's own resend after a stale
//!   connection is allowed only while the host's resends stay within a fraction of its
//!   recent requests.
//!
//! What is not here: which connection a request gets (`settle.rs`) and how a connection
//! reads the hint (`conn/`). The functions here are the hooks those call.

use std::time::Duration;

use super::Engine;
use crate::conn::{Conn, Next, State};
use crate::pool::{CloseCause, HostId, Limit};
use crate::request::RequestId;
use crate::timer::Deadline;

/// What ends an idle connection once its idle limit passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IdleEnd {
    /// `idle_timeout`: close it.
    Config,
    /// The server's `Keep-Alive: timeout=` less the margin: close it.
    KeepAlive,
    /// The learned idle limit less the margin: retire it (and watch).
    Learned,
}

impl Engine {
    /// How long `conn` may sit idle and still be reused, and what ends it then: the
    /// shortest of `idle_timeout`, the server's announced idle timeout less
    /// `keepalive_margin`, and the learned idle limit less the margin.
    pub(super) fn idle_limit(&self, conn: &Conn) -> (Duration, IdleEnd) {
        let margin = self.config.keepalive_margin;
        let mut limit = (self.config.idle_timeout, IdleEnd::Config);
        if let Some(announced) = conn.server_idle_timeout {
            let usable = announced.saturating_sub(margin);
            if usable < limit.0 {
                limit = (usable, IdleEnd::KeepAlive);
            }
        }
        if self.config.learn_server_limits {
            if let Some(learned) = self.pools.learner(conn.host).idle_limit() {
                let usable = learned.saturating_sub(margin);
                if usable < limit.0 {
                    limit = (usable, IdleEnd::Learned);
                }
            }
        }
        limit
    }

    /// Whether `conn` has carried as many responses as its server was learned to allow.
    pub(super) fn at_learned_request_limit(&self, conn: &Conn) -> bool {
        self.config.learn_server_limits
            && self
                .pools
                .learner(conn.host)
                .request_limit()
                .is_some_and(|limit| conn.served >= limit)
    }

    /// The `IdleExpiry` deadline of idle connection `cid` fired: end it by its idle
    /// limit, or arm the deadline again if the limit moved later meanwhile.
    pub(super) fn idle_expired(&mut self, cid: usize) {
        let Some(since) = self.pools.idle_since(cid) else {
            return;
        };
        let Some(conn) = self.conns.get(cid) else {
            return;
        };
        let (limit, end) = self.idle_limit(conn);
        match since.checked_add(limit) {
            Some(at) if at > self.now => self.arm_conn(cid, Deadline::IdleExpiry, at),
            _ => self.end_idle(cid, end),
        }
    }

    /// Ends connection `cid` (idle, or just taken from the idle pool) whose idle limit
    /// passed: closed, or retired at a learned limit.
    pub(super) fn end_idle(&mut self, cid: usize, end: IdleEnd) {
        match end {
            IdleEnd::Config => self.close_conn(cid, CloseCause::IdleTimeout),
            IdleEnd::KeepAlive => self.close_conn(cid, CloseCause::KeepAliveTimeout),
            IdleEnd::Learned => self.retire(cid, Limit::Idle),
        }
    }

    /// Retires connection `cid` at a learned `limit`: it leaves the pool (counted closed
    /// with the limit's cause; a new dial may take its place at once) but stays open,
    /// unused, until the server closes it or the watch ends.
    pub(super) fn retire(&mut self, cid: usize, limit: Limit) {
        let now = self.now;
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        if matches!(conn.state, State::Closed { .. } | State::Retiring { .. }) {
            return;
        }
        let host = conn.host;
        let cause = match limit {
            Limit::Requests => CloseCause::LearnedRequestLimit,
            Limit::Idle => CloseCause::LearnedIdleLimit,
        };
        log::debug!(target: "wirepool::pool", "conn#{} to {} retired: {cause}", conn.serial, self.pools.key(host));
        self.pools.remove_idle(cid);
        self.spares.strip(conn);
        conn.deadlines.clear_all();
        conn.set_state(State::Retiring { limit });
        let next = conn.check_idle();
        self.pools.conn_closed(host);
        self.pools.stats_mut(host).closes.record(cause);
        self.work.freed_hosts.push(host);
        let watch = self
            .pools
            .learner(host)
            .watch_for(limit, self.config.keepalive_margin);
        if let Some(at) = now.checked_add(watch) {
            self.arm_conn(cid, Deadline::IdleExpiry, at);
        }
        // The server's close may have come with the last response already.
        if let Next::Close(cause) = next {
            self.close_conn(cid, cause);
        }
    }

    /// Retiring connection `cid` is closing with `cause`: the server closed it (EOF, a
    /// reset, stray bytes: the limit is confirmed), its watch ended (`IdleTimeout`: the
    /// limit is refuted), or the engine is shutting down. Frees the socket; the close
    /// was counted when it retired.
    pub(super) fn end_watch(&mut self, cid: usize, cause: CloseCause) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let State::Retiring { limit } = conn.state else {
            return;
        };
        let host = conn.host;
        conn.shut(self.poll.registry(), cause);
        self.work.to_free.push(cid);
        let learner = self.pools.learner_mut(host);
        match cause {
            CloseCause::ServerClose | CloseCause::Error => learner.on_watch(limit, true),
            CloseCause::IdleTimeout => learner.on_watch(limit, false),
            _ => {}
        }
    }

    /// The server closed a connection of `host` without warning after `served`
    /// responses and `idle` idle time: evidence for the learner.
    pub(super) fn note_silent_close(&mut self, host: HostId, served: u32, idle: Duration) {
        let learn = self.config.learn_server_limits;
        let learner = self.pools.learner_mut(host);
        if !learn {
            return learner.count_silent_close();
        }
        if let Some(limit) = learner.on_silent_close(served, idle) {
            let known = learner.snapshot();
            log::debug!(target: "wirepool::pool", "{}: learned the server's {limit:?} limit: {:?} requests per connection, idle {:?}", self.pools.key(host), known.requests_per_conn, known.idle_timeout);
        }
    }

    /// Request `rid` got its whole response on connection `cid`: evidence that the
    /// server allowed that many responses, after that much idle time.
    pub(super) fn note_response(&mut self, cid: usize, rid: RequestId) {
        if !self.config.learn_server_limits {
            return;
        }
        let (Some(conn), Some(req)) = (self.conns.get(cid), self.reqs.get(rid)) else {
            return;
        };
        let idle_before = req.info.idle_for.filter(|_| req.info.reused);
        let (host, served) = (conn.host, conn.served);
        self.pools
            .learner_mut(host)
            .on_response(served, idle_before);
    }

    /// Whether the retry budget of `host` allows one more resend now (and counts it).
    pub(super) fn budget_allows_retry(&mut self, host: HostId) -> bool {
        let (now, ratio) = (self.now, self.config.retry_budget);
        let allowed = self.pools.budget_mut(host).try_retry(now, ratio);
        if !allowed {
            self.pools.stats_mut(host).retries_denied += 1;
        }
        allowed
    }
}
