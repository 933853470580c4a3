//! Handshakes against an in-memory rustls server: request/response, protocol versions,
//! resumption, mutual TLS, SNI and IP literals, configuration from files.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use std::sync::Arc;

use support::{server_config, server_config_with_client_auth, Link, ServerVersions, TestCa};
use tls_glue::{ErrorKind, HandshakeKind, TlsConfig, TlsVersion, TrustRoots};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: api.example\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

fn client_config(ca: &TestCa) -> TlsConfig {
    TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(ca.cert_pem())
        .build()
        .expect("client config")
}

#[test]
fn request_and_response_over_tls13() {
    let ca = TestCa::new("test ca");
    let server = server_config(&ca.leaf(&["api.example"]), ServerVersions::Both);
    let config = client_config(&ca);
    let mut client = config.new_session("api.example").unwrap();
    assert!(client.is_handshaking());
    assert!(client.wants_write(), "the ClientHello is ready at once");
    // Written before the handshake completes: buffered, sent after it.
    assert_eq!(client.write_plaintext(REQUEST).unwrap(), REQUEST.len());

    let mut link = Link::new(client, server);
    link.handshake().unwrap();
    assert_eq!(link.server_plaintext, REQUEST);
    link.server_sends(RESPONSE);
    link.run().unwrap();
    assert_eq!(link.client_plaintext, RESPONSE);

    let client = &link.client;
    assert_eq!(client.protocol_version(), Some(TlsVersion::Tls13));
    assert_eq!(client.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(client.handshake_kind(), Some(HandshakeKind::Full));
    assert!(client.wants_read(), "idle and open: wants the next record");
    assert!(!client.wants_write());
    assert_eq!(link.server.server_name(), Some("api.example"), "SNI sent");
}

#[test]
fn tls12_server_is_accepted_by_default() {
    let ca = TestCa::new("test ca");
    let server = server_config(&ca.leaf(&["api.example"]), ServerVersions::Tls12Only);
    let client = client_config(&ca).new_session("api.example").unwrap();
    let mut link = Link::new(client, server);
    link.handshake().unwrap();
    assert_eq!(link.client.protocol_version(), Some(TlsVersion::Tls12));
    link.client.write_plaintext(REQUEST).unwrap();
    link.run().unwrap();
    assert_eq!(link.server_plaintext, REQUEST);
}

#[test]
fn tls13_minimum_refuses_a_tls12_server() {
    let ca = TestCa::new("test ca");
    let server = server_config(&ca.leaf(&["api.example"]), ServerVersions::Tls12Only);
    let config = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(ca.cert_pem())
        .min_protocol_version(TlsVersion::Tls13)
        .build()
        .unwrap();
    let mut link = Link::new(config.new_session("api.example").unwrap(), server);
    let err = link.run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProtocolVersion, "{err:?}");
}

#[test]
fn server_that_does_not_speak_tls_fails_the_handshake() {
    let ca = TestCa::new("test ca");
    let mut client = client_config(&ca).new_session("api.example").unwrap();
    let mut hello = vec![0u8; 4096];
    assert!(client.poll_ciphertext(&mut hello) > 0);
    let err = client
        .handle_ciphertext(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HandshakeFailure, "{err:?}");
    assert!(err.to_string().contains("did not answer with TLS"), "{err}");
    assert!(!client.wants_read(), "a failed session wants nothing more");
    // The failure is sticky.
    let again = client.handle_ciphertext(b"more").unwrap_err();
    assert_eq!(again.kind(), ErrorKind::HandshakeFailure);
}

/// One full handshake, then every re-dial from the same config resumes.
fn resumption_case(versions: ServerVersions, expect: TlsVersion) {
    const REDIALS: usize = 4;
    let ca = TestCa::new("test ca");
    let server = server_config(&ca.leaf(&["api.example"]), versions);
    let config = client_config(&ca);
    let mut kinds = Vec::new();
    for _ in 0..=REDIALS {
        let client = config.clone().new_session("api.example").unwrap();
        let mut link = Link::new(client, Arc::clone(&server));
        link.handshake().unwrap();
        // A round trip lets TLS 1.3 tickets (sent after the handshake) arrive.
        link.client.write_plaintext(REQUEST).unwrap();
        link.run().unwrap();
        link.server_sends(RESPONSE);
        link.run().unwrap();
        assert_eq!(link.client_plaintext, RESPONSE);
        assert_eq!(link.client.protocol_version(), Some(expect));
        kinds.push(link.client.handshake_kind().unwrap());
    }
    let full = kinds.iter().filter(|k| !k.is_resumed()).count();
    assert_eq!(full, 1, "{versions:?}: {kinds:?}");
    assert_eq!(kinds[0], HandshakeKind::Full);
}

#[test]
fn redials_resume_tls13() {
    resumption_case(ServerVersions::Tls13Only, TlsVersion::Tls13);
}

#[test]
fn redials_resume_tls12() {
    resumption_case(ServerVersions::Tls12Only, TlsVersion::Tls12);
}

#[test]
fn resumption_is_per_config_and_can_be_turned_off() {
    let ca = TestCa::new("test ca");
    let server = server_config(&ca.leaf(&["api.example"]), ServerVersions::Both);
    let dial = |config: &TlsConfig| {
        let mut link = Link::new(
            config.new_session("api.example").unwrap(),
            Arc::clone(&server),
        );
        link.handshake().unwrap();
        link.client.write_plaintext(REQUEST).unwrap();
        link.server_sends(RESPONSE);
        link.run().unwrap();
        link.client.handshake_kind().unwrap()
    };
    let first = client_config(&ca);
    assert_eq!(dial(&first), HandshakeKind::Full);
    // A separately built config has its own (empty) cache.
    let second = client_config(&ca);
    assert_eq!(dial(&second), HandshakeKind::Full);
    assert_eq!(dial(&first), HandshakeKind::Resumed);

    let off = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(ca.cert_pem())
        .max_cached_sessions(0)
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(dial(&off), HandshakeKind::Full);
    }
}

#[test]
fn mutual_tls_with_a_client_certificate() {
    let ca = TestCa::new("server ca");
    let client_ca = TestCa::new("client ca");
    let server = server_config_with_client_auth(
        &ca.leaf(&["api.example"]),
        ServerVersions::Both,
        Some(&client_ca),
    );
    let me = client_ca.client_cert("client.example");
    let config = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(ca.cert_pem())
        .client_cert_pem(&me.cert_pem, &me.key_pem)
        .build()
        .unwrap();
    let mut link = Link::new(config.new_session("api.example").unwrap(), server);
    link.handshake().unwrap();
    link.client.write_plaintext(REQUEST).unwrap();
    link.server_sends(RESPONSE);
    link.run().unwrap();
    assert!(link.server_error.is_none());
    assert_eq!(link.server_plaintext, REQUEST);
    assert_eq!(link.client_plaintext, RESPONSE);
    let presented = link
        .server
        .peer_certificates()
        .expect("client cert presented");
    assert_eq!(presented[0], me.chain()[0]);
}

#[test]
fn mutual_tls_without_a_client_certificate_is_rejected() {
    for versions in [ServerVersions::Tls13Only, ServerVersions::Tls12Only] {
        let ca = TestCa::new("server ca");
        let client_ca = TestCa::new("client ca");
        let server =
            server_config_with_client_auth(&ca.leaf(&["api.example"]), versions, Some(&client_ca));
        let mut link = Link::new(
            client_config(&ca).new_session("api.example").unwrap(),
            server,
        );
        // With TLS 1.3 the client finishes its side first and learns of the rejection
        // from the server's alert on the next read.
        link.client.write_plaintext(REQUEST).unwrap();
        let err = link.run().unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::ClientCertificateRejected,
            "{versions:?}: {err:?}"
        );
        assert!(link.server_error.is_some());
        assert!(
            link.server_plaintext.is_empty(),
            "no request bytes got through"
        );
    }
}

#[test]
fn mutual_tls_with_an_untrusted_client_certificate_is_rejected() {
    let ca = TestCa::new("server ca");
    let client_ca = TestCa::new("client ca");
    let stranger = TestCa::new("someone else").client_cert("client.example");
    let server = server_config_with_client_auth(
        &ca.leaf(&["api.example"]),
        ServerVersions::Both,
        Some(&client_ca),
    );
    let config = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(ca.cert_pem())
        .client_cert_pem(&stranger.cert_pem, &stranger.key_pem)
        .build()
        .unwrap();
    let mut link = Link::new(config.new_session("api.example").unwrap(), server);
    let err = link.run().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ClientCertificateRejected, "{err:?}");
}

#[test]
fn ip_literal_verifies_against_ip_san_and_sends_no_sni() {
    let ca = TestCa::new("test ca");
    for (host, san) in [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("::1", "::1")] {
        let server = server_config(&ca.leaf(&[san]), ServerVersions::Both);
        let client = client_config(&ca).new_session(host).unwrap();
        assert_eq!(client.server_name(), san);
        let mut link = Link::new(client, server);
        link.handshake().unwrap();
        assert_eq!(link.server.server_name(), None, "{host}: no SNI for an IP");
    }
}

#[test]
fn ca_and_client_identity_from_files() {
    let ca = TestCa::new("server ca");
    let client_ca = TestCa::new("client ca");
    let me = client_ca.client_cert("client.example");
    let dir = std::env::temp_dir().join(format!("tls-glue-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_path = dir.join("ca.pem");
    let cert_path = dir.join("client.pem");
    let key_path = dir.join("client.key");
    std::fs::write(&ca_path, ca.cert_pem()).unwrap();
    std::fs::write(&cert_path, &me.cert_pem).unwrap();
    std::fs::write(&key_path, &me.key_pem).unwrap();

    let config = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem_file(&ca_path)
        .client_cert_pem_files(&cert_path, &key_path)
        .build();
    let _ = std::fs::remove_dir_all(&dir);
    let config = config.unwrap();
    assert_eq!(config.root_count(), 1);

    let server = server_config_with_client_auth(
        &ca.leaf(&["api.example"]),
        ServerVersions::Both,
        Some(&client_ca),
    );
    let mut link = Link::new(config.new_session("api.example").unwrap(), server);
    link.client.write_plaintext(REQUEST).unwrap();
    link.run().unwrap();
    assert_eq!(link.server_plaintext, REQUEST);
}

#[test]
fn mismatched_client_key_is_a_config_error() {
    let ca = TestCa::new("client ca");
    let a = ca.leaf(&["a.example"]);
    let b = ca.leaf(&["b.example"]);
    let err = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(ca.cert_pem())
        .client_cert_pem(&a.cert_pem, &b.key_pem)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
}

#[cfg(feature = "native-roots")]
#[test]
fn system_roots_load_when_the_machine_has_them() {
    // Machines without a CA bundle get a Config error at build time instead.
    match TlsConfig::builder().build() {
        Ok(config) => assert!(config.root_count() > 0),
        Err(err) => assert_eq!(err.kind(), ErrorKind::Config),
    }
}
