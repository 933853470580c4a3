//! How a session ends: close_notify vs a bare EOF (truncation), back-pressure, and the
//! same exchange split at every size giving the same result.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use support::{server_config, Link, ServerVersions, TestCa};
use tls_glue::{ErrorKind, PlaintextRead, TlsConfig, TrustRoots};

const REQUEST: &[u8] = b"GET /stream HTTP/1.1\r\nHost: api.example\r\n\r\n";
/// A close-delimited response: only the end of the stream says where the body ends.
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe body runs until the close";

fn link(chunk: usize) -> Link {
    let ca = TestCa::new("test ca");
    let server = server_config(&ca.leaf(&["api.example"]), ServerVersions::Both);
    let config = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(ca.cert_pem())
        .build()
        .unwrap();
    let mut link = Link::new(config.new_session("api.example").unwrap(), server).with_chunk(chunk);
    link.client.write_plaintext(REQUEST).unwrap();
    link.handshake().unwrap();
    link
}

#[test]
fn close_notify_is_a_clean_end() {
    let mut link = link(usize::MAX);
    link.server_sends(RESPONSE);
    link.server.send_close_notify();
    link.run().unwrap();
    assert_eq!(link.client_plaintext, RESPONSE);
    assert!(link.client_saw_close, "read_plaintext said Closed");
    assert!(link.client.is_peer_closed());
    assert!(!link.client.wants_read(), "nothing more will come");
    // Then the TCP EOF: clean.
    link.client.handle_eof().unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        link.client.read_plaintext(&mut buf).unwrap(),
        PlaintextRead::Closed
    );
    // Bytes after close_notify are not taken.
    assert_eq!(
        link.client.handle_ciphertext(b"\x17\x03\x03junk").unwrap(),
        0
    );
}

#[test]
fn eof_without_close_notify_is_truncation() {
    let mut link = link(usize::MAX);
    link.server_sends(RESPONSE);
    // Deliver the records but leave the plaintext unread in the session.
    let mut flight = Vec::new();
    while link.server.wants_write() {
        link.server.write_tls(&mut flight).unwrap();
    }
    assert_eq!(
        link.client.handle_ciphertext(&flight).unwrap(),
        flight.len()
    );
    let err = link.client.handle_eof().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Truncated, "{err:?}");
    assert!(err.is_truncated());
    assert!(!link.client.is_peer_closed());
    // What arrived is still readable, then the truncation is reported, never `Closed`.
    let mut body = Vec::new();
    let mut buf = [0u8; 8];
    let end = loop {
        match link.client.read_plaintext(&mut buf) {
            Ok(PlaintextRead::Bytes(n)) => body.extend_from_slice(&buf[..n]),
            other => break other,
        }
    };
    assert_eq!(body, RESPONSE);
    assert_eq!(end.unwrap_err().kind(), ErrorKind::Truncated);
}

#[test]
fn eof_during_the_handshake_is_a_handshake_failure() {
    let ca = TestCa::new("test ca");
    let config = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(ca.cert_pem())
        .build()
        .unwrap();
    let mut client = config.new_session("api.example").unwrap();
    let err = client.handle_eof().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HandshakeFailure, "{err:?}");
    assert!(err.to_string().contains("during the handshake"), "{err}");
}

#[test]
fn client_close_notify_reaches_the_server() {
    let mut link = link(usize::MAX);
    link.client.send_close_notify();
    assert!(link.client.wants_write());
    link.run().unwrap();
    let state = link.server.process_new_packets().unwrap();
    assert!(state.peer_has_closed());
}

#[test]
fn plaintext_back_pressure_bounds_buffering() {
    let mut link = link(usize::MAX);
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    link.server.set_buffer_limit(None);
    link.server_sends(&body);
    let mut flight = Vec::new();
    while link.server.wants_write() {
        link.server.write_tls(&mut flight).unwrap();
    }
    // All ciphertext offered at once: the session stops taking it while plaintext piles up.
    let taken = link.client.handle_ciphertext(&flight).unwrap();
    assert!(taken < flight.len(), "took {taken} of {}", flight.len());
    assert!(
        !link.client.wants_read(),
        "plaintext waiting: read it first"
    );
    assert!(link.client.buffered_plaintext_bytes() <= 16 * 1024 + 16 * 1024);
    // Alternate, as the engine would: take ciphertext, read plaintext.
    let mut rest = &flight[taken..];
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        while let PlaintextRead::Bytes(n) = link.client.read_plaintext(&mut buf).unwrap() {
            got.extend_from_slice(&buf[..n]);
        }
        if rest.is_empty() {
            break;
        }
        let n = link.client.handle_ciphertext(rest).unwrap();
        assert!(n > 0);
        rest = &rest[n..];
    }
    assert_eq!(got, body);
    assert!(link.client.wants_read());
}

/// The whole life of a connection — handshake, request, response, close — with the
/// ciphertext cut into slices of every size from 1 byte up: the same plaintext and the
/// same ending each time.
#[test]
fn any_split_gives_the_same_exchange() {
    let run = |chunk: usize, read_buf_len: usize| {
        let mut link = link(chunk);
        link.read_buf_len = read_buf_len;
        link.run().unwrap();
        link.server_sends(RESPONSE);
        link.server.send_close_notify();
        link.run().unwrap();
        let eof = link.client.handle_eof();
        (
            link.server_plaintext.clone(),
            link.client_plaintext.clone(),
            link.client_saw_close,
            eof.is_ok(),
        )
    };
    let reference = run(usize::MAX, 4096);
    assert_eq!(
        reference,
        (REQUEST.to_vec(), RESPONSE.to_vec(), true, true),
        "reference run"
    );
    for chunk in [1, 2, 3, 5, 7, 13, 64, 500, 1500, 4096] {
        for read_buf_len in [1, 3, 4096] {
            assert_eq!(
                run(chunk, read_buf_len),
                reference,
                "chunk {chunk}, read buffer {read_buf_len}"
            );
        }
    }
}

/// `read_ciphertext_from` (rustls reading straight from the socket) gives the same
/// plaintext and the same clean end as `handle_ciphertext` with a staging buffer; a
/// source that would block passes `WouldBlock` through, and bad records are `InvalidData`
/// carrying our error.
#[test]
fn reading_ciphertext_straight_from_a_source() {
    let mut ends = link(usize::MAX);
    ends.server_sends(RESPONSE);
    ends.server.send_close_notify();
    let mut flight = Vec::new();
    while ends.server.wants_write() {
        ends.server.write_tls(&mut flight).unwrap();
    }
    // A source that hands out a few bytes per read, then would block.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let n = out.len().min(self.0.len()).min(7);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut source = Trickle(&flight);
    let mut plaintext = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let got = ends.client.read_ciphertext_from(&mut source);
        while let PlaintextRead::Bytes(n) = ends.client.read_plaintext(&mut buf).unwrap() {
            plaintext.extend_from_slice(&buf[..n]);
        }
        match got {
            // close_notify arrived: rustls reads nothing after it.
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(source.0.is_empty(), "the whole flight was read");
    assert_eq!(plaintext, RESPONSE);
    assert!(ends.client.is_peer_closed());
    ends.client.handle_eof().unwrap();

    // Garbage where a record should be: a fatal TLS error, as InvalidData.
    let mut broken = link(usize::MAX);
    let err = broken
        .client
        .read_ciphertext_from(&mut &b"\x17\x03\x03\x00\x05junk!"[..])
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        err.get_ref().is_some_and(|e| e.is::<tls_glue::Error>()),
        "{err:?}"
    );
}
