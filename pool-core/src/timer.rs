//! Deadlines: one name per deadline, one table per owner, one heap for the engine.
//!
//! Every deadline the engine enforces has a name in [`Deadline`]. A connection keeps a
//! [`DeadlineTable`]: a fixed array of `Option<Instant>` indexed by that name, so setting
//! or clearing a deadline is an array store. The engine keeps one [`Timers`] heap ordered
//! by instant; its top is the poll timeout. There is no periodic scan of connections.
//!
//! The heap is not told when a deadline is cleared or moved later: entries are checked
//! against the table when they pop (a stale or early entry is harmless). To keep the
//! heap small on the hot path, the table remembers the instant of the entry it already
//! has in the heap (`armed`) and pushes a new entry only when the new deadline is
//! *earlier* than that one. Deadlines that move later with every request (response head,
//! total, idle expiry) therefore cost no heap push at all in the steady state: when the
//! old entry pops, the table answers "re-arm at the later instant" instead of "fire".

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::Instant;

/// The name of a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Deadline {
    /// DNS plus TCP connect of a new connection (`connect_timeout`).
    Connect,
    /// Start racing the next address (RFC 8305 connection attempt delay).
    HappyEyeballs,
    /// TLS handshake not finished (`tls_handshake_timeout`).
    TlsHandshake,
    /// The proxy has not answered `CONNECT` (`proxy_connect_timeout`).
    ProxyConnect,
    /// Request written, response head not yet read (`response_header_timeout`).
    ResponseHead,
    /// Waiting for `100 Continue` before sending the body (`expect_continue_timeout`).
    ExpectContinue,
    /// The request's total deadline (`timeout` or its own).
    Total,
    /// Draining an unread body in the background (`drain_timeout`).
    Drain,
    /// Idle connection unused for its idle limit (`idle_timeout`, or shorter: the
    /// server's `Keep-Alive: timeout=` or a learned idle limit, less
    /// `keepalive_margin`); for a retiring connection, the end of its watch.
    IdleExpiry,
    /// Connection older than its `max_conn_lifetime` (with jitter).
    Lifetime,
    /// A request waited `pool_wait_timeout` in its host's queue (owned by the request).
    PoolWait,
    /// A host's DNS answer expired: ask again while it has connections (owned by the
    /// host).
    DnsRefresh,
}

impl Deadline {
    /// Number of deadline names: the size of a [`DeadlineTable`]. Derived from the last
    /// variant, so a variant added in the middle (or by a merge) cannot leave a name
    /// without a slot; `every_deadline_has_a_slot` checks it.
    pub(crate) const COUNT: usize = Deadline::DnsRefresh as usize + 1;

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Deadline::Connect => "connect",
            Deadline::HappyEyeballs => "happy-eyeballs",
            Deadline::TlsHandshake => "tls-handshake",
            Deadline::ProxyConnect => "proxy-connect",
            Deadline::ResponseHead => "response-head",
            Deadline::ExpectContinue => "expect-continue",
            Deadline::Total => "total",
            Deadline::Drain => "drain",
            Deadline::IdleExpiry => "idle-expiry",
            Deadline::Lifetime => "lifetime",
            Deadline::PoolWait => "pool-wait",
            Deadline::DnsRefresh => "dns-refresh",
        })
    }
}

/// What a popped heap entry means for its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Popped {
    /// The deadline has passed: act on it (it is now cleared).
    Fire,
    /// The deadline moved later: push a new entry at this instant.
    Rearm(Instant),
    /// Nothing to do: cleared, or superseded by an earlier entry.
    Stale,
}

/// The deadlines of one owner (a connection or a request).
#[derive(Clone, Debug, Default)]
pub(crate) struct DeadlineTable {
    /// When each deadline passes; `None` = not set.
    at: [Option<Instant>; Deadline::COUNT],
    /// The instant of this owner's live heap entry per deadline, if any.
    armed: [Option<Instant>; Deadline::COUNT],
}

impl DeadlineTable {
    /// Sets `kind` to pass at `at`. Returns true when the caller must push a heap entry
    /// at `at` (no live entry, or the live one is later).
    #[must_use]
    pub(crate) fn set(&mut self, kind: Deadline, at: Instant) -> bool {
        let i = kind.index();
        self.at[i] = Some(at);
        match self.armed[i] {
            Some(armed) if armed <= at => false,
            _ => {
                self.armed[i] = Some(at);
                true
            }
        }
    }

    /// Clears `kind`; its heap entry, if any, becomes stale.
    pub(crate) fn clear(&mut self, kind: Deadline) {
        self.at[kind.index()] = None;
    }

    /// Clears every deadline.
    pub(crate) fn clear_all(&mut self) {
        self.at = [None; Deadline::COUNT];
    }

    #[cfg(test)]
    /// When `kind` passes, if set.
    pub(crate) fn get(&self, kind: Deadline) -> Option<Instant> {
        self.at[kind.index()]
    }

    /// The heap entry `(kind, entry_at)` popped at `now`: fire, re-arm or ignore.
    pub(crate) fn on_pop(&mut self, kind: Deadline, entry_at: Instant, now: Instant) -> Popped {
        let i = kind.index();
        if self.armed[i] != Some(entry_at) {
            return Popped::Stale;
        }
        self.armed[i] = None;
        match self.at[i] {
            None => Popped::Stale,
            Some(at) if at <= now => {
                self.at[i] = None;
                Popped::Fire
            }
            Some(at) => {
                self.armed[i] = Some(at);
                Popped::Rearm(at)
            }
        }
    }
}

/// Who a heap entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Owner {
    /// A connection, by slab id.
    Conn(usize),
    /// A request that has no connection yet (waiting in a host's queue).
    Request(u64),
    /// A host pool (its DNS answer's refresh).
    Host(usize),
}

/// The engine's min-heap of deadline entries.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Owner, Deadline)>>,
}

impl Timers {
    pub(crate) fn push(&mut self, at: Instant, owner: Owner, kind: Deadline) {
        self.heap.push(Reverse((at, owner, kind)));
    }

    /// The earliest entry's instant: the engine polls no longer than until then.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Owner, Deadline)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_deadline_has_a_slot() {
        // Exhaustive: a new variant must be added here, and then fits the table.
        fn all() -> [Deadline; 12] {
            use Deadline::*;
            let list = [
                Connect,
                HappyEyeballs,
                TlsHandshake,
                ProxyConnect,
                ResponseHead,
                ExpectContinue,
                Total,
                Drain,
                IdleExpiry,
                Lifetime,
                PoolWait,
                DnsRefresh,
            ];
            for d in list {
                match d {
                    Connect | HappyEyeballs | TlsHandshake | ProxyConnect | ResponseHead
                    | ExpectContinue | Total | Drain | IdleExpiry | Lifetime | PoolWait
                    | DnsRefresh => {}
                }
            }
            list
        }
        let list = all();
        assert_eq!(list.len(), Deadline::COUNT);
        let mut table = DeadlineTable::default();
        let t = Instant::now();
        for (i, d) in list.into_iter().enumerate() {
            assert_eq!(d.index(), i, "{d}");
            assert!(table.set(d, t));
            assert_eq!(table.get(d), Some(t));
        }
    }

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn later_deadlines_do_not_push_and_rearm_on_pop() {
        let base = t0();
        let mut table = DeadlineTable::default();
        let s = |n| base + Duration::from_secs(n);
        assert!(table.set(Deadline::Total, s(10)), "first set pushes");
        assert!(
            !table.set(Deadline::Total, s(20)),
            "later deadline reuses the entry"
        );
        assert_eq!(
            table.on_pop(Deadline::Total, s(10), s(10)),
            Popped::Rearm(s(20))
        );
        assert_eq!(table.on_pop(Deadline::Total, s(20), s(20)), Popped::Fire);
        assert_eq!(table.get(Deadline::Total), None);
    }

    #[test]
    fn earlier_deadline_pushes_and_old_entry_goes_stale() {
        let base = t0();
        let s = |n| base + Duration::from_secs(n);
        let mut table = DeadlineTable::default();
        assert!(table.set(Deadline::Connect, s(10)));
        assert!(table.set(Deadline::Connect, s(5)));
        assert_eq!(table.on_pop(Deadline::Connect, s(5), s(5)), Popped::Fire);
        assert_eq!(table.on_pop(Deadline::Connect, s(10), s(10)), Popped::Stale);
    }

    #[test]
    fn cleared_deadline_is_stale_and_early_pop_rearms() {
        let base = t0();
        let s = |n| base + Duration::from_secs(n);
        let mut table = DeadlineTable::default();
        assert!(table.set(Deadline::IdleExpiry, s(3)));
        table.clear(Deadline::IdleExpiry);
        assert_eq!(
            table.on_pop(Deadline::IdleExpiry, s(3), s(3)),
            Popped::Stale
        );
        // Set again after the entry was consumed: a push is needed.
        assert!(table.set(Deadline::IdleExpiry, s(7)));
        // An early wake-up (clock before the deadline) re-arms instead of firing.
        assert_eq!(
            table.on_pop(Deadline::IdleExpiry, s(7), s(6)),
            Popped::Rearm(s(7))
        );
    }

    #[test]
    fn heap_pops_in_order_and_only_when_due() {
        let base = t0();
        let s = |n| base + Duration::from_secs(n);
        let mut timers = Timers::default();
        timers.push(s(3), Owner::Conn(1), Deadline::Total);
        timers.push(s(1), Owner::Request(9), Deadline::Total);
        timers.push(s(2), Owner::Conn(0), Deadline::Connect);
        assert_eq!(timers.next_at(), Some(s(1)));
        assert_eq!(timers.pop_due(s(0)), None);
        assert_eq!(timers.pop_due(s(2)).map(|e| e.1), Some(Owner::Request(9)));
        assert_eq!(timers.pop_due(s(2)).map(|e| e.1), Some(Owner::Conn(0)));
        assert_eq!(timers.pop_due(s(2)), None);
        assert_eq!(timers.len(), 1);
    }
}
