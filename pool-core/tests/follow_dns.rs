//! DNS-aware reuse (`follow_dns`) against loopback servers behind a fake DNS whose answer
//! the test changes: dials spread over the answer (least connections), the answer is
//! refreshed on `dns_ttl` while the host has connections, connections to departed
//! addresses are closed (idle at once, busy when their request ends), a scale-out moves
//! connections onto the new addresses, and a failed refresh keeps what works.
//!
//! Each server of the "service" is its own `TestServer` on 127.0.0.1 with its own port:
//! the fake answer carries whole socket addresses, so one name can stand for several
//! instances without any other loopback address.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use common::{gated_server, wait_until, Gate, WAIT};
use testkit::TestServer;
use wirepool::{Client, ClientBuilder, HostStats};

/// The service's name in the fake DNS.
const URL: &str = "http://svc.test/";

/// A fake DNS whose answer for `svc.test` the test sets (an error when `None`), and
/// how many times it was asked.
#[derive(Clone, Default)]
struct FakeDns(Arc<Mutex<Option<Vec<SocketAddr>>>>, Arc<AtomicUsize>);

impl FakeDns {
    fn answering(addrs: &[SocketAddr]) -> FakeDns {
        let dns = FakeDns::default();
        dns.set(Some(addrs));
        dns
    }

    fn set(&self, addrs: Option<&[SocketAddr]>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = addrs.map(<[_]>::to_vec);
    }

    fn calls(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }

    /// The resolver hook: the current answer.
    fn resolver(&self) -> impl wirepool::Resolve {
        let (answer, calls) = (Arc::clone(&self.0), Arc::clone(&self.1));
        move |host: &str, _port: u16| -> io::Result<Vec<SocketAddr>> {
            calls.fetch_add(1, Ordering::SeqCst);
            match (
                host,
                answer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ) {
                ("svc.test", Some(addrs)) => Ok(addrs),
                _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such service")),
            }
        }
    }
}

/// A client of the fake DNS with answers cached for `ttl`.
fn client(dns: &FakeDns, ttl: Duration, follow: bool) -> Client {
    ClientBuilder::new()
        .resolver(dns.resolver())
        .proxy_from_env(false)
        .dns_ttl(ttl)
        .follow_dns(follow)
        .build()
        .unwrap()
}

/// The stats of `svc.test`.
fn stats(client: &Client) -> HostStats {
    client.stats().unwrap().hosts[0].1.clone()
}

/// Open connections per address, as the pool counts them.
fn per_address(client: &Client) -> Vec<(SocketAddr, usize)> {
    stats(client).conns_per_address
}

/// Sends `n` GETs at once from `n` threads and waits for all (the servers' gate must
/// let them through), so that `n` connections are open at the same time.
fn concurrent(client: &Client, n: usize, gate: &Gate, servers: &[&TestServer]) {
    let before: usize = servers.iter().map(|s| s.requests()).sum();
    let workers: Vec<_> = (0..n)
        .map(|_| {
            let client = client.clone();
            thread::spawn(move || client.get(URL).send().and_then(|r| r.bytes()).map(|_| ()))
        })
        .collect();
    assert!(
        wait_until(WAIT, || servers.iter().map(|s| s.requests()).sum::<usize>()
            == before + n),
        "the {n} requests did not all reach the servers"
    );
    gate.open(n);
    for w in workers {
        w.join().unwrap().unwrap();
    }
}

/// Three instances, six concurrent requests: two connections each. Without
/// `follow_dns` all six go to the answer's first address (the control).
#[test]
fn dials_spread_over_the_answer() {
    for follow in [true, false] {
        let gate = Gate::new();
        let servers = [
            gated_server(&gate, b"a"),
            gated_server(&gate, b"b"),
            gated_server(&gate, b"c"),
        ];
        let addrs: Vec<SocketAddr> = servers.iter().map(TestServer::addr).collect();
        let dns = FakeDns::answering(&addrs);
        let client = client(&dns, Duration::from_secs(60), follow);
        concurrent(&client, 6, &gate, &[&servers[0], &servers[1], &servers[2]]);
        let conns: Vec<usize> = servers.iter().map(TestServer::connections).collect();
        let counted: Vec<usize> = per_address(&client).iter().map(|(_, n)| *n).collect();
        if follow {
            assert_eq!(conns, [2, 2, 2]);
            assert_eq!(counted, [2, 2, 2]);
        } else {
            assert_eq!(conns, [6, 0, 0]);
            assert_eq!(counted, [6, 0, 0]);
        }
    }
}

/// The answer loses an address: at the next refresh (TTL 200 ms) the idle connection to
/// it is closed (`dns_change`) and later requests go to the remaining one.
#[test]
fn idle_connections_to_a_departed_address_are_closed_on_refresh() {
    let gate = Gate::new();
    let (a, b) = (gated_server(&gate, b"a"), gated_server(&gate, b"b"));
    let dns = FakeDns::answering(&[a.addr(), b.addr()]);
    let client = client(&dns, Duration::from_millis(200), true);
    concurrent(&client, 2, &gate, &[&a, &b]);
    assert_eq!((a.connections(), b.connections()), (1, 1));
    dns.set(Some(&[b.addr()]));
    assert!(
        wait_until(WAIT, || stats(&client).closes.dns_change == 1),
        "{:?}",
        stats(&client)
    );
    assert!(a.wait_for_open_connections(0, WAIT));
    assert_eq!(stats(&client).addresses, [b.addr()]);
    gate.open_all();
    for _ in 0..3 {
        client.get(URL).send().unwrap().bytes().unwrap();
    }
    assert_eq!((a.requests(), b.requests()), (1, 4));
    assert_eq!(b.connections(), 1, "the connection to b was reused");
}

/// A connection busy when its address leaves the answer finishes its request, then is
/// closed instead of going back to the pool.
#[test]
fn a_busy_connection_to_a_departed_address_is_not_pooled_again() {
    let gate = Gate::new();
    let a = gated_server(&gate, b"a");
    let b = TestServer::keep_alive(b"b");
    let dns = FakeDns::answering(&[a.addr()]);
    let client = client(&dns, Duration::from_millis(200), true);
    let busy = {
        let client = client.clone();
        thread::spawn(move || client.get(URL).send().unwrap().text().unwrap())
    };
    assert!(a.wait_for_requests(1, WAIT));
    dns.set(Some(&[b.addr()]));
    assert!(
        wait_until(WAIT, || stats(&client).addresses == [b.addr()]),
        "the refresh did not happen: {:?}",
        stats(&client)
    );
    gate.open(1);
    assert_eq!(busy.join().unwrap(), "a");
    assert!(wait_until(WAIT, || stats(&client).closes.dns_change == 1));
    assert_eq!(client.get(URL).send().unwrap().text().unwrap(), "b");
    assert!(a.wait_for_open_connections(0, WAIT));
}

/// A scale-out: four connections on the one instance; the answer gains a second one;
/// at the refresh two idle connections are closed (`rebalance`) and the next round's
/// dials land on the new instance: two connections each. Without `follow_dns` (the
/// control) the new instance gets nothing.
#[test]
fn a_scale_out_moves_connections_to_the_new_instance() {
    for follow in [true, false] {
        let gate = Gate::new();
        let (a, b) = (gated_server(&gate, b"a"), gated_server(&gate, b"b"));
        let dns = FakeDns::answering(&[a.addr()]);
        let client = client(&dns, Duration::from_millis(200), follow);
        concurrent(&client, 4, &gate, &[&a, &b]);
        dns.set(Some(&[a.addr(), b.addr()]));
        if follow {
            assert!(
                wait_until(WAIT, || stats(&client).closes.rebalance == 2),
                "{:?}",
                stats(&client)
            );
        }
        // (The control goes on at once: without a refresh nothing would change however
        // long it waited; it shows what the assertions below would see without one.)
        concurrent(&client, 4, &gate, &[&a, &b]);
        let counted = per_address(&client);
        if follow {
            assert_eq!(counted, [(a.addr(), 2), (b.addr(), 2)]);
            assert_eq!((a.requests(), b.requests()), (6, 2));
        } else {
            assert_eq!(
                counted,
                [(a.addr(), 4)],
                "the answer was never looked at again"
            );
            assert_eq!((a.requests(), b.requests()), (8, 0));
        }
    }
}

/// A refresh that fails (the resolver errs) keeps the connections and the answer; the
/// pool asks again later and picks up the answer once it is back.
#[test]
fn a_failed_refresh_keeps_what_works() {
    let (a, b) = (TestServer::keep_alive(b"a"), TestServer::keep_alive(b"b"));
    let dns = FakeDns::answering(&[a.addr()]);
    let client = client(&dns, Duration::from_millis(200), true);
    client.get(URL).send().unwrap().bytes().unwrap();
    dns.set(None);
    let asked = dns.calls();
    assert!(
        wait_until(WAIT, || dns.calls() >= asked + 2),
        "the pool did not ask again after a failed refresh"
    );
    let s = stats(&client);
    assert_eq!((s.idle, s.closes.total()), (1, 0), "{s:?}");
    assert_eq!(client.get(URL).send().unwrap().text().unwrap(), "a");
    dns.set(Some(&[b.addr()]));
    assert!(
        wait_until(WAIT, || stats(&client).closes.dns_change == 1),
        "{:?}",
        stats(&client)
    );
    assert_eq!(client.get(URL).send().unwrap().text().unwrap(), "b");
}
