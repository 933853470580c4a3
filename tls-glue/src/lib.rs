//! rustls over the engine's non-blocking sockets, as a byte transformer.
//!
//! `tls-glue` owns two things: the TLS **configuration** of a client ([`TlsConfig`]: trust
//! roots, extra CAs, client certificate, protocol floor, ALPN `http/1.1`, and the
//! resumption cache every connection shares), and one **session** per connection
//! ([`TlsSession`], a `rustls::ClientConnection`). It never sees a socket, a clock or a
//! thread: the engine moves the bytes, this crate transforms them. That is what lets every
//! handshake, close and failure be replayed in a test with no network and no sleeping.
//!
//! What it deliberately does not do: time out (the engine owns the `tls_handshake_timeout`
//! deadline), retry, pool, or judge whether a missing `close_notify` truncated an HTTP body
//! (it reports [`ErrorKind::Truncated`]; the HTTP framing decides whether that matters).
//!
//! # Data flow
//!
//! ```text
//!                     engine (mio loop)                          tls-glue
//!
//!   socket readable ─ read() ─ ciphertext ──► handle_ciphertext(&[u8]) -> consumed
//!   read() == 0 (EOF) ─────────────────────► handle_eof() -> Ok | Truncated
//!                                                 │ rustls decrypts records
//!   codec ◄── conn read buffer ◄──────────────── read_plaintext(&mut [u8])
//!                                                   -> Bytes(n) | NeedCiphertext | Closed
//!   codec ── request head/body ─────────────► write_plaintext(&[u8]) -> accepted
//!                                                 │ rustls encrypts (after the handshake)
//!   socket writable ◄─ one writev ◄────────── write_ciphertext_to(&mut socket)
//!
//!   mio interest / what to do on readiness:  wants_read()  wants_write()  is_handshaking()
//! ```
//!
//! - **Reading** is wanted while [`wants_read`](TlsSession::wants_read) is true. It turns false
//!   while decrypted plaintext waits to be read (back-pressure: a slow consumer stops the
//!   socket reads instead of growing buffers), after `close_notify`, and after a fatal error.
//! - **Writing** is wanted while [`wants_write`](TlsSession::wants_write) is true: a handshake
//!   flight, encrypted request bytes, an alert or our `close_notify`.
//! - The engine registers each socket once for both readiness kinds (mio is
//!   edge-triggered), remembers which edges it has seen, and acts on a readable edge only
//!   when `wants_read()`, on a writable edge only when `wants_write()`. Nothing else tracks
//!   TLS interest.
//!
//! # Walk-through
//!
//! A whole connection in memory: a rustls server (with a certificate made on the spot)
//! on one side, a [`TlsSession`] on the other, and the bytes moved by hand — exactly what
//! the engine does with a socket in between.
//!
//! ```
//! # use std::io::{Read, Write};
//! # use std::sync::Arc;
//! # use tls_glue::rustls;
//! use tls_glue::{PlaintextRead, TlsConfig, TrustRoots};
//!
//! # let key = rcgen::KeyPair::generate().unwrap();
//! # let cert = rcgen::CertificateParams::new(vec!["api.example".to_owned()])
//! #     .unwrap()
//! #     .self_signed(&key)
//! #     .unwrap();
//! # let (cert_pem, cert_der) = (cert.pem(), cert.der().clone());
//! # let mut server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
//! #     tls_glue::default_provider(),
//! # ))
//! # .with_safe_default_protocol_versions()
//! # .unwrap()
//! # .with_no_client_auth()
//! # .with_single_cert(vec![cert_der], key.serialize_der().try_into().unwrap())
//! # .unwrap();
//! # server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
//! # let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
//! // One config per client; its resumption cache is shared by every session.
//! let config = TlsConfig::builder()
//!     .trust_roots(TrustRoots::OnlyAdded)
//!     .add_ca_pem(&cert_pem) // a self-signed test certificate is its own CA
//!     .build()?;
//! let mut tls = config.new_session("api.example")?;
//!
//! // The request may be written at once: it is buffered until the handshake completes.
//! tls.write_plaintext(b"GET / HTTP/1.1\r\nHost: api.example\r\n\r\n")?;
//!
//! let mut wire = vec![0u8; 16 * 1024]; // stands in for the socket
//! let mut plaintext = vec![0u8; 4096]; // stands in for the connection's read buffer
//! let mut response = Vec::new();
//! let mut answered = false;
//! loop {
//!     // Socket writable and the session wants to write: send its ciphertext.
//!     let n = tls.poll_ciphertext(&mut wire);
//!     # let mut rd = &wire[..n];
//!     # while !rd.is_empty() { server.read_tls(&mut rd).unwrap(); server.process_new_packets().unwrap(); }
//!     # let mut req = [0u8; 256];
//!     # if !answered && matches!(server.reader().read(&mut req), Ok(n) if n > 0) {
//!     #     server.writer().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap();
//!     #     server.send_close_notify();
//!     #     answered = true;
//!     # }
//!     # let mut from_server = Vec::new();
//!     # while server.wants_write() { server.write_tls(&mut from_server).unwrap(); }
//!     // Socket readable: hand the ciphertext in, keep what was not consumed.
//!     let mut unread = &from_server[..];
//!     while !unread.is_empty() {
//!         let consumed = tls.handle_ciphertext(unread)?;
//!         unread = &unread[consumed..];
//!         // Decrypted bytes land in our buffer, ready for the HTTP codec.
//!         while let PlaintextRead::Bytes(n) = tls.read_plaintext(&mut plaintext)? {
//!             response.extend_from_slice(&plaintext[..n]);
//!         }
//!     }
//!     if n == 0 && from_server.is_empty() {
//!         break; // both sides are waiting: nothing in flight
//!     }
//! }
//! assert!(!tls.is_handshaking());
//! assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]));
//! assert_eq!(response, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
//! // The server ended with close_notify: the socket's EOF is a clean close.
//! assert_eq!(tls.read_plaintext(&mut plaintext)?, PlaintextRead::Closed);
//! tls.handle_eof()?;
//! # Ok::<(), tls_glue::Error>(())
//! ```
//!
//! # Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `ring` | yes | crypto by *ring* (see `docs/tls.md` for the measurements) |
//! | `aws-lc-rs` | no | crypto by AWS-LC instead (takes precedence when enabled) |
//! | `native-roots` | yes | `TrustRoots::System`: the OS trust store |
//! | `webpki-roots` | no | `TrustRoots::Bundled`: Mozilla's roots compiled in |
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

mod config;
mod error;
mod session;

pub use config::{
    default_provider, TlsConfig, TlsConfigBuilder, TlsVersion, TrustRoots, ALPN_HTTP1,
    DEFAULT_MAX_CACHED_SESSIONS,
};
pub use error::{Error, ErrorKind};
pub use session::{HandshakeKind, PlaintextRead, TlsSession};

/// The rustls this crate is built against, for callers that need its types (a custom
/// [`rustls::client::ClientSessionStore`], a [`rustls::crypto::CryptoProvider`]).
pub use rustls;
