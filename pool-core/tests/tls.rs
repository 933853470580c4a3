//! HTTPS through the pool, against `testkit`'s in-process rustls server with certificates
//! generated at test time: requests, reuse, session resumption on re-dial, the scheme in
//! the pool key, mutual TLS, each certificate error, the handshake deadline, servers
//! closing idle connections, close-delimited bodies with and without `close_notify`, and
//! descriptor leaks.
//!
//! Every test holds [`process_lock`]: the leak test compares the process's open file
//! descriptors before and after, which only works while no other test opens sockets.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{get, wait_until, Driver, WAIT};
use testkit::tls::{
    Identity, ServerResumption, ServerSetup, TestPki, TlsScript, TlsTestServer, TlsVersions,
    WRONG_NAME,
};
use testkit::{open_fds, process_lock, TestServer};
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Client, Config, Engine, Error, ErrorKind, HostStats, Response, Scheme, Stats};

/// The client TLS configuration of these tests: only `pki`'s CA is trusted.
fn tls_config(pki: &TestPki) -> TlsConfig {
    TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .build()
        .unwrap()
}

/// As [`tls_config`], presenting `identity` as a client certificate.
fn tls_config_with_cert(pki: &TestPki, identity: &Identity) -> TlsConfig {
    TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .client_cert_pem(&identity.cert_pem, &identity.key_pem)
        .build()
        .unwrap()
}

fn client(pki: &TestPki) -> Client {
    Client::builder()
        .tls_config(tls_config(pki))
        .build()
        .unwrap()
}

/// The stats of `scheme://127.0.0.1:port` (zeros if the pool never saw it).
fn stats_of(stats: &Stats, scheme: Scheme, port: u16) -> HostStats {
    stats
        .hosts
        .iter()
        .find(|(key, _)| key.scheme() == scheme && key.port() == port)
        .map(|(_, s)| s.clone())
        .unwrap_or_default()
}

/// The `tls_glue::Error` a TLS failure carries as its source.
fn tls_source(err: &Error) -> &wirepool::tls::Error {
    std::error::Error::source(err)
        .and_then(|s| s.downcast_ref::<wirepool::tls::Error>())
        .unwrap_or_else(|| panic!("no tls_glue::Error in the source of {err:?}"))
}

/// `err` and its source chain as one line, for messages and `contains` checks.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}

/// The error of a GET whose failure may surface with the head or, after a head, while
/// reading the body: returns it either way.
fn get_error(client: &Client, url: &str) -> Error {
    match client.get(url).send() {
        Err(e) => e,
        Ok(resp) => body_error(resp),
    }
}

/// Reads `resp`'s body to the end, expecting an error; returns the wirepool error.
fn body_error(mut resp: Response) -> Error {
    let mut body = Vec::new();
    let err = resp
        .body_mut()
        .read_to_end(&mut body)
        .expect_err("the body must fail");
    err.into_inner()
        .and_then(|inner| inner.downcast::<Error>().ok())
        .map(|e| *e)
        .expect("a wirepool error inside the io::Error")
}

// ---------------------------------------------------------------------------------------
// Requests and reuse
// ---------------------------------------------------------------------------------------

#[test]
fn https_get_returns_status_headers_and_body() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        while conn.read_request().is_some() {
            conn.respond(200, &[("X-Over", "tls")], b"hello over tls");
        }
    });
    let client = client(&pki);
    let resp = client.get(server.url("/a?b=c")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-over"], "tls");
    assert!(!resp.info().reused);
    assert_eq!(resp.text().unwrap(), "hello over tls");

    let recorded = server.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, "GET");
    assert_eq!(recorded[0].target, "/a?b=c");
    let handshake = &server.handshakes()[0];
    assert_eq!(handshake.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(handshake.sni, None, "no SNI for an IP literal (RFC 6066)");
    assert_eq!(handshake.version, "TLSv1_3");
    assert!(!handshake.client_cert);

    let stats = client.stats().unwrap();
    let https = stats_of(&stats, Scheme::Https, server.addr().port());
    assert_eq!((https.requests, https.dials), (1, 1));
    assert_eq!(
        (https.tls_full_handshakes, https.tls_resumed_handshakes),
        (1, 0)
    );
    assert_eq!(stats.total.tls_full_handshakes, 1);
}

#[test]
fn a_dns_name_is_verified_and_sent_as_sni() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"named");
    let client = client(&pki);
    let url = server.url_with_host("localhost", "/");
    assert_eq!(client.get(&url).send().unwrap().text().unwrap(), "named");
    assert_eq!(server.handshakes()[0].sni.as_deref(), Some("localhost"));
    assert_eq!(
        server.recorded()[0].header("host"),
        Some(format!("localhost:{}", server.addr().port()).as_str())
    );
}

#[test]
fn sequential_https_requests_reuse_one_connection_and_one_handshake() {
    let _lock = process_lock();
    const N: u64 = 10;
    let pki = TestPki::new();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"again");
    let client = client(&pki);
    for i in 0..N {
        let resp = client.get(server.url("/")).send().unwrap();
        assert_eq!(resp.info().reused, i > 0, "request {i}");
        assert_eq!(resp.text().unwrap(), "again");
    }
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), N as usize);
    assert_eq!(
        (server.full_handshakes(), server.resumed_handshakes()),
        (1, 0)
    );
    let s = stats_of(
        &client.stats().unwrap(),
        Scheme::Https,
        server.addr().port(),
    );
    assert_eq!((s.requests, s.dials, s.reuses), (N, 1, N - 1));
    assert_eq!((s.tls_full_handshakes, s.tls_resumed_handshakes), (1, 0));
    assert_eq!(s.idle, 1);
}

#[test]
fn engine_mode_https_with_concurrent_requests() {
    let _lock = process_lock();
    const N: usize = 4;
    let pki = TestPki::new();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"engine");
    let mut config = Config::default();
    config.tls = Some(tls_config(&pki));
    let mut engine = Engine::new(config).unwrap();
    let mut driver = Driver::new();
    let ids: Vec<_> = (0..N)
        .map(|_| engine.submit(get(&server.url("/"))).unwrap())
        .collect();
    driver.run_all(&mut engine, &ids);
    for id in &ids {
        assert_eq!(driver.outcome(*id).reply().body, b"engine");
    }
    // Submitted together: one connection (and one handshake) each. The first handshake
    // to finish stores the tickets the later ones could have used, but they all started
    // before any ticket existed: all full.
    assert_eq!(server.connections(), N);
    let s = stats_of(&engine.stats(), Scheme::Https, server.addr().port());
    assert_eq!(s.dials, N as u64);
    assert_eq!(s.tls_full_handshakes + s.tls_resumed_handshakes, N as u64);
    assert_eq!(s.tls_full_handshakes, server.full_handshakes() as u64);

    // Then N more, one at a time: every one reuses.
    for _ in 0..N {
        let id = engine.submit(get(&server.url("/"))).unwrap();
        driver.run_all(&mut engine, &[id]);
        assert!(driver.outcome(id).reply().info.reused);
    }
    assert_eq!(server.connections(), N);
}

// ---------------------------------------------------------------------------------------
// Resumption
// ---------------------------------------------------------------------------------------

/// `N` requests, each on a new connection because the client closes its idle ones in
/// between: the first handshake is full, every re-dial resumes. Counted by the client's
/// stats and by the server alike, for TLS 1.3 (tickets) and TLS 1.2 (session ids).
#[test]
fn redials_resume_the_session() {
    let _lock = process_lock();
    const N: u64 = 5;
    let pki = TestPki::new();
    for versions in [TlsVersions::Tls13Only, TlsVersions::Tls12Only] {
        let setup = ServerSetup::localhost(&pki).versions(versions);
        let server = TlsTestServer::keep_alive(setup, b"resume me");
        let client = client(&pki);
        for i in 0..N {
            let resp = client.get(server.url("/")).send().unwrap();
            assert!(!resp.info().reused, "{versions:?} request {i}");
            assert_eq!(resp.text().unwrap(), "resume me");
            client.close_idle();
        }
        let s = stats_of(
            &client.stats().unwrap(),
            Scheme::Https,
            server.addr().port(),
        );
        assert_eq!(s.dials, N, "{versions:?}");
        assert_eq!(
            (s.tls_full_handshakes, s.tls_resumed_handshakes),
            (1, N - 1),
            "{versions:?}"
        );
        assert_eq!(
            (server.full_handshakes(), server.resumed_handshakes()),
            (1, N as usize - 1),
            "{versions:?}: the server agrees"
        );
    }
}

/// The same through the idle timeout: connections expire between requests, and every
/// re-dial resumes.
#[test]
fn redials_after_idle_expiry_resume() {
    let _lock = process_lock();
    const N: u64 = 4;
    let pki = TestPki::new();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"x");
    let client = Client::builder()
        .tls_config(tls_config(&pki))
        .idle_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    for _ in 0..N {
        assert_eq!(
            client.get(server.url("/")).send().unwrap().text().unwrap(),
            "x"
        );
        assert!(wait_until(WAIT, || client.stats().unwrap().total.idle == 0));
    }
    let s = client.stats().unwrap().total;
    assert_eq!(s.dials, N);
    assert_eq!(s.closes.idle_timeout, N);
    assert_eq!(
        (s.tls_full_handshakes, s.tls_resumed_handshakes),
        (1, N - 1)
    );
}

/// Against a server that refuses to resume, every dial is a full handshake: the counts
/// come from the handshake, not from the client's wish to resume.
#[test]
fn a_server_without_resumption_costs_a_full_handshake_per_dial() {
    let _lock = process_lock();
    const N: u64 = 3;
    let pki = TestPki::new();
    let setup = ServerSetup::localhost(&pki).resumption(ServerResumption::Off);
    let server = TlsTestServer::keep_alive(setup, b"x");
    let client = client(&pki);
    for _ in 0..N {
        client.get(server.url("/")).send().unwrap().text().unwrap();
        client.close_idle();
    }
    let s = client.stats().unwrap().total;
    assert_eq!((s.tls_full_handshakes, s.tls_resumed_handshakes), (N, 0));
    assert_eq!(server.full_handshakes(), N as usize);
}

// ---------------------------------------------------------------------------------------
// The scheme is part of the pool key
// ---------------------------------------------------------------------------------------

/// An idle plain connection to 127.0.0.1:P is never used for `https://127.0.0.1:P`: the
/// https request dials its own connection, which tries TLS (and fails, the server speaks
/// plain HTTP; nothing falls back to plain text).
#[test]
fn https_never_reuses_an_idle_http_connection_to_the_same_port() {
    let _lock = process_lock();
    let pki = TestPki::new();
    // A plain server that, like nginx, answers a TLS ClientHello (first byte 0x16, a
    // handshake record) with a plain-text 400.
    let server = TestServer::start(|conn| {
        let mut first = [0u8; 1];
        let peeked = conn.stream().map(|s| s.peek(&mut first));
        if matches!(peeked, Some(Ok(1))) && first[0] == 0x16 {
            conn.respond(400, &[("Connection", "close")], b"plain HTTP port");
            conn.close();
        } else {
            conn.serve_keep_alive(b"plain");
        }
    });
    let port = server.addr().port();
    let client = client(&pki);
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "plain"
    );
    assert_eq!(client.stats().unwrap().total.idle, 1);

    let https = format!("https://127.0.0.1:{port}/");
    let err = get_error(&client, &https);
    assert_eq!(err.kind(), ErrorKind::Tls, "{}", chain(&err));
    assert_eq!(
        tls_source(&err).kind(),
        wirepool::tls::ErrorKind::HandshakeFailure
    );
    assert!(
        chain(&err).contains("did not answer with TLS"),
        "{}",
        chain(&err)
    );
    assert_eq!(
        server.connections(),
        2,
        "https dialled a connection of its own"
    );
    assert_eq!(
        server.requests(),
        1,
        "the plain connection carried only the http request"
    );

    let stats = client.stats().unwrap();
    let http = stats_of(&stats, Scheme::Http, port);
    let tls = stats_of(&stats, Scheme::Https, port);
    assert_eq!((http.requests, http.dials, http.idle), (1, 1, 1));
    assert_eq!((tls.requests, tls.dials, tls.reuses), (1, 1, 0));
    // And the plain connection is still there for plain requests.
    let resp = client.get(server.url("/")).send().unwrap();
    assert!(resp.info().reused);
    assert_eq!(resp.text().unwrap(), "plain");
}

/// The other way round: an idle TLS connection to 127.0.0.1:P is never used for
/// `http://127.0.0.1:P`.
#[test]
fn http_never_reuses_an_idle_https_connection_to_the_same_port() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"secret");
    let port = server.addr().port();
    let client = client(&pki);
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "secret"
    );

    let plain = format!("http://127.0.0.1:{port}/");
    let outcome = client.get(&plain).send().and_then(|r| r.bytes());
    let err = outcome.expect_err("plain HTTP to a TLS port must fail");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Protocol | ErrorKind::ConnectionClosed
        ),
        "{err:?}"
    );
    assert_eq!(server.connections(), 2);
    assert!(server.wait_for_handshakes_ended(2, WAIT));
    assert_eq!(
        server.handshake_failures().len(),
        1,
        "the plain request is no handshake"
    );
    let stats = client.stats().unwrap();
    let tls = stats_of(&stats, Scheme::Https, port);
    assert_eq!((tls.requests, tls.dials, tls.idle), (1, 1, 1));
    assert_eq!(stats_of(&stats, Scheme::Http, port).dials, 1);
}

// ---------------------------------------------------------------------------------------
// Mutual TLS
// ---------------------------------------------------------------------------------------

#[test]
fn mutual_tls_with_a_client_certificate() {
    let _lock = process_lock();
    let pki = TestPki::new();
    for versions in [TlsVersions::Tls13Only, TlsVersions::Tls12Only] {
        let setup = ServerSetup::localhost(&pki)
            .require_client_cert(&pki)
            .versions(versions);
        let server = TlsTestServer::keep_alive(setup, b"welcome");
        let identity = pki.client_cert("wirepool client");
        let client = Client::builder()
            .tls_config(tls_config_with_cert(&pki, &identity))
            .build()
            .unwrap();
        for _ in 0..2 {
            assert_eq!(
                client.get(server.url("/")).send().unwrap().text().unwrap(),
                "welcome"
            );
        }
        assert_eq!(server.client_certs_presented(), 1, "{versions:?}");
        assert_eq!(server.connections(), 1, "{versions:?}: reused");
    }
}

/// A server that requires a client certificate rejects a client with none, and one with
/// a certificate from a CA it does not trust: `ErrorKind::Tls` with
/// `ClientCertificateRejected`. With TLS 1.3 the client finishes its side of the
/// handshake, sends its request and learns of the rejection on its first read (in
/// practice while waiting for the head: `get` fails); with TLS 1.2 the handshake itself
/// fails. Either way no request reaches the server and nothing is retried.
#[test]
fn mutual_tls_rejections() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let stranger = TestPki::with_name("stranger ca");
    let outsider = stranger.client_cert("outsider");
    for versions in [TlsVersions::Tls13Only, TlsVersions::Tls12Only] {
        for with_cert in [false, true] {
            let case = format!("{versions:?}, client certificate: {with_cert}");
            let setup = ServerSetup::localhost(&pki)
                .require_client_cert(&pki)
                .versions(versions);
            let server = TlsTestServer::keep_alive(setup, b"never");
            let config = if with_cert {
                tls_config_with_cert(&pki, &outsider)
            } else {
                tls_config(&pki)
            };
            let client = Client::builder().tls_config(config).build().unwrap();
            let err = get_error(&client, &server.url("/"));
            assert_eq!(err.kind(), ErrorKind::Tls, "{case}: {}", chain(&err));
            assert_eq!(
                tls_source(&err).kind(),
                wirepool::tls::ErrorKind::ClientCertificateRejected,
                "{case}: {}",
                chain(&err)
            );
            assert!(server.wait_for_handshakes_ended(1, WAIT), "{case}");
            assert_eq!(server.handshake_failures().len(), 1, "{case}");
            assert_eq!(server.requests(), 0, "{case}");
            assert_eq!(server.connections(), 1, "{case}: not retried");
            assert_eq!(client.stats().unwrap().total.retries, 0, "{case}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Certificate errors
// ---------------------------------------------------------------------------------------

/// A certificate problem case: what the server presents, which host the client dials,
/// the error kind expected and a phrase its message must hold.
struct CertCase {
    name: &'static str,
    identity: Identity,
    host: &'static str,
    kind: wirepool::tls::ErrorKind,
    says: String,
}

fn cert_cases(pki: &TestPki) -> Vec<CertCase> {
    use wirepool::tls::ErrorKind as K;
    vec![
        CertCase {
            name: "unknown issuer",
            identity: TestPki::unknown_ca_server_cert(&["localhost", "127.0.0.1"]),
            host: "127.0.0.1",
            kind: K::UnknownIssuer,
            says: "unknown authority".into(),
        },
        CertCase {
            name: "expired",
            identity: pki.expired_server_cert(&["localhost", "127.0.0.1"]),
            host: "127.0.0.1",
            kind: K::CertificateExpired,
            says: "valid until 2001-01-01".into(),
        },
        CertCase {
            name: "not yet valid",
            identity: pki.not_yet_valid_server_cert(&["localhost", "127.0.0.1"]),
            host: "127.0.0.1",
            kind: K::CertificateNotYetValid,
            says: "valid from 3000-01-01".into(),
        },
        CertCase {
            name: "hostname mismatch (ip literal)",
            identity: pki.wrong_name_server_cert(),
            host: "127.0.0.1",
            kind: K::HostnameMismatch,
            says: format!("expected \"127.0.0.1\"; the certificate is valid for: \"{WRONG_NAME}\""),
        },
        CertCase {
            name: "hostname mismatch (dns name)",
            identity: pki.wrong_name_server_cert(),
            host: "localhost",
            kind: K::HostnameMismatch,
            says: format!("expected \"localhost\"; the certificate is valid for: \"{WRONG_NAME}\""),
        },
    ]
}

/// Each certificate problem fails the request with `ErrorKind::Tls` and its own
/// `tls_glue` kind, names what was expected, is not retried, and sends nothing: the
/// server sees one connection, one failed handshake and no request.
#[test]
fn certificate_errors_fail_closed_with_their_own_kind() {
    let _lock = process_lock();
    let pki = TestPki::new();
    for case in cert_cases(&pki) {
        let name = case.name;
        let server = TlsTestServer::keep_alive(ServerSetup::new(case.identity), b"never");
        let client = client(&pki);
        let err = client
            .get(server.url_with_host(case.host, "/"))
            .send()
            .expect_err(name);
        let shown = chain(&err);
        assert_eq!(err.kind(), ErrorKind::Tls, "{name}: {shown}");
        assert_eq!(err.culprit(), wirepool::Culprit::Peer, "{name}");
        let tls = tls_source(&err);
        assert_eq!(tls.kind(), case.kind, "{name}: {shown}");
        assert!(tls.is_certificate_error(), "{name}");
        assert!(
            shown.contains(&case.says),
            "{name}: {shown:?} lacks {:?}",
            case.says
        );
        assert_eq!(
            err.to_string(),
            "tls error",
            "{name}: Display does not repeat the source"
        );

        assert!(server.wait_for_handshakes_ended(1, WAIT), "{name}");
        assert_eq!(server.handshakes().len(), 0, "{name}");
        assert_eq!(server.handshake_failures().len(), 1, "{name}");
        assert_eq!(server.requests(), 0, "{name}: nothing sent");
        assert_eq!(server.connections(), 1, "{name}: never retried");
        let s = client.stats().unwrap().total;
        assert_eq!((s.dials, s.retries, s.idle), (1, 0, 0), "{name}");
        assert_eq!(
            s.tls_full_handshakes + s.tls_resumed_handshakes,
            0,
            "{name}"
        );
    }
}

/// The same through the Engine: the request fails with the same error, no event but
/// `Failed` is reported, and the connection is gone.
#[test]
fn engine_mode_reports_certificate_errors() {
    let _lock = process_lock();
    let pki = TestPki::new();
    for case in cert_cases(&pki) {
        let name = case.name;
        let server = TlsTestServer::keep_alive(ServerSetup::new(case.identity), b"never");
        let mut config = Config::default();
        config.tls = Some(tls_config(&pki));
        let mut engine = Engine::new(config).unwrap();
        let mut driver = Driver::new();
        let id = engine
            .submit(get(&server.url_with_host(case.host, "/")))
            .unwrap();
        driver.run_all(&mut engine, &[id]);
        assert!(!driver.has_head(id), "{name}");
        let err = driver.outcome(id).error();
        assert_eq!(err.kind(), ErrorKind::Tls, "{name}: {}", chain(err));
        assert_eq!(tls_source(err).kind(), case.kind, "{name}");
        assert!(chain(err).contains(&case.says), "{name}: {}", chain(err));
        assert!(server.wait_for_handshakes_ended(1, WAIT), "{name}");
        assert_eq!((server.connections(), server.requests()), (1, 0), "{name}");
        let s = engine.stats().total;
        assert_eq!(
            (s.dials, s.active, s.idle, s.connecting),
            (1, 0, 0, 0),
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Handshake deadline
// ---------------------------------------------------------------------------------------

#[test]
fn a_server_that_never_answers_the_handshake_times_out() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::scripted(ServerSetup::localhost(&pki), TlsScript::NeverHandshake);
    let timeout = Duration::from_millis(300);
    let client = Client::builder()
        .tls_config(tls_config(&pki))
        .tls_handshake_timeout(timeout)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client
        .get(server.url("/"))
        .send()
        .expect_err("no handshake");
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::TlsHandshakeTimeout, "{err:?}");
    assert!(err.is_timeout());
    assert!(elapsed >= timeout, "{elapsed:?}");
    assert!(elapsed < timeout + Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(server.connections(), 1, "not retried");
    assert_eq!(server.requests(), 0);
    // The client closed the connection: the server's silent reader saw EOF.
    assert!(server.wait_for_open_connections(0, WAIT));
    let s = client.stats().unwrap().total;
    assert_eq!((s.dials, s.retries, s.active, s.idle), (1, 0, 0, 0));
}

#[test]
fn engine_mode_handshake_timeout() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::scripted(ServerSetup::localhost(&pki), TlsScript::NeverHandshake);
    let mut config = Config::default();
    config.tls = Some(tls_config(&pki));
    config.tls_handshake_timeout = Duration::from_millis(200);
    let mut engine = Engine::new(config).unwrap();
    let mut driver = Driver::new();
    let id = engine.submit(get(&server.url("/"))).unwrap();
    driver.run_all(&mut engine, &[id]);
    assert_eq!(
        driver.outcome(id).error().kind(),
        ErrorKind::TlsHandshakeTimeout
    );
    assert!(server.wait_for_open_connections(0, WAIT));
}

// ---------------------------------------------------------------------------------------
// Servers closing connections
// ---------------------------------------------------------------------------------------

/// The server closes each connection after one response, with `close_notify` or with a
/// bare FIN (harmless while idle). Once the close reached the pool, the idle connection
/// is dropped before anyone reuses it: the next GET dials (and resumes), no retry needed.
/// (Learning is off: two such closes would teach the pool to retire the third
/// connection itself, see `policies.rs`; here every close must be noticed.)
#[test]
fn a_server_closing_an_idle_tls_connection_is_noticed_before_reuse() {
    let _lock = process_lock();
    let pki = TestPki::new();
    for script in [
        TlsScript::CloseNotifyAfterResponse(b"one"),
        TlsScript::DropAfterResponse(b"one"),
    ] {
        let server = TlsTestServer::scripted(ServerSetup::localhost(&pki), script.clone());
        let client = Client::builder()
            .tls_config(tls_config(&pki))
            .learn_server_limits(false)
            .build()
            .unwrap();
        for i in 0..3 {
            let resp = client.get(server.url("/")).send().unwrap();
            assert!(!resp.info().reused, "{script:?} request {i}");
            assert_eq!(resp.text().unwrap(), "one");
            assert!(server.wait_for_open_connections(0, WAIT), "{script:?}");
            assert!(
                wait_until(WAIT, || client.stats().unwrap().total.idle == 0),
                "{script:?}: the pool did not drop the closed connection"
            );
        }
        let s = client.stats().unwrap().total;
        assert_eq!((s.requests, s.dials, s.retries), (3, 3, 0), "{script:?}");
        assert_eq!(s.closes.server_close, 3, "{script:?}: {:?}", s.closes);
        assert_eq!(
            (s.tls_full_handshakes, s.tls_resumed_handshakes),
            (1, 2),
            "{script:?}"
        );
        assert_eq!(server.requests(), 3);
    }
}

/// The same, without waiting for the pool to notice: the next GET may go out on the
/// closing connection, and is then retried on a fresh one. It never fails.
#[test]
fn gets_never_fail_against_a_server_that_closes_after_each_response() {
    let _lock = process_lock();
    const N: usize = 20;
    let pki = TestPki::new();
    let server = TlsTestServer::scripted(
        ServerSetup::localhost(&pki),
        TlsScript::CloseNotifyAfterResponse(b"one"),
    );
    let client = client(&pki);
    for i in 0..N {
        let resp = client
            .get(server.url("/"))
            .send()
            .unwrap_or_else(|e| panic!("request {i}: {}", chain(&e)));
        assert_eq!(resp.text().unwrap(), "one");
    }
    assert_eq!(server.requests(), N);
}

/// A server-side keep-alive timeout: the server closes (cleanly) a connection idle for
/// 100 ms; a request 300 ms later succeeds on a new connection.
#[test]
fn a_server_keep_alive_timeout_is_harmless() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::scripted(
        ServerSetup::localhost(&pki),
        TlsScript::IdleTimeout {
            body: b"ok",
            idle: Duration::from_millis(100),
        },
    );
    let client = client(&pki);
    for _ in 0..2 {
        assert_eq!(
            client.get(server.url("/")).send().unwrap().text().unwrap(),
            "ok"
        );
        assert!(server.wait_for_open_connections(0, WAIT));
        assert!(wait_until(WAIT, || client.stats().unwrap().total.idle == 0));
    }
    assert_eq!(server.connections(), 2);
    assert_eq!(client.stats().unwrap().total.closes.server_close, 2);
}

// ---------------------------------------------------------------------------------------
// Close-delimited bodies
// ---------------------------------------------------------------------------------------

/// A body long enough to arrive over several reads and TLS records.
fn long_body() -> &'static [u8] {
    static BODY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BODY.get_or_init(|| testkit::pattern(0, 100_000))
}

/// A close-delimited body ended by `close_notify` is complete.
#[test]
fn close_notify_completes_a_close_delimited_body() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::scripted(
        ServerSetup::localhost(&pki),
        TlsScript::CloseDelimitedClean(long_body()),
    );
    let client = client(&pki);
    let resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().unwrap(), long_body());
    let s = client.stats().unwrap().total;
    assert_eq!(
        (s.idle, s.active),
        (0, 0),
        "a close-delimited connection is not pooled"
    );
}

/// A close-delimited body ended by a bare FIN, without `close_notify`, may have been cut
/// short by anyone on the path who can inject a FIN: the bytes are authentic but the
/// end is not. The request fails with `ErrorKind::Protocol` (the engine's choice, and
/// the right one: it is the HTTP framing, not TLS, that needs the authenticated end;
/// with `Content-Length` or chunked framing a missing `close_notify` is harmless). The
/// bytes delivered before the error are a prefix of the body, here all of it.
#[test]
fn a_close_delimited_body_without_close_notify_is_truncated() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::scripted(
        ServerSetup::localhost(&pki),
        TlsScript::CloseDelimitedTruncated(long_body()),
    );
    let client = client(&pki);
    let mut resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let err = loop {
        match resp.body_mut().read(&mut buf) {
            Ok(0) => panic!("the body ended cleanly after {} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(common::kind_of(&err), Some(ErrorKind::Protocol), "{err:?}");
    assert!(err.to_string().contains("close_notify") || chain(&err).contains("close_notify"));
    assert!(
        long_body().starts_with(&got),
        "delivered bytes are a prefix"
    );
    assert_eq!(client.stats().unwrap().total.idle, 0);
}

/// A Content-Length body followed by a bare FIN: the framing says the body was complete,
/// so the missing `close_notify` is harmless.
#[test]
fn a_length_framed_body_without_close_notify_is_fine() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::scripted(
        ServerSetup::localhost(&pki),
        TlsScript::DropAfterResponse(b"complete"),
    );
    let client = client(&pki);
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "complete"
    );
}

// ---------------------------------------------------------------------------------------
// Leaks
// ---------------------------------------------------------------------------------------

/// Many TLS requests with faults of every kind on one client, then drop it: the
/// process has as many descriptors as before.
#[test]
fn no_descriptor_leaks_after_tls_requests_with_faults() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let before = open_fds();
    {
        let healthy = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"ok");
        let closing = TlsTestServer::scripted(
            ServerSetup::localhost(&pki),
            TlsScript::DropAfterResponse(b"ok"),
        );
        let truncating = TlsTestServer::scripted(
            ServerSetup::localhost(&pki),
            TlsScript::CloseDelimitedTruncated(b"cut"),
        );
        let expired = TlsTestServer::keep_alive(
            ServerSetup::new(pki.expired_server_cert(&["127.0.0.1"])),
            b"never",
        );
        let silent =
            TlsTestServer::scripted(ServerSetup::localhost(&pki), TlsScript::NeverHandshake);
        let client = Client::builder()
            .tls_config(tls_config(&pki))
            // Long enough for a real handshake on a loaded machine (50 ms was not), short
            // enough for ten rounds of the silent server.
            .tls_handshake_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        for round in 0..10 {
            assert_eq!(
                client.get(healthy.url("/")).send().unwrap().text().unwrap(),
                "ok"
            );
            assert_eq!(
                client.get(closing.url("/")).send().unwrap().text().unwrap(),
                "ok"
            );
            let err = get_error(&client, &truncating.url("/"));
            assert_eq!(err.kind(), ErrorKind::Protocol, "round {round}");
            let err = client.get(expired.url("/")).send().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Tls, "round {round}");
            let err = client.get(silent.url("/")).send().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TlsHandshakeTimeout, "round {round}");
            // A response dropped unread: drained in the background, connection reused.
            drop(client.get(healthy.url("/")).send().unwrap());
        }
        assert_eq!(healthy.connections(), 1);
        drop(client);
        for server in [&healthy, &closing, &truncating, &expired, &silent] {
            assert!(server.wait_for_open_connections(0, WAIT), "{server:?}");
        }
    }
    assert!(
        wait_until(WAIT, || open_fds() == before),
        "{} descriptors before, {} after",
        before,
        open_fds()
    );
}

// ---------------------------------------------------------------------------------------
// Large bodies both ways
// ---------------------------------------------------------------------------------------

/// A 1 MiB request body goes out through TLS records and partial socket writes; the
/// server receives every byte.
#[test]
fn a_large_request_body_over_tls() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        while let Some(request) = conn.read_request() {
            conn.respond(200, &[], request.body.len().to_string().as_bytes());
        }
    });
    let client = client(&pki);
    let body = testkit::pattern(7, 1 << 20);
    let request = wirepool::http::Request::post(server.url("/upload"))
        .body(wirepool::Body::from(body.clone()))
        .unwrap();
    let resp = client.send(request).unwrap();
    assert_eq!(resp.text().unwrap(), (1 << 20).to_string());
    assert_eq!(server.recorded()[0].body, body);
    // And the connection is reusable afterwards.
    assert!(client.get(server.url("/")).send().unwrap().info().reused);
}

/// A 4 MiB response read slowly through a small body buffer: the engine pauses and
/// resumes reading while plaintext may be waiting inside the TLS session. Every byte
/// arrives, in order, within the deadline.
#[test]
fn a_large_response_read_slowly_through_backpressure() {
    let _lock = process_lock();
    const LEN: u64 = 4 << 20;
    let pki = TestPki::new();
    let server = TlsTestServer::http_scripted(
        ServerSetup::localhost(&pki),
        testkit::Script::PatternBody { len: LEN },
    );
    let client = Client::builder()
        .tls_config(tls_config(&pki))
        .body_buffer_limit(16 * 1024)
        .read_buffer_size(4 * 1024)
        .timeout(Some(Duration::from_secs(20)))
        .build()
        .unwrap();
    let mut resp = client.get(server.url("/")).send().unwrap();
    let mut offset = 0u64;
    let mut buf = vec![0u8; 3000];
    loop {
        let n = resp.body_mut().read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert_eq!(
            buf[..n],
            testkit::pattern(offset, n)[..],
            "at offset {offset}"
        );
        offset += n as u64;
        if offset % (256 * 1024) < 3000 {
            std::thread::sleep(Duration::from_millis(5)); // fall behind now and then
        }
    }
    assert_eq!(offset, LEN);
    assert!(client.get(server.url("/small")).send().is_ok());
}

/// A response dropped unread is drained in the background (under `drain_limit`) and its
/// TLS connection reused; over the limit the connection is closed instead.
#[test]
fn dropped_tls_bodies_are_drained_or_closed() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        while let Some(request) = conn.read_request() {
            let len = if request.target == "/big" {
                1 << 20
            } else {
                32 * 1024
            };
            if conn.respond_with_pattern(len) < len {
                return;
            }
        }
    });
    let client = client(&pki);
    drop(client.get(server.url("/small")).send().unwrap());
    // The drain runs in the background; a request sent before it ends would dial.
    assert!(wait_until(WAIT, || client.stats().unwrap().total.idle == 1));
    let resp = client.get(server.url("/small")).send().unwrap();
    assert!(resp.info().reused, "drained and reused");
    assert_eq!(resp.bytes().unwrap(), testkit::pattern(0, 32 * 1024));
    drop(client.get(server.url("/big")).send().unwrap());
    assert!(wait_until(WAIT, || client.stats().unwrap().total.active == 0));
    let s = client.stats().unwrap().total;
    assert_eq!(s.dials, 1, "{s:?}");
    assert_eq!(s.idle, 0, "over the drain limit: closed, {s:?}");
    assert_eq!(
        client
            .get(server.url("/small"))
            .send()
            .unwrap()
            .bytes()
            .unwrap()
            .len(),
        32 * 1024
    );
    assert_eq!(server.connections(), 2);
}

// ---------------------------------------------------------------------------------------
// Post-handshake messages
// ---------------------------------------------------------------------------------------

/// A TLS 1.3 server may roll its keys (`KeyUpdate`) on a connection about to go idle.
/// That record arrives while the connection sits in the pool: it is not plaintext, not
/// an EOF, not an error, so the connection stays pooled and is reused.
#[test]
fn a_key_update_while_idle_keeps_the_connection_reusable() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        while conn.read_request().is_some() {
            conn.respond(200, &[], b"rolled");
            assert!(conn.send_key_update(), "TLS 1.3 key update");
        }
    });
    let client = client(&pki);
    for i in 0..3 {
        let resp = client.get(server.url("/")).send().unwrap();
        assert_eq!(resp.info().reused, i > 0, "request {i}");
        assert_eq!(resp.text().unwrap(), "rolled");
        std::thread::sleep(Duration::from_millis(50)); // the KeyUpdate lands while idle
        assert_eq!(
            client.stats().unwrap().total.idle,
            1,
            "request {i}: still pooled"
        );
    }
    assert_eq!(server.connections(), 1);
}

/// A `KeyUpdate` in the middle of a body is absorbed; the body arrives whole.
#[test]
fn a_key_update_in_the_middle_of_a_body() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        while conn.read_request().is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst");
            assert!(conn.send_key_update());
            conn.write(b"-half");
        }
    });
    let client = client(&pki);
    for _ in 0..2 {
        assert_eq!(
            client.get(server.url("/")).send().unwrap().text().unwrap(),
            "first-half"
        );
    }
    assert_eq!(server.connections(), 1);
}

// ---------------------------------------------------------------------------------------
// Deadlines around the handshake
// ---------------------------------------------------------------------------------------

/// The handshake deadline ends with the handshake: a response slower than
/// `tls_handshake_timeout`, on the same connection, is fine.
#[test]
fn the_handshake_deadline_does_not_outlive_the_handshake() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        while conn.read_request().is_some() {
            if !conn.stall(Duration::from_millis(300)) {
                return;
            }
            conn.respond(200, &[], b"slow");
        }
    });
    let client = Client::builder()
        .tls_config(tls_config(&pki))
        .tls_handshake_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            client.get(server.url("/")).send().unwrap().text().unwrap(),
            "slow"
        );
    }
    assert_eq!(server.connections(), 1);
}

/// The request's total deadline bounds the handshake too, when it is the shorter one.
#[test]
fn the_total_deadline_bounds_a_hanging_handshake() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::scripted(ServerSetup::localhost(&pki), TlsScript::NeverHandshake);
    let client = Client::builder()
        .tls_config(tls_config(&pki))
        .timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        server.wait_for_open_connections(0, WAIT),
        "the connection was closed"
    );
}

// ---------------------------------------------------------------------------------------
// Broken TLS from the server
// ---------------------------------------------------------------------------------------

/// Bytes that are not a TLS record, written on the raw socket under the TLS layer.
const NOT_TLS: &[u8] = b"HTTP/1.1 200 OK junk\r\n\r\n";

fn write_raw(conn: &testkit::ServerConn, bytes: &[u8]) {
    use std::io::Write;
    if let Some(mut stream) = conn.stream() {
        let _ = stream.write_all(bytes);
    }
}

/// A complete response whose TLS records arrive in the same read as garbage: the
/// response's bytes were authenticated before the garbage, so the response is delivered
/// (as over plain HTTP, `faults.rs`: `garbage_after_body_is_not_reused`) and the
/// connection is closed, never reused.
#[test]
fn garbage_under_tls_right_after_a_response_does_not_fail_it() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        if conn.read_request().is_some() {
            let response = testkit::response_bytes(200, &[], b"complete");
            conn.write_then_raw(&response, NOT_TLS);
            conn.wait_for_client_close();
        }
    });
    let client = client(&pki);
    for i in 0..3 {
        let resp = client
            .get(server.url("/"))
            .send()
            .unwrap_or_else(|e| panic!("request {i}: {}", chain(&e)));
        assert!(!resp.info().reused, "request {i}");
        assert_eq!(resp.text().unwrap(), "complete", "request {i}");
    }
    // The garbage may come in the same socket read as the response (the connection is
    // closed before the response is handed over) or in the next one (it is closed when
    // that read comes, an instant after): either way never reused, and closed for it.
    assert!(wait_until(WAIT, || client.stats().unwrap().total.idle == 0));
    let s = client.stats().unwrap().total;
    assert_eq!((s.dials, s.reuses, s.idle), (3, 0, 0));
    assert_eq!(s.closes.error, 3, "{:?}", s.closes);
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// Garbage under TLS on an idle connection poisons it: the pool drops it and the next
/// request dials.
#[test]
fn garbage_under_tls_while_idle_drops_the_connection() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        if conn.read_request().is_some() {
            conn.respond(200, &[], b"first");
            if conn.stall(Duration::from_millis(50)) {
                write_raw(conn, NOT_TLS);
                conn.wait_for_client_close();
            }
        }
    });
    let client = client(&pki);
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "first"
    );
    assert!(wait_until(WAIT, || client.stats().unwrap().total.idle == 0));
    let resp = client.get(server.url("/")).send().unwrap();
    assert!(!resp.info().reused);
    assert_eq!(resp.text().unwrap(), "first");
    assert_eq!(server.connections(), 2);
    assert_eq!(client.stats().unwrap().total.retries, 0);
}

/// Garbage under TLS in the middle of a body fails the request with `ErrorKind::Tls`
/// (`tls_glue` kind `Protocol`: the peer broke TLS after the handshake).
#[test]
fn garbage_under_tls_mid_body_is_a_tls_error() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        if conn.read_request().is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstart");
            std::thread::sleep(Duration::from_millis(50));
            write_raw(conn, NOT_TLS);
            conn.wait_for_client_close();
        }
    });
    let client = client(&pki);
    let err = get_error(&client, &server.url("/"));
    assert_eq!(err.kind(), ErrorKind::Tls, "{}", chain(&err));
    assert_eq!(tls_source(&err).kind(), wirepool::tls::ErrorKind::Protocol);
    assert_eq!(client.stats().unwrap().total.idle, 0);
}

/// A server that reads the ClientHello record and hangs up, with a FIN or a RST.
fn hang_up_after_client_hello(pki: &TestPki, reset: bool) -> TlsTestServer {
    TlsTestServer::start(ServerSetup::localhost(pki), move |conn| {
        if let Some(mut stream) = conn.stream() {
            let mut header = [0u8; 5];
            let _ = stream.read_exact(&mut header);
            let mut hello = vec![0u8; u16::from_be_bytes([header[3], header[4]]).into()];
            let _ = stream.read_exact(&mut hello);
        }
        if reset {
            conn.reset();
        } else {
            conn.close_without_notify();
        }
    })
}

/// A FIN in the middle of the handshake is a TLS failure: `ErrorKind::Tls`, kind
/// `HandshakeFailure`, "closed during the handshake". A RST there is what it is on any
/// connection, `ConnectionClosed`. A fresh connection either way: not retried.
#[test]
fn a_server_hanging_up_mid_handshake() {
    let _lock = process_lock();
    let pki = TestPki::new();

    let server = hang_up_after_client_hello(&pki, false);
    let err = client(&pki).get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{}", chain(&err));
    assert_eq!(
        tls_source(&err).kind(),
        wirepool::tls::ErrorKind::HandshakeFailure
    );
    assert!(
        chain(&err).contains("closed during the handshake"),
        "{}",
        chain(&err)
    );
    assert_eq!(server.connections(), 1, "not retried");

    let server = hang_up_after_client_hello(&pki, true);
    let err = client(&pki).get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionClosed, "{}", chain(&err));
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::ConnectionReset));
    assert_eq!(server.connections(), 1, "not retried");
}

/// No protocol version in common (a TLS 1.2-only server, a client that requires 1.3):
/// `ErrorKind::Tls` with `ProtocolVersion`, nothing sent, not retried.
#[test]
fn no_protocol_version_in_common() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let setup = ServerSetup::localhost(&pki).versions(TlsVersions::Tls12Only);
    let server = TlsTestServer::keep_alive(setup, b"never");
    let tls = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .min_protocol_version(wirepool::tls::TlsVersion::Tls13)
        .build()
        .unwrap();
    let client = Client::builder().tls_config(tls).build().unwrap();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{}", chain(&err));
    assert_eq!(
        tls_source(&err).kind(),
        wirepool::tls::ErrorKind::ProtocolVersion,
        "{}",
        chain(&err)
    );
    assert!(server.wait_for_handshakes_ended(1, WAIT));
    assert_eq!((server.connections(), server.requests()), (1, 0));
}
