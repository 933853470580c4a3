//! Pre-warming (`Client::prewarm`, `Engine::prewarm`): connections opened ahead of the
//! first requests — TLS handshakes and proxy tunnels included — within every limit,
//! with a report of what opened, what failed and what the limits left out.
#![allow(clippy::unwrap_used)]

mod common;

use common::{wait_until, Driver, WAIT};
use testkit::proxy::{ProxyOptions, TestProxy};
use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::{free_port_refused, TestServer};
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Client, Config, Engine, ErrorKind, Proxy};

fn client() -> wirepool::ClientBuilder {
    Client::builder().proxy_from_env(false)
}

#[test]
fn prewarmed_connections_wait_idle_and_carry_the_first_requests() {
    let server = TestServer::keep_alive(b"warm");
    let client = client().build().unwrap();
    let warm = client.prewarm(&server.url("/ignored"), 4).unwrap();
    assert_eq!((warm.opened, warm.failed, warm.skipped), (4, 0, 0));
    assert!(warm.first_error.is_none());
    let stats = client.stats().unwrap();
    assert_eq!(
        (stats.total.dials, stats.total.idle, stats.total.requests),
        (4, 4, 0)
    );
    assert!(server.wait_for_connections(4, WAIT));
    assert_eq!(server.requests(), 0, "a pre-warm sends no request");
    let mut resp = client.get(&server.url("/")).unwrap();
    assert_eq!(resp.text().unwrap(), "warm");
    assert!(
        resp.info().reused,
        "the first request went out on a pooled connection"
    );
    assert!(resp.info().connect.is_none());
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.dials, stats.total.reuses), (4, 1));
}

#[test]
fn prewarm_respects_the_connection_and_idle_limits() {
    let server = TestServer::keep_alive(b"x");
    let client = client().max_conns_per_host(Some(2)).build().unwrap();
    let warm = client.prewarm(&server.url("/"), 5).unwrap();
    assert_eq!((warm.opened, warm.skipped), (2, 3));
    // Again: the two are open already, no room for more.
    let warm = client.prewarm(&server.url("/"), 5).unwrap();
    assert_eq!((warm.opened, warm.skipped), (0, 5));
    assert_eq!(client.stats().unwrap().total.dials, 2);

    let client = client_with_idle(3);
    let warm = client.prewarm(&server.url("/"), 5).unwrap();
    assert_eq!((warm.opened, warm.skipped), (3, 2));
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.idle, stats.total.closes.evicted), (3, 0));
}

fn client_with_idle(max_idle: usize) -> Client {
    client().max_idle_per_host(max_idle).build().unwrap()
}

#[test]
fn prewarm_runs_the_tls_handshakes() {
    let pki = TestPki::new();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"tls");
    let tls = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .build()
        .unwrap();
    let client = client().tls_config(tls).build().unwrap();
    let warm = client.prewarm(&server.url("/"), 3).unwrap();
    assert_eq!(warm.opened, 3);
    // The server records a handshake when it has read the client's last flight, which
    // may be after the client is done.
    assert!(wait_until(WAIT, || server.handshakes().len() == 3));
    let stats = client.stats().unwrap();
    assert_eq!(
        stats.total.tls_full_handshakes + stats.total.tls_resumed_handshakes,
        3
    );
    client.get(&server.url("/")).unwrap().text().unwrap();
    assert_eq!(
        server.handshakes().len(),
        3,
        "the request used a warm connection"
    );
}

#[test]
fn prewarm_through_a_proxy_opens_the_tunnels() {
    let pki = TestPki::new();
    let origin = TlsTestServer::keep_alive(ServerSetup::new(pki.server_cert(&["o.test"])), b"o");
    let proxy = TestProxy::start(ProxyOptions::default().host("o.test", origin.addr()));
    let tls = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .build()
        .unwrap();
    let client = client()
        .proxy(Proxy::parse(&proxy.url()).unwrap())
        .tls_config(tls)
        .build()
        .unwrap();
    let url = format!("https://o.test:{}/", origin.addr().port());
    let warm = client.prewarm(&url, 2).unwrap();
    assert_eq!(warm.opened, 2);
    assert_eq!(proxy.tunnels(), 2);
    assert!(wait_until(WAIT, || origin.handshakes().len() == 2));
}

#[test]
fn failures_are_counted_with_the_first_error() {
    let refused = free_port_refused();
    let client = client().build().unwrap();
    let warm = client.prewarm(&format!("http://{refused}/"), 2).unwrap();
    assert_eq!((warm.opened, warm.failed), (0, 2));
    assert_eq!(warm.first_error.unwrap().kind(), ErrorKind::Connect);
    let err = client.prewarm("ftp://example.test/", 2).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}

#[test]
fn engine_prewarm_reports_each_connection() {
    let server = TestServer::keep_alive(b"e");
    let mut config = Config::default();
    config.proxy_from_env = false;
    let mut engine = Engine::new(config).unwrap();
    let ids = engine.prewarm(&server.url("/"), 3).unwrap();
    assert_eq!(ids.len(), 3);
    let mut driver = Driver::new();
    driver.run_until(&mut engine, "three pre-warmed connections", |d, _| {
        d.finished.len() == 3
    });
    for f in &driver.finished {
        assert!(ids.contains(&f.id));
        f.reply();
    }
    assert_eq!(engine.stats().total.idle, 3);
    assert_eq!(engine.in_flight(), 0);
}
