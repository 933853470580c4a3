//! What the pool counts: why connections closed ([`CloseCause`], [`CloseCounts`]), the
//! per-host event counters the Engine increments ([`HostCounters`]), and the snapshot
//! callers read ([`HostStats`], [`Stats`]).
//!
//! # What this module owns
//!
//! The counter types, their names in logs and metrics, and building a snapshot: one
//! [`HostStats`] per host from its counters and gauges, sorted by key, plus their sum.
//!
//! # What it deliberately does not do
//!
//! It stores no gauge. Idle, active, connecting and waiting are read off the pool's own
//! structure when a snapshot is taken ([`HostGauges`]), so they cannot drift from what the
//! pool holds; only events (dials, reuses, closes, …) are counted, where they happen.

use std::fmt;
use std::time::Duration;

use super::key::PoolKey;
use super::learn::LearnedLimits;
use super::timings::Timings;

/// Why a connection was closed, for the close counters in [`Stats`] and for logs.
///
/// Most limits behind these causes are the client's own settings; four come from the
/// server: what it announced in `Keep-Alive: timeout=N, max=M`
/// ([`CloseCause::KeepAliveTimeout`], [`CloseCause::KeepAliveMax`]) and what the pool
/// learned from the connections it closed without warning
/// ([`CloseCause::LearnedRequestLimit`], [`CloseCause::LearnedIdleLimit`]). A server
/// that closes a connection first shows up as [`CloseCause::ServerClose`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCause {
    /// It sat idle for `idle_timeout` (found when its idle-expiry deadline fires, or when
    /// a request finds it expired on checkout).
    IdleTimeout,
    /// It reached `max_conn_lifetime` (shortened by `lifetime_jitter`), for example so that
    /// a DNS change is picked up.
    Lifetime,
    /// The server closed it: EOF or a reset while idle, EOF before any byte of a response
    /// arrived, or EOF while an unread body was being drained.
    ServerClose,
    /// An I/O, TLS or protocol error (a body cut short included) or a deadline (connect,
    /// TLS handshake, response head, total) in the middle of an exchange, bytes after the
    /// end of a response, or unsolicited bytes on an idle connection.
    Error,
    /// Made room: the idle pool was full (`max_idle_per_host` or `max_idle_total`) and
    /// the oldest idle connection (of the host, or of all hosts) was closed, or with a
    /// limit of 0 the connection coming back; or a request retried after a stale
    /// connection was waiting at `max_conns_per_host` and a used connection was closed so
    /// that it could dial a fresh one.
    Evicted,
    /// It served `max_requests_per_conn` requests (a client setting; the server's
    /// `Keep-Alive: max=` is not read).
    MaxRequests,
    /// The exchange left it unfit for reuse; [`NotReusable`] says why (the keep-alive
    /// verdict's reason, an early response, or a body dropped unread that was over
    /// `drain_limit` or not drained within `drain_timeout`). Counted in total and per
    /// reason ([`CloseCounts::not_reusable_by`]).
    NotReusable(NotReusable),
    /// The pool or the Engine was shut down, or `close_idle()` was called.
    Shutdown,
    /// The caller canceled the request (`Engine::cancel`, or `Engine::discard` before the
    /// response head arrived) while it was on this connection: its state is unknown.
    Canceled,
    /// It sat idle for the server's announced `Keep-Alive: timeout=N` less
    /// `keepalive_margin` (shorter than `idle_timeout`): the server was about to close it.
    KeepAliveTimeout,
    /// It carried as many requests as the server's `Keep-Alive: max=M` allowed.
    KeepAliveMax,
    /// It carried as many responses as the server was learned to allow before closing
    /// connections without warning (`LearnedLimits::requests_per_conn`). The pool stops
    /// using it and waits briefly for the server's close, which confirms the limit.
    LearnedRequestLimit,
    /// It sat idle for as long as the server was learned to keep idle connections
    /// (`LearnedLimits::idle_timeout`) less `keepalive_margin`. As for
    /// [`CloseCause::LearnedRequestLimit`], the pool then watches for the server's close.
    LearnedIdleLimit,
    /// Its address left the host's DNS answer when the answer was refreshed: closed if
    /// idle, or when its request finished.
    DnsChange,
    /// Moved to another address: a refreshed DNS answer added addresses (a scale-out)
    /// and this connection's address carried at least two connections more than the
    /// least loaded one when it came back to the pool; the next dial goes to the least
    /// loaded address.
    Rebalance,
}

impl CloseCause {
    /// Every cause, in the order of the fields of [`CloseCounts`].
    pub const ALL: [CloseCause; 15] = [
        CloseCause::IdleTimeout,
        CloseCause::Lifetime,
        CloseCause::ServerClose,
        CloseCause::Error,
        CloseCause::Evicted,
        CloseCause::MaxRequests,
        CloseCause::NotReusable(NotReusable::Other),
        CloseCause::Shutdown,
        CloseCause::Canceled,
        CloseCause::KeepAliveTimeout,
        CloseCause::KeepAliveMax,
        CloseCause::LearnedRequestLimit,
        CloseCause::LearnedIdleLimit,
        CloseCause::DnsChange,
        CloseCause::Rebalance,
    ];

    /// The name used in logs and metrics, e.g. `"idle timeout"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseCause::IdleTimeout => "idle timeout",
            CloseCause::Lifetime => "lifetime",
            CloseCause::ServerClose => "server close",
            CloseCause::Error => "error",
            CloseCause::Evicted => "evicted",
            CloseCause::MaxRequests => "max requests",
            CloseCause::NotReusable(_) => "not reusable",
            CloseCause::Shutdown => "shutdown",
            CloseCause::Canceled => "canceled",
            CloseCause::KeepAliveTimeout => "keep-alive timeout",
            CloseCause::KeepAliveMax => "keep-alive max",
            CloseCause::LearnedRequestLimit => "learned request limit",
            CloseCause::LearnedIdleLimit => "learned idle limit",
            CloseCause::DnsChange => "dns change",
            CloseCause::Rebalance => "rebalance",
        }
    }
}

impl fmt::Display for CloseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseCause::NotReusable(why) => write!(f, "not reusable: {why}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Why an exchange left its connection unfit for another request: the detail behind
/// [`CloseCause::NotReusable`], so the stats can say why connections were not reused.
/// The first four come from the codec's keep-alive verdict (`http1_codec::CloseReason`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotReusable {
    /// The response carried `Connection: close`.
    ServerSentClose,
    /// Our request carried `Connection: close`.
    RequestSentClose,
    /// An HTTP/1.0 response without `Connection: keep-alive`.
    Http10,
    /// The body was delimited by the connection's close.
    CloseDelimitedBody,
    /// A final response arrived before the whole request was sent (an early response,
    /// or one that came instead of `100 Continue`): the server cannot know where the
    /// rest of our request would have ended.
    EarlyResponse,
    /// A body dropped unread had more left than `drain_limit`.
    DrainLimit,
    /// A body dropped unread was not drained within `drain_timeout`.
    DrainTimeout,
    /// Another reason of the verdict (an upgrade, a tunnel).
    Other,
}

impl NotReusable {
    /// Every reason, in the order of the fields of [`NotReusableCounts`].
    pub const ALL: [NotReusable; 8] = [
        NotReusable::ServerSentClose,
        NotReusable::RequestSentClose,
        NotReusable::Http10,
        NotReusable::CloseDelimitedBody,
        NotReusable::EarlyResponse,
        NotReusable::DrainLimit,
        NotReusable::DrainTimeout,
        NotReusable::Other,
    ];

    /// The name used in logs and metrics, e.g. `"server sent close"`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotReusable::ServerSentClose => "server sent close",
            NotReusable::RequestSentClose => "request sent close",
            NotReusable::Http10 => "http/1.0 without keep-alive",
            NotReusable::CloseDelimitedBody => "close-delimited body",
            NotReusable::EarlyResponse => "early response",
            NotReusable::DrainLimit => "drain limit",
            NotReusable::DrainTimeout => "drain timeout",
            NotReusable::Other => "other",
        }
    }

    /// The reason for the codec's verdict `reason`.
    pub(crate) fn from_verdict(reason: http1_codec::CloseReason) -> NotReusable {
        use http1_codec::CloseReason;
        match reason {
            CloseReason::ServerSentClose => NotReusable::ServerSentClose,
            CloseReason::RequestSentClose => NotReusable::RequestSentClose,
            CloseReason::Http10WithoutKeepAlive => NotReusable::Http10,
            CloseReason::CloseDelimitedBody => NotReusable::CloseDelimitedBody,
            _ => NotReusable::Other,
        }
    }
}

impl fmt::Display for NotReusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Connections closed as [`CloseCause::NotReusable`], per [`NotReusable`] reason.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotReusableCounts {
    /// [`NotReusable::ServerSentClose`].
    pub server_sent_close: u64,
    /// [`NotReusable::RequestSentClose`].
    pub request_sent_close: u64,
    /// [`NotReusable::Http10`].
    pub http10: u64,
    /// [`NotReusable::CloseDelimitedBody`].
    pub close_delimited_body: u64,
    /// [`NotReusable::EarlyResponse`].
    pub early_response: u64,
    /// [`NotReusable::DrainLimit`].
    pub drain_limit: u64,
    /// [`NotReusable::DrainTimeout`].
    pub drain_timeout: u64,
    /// [`NotReusable::Other`].
    pub other: u64,
}

impl NotReusableCounts {
    /// The counter for `reason`.
    pub fn get(&self, reason: NotReusable) -> u64 {
        match reason {
            NotReusable::ServerSentClose => self.server_sent_close,
            NotReusable::RequestSentClose => self.request_sent_close,
            NotReusable::Http10 => self.http10,
            NotReusable::CloseDelimitedBody => self.close_delimited_body,
            NotReusable::EarlyResponse => self.early_response,
            NotReusable::DrainLimit => self.drain_limit,
            NotReusable::DrainTimeout => self.drain_timeout,
            NotReusable::Other => self.other,
        }
    }

    fn slot_mut(&mut self, reason: NotReusable) -> &mut u64 {
        match reason {
            NotReusable::ServerSentClose => &mut self.server_sent_close,
            NotReusable::RequestSentClose => &mut self.request_sent_close,
            NotReusable::Http10 => &mut self.http10,
            NotReusable::CloseDelimitedBody => &mut self.close_delimited_body,
            NotReusable::EarlyResponse => &mut self.early_response,
            NotReusable::DrainLimit => &mut self.drain_limit,
            NotReusable::DrainTimeout => &mut self.drain_timeout,
            NotReusable::Other => &mut self.other,
        }
    }
}

/// Number of closed connections per [`CloseCause`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseCounts {
    /// Closed by [`CloseCause::IdleTimeout`].
    pub idle_timeout: u64,
    /// Closed by [`CloseCause::Lifetime`].
    pub lifetime: u64,
    /// Closed by [`CloseCause::ServerClose`].
    pub server_close: u64,
    /// Closed by [`CloseCause::Error`].
    pub error: u64,
    /// Closed by [`CloseCause::Evicted`].
    pub evicted: u64,
    /// Closed by [`CloseCause::MaxRequests`].
    pub max_requests: u64,
    /// Closed by [`CloseCause::NotReusable`], whatever the reason.
    pub not_reusable: u64,
    /// The same, per reason.
    pub not_reusable_by: NotReusableCounts,
    /// Closed by [`CloseCause::Shutdown`].
    pub shutdown: u64,
    /// Closed by [`CloseCause::Canceled`].
    pub canceled: u64,
    /// Closed by [`CloseCause::KeepAliveTimeout`].
    pub keepalive_timeout: u64,
    /// Closed by [`CloseCause::KeepAliveMax`].
    pub keepalive_max: u64,
    /// Closed by [`CloseCause::LearnedRequestLimit`].
    pub learned_request_limit: u64,
    /// Closed by [`CloseCause::LearnedIdleLimit`].
    pub learned_idle_limit: u64,
    /// Closed by [`CloseCause::DnsChange`].
    pub dns_change: u64,
    /// Closed by [`CloseCause::Rebalance`].
    pub rebalance: u64,
}

impl CloseCounts {
    /// The counter for `cause`.
    pub fn get(&self, cause: CloseCause) -> u64 {
        match cause {
            CloseCause::IdleTimeout => self.idle_timeout,
            CloseCause::Lifetime => self.lifetime,
            CloseCause::ServerClose => self.server_close,
            CloseCause::Error => self.error,
            CloseCause::Evicted => self.evicted,
            CloseCause::MaxRequests => self.max_requests,
            CloseCause::NotReusable(_) => self.not_reusable,
            CloseCause::Shutdown => self.shutdown,
            CloseCause::Canceled => self.canceled,
            CloseCause::KeepAliveTimeout => self.keepalive_timeout,
            CloseCause::KeepAliveMax => self.keepalive_max,
            CloseCause::LearnedRequestLimit => self.learned_request_limit,
            CloseCause::LearnedIdleLimit => self.learned_idle_limit,
            CloseCause::DnsChange => self.dns_change,
            CloseCause::Rebalance => self.rebalance,
        }
    }

    /// Counts one close for `cause`.
    pub(crate) fn record(&mut self, cause: CloseCause) {
        *self.slot_mut(cause) += 1;
        if let CloseCause::NotReusable(why) = cause {
            *self.not_reusable_by.slot_mut(why) += 1;
        }
    }

    /// All closes, whatever the cause.
    pub fn total(&self) -> u64 {
        CloseCause::ALL.iter().map(|&c| self.get(c)).sum()
    }

    /// The counter for `cause`, writable.
    fn slot_mut(&mut self, cause: CloseCause) -> &mut u64 {
        match cause {
            CloseCause::IdleTimeout => &mut self.idle_timeout,
            CloseCause::Lifetime => &mut self.lifetime,
            CloseCause::ServerClose => &mut self.server_close,
            CloseCause::Error => &mut self.error,
            CloseCause::Evicted => &mut self.evicted,
            CloseCause::MaxRequests => &mut self.max_requests,
            CloseCause::NotReusable(_) => &mut self.not_reusable,
            CloseCause::Shutdown => &mut self.shutdown,
            CloseCause::Canceled => &mut self.canceled,
            CloseCause::KeepAliveTimeout => &mut self.keepalive_timeout,
            CloseCause::KeepAliveMax => &mut self.keepalive_max,
            CloseCause::LearnedRequestLimit => &mut self.learned_request_limit,
            CloseCause::LearnedIdleLimit => &mut self.learned_idle_limit,
            CloseCause::DnsChange => &mut self.dns_change,
            CloseCause::Rebalance => &mut self.rebalance,
        }
    }

    /// Adds `other` into `self` (for totals across hosts).
    fn add(&mut self, other: &CloseCounts) {
        for cause in CloseCause::ALL {
            *self.slot_mut(cause) += other.get(cause);
        }
        for why in NotReusable::ALL {
            *self.not_reusable_by.slot_mut(why) += other.not_reusable_by.get(why);
        }
    }
}

/// Event counters of one host, incremented by the Engine where the event happens
/// (through [`Pools::stats_mut`](super::Pools::stats_mut)). Gauges (idle, active,
/// connecting, waiting) are not here: [`Pools`](super::Pools) derives them from its own
/// structure, so they cannot drift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HostCounters {
    /// Requests submitted for this host (each counted once, retries included in `retries`).
    pub requests: u64,
    /// Connections dialed (TCP connects started).
    pub dials: u64,
    /// Requests served on a connection taken from the idle pool.
    pub reuses: u64,
    /// Requests retried on a fresh connection after failing on a reused one.
    pub retries: u64,
    /// Retries refused by the retry budget (`retry_budget`).
    pub retries_denied: u64,
    /// TLS handshakes that verified a certificate chain (no session to resume).
    pub tls_full_handshakes: u64,
    /// TLS handshakes that resumed an earlier session (ticket or session id).
    pub tls_resumed_handshakes: u64,
    /// Requests that waited in the host's queue (`max_conns_per_host` reached) and left
    /// it with a connection.
    pub queued: u64,
    /// Their time in the queue, summed.
    pub queue_wait: Duration,
    /// Requests that failed after `pool_wait_timeout` in the queue.
    pub queue_timeouts: u64,
    /// Requests refused at once because `max_waiters_per_host` were already waiting.
    pub queue_rejected: u64,
    /// Connections closed, by cause.
    pub closes: CloseCounts,
    /// Latency histograms, recorded where each phase ends.
    pub timings: Timings,
}

/// Counters and gauges of one host (or the sum over all hosts), as seen at one instant.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostStats {
    /// Requests submitted.
    pub requests: u64,
    /// Connections dialed.
    pub dials: u64,
    /// Requests served on a reused idle connection.
    pub reuses: u64,
    /// Requests retried on a fresh connection after failing on a reused one.
    pub retries: u64,
    /// Retries the retry budget refused (`retry_budget`): the error went to the caller.
    pub retries_denied: u64,
    /// TLS handshakes that verified a certificate chain (no session to resume).
    pub tls_full_handshakes: u64,
    /// TLS handshakes that resumed an earlier session.
    pub tls_resumed_handshakes: u64,
    /// Requests that waited for a connection (`max_conns_per_host` reached) and got one.
    pub queued: u64,
    /// The time those requests spent waiting, summed: `queue_wait / queued` is the mean
    /// wait (each request's own is `RequestInfo::queued`).
    pub queue_wait: Duration,
    /// Requests that failed with `ErrorKind::PoolWaitTimeout` (`pool_wait_timeout`).
    pub queue_timeouts: u64,
    /// Requests refused with `ErrorKind::WaitQueueFull` (`max_waiters_per_host`).
    pub queue_rejected: u64,
    /// Idle connections now.
    pub idle: usize,
    /// Connections now carrying a request (open, past connecting, not idle).
    pub active: usize,
    /// Connections now being set up (DNS, TCP connect, TLS handshake).
    pub connecting: usize,
    /// Requests now waiting for a connection because of `max_conns_per_host`.
    pub waiting: usize,
    /// Connections closed so far, by cause.
    pub closes: CloseCounts,
    /// What the pool learned about the server from its silent closes (`learn_server_limits`).
    pub learned: LearnedLimits,
    /// Latency histograms: connect, TLS handshake, wait for a connection, time to first
    /// byte, total.
    pub timings: Timings,
    /// The addresses the last dial of this host tried, in the order the answer gave
    /// them: from the resolver (the system's or [`Config::resolver`](crate::Config::resolver)),
    /// a [`ResolveTo`](crate::ResolveTo) rule, or the IP literal itself. Through a proxy,
    /// the proxy's. Empty before the first dial, over a Unix socket, and in the total.
    pub addresses: Vec<std::net::SocketAddr>,
    /// The address the last successful TCP connect of this host reached (the winner of
    /// its Happy Eyeballs race). `None` before one, over a Unix socket, and in the total.
    pub peer: Option<std::net::SocketAddr>,
    /// Open connections per address: each address of `addresses` (zero or more), then
    /// addresses that left the answer but still carry connections. A connection counts
    /// on the address its dial tried first until it connects, then on the one it
    /// reached. Empty over a Unix socket and in the total.
    pub conns_per_address: Vec<(std::net::SocketAddr, usize)>,
}

impl HostStats {
    /// The stats of one host from its event counters and the gauges read off the pool;
    /// `active` is what is open and neither idle nor connecting.
    pub(super) fn new(
        counters: &HostCounters,
        gauges: HostGauges,
        learned: LearnedLimits,
    ) -> HostStats {
        HostStats {
            requests: counters.requests,
            dials: counters.dials,
            reuses: counters.reuses,
            retries: counters.retries,
            retries_denied: counters.retries_denied,
            tls_full_handshakes: counters.tls_full_handshakes,
            tls_resumed_handshakes: counters.tls_resumed_handshakes,
            queued: counters.queued,
            queue_wait: counters.queue_wait,
            queue_timeouts: counters.queue_timeouts,
            queue_rejected: counters.queue_rejected,
            idle: gauges.idle,
            active: gauges
                .open
                .saturating_sub(gauges.idle)
                .saturating_sub(gauges.connecting),
            connecting: gauges.connecting,
            waiting: gauges.waiting,
            closes: counters.closes,
            learned,
            timings: counters.timings,
            addresses: Vec::new(),
            peer: None,
            conns_per_address: Vec::new(),
        }
    }

    /// Joins the address fields of `other`, another pool of the same host, to `self`'s
    /// (see [`Stats::coalesce_hosts`]).
    fn add_addresses(&mut self, other: HostStats) {
        for addr in other.addresses {
            if !self.addresses.contains(&addr) {
                self.addresses.push(addr);
            }
        }
        self.peer = self.peer.or(other.peer);
        for (addr, n) in other.conns_per_address {
            match self.conns_per_address.iter_mut().find(|(a, _)| *a == addr) {
                Some((_, sum)) => *sum += n,
                None => self.conns_per_address.push((addr, n)),
            }
        }
    }

    /// Adds `other` into `self`.
    fn add(&mut self, other: &HostStats) {
        self.requests += other.requests;
        self.dials += other.dials;
        self.reuses += other.reuses;
        self.retries += other.retries;
        self.retries_denied += other.retries_denied;
        self.tls_full_handshakes += other.tls_full_handshakes;
        self.tls_resumed_handshakes += other.tls_resumed_handshakes;
        self.queued += other.queued;
        self.queue_wait = self.queue_wait.saturating_add(other.queue_wait);
        self.queue_timeouts += other.queue_timeouts;
        self.queue_rejected += other.queue_rejected;
        self.idle += other.idle;
        self.active += other.active;
        self.connecting += other.connecting;
        self.waiting += other.waiting;
        self.closes.add(&other.closes);
        self.learned.add(&other.learned);
        self.timings.add(&other.timings);
    }
}

/// A snapshot of the pool: every host's counters and gauges, and their sum.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Sum over all hosts.
    pub total: HostStats,
    /// One entry per host the pool has seen, sorted by key.
    pub hosts: Vec<(PoolKey, HostStats)>,
}

impl Stats {
    /// Adds `other` into `self`: its hosts join the list (a program with several
    /// clients — one per route, say — gets one snapshot for all of them), the totals add
    /// up. Hosts stay sorted by key; keys are not merged (two clients' pools for the same
    /// key stay two entries).
    pub fn merge(&mut self, other: Stats) {
        self.total.add(&other.total);
        self.hosts.extend(other.hosts);
        self.hosts.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Adds together the entries of equal keys, which stay sorted: the pools one host has
    /// in several engines of one client (split by caller) become one entry. The totals do
    /// not change. Of the learned limits, the counters add up and the limits are the
    /// first entry's (each engine learns its own); of the addresses, the first entry's
    /// come first, then any other's it lacks; `peer` is the first entry's (if it has
    /// one); connections per address add up.
    pub(crate) fn coalesce_hosts(&mut self) {
        let mut hosts: Vec<(PoolKey, HostStats)> = Vec::with_capacity(self.hosts.len());
        for (key, host) in self.hosts.drain(..) {
            match hosts.last_mut() {
                Some((last, sum)) if *last == key => {
                    sum.add(&host);
                    sum.add_addresses(host);
                }
                _ => hosts.push((key, host)),
            }
        }
        self.hosts = hosts;
    }

    /// The snapshot of `hosts` (each host's key and stats): the hosts sorted by key, and
    /// their sum.
    pub(super) fn from_hosts(hosts: impl ExactSizeIterator<Item = (PoolKey, HostStats)>) -> Stats {
        let mut stats = Stats {
            total: HostStats::default(),
            hosts: Vec::with_capacity(hosts.len()),
        };
        for (key, host) in hosts {
            stats.total.add(&host);
            stats.hosts.push((key, host));
        }
        stats.hosts.sort_by(|a, b| a.0.cmp(&b.0));
        stats
    }
}

/// The gauges of one host, read off the pool's structure when a snapshot is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct HostGauges {
    /// Open connections: connecting + active + idle.
    pub open: usize,
    /// Of `open`, those in the idle pool.
    pub idle: usize,
    /// Of `open`, those still being dialed.
    pub connecting: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_cause_names_and_counters_line_up() {
        let mut counts = CloseCounts::default();
        for (i, cause) in CloseCause::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                counts.record(cause);
            }
        }
        for (i, cause) in CloseCause::ALL.into_iter().enumerate() {
            assert_eq!(counts.get(cause), i as u64 + 1, "{cause}");
        }
        assert_eq!(counts.total(), 120); // 1 + 2 + ... + 15
        assert_eq!(CloseCause::IdleTimeout.to_string(), "idle timeout");
        let drain_limit = CloseCause::NotReusable(NotReusable::DrainLimit);
        assert_eq!(drain_limit.as_str(), "not reusable");
        assert_eq!(drain_limit.to_string(), "not reusable: drain limit");
    }

    /// Two engines' snapshots of overlapping hosts: after `merge`, `coalesce_hosts`
    /// leaves one entry per key whose counters, gauges and per-address connections are
    /// the sums, while the totals stay the sums over everything.
    #[test]
    fn coalescing_adds_the_pools_of_one_host() {
        let a: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: std::net::SocketAddr = "127.0.0.1:2".parse().unwrap();
        let host = |requests, idle, addr: std::net::SocketAddr| HostStats {
            requests,
            dials: 1,
            idle,
            addresses: vec![addr],
            peer: Some(addr),
            conns_per_address: vec![(addr, idle)],
            ..HostStats::default()
        };
        let key = |h: &str| PoolKey::new(super::super::Scheme::Http, h, 80);
        let snapshot = |hosts: Vec<(PoolKey, HostStats)>| Stats::from_hosts(hosts.into_iter());
        let mut merged = snapshot(vec![(key("x"), host(3, 1, a)), (key("y"), host(5, 2, a))]);
        merged.merge(snapshot(vec![(key("x"), host(4, 2, b))]));
        let total = merged.total.clone();
        merged.coalesce_hosts();
        assert_eq!(merged.total, total);
        assert_eq!(merged.hosts.len(), 2);
        let (k, x) = &merged.hosts[0];
        assert_eq!(k, &key("x"));
        assert_eq!((x.requests, x.dials, x.idle), (7, 2, 3));
        assert_eq!(x.addresses, vec![a, b]);
        assert_eq!(x.peer, Some(a));
        assert_eq!(x.conns_per_address, vec![(a, 1), (b, 2)]);
        assert_eq!(merged.hosts[1].1.requests, 5);
        assert_eq!(merged.total.requests, 12);
    }
}
