//! HTTP proxies, against `testkit`'s in-process forward proxy: plain `http://` in
//! absolute form, `https://` through a `CONNECT` tunnel with TLS to the origin, pooling
//! through the proxy (one tunnel per origin, reused), credentials that stay on the
//! proxy hop, a refused `CONNECT`, a proxy that never answers, `no_proxy`, and an
//! `https://` proxy (TLS to the proxy, TLS in TLS for an `https` origin).
//!
//! Origins are named (`origin.test`): the proxy resolves them itself (the client never
//! resolves a proxied name), and `ResolveTo` rules point the client at them where a
//! test wants it to go direct. The proxy's environment variables have their own test
//! binary (`proxy_env.rs`): this one sets proxies explicitly and turns the environment
//! off, so a CI machine's `http_proxy` cannot change what it tests.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::WAIT;
use testkit::proxy::{ProxyOptions, TestProxy};
use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::{RecordedRequest, TestServer};
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{
    Client, ClientBuilder, Error, ErrorKind, HostStats, Proxy, ProxyRefused, ResolveTo, Route,
    Stats,
};

const ORIGIN: &str = "origin.test";

fn builder(proxy_url: &str) -> ClientBuilder {
    Client::builder()
        .proxy(Proxy::parse(proxy_url).unwrap())
        .proxy_from_env(false)
}

fn tls_config(pki: &TestPki) -> TlsConfig {
    TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .build()
        .unwrap()
}

/// An HTTPS origin presenting a certificate for `origin.test`.
fn tls_origin(pki: &TestPki) -> TlsTestServer {
    TlsTestServer::keep_alive(ServerSetup::new(pki.server_cert(&[ORIGIN])), b"secure")
}

/// The stats of the one pool whose key names `origin.test`.
fn origin_stats(stats: &Stats) -> (Route, HostStats) {
    let found: Vec<_> = stats
        .hosts
        .iter()
        .filter(|(k, _)| k.host() == ORIGIN)
        .collect();
    assert_eq!(found.len(), 1, "pools: {:?}", stats.hosts);
    (found[0].0.route().clone(), found[0].1.clone())
}

fn header<'a>(req: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    req.header(name)
}

fn refused(err: &Error) -> &ProxyRefused {
    std::error::Error::source(err)
        .and_then(|s| s.downcast_ref::<ProxyRefused>())
        .unwrap_or_else(|| panic!("no ProxyRefused in {err:?}"))
}

#[test]
fn plain_http_goes_to_the_proxy_in_absolute_form() {
    let origin = TestServer::keep_alive(b"plain");
    let proxy = TestProxy::start(ProxyOptions::default().host(ORIGIN, origin.addr()));
    let client = builder(&proxy.url()).build().unwrap();
    let url = format!("http://{ORIGIN}:{}/a?b=c", origin.addr().port());
    for _ in 0..3 {
        let mut resp = client.get(&url).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().unwrap(), "plain");
    }
    let seen = proxy.recorded();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, url, "absolute form to the proxy");
    assert_eq!(
        header(&seen[0], "host"),
        Some(format!("{ORIGIN}:{}", origin.addr().port()).as_str())
    );
    assert!(header(&seen[0], "proxy-authorization").is_none());
    // The proxy forwarded in origin form; no tunnel for plain http.
    assert_eq!(origin.recorded()[0].target, "/a?b=c");
    assert_eq!(proxy.tunnels(), 0);
    // One connection to the proxy, reused.
    assert_eq!(proxy.connections(), 1);
    let (route, stats) = origin_stats(&client.stats().unwrap());
    assert!(matches!(route, Route::Proxy(ref p) if p.port() == proxy.addr().port()));
    assert_eq!((stats.dials, stats.reuses), (1, 2));
    // The per-host answer is the proxy's address: that is where the dial went.
    assert_eq!(stats.addresses, vec![proxy.addr()]);
    assert_eq!(stats.peer, Some(proxy.addr()));
}

#[test]
fn https_goes_through_one_tunnel_per_origin_which_is_reused() {
    let pki = TestPki::new();
    let origin = tls_origin(&pki);
    let proxy = TestProxy::start(ProxyOptions::default().host(ORIGIN, origin.addr()));
    let client = builder(&proxy.url())
        .tls_config(tls_config(&pki))
        .build()
        .unwrap();
    let url = format!("https://{ORIGIN}:{}/s", origin.addr().port());
    for _ in 0..3 {
        let mut resp = client.get(&url).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().unwrap(), "secure");
    }
    let seen = proxy.recorded();
    assert_eq!(
        seen.len(),
        1,
        "only the CONNECT is the proxy's to read: {seen:?}"
    );
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, format!("{ORIGIN}:{}", origin.addr().port()));
    assert_eq!(proxy.tunnels(), 1);
    // TLS to the origin inside the tunnel, SNI and certificate for origin.test.
    let handshakes = origin.handshakes();
    assert_eq!(handshakes.len(), 1);
    assert_eq!(handshakes[0].sni.as_deref(), Some(ORIGIN));
    let (_, stats) = origin_stats(&client.stats().unwrap());
    assert_eq!(
        (stats.dials, stats.reuses, stats.tls_full_handshakes),
        (1, 2, 1)
    );
}

#[test]
fn the_origin_certificate_is_checked_against_the_origin_name() {
    let pki = TestPki::new();
    // The origin presents a certificate for another name: the tunnel opens, TLS fails.
    let origin =
        TlsTestServer::keep_alive(ServerSetup::new(pki.server_cert(&["other.test"])), b"never");
    let proxy = TestProxy::start(ProxyOptions::default().host(ORIGIN, origin.addr()));
    let client = builder(&proxy.url())
        .tls_config(tls_config(&pki))
        .build()
        .unwrap();
    let err = client
        .get(&format!("https://{ORIGIN}:{}/", origin.addr().port()))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
    assert_eq!(proxy.tunnels(), 1);
}

#[test]
fn credentials_reach_the_proxy_and_never_the_origin() {
    const SECURE: &str = "secure.test";
    let pki = TestPki::new();
    let plain = TestServer::keep_alive(b"plain");
    let secure = TlsTestServer::keep_alive(ServerSetup::new(pki.server_cert(&[SECURE])), b"secure");
    let proxy = TestProxy::start(
        ProxyOptions::default()
            .credentials("alice", "s3cret")
            .host(ORIGIN, plain.addr())
            .host(SECURE, secure.addr()),
    );
    let client = builder(&proxy.url_with_credentials("alice", "s3cret"))
        .tls_config(tls_config(&pki))
        .build()
        .unwrap();
    for _ in 0..2 {
        let mut resp = client
            .get(&format!("http://{ORIGIN}:{}/p", plain.addr().port()))
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().unwrap(), "plain");
        let mut resp = client
            .get(&format!("https://{SECURE}:{}/s", secure.addr().port()))
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().unwrap(), "secure");
    }

    let expected = "Basic YWxpY2U6czNjcmV0"; // alice:s3cret
    let seen = proxy.recorded();
    // Two absolute-form requests and one CONNECT (the tunnel is reused), each with the
    // credentials.
    assert_eq!(seen.len(), 3, "{seen:?}");
    for req in &seen {
        assert_eq!(
            header(req, "proxy-authorization"),
            Some(expected),
            "{req:?}"
        );
    }
    assert_eq!(seen.iter().filter(|r| r.method == "CONNECT").count(), 1);
    // What the origins got: no credentials. The plain origin's requests passed through
    // the proxy (which strips the header: a check that the client did not send it twice
    // under another name); the secure origin's went inside the tunnel, where only the
    // client could have put it.
    for req in plain.recorded().iter().chain(secure.recorded().iter()) {
        let raw = String::from_utf8_lossy(&req.raw).to_ascii_lowercase();
        assert!(
            !raw.contains("proxy-authorization") && !raw.contains("ywxpy2u6cznjcmv0"),
            "credentials reached the origin: {raw}"
        );
    }
    assert_eq!(secure.recorded().len(), 2);
}

#[test]
fn wrong_credentials_get_407_for_http_and_a_proxy_error_for_https() {
    let pki = TestPki::new();
    let origin = TestServer::keep_alive(b"never");
    let proxy = TestProxy::start(
        ProxyOptions::default()
            .credentials("alice", "s3cret")
            .host(ORIGIN, origin.addr()),
    );
    let client = builder(&proxy.url_with_credentials("alice", "wrong"))
        .tls_config(tls_config(&pki))
        .build()
        .unwrap();
    // Plain http: the proxy's answer is the response (as in Go and curl).
    let mut resp = client
        .get(&format!("http://{ORIGIN}:{}/", origin.addr().port()))
        .unwrap();
    assert_eq!(resp.status(), 407);
    resp.text().unwrap();
    // https: the tunnel was refused; the status line says why.
    let err = client
        .get(&format!("https://{ORIGIN}:{}/", origin.addr().port()))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert_eq!(refused(&err).status(), 407);
    assert_eq!(
        refused(&err).status_line(),
        "HTTP/1.1 407 Status",
        "testkit's reason phrase for 407"
    );
    assert_eq!(origin.connections(), 0);
}

#[test]
fn a_refused_connect_fails_with_the_proxy_status_line_and_closes() {
    let proxy = TestProxy::start(ProxyOptions::default().refuse_connect(403));
    let client = builder(&proxy.url()).build().unwrap();
    let err = client.get("https://blocked.test/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert!(err.is_retry_safe(), "nothing of the request was sent");
    let r = refused(&err);
    assert_eq!(r.status(), 403);
    assert_eq!(r.status_line(), "HTTP/1.1 403 Status");
    let stats = client.stats().unwrap();
    assert_eq!(stats.total.closes.error, 1);
    assert_eq!(
        stats.total.idle + stats.total.active + stats.total.connecting,
        0
    );
    assert!(
        proxy.wait_for_open_connections(0, WAIT),
        "the connection to the proxy leaked"
    );
}

#[test]
fn a_proxy_that_never_answers_connect_times_out() {
    let proxy = TestProxy::start(ProxyOptions::default().hang());
    let client = builder(&proxy.url())
        .proxy_connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client.get("https://slow.test/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProxyConnectTimeout, "{err:?}");
    assert!(err.is_timeout());
    // A plain request to a hanging proxy is an ordinary request without an answer.
    let client = builder(&proxy.url())
        .response_header_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let err = client.get("http://slow.test/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseHeaderTimeout, "{err:?}");
}

#[test]
fn a_proxy_that_closes_during_connect_is_a_proxy_error() {
    // Reads the CONNECT, then closes without a word.
    let proxy = TestServer::start(|conn| {
        let _ = conn.read_request();
    });
    let client = builder(&proxy.url("")).build().unwrap();
    let err = client.get("https://gone.test/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    let text = std::error::Error::source(&err).unwrap().to_string();
    assert!(text.contains("closed"), "{text}");
}

#[test]
fn bytes_after_the_connect_answer_are_refused() {
    // A proxy that answers 200 and then speaks first: not a tunnel to a TLS server.
    let proxy = TestServer::start(|conn| {
        let _ = conn.read_request();
        conn.write(b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n");
        conn.stall(Duration::from_secs(5));
    });
    let client = builder(&proxy.url("")).build().unwrap();
    let err = client.get("https://early.test/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
}

#[test]
fn no_proxy_sends_matching_hosts_direct() {
    let origin = TestServer::keep_alive(b"direct");
    let proxy = TestProxy::start(ProxyOptions::default().host(ORIGIN, origin.addr()));
    let port = origin.addr().port();
    let client = builder(&proxy.url())
        .no_proxy("elsewhere.test, .test")
        .resolve(ResolveTo::new(
            "api.origin.test",
            port,
            vec![origin.addr().ip()],
        ))
        .build()
        .unwrap();
    let mut resp = client
        .get(&format!("http://api.origin.test:{port}/"))
        .unwrap();
    assert_eq!(resp.text().unwrap(), "direct");
    assert_eq!(proxy.connections(), 0, "a NO_PROXY host went to the proxy");
    let stats = client.stats().unwrap();
    assert_eq!(*stats.hosts[0].0.route(), Route::Direct);
    assert_eq!(stats.hosts[0].1.addresses, vec![origin.addr()]);
}

#[test]
fn an_https_proxy_carries_plain_requests_and_tls_in_tls() {
    let pki = TestPki::new();
    let plain = TestServer::keep_alive(b"plain");
    let secure = tls_origin(&pki);
    let proxy = TestProxy::start_tls(
        ServerSetup::localhost(&pki),
        ProxyOptions::default()
            .host(ORIGIN, plain.addr())
            .host("secure.origin.test", secure.addr()),
    );
    let client = builder(&format!("https://localhost:{}", proxy.addr().port()))
        .tls_config(tls_config(&pki))
        .resolve(ResolveTo::new(
            "localhost",
            proxy.addr().port(),
            vec![proxy.addr().ip()],
        ))
        .build()
        .unwrap();
    let mut resp = client
        .get(&format!("http://{ORIGIN}:{}/", plain.addr().port()))
        .unwrap();
    assert_eq!(resp.text().unwrap(), "plain");
    assert_eq!(
        proxy.recorded()[0].target,
        format!("http://{ORIGIN}:{}/", plain.addr().port())
    );
    drop(client);

    // TLS to the origin inside the TLS to the proxy; the origin's certificate names
    // origin.test, so the proxy maps that name to it for this client.
    let proxy = TestProxy::start_tls(
        ServerSetup::localhost(&pki),
        ProxyOptions::default().host(ORIGIN, secure.addr()),
    );
    let client = builder(&format!("https://localhost:{}", proxy.addr().port()))
        .tls_config(tls_config(&pki))
        .resolve(ResolveTo::new(
            "localhost",
            proxy.addr().port(),
            vec![proxy.addr().ip()],
        ))
        .build()
        .unwrap();
    let url = format!("https://{ORIGIN}:{}/", secure.addr().port());
    for _ in 0..2 {
        let mut resp = client.get(&url).unwrap();
        assert_eq!(resp.text().unwrap(), "secure");
    }
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(secure.handshakes()[0].sni.as_deref(), Some(ORIGIN));
    let (_, stats) = origin_stats(&client.stats().unwrap());
    assert_eq!((stats.dials, stats.reuses), (1, 1));
}

#[test]
fn an_unusable_environment_proxy_is_an_error_not_a_bypass() {
    // Only through the environment can a proxy be unusable; see proxy_env.rs for the
    // variables. Here: the builder refuses what it cannot parse before any request.
    let err = Proxy::parse("socks5://127.0.0.1:1080").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
}
