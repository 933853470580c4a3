//! Redirects in the Client: chains (relative and absolute `Location`s, the final URL
//! and the hops on the response, redirect bodies drained so the connection is reused),
//! method and body rules (301/302/303 → GET without body, HEAD stays HEAD, 307/308
//! keep both when the body can be sent again), credentials stripped when the origin
//! changes (URL credentials included), loops, limits, `https` → `http`, and the
//! policies (none, limited, custom). Each hop goes through the middleware.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::{RecordedRequest, ServerConn, TestServer};
use wirepool::http::Request;
use wirepool::{Body, Client, ErrorKind, RedirectPolicy};

/// A server that answers by target with `routes(target)`: `(status, location, body)`.
fn routed(
    routes: impl Fn(&RecordedRequest) -> (u16, Option<String>, &'static [u8]) + Send + Sync + 'static,
) -> TestServer {
    TestServer::start(move |conn: &mut ServerConn| {
        while let Some(req) = conn.read_request() {
            let (status, location, body) = routes(&req);
            match location {
                Some(l) => conn.respond(status, &[("Location", &l)], body),
                None => conn.respond(status, &[], body),
            }
        }
    })
}

fn path_of(url: &wirepool::http::Uri) -> &str {
    url.path_and_query().map_or("", |p| p.as_str())
}

#[test]
fn a_chain_of_redirects_ends_at_the_final_url() {
    let server = routed(|req| match req.target.as_str() {
        "/a" => (302, Some("/dir/b".into()), b"moved"),
        "/dir/b" => (301, Some("c?x=1#frag".into()), b"moved again"),
        "/dir/c?x=1" => (200, None, b"the end"),
        _ => (404, None, b""),
    });
    let client = Client::new().unwrap();
    let resp = client.get(server.url("/a")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(path_of(resp.url()), "/dir/c?x=1");
    let hops: Vec<(String, u16)> = resp
        .redirects()
        .iter()
        .map(|h| (path_of(&h.url).to_owned(), h.status.as_u16()))
        .collect();
    assert_eq!(hops, [("/a".to_owned(), 302), ("/dir/b".to_owned(), 301)]);
    assert_eq!(resp.text().unwrap(), "the end");
    // The redirect bodies were drained: all three on one connection.
    assert_eq!(server.connections(), 1);
    assert_eq!(client.stats().unwrap().total.reuses, 2);
}

/// A redirect whose small body arrives after its head (two writes, as many servers do):
/// the next hop waits for that body, so the connection is reused instead of a second
/// one being dialed next to one still draining (Go reads up to 2 KiB the same way).
#[test]
fn a_small_redirect_body_is_read_before_the_next_hop() {
    let server = TestServer::start(|conn: &mut ServerConn| {
        while let Some(req) = conn.read_request() {
            if req.target == "/slow-body" {
                conn.write(b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 6\r\n\r\n");
                conn.stall(std::time::Duration::from_millis(100));
                conn.write(b"moved!");
            } else {
                conn.respond(200, &[], b"arrived");
            }
        }
    });
    let client = Client::new().unwrap();
    let resp = client.get(server.url("/slow-body")).send().unwrap();
    assert!(resp.info().reused, "the next hop reused the connection");
    assert_eq!(resp.text().unwrap(), "arrived");
    assert_eq!(server.connections(), 1);
}

#[test]
fn see_other_turns_a_post_into_a_get_without_body() {
    for status in [301u16, 302, 303] {
        let server = routed(move |req| match req.target.as_str() {
            "/form" => (status, Some("/done".into()), b""),
            _ => (200, None, b"ok"),
        });
        let client = Client::new().unwrap();
        let resp = client
            .post(server.url("/form"))
            .header("content-type", "text/plain")
            .header("x-keep", "1")
            .body("payload")
            .send()
            .unwrap();
        assert_eq!(resp.text().unwrap(), "ok", "{status}");
        let second = &server.recorded()[1];
        assert_eq!(second.method, "GET", "{status}");
        assert!(second.body.is_empty(), "{status}");
        assert_eq!(second.header("content-type"), None, "{status}");
        assert_eq!(second.header("content-length"), None, "{status}");
        assert_eq!(second.header("x-keep"), Some("1"), "{status}");
    }
}

#[test]
fn head_stays_head() {
    let server = routed(|req| match req.target.as_str() {
        "/h" => (303, Some("/there".into()), b""),
        _ => (200, None, b""),
    });
    let client = Client::new().unwrap();
    let resp = client.head(server.url("/h")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.recorded()[1].method, "HEAD");
}

#[test]
fn temporary_and_permanent_redirects_keep_method_and_body() {
    for status in [307u16, 308] {
        let server = routed(move |req| match req.target.as_str() {
            "/old" => (status, Some("/new".into()), b""),
            _ => (201, None, b"created"),
        });
        let client = Client::new().unwrap();
        let resp = client
            .put(server.url("/old"))
            .header("content-type", "application/octet-stream")
            .body(vec![7u8; 100_000])
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201, "{status}");
        let second = &server.recorded()[1];
        assert_eq!(second.method, "PUT");
        assert_eq!(second.body, vec![7u8; 100_000]);
        assert_eq!(
            second.header("content-type"),
            Some("application/octet-stream")
        );
    }
}

#[test]
fn a_307_with_a_body_that_cannot_start_again_is_the_answer() {
    let server = routed(|req| match req.target.as_str() {
        "/old" => (307, Some("/new".into()), b"go there"),
        _ => (200, None, b"unreachable"),
    });
    let client = Client::new().unwrap();
    let resp = client
        .post(server.url("/old"))
        .body(Body::from_reader(std::io::Cursor::new(b"once".to_vec())))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 307);
    assert!(resp.redirects().is_empty());
    assert_eq!(resp.headers()["location"], "/new");
    assert_eq!(server.requests(), 1);
}

#[test]
fn a_307_with_a_factory_body_sends_it_again() {
    let server = routed(|req| match req.target.as_str() {
        "/old" => (307, Some("/new".into()), b""),
        _ if req.body == b"from the factory" => (200, None, b"got it"),
        _ => (400, None, b"wrong body"),
    });
    let opened = Arc::new(AtomicUsize::new(0));
    let body = {
        let opened = Arc::clone(&opened);
        Body::from_factory(Some(16), move || {
            opened.fetch_add(1, Ordering::SeqCst);
            Ok(std::io::Cursor::new(b"from the factory".to_vec()))
        })
    };
    let client = Client::new().unwrap();
    let resp = client.post(server.url("/old")).body(body).send().unwrap();
    assert_eq!(resp.text().unwrap(), "got it");
    assert_eq!(opened.load(Ordering::SeqCst), 2);
}

/// `Authorization`, `Cookie` and `Proxy-Authorization` stay within an origin; other
/// headers follow the redirect anywhere.
#[test]
fn credentials_never_cross_to_another_origin() {
    let other = TestServer::keep_alive(b"other origin");
    let other_url = other.url("/landing");
    let server = routed(move |req| match req.target.as_str() {
        "/same" => (302, Some("/same-2".into()), b""),
        "/same-2" => (302, Some(other_url.clone()), b""),
        _ => (404, None, b""),
    });
    let client = Client::new().unwrap();
    let resp = client
        .get(server.url("/same"))
        .header("authorization", "Bearer secret")
        .header("cookie", "session=1")
        .header("proxy-authorization", "Basic cHJveHk=")
        .header("x-trace", "t1")
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "other origin");
    let same = &server.recorded()[1];
    assert_eq!(same.header("authorization"), Some("Bearer secret"));
    assert_eq!(same.header("cookie"), Some("session=1"));
    assert_eq!(same.header("proxy-authorization"), Some("Basic cHJveHk="));
    let crossed = &other.recorded()[0];
    assert_eq!(crossed.header("authorization"), None);
    assert_eq!(crossed.header("cookie"), None);
    assert_eq!(crossed.header("proxy-authorization"), None);
    assert_eq!(crossed.header("x-trace"), Some("t1"));
}

/// Credentials in the URL become `Authorization: Basic` for that origin, follow a
/// redirect within it, and never leave it.
#[test]
fn url_credentials_stay_with_their_origin() {
    let other = TestServer::keep_alive(b"elsewhere");
    let other_url = other.url("/x");
    let server = routed(move |req| match req.target.as_str() {
        "/in" => (302, Some("/in-2".into()), b""),
        "/in-2" => (302, Some(other_url.clone()), b""),
        _ => (404, None, b""),
    });
    let port = server.addr().port();
    let client = Client::new().unwrap();
    let url = format!("http://us%40er:p%3Ass@127.0.0.1:{port}/in");
    assert_eq!(client.get(url).send().unwrap().text().unwrap(), "elsewhere");
    let basic = "Basic dXNAZXI6cDpzcw=="; // "us@er:p:ss"
    assert_eq!(server.recorded()[0].header("authorization"), Some(basic));
    assert_eq!(server.recorded()[1].header("authorization"), Some(basic));
    assert_eq!(other.recorded()[0].header("authorization"), None);
}

#[test]
fn a_loop_is_refused() {
    let server = routed(|req| match req.target.as_str() {
        "/a" => (302, Some("/b".into()), b""),
        _ => (302, Some("/a".into()), b""),
    });
    let client = Client::new().unwrap();
    let err = client.get(server.url("/a")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect);
    let why = std::error::Error::source(&err).unwrap().to_string();
    assert!(why.contains("loop"), "{why}");
    assert_eq!(server.requests(), 2);
}

#[test]
fn more_redirects_than_the_limit_fail() {
    // /r0 -> /r1 -> /r2 -> /r3 -> /end: four redirects.
    let server = routed(|req| {
        let n: u32 = req.target.trim_start_matches("/r").parse().unwrap_or(99);
        match n {
            0..=3 => (
                302,
                Some(format!("/r{}", n + 1).replace("/r4", "/end")),
                b"",
            ),
            _ => (200, None, b"end"),
        }
    });
    let tight = Client::builder()
        .redirect(RedirectPolicy::limited(3))
        .build()
        .unwrap();
    let err = tight.get(server.url("/r0")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect);
    let why = std::error::Error::source(&err).unwrap().to_string();
    assert!(why.contains("stopped after 3 redirects"), "{why}");
    let enough = Client::builder()
        .redirect(RedirectPolicy::limited(4))
        .build()
        .unwrap();
    let resp = enough.get(server.url("/r0")).send().unwrap();
    assert_eq!(resp.redirects().len(), 4);
    assert_eq!(resp.text().unwrap(), "end");
}

#[test]
fn https_to_http_is_refused_unless_allowed() {
    let plain = TestServer::keep_alive(b"plain text");
    let plain_url = plain.url("/");
    let pki = TestPki::new();
    let secure = TlsTestServer::start(ServerSetup::localhost(&pki), move |conn| {
        while conn.read_request().is_some() {
            conn.respond(302, &[("Location", &plain_url)], b"");
        }
    });
    let tls = || {
        wirepool::tls::TlsConfig::builder()
            .trust_roots(wirepool::tls::TrustRoots::OnlyAdded)
            .add_ca_pem(pki.ca_pem())
            .build()
            .unwrap()
    };
    let strict = Client::builder().tls_config(tls()).build().unwrap();
    let err = strict
        .get(secure.url("/"))
        .header("authorization", "Bearer s")
        .send()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect);
    assert_eq!(plain.connections(), 0, "nothing went out in the clear");
    let lax = Client::builder()
        .tls_config(tls())
        .redirect(RedirectPolicy::limited(10).allow_https_downgrade(true))
        .build()
        .unwrap();
    let resp = lax
        .get(secure.url("/"))
        .header("authorization", "Bearer s")
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "plain text");
    assert_eq!(plain.recorded()[0].header("authorization"), None);
}

#[test]
fn policy_none_returns_the_redirect() {
    let server = routed(|_| (302, Some("/elsewhere".into()), b"see elsewhere"));
    let client = Client::builder()
        .redirect(RedirectPolicy::none())
        .build()
        .unwrap();
    let resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "/elsewhere");
    assert!(resp.redirects().is_empty());
    assert_eq!(resp.text().unwrap(), "see elsewhere");
}

#[test]
fn a_custom_policy_may_stop_or_fail() {
    let server = routed(|req| match req.target.as_str() {
        "/1" => (302, Some("/2".into()), b""),
        "/2" => (302, Some("/forbidden".into()), b"stopped here"),
        _ => (200, None, b"too far"),
    });
    let stopper = Client::builder()
        .redirect(RedirectPolicy::custom(|attempt| {
            if attempt.url().path() == "/forbidden" {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap();
    let resp = stopper.get(server.url("/1")).send().unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(path_of(resp.url()), "/2");
    assert_eq!(resp.redirects().len(), 1);
    assert_eq!(resp.text().unwrap(), "stopped here");
    let refuser = Client::builder()
        .redirect(RedirectPolicy::custom(|attempt| {
            let seen = attempt.previous().len();
            attempt.error(format!("no redirects please ({seen})"))
        }))
        .build()
        .unwrap();
    let err = refuser.get(server.url("/1")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect);
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "no redirects please (1)"
    );
}

#[test]
fn each_hop_goes_through_the_middleware() {
    let server = routed(|req| match req.target.as_str() {
        "/1" => (302, Some("/2".into()), b""),
        "/2" => (307, Some("/3".into()), b""),
        _ => (200, None, b"ok"),
    });
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let client = {
        let seen = Arc::clone(&seen);
        Client::builder()
            .middleware(move |req: Request<Body>, opts, next: wirepool::Next<'_>| {
                seen.lock().unwrap().push(req.uri().path().to_owned());
                next.run(req, opts)
            })
            .build()
            .unwrap()
    };
    assert_eq!(
        client.get(server.url("/1")).send().unwrap().text().unwrap(),
        "ok"
    );
    assert_eq!(*seen.lock().unwrap(), ["/1", "/2", "/3"]);
}

#[test]
fn redirects_without_a_usable_location() {
    let server = routed(|req| match req.target.as_str() {
        "/none" => (302, None, b"no location"),
        _ => (301, Some("ftp://files.example/x".into()), b""),
    });
    let client = Client::new().unwrap();
    let resp = client.get(server.url("/none")).send().unwrap();
    assert_eq!(resp.status(), 302, "returned as it is");
    let err = client.get(server.url("/ftp")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect);
    assert_eq!(server.requests(), 2);
}
