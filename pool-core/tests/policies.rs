//! The pool's policies about the server, against loopback servers: the `Keep-Alive`
//! hint (idle timeout and request budget), limits learned from silent closes (learned,
//! confirmed, refuted; none against a well-behaved server), bounded waiting
//! (`max_waiters_per_host`, `pool_wait_timeout`) and the retry budget.
//!
//! The outcomes asserted are the policies' mechanics — which connection carried which
//! request, what closed it and why, what was learned — each made deterministic by the
//! server's script, with waits that have deadlines. How much the policies save under
//! load is measured, not asserted: `benches/src/bin/policies.rs` and docs/tuning.md.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{gated_server, get, host_stats, wait_until, Driver, Gate, WAIT};
use testkit::{Script, ServerLimits, TestServer};
use wirepool::http::Request;
use wirepool::{Body, Client, ClientBuilder, Config, Engine, ErrorKind, HostStats, RequestId};

/// The stats of `server`'s host as `client` sees them now.
fn stats(client: &Client, server: &TestServer) -> HostStats {
    host_stats(&client.stats().unwrap(), server)
}

/// Waits until `cond` holds for `server`'s stats; panics with `what` after [`WAIT`].
fn wait_stats(client: &Client, server: &TestServer, what: &str, cond: impl Fn(&HostStats) -> bool) {
    assert!(
        wait_until(WAIT, || cond(&stats(client, server))),
        "timed out waiting for {what}: {:?}",
        stats(client, server)
    );
}

/// `POST url` with a small body.
fn post(url: &str) -> Request<Body> {
    Request::post(url).body(Body::from("payload")).unwrap()
}

/// The server connection each recorded request came on, in order.
fn conns_of(server: &TestServer) -> Vec<usize> {
    server.recorded().iter().map(|r| r.conn).collect()
}

// ---- the Keep-Alive hint -------------------------------------------------------------

/// A server that announces `Keep-Alive: timeout=2` (and closes at 2 s): with a margin of
/// 1.8 s the pool stops reusing the connection after 200 ms idle and closes it itself,
/// long before the server does.
#[test]
fn keepalive_timeout_hint_ends_reuse_a_margin_before_the_server() {
    let limits = ServerLimits::idle(Duration::from_secs(2)).with_hint();
    let server = TestServer::with_limits(b"k", limits);
    let client = Client::builder()
        .keepalive_margin(Duration::from_millis(1800))
        .build()
        .unwrap();
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "k"
    );
    wait_stats(&client, &server, "the keep-alive timeout close", |s| {
        s.closes.keepalive_timeout == 1
    });
    let s = stats(&client, &server);
    assert_eq!(
        s.closes.idle_timeout, 0,
        "idle_timeout (90 s) was not the limit"
    );
    assert_eq!(s.learned.silent_closes, 0, "the pool closed first");
    assert!(server.wait_for_open_connections(0, WAIT));
    let resp = client.get(server.url("/")).send().unwrap();
    assert!(!resp.info().reused);
    assert_eq!(conns_of(&server), [0, 1]);
}

/// Reuse goes on within the announced timeout: a hint is not a reason to stop early.
#[test]
fn keepalive_timeout_hint_allows_reuse_before_it() {
    let limits = ServerLimits::idle(Duration::from_secs(5)).with_hint();
    let server = TestServer::with_limits(b"k", limits);
    let client = Client::new().unwrap();
    for _ in 0..5 {
        client.get(server.url("/")).send().unwrap().text().unwrap();
    }
    assert_eq!(conns_of(&server), [0, 0, 0, 0, 0]);
    let s = stats(&client, &server);
    assert_eq!((s.dials, s.reuses, s.closes.total()), (1, 4, 0));
}

/// `Keep-Alive: max=2, 1, 0` (Apache's count-down from a cap of 3): the third response
/// uses up the budget, so the pool closes the connection itself and the fourth request
/// dials. Nothing fails and the server never has to close first.
#[test]
fn keepalive_max_hint_closes_after_the_announced_requests() {
    let limits = ServerLimits::requests(3).with_hint();
    let server = TestServer::with_limits(b"m", limits);
    let client = Client::new().unwrap();
    for _ in 0..7 {
        client.get(server.url("/")).send().unwrap().text().unwrap();
    }
    assert_eq!(conns_of(&server), [0, 0, 0, 1, 1, 1, 2]);
    let s = stats(&client, &server);
    assert_eq!(s.closes.keepalive_max, 2);
    assert_eq!((s.retries, s.learned.silent_closes), (0, 0));
}

// ---- learned limits -------------------------------------------------------------------

/// A server that answers two requests per connection, then closes without a word —
/// 100 ms later, the time a request takes to be sent onto the dying connection.
fn closes_after_two() -> TestServer {
    let limits = ServerLimits::requests(2).close_delay(Duration::from_millis(100));
    TestServer::with_limits(b"p", limits)
}

/// Sends `n` POSTs one after another; returns which failed, by index.
fn posts(client: &Client, server: &TestServer, n: usize) -> Vec<usize> {
    (0..n)
        .filter(|i| {
            let result = client.send(post(&server.url("/"))).and_then(|r| r.bytes());
            if let Err(e) = &result {
                assert_eq!(e.kind(), ErrorKind::ConnectionClosed, "POST {i}: {e:?}");
                assert!(!e.is_retry_safe(), "a POST that reached the server");
            }
            result.is_err()
        })
        .collect()
}

/// The pool learns the server's cap from two silent closes (each costs the POST that
/// found the connection dead: the third on each connection), then retires every
/// connection after its second response: no POST fails again.
#[test]
fn learned_request_limit_keeps_posts_off_dying_connections() {
    let server = closes_after_two();
    let client = Client::new().unwrap();
    let failed = posts(&client, &server, 6);
    assert_eq!(
        failed,
        [2, 5],
        "the third POST on each of the first two connections"
    );
    let s = stats(&client, &server);
    assert_eq!(s.learned.requests_per_conn, Some(2));
    assert_eq!(s.learned.silent_closes, 2);
    let failed = posts(&client, &server, 12);
    assert_eq!(
        failed,
        [] as [usize; 0],
        "nothing is sent on a dying connection"
    );
    let s = stats(&client, &server);
    assert_eq!(
        s.closes.learned_request_limit, 6,
        "each connection retired after two"
    );
    assert_eq!(s.learned.silent_closes, 2, "no more surprises");
    // Every connection carried the two requests the server allows (the POST that
    // failed on each of the first two was never read: the server was closing).
    let conns = conns_of(&server);
    assert_eq!(conns.len(), 16);
    for c in 0..8 {
        let carried = conns.iter().filter(|&&x| x == c).count();
        assert_eq!(carried, 2, "connection {c}: {conns:?}");
    }
    // The retired connections were watched until the server closed them: confirmed.
    wait_stats(&client, &server, "the watches to confirm the limit", |s| {
        s.learned.confirmed == 6
    });
    assert_eq!(stats(&client, &server).learned.refuted, 0);
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// The control of the test above: without learning, the third POST on every connection
/// keeps failing. (What the test above would see if the policy did nothing.)
#[test]
fn without_learning_every_third_post_fails() {
    let server = closes_after_two();
    let client = ClientBuilder::new()
        .learn_server_limits(false)
        .build()
        .unwrap();
    let failed = posts(&client, &server, 18);
    assert_eq!(failed, [2, 5, 8, 11, 14, 17]);
    let s = stats(&client, &server);
    assert_eq!(s.learned.requests_per_conn, None);
    assert_eq!(s.learned.silent_closes, 6, "counted, not learned from");
    assert_eq!(s.closes.learned_request_limit, 0);
}

/// A server that closes a connection only when the request after its second arrives
/// (it reads it and hangs up without an answer): it never closes an idle connection on
/// its own, so a watch sees nothing — which must not refute the limit learned from the
/// failed reuses.
#[test]
fn a_server_that_closes_only_on_the_next_request_is_learned_too() {
    let server = TestServer::start(|conn| {
        for _ in 0..2 {
            if conn.read_request().is_none() {
                return;
            }
            conn.respond(200, &[], b"l");
        }
        let _ = conn.read_request();
    });
    let client = Client::new().unwrap();
    assert_eq!(posts(&client, &server, 6), [2, 5]);
    assert_eq!(posts(&client, &server, 12), [] as [usize; 0]);
    let s = stats(&client, &server);
    assert_eq!(s.learned.requests_per_conn, Some(2));
    assert_eq!(s.closes.learned_request_limit, 6);
    // The watches end without the server's close: nothing is refuted.
    assert!(wait_until(WAIT, || server.open_connections() == 0));
    let s = stats(&client, &server);
    assert_eq!((s.learned.refuted, s.learned.confirmed), (0, 0));
    assert_eq!(s.learned.requests_per_conn, Some(2));
}

/// A server that closes connections idle for 1 s, without a hint: two idle closes teach
/// the pool the 1 s limit; the next idle connection is retired after 600 ms (margin
/// 400 ms), and the server's close during the watch confirms the limit.
#[test]
fn learned_idle_limit_retires_connections_before_the_server_closes_them() {
    let server = TestServer::with_limits(b"i", ServerLimits::idle(Duration::from_secs(1)));
    let client = ClientBuilder::new()
        .keepalive_margin(Duration::from_millis(400))
        .build()
        .unwrap();
    for round in 1..=2 {
        client.get(server.url("/")).send().unwrap().text().unwrap();
        wait_stats(&client, &server, "the server's idle close", |s| {
            s.learned.silent_closes == round
        });
    }
    let learned = stats(&client, &server).learned.idle_timeout.unwrap();
    // The server's clock starts as it writes the response, ours once it is read.
    assert!(
        learned > Duration::from_millis(900) && learned < Duration::from_millis(1500),
        "{learned:?}"
    );
    client.get(server.url("/")).send().unwrap().text().unwrap();
    wait_stats(&client, &server, "the retirement", |s| {
        s.closes.learned_idle_limit == 1
    });
    wait_stats(&client, &server, "the server's close to confirm it", |s| {
        s.learned.confirmed == 1
    });
    let s = stats(&client, &server);
    assert_eq!(
        s.learned.silent_closes, 2,
        "the third close was expected, not silent"
    );
    assert_eq!(
        (s.learned.refuted, s.learned.idle_timeout),
        (0, Some(learned))
    );
}

/// A server whose cap is lifted: the next retired connection is kept open past its
/// watch, which refutes the learned limit, and reuse comes back.
#[test]
fn a_lifted_limit_is_refuted_and_reuse_comes_back() {
    let cap = Arc::new(AtomicUsize::new(1));
    let server = {
        let cap = Arc::clone(&cap);
        TestServer::start(move |conn| match cap.load(Ordering::SeqCst) {
            0 => conn.serve_keep_alive(b"r"),
            n => conn.serve_with_limits(b"r", ServerLimits::requests(n)),
        })
    };
    let client = Client::new().unwrap();
    for round in 1..=2 {
        client.get(server.url("/")).send().unwrap().text().unwrap();
        wait_stats(&client, &server, "the server's close", |s| {
            s.learned.silent_closes == round
        });
    }
    assert_eq!(stats(&client, &server).learned.requests_per_conn, Some(1));
    cap.store(0, Ordering::SeqCst);
    client.get(server.url("/")).send().unwrap().text().unwrap();
    wait_stats(&client, &server, "the refutation", |s| {
        s.learned.refuted == 1
    });
    let s = stats(&client, &server);
    assert_eq!(s.learned.requests_per_conn, None);
    assert_eq!(s.closes.learned_request_limit, 1);
    for _ in 0..3 {
        client.get(server.url("/")).send().unwrap().text().unwrap();
    }
    assert_eq!(conns_of(&server), [0, 1, 2, 3, 3, 3]);
}

/// A well-behaved keep-alive server: nothing is learned and reuse is what it always
/// was — one connection for sequential requests, one per concurrent caller.
#[test]
fn a_well_behaved_server_keeps_full_reuse() {
    let server = TestServer::keep_alive(b"w");
    let client = Client::new().unwrap();
    for _ in 0..50 {
        client.get(server.url("/")).send().unwrap().text().unwrap();
    }
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client.clone(), server.url("/"));
            std::thread::spawn(move || {
                for _ in 0..20 {
                    client.send(post(&url)).unwrap().text().unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let s = stats(&client, &server);
    assert!(s.dials <= 8, "{s:?}");
    assert_eq!(s.reuses, 210 - s.dials);
    assert_eq!(s.learned, Default::default());
    assert_eq!(s.closes.total(), 0);
}

// ---- bounded waiting ------------------------------------------------------------------

/// An engine with one connection per host and `change` applied.
fn one_conn_engine(change: impl FnOnce(&mut Config)) -> Engine {
    let mut config = Config::default();
    config.max_conns_per_host = Some(1);
    change(&mut config);
    Engine::new(config).unwrap()
}

/// With one request at the server and one waiting, a third is refused at once with its
/// own kind; the waiter is served, with its time in the queue reported.
#[test]
fn a_full_wait_queue_refuses_at_once() {
    let gate = Gate::new();
    let server = gated_server(&gate, b"q");
    let mut engine = one_conn_engine(|c| c.max_waiters_per_host = Some(1));
    let mut driver = Driver::new();
    let a = engine.submit(get(&server.url("/a"))).unwrap();
    let b = engine.submit(get(&server.url("/b"))).unwrap();
    driver.run_until(&mut engine, "a at the server", |_, _| {
        server.requests() == 1
    });
    let c = engine.submit(get(&server.url("/c"))).unwrap();
    driver.run_until(&mut engine, "c refused", |d, _| d.get(c).is_some());
    let err = driver.outcome(c).error();
    assert_eq!(err.kind(), ErrorKind::WaitQueueFull);
    assert!(err.is_retry_safe());
    assert!(
        driver.get(a).is_none() && driver.get(b).is_none(),
        "nobody else moved"
    );
    gate.open_all();
    driver.run_all(&mut engine, &[a, b]);
    let queued = driver.outcome(b).reply().info.queued;
    assert!(queued > Duration::ZERO);
    let s = engine.stats().total;
    assert_eq!((s.queue_rejected, s.queued, s.queue_timeouts), (1, 1, 0));
    assert_eq!(s.queue_wait, queued);
    assert_eq!(
        server
            .recorded()
            .iter()
            .map(|r| r.target.as_str())
            .collect::<Vec<_>>(),
        ["/a", "/b"]
    );
}

/// `max_waiters_per_host(Some(0))`: never wait; the connection limit still lets the
/// first request through.
#[test]
fn zero_waiters_means_fail_fast() {
    let gate = Gate::new();
    let server = gated_server(&gate, b"z");
    let mut engine = one_conn_engine(|c| c.max_waiters_per_host = Some(0));
    let mut driver = Driver::new();
    let a = engine.submit(get(&server.url("/"))).unwrap();
    let b = engine.submit(get(&server.url("/"))).unwrap();
    driver.run_until(&mut engine, "b refused", |d, _| d.get(b).is_some());
    assert_eq!(driver.outcome(b).error().kind(), ErrorKind::WaitQueueFull);
    gate.open_all();
    driver.run_all(&mut engine, &[a]);
    driver.outcome(a).reply();
}

/// `pool_wait_timeout` ends the wait with `PoolWaitTimeout` while the total timeout
/// (30 s) is far away; the request at the server is not disturbed.
#[test]
fn pool_wait_timeout_is_its_own_deadline_and_kind() {
    let gate = Gate::new();
    let server = gated_server(&gate, b"t");
    let mut engine = one_conn_engine(|c| c.pool_wait_timeout = Some(Duration::from_millis(100)));
    let mut driver = Driver::new();
    let a = engine.submit(get(&server.url("/"))).unwrap();
    let b = engine.submit(get(&server.url("/"))).unwrap();
    driver.run_until(&mut engine, "b to time out in the queue", |d, _| {
        d.get(b).is_some()
    });
    let err = driver.outcome(b).error();
    assert_eq!(err.kind(), ErrorKind::PoolWaitTimeout);
    assert!(err.is_timeout() && err.is_retry_safe());
    assert!(driver.get(a).is_none());
    gate.open_all();
    driver.run_all(&mut engine, &[a]);
    driver.outcome(a).reply();
    let s = engine.stats().total;
    assert_eq!((s.queue_timeouts, s.queued, s.waiting), (1, 0, 0));
}

/// The total timeout, shorter than `pool_wait_timeout`, still ends a wait as a plain
/// `Timeout`: the two are told apart.
#[test]
fn the_total_timeout_still_ends_a_wait_as_timeout() {
    let gate = Gate::new();
    let server = gated_server(&gate, b"t");
    let mut engine = one_conn_engine(|c| {
        c.pool_wait_timeout = Some(Duration::from_secs(20));
        c.timeout = Some(Duration::from_millis(100));
    });
    let mut driver = Driver::new();
    let ids: Vec<RequestId> = (0..2)
        .map(|_| engine.submit(get(&server.url("/"))).unwrap())
        .collect();
    driver.run_until(&mut engine, "both to time out", |d, _| {
        ids.iter().all(|id| d.get(*id).is_some())
    });
    gate.open_all();
    assert_eq!(driver.outcome(ids[1]).error().kind(), ErrorKind::Timeout);
    assert_eq!(engine.stats().total.queue_timeouts, 0);
}

// ---- the retry budget -----------------------------------------------------------------

/// A server whose every reused connection dies on the request sent onto it: each GET
/// after the first needs a retry. With a budget ratio of 0 only the floor (10) is
/// allowed: the twelfth GET's failure goes to the caller, and is counted.
#[test]
fn the_retry_budget_caps_resends_to_a_dying_server() {
    let server = TestServer::scripted(Script::StaleOnReuse(b"s"));
    let client = ClientBuilder::new()
        .learn_server_limits(false)
        .retry_budget(0.0)
        .build()
        .unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..12 {
        outcomes.push(
            client
                .get(server.url("/"))
                .send()
                .and_then(|r| r.bytes())
                .map(|_| ()),
        );
    }
    for (i, outcome) in outcomes[..11].iter().enumerate() {
        assert!(outcome.is_ok(), "GET {i}: {outcome:?}");
    }
    let err = outcomes[11].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionClosed);
    let s = stats(&client, &server);
    assert_eq!((s.retries, s.retries_denied), (10, 1));
}

/// The control: a budget of 1.0 (every request may be resent once) lets all through.
#[test]
fn a_full_retry_budget_resends_every_time() {
    let server = TestServer::scripted(Script::StaleOnReuse(b"s"));
    let client = ClientBuilder::new()
        .learn_server_limits(false)
        .retry_budget(1.0)
        .build()
        .unwrap();
    for i in 0..12 {
        let result = client.get(server.url("/")).send().and_then(|r| r.bytes());
        assert!(result.is_ok(), "GET {i}: {result:?}");
    }
    let s = stats(&client, &server);
    assert_eq!((s.retries, s.retries_denied), (11, 0));
}
