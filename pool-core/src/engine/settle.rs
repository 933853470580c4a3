//! Which request gets which connection: idle reuse, new dials, the wait queue and
//! hand-offs — the pool's decisions between connections.
//!
//! "Settle" runs at the start and end of every turn and hands pending requests a
//! connection: the host's most recently idled one (LIFO by default), else a new dial if
//! `max_conns_per_host` allows, else a place in the host's FIFO wait queue. When a
//! connection finishes a response it goes to the first waiter (a hand-off, started at
//! the next settle), or back to the idle pool. A request retried after a stale
//! connection only ever gets a fresh one.
//!
//! The work deferred within a turn is kept in [`Work`], each list with the point where
//! it is emptied, so no transition needs the engine's callback in the middle of
//! another.

use std::collections::VecDeque;
use std::time::Duration;

use super::Engine;
use crate::conn::{Conn, Next, Plan, State};
use crate::dns::Lookup;
use crate::error::{Error, ErrorKind};
use crate::event::Sink;
use crate::pool::{CloseCause, HostId, Limit, Scheme};
use crate::request::{Place, RequestId, RequestInfo};
use crate::route::{DialTarget, Route};
use crate::timer::{Deadline, Owner};
use crate::trace::{ConnReturned, DnsStart, GotConn, Queued, Tracers};

/// A finished request's outcome, reported at the end of the turn.
type Outcome = (RequestId, Result<RequestInfo, Error>);

/// Work deferred within a turn.
#[derive(Default)]
pub(super) struct Work {
    /// Submitted or retried requests without a connection: emptied by the next settle.
    pub(super) pending: VecDeque<RequestId>,
    /// Connections with bytes to use (resumed after a pause, draining a dropped body):
    /// driven by the next settle, before pending requests, so a drained connection can
    /// carry the next request instead of a new dial.
    pub(super) ready: Vec<usize>,
    /// Connections whose streamed request body has more to write (`Engine::body_ready`):
    /// written by the next settle.
    pub(super) writers: Vec<usize>,
    /// Released connections promised to a waiting request: started by the next settle.
    pub(super) handoffs: Vec<(usize, RequestId)>,
    /// Hosts whose open-connection count dropped: their waiters may dial (next settle).
    pub(super) freed_hosts: Vec<HostId>,
    /// Connections waiting for a DNS answer: matched when the resolver answers.
    pub(super) resolving: Vec<usize>,
    /// Finished and failed requests: reported at the end of the settle that follows.
    pub(super) outbox: Vec<Outcome>,
    /// The outbox's twin, swapped in while the outbox is being reported.
    pub(super) spare_outbox: Vec<Outcome>,
    /// Closed connections whose slots are freed at the end of the turn (so a stale
    /// event in the same batch cannot reach a new occupant).
    pub(super) to_free: Vec<usize>,
}

impl Work {
    /// Whether the next poll must not sleep.
    pub(super) fn has_work(&self) -> bool {
        !self.pending.is_empty() || !self.ready.is_empty() || !self.writers.is_empty()
    }

    /// Connection `cid` of `host` closed.
    pub(super) fn conn_closed(&mut self, cid: usize, host: HostId) {
        self.resolving.retain(|&c| c != cid);
        self.to_free.push(cid);
        self.freed_hosts.push(host);
    }

    /// Forgets all pending work (shutdown).
    pub(super) fn clear(&mut self) {
        self.pending.clear();
        self.ready.clear();
        self.writers.clear();
        self.handoffs.clear();
        self.freed_hosts.clear();
        self.resolving.clear();
    }
}

impl Engine {
    /// Runs queued work until none is left: resumed and draining connections, pending
    /// requests, hand-offs, hosts with freed capacity.
    ///
    /// Connections go first: a body dropped just before the next request was sent is
    /// often already in the socket, and draining it first lets that request reuse the
    /// connection instead of dialing a new one.
    pub(super) fn settle(&mut self, sink: Sink<'_>) {
        loop {
            if let Some(cid) = self.work.ready.pop() {
                self.drive(cid, sink, |conn, req, ctx| conn.drive_read(req, ctx));
            } else if let Some(cid) = self.work.writers.pop() {
                self.drive(cid, sink, |conn, req, ctx| conn.drive_write(req, ctx));
            } else if let Some(id) = self.work.pending.pop_front() {
                self.dispatch(id, sink);
            } else if let Some((cid, id)) = self.work.handoffs.pop() {
                self.take_handoff(cid, id, sink);
            } else if let Some(host) = self.work.freed_hosts.pop() {
                self.serve_waiters(host, sink);
            } else {
                break;
            }
        }
    }

    /// Gives request `id` an idle connection, a new one, or a place in the wait queue.
    fn dispatch(&mut self, id: RequestId, sink: Sink<'_>) {
        let now = self.now;
        let Some(req) = self.reqs.get(id) else { return };
        let host = req.host;
        if req.warm {
            // A pre-warm opens a connection or nothing: it never takes an idle one and
            // never waits for room.
            if self.pools.can_open(host) {
                return self.open_conn(host, id, sink);
            }
            let err = Error::msg(
                ErrorKind::Canceled,
                "prewarm: max_conns_per_host was reached before this connection could open",
            );
            return self.fail_request(id, err);
        }
        if !req.fresh_only {
            while let Some((cid, since)) = self.pools.pop_idle(host) {
                let Some(conn) = self.conns.get(cid) else {
                    continue;
                };
                if conn.is_expired(now) {
                    self.close_conn(cid, CloseCause::Lifetime);
                    continue;
                }
                // Past the idle time the server allows (or `idle_timeout`), or at the
                // number of requests it was learned to allow: the server is about to
                // close it, so this request must not go out on it.
                let (limit, end) = self.idle_limit(conn);
                if now.saturating_duration_since(since) >= limit {
                    self.end_idle(cid, end);
                    continue;
                }
                if self.at_learned_request_limit(conn) {
                    self.retire(cid, Limit::Requests);
                    continue;
                }
                if let Some(req) = self.reqs.get_mut(id) {
                    req.info.idle_for = Some(now.saturating_duration_since(since));
                }
                if let Some(conn) = self.conns.get_mut(cid) {
                    conn.deadlines.clear(Deadline::IdleExpiry);
                    conn.deadlines.clear(Deadline::Lifetime);
                }
                return self.start_exchange(cid, id, sink);
            }
        }
        if self.pools.can_open(host) {
            self.open_conn(host, id, sink);
        } else {
            self.enqueue(host, id);
        }
    }

    /// Puts request `id` in `host`'s wait queue, or fails it at once when
    /// `max_waiters_per_host` are already waiting. Its alarms: the total deadline, and
    /// `pool_wait_timeout` from now.
    fn enqueue(&mut self, host: HostId, id: RequestId) {
        let now = self.now;
        if let Some(max) = self.config.max_waiters_per_host {
            if self.pools.waiting(host) >= max {
                self.pools.stats_mut(host).queue_rejected += 1;
                let err = Error::msg(
                    ErrorKind::WaitQueueFull,
                    format!("{max} requests were already waiting (max_waiters_per_host)"),
                );
                return self.fail_request(id, err);
            }
        }
        self.pools.push_waiter(host, id.0);
        let wait_until = self
            .config
            .pool_wait_timeout
            .and_then(|limit| now.checked_add(limit));
        if let Some(req) = self.reqs.get_mut(id) {
            req.place = Place::Queued { since: now };
            if let Some(at) = req.deadline {
                self.timers.push(at, Owner::Request(id.0), Deadline::Total);
            }
            if let Some(at) = wait_until.filter(|&w| req.deadline.map_or(true, |d| w < d)) {
                self.timers
                    .push(at, Owner::Request(id.0), Deadline::PoolWait);
            }
            let (key, waiting) = (self.pools.key(host), self.pools.waiting(host));
            Tracers::new(self.tracer.as_deref(), req.tracer.as_deref()).emit(|t| {
                t.queued(&Queued {
                    at: now,
                    request: id,
                    host: key,
                    waiting,
                })
            });
        }
    }

    /// Request `id` leaves its host's wait queue with a connection: its time in the
    /// queue goes into its `RequestInfo` and the host's stats.
    fn leave_queue(&mut self, host: HostId, id: RequestId) {
        let now = self.now;
        let Some(req) = self.reqs.get_mut(id) else {
            return;
        };
        let Place::Queued { since } = req.place else {
            return;
        };
        let waited = now.saturating_duration_since(since);
        req.info.queued = waited;
        let stats = self.pools.stats_mut(host);
        stats.queued += 1;
        stats.queue_wait = stats.queue_wait.saturating_add(waited);
    }

    /// Puts request `id` on connection `cid` (new, idle or handed off) and starts its
    /// exchange. Counts a reuse here, where a used connection really takes a request.
    pub(super) fn start_exchange(&mut self, cid: usize, id: RequestId, sink: Sink<'_>) {
        let now = self.now;
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        self.spares.equip(conn, self.config.head_limits);
        if conn.served > 0 || conn.pooled {
            self.pools.stats_mut(conn.host).reuses += 1;
        }
        let mut deadline = None;
        if let Some(req) = self.reqs.get_mut(id) {
            deadline = req.deadline;
            req.info.wait = now.saturating_duration_since(req.submitted);
            req.info.conn_requests = conn.served;
            self.pools
                .stats_mut(conn.host)
                .timings
                .wait
                .record(req.info.wait);
            // From here the connection's events reach this request's tracer too.
            conn.req_tracer.clone_from(&req.tracer);
            let info = &req.info;
            Tracers::new(self.tracer.as_deref(), req.tracer.as_deref()).emit(|t| {
                t.got_conn(&GotConn {
                    at: now,
                    request: id,
                    conn_id: conn.serial,
                    reused: conn.served > 0,
                    idle_for: info.idle_for,
                    served: conn.served,
                    queued_for: info.queued,
                    wait: info.wait,
                })
            });
        }
        if let Some(at) = deadline {
            self.arm_conn(cid, Deadline::Total, at);
        }
        let next = self.with_conn(cid, Some(id), sink, |conn, req, ctx| match req {
            Some(req) => conn.start_exchange(id, req, ctx),
            None => Next::Wait,
        });
        if let Some(next) = next {
            self.apply(cid, next, sink);
        }
    }

    /// Dials a new connection for request `id`.
    pub(super) fn open_conn(&mut self, host: HostId, id: RequestId, sink: Sink<'_>) {
        let now = self.now;
        self.pools.conn_opened(host);
        self.pools.stats_mut(host).dials += 1;
        self.conn_serial += 1;
        let key = self.pools.key(host);
        let tls = key.scheme() == Scheme::Https;
        let plan = match key.route() {
            Route::Proxy(proxy) => Plan {
                proxy_tls: proxy.scheme() == Scheme::Https,
                tunnel: tls,
                tls,
            },
            Route::Direct | Route::Unix(_) => Plan {
                tls,
                ..Plan::default()
            },
        };
        let mut conn = Conn::new(host, self.conn_serial, plan, id, now);
        conn.expires_at = self
            .config
            .max_conn_lifetime
            .and_then(|life| now.checked_add(self.jittered(life)));
        let cid = self.conns.insert(conn);
        if let Some(at) = now.checked_add(self.config.connect_timeout) {
            self.arm_conn(cid, Deadline::Connect, at);
        }
        let deadline = match self.reqs.get_mut(id) {
            Some(req) => {
                req.place = Place::OnConn(cid);
                if let Some(conn) = self.conns.get_mut(cid) {
                    conn.req_tracer.clone_from(&req.tracer);
                }
                req.deadline
            }
            None => None,
        };
        if let Some(at) = deadline {
            self.arm_conn(cid, Deadline::Total, at);
        }
        let (name, port) = match super::dial_target(&self.pools, &self.routes, host) {
            DialTarget::Tcp(name, port) => (name, port),
            DialTarget::Unix(path) => {
                let path = path.to_path_buf();
                return self.drive(cid, sink, |conn, _, ctx| conn.start_unix(&path, ctx));
            }
        };
        // DNS events for a name only: an IP literal needs no lookup.
        let literal = crate::dns::parse_ip_literal(name).is_some();
        if !literal {
            let serial = self.conn_serial;
            self.conn_tracers(cid).emit(|t| {
                t.dns_start(&DnsStart {
                    at: now,
                    request: Some(id),
                    conn_id: serial,
                    host: name,
                    port,
                })
            });
        }
        match self.resolver.lookup(name, port, now) {
            Lookup::Ready(answer) => {
                if !literal {
                    self.trace_dns_done(cid, name, Ok(&answer), true);
                }
                self.apply_answer(host, &answer);
                let addrs = self.dial_addrs(cid, host, &answer);
                self.drive(cid, sink, |conn, _, ctx| conn.start_dial(&addrs, ctx));
            }
            Lookup::Pending => self.work.resolving.push(cid),
        }
    }

    /// `life` shortened by up to `lifetime_jitter` of itself, at random.
    fn jittered(&mut self, life: Duration) -> Duration {
        // xorshift64: cheap, and good enough to spread expiries.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let unit = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        // `validate` keeps the jitter in 0..=1; a lifetime too long for f64 seconds is
        // kept as it is (it means "never" anyway).
        let cut = self.config.lifetime_jitter.clamp(0.0, 1.0) * unit;
        Duration::try_from_secs_f64(life.as_secs_f64() * (1.0 - cut)).unwrap_or(life)
    }

    /// A connection finished a response and may be reused: give it to the first waiter,
    /// or put it in the idle pool.
    pub(super) fn release(&mut self, cid: usize, sink: Sink<'_>) {
        let now = self.now;
        let Some(conn) = self.conns.get(cid) else {
            return;
        };
        let host = conn.host;
        if self
            .config
            .max_requests_per_conn
            .is_some_and(|max| conn.served >= max)
        {
            return self.close_conn(cid, CloseCause::MaxRequests);
        }
        if conn.is_expired(now) {
            return self.close_conn(cid, CloseCause::Lifetime);
        }
        if self.at_learned_request_limit(conn) {
            return self.retire(cid, Limit::Requests);
        }
        if let Some(cause) = self.dns_verdict(cid) {
            return self.close_conn(cid, cause);
        }
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        conn.deadlines.clear(Deadline::Total);
        let finished = conn.state.request();
        conn.pooled = true;
        conn.set_state(State::Idle);
        // A readable flag still set means unread bytes or EOF may be waiting.
        if let Next::Close(cause) = conn.check_idle() {
            return self.close_conn(cid, cause);
        }
        while let Some(waiter) = self.pools.pop_waiter(host) {
            let id = RequestId(waiter);
            self.leave_queue(host, id);
            let Some(req) = self.reqs.get_mut(id) else {
                continue;
            };
            if req.fresh_only {
                // A retry after a stale connection must not meet another used one. This
                // connection makes room for the new one the retry dials.
                req.place = Place::Pending;
                self.close_conn(cid, CloseCause::Evicted);
                return self.open_conn(host, id, sink);
            }
            req.info.idle_for = Some(Duration::ZERO);
            req.place = Place::OnConn(cid);
            self.work.handoffs.push((cid, id));
            return self.trace_returned(cid, finished, Some(id));
        }
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        self.spares.strip(conn);
        // The write buffer keeps its (small) capacity: the next request's head is
        // encoded into it without allocating.
        let expires_at = conn.expires_at;
        for evicted in self.pools.push_idle(host, cid, now) {
            self.close_conn(evicted, CloseCause::Evicted);
        }
        if !self.pools.is_idle(cid) {
            return;
        }
        self.trace_returned(cid, finished, None);
        let Some(conn) = self.conns.get(cid) else {
            return;
        };
        let (idle_limit, _) = self.idle_limit(conn);
        if let Some(at) = now.checked_add(idle_limit) {
            self.arm_conn(cid, Deadline::IdleExpiry, at);
        }
        if let Some(at) = expires_at {
            self.arm_conn(cid, Deadline::Lifetime, at);
        }
    }

    /// `conn_returned`: connection `cid`, done with request `finished` (none after a
    /// drain), went to the idle pool or to request `handed_to`. The finished request's
    /// tracer is done with it.
    fn trace_returned(
        &mut self,
        cid: usize,
        finished: Option<RequestId>,
        handed_to: Option<RequestId>,
    ) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let req_tracer = conn.req_tracer.take();
        let now = self.now;
        Tracers::new(self.tracer.as_deref(), req_tracer.as_deref()).emit(|t| {
            t.conn_returned(&ConnReturned {
                at: now,
                request: finished,
                conn_id: conn.serial,
                host: self.pools.key(conn.host),
                served: conn.served,
                handed_to,
            })
        });
    }

    /// Starts a handed-off exchange, unless the connection died in between (then the
    /// request is dispatched again) or the request went away (then the connection goes
    /// back through `release`).
    fn take_handoff(&mut self, cid: usize, id: RequestId, sink: Sink<'_>) {
        let idle = self
            .conns
            .get(cid)
            .is_some_and(|c| matches!(c.state, State::Idle));
        if self.reqs.get(id).is_none() {
            if idle {
                self.release(cid, sink);
            }
            return;
        }
        if idle {
            self.start_exchange(cid, id, sink);
        } else if let Some(req) = self.reqs.get_mut(id) {
            req.place = Place::Pending;
            self.work.pending.push_back(id);
        }
    }

    /// Dials for waiters of `host` while its connection limit allows.
    fn serve_waiters(&mut self, host: HostId, sink: Sink<'_>) {
        while self.pools.can_open(host) {
            let Some(waiter) = self.pools.pop_waiter(host) else {
                break;
            };
            let id = RequestId(waiter);
            if self.reqs.get(id).is_some() {
                self.leave_queue(host, id);
                self.open_conn(host, id, sink);
            }
        }
    }
}
