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
//! - **DNS-aware reuse** (`follow_dns`). Every connection is counted on an address of
//!   its host's answer ([`HostAddrs`](crate::pool::HostAddrs)); a dial tries the least
//!   loaded address first. A host's answer is looked up again when its cache entry
//!   expires (`dns_ttl`) while the host has connections (`Deadline::DnsRefresh`, owned by
//!   the host); when an answer changes, idle connections to addresses that left it are
//!   closed at once and busy ones when they come back (`CloseCause::DnsChange`), and if
//!   it added addresses, connections coming back on crowded addresses are closed so
//!   that the next dial lands on a new one (`CloseCause::Rebalance`).
//!
//! What is not here: which connection a request gets (`settle.rs`) and how a connection
//! reads the hint (`conn/`). The functions here are the hooks those call.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DialTarget, Engine};
use crate::conn::{Conn, Next, State};
use crate::dns::Lookup;
use crate::pool::{CloseCause, HostId, Limit};
use crate::request::RequestId;
use crate::timer::{Deadline, Owner};
use crate::trace::{ConnClosed, Tracers};

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
            if let Some(learned) = self.pools.learner(conn.host).idle_limit(self.now) {
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
                .request_limit(self.now)
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
        if let Some(addr) = conn.addr.take() {
            self.pools.addrs_mut(host).remove(addr);
        }
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let cause = match limit {
            Limit::Requests => CloseCause::LearnedRequestLimit,
            Limit::Idle => CloseCause::LearnedIdleLimit,
        };
        log::debug!(target: "wirepool::pool", "conn#{} to {} retired: {cause}", conn.serial, self.pools.key(host));
        self.pools.remove_idle(cid);
        self.spares.strip(conn);
        // For the tracers and the stats it closes now: it will never carry a request.
        let req_tracer = conn.req_tracer.take();
        Tracers::new(self.tracer.as_deref(), req_tracer.as_deref()).emit(|t| {
            t.conn_closed(&ConnClosed {
                at: now,
                request: conn.state.request(),
                conn_id: conn.serial,
                host: self.pools.key(host),
                cause,
                served: conn.served,
            })
        });
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
        // Its close was traced when it retired; nothing of it is traced now.
        conn.shut(
            self.poll.registry(),
            cause,
            Tracers::new(None, None),
            self.now,
        );
        self.work.to_free.push(cid);
        let learner = self.pools.learner_mut(host);
        match cause {
            CloseCause::ServerClose | CloseCause::Error => learner.on_watch(limit, true),
            CloseCause::IdleTimeout => learner.on_watch(limit, false),
            _ => {}
        }
    }

    /// The server closed a connection of `host` without warning after `served`
    /// responses and `idle` idle time — while idle, or (`on_reuse`) as a request went
    /// out on it: evidence for the learner.
    pub(super) fn note_silent_close(
        &mut self,
        host: HostId,
        served: u32,
        idle: Duration,
        on_reuse: bool,
    ) {
        let (learn, now) = (self.config.learn_server_limits, self.now);
        let learner = self.pools.learner_mut(host);
        if !learn {
            return learner.count_silent_close();
        }
        if let Some(limit) = learner.on_silent_close(served, idle, on_reuse, now) {
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
        let (host, served, now) = (conn.host, conn.served, self.now);
        self.pools
            .learner_mut(host)
            .on_response(served, idle_before, now);
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

    // ---- DNS-aware reuse -----------------------------------------------------------

    /// The addresses connection `cid` of `host` dials, from `answer`: least loaded
    /// first with `follow_dns`, the answer's order without. The connection is counted
    /// on the first of them from now on.
    pub(super) fn dial_addrs(
        &mut self,
        cid: usize,
        host: HostId,
        answer: &Arc<[SocketAddr]>,
    ) -> Arc<[SocketAddr]> {
        let addrs = self.pools.addrs_mut(host);
        let ordered: Arc<[SocketAddr]> = if self.config.follow_dns && answer.len() > 1 {
            addrs.dial_order(answer).into()
        } else {
            Arc::clone(answer)
        };
        // Happy Eyeballs tries the first address first: count the dial there.
        let first = crate::dns::happy_eyeballs_order(&ordered).first().copied();
        if let (Some(first), Some(conn)) = (first, self.conns.get_mut(cid)) {
            if let Some(old) = conn.addr.replace(first) {
                addrs.remove(old);
            }
            addrs.count_dial(first);
        }
        ordered
    }

    /// Connection `cid` reached `peer`: count it there if its dial was counted
    /// elsewhere (the first attempt lost the race).
    pub(super) fn connected_to(&mut self, cid: usize, peer: SocketAddr) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        if conn.addr == Some(peer) {
            return;
        }
        let host = conn.host;
        let old = conn.addr.replace(peer);
        let addrs = self.pools.addrs_mut(host);
        if let Some(old) = old {
            addrs.remove(old);
        }
        addrs.add(peer);
    }

    /// Connection `cid` is closing: it no longer counts on its address.
    pub(super) fn uncount_addr(&mut self, cid: usize) {
        if let Some(conn) = self.conns.get_mut(cid) {
            if let Some(addr) = conn.addr.take() {
                self.pools.addrs_mut(conn.host).remove(addr);
            }
        }
    }

    /// `answer` is `host`'s DNS answer from now on (a dial's lookup or a refresh). If it
    /// differs from the last one, idle connections to addresses that left it are closed
    /// and, if it added addresses, rebalancing starts. The next refresh is scheduled for
    /// when the answer's cache entry expires.
    pub(super) fn apply_answer(&mut self, host: HostId, answer: &Arc<[SocketAddr]>) {
        let old = self.pools.addresses(host).cloned();
        self.pools.set_addresses(host, answer);
        if !self.config.follow_dns {
            return;
        }
        self.schedule_refresh(host);
        let Some(old) = old.filter(|old| !Arc::ptr_eq(old, answer)) else {
            return;
        };
        if *old == **answer {
            return;
        }
        log::debug!(target: "wirepool::pool", "{}: DNS answer changed: {old:?} => {answer:?}", self.pools.key(host));
        self.pools.addrs_mut(host).answer_changed(&old, answer);
        // Idle connections: to departed addresses, closed; on crowded ones after a
        // scale-out, closed so that the next dials land on the new addresses.
        for cid in self.pools.idle_conns(host) {
            if let Some(cause) = self.dns_verdict(cid) {
                self.close_conn(cid, cause);
            }
        }
    }

    /// Why connection `conn`, done with its request, should not go back to the pool
    /// because of DNS: its address left the answer, or it is on a crowded address while
    /// the host rebalances after a scale-out.
    pub(super) fn dns_verdict(&mut self, cid: usize) -> Option<CloseCause> {
        if !self.config.follow_dns {
            return None;
        }
        let conn = self.conns.get(cid)?;
        let (host, addr) = (conn.host, conn.addr?);
        self.pools.addr_verdict(host, addr)
    }

    /// Arms `host`'s refresh for when its cached answer expires, unless armed for then.
    fn schedule_refresh(&mut self, host: HostId) {
        let DialTarget::Tcp(name, port) = self.dial_target(host) else {
            return;
        };
        let (name, port) = (name.to_owned(), port);
        let Some(at) = self.resolver.expiry(&name, port) else {
            return;
        };
        self.arm_refresh(host, at);
    }

    /// Arms `host`'s refresh at `at`.
    fn arm_refresh(&mut self, host: HostId, at: Instant) {
        if self.pools.dns_refresh_at(host) != Some(at) {
            self.pools.set_dns_refresh_at(host, Some(at));
            self.timers
                .push(at, Owner::Host(host), Deadline::DnsRefresh);
        }
    }

    /// The refresh deadline of `host` armed for `at` popped: look its answer up again
    /// if it still has connections (a host without any resolves on its next dial).
    pub(super) fn refresh_due(&mut self, host: HostId, at: Instant) {
        if host >= self.pools.host_count() || self.pools.dns_refresh_at(host) != Some(at) {
            return; // superseded
        }
        self.pools.set_dns_refresh_at(host, None);
        if self.pools.open_conns(host) == 0 {
            return;
        }
        let DialTarget::Tcp(name, port) = self.dial_target(host) else {
            return;
        };
        let (name, port) = (name.to_owned(), port);
        log::debug!(target: "wirepool::pool", "{}: refreshing the DNS answer of {name}:{port}", self.pools.key(host));
        match self.resolver.lookup(&name, port, self.now) {
            Lookup::Ready(answer) => self.apply_answer(host, &answer),
            // `handle_dns_answers` applies it to every host that dials this name.
            Lookup::Pending => {}
        }
    }

    /// A lookup of `name:port` failed: hosts with connections that dial that name ask
    /// again one `dns_ttl` later, keeping their answer meanwhile.
    pub(super) fn refresh_failed(&mut self, name: &str, port: u16) {
        if !self.config.follow_dns {
            return;
        }
        let Some(at) = self.now.checked_add(self.config.dns_ttl) else {
            return;
        };
        for host in self.hosts_dialing(name, port) {
            if self.pools.open_conns(host) > 0 && self.pools.dns_refresh_at(host).is_none() {
                self.arm_refresh(host, at);
            }
        }
    }

    /// The hosts whose connections dial `name:port`.
    pub(super) fn hosts_dialing(&self, name: &str, port: u16) -> Vec<HostId> {
        self.pools
            .hosts()
            .filter(|&h| {
                matches!(self.dial_target(h), DialTarget::Tcp(n, p)
                    if p == port && n.eq_ignore_ascii_case(name))
            })
            .collect()
    }
}
