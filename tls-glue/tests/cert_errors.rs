//! Every certificate problem ends the handshake with its own error kind and a message that
//! says what was expected.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use support::{server_config, Link, ServerVersions, TestCa, Validity};
use tls_glue::{Error, ErrorKind, TlsConfig, TrustRoots};

fn handshake(ca: &TestCa, presented: &support::Identity, host: &str, chunk: usize) -> Error {
    let server = server_config(presented, ServerVersions::Both);
    let config = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(ca.cert_pem())
        .build()
        .unwrap();
    let mut link = Link::new(config.new_session(host).unwrap(), server).with_chunk(chunk);
    let err = link.run().expect_err("handshake must fail");
    assert!(link.server_plaintext.is_empty());
    assert!(!link.client.wants_read());
    err
}

#[test]
fn certificate_errors_have_their_own_kinds() {
    let trusted = TestCa::new("trusted ca");
    let stranger = TestCa::new("stranger ca");
    let cases = [
        (
            "unknown issuer",
            stranger.leaf(&["api.example"]),
            "api.example",
            ErrorKind::UnknownIssuer,
            "unknown authority",
        ),
        (
            "expired",
            trusted.leaf_with(&["api.example"], Validity::Expired),
            "api.example",
            ErrorKind::CertificateExpired,
            "valid until 2001-01-01T00:00:00Z",
        ),
        (
            "not yet valid",
            trusted.leaf_with(&["api.example"], Validity::NotYetValid),
            "api.example",
            ErrorKind::CertificateNotYetValid,
            "valid from 3000-01-01T00:00:00Z",
        ),
        (
            "hostname mismatch",
            trusted.leaf(&["www.example", "static.example"]),
            "api.example",
            ErrorKind::HostnameMismatch,
            "expected \"api.example\"; the certificate is valid for: \"www.example\", \"static.example\"",
        ),
        (
            "ip literal against a dns-only certificate",
            trusted.leaf(&["localhost"]),
            "127.0.0.1",
            ErrorKind::HostnameMismatch,
            "expected \"127.0.0.1\"",
        ),
        (
            "dns name against an ip-only certificate",
            trusted.leaf(&["10.1.2.3"]),
            "api.example",
            ErrorKind::HostnameMismatch,
            "valid for: 10.1.2.3",
        ),
    ];
    for (name, identity, host, kind, text) in cases {
        for chunk in [usize::MAX, 1] {
            let err = handshake(&trusted, &identity, host, chunk);
            assert_eq!(err.kind(), kind, "{name} (chunk {chunk}): {err:?}");
            assert!(err.is_certificate_error(), "{name}");
            let shown = err.to_string();
            assert!(shown.contains(text), "{name}: {shown:?} lacks {text:?}");
            assert!(
                std::error::Error::source(&err).is_some(),
                "{name}: keeps rustls' error"
            );
        }
    }
}

#[test]
fn danger_mode_accepts_what_verification_rejects() {
    let stranger = TestCa::new("stranger ca");
    let identity = stranger.leaf_with(&["www.example"], Validity::Expired);
    let server = server_config(&identity, ServerVersions::Both);
    let config = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .danger_accept_invalid_certs_for_testing_only()
        .build()
        .unwrap();
    let mut link = Link::new(config.new_session("api.example").unwrap(), server);
    link.handshake().unwrap();
    link.client.write_plaintext(b"ping").unwrap();
    link.run().unwrap();
    assert_eq!(link.server_plaintext, b"ping");
}
