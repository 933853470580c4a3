//! Through a real proxy: tinyproxy, which `.ci/run` installs and starts on 127.0.0.1
//! with its own configuration (Basic credentials required), then names in
//! `WIREPOOL_TEST_PROXY` as `http://USER:PASSWORD@127.0.0.1:PORT`.
//!
//! Without that variable the tests return at once (a developer's machine need not have
//! tinyproxy). With it, they must pass: a proxy that cannot be reached is a failure,
//! never a skip, so a CI that meant to test a real proxy cannot silently test nothing.
//!
//! To run them by hand:
//! `tinyproxy -d -c CONF & WIREPOOL_TEST_PROXY=http://wirepool:s3cret@127.0.0.1:PORT
//! cargo test -p wirepool --test real_proxy` (CONF as `.ci/run` writes it).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpStream;
use std::time::Duration;

use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::TestServer;
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Client, ClientBuilder, ErrorKind, Proxy, ProxyRefused};

const VAR: &str = "WIREPOOL_TEST_PROXY";

/// The proxy URL from the environment, checked to be reachable; `None` when the
/// variable is unset (the test then does nothing).
fn real_proxy() -> Option<Proxy> {
    let url = std::env::var(VAR).ok()?;
    let proxy = Proxy::parse(&url).unwrap_or_else(|e| panic!("{VAR}={url:?}: {e:?}"));
    let addr = format!("{}:{}", proxy.host(), proxy.port());
    if let Err(e) = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(5)) {
        panic!("{VAR} is set but the proxy at {addr} cannot be reached: {e}");
    }
    assert!(
        proxy.has_credentials(),
        "{VAR} should carry the credentials the proxy requires"
    );
    Some(proxy)
}

/// The same proxy without its credentials.
fn without_credentials(proxy: &Proxy) -> Proxy {
    Proxy::parse(&format!("http://{}:{}", proxy.host(), proxy.port())).unwrap()
}

fn builder(proxy: Proxy, pki: &TestPki) -> ClientBuilder {
    let tls = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .build()
        .unwrap();
    Client::builder()
        .proxy(proxy)
        .proxy_from_env(false)
        .tls_config(tls)
}

#[test]
fn plain_http_through_the_real_proxy() {
    let Some(proxy) = real_proxy() else {
        eprintln!("{VAR} not set: skipped (.ci/run sets it)");
        return;
    };
    let pki = TestPki::new();
    let origin = TestServer::keep_alive(b"through tinyproxy");
    let client = builder(proxy, &pki).build().unwrap();
    for _ in 0..2 {
        let mut resp = client.get(&origin.url("/plain")).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().unwrap(), "through tinyproxy");
    }
    let seen = origin.recorded();
    assert_eq!(
        seen[0].target, "/plain",
        "the proxy forwards in origin form"
    );
    for req in &seen {
        assert!(
            req.header("proxy-authorization").is_none(),
            "credentials passed the proxy: {req:?}"
        );
    }
}

#[test]
fn https_through_the_real_proxy_is_one_reused_tunnel() {
    let Some(proxy) = real_proxy() else {
        eprintln!("{VAR} not set: skipped (.ci/run sets it)");
        return;
    };
    let pki = TestPki::new();
    let origin = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"tunneled");
    let client = builder(proxy, &pki).build().unwrap();
    for _ in 0..3 {
        let mut resp = client.get(&origin.url("/secure")).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().unwrap(), "tunneled");
    }
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.dials, stats.total.reuses), (1, 2));
    assert_eq!(origin.connections(), 1);
    for req in origin.recorded() {
        assert!(req.header("proxy-authorization").is_none(), "{req:?}");
    }
}

#[test]
fn the_real_proxy_refuses_requests_without_credentials() {
    let Some(proxy) = real_proxy() else {
        eprintln!("{VAR} not set: skipped (.ci/run sets it)");
        return;
    };
    let pki = TestPki::new();
    let origin = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"never");
    let client = builder(without_credentials(&proxy), &pki).build().unwrap();
    let err = client.get(&origin.url("/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    let refused = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<ProxyRefused>())
        .unwrap_or_else(|| panic!("no ProxyRefused in {err:?}"));
    assert_eq!(refused.status(), 407);
    assert!(refused.status_line().contains("407"), "{refused:?}");
    let plain = TestServer::keep_alive(b"never");
    let mut resp = client.get(&plain.url("/")).unwrap();
    assert_eq!(resp.status(), 407);
    resp.text().unwrap();
    assert_eq!(origin.connections() + plain.connections(), 0);
}
