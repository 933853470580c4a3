//! What goes on the wire, and the conveniences that put it there: header names in
//! `Title-Case` (or lower case on request), the default `User-Agent`, URL credentials as
//! `Authorization: Basic`, the request builder (verbs, headers, query, timeout, bodies of
//! every kind, auth helpers, JSON with the `json` feature), and what comes back
//! (`Response` as `Read`, `read_chunk`, errors that keep their kind).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::time::Duration;

use common::get;
use testkit::tls::TempFile;
use testkit::{Script, TestServer};
use wirepool::http::{Method, Request};
use wirepool::{Body, Client, Config, Engine, ErrorKind, HeaderCase, DEFAULT_USER_AGENT};

/// A client that adds nothing of its own but the `User-Agent` (no `Accept-Encoding`),
/// so that request bytes can be compared exactly.
fn plain_client() -> wirepool::ClientBuilder {
    Client::builder().decompress(false)
}

/// A server that expects one request of exactly `expected(port)` bytes and answers it.
fn expecting(expected: impl Fn(u16) -> String + Send + Sync + 'static) -> TestServer {
    TestServer::start(move |conn| {
        let port = conn.stream().map_or(0, |s| s.local_addr().unwrap().port());
        conn.expect_request_bytes(expected(port).as_bytes());
        conn.respond(200, &[], b"ok");
    })
}

#[test]
fn header_names_go_out_in_title_case() {
    let server = expecting(|port| {
        format!(
            "GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {DEFAULT_USER_AGENT}\r\n\
             X-Token: t\r\nX-Request-Id: 42\r\nWww-Authenticate: none\r\n\r\n"
        )
    });
    let client = plain_client().build().unwrap();
    let resp = client
        .get(server.url("/p?q=1"))
        .header("x-token", "t")
        .header("X-REQUEST-ID", "42")
        .header("www-authenticate", "none")
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
}

#[test]
fn framing_headers_are_title_case_too() {
    let server = expecting(|port| {
        format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {DEFAULT_USER_AGENT}\r\n\
             Content-Length: 5\r\n\r\nhello"
        )
    });
    let client = plain_client().build().unwrap();
    client.post(server.url("/")).body("hello").send().unwrap();

    let server = expecting(|port| {
        format!(
            "PUT / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {DEFAULT_USER_AGENT}\r\n\
             Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        )
    });
    client
        .put(server.url("/"))
        .body(Body::from_reader(std::io::Cursor::new(b"hi".to_vec())))
        .send()
        .unwrap();
}

#[test]
fn lower_case_on_request() {
    let server = expecting(|port| {
        format!(
            "GET / HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nuser-agent: {DEFAULT_USER_AGENT}\r\n\
             x-token: t\r\n\r\n"
        )
    });
    let client = plain_client()
        .header_case(HeaderCase::Lower)
        .build()
        .unwrap();
    client
        .get(server.url("/"))
        .header("X-Token", "t")
        .send()
        .unwrap();
}

#[test]
fn the_user_agent_is_ours_unless_set() {
    let server = TestServer::keep_alive(b"");
    let default = Client::new().unwrap();
    default.get(server.url("/1")).send().unwrap();
    default
        .get(server.url("/2"))
        .header("user-agent", "mine/2")
        .send()
        .unwrap();
    let custom = Client::builder()
        .user_agent(Some("curl/8.5.0"))
        .build()
        .unwrap();
    custom.get(server.url("/3")).send().unwrap();
    let none = Client::builder().user_agent(None).build().unwrap();
    none.get(server.url("/4")).send().unwrap();
    let uas: Vec<Option<String>> = server
        .recorded()
        .iter()
        .map(|r| r.header("user-agent").map(str::to_owned))
        .collect();
    assert_eq!(
        uas,
        [
            Some(format!("wirepool/{}", env!("CARGO_PKG_VERSION"))),
            Some("mine/2".to_owned()),
            Some("curl/8.5.0".to_owned()),
            None
        ]
    );
    let err = Client::builder()
        .user_agent(Some("bad\r\nX-Injected: 1"))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
}

/// The Engine sends what the Client does: Title-Case names, the default `User-Agent`,
/// URL credentials as `Authorization: Basic`.
#[test]
fn the_engine_writes_the_same_head() {
    let server = expecting(|port| {
        format!(
            "GET /e HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {DEFAULT_USER_AGENT}\r\n\
             Authorization: Basic dXNlcjpwYXNz\r\n\r\n"
        )
    });
    let mut engine = Engine::new(Config::default()).unwrap();
    let mut driver = common::Driver::new();
    let port = server.addr().port();
    let id = engine
        .submit(get(&format!("http://user:pass@127.0.0.1:{port}/e")))
        .unwrap();
    driver.run_all(&mut engine, &[id]);
    assert_eq!(driver.outcome(id).reply().body, b"ok");
}

#[test]
fn a_callers_authorization_wins_over_url_credentials() {
    let server = TestServer::keep_alive(b"");
    let port = server.addr().port();
    let client = Client::new().unwrap();
    client
        .get(format!("http://user:pass@127.0.0.1:{port}/"))
        .bearer_auth("token-1")
        .send()
        .unwrap();
    client
        .get(server.url("/"))
        .basic_auth("Aladdin", Some("open sesame"))
        .send()
        .unwrap();
    let auths: Vec<String> = server
        .recorded()
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        auths,
        ["Bearer token-1", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="]
    );
}

#[test]
fn every_verb_and_the_query() {
    let server = TestServer::keep_alive(b"");
    let client = Client::new().unwrap();
    let url = server.url("/r?a=1");
    client.get(&url).query(&[("q", "a b&c=d")]).send().unwrap();
    client.post(&url).send().unwrap();
    client.put(&url).send().unwrap();
    client.patch(&url).send().unwrap();
    client.delete(&url).send().unwrap();
    client.head(&url).send().unwrap();
    client
        .request(Method::OPTIONS, &url)
        .query::<&str, &str>(&[])
        .send()
        .unwrap();
    let seen: Vec<(String, String)> = server
        .recorded()
        .into_iter()
        .map(|r| (r.method, r.target))
        .collect();
    let want = [
        ("GET", "/r?a=1&q=a%20b%26c%3Dd"),
        ("POST", "/r?a=1"),
        ("PUT", "/r?a=1"),
        ("PATCH", "/r?a=1"),
        ("DELETE", "/r?a=1"),
        ("HEAD", "/r?a=1"),
        ("OPTIONS", "/r?a=1"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(m, t)| (m.to_string(), t.to_string()))
        .collect();
    assert_eq!(seen, want);
}

#[test]
fn mistakes_made_while_building_fail_at_send() {
    let client = Client::new().unwrap();
    let bad_header = client
        .get("http://127.0.0.1:1/")
        .header("bad header", "x")
        .send()
        .unwrap_err();
    assert_eq!(bad_header.kind(), ErrorKind::InvalidRequest);
    let bad_url = client.get("http://[not a url").send().unwrap_err();
    assert_eq!(bad_url.kind(), ErrorKind::InvalidRequest);
}

#[test]
fn a_per_request_timeout() {
    let server = TestServer::scripted(Script::NeverAnswer);
    let client = Client::new().unwrap();
    let err = client
        .get(server.url("/"))
        .timeout(Duration::from_millis(200))
        .send()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
}

/// Every kind of body `Body::from` takes, and `Client::send` with a body that is not a
/// `Body` yet.
#[test]
fn bodies_of_every_kind() {
    let server = TestServer::start(|conn| {
        while let Some(req) = conn.read_request() {
            let framing = match (
                req.header("content-length"),
                req.header("transfer-encoding"),
            ) {
                (Some(n), None) => format!("length {n}"),
                (None, Some(te)) => te.to_owned(),
                other => format!("{other:?}"),
            };
            let answer = format!("{framing}: {}", String::from_utf8_lossy(&req.body));
            conn.respond(200, &[], answer.as_bytes());
        }
    });
    let client = Client::new().unwrap();
    let url = server.url("/");
    let send = |body: Body| client.post(&url).body(body).send().unwrap().text().unwrap();
    assert_eq!(send(Body::from(b"vec".to_vec())), "length 3: vec");
    assert_eq!(send(Body::from(String::from("string"))), "length 6: string");
    assert_eq!(send(Body::from("static str")), "length 10: static str");
    assert_eq!(
        send(Body::from(&b"static bytes"[..])),
        "length 12: static bytes"
    );
    assert_eq!(send(Body::copy_from_slice(b"copied")), "length 6: copied");
    let file = TempFile::new("body.txt", b"from a file");
    assert_eq!(
        send(Body::from(std::fs::File::open(file.path()).unwrap())),
        "length 11: from a file"
    );
    assert_eq!(
        send(Body::from_path(file.path()).unwrap()),
        "length 11: from a file"
    );
    assert_eq!(
        send(Body::from_reader(std::io::Cursor::new(b"reader".to_vec()))),
        "chunked: reader"
    );
    // `send` takes a request whose body converts into a `Body`.
    let req = Request::post(&url).body(b"plain vec".to_vec()).unwrap();
    assert_eq!(
        client.send(req).unwrap().text().unwrap(),
        "length 9: plain vec"
    );
}

#[test]
fn in_memory_bodies_are_not_copied() {
    let vec = vec![1u8; 4096];
    let at = vec.as_ptr();
    let body = Body::from(vec);
    assert_eq!(body.as_bytes().unwrap().as_ptr(), at);
    static STATIC: &[u8] = b"static";
    assert_eq!(
        Body::from(STATIC).as_bytes().unwrap().as_ptr(),
        STATIC.as_ptr()
    );
    let s = String::from("text");
    let at = s.as_ptr();
    assert_eq!(Body::from(s).as_bytes().unwrap().as_ptr(), at);
}

#[test]
fn a_response_reads_as_a_reader_and_in_chunks() {
    let server = TestServer::start(|conn| {
        while conn.read_request().is_some() {
            conn.respond_chunked(200, &[b"one ", b"two ", b"three"]);
        }
    });
    let client = Client::new().unwrap();
    let mut resp = client.get(server.url("/")).send().unwrap();
    let mut text = String::new();
    resp.read_to_string(&mut text).unwrap();
    assert_eq!(text, "one two three");
    let mut resp = client.get(server.url("/")).send().unwrap();
    let mut pieces = Vec::new();
    while let Some(piece) = resp.body_mut().read_chunk().unwrap() {
        pieces.extend(piece);
    }
    assert_eq!(pieces, b"one two three");
    assert!(resp.body_mut().read_chunk().unwrap().is_none());
}

/// A body cut short keeps its kind through `bytes()` and `read_chunk()`, and through
/// `Read` for `Error::from_io`.
#[test]
fn body_errors_keep_their_kind() {
    let server = TestServer::scripted(Script::TruncatedBody);
    let client = Client::new().unwrap();
    let err = client
        .get(server.url("/"))
        .send()
        .unwrap()
        .bytes()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
    let mut resp = client.get(server.url("/")).send().unwrap();
    let mut sink = Vec::new();
    let io_err = resp.read_to_end(&mut sink).unwrap_err();
    assert_eq!(wirepool::Error::from_io(io_err).kind(), ErrorKind::Protocol);
    // Later reads report the same failure, not a bare I/O error.
    let again = resp.body_mut().read_chunk().unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Protocol);
}

#[cfg(feature = "json")]
#[test]
fn json_both_ways() {
    let server = TestServer::start(|conn| {
        while let Some(req) = conn.read_request() {
            let ok = req.header("content-type") == Some("application/json")
                && req.body == br#"{"n":3,"name":"widget"}"#; // serde_json sorts keys
            let body: &[u8] = if ok {
                br#"{"id":7,"tags":["a"]}"#
            } else {
                b"not json"
            };
            conn.respond(200, &[], body);
        }
    });
    let client = Client::new().unwrap();
    let value: serde_json::Value = client
        .post(server.url("/"))
        .json(&serde_json::json!({"name": "widget", "n": 3}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(value, serde_json::json!({"id": 7, "tags": ["a"]}));
    let err = client
        .post(server.url("/"))
        .body("wrong")
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
}
