//! Trace hooks: the order and content of the events a [`Tracer`] sees for a fresh plain
//! dial (by IP and by name), fresh TLS dials (full and resumed), `Expect: 100-continue`,
//! a reuse, a wait at `max_conns_per_host`, a stale-connection retry, a timeout, a
//! cancel and a refused connect; a per-request tracer next to the client's; and the
//! timing summary on each response.
//!
//! Each test drives an [`Engine`] (or a `Client`) against `testkit`'s loopback servers
//! and compares what a recording tracer saw, rendered one line per event, with the
//! expected sequence. Requests are named by the test (`A`, `B`), connections by their
//! serial number.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{get, Driver, Gate, WAIT};
use testkit::tls::{ServerSetup, TestPki, TlsTestServer, TlsVersions};
use testkit::{Script, TestServer};
use wirepool::http::Request;
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::trace::*;
use wirepool::{Body, Client, Config, Engine, ErrorKind, RequestId, RequestOptions};

/// One event as recorded: its name, request, connection and the details worth checking.
#[derive(Clone, Debug)]
struct Ev {
    name: &'static str,
    req: Option<RequestId>,
    conn: Option<u64>,
    detail: String,
}

/// A tracer that records every event in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<Ev>>);

impl Recorder {
    fn push(&self, name: &'static str, req: Option<RequestId>, conn: Option<u64>, detail: String) {
        self.0.lock().unwrap().push(Ev {
            name,
            req,
            conn,
            detail,
        });
    }

    fn events(&self) -> Vec<Ev> {
        self.0.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// The events rendered as `NAME connN event detail`, requests named by `names`.
    fn lines(&self, names: &[(RequestId, &str)]) -> Vec<String> {
        render(&self.events(), names)
    }
}

fn render(events: &[Ev], names: &[(RequestId, &str)]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let req = match e.req {
                Some(id) => names
                    .iter()
                    .find(|(n, _)| *n == id)
                    .map_or_else(|| format!("{id}?"), |(_, name)| (*name).to_owned()),
                None => "-".into(),
            };
            let conn = e.conn.map_or_else(|| "-".into(), |c| format!("conn{c}"));
            let mut line = format!("{req} {conn} {}", e.name);
            if !e.detail.is_empty() {
                line.push(' ');
                line.push_str(&e.detail);
            }
            line
        })
        .collect()
}

impl Tracer for Recorder {
    fn queued(&self, ev: &Queued<'_>) {
        let detail = format!("waiting={}", ev.waiting);
        self.push("queued", Some(ev.request), None, detail);
    }
    fn dns_start(&self, ev: &DnsStart<'_>) {
        self.push(
            "dns_start",
            ev.request,
            Some(ev.conn_id),
            ev.host.to_owned(),
        );
    }
    fn dns_done(&self, ev: &DnsDone<'_>) {
        let result = match ev.result {
            Ok(addrs) => {
                let v4 = addrs.iter().any(|a| a.ip().to_string() == "127.0.0.1");
                format!("127.0.0.1:{v4}")
            }
            Err(e) => format!("error {e}"),
        };
        let detail = format!("cached={} {result}", ev.cached);
        self.push("dns_done", ev.request, Some(ev.conn_id), detail);
    }
    fn connect_start(&self, ev: &ConnectStart) {
        self.push(
            "connect_start",
            ev.request,
            Some(ev.conn_id),
            ev.addr.map_or_else(|| "unix".into(), |a| a.to_string()),
        );
    }
    fn connect_done(&self, ev: &ConnectDone<'_>) {
        let result = match ev.result {
            ConnectResult::Connected => "connected".to_owned(),
            ConnectResult::Failed(e) => format!("failed {:?}", e.kind()),
            ConnectResult::Abandoned => "abandoned".to_owned(),
            _ => "?".to_owned(),
        };
        let addr = ev.addr.map_or_else(|| "unix".into(), |a| a.to_string());
        let detail = format!("{addr} {result}");
        self.push("connect_done", ev.request, Some(ev.conn_id), detail);
    }
    fn tls_start(&self, ev: &TlsStart<'_>) {
        let hop = if ev.proxy { " (proxy)" } else { "" };
        let detail = format!("{}{hop}", ev.server_name);
        self.push("tls_start", ev.request, Some(ev.conn_id), detail);
    }
    fn tls_done(&self, ev: &TlsDone<'_>) {
        let detail = match &ev.result {
            Ok(hs) => format!(
                "{} {:?} cipher={}",
                if hs.is_resumed() { "resumed" } else { "full" },
                hs.protocol.unwrap(),
                hs.cipher_suite.is_some_and(|c| c.starts_with("TLS")),
            ),
            Err(e) => format!("error {:?}", e.kind()),
        };
        let hop = if ev.proxy { " (proxy)" } else { "" };
        self.push(
            "tls_done",
            ev.request,
            Some(ev.conn_id),
            format!("{detail}{hop}"),
        );
    }
    fn got_conn(&self, ev: &GotConn) {
        let detail = format!(
            "{} served={} idle={}",
            if ev.reused { "reused" } else { "fresh" },
            ev.served,
            ev.idle_for.is_some()
        );
        self.push("got_conn", Some(ev.request), Some(ev.conn_id), detail);
    }
    fn wrote_headers(&self, ev: &Step) {
        self.push(
            "wrote_headers",
            Some(ev.request),
            Some(ev.conn_id),
            String::new(),
        );
    }
    fn wrote_request(&self, ev: &Step) {
        self.push(
            "wrote_request",
            Some(ev.request),
            Some(ev.conn_id),
            String::new(),
        );
    }
    fn got_100_continue(&self, ev: &Step) {
        self.push(
            "got_100_continue",
            Some(ev.request),
            Some(ev.conn_id),
            String::new(),
        );
    }
    fn first_byte(&self, ev: &Step) {
        self.push(
            "first_byte",
            Some(ev.request),
            Some(ev.conn_id),
            String::new(),
        );
    }
    fn head_received(&self, ev: &HeadReceived) {
        let detail = ev.status.as_u16().to_string();
        self.push("head_received", Some(ev.request), Some(ev.conn_id), detail);
    }
    fn body_done(&self, ev: &BodyDone<'_>) {
        let i = ev.info;
        // The instants grow along the exchange.
        assert!(
            i.wait <= i.ttfb && i.ttfb <= i.head && i.head <= i.total,
            "{i:?}"
        );
        let detail = format!("reused={} retries={}", i.reused, i.retries);
        self.push("body_done", Some(ev.request), Some(i.conn_id), detail);
    }
    fn request_failed(&self, ev: &RequestFailed<'_>) {
        let detail = format!("{:?}", ev.error.kind());
        self.push("request_failed", Some(ev.request), None, detail);
    }
    fn canceled(&self, ev: &Canceled) {
        let detail = format!("discarded={}", ev.discarded);
        self.push("canceled", Some(ev.request), ev.conn_id, detail);
    }
    fn retry(&self, ev: &Retry<'_>) {
        let detail = format!("attempt={} after {:?}", ev.attempt, ev.error.kind());
        self.push("retry", Some(ev.request), Some(ev.conn_id), detail);
    }
    fn conn_returned(&self, ev: &ConnReturned<'_>) {
        let detail = match ev.handed_to {
            Some(to) => format!("handed to {to} served={}", ev.served),
            None => format!("idle served={}", ev.served),
        };
        self.push("conn_returned", ev.request, Some(ev.conn_id), detail);
    }
    fn conn_closed(&self, ev: &ConnClosed<'_>) {
        let detail = format!("{} served={}", ev.cause, ev.served);
        self.push("conn_closed", ev.request, Some(ev.conn_id), detail);
    }
}

/// An engine with `config` and a recording tracer.
fn traced_engine(config: Config) -> (Engine, Arc<Recorder>) {
    let mut engine = Engine::new(config).unwrap();
    let recorder = Arc::new(Recorder::default());
    engine.set_tracer(Some(recorder.clone()));
    (engine, recorder)
}

/// Runs `id` to its end and returns its finished record.
fn finish(engine: &mut Engine, driver: &mut Driver, id: RequestId) {
    driver.run_all(engine, &[id]);
}

/// `lines` as expected, with `{P}` standing for the server's port.
fn expect(lines: &[&str], port: u16) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.replace("{P}", &port.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Fresh dials
// ---------------------------------------------------------------------------------------

/// A GET to an IP literal: no DNS events; one connect attempt; the exchange; the
/// connection back in the pool.
#[test]
fn a_fresh_plain_dial() {
    let server = TestServer::keep_alive(b"hello");
    let port = server.addr().port();
    let (mut engine, rec) = traced_engine(Config::default());
    let mut driver = Driver::new();
    let a = engine.submit(get(&server.url("/"))).unwrap();
    finish(&mut engine, &mut driver, a);
    assert_eq!(
        rec.lines(&[(a, "A")]),
        expect(
            &[
                "A conn1 connect_start 127.0.0.1:{P}",
                "A conn1 connect_done 127.0.0.1:{P} connected",
                "A conn1 got_conn fresh served=0 idle=false",
                "A conn1 wrote_headers",
                "A conn1 wrote_request",
                "A conn1 first_byte",
                "A conn1 head_received 200",
                "A conn1 body_done reused=false retries=0",
                "A conn1 conn_returned idle served=1",
            ],
            port
        )
    );
    let info = driver.outcome(a).reply().info;
    assert!(info.connect.is_some() && info.dns.is_none() && info.tls.is_none());
    assert_eq!((info.conn_id, info.conn_requests), (1, 0));
}

/// A GET to `localhost`: DNS start and done (from the resolver), then connect attempts,
/// each ended once, the last one connected to 127.0.0.1; a second connection to the
/// same host gets the cached answer.
#[test]
fn a_fresh_dial_by_name_looks_up_then_uses_the_cache() {
    let gate = Gate::new();
    let server = common::gated_server(&gate, b"named");
    let port = server.addr().port();
    let (mut engine, rec) = traced_engine(Config::default());
    let mut driver = Driver::new();
    let url = format!("http://localhost:{port}/");
    let a = engine.submit(get(&url)).unwrap();
    driver.run_until(&mut engine, "A to be written", |_, _| {
        rec.events().iter().any(|e| e.name == "wrote_request")
    });
    // A holds its connection (the gate is shut): B needs a second one.
    let b = engine.submit(get(&url)).unwrap();
    gate.open_all();
    driver.run_all(&mut engine, &[a, b]);
    let events = rec.events();
    let names = [(a, "A"), (b, "B")];
    let dns: Vec<String> = render(&events, &names)
        .into_iter()
        .filter(|l| l.contains(" dns_"))
        .collect();
    assert_eq!(
        dns,
        [
            "A conn1 dns_start localhost",
            "A conn1 dns_done cached=false 127.0.0.1:true",
            "B conn2 dns_start localhost",
            "B conn2 dns_done cached=true 127.0.0.1:true",
        ]
    );
    for (id, conn) in [(a, 1), (b, 2)] {
        let mine: Vec<&Ev> = events.iter().filter(|e| e.req == Some(id)).collect();
        let starts: Vec<&str> = mine
            .iter()
            .filter(|e| e.name == "connect_start")
            .map(|e| e.detail.as_str())
            .collect();
        let dones: Vec<&str> = mine
            .iter()
            .filter(|e| e.name == "connect_done")
            .map(|e| e.detail.split(' ').next().unwrap())
            .collect();
        assert_eq!(starts, dones, "every attempt ends once, in order");
        let last = mine.iter().rfind(|e| e.name == "connect_done").unwrap();
        assert_eq!(last.detail, format!("127.0.0.1:{port} connected"));
        assert_eq!(last.conn, Some(conn));
        let dns_at = mine.iter().position(|e| e.name == "dns_done").unwrap();
        let connect_at = mine.iter().position(|e| e.name == "connect_start").unwrap();
        assert!(dns_at < connect_at);
    }
    let info_a = driver.outcome(a).reply().info;
    let info_b = driver.outcome(b).reply().info;
    assert!(info_a.dns.is_some(), "A asked the resolver");
    assert!(info_b.dns.is_none(), "B's answer was cached");
}

/// The client configuration of the TLS tests: only `pki`'s CA is trusted.
fn tls_engine_config(pki: &TestPki) -> Config {
    let mut config = Config::default();
    config.tls = Some(
        TlsConfig::builder()
            .trust_roots(TrustRoots::OnlyAdded)
            .add_ca_pem(pki.ca_pem())
            .build()
            .unwrap(),
    );
    config
}

/// An `https` GET: TCP connect, a full TLS handshake (protocol and cipher suite known),
/// the exchange; after the idle connection is closed, the next dial resumes.
#[test]
fn fresh_tls_dials_full_then_resumed() {
    let pki = TestPki::new();
    for versions in [TlsVersions::Tls13Only, TlsVersions::Tls12Only] {
        let setup = ServerSetup::localhost(&pki).versions(versions);
        let server = TlsTestServer::keep_alive(setup, b"tls");
        let port = server.addr().port();
        let (mut engine, rec) = traced_engine(tls_engine_config(&pki));
        let mut driver = Driver::new();
        let a = engine.submit(get(&server.url("/"))).unwrap();
        finish(&mut engine, &mut driver, a);
        let proto = match versions {
            TlsVersions::Tls13Only => "Tls13",
            _ => "Tls12",
        };
        let handshake = |kind: &str| format!("A conn{{C}} tls_done {kind} {proto} cipher=true");
        let expected = |conn: u64, kind: &str| {
            expect(
                &[
                    "A conn{C} connect_start 127.0.0.1:{P}",
                    "A conn{C} connect_done 127.0.0.1:{P} connected",
                    "A conn{C} tls_start 127.0.0.1",
                    &handshake(kind),
                    "A conn{C} got_conn fresh served=0 idle=false",
                    "A conn{C} wrote_headers",
                    "A conn{C} wrote_request",
                    "A conn{C} first_byte",
                    "A conn{C} head_received 200",
                    "A conn{C} body_done reused=false retries=0",
                    "A conn{C} conn_returned idle served=1",
                ],
                port,
            )
            .into_iter()
            .map(|l| l.replace("{C}", &conn.to_string()))
            .collect::<Vec<_>>()
        };
        assert_eq!(rec.lines(&[(a, "A")]), expected(1, "full"), "{versions:?}");
        let info = driver.outcome(a).reply().info;
        assert!(info.tls.is_some() && info.connect.is_some(), "{info:?}");

        engine.close_idle();
        let closed = rec.lines(&[]);
        assert_eq!(
            closed.last().unwrap(),
            "- conn1 conn_closed shutdown served=1"
        );
        rec.clear();
        let a = engine.submit(get(&server.url("/"))).unwrap();
        finish(&mut engine, &mut driver, a);
        assert_eq!(
            rec.lines(&[(a, "A")]),
            expected(2, "resumed"),
            "{versions:?}"
        );
        // A resumed handshake may finish within one engine turn; its time is still its
        // own (the engine reads the clock around a handshake), never zero.
        let info = driver.outcome(a).reply().info;
        assert!(info.tls.is_some_and(|t| t > Duration::ZERO), "{info:?}");
    }
}

/// `Expect: 100-continue`: the head goes out alone, the `100` is the first response
/// byte, then the body goes out and the final response follows.
#[test]
fn an_expect_continue_exchange() {
    let server = TestServer::start(|conn| {
        while let Ok(head) = conn.read_head() {
            assert!(head.expects_continue());
            conn.send_continue();
            if conn.read_body(head).is_err() {
                return;
            }
            conn.respond(201, &[], b"made");
        }
    });
    let (mut engine, rec) = traced_engine(Config::default());
    let mut driver = Driver::new();
    let request = Request::post(server.url("/upload"))
        .header("Expect", "100-continue")
        .body(Body::from("the body"))
        .unwrap();
    let a = engine.submit(request).unwrap();
    finish(&mut engine, &mut driver, a);
    let lines = rec.lines(&[(a, "A")]);
    assert_eq!(
        lines[2..],
        [
            "A conn1 got_conn fresh served=0 idle=false",
            "A conn1 wrote_headers",
            "A conn1 first_byte",
            "A conn1 got_100_continue",
            "A conn1 wrote_request",
            "A conn1 head_received 201",
            "A conn1 body_done reused=false retries=0",
            "A conn1 conn_returned idle served=1",
        ]
    );
}

/// Through an `https://` proxy to an `https` origin: the connect goes to the proxy, a
/// TLS handshake with the proxy (`proxy` set), the `CONNECT` tunnel, then the origin's
/// handshake inside it; only the origin's is `RequestInfo::tls`.
#[test]
fn tls_in_tls_through_an_https_proxy() {
    use testkit::proxy::{ProxyOptions, TestProxy};
    use wirepool::{Proxy, ResolveTo};
    const ORIGIN: &str = "origin.test";
    let pki = TestPki::new();
    let origin = TlsTestServer::keep_alive(ServerSetup::new(pki.server_cert(&[ORIGIN])), b"inner");
    let proxy = TestProxy::start_tls(
        ServerSetup::localhost(&pki),
        ProxyOptions::default().host(ORIGIN, origin.addr()),
    );
    let tracer = Arc::new(Recorder::default());
    let client = Client::builder()
        .proxy(Proxy::parse(&format!("https://localhost:{}", proxy.addr().port())).unwrap())
        .proxy_from_env(false)
        .resolve(ResolveTo::new(
            "localhost",
            proxy.addr().port(),
            vec![proxy.addr().ip()],
        ))
        .tls_config(tls_engine_config(&pki).tls.unwrap())
        .tracer(tracer.clone())
        .build()
        .unwrap();
    let url = format!("https://{ORIGIN}:{}/", origin.addr().port());
    let mut resp = client.get(&url).send().unwrap();
    assert_eq!(resp.body_mut().read_all().unwrap(), b"inner");
    let a = tracer.events()[0].req.unwrap();
    let p = proxy.addr().port();
    let lines: Vec<String> = tracer.lines(&[(a, "A")]);
    assert_eq!(
        lines[..8],
        [
            "A conn1 dns_start localhost".to_owned(),
            "A conn1 dns_done cached=true 127.0.0.1:true".into(),
            format!("A conn1 connect_start 127.0.0.1:{p}"),
            format!("A conn1 connect_done 127.0.0.1:{p} connected"),
            "A conn1 tls_start localhost (proxy)".into(),
            "A conn1 tls_done full Tls13 cipher=true (proxy)".into(),
            format!("A conn1 tls_start {ORIGIN}"),
            "A conn1 tls_done full Tls13 cipher=true".into(),
        ]
    );
    assert_eq!(lines[8], "A conn1 got_conn fresh served=0 idle=false");
    let info = resp.info();
    assert!(info.tls.is_some() && info.connect.is_some(), "{info:?}");
}

/// Over a Unix domain socket: no DNS, one connect attempt with no address.
#[cfg(unix)]
#[test]
fn a_unix_socket_dial() {
    let server = testkit::unix::UnixServer::keep_alive(b"local");
    let tracer = Arc::new(Recorder::default());
    let client = Client::builder()
        .unix_socket(server.path())
        .tracer(tracer.clone())
        .build()
        .unwrap();
    client
        .get("http://docker.local/v")
        .send()
        .unwrap()
        .text()
        .unwrap();
    let a = tracer.events()[0].req.unwrap();
    assert!(common::wait_until(WAIT, || tracer.events().len() == 9));
    assert_eq!(
        tracer.lines(&[(a, "A")])[..3],
        [
            "A conn1 connect_start unix",
            "A conn1 connect_done unix connected",
            "A conn1 got_conn fresh served=0 idle=false",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Reuse, waiting, retries, failures
// ---------------------------------------------------------------------------------------

/// The second GET takes the idle connection: no dial events, `got_conn` says reused,
/// with the idle time and how many requests the connection carried.
#[test]
fn a_reuse() {
    let server = TestServer::keep_alive(b"again");
    let (mut engine, rec) = traced_engine(Config::default());
    let mut driver = Driver::new();
    let a = engine.submit(get(&server.url("/a"))).unwrap();
    finish(&mut engine, &mut driver, a);
    rec.clear();
    let b = engine.submit(get(&server.url("/b"))).unwrap();
    finish(&mut engine, &mut driver, b);
    assert_eq!(
        rec.lines(&[(b, "B")]),
        [
            "B conn1 got_conn reused served=1 idle=true",
            "B conn1 wrote_headers",
            "B conn1 wrote_request",
            "B conn1 first_byte",
            "B conn1 head_received 200",
            "B conn1 body_done reused=true retries=0",
            "B conn1 conn_returned idle served=2",
        ]
    );
    let info = driver.outcome(b).reply().info;
    assert!(info.reused && info.idle_for.is_some());
    assert_eq!((info.conn_id, info.conn_requests), (1, 1));
    assert_eq!((info.dns, info.connect, info.tls), (None, None, None));
}

/// With `max_conns_per_host = 1`, B waits in the queue while A holds the connection;
/// A's connection is handed straight to B. B's own tracer (a request extension) sees
/// B's events and the connection's while B has it, nothing of A.
#[test]
fn a_wait_at_max_conns_per_host() {
    let gate = Gate::new();
    let server = common::gated_server(&gate, b"one at a time");
    let mut config = Config::default();
    config.max_conns_per_host = Some(1);
    let (mut engine, rec) = traced_engine(config);
    let mut driver = Driver::new();
    let mine = Arc::new(Recorder::default());
    let a = engine.submit(get(&server.url("/a"))).unwrap();
    let mut request_b = get(&server.url("/b"));
    request_b
        .extensions_mut()
        .insert(RequestTracer(mine.clone()));
    let b = engine.submit(request_b).unwrap();
    driver.run_until(&mut engine, "B to queue", |_, _| {
        rec.events().iter().any(|e| e.name == "queued")
    });
    gate.open_all();
    driver.run_all(&mut engine, &[a, b]);
    let names = [(a, "A"), (b, "B")];
    let lines = rec.lines(&names);
    let b_id = format!("{b}");
    let expected_b = [
        "B - queued waiting=1".to_owned(),
        format!("A conn1 conn_returned handed to {b_id} served=1"),
        "B conn1 got_conn reused served=1 idle=true".into(),
        "B conn1 wrote_headers".into(),
        "B conn1 wrote_request".into(),
        "B conn1 first_byte".into(),
        "B conn1 head_received 200".into(),
        "B conn1 body_done reused=true retries=0".into(),
        "B conn1 conn_returned idle served=2".into(),
    ];
    // The client's tracer: A's exchange, then the hand-over and B's.
    let from_handoff = lines.iter().position(|l| l.contains("handed to")).unwrap();
    assert_eq!(lines[from_handoff..], expected_b[1..]);
    assert!(lines[..from_handoff].contains(&expected_b[0]));
    assert!(lines[..from_handoff].contains(&"A conn1 body_done reused=false retries=0".into()));
    // B's own tracer: B's events, and the hand-over of A's connection is A's, not B's.
    let b_lines = mine.lines(&names);
    let mut expected_own = expected_b.to_vec();
    expected_own.remove(1);
    assert_eq!(b_lines, expected_own);
    let info = driver.outcome(b).reply().info;
    assert!(info.queued > Duration::ZERO && info.queued <= info.wait);
}

/// B goes out on the reused connection, which the server closes without answering: the
/// connection closes, B is retried on a fresh one and succeeds.
#[test]
fn a_stale_connection_retry() {
    let server = TestServer::scripted(Script::StaleOnReuse(b"ok"));
    let port = server.addr().port();
    let (mut engine, rec) = traced_engine(Config::default());
    let mut driver = Driver::new();
    let a = engine.submit(get(&server.url("/1"))).unwrap();
    finish(&mut engine, &mut driver, a);
    rec.clear();
    let b = engine.submit(get(&server.url("/2"))).unwrap();
    finish(&mut engine, &mut driver, b);
    assert_eq!(
        rec.lines(&[(b, "B")]),
        expect(
            &[
                "B conn1 got_conn reused served=1 idle=true",
                "B conn1 wrote_headers",
                "B conn1 wrote_request",
                "B conn1 conn_closed server close served=1",
                "B conn1 retry attempt=1 after ConnectionClosed",
                "B conn2 connect_start 127.0.0.1:{P}",
                "B conn2 connect_done 127.0.0.1:{P} connected",
                "B conn2 got_conn fresh served=0 idle=false",
                "B conn2 wrote_headers",
                "B conn2 wrote_request",
                "B conn2 first_byte",
                "B conn2 head_received 200",
                "B conn2 body_done reused=false retries=1",
                "B conn2 conn_returned idle served=1",
            ],
            port
        )
    );
    // The summary describes the attempt that answered: a fresh connection, no idle time.
    let info = driver.outcome(b).reply().info;
    assert_eq!((info.reused, info.idle_for, info.retries), (false, None, 1));
    assert!(info.connect.is_some());
}

/// A request whose server never answers times out: its connection closes (an error
/// close), then the request fails with `Timeout`.
#[test]
fn a_timeout() {
    let gate = Gate::new(); // never opened
    let server = common::gated_server(&gate, b"too late");
    let port = server.addr().port();
    let (mut engine, rec) = traced_engine(Config::default());
    let mut driver = Driver::new();
    let opts = RequestOptions::timeout(Duration::from_millis(150));
    let a = engine.submit_with(get(&server.url("/")), opts).unwrap();
    finish(&mut engine, &mut driver, a);
    assert_eq!(driver.outcome(a).error().kind(), ErrorKind::Timeout);
    assert_eq!(
        rec.lines(&[(a, "A")]),
        expect(
            &[
                "A conn1 connect_start 127.0.0.1:{P}",
                "A conn1 connect_done 127.0.0.1:{P} connected",
                "A conn1 got_conn fresh served=0 idle=false",
                "A conn1 wrote_headers",
                "A conn1 wrote_request",
                "A conn1 conn_closed error served=0",
                "A - request_failed Timeout",
            ],
            port
        )
    );
}

/// `Engine::cancel` of a request in flight closes its connection (canceled); of a
/// request in the wait queue, only `canceled` with no connection.
#[test]
fn a_cancel() {
    let gate = Gate::new();
    let server = common::gated_server(&gate, b"never read");
    let port = server.addr().port();
    let mut config = Config::default();
    config.max_conns_per_host = Some(1);
    let (mut engine, rec) = traced_engine(config);
    let mut driver = Driver::new();
    let a = engine.submit(get(&server.url("/a"))).unwrap();
    let b = engine.submit(get(&server.url("/b"))).unwrap();
    driver.run_until(&mut engine, "A to be written", |_, _| {
        rec.events().iter().any(|e| e.name == "wrote_request")
    });
    engine.cancel(b);
    engine.cancel(a);
    driver.turn(&mut engine);
    let lines = rec.lines(&[(a, "A"), (b, "B")]);
    assert_eq!(
        lines,
        expect(
            &[
                "A conn1 connect_start 127.0.0.1:{P}",
                "B - queued waiting=1",
                "A conn1 connect_done 127.0.0.1:{P} connected",
                "A conn1 got_conn fresh served=0 idle=false",
                "A conn1 wrote_headers",
                "A conn1 wrote_request",
                "B - canceled discarded=false",
                "A conn1 canceled discarded=false",
                "A conn1 conn_closed canceled served=0",
            ],
            port
        )
    );
    // Each canceled request is reported once, as Canceled (Engine::cancel's outcome).
    let ended: Vec<(RequestId, ErrorKind)> = driver
        .finished
        .iter()
        .map(|f| (f.id, f.error().kind()))
        .collect();
    assert_eq!(ended, [(b, ErrorKind::Canceled), (a, ErrorKind::Canceled)]);
    gate.open_all();
}

/// `Engine::shutdown` fails the request in flight (`PoolClosed`), then closes its
/// connection: every request ends with `body_done`, `request_failed` or `canceled`.
#[test]
fn a_shutdown() {
    let gate = Gate::new();
    let server = common::gated_server(&gate, b"never sent");
    let (mut engine, rec) = traced_engine(Config::default());
    let mut driver = Driver::new();
    let a = engine.submit(get(&server.url("/"))).unwrap();
    driver.run_until(&mut engine, "A to be written", |_, _| {
        rec.events().iter().any(|e| e.name == "wrote_request")
    });
    rec.clear();
    engine.shutdown(|_| wirepool::Flow::Continue);
    assert_eq!(
        rec.lines(&[(a, "A")]),
        [
            "A - request_failed PoolClosed",
            "A conn1 conn_closed shutdown served=0",
        ]
    );
    gate.open_all();
}

/// A connect refused by the only address: one attempt, failed, then the request fails.
#[test]
fn a_refused_connect() {
    let addr = testkit::free_port_refused();
    let (mut engine, rec) = traced_engine(Config::default());
    let mut driver = Driver::new();
    let a = engine.submit(get(&format!("http://{addr}/"))).unwrap();
    finish(&mut engine, &mut driver, a);
    assert_eq!(driver.outcome(a).error().kind(), ErrorKind::Connect);
    assert_eq!(
        rec.lines(&[(a, "A")]),
        [
            format!("A conn1 connect_start {addr}"),
            format!("A conn1 connect_done {addr} failed ConnectionRefused"),
            "A conn1 conn_closed error served=0".into(),
            "A - request_failed Connect".into(),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Through the Client
// ---------------------------------------------------------------------------------------

/// `ClientBuilder::tracer` reaches the engine thread; a `RequestTracer` rides along in
/// the request; the response carries the timing summary.
#[test]
fn client_tracer_and_timing_summary() {
    let server = TestServer::keep_alive(b"summary");
    let all = Arc::new(Recorder::default());
    let client = Client::builder().tracer(all.clone()).build().unwrap();
    let mine = Arc::new(Recorder::default());
    let mut request = Request::get(server.url("/")).body(Body::empty()).unwrap();
    request.extensions_mut().insert(RequestTracer(mine.clone()));
    let mut resp = client.send(request).unwrap();
    assert_eq!(resp.body_mut().read_all().unwrap(), b"summary");
    let done = *resp.body_mut().final_info().unwrap();
    let first = resp.info();
    assert!(first.ttfb > Duration::ZERO && first.ttfb <= first.head);
    assert!(first.wait >= first.connect.unwrap());
    assert!(done.total >= done.head);
    let names: Vec<&str> = mine.events().iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            "connect_start",
            "connect_done",
            "got_conn",
            "wrote_headers",
            "wrote_request",
            "first_byte",
            "head_received",
            "body_done",
            "conn_returned"
        ]
    );
    // The client's tracer saw the same events (reading the body ended before the
    // engine returned the connection, so wait for it).
    assert!(common::wait_until(WAIT, || all.events().len() == 9));
    let a = all.events()[0].req.unwrap();
    assert_eq!(all.lines(&[(a, "A")]), mine.lines(&[(a, "A")]));
    // A second request on the same client without its own tracer: only the client's.
    client.get(server.url("/")).send().unwrap().text().unwrap();
    assert_eq!(mine.events().len(), 9);
    assert!(common::wait_until(WAIT, || all.events().len() == 9 + 7));
}
