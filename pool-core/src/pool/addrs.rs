//! Which addresses of a host's DNS answer its connections use: the per-address count of
//! open connections, the order a new dial tries the answer in, and whether a refreshed
//! answer dropped or added addresses.
//!
//! A pool that always dials the answer's first address puts every connection on one
//! instance of a service; one that never looks at DNS again keeps talking to instances
//! that were replaced long ago (golang #23427, reqwest #3033). [`HostAddrs`] keeps what
//! the engine needs to do better: how many connections each address carries (a
//! connection is counted on the address its dial tries first, then on the one it
//! reached), so that a new dial starts with the least loaded address
//! ([`HostAddrs::dial_order`], least connections); and whether the connections are
//! spread as evenly as the answer allows, so that after a scale-out connections coming
//! back to the pool can be moved to the new addresses ([`HostAddrs::take_crowded`]).
//!
//! It does not keep the answer itself (the host pool's `addresses` does, for the stats
//! too), resolve anything, or close connections: the engine asks and acts.

use std::net::SocketAddr;

/// Open connections per address of one host, and whether they should be rebalanced.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostAddrs {
    /// Open connections per address: small (the addresses of one answer, plus any that
    /// left it while connections to them were still open).
    counts: Vec<(SocketAddr, u32)>,
    /// A refreshed answer added addresses: connections on crowded addresses are moved
    /// as they come back, until no address carries more than one connection more than
    /// another address of the answer.
    rebalancing: bool,
    /// Connections closed to be moved whose replacement has not been dialed yet: they
    /// count as load on the least loaded address, so that one release burst does not
    /// move more than the balance needs.
    moving: u32,
}

impl HostAddrs {
    /// Open connections counted on `addr`.
    pub(crate) fn load(&self, addr: SocketAddr) -> u32 {
        self.counts
            .iter()
            .find(|(a, _)| *a == addr)
            .map_or(0, |(_, n)| *n)
    }

    /// A new dial is counted on `addr` (it may be the replacement of a moved one).
    pub(crate) fn count_dial(&mut self, addr: SocketAddr) {
        self.moving = self.moving.saturating_sub(1);
        self.add(addr);
    }

    /// A connection is counted on `addr`.
    pub(crate) fn add(&mut self, addr: SocketAddr) {
        match self.counts.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((addr, 1)),
        }
    }

    /// A connection counted on `addr` is gone (or moved).
    pub(crate) fn remove(&mut self, addr: SocketAddr) {
        if let Some(i) = self.counts.iter().position(|(a, _)| *a == addr) {
            self.counts[i].1 = self.counts[i].1.saturating_sub(1);
            if self.counts[i].1 == 0 {
                self.counts.swap_remove(i);
            }
        }
    }

    /// The order in which a new dial should try `answer`: the family of the answer's
    /// first address first (the resolver's RFC 6724 preference, which Happy Eyeballs
    /// keeps), and within each family the least loaded address first; ties keep the
    /// answer's order. Counting the dial on the first address at once is what spreads a
    /// burst of dials over the answer.
    pub(crate) fn dial_order(&self, answer: &[SocketAddr]) -> Vec<SocketAddr> {
        let Some(first) = answer.first() else {
            return Vec::new();
        };
        let leading_v6 = first.is_ipv6();
        let mut ordered = answer.to_vec();
        ordered.sort_by_key(|a| (a.is_ipv6() != leading_v6, self.load(*a)));
        ordered
    }

    /// Counts per address, for the stats: every address of `answer` (zero or more) in
    /// its order, then addresses that left it but still have connections.
    pub(crate) fn per_address(&self, answer: &[SocketAddr]) -> Vec<(SocketAddr, usize)> {
        let mut out: Vec<(SocketAddr, usize)> = answer
            .iter()
            .map(|a| (*a, self.load(*a) as usize))
            .collect();
        for (addr, n) in &self.counts {
            if !answer.contains(addr) {
                out.push((*addr, *n as usize));
            }
        }
        out
    }

    /// A refreshed answer `new` replaced `old`: rebalance if it brought addresses the
    /// old one did not have.
    pub(crate) fn answer_changed(&mut self, old: &[SocketAddr], new: &[SocketAddr]) {
        if new.iter().any(|a| !old.contains(a)) {
            self.rebalancing = true;
            self.moving = 0;
        }
    }

    /// Whether a connection on `addr` (idle, or coming back to the pool) should rather
    /// be closed so that a dial moves it to a less loaded address of `answer`: only while
    /// rebalancing after a scale-out, and only while `addr` carries more than its even
    /// share — the answer's connections (and the moves already under way) spread over
    /// its addresses, rounded up. A `true` counts one more move. Rebalancing ends once
    /// no address is over its share and every move has been dialed.
    pub(crate) fn take_crowded(&mut self, addr: SocketAddr, answer: &[SocketAddr]) -> bool {
        if !self.rebalancing || answer.len() < 2 {
            return false;
        }
        let loads = answer.iter().map(|a| self.load(*a));
        let (total, max) = loads.fold((self.moving, 0), |(sum, hi), n| (sum + n, hi.max(n)));
        let share = total.div_ceil(answer.len() as u32);
        if max <= share {
            if self.moving == 0 {
                self.rebalancing = false;
            }
            return false;
        }
        let crowded = answer.contains(&addr) && self.load(addr) > share;
        if crowded {
            self.moving += 1;
        }
        crowded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::new(192, 0, 2, last), 80))
    }

    fn v6(last: u16) -> SocketAddr {
        SocketAddr::from((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last), 80))
    }

    #[test]
    fn a_burst_of_dials_spreads_over_the_answer() {
        let answer = [v4(1), v4(2), v4(3)];
        let mut addrs = HostAddrs::default();
        let mut firsts = Vec::new();
        for _ in 0..7 {
            let first = addrs.dial_order(&answer)[0];
            addrs.count_dial(first);
            firsts.push(first);
        }
        assert_eq!(
            firsts,
            [v4(1), v4(2), v4(3), v4(1), v4(2), v4(3), v4(1)],
            "least connections, ties in the answer's order"
        );
        addrs.remove(v4(2));
        addrs.remove(v4(2));
        assert_eq!(addrs.dial_order(&answer), [v4(2), v4(3), v4(1)]);
    }

    #[test]
    fn the_leading_family_stays_first() {
        let mut addrs = HostAddrs::default();
        let answer = [v6(1), v6(2), v4(1), v4(2)];
        addrs.add(v6(1));
        addrs.add(v6(1));
        addrs.add(v4(1));
        // IPv6 first (the resolver's preference), least loaded within each family.
        assert_eq!(addrs.dial_order(&answer), [v6(2), v6(1), v4(2), v4(1)]);
        assert!(addrs.dial_order(&[]).is_empty());
    }

    #[test]
    fn counts_per_address_include_addresses_that_left() {
        let mut addrs = HostAddrs::default();
        addrs.add(v4(1));
        addrs.add(v4(9));
        addrs.add(v4(9));
        assert_eq!(
            addrs.per_address(&[v4(1), v4(2)]),
            [(v4(1), 1), (v4(2), 0), (v4(9), 2)]
        );
        addrs.remove(v4(9));
        addrs.remove(v4(9));
        addrs.remove(v4(9)); // one too many: no underflow
        assert_eq!(addrs.per_address(&[v4(1)]), [(v4(1), 1)]);
    }

    #[test]
    fn rebalancing_after_a_scale_out_moves_what_the_balance_needs() {
        let mut addrs = HostAddrs::default();
        let old = [v4(1)];
        for _ in 0..4 {
            addrs.count_dial(v4(1));
        }
        assert!(
            !addrs.take_crowded(v4(1), &old),
            "no scale-out, no rebalancing"
        );
        let new = [v4(1), v4(2)];
        addrs.answer_changed(&old, &new);
        // 4 vs 0: two of the four move; their replacements are dialed later.
        let moved: Vec<bool> = (0..4)
            .map(|_| {
                let take = addrs.take_crowded(v4(1), &new);
                if take {
                    addrs.remove(v4(1));
                }
                take
            })
            .collect();
        assert_eq!(moved, [true, true, false, false], "the even share is 2");
        assert!(
            !addrs.take_crowded(v4(2), &new),
            "the new address is not crowded"
        );
        // The replacements go to the new address, least loaded first.
        for _ in 0..2 {
            let first = addrs.dial_order(&new)[0];
            assert_eq!(first, v4(2));
            addrs.count_dial(first);
        }
        // 2 vs 2: even; rebalancing is over, until the next scale-out.
        assert!(!addrs.take_crowded(v4(1), &new));
        addrs.count_dial(v4(1));
        addrs.count_dial(v4(1));
        assert!(!addrs.take_crowded(v4(1), &new));
        // A scale-out to three addresses with 32 connections on the first: 21 move,
        // leaving the even share (11) there.
        let mut addrs = HostAddrs::default();
        for _ in 0..32 {
            addrs.count_dial(v4(1));
        }
        let three = [v4(1), v4(2), v4(3)];
        addrs.answer_changed(&[v4(1)], &three);
        let mut moves = 0;
        while addrs.take_crowded(v4(1), &three) {
            addrs.remove(v4(1));
            moves += 1;
        }
        assert_eq!((moves, addrs.load(v4(1))), (21, 11));
        // An answer that only loses addresses starts no rebalancing.
        addrs.answer_changed(&new, &[v4(1)]);
        assert!(!addrs.take_crowded(v4(1), &new));
    }
}
