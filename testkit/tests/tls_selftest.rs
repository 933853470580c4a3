//! Tests of the TLS test server in `testkit::tls`, driven by a plain rustls client over
//! `std::net::TcpStream` (not by pool-core: the fixture must be trustworthy on its own).
//!
//! Every test holds [`process_lock`]: one of them compares the process's open file
//! descriptors before and after, which only works while no other test opens sockets.
#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::tls::rustls::pki_types::pem::PemObject;
use testkit::tls::rustls::pki_types::{CertificateDer, ServerName};
use testkit::tls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use testkit::tls::{
    provider, HandshakeKind, Identity, ServerResumption, ServerSetup, TestPki, TlsScript,
    TlsTestServer, TlsVersions, CLOSE_DELIMITED_HEAD, WRONG_NAME,
};
use testkit::{open_fds, process_lock, Script, ANNOUNCED_LEN, SENT_PREFIX};

/// Long enough for any step on a loaded machine; the server's own timeouts are 5 s.
const WAIT: Duration = Duration::from_secs(5);

/// A client configuration trusting `pki`'s CA, presenting `identity` if given. One
/// configuration holds one resumption cache: reuse it to resume.
fn client_config(pki: &TestPki, identity: Option<&Identity>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(pki.ca_pem().as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => builder.with_client_auth_cert(id.chain(), id.key()).unwrap(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A blocking TLS client on one connection.
struct Client {
    tls: StreamOwned<ClientConnection, TcpStream>,
    /// Plaintext read past the last response.
    buf: Vec<u8>,
}

impl Client {
    fn connect(server: &TlsTestServer, config: &Arc<ClientConfig>, host: &str) -> Client {
        let sock = TcpStream::connect(server.addr()).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        sock.set_write_timeout(Some(WAIT)).unwrap();
        let name = ServerName::try_from(host.to_owned()).unwrap();
        let conn = ClientConnection::new(Arc::clone(config), name).unwrap();
        Client {
            tls: StreamOwned::new(conn, sock),
            buf: Vec::new(),
        }
    }

    fn get(&mut self, path: &str) -> std::io::Result<()> {
        let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
        self.tls.write_all(request.as_bytes())?;
        self.tls.flush()
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.tls.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads a Content-Length response; returns the head and the body.
    fn read_response(&mut self) -> std::io::Result<(String, Vec<u8>)> {
        let at = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if self.fill()? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        };
        let head = String::from_utf8(self.buf.drain(..at).collect()).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        while self.buf.len() < len {
            if self.fill()? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        }
        Ok((head, self.buf.drain(..len).collect()))
    }

    /// Reads until the stream ends; returns everything read and how it ended.
    fn read_to_end(&mut self) -> (Vec<u8>, std::io::Result<()>) {
        let ended = loop {
            match self.fill() {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        };
        (std::mem::take(&mut self.buf), ended)
    }
}

/// One request on a fresh connection with `config`; returns the body.
fn one_request(server: &TlsTestServer, config: &Arc<ClientConfig>, host: &str) -> Vec<u8> {
    let mut client = Client::connect(server, config, host);
    client.get("/").unwrap();
    let (head, body) = client.read_response().unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    body
}

#[test]
fn request_over_tls_then_resumption_on_the_next_connection() {
    let _lock = process_lock();
    let pki = TestPki::new();
    for versions in [
        TlsVersions::Both,
        TlsVersions::Tls13Only,
        TlsVersions::Tls12Only,
    ] {
        for resumption in [ServerResumption::SessionCache, ServerResumption::Tickets] {
            let case = format!("{versions:?} {resumption:?}");
            let setup = ServerSetup::localhost(&pki)
                .versions(versions)
                .resumption(resumption);
            let server = TlsTestServer::keep_alive(setup, b"hello");
            let config = client_config(&pki, None);
            for _ in 0..4 {
                assert_eq!(one_request(&server, &config, "127.0.0.1"), b"hello");
            }
            let handshakes = server.handshakes();
            let kinds: Vec<HandshakeKind> = handshakes.iter().map(|h| h.kind).collect();
            assert_eq!(
                kinds,
                [
                    HandshakeKind::Full,
                    HandshakeKind::Resumed,
                    HandshakeKind::Resumed,
                    HandshakeKind::Resumed
                ],
                "{case}"
            );
            let expected_version = match versions {
                TlsVersions::Tls12Only => "TLSv1_2",
                _ => "TLSv1_3",
            };
            for h in &handshakes {
                assert_eq!(h.version, expected_version, "{case}");
                assert_eq!(h.alpn.as_deref(), Some(&b"http/1.1"[..]), "{case}");
                assert_eq!(h.sni, None, "{case}: no SNI for an IP literal");
                assert!(!h.client_cert, "{case}");
            }
            assert_eq!(
                (server.full_handshakes(), server.resumed_handshakes()),
                (1, 3)
            );
            assert_eq!(server.requests(), 4);
            assert!(server.handshake_failures().is_empty(), "{case}");
        }
    }
}

#[test]
fn resumption_off_means_a_full_handshake_every_time() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let setup = ServerSetup::localhost(&pki).resumption(ServerResumption::Off);
    let server = TlsTestServer::keep_alive(setup, b"hello");
    let config = client_config(&pki, None);
    for _ in 0..3 {
        one_request(&server, &config, "127.0.0.1");
    }
    assert_eq!(
        (server.full_handshakes(), server.resumed_handshakes()),
        (3, 0)
    );
}

#[test]
fn a_dns_name_is_sent_as_sni_and_requests_are_recorded() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"hi");
    let config = client_config(&pki, None);
    let mut client = Client::connect(&server, &config, "localhost");
    for _ in 0..3 {
        client.get("/x").unwrap();
        assert_eq!(client.read_response().unwrap().1, b"hi");
    }
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 3);
    assert_eq!(server.recorded()[2].target, "/x");
    assert_eq!(server.handshakes()[0].sni.as_deref(), Some("localhost"));
    assert_eq!(
        server.url("/a"),
        format!("https://127.0.0.1:{}/a", server.addr().port())
    );
    assert_eq!(
        server.url_with_host("localhost", "/a"),
        format!("https://localhost:{}/a", server.addr().port())
    );
}

#[test]
fn close_notify_ends_a_close_delimited_body_and_a_bare_fin_truncates_it() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let config = client_config(&pki, None);
    let mut expected = CLOSE_DELIMITED_HEAD.to_vec();
    expected.extend_from_slice(b"all of it");

    let clean = TlsTestServer::scripted(
        ServerSetup::localhost(&pki),
        TlsScript::CloseDelimitedClean(b"all of it"),
    );
    let mut client = Client::connect(&clean, &config, "127.0.0.1");
    client.get("/").unwrap();
    let (bytes, ended) = client.read_to_end();
    assert_eq!(bytes, expected);
    ended.expect("close_notify then EOF is a clean end");

    let truncated = TlsTestServer::scripted(
        ServerSetup::localhost(&pki),
        TlsScript::CloseDelimitedTruncated(b"all of it"),
    );
    let mut client = Client::connect(&truncated, &config, "127.0.0.1");
    client.get("/").unwrap();
    let (bytes, ended) = client.read_to_end();
    assert_eq!(bytes, expected, "the bytes sent are all delivered");
    assert_eq!(
        ended.expect_err("EOF without close_notify").kind(),
        ErrorKind::UnexpectedEof
    );
}

#[test]
fn closing_after_a_response_with_and_without_close_notify() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let config = client_config(&pki, None);
    for (script, clean) in [
        (TlsScript::CloseNotifyAfterResponse(b"one"), true),
        (TlsScript::DropAfterResponse(b"one"), false),
        (
            TlsScript::IdleTimeout {
                body: b"one",
                idle: Duration::from_millis(200),
            },
            true,
        ),
    ] {
        let server = TlsTestServer::scripted(ServerSetup::localhost(&pki), script.clone());
        let mut client = Client::connect(&server, &config, "127.0.0.1");
        client.get("/").unwrap();
        assert_eq!(client.read_response().unwrap().1, b"one");
        let started = Instant::now();
        let (rest, ended) = client.read_to_end();
        assert!(rest.is_empty(), "{script:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{script:?}");
        match ended {
            Ok(()) => assert!(clean, "{script:?} ended with close_notify"),
            Err(e) => {
                assert!(!clean, "{script:?}: {e}");
                assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
            }
        }
        assert!(server.wait_for_open_connections(0, WAIT), "{script:?}");
    }
}

#[test]
fn mutual_tls_accepts_the_pki_client_and_rejects_others() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let stranger = TestPki::with_name("stranger ca");
    let setup = ServerSetup::localhost(&pki).require_client_cert(&pki);
    let server = TlsTestServer::keep_alive(setup, b"member");

    let member = pki.client_cert("member");
    let body = one_request(&server, &client_config(&pki, Some(&member)), "127.0.0.1");
    assert_eq!(body, b"member");
    assert_eq!(server.client_certs_presented(), 1);
    assert!(server.handshakes()[0].client_cert);

    // No certificate, and one from a CA the server does not trust. With TLS 1.3 the client
    // finishes its side of the handshake first and learns of the rejection on its next
    // read, as an alert.
    let outsider = stranger.client_cert("outsider");
    for identity in [None, Some(&outsider)] {
        let mut client = Client::connect(&server, &client_config(&pki, identity), "127.0.0.1");
        let outcome = client.get("/").and_then(|()| client.read_response());
        let err = outcome.expect_err("the server must refuse");
        let alert = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .unwrap_or_else(|| panic!("not a rustls error: {err:?}"));
        assert!(
            matches!(
                alert,
                rustls::Error::AlertReceived(
                    rustls::AlertDescription::CertificateRequired
                        | rustls::AlertDescription::UnknownCA
                        | rustls::AlertDescription::BadCertificate
                )
            ),
            "{alert:?}"
        );
    }
    assert!(server.wait_for_handshakes_ended(3, WAIT));
    let failures = server.handshake_failures();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(
        server.requests(),
        1,
        "no request got through without a certificate"
    );
}

#[test]
fn certificate_helpers_make_certificates_a_client_rejects_for_the_right_reason() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let config = client_config(&pki, None);
    let cases: [(&str, Identity, &str); 5] = [
        (
            "expired",
            pki.expired_server_cert(&["localhost"]),
            "Expired",
        ),
        (
            "not yet valid",
            pki.not_yet_valid_server_cert(&["localhost"]),
            "NotValidYet",
        ),
        (
            "wrong name",
            pki.wrong_name_server_cert(),
            "NotValidForName",
        ),
        (
            "ip literal not in the certificate",
            pki.server_cert(&["localhost"]),
            "NotValidForName",
        ),
        (
            "unknown issuer",
            TestPki::unknown_ca_server_cert(&["localhost"]),
            "UnknownIssuer",
        ),
    ];
    for (name, identity, expected) in cases {
        let host = if name.starts_with("ip literal") {
            "127.0.0.1"
        } else {
            "localhost"
        };
        let server = TlsTestServer::keep_alive(ServerSetup::new(identity), b"never");
        let mut client = Client::connect(&server, &config, host);
        let err = client.get("/").expect_err(name);
        let shown = format!("{:?}", err.get_ref().unwrap());
        assert!(shown.contains(expected), "{name}: {shown}");
        assert!(server.wait_for_handshakes_ended(1, WAIT), "{name}");
        assert_eq!(server.handshakes().len(), 0, "{name}");
        assert_eq!(server.requests(), 0, "{name}");
    }
    // The wrong-name certificate is valid for its own name.
    let server =
        TlsTestServer::keep_alive(ServerSetup::new(pki.wrong_name_server_cert()), b"right");
    assert_eq!(one_request(&server, &config, WRONG_NAME), b"right");
}

#[test]
fn never_handshake_leaves_the_client_waiting_and_still_stops() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::scripted(ServerSetup::localhost(&pki), TlsScript::NeverHandshake);
    let mut client = Client::connect(&server, &client_config(&pki, None), "127.0.0.1");
    client
        .tls
        .sock
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let err = client.get("/").expect_err("no ServerHello comes");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err:?}"
    );
    assert!(client.tls.conn.is_handshaking());
    assert_eq!(server.connections(), 1);
    assert!(server.handshakes().is_empty() && server.handshake_failures().is_empty());
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(2), "drop hung");
}

#[test]
fn http_scripts_run_over_tls() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let server = TlsTestServer::http_scripted(ServerSetup::localhost(&pki), Script::TruncatedBody);
    let mut client = Client::connect(&server, &client_config(&pki, None), "127.0.0.1");
    client.get("/").unwrap();
    let (bytes, ended) = client.read_to_end();
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(&format!("Content-Length: {ANNOUNCED_LEN}")),
        "{text}"
    );
    assert!(text.ends_with(std::str::from_utf8(SENT_PREFIX).unwrap()));
    ended.expect("close() sends close_notify: the HTTP framing shows the truncation");
}

#[test]
fn pem_files_hold_the_pem_and_vanish_on_drop() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let ca = pki.ca_pem_file();
    assert_eq!(std::fs::read_to_string(ca.path()).unwrap(), pki.ca_pem());
    let id = pki.client_cert("c");
    let (cert, key) = (id.cert_pem_file(), id.key_pem_file());
    assert_ne!(cert.path(), key.path());
    assert_eq!(
        std::fs::read_to_string(cert.path_str()).unwrap(),
        id.cert_pem
    );
    assert!(std::fs::read_to_string(key.path())
        .unwrap()
        .contains("PRIVATE KEY"));
    let path = ca.path().to_owned();
    drop(ca);
    assert!(!path.exists());
}

#[test]
fn no_descriptor_outlives_a_dropped_tls_server() {
    let _lock = process_lock();
    let pki = TestPki::new();
    let config = client_config(&pki, None);
    let before = open_fds();
    {
        let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"x");
        let mut idle = Vec::new();
        for _ in 0..5 {
            let mut client = Client::connect(&server, &config, "127.0.0.1");
            client.get("/").unwrap();
            client.read_response().unwrap();
            idle.push(client); // held open: the drop must close them on the server side
        }
        assert_eq!(server.open_connections(), 5);
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < Duration::from_secs(2), "drop hung");
    }
    assert_eq!(open_fds(), before);
}
