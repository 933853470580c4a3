//! rustls over the engine's non-blocking sockets, as a byte transformer.
//!
//! `tls-glue` owns two things: the TLS **configuration** of a client ([`TlsConfig`]: trust
//! roots, extra CAs, client certificate, protocol floor, ALPN `http/1.1`, and the
//! resumption cache every connection shares), and one **session** per connection
//! ([`TlsSession`], a `rustls::ClientConnection`). It owns no socket, clock or thread: the
//! engine lends it the socket for one read or one write at a time, as a plain
//! `io::Read`/`io::Write` ([`read_ciphertext_from`](TlsSession::read_ciphertext_from),
//! [`write_ciphertext_to`](TlsSession::write_ciphertext_to)), or hands it bytes, and this
//! crate transforms them. That is what lets every handshake, close and failure be replayed
//! in a test with no network and no sleeping: a byte slice or a `Vec` stands in for the
//! socket.
//!
//! What it deliberately does not do: time out (the engine owns the `tls_handshake_timeout`
//! deadline), retry, pool, or judge whether a missing `close_notify` truncated an HTTP body
//! (it reports [`ErrorKind::Truncated`]; the HTTP framing decides whether that matters).
//!
//! # Data flow
//!
//! What `pool-core` (`transport.rs`) does with a session, call by call:
//!
//! ```text
//!              engine (mio loop)                                   tls-glue
//!
//!  socket readable, or the codec wants more bytes:
//!    read_plaintext(&mut conn read buffer) ─────────────────► Bytes(n): to the HTTP codec
//!                                                             Closed: close_notify, clean end
//!                                                             NeedCiphertext: read the socket
//!    read_ciphertext_from(&mut socket) ── one read() ───────► rustls' buffer, records decrypted
//!      Ok(0) (EOF) ─────────────────────────────────────────► handle_eof() -> Ok | Truncated
//!      WouldBlock: wait for the next readable edge
//!  request to send:
//!    write_plaintext(head, body) ───────────────────────────► encrypted (held until handshake)
//!    while wants_write(): write_ciphertext_to(&mut socket) ─► one writev of pending records
//!  new connection:  drive both until !is_handshaking(), then handshake_kind() (full/resumed)
//!  our close:       send_close_notify(), then one flush
//! ```
//!
//! - **Plaintext first.** The engine reads the socket only when the session has no
//!   plaintext left (`NeedCiphertext`), so rustls never holds more than one socket read of
//!   undelivered bytes. The back-pressure is the connection's bounded read buffer: when
//!   the codec's consumer falls behind, the engine stops asking for plaintext, and so stops
//!   reading the socket. rustls reads the socket into its own buffer and decrypts in place:
//!   no staging copy; the one copy is [`read_plaintext`](TlsSession::read_plaintext) into the
//!   connection's buffer, the copy the kernel makes for plain HTTP.
//! - **Writing** is wanted while [`wants_write`](TlsSession::wants_write) is true: a handshake
//!   flight, encrypted request bytes, an alert, a key update or our `close_notify`. The
//!   engine flushes after queueing plaintext, after each ciphertext read (alerts and key
//!   updates go out at once), and on a writable edge while records are pending.
//! - **Interest.** The engine registers each socket once for both readiness kinds (mio is
//!   edge-triggered) and never changes it; it remembers the edges it has seen and acts on
//!   them as above. It does not call [`wants_read`](TlsSession::wants_read): asking for
//!   plaintext first answers the same question.
//! - **Staging callers.** [`handle_ciphertext`](TlsSession::handle_ciphertext) (ciphertext
//!   from a slice, returns how much was taken) and
//!   [`poll_ciphertext`](TlsSession::poll_ciphertext) (ciphertext into a slice) do the same
//!   for a caller that keeps ciphertext in buffers of its own; such a caller uses
//!   `wants_read` to know whether to hand in more. Tests use them; the engine does not.
//!
//! # Walk-through
//!
//! A whole connection in memory: a rustls server (with a certificate made on the spot)
//! on one side, a [`TlsSession`] on the other, and the bytes moved by hand with the calls
//! the engine makes — a byte slice stands in for the socket.
//!
//! ```
//! # use std::io::{Read, Write};
//! # use std::sync::Arc;
//! # use tls_glue::rustls;
//! use tls_glue::{PlaintextRead, TlsConfig, TrustRoots};
//!
//! # let pki = testkit::tls::TestPki::new(); // the test CA of the workspace's tests
//! # let leaf = pki.server_cert(&["api.example"]);
//! # let ca_pem = pki.ca_pem();
//! # let mut server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
//! #     tls_glue::default_provider(),
//! # ))
//! # .with_safe_default_protocol_versions()
//! # .unwrap()
//! # .with_no_client_auth()
//! # .with_single_cert(leaf.chain(), leaf.key())
//! # .unwrap();
//! # server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
//! # let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
//! // One config per client; its resumption cache is shared by every session.
//! let config = TlsConfig::builder()
//!     .trust_roots(TrustRoots::OnlyAdded)
//!     .add_ca_pem(&ca_pem) // the test CA that issued the server's certificate
//!     .build()?;
//! let mut tls = config.new_session("api.example")?;
//!
//! // The request may be written at once: it is encrypted when the handshake completes.
//! tls.write_plaintext(b"GET / HTTP/1.1\r\nHost: api.example\r\n\r\n")?;
//!
//! let mut plaintext = vec![0u8; 4096]; // stands in for the connection's read buffer
//! let mut response = Vec::new();
//! # let mut answered = false;
//! loop {
//!     // Socket writable: write out every pending record.
//!     let mut to_server = Vec::new();
//!     while tls.wants_write() {
//!         tls.write_ciphertext_to(&mut to_server)?;
//!     }
//!     # let mut rd = &to_server[..];
//!     # while !rd.is_empty() { server.read_tls(&mut rd).unwrap(); server.process_new_packets().unwrap(); }
//!     # let mut req = [0u8; 256];
//!     # if !answered && matches!(server.reader().read(&mut req), Ok(n) if n > 0) {
//!     #     server.writer().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap();
//!     #     server.send_close_notify();
//!     #     answered = true;
//!     # }
//!     # let mut from_server = Vec::new();
//!     # while server.wants_write() { server.write_tls(&mut from_server).unwrap(); }
//!     // Socket readable: plaintext first, the socket only when the session has none.
//!     let mut socket = &from_server[..];
//!     loop {
//!         match tls.read_plaintext(&mut plaintext)? {
//!             PlaintextRead::Bytes(n) => response.extend_from_slice(&plaintext[..n]),
//!             PlaintextRead::Closed => break,
//!             // A real socket says WouldBlock here; an empty slice would say EOF.
//!             PlaintextRead::NeedCiphertext if socket.is_empty() => break,
//!             PlaintextRead::NeedCiphertext => {
//!                 tls.read_ciphertext_from(&mut socket)?;
//!             }
//!         }
//!     }
//!     if to_server.is_empty() && from_server.is_empty() {
//!         break; // both sides are waiting: nothing in flight
//!     }
//! }
//! assert!(!tls.is_handshaking());
//! assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]));
//! assert_eq!(response, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
//! // The server ended with close_notify: the socket's EOF is a clean close.
//! assert_eq!(tls.read_plaintext(&mut plaintext)?, PlaintextRead::Closed);
//! assert_eq!(tls.read_ciphertext_from(&mut &[][..])?, 0); // the socket's EOF
//! tls.handle_eof()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
