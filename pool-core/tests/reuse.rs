//! Connection reuse: sequential requests share one connection; concurrent ones open
//! exactly as many as needed; the stats say so.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use testkit as support;

use std::time::Duration;

use common::{gated_server, Driver, Gate, WAIT};
use support::TestServer;
use wirepool::{Client, Config, Engine, Event, Flow};

#[test]
fn sequential_gets_reuse_one_connection() {
    let server = TestServer::keep_alive(b"hello");
    let client = Client::new().unwrap();
    for i in 0..5 {
        let mut resp = client.get(&server.url("/x")).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.info().reused, i > 0, "request {i}");
        assert_eq!(resp.text().unwrap(), "hello");
    }
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 5);
    let stats = client.stats().unwrap();
    assert_eq!(
        (stats.total.requests, stats.total.dials, stats.total.reuses),
        (5, 1, 4)
    );
    assert_eq!(stats.total.idle, 1);
}

#[test]
fn engine_mode_delivers_head_data_done() {
    let server = TestServer::keep_alive(b"hello world");
    let mut engine = Engine::new(Default::default()).unwrap();
    let mut body = Vec::new();
    let mut done = 0;
    for _ in 0..3 {
        let req = http::Request::get(server.url("/"))
            .body(Default::default())
            .unwrap();
        let id = engine.submit(req).unwrap();
        let mut finished = false;
        while !finished {
            engine
                .poll(Some(Duration::from_secs(5)), |ev| {
                    match ev {
                        Event::Head { id: got, head, .. } => {
                            assert_eq!(got, id);
                            assert_eq!(head.status(), 200);
                        }
                        Event::Data { data, .. } => body.extend_from_slice(data),
                        Event::Done { .. } => {
                            done += 1;
                            finished = true;
                        }
                        Event::Failed { error, .. } => panic!("failed: {error:?}"),
                    }
                    Flow::Continue
                })
                .unwrap();
        }
    }
    assert_eq!(done, 3);
    assert_eq!(body, b"hello worldhello worldhello world");
    assert_eq!(server.connections(), 1);
}

/// N requests submitted at once, against a server that holds every answer until all N
/// arrived: exactly N connections, then N reuses for the next N.
#[test]
fn concurrent_requests_open_exactly_as_many_connections_as_needed() {
    const N: usize = 8;
    let gate = Gate::new();
    let server = gated_server(&gate, b"ok");
    let mut engine = Engine::new(Config::default()).unwrap();
    let mut driver = Driver::new();
    let ids: Vec<_> = (0..N)
        .map(|_| engine.submit(common::get(&server.url("/"))).unwrap())
        .collect();
    driver.run_until(&mut engine, "N requests at the server", |_, _| {
        server.requests() == N
    });
    assert_eq!(server.connections(), N);
    let stats = engine.stats();
    assert_eq!(stats.total.active, N);
    assert_eq!(stats.total.dials, N as u64);
    gate.open_all();
    driver.run_all(&mut engine, &ids);
    for id in &ids {
        let reply = driver.outcome(*id).reply();
        assert_eq!((reply.status.as_u16(), &reply.body[..]), (200, &b"ok"[..]));
        assert!(!reply.info.reused);
    }
    let stats = engine.stats();
    assert_eq!((stats.total.idle, stats.total.active), (N, 0));

    // The second burst reuses every one of them and dials none.
    let again: Vec<_> = (0..N)
        .map(|_| engine.submit(common::get(&server.url("/"))).unwrap())
        .collect();
    driver.run_all(&mut engine, &again);
    for id in &again {
        assert!(driver.outcome(*id).reply().info.reused);
    }
    let stats = engine.stats();
    assert_eq!(
        (stats.total.requests, stats.total.dials, stats.total.reuses),
        (2 * N as u64, N as u64, N as u64)
    );
    assert_eq!(stats.total.idle, N);
    assert_eq!(server.connections(), N);
    assert_eq!(stats.total.closes.total(), 0);
}

/// Requests to a host not yet connected open one connection each, and the pool keeps
/// per-host numbers apart.
#[test]
fn stats_are_kept_per_host() {
    let a = TestServer::keep_alive(b"a");
    let b = TestServer::keep_alive(b"b");
    let client = Client::new().unwrap();
    for _ in 0..3 {
        assert_eq!(client.get(&a.url("/")).unwrap().text().unwrap(), "a");
    }
    assert_eq!(client.get(&b.url("/")).unwrap().text().unwrap(), "b");
    let stats = client.stats().unwrap();
    let (sa, sb) = (
        common::host_stats(&stats, &a),
        common::host_stats(&stats, &b),
    );
    assert_eq!((sa.requests, sa.dials, sa.reuses, sa.idle), (3, 1, 2, 1));
    assert_eq!((sb.requests, sb.dials, sb.reuses, sb.idle), (1, 1, 0, 1));
    assert_eq!(stats.total.requests, 4);
    assert_eq!(stats.total.idle, 2);
    assert_eq!(stats.hosts.len(), 2);
}

/// Concurrent callers of one Client: every response is right, and the pool never
/// holds more connections than callers.
#[test]
fn client_shared_by_threads_reuses_connections() {
    const THREADS: usize = 4;
    const EACH: usize = 25;
    let server = TestServer::keep_alive(b"pong");
    let client = Client::new().unwrap();
    let url = server.url("/");
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let (client, url) = (client.clone(), url.clone());
            s.spawn(move || {
                for _ in 0..EACH {
                    let mut resp = client.get(&url).unwrap();
                    assert_eq!(resp.text().unwrap(), "pong");
                }
            });
        }
    });
    let stats = client.stats().unwrap();
    assert_eq!(stats.total.requests, (THREADS * EACH) as u64);
    assert!(server.connections() <= THREADS, "{}", server.connections());
    assert_eq!(stats.total.dials as usize, server.connections());
    assert_eq!(stats.total.dials + stats.total.reuses, stats.total.requests);
    assert!(server.wait_for_requests(THREADS * EACH, WAIT));
}

/// The stats say why a connection was not reused: the keep-alive verdict's reason, an
/// early response, a dropped body over the drain limit.
#[test]
fn stats_say_why_connections_were_not_reused() {
    use wirepool::http::Request;
    use wirepool::{Body, NotReusable};
    let server = TestServer::start(|conn| {
        while let Some(req) = conn.read_request() {
            match req.target.as_str() {
                "/close" => return conn.respond(200, &[("Connection", "close")], b"bye"),
                "/http10" => {
                    conn.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    return conn.close();
                }
                "/until-close" => {
                    conn.write(b"HTTP/1.1 200 OK\r\n\r\nall of it");
                    return conn.close();
                }
                "/big" => {
                    conn.respond_with_pattern(1 << 20);
                }
                _ => conn.respond(200, &[], b"ok"),
            }
        }
    });
    let client = Client::builder().drain_limit(1024).build().unwrap();
    for path in ["/close", "/http10", "/until-close"] {
        let mut resp = client.get(&server.url(path)).unwrap();
        resp.bytes().unwrap();
    }
    let mut closing = Request::get(server.url("/")).body(Body::empty()).unwrap();
    closing
        .headers_mut()
        .insert("connection", "close".parse().unwrap());
    client.send(closing).unwrap().bytes().unwrap();
    drop(client.get(&server.url("/big")).unwrap()); // dropped unread: 1 MiB > 1 KiB
    assert!(common::wait_until(WAIT, || {
        client.stats().unwrap().total.closes.not_reusable == 5
    }));
    let by = client.stats().unwrap().total.closes.not_reusable_by;
    for (why, n) in [
        (NotReusable::ServerSentClose, 1),
        (NotReusable::Http10, 1),
        (NotReusable::CloseDelimitedBody, 1),
        (NotReusable::RequestSentClose, 1),
        (NotReusable::DrainLimit, 1),
        (NotReusable::EarlyResponse, 0),
    ] {
        assert_eq!(by.get(why), n, "{why}");
    }
}
