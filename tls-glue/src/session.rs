//! One client TLS session, driven with bytes: [`TlsSession`].
//!
//! It owns a `rustls::ClientConnection` and nothing else — no socket, no clock, no buffer
//! of its own beyond rustls'. The engine lends it the socket for one read when it needs
//! ciphertext ([`read_ciphertext_from`](TlsSession::read_ciphertext_from): rustls reads
//! straight into its own buffer), tells it the socket reached EOF
//! ([`handle_eof`](TlsSession::handle_eof)) and hands it the plaintext it wants sent
//! ([`write_plaintext`](TlsSession::write_plaintext)); it takes back decrypted bytes
//! ([`read_plaintext`](TlsSession::read_plaintext), always before reading the socket again)
//! and writes ciphertext out while [`wants_write`](TlsSession::wants_write)
//! ([`write_ciphertext_to`](TlsSession::write_ciphertext_to)). The crate docs draw this
//! flow.
//!
//! A caller that keeps ciphertext in buffers of its own (tests, a different event loop)
//! uses the slice calls instead: [`handle_ciphertext`](TlsSession::handle_ciphertext) and
//! [`poll_ciphertext`](TlsSession::poll_ciphertext), with
//! [`wants_read`](TlsSession::wants_read) to know whether to hand in more. The engine uses
//! neither them nor `wants_read`.
//!
//! What it deliberately does not do: retry, time out, or decide whether a truncated stream
//! matters. A missing `close_notify` is reported as [`ErrorKind::Truncated`]; whether that
//! truncated a close-delimited body or merely ended an idle connection is the HTTP layer's
//! call.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::error::{server_name_str, Error, ErrorKind};

/// What [`TlsSession::read_plaintext`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaintextRead {
    /// This many decrypted bytes were copied to the front of the output buffer (never 0
    /// unless the output buffer was empty).
    Bytes(usize),
    /// No decrypted bytes are buffered: hand in more ciphertext first. Not an error —
    /// the `WouldBlock` of the TLS layer.
    NeedCiphertext,
    /// The server sent `close_notify` and every byte before it has been read: the stream
    /// ended cleanly. A close-delimited body is complete.
    Closed,
}

/// How the handshake of a session went, from [`TlsSession::handshake_kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandshakeKind {
    /// A full handshake: certificate verified, new key exchange.
    Full,
    /// A full TLS 1.3 handshake that needed an extra round trip (`HelloRetryRequest`),
    /// usually because the server wanted a key-exchange group we did not guess.
    FullWithHelloRetry,
    /// A resumed session (TLS 1.3 ticket or TLS 1.2 session id/ticket): no certificate
    /// chain sent or verified, fewer round trips, much less CPU.
    Resumed,
}

impl HandshakeKind {
    /// True for [`HandshakeKind::Resumed`].
    pub fn is_resumed(self) -> bool {
        self == HandshakeKind::Resumed
    }
}

/// A client TLS session over a byte stream the caller moves; see the [crate docs](crate)
/// for the data flow and a walk-through.
///
/// Create one per connection with [`TlsConfig::new_session`](crate::TlsConfig::new_session).
pub struct TlsSession {
    conn: ClientConnection,
    server_name: ServerName<'static>,
    /// Set once rustls reported a fatal error; from then on every input call returns it
    /// again (rustls keeps it) and no more ciphertext is accepted.
    failed: bool,
    /// Set when rustls reports the server's `close_notify` (it can only arrive through
    /// `handle_ciphertext`, so this is exact).
    peer_closed: bool,
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("server_name", &server_name_str(&self.server_name))
            .field("handshaking", &self.conn.is_handshaking())
            .field("handshake_kind", &self.conn.handshake_kind())
            .field("wants_read", &self.conn.wants_read())
            .field("wants_write", &self.conn.wants_write())
            .field("peer_closed", &self.peer_closed)
            .field("failed", &self.failed)
            .finish()
    }
}

impl TlsSession {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Result<Self, Error> {
        // Fails only for a configuration rustls cannot start a handshake with.
        let conn = ClientConnection::new(config, server_name.clone()).map_err(|e| {
            Error::new(ErrorKind::Config)
                .with_detail("cannot start a session")
                .with_source(e)
        })?;
        Ok(TlsSession {
            conn,
            server_name,
            failed: false,
            peer_closed: false,
        })
    }

    /// Feeds ciphertext read from the socket; returns how many bytes of `input` were taken.
    ///
    /// Records are decrypted as they complete; partial records are kept inside rustls, so
    /// any split of the same stream gives the same result. Fewer than `input.len()` bytes
    /// are taken when:
    /// - decrypted plaintext is piling up (more than rustls' 16 KiB limit): call
    ///   [`read_plaintext`](Self::read_plaintext), then hand in the rest — this is the
    ///   back-pressure that keeps a slow reader from growing memory;
    /// - the server has sent `close_notify`: nothing after it is read.
    ///
    /// An error is fatal to the session (certificate rejected, protocol violation...). The
    /// session may still have an alert queued: flush [`poll_ciphertext`](Self::poll_ciphertext)
    /// once, best effort, then close the socket.
    pub fn handle_ciphertext(&mut self, input: &[u8]) -> Result<usize, Error> {
        if self.failed {
            return Err(self.stored_error());
        }
        let mut rest = input;
        while !rest.is_empty() {
            match self.conn.read_tls(&mut rest) {
                // close_notify received (or, defensively, no room): take nothing more.
                Ok(0) => break,
                Ok(_) => {}
                // "received plaintext buffer full": back-pressure, not a failure.
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => {
                    self.failed = true;
                    return Err(Error::new(self.generic_kind())
                        .with_detail("oversized tls message")
                        .with_source(e));
                }
            }
            match self.conn.process_new_packets() {
                Ok(state) => self.peer_closed = state.peer_has_closed(),
                Err(e) => {
                    self.failed = true;
                    return Err(self.map_error(e));
                }
            }
        }
        Ok(input.len() - rest.len())
    }

    /// Reads ciphertext straight from `source` (the non-blocking socket) into rustls' own
    /// buffer and processes it: the same as [`handle_ciphertext`](Self::handle_ciphertext)
    /// without the caller's staging copy. One `read` call at most.
    ///
    /// - `Ok(0)`: the source reached EOF, or the peer's `close_notify` has already been
    ///   received (nothing after it is read) — either way the stream is over: call
    ///   [`handle_eof`](Self::handle_eof).
    /// - `Ok(n)`: `n` bytes were read and processed; decrypted bytes wait for
    ///   [`read_plaintext`](Self::read_plaintext).
    /// - `Err` with the source's error (`WouldBlock` included) passed through unchanged.
    /// - `Err` of kind [`io::ErrorKind::InvalidData`] carrying an [`Error`]: the TLS
    ///   session failed (fatal, as for `handle_ciphertext`).
    ///
    /// Drain plaintext before reading more: rustls refuses to read while its plaintext
    /// buffer is full, and that refusal comes back as an `Other` I/O error.
    pub fn read_ciphertext_from(&mut self, source: &mut dyn io::Read) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                self.stored_error(),
            ));
        }
        let n = self.conn.read_tls(source)?;
        if n == 0 {
            return Ok(0);
        }
        match self.conn.process_new_packets() {
            Ok(state) => {
                self.peer_closed = state.peer_has_closed();
                Ok(n)
            }
            Err(e) => {
                self.failed = true;
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    self.map_error(e),
                ))
            }
        }
    }

    /// Tells the session the transport reached EOF (the socket read returned 0).
    ///
    /// Call it after every byte read before the EOF has been taken by
    /// [`handle_ciphertext`](Self::handle_ciphertext), or a `close_notify` still waiting in
    /// the caller's buffer would be missed. (With
    /// [`read_ciphertext_from`](Self::read_ciphertext_from) there is no such buffer: call it
    /// when that returns `Ok(0)`.)
    ///
    /// - `Ok(())`: the server sent `close_notify` first; a clean close.
    /// - `Err` of kind [`ErrorKind::Truncated`]: EOF without `close_notify` after the
    ///   handshake. The stream may have been cut: a close-delimited body must be reported
    ///   as truncated. When the HTTP framing says the response was complete (or the
    ///   connection was idle) the caller may ignore this. Plaintext decrypted before the
    ///   EOF can still be read; [`read_plaintext`](Self::read_plaintext) then returns this
    ///   same error instead of [`PlaintextRead::Closed`].
    /// - `Err` of kind [`ErrorKind::HandshakeFailure`]: EOF during the handshake.
    pub fn handle_eof(&mut self) -> Result<(), Error> {
        // An empty reader is how rustls learns of EOF: `read_tls` sees `Ok(0)`.
        let mut empty: &[u8] = &[];
        let _ = self.conn.read_tls(&mut empty);
        if self.is_peer_closed() {
            Ok(())
        } else {
            Err(Error::unclean_eof(self.conn.is_handshaking()))
        }
    }

    /// Copies decrypted bytes into `out`.
    ///
    /// This is the one copy of plaintext the TLS layer makes, and it replaces the copy the
    /// kernel makes into the connection's read buffer for plain HTTP: the HTTP codec then
    /// parses `out` exactly as it would parse bytes from a plain socket. The only other
    /// copy is inside rustls (it decrypts a record in place and keeps its plaintext until
    /// read, bounded by its 16 KiB limit plus one record).
    ///
    /// Why a copy-out rather than lending rustls' buffer (`reader().fill_buf()`): rustls
    /// hands out one record at a time, and a response head can span records; the codec
    /// needs it contiguous in the connection's buffer, as it is for plain HTTP.
    ///
    /// See [`PlaintextRead`] for the outcomes. After EOF without `close_notify`, the
    /// buffered plaintext is returned first and then `Err` of kind [`ErrorKind::Truncated`].
    pub fn read_plaintext(&mut self, out: &mut [u8]) -> Result<PlaintextRead, Error> {
        if out.is_empty() {
            return Ok(PlaintextRead::Bytes(0));
        }
        match self.conn.reader().read(out) {
            Ok(0) => Ok(PlaintextRead::Closed),
            Ok(n) => Ok(PlaintextRead::Bytes(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(PlaintextRead::NeedCiphertext),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(Error::unclean_eof(self.conn.is_handshaking()))
            }
            // The plaintext buffer cannot fail otherwise; map defensively.
            Err(e) => Err(Error::new(self.generic_kind()).with_source(e)),
        }
    }

    /// How many decrypted bytes are waiting for [`read_plaintext`](Self::read_plaintext).
    pub fn buffered_plaintext_bytes(&mut self) -> usize {
        // `process_new_packets` with no new input does no work but reports the state.
        self.conn
            .process_new_packets()
            .map(|state| state.plaintext_bytes_to_read())
            .unwrap_or(0)
    }

    /// Queues plaintext to send; returns how many bytes of `data` were taken.
    ///
    /// Encrypted as soon as the handshake allows (before that, buffered), then waiting in
    /// rustls' output buffer for [`write_ciphertext_to`](Self::write_ciphertext_to). Takes
    /// fewer bytes than offered once 64 KiB of output is pending: flush, then offer the rest.
    pub fn write_plaintext(&mut self, data: &[u8]) -> Result<usize, Error> {
        match self.conn.writer().write(data) {
            Ok(n) => Ok(n),
            Err(_) => Err(self.stored_error()),
        }
    }

    /// Writes pending ciphertext to `out` (the socket, usually); returns the bytes written.
    ///
    /// One vectored `write` of everything pending, so the engine makes a single syscall
    /// with no staging copy. `WouldBlock` and other I/O errors are passed through
    /// untouched: what remains stays queued. Repeat while [`wants_write`](Self::wants_write)
    /// and the socket accepts bytes.
    pub fn write_ciphertext_to<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<usize> {
        let mut out = out;
        self.conn.write_tls(&mut out)
    }

    /// Copies pending ciphertext into `out`; returns the bytes copied (0 when none is
    /// pending or `out` is empty). For callers that stage output in their own buffer, and
    /// for tests.
    pub fn poll_ciphertext(&mut self, out: &mut [u8]) -> usize {
        let mut cursor = io::Cursor::new(out);
        let mut total = 0;
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut cursor) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    }

    /// True when the session can use more ciphertext: the handshake is waiting for the
    /// server, or application data may arrive and no decrypted plaintext is waiting to be
    /// read. False while plaintext is buffered (back-pressure: read it first), after
    /// `close_notify` and after a fatal error.
    pub fn wants_read(&self) -> bool {
        !self.failed && self.conn.wants_read()
    }

    /// True when ciphertext is waiting to be written (a handshake flight, encrypted
    /// plaintext, an alert, `close_notify`).
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// True until the handshake has completed. Plaintext written meanwhile is buffered and
    /// sent when it completes.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// True once the server's `close_notify` has been received: no more data will come
    /// (plaintext sent before it may still be waiting for [`read_plaintext`](Self::read_plaintext)).
    pub fn is_peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Queues our `close_notify`; flush it with [`write_ciphertext_to`](Self::write_ciphertext_to)
    /// before closing the socket. Nothing can be written after it.
    pub fn send_close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// Whether the handshake was full or resumed; `None` until that is known.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.conn.handshake_kind().map(|kind| match kind {
            rustls::HandshakeKind::Full => HandshakeKind::Full,
            rustls::HandshakeKind::FullWithHelloRetryRequest => HandshakeKind::FullWithHelloRetry,
            rustls::HandshakeKind::Resumed => HandshakeKind::Resumed,
        })
    }

    /// The negotiated protocol version, once known.
    pub fn protocol_version(&self) -> Option<crate::TlsVersion> {
        match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => Some(crate::TlsVersion::Tls13),
            rustls::ProtocolVersion::TLSv1_2 => Some(crate::TlsVersion::Tls12),
            _ => None,
        }
    }

    /// The negotiated cipher suite by its IANA name (`TLS13_AES_256_GCM_SHA384`), once
    /// known.
    pub fn cipher_suite(&self) -> Option<&'static str> {
        self.conn.negotiated_cipher_suite()?.suite().as_str()
    }

    /// The ALPN protocol the server chose: `Some(b"http/1.1")`, or `None` if the server
    /// does not do ALPN.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The server name this session verifies against, as given (IP literals without
    /// brackets).
    pub fn server_name(&self) -> String {
        server_name_str(&self.server_name)
    }

    /// The rustls connection inside, for inspection (cipher suite, peer certificates).
    pub fn as_rustls(&self) -> &ClientConnection {
        &self.conn
    }

    /// The kind for failures that are not about certificates or versions.
    fn generic_kind(&self) -> ErrorKind {
        if self.conn.is_handshaking() {
            ErrorKind::HandshakeFailure
        } else {
            ErrorKind::Protocol
        }
    }

    fn map_error(&self, err: rustls::Error) -> Error {
        Error::from_rustls(err, self.conn.is_handshaking()).add_expected_host(&self.server_name)
    }

    /// rustls returns the same error from every `process_new_packets` after a failure.
    fn stored_error(&mut self) -> Error {
        match self.conn.process_new_packets() {
            Err(e) => self.map_error(e),
            Ok(_) => Error::new(self.generic_kind()),
        }
    }
}
