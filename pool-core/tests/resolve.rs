//! Where a name connects: a custom resolver (`ClientBuilder::resolver`, the public
//! `Resolve` trait), static answers (`ResolveTo`, curl's `--resolve`), redirected
//! connections (`ConnectTo`, curl's `--connect-to`), the per-host answer in the stats,
//! and Happy Eyeballs racing two addresses of one answer, one of them black-holed.
//!
//! The black hole is `testkit::BlackHole`: a loopback listener whose accept queue is
//! full, so the kernel drops new SYNs and a connect to it neither succeeds nor fails —
//! what a firewall that drops packets looks like, without root or a network namespace.
#![allow(clippy::unwrap_used)]

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::{BlackHole, TestServer};
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Client, ConnectTo, ErrorKind, ResolveTo};

/// A resolver that answers `addrs` for `svc.test` (any port: the addresses keep
/// theirs) and counts its calls.
fn fake_dns(addrs: Vec<SocketAddr>) -> (impl wirepool::Resolve, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let resolver = move |host: &str, _port: u16| -> io::Result<Vec<SocketAddr>> {
        counter.fetch_add(1, Ordering::SeqCst);
        match host {
            "svc.test" => Ok(addrs.clone()),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such service")),
        }
    };
    (resolver, calls)
}

#[test]
fn happy_eyeballs_races_past_a_black_holed_address() {
    let hole = BlackHole::new();
    let server = TestServer::keep_alive(b"alive");
    // The live address has the server's port; a URL names one port, so both addresses
    // come from the resolver with their own ports.
    let (dns, calls) = fake_dns(vec![hole.addr(), server.addr()]);
    let client = Client::builder()
        .resolver(dns)
        .proxy_from_env(false)
        .happy_eyeballs_delay(Duration::from_millis(50))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut resp = client.get("http://svc.test/").unwrap();
    assert_eq!(resp.text().unwrap(), "alive");
    let stats = client.stats().unwrap();
    let host = &stats.hosts[0].1;
    assert_eq!(
        host.addresses,
        vec![hole.addr(), server.addr()],
        "the answer"
    );
    assert_eq!(host.peer, Some(server.addr()), "the winner of the race");
    assert_eq!(host.dials, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(resp.info().dns.is_some());
}

#[test]
fn without_the_race_the_black_hole_is_a_connect_timeout() {
    // The control for the test above: the first address really never answers.
    let hole = BlackHole::new();
    let server = TestServer::keep_alive(b"alive");
    let (dns, _) = fake_dns(vec![hole.addr(), server.addr()]);
    let client = Client::builder()
        .resolver(dns)
        .proxy_from_env(false)
        .happy_eyeballs_delay(Duration::MAX) // never start the second attempt
        .connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client.get("http://svc.test/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectTimeout, "{err:?}");
    assert_eq!(server.connections(), 0);
}

#[test]
fn the_resolver_is_cached_and_its_errors_are_dns_errors() {
    let server = TestServer::keep_alive(b"ok");
    let (dns, calls) = fake_dns(vec![server.addr()]);
    let client = Client::builder()
        .resolver(dns)
        .proxy_from_env(false)
        .build()
        .unwrap();
    for _ in 0..3 {
        client.get("http://svc.test/").unwrap().text().unwrap();
    }
    client.close_idle();
    client.get("http://svc.test/").unwrap().text().unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "answers are cached for dns_ttl"
    );
    let err = client.get("http://unknown.test/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Dns, "{err:?}");
    let text = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        text.contains("unknown.test") && text.contains("no such service"),
        "{text}"
    );
}

#[test]
fn static_answers_skip_the_resolver() {
    let server = TestServer::keep_alive(b"static");
    let (dns, calls) = fake_dns(Vec::new());
    let spec = format!("svc.test:{}:{}", server.addr().port(), server.addr().ip());
    let client = Client::builder()
        .resolver(dns)
        .resolve(ResolveTo::parse(&spec).unwrap())
        .proxy_from_env(false)
        .build()
        .unwrap();
    let url = format!("http://svc.test:{}/", server.addr().port());
    client.get(&url).unwrap().text().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // The rule is for that port only.
    let err = client.get("http://svc.test:1/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Dns, "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn connect_to_sends_the_connection_elsewhere_and_keeps_the_name() {
    let server = TestServer::keep_alive(b"moved");
    let spec = format!("api.test:80:127.0.0.1:{}", server.addr().port());
    let client = Client::builder()
        .connect_to(ConnectTo::parse(&spec).unwrap())
        .proxy_from_env(false)
        .build()
        .unwrap();
    client.get("http://api.test/v1").unwrap().text().unwrap();
    let seen = server.recorded();
    assert_eq!(seen[0].header("host"), Some("api.test"));
    let stats = client.stats().unwrap();
    assert_eq!(stats.hosts[0].0.host(), "api.test");
    assert_eq!(stats.hosts[0].1.addresses, vec![server.addr()]);
}

#[test]
fn connect_to_keeps_the_tls_name_of_the_original_host() {
    let pki = TestPki::new();
    let server =
        TlsTestServer::keep_alive(ServerSetup::new(pki.server_cert(&["api.test"])), b"tls");
    let spec = format!("api.test:443:127.0.0.1:{}", server.addr().port());
    let tls = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .build()
        .unwrap();
    let client = Client::builder()
        .tls_config(tls)
        .connect_to(ConnectTo::parse(&spec).unwrap())
        .proxy_from_env(false)
        .build()
        .unwrap();
    let mut resp = client.get("https://api.test/").unwrap();
    assert_eq!(resp.text().unwrap(), "tls");
    assert_eq!(server.handshakes()[0].sni.as_deref(), Some("api.test"));
}
