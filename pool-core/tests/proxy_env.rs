//! Proxies from the environment: `http_proxy`, `https_proxy`, `all_proxy`, `no_proxy`
//! and their upper-case forms, read when a client is built, the way curl and Go read
//! them (see `docs/proxies.md`).
//!
//! The environment is global to the process: every test here holds [`process_lock`] and
//! sets exactly the variables it wants through [`Env`], which clears every proxy
//! variable first and restores the old values on drop. This binary has no other tests,
//! and names resolve through `ResolveTo` rules or the proxy, never `getaddrinfo` (which
//! reads the environment on other threads).
#![allow(clippy::unwrap_used)]

mod common;

use testkit::proxy::{ProxyOptions, TestProxy};
use testkit::{process_lock, TestServer};
use wirepool::{Client, ErrorKind, ResolveTo, Route};

const VARS: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
];

/// Sets proxy variables for one test; restores the previous environment on drop.
struct Env {
    saved: Vec<(&'static str, Option<String>)>,
}

impl Env {
    fn set(vars: &[(&str, &str)]) -> Env {
        let saved = VARS.iter().map(|&v| (v, std::env::var(v).ok())).collect();
        for v in VARS {
            std::env::remove_var(v);
        }
        for (name, value) in vars {
            std::env::set_var(name, value);
        }
        Env { saved }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for (name, value) in &self.saved {
            match value {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
    }
}

fn route_of(client: &Client, host: &str) -> Route {
    let stats = client.stats().unwrap();
    stats
        .hosts
        .iter()
        .find(|(k, _)| k.host() == host)
        .map(|(k, _)| k.route().clone())
        .unwrap_or_else(|| panic!("no pool for {host}: {:?}", stats.hosts))
}

#[test]
fn http_proxy_carries_http_and_https_proxy_carries_https() {
    let _lock = process_lock();
    let origin = TestServer::keep_alive(b"ok");
    let for_http = TestProxy::start(ProxyOptions::default().host("a.test", origin.addr()));
    let for_https = TestProxy::start(ProxyOptions::default().refuse_connect(403));
    let _env = Env::set(&[
        ("http_proxy", &for_http.url()),
        ("https_proxy", &for_https.url()),
    ]);
    let client = Client::new().unwrap();
    let port = origin.addr().port();
    let mut resp = client.get(&format!("http://a.test:{port}/")).unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    assert_eq!(for_http.recorded().len(), 1);
    let err = client.get("https://b.test/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert_eq!(for_https.recorded()[0].method, "CONNECT");
    assert_eq!(for_http.recorded().len(), 1);
}

#[test]
fn no_proxy_matches_go_direct_and_the_rest_is_proxied() {
    let _lock = process_lock();
    let origin = TestServer::keep_alive(b"ok");
    let port = origin.addr().port();
    let proxy = TestProxy::start(
        ProxyOptions::default()
            .host("api.example.test", origin.addr())
            .host("internal.test", origin.addr()),
    );
    let _env = Env::set(&[
        ("HTTP_PROXY", &proxy.url()),
        ("NO_PROXY", " .svc.test, internal.test:1 ,10.0.0.0/8"),
    ]);
    let client = Client::builder()
        .resolve(ResolveTo::new(
            "db.svc.test",
            port,
            vec![origin.addr().ip()],
        ))
        .build()
        .unwrap();
    // A subdomain of a leading-dot entry: direct.
    let mut resp = client.get(&format!("http://db.svc.test:{port}/")).unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    assert_eq!(route_of(&client, "db.svc.test"), Route::Direct);
    assert_eq!(proxy.connections(), 0);
    // An entry with another port does not match: proxied.
    let mut resp = client
        .get(&format!("http://internal.test:{port}/"))
        .unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    assert!(matches!(
        route_of(&client, "internal.test"),
        Route::Proxy(_)
    ));
    // No entry: proxied.
    let mut resp = client
        .get(&format!("http://api.example.test:{port}/"))
        .unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    assert_eq!(proxy.recorded().len(), 2);
}

#[test]
fn loopback_and_localhost_are_never_proxied_from_the_environment() {
    let _lock = process_lock();
    let origin = TestServer::keep_alive(b"local");
    let proxy = TestProxy::start(ProxyOptions::default());
    let _env = Env::set(&[("http_proxy", &proxy.url()), ("all_proxy", &proxy.url())]);
    let client = Client::builder()
        .resolve(ResolveTo::new(
            "localhost",
            origin.addr().port(),
            vec![origin.addr().ip()],
        ))
        .build()
        .unwrap();
    let mut resp = client.get(&origin.url("/")).unwrap();
    assert_eq!(resp.text().unwrap(), "local");
    let url = format!("http://localhost:{}/", origin.addr().port());
    let mut resp = client.get(&url).unwrap();
    assert_eq!(resp.text().unwrap(), "local");
    assert_eq!(proxy.connections(), 0);
}

#[test]
fn lower_case_wins_and_upper_case_is_the_fallback() {
    let _lock = process_lock();
    let origin = TestServer::keep_alive(b"ok");
    let port = origin.addr().port();
    let lower = TestProxy::start(ProxyOptions::default().host("x.test", origin.addr()));
    let upper = TestProxy::start(ProxyOptions::default().host("x.test", origin.addr()));
    let url = format!("http://x.test:{port}/");
    {
        let _env = Env::set(&[("http_proxy", &lower.url()), ("HTTP_PROXY", &upper.url())]);
        let client = Client::new().unwrap();
        client.get(&url).unwrap().text().unwrap();
        assert_eq!((lower.recorded().len(), upper.recorded().len()), (1, 0));
    }
    {
        let _env = Env::set(&[("HTTP_PROXY", &upper.url())]);
        let client = Client::new().unwrap();
        client.get(&url).unwrap().text().unwrap();
        assert_eq!((lower.recorded().len(), upper.recorded().len()), (1, 1));
    }
    {
        // ALL_PROXY when the scheme's own variable is unset (curl's rule).
        let _env = Env::set(&[("ALL_PROXY", &upper.url())]);
        let client = Client::new().unwrap();
        client.get(&url).unwrap().text().unwrap();
        assert_eq!(upper.recorded().len(), 2);
    }
    {
        // httpoxy: in a CGI program (REQUEST_METHOD set) HTTP_PROXY may come from a
        // client's `Proxy:` header; it is ignored. Nothing else is set: direct, which
        // the resolve rule makes reachable.
        let _env = Env::set(&[("HTTP_PROXY", &upper.url()), ("REQUEST_METHOD", "GET")]);
        let client = Client::builder()
            .resolve(ResolveTo::new("x.test", port, vec![origin.addr().ip()]))
            .build()
            .unwrap();
        client.get(&url).unwrap().text().unwrap();
        assert_eq!(upper.recorded().len(), 2);
        assert_eq!(route_of(&client, "x.test"), Route::Direct);
    }
}

#[test]
fn the_environment_can_be_turned_off() {
    let _lock = process_lock();
    let origin = TestServer::keep_alive(b"ok");
    let port = origin.addr().port();
    let proxy = TestProxy::start(ProxyOptions::default());
    let _env = Env::set(&[("http_proxy", &proxy.url())]);
    let client = Client::builder()
        .proxy_from_env(false)
        .resolve(ResolveTo::new("y.test", port, vec![origin.addr().ip()]))
        .build()
        .unwrap();
    client
        .get(&format!("http://y.test:{port}/"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(proxy.connections(), 0);
}

#[test]
fn an_unusable_proxy_fails_its_requests_instead_of_going_direct() {
    let _lock = process_lock();
    let origin = TestServer::keep_alive(b"ok");
    let port = origin.addr().port();
    let _env = Env::set(&[
        ("ALL_PROXY", "socks5://127.0.0.1:1080"),
        ("no_proxy", "direct.test"),
    ]);
    let client = Client::builder()
        .resolve(ResolveTo::new("z.test", port, vec![origin.addr().ip()]))
        .resolve(ResolveTo::new(
            "direct.test",
            port,
            vec![origin.addr().ip()],
        ))
        .build()
        .unwrap();
    let err = client.get(&format!("http://z.test:{port}/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    let text = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        text.contains("ALL_PROXY") && text.contains("socks5"),
        "{text}"
    );
    assert_eq!(origin.connections(), 0, "it went direct");
    // Hosts the proxy would not carry are unaffected.
    client
        .get(&format!("http://direct.test:{port}/"))
        .unwrap()
        .text()
        .unwrap();
}
