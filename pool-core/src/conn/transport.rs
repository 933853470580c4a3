//! The bytes under a connection: plain TCP, or TLS over TCP.
//!
//! The state machine reads and writes *plaintext*: `Ok(0)` from [`Transport::read`] is
//! the peer's clean end, [`TransportError::WouldBlock`] means wait for readiness, and it
//! does not care which kind of transport it has. For TLS, [`Transport`] feeds the
//! ciphertext it reads from the socket into the `tls-glue` session, hands out the
//! plaintext, and writes out whatever ciphertext the session produced (handshake
//! flights, records, alerts, session tickets are consumed inside).
//!
//! Failures come back as a [`TransportError`] that keeps socket errors and TLS errors
//! apart, so nothing has to be fished out of an `io::Error` again: a TLS peer that ended
//! the stream without `close_notify` is a [`TransportError::Tls`] whose error
//! `is_truncated()`, which lets a close-delimited body be called truncated.
//!
//! Under the transport is a [`Stream`]: a TCP socket, a Unix domain socket, the
//! plaintext of another transport (TLS to the origin inside a tunnel through an
//! `https://` proxy: TLS in TLS), or (in unit tests) a scripted stream that plays reads
//! and takes writes from memory, so the state machine can be driven without sockets.
//!
//! This module does not decide anything about HTTP; it never blocks and never sleeps.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};

use mio::event::Source;
use mio::net::TcpStream;
#[cfg(unix)]
use mio::net::UnixStream;
use mio::{Interest, Registry, Token};
use tls_glue::{HandshakeKind, PlaintextRead, TlsSession};

/// Why a transport read or write did not succeed.
#[derive(Debug)]
pub(crate) enum TransportError {
    /// Nothing to read, or no room to write, now: wait for readiness.
    WouldBlock,
    /// The socket failed (reset, broken pipe, ...). (A server that ends the stream in the
    /// middle of a TLS handshake is normally reported by the session, as `Tls`.)
    Io(io::Error),
    /// TLS failed: a bad record, a fatal alert, a certificate problem, or the peer ended
    /// the stream without `close_notify` (`is_truncated()`).
    Tls(tls_glue::Error),
}

impl From<io::Error> for TransportError {
    /// Sorts an `io::Error` once, at the boundary: `WouldBlock`, a TLS failure that
    /// `tls-glue` reported through its `io::Read`-shaped API, or a socket error.
    fn from(e: io::Error) -> TransportError {
        if e.kind() == io::ErrorKind::WouldBlock {
            return TransportError::WouldBlock;
        }
        if e.get_ref()
            .is_some_and(|inner| inner.is::<tls_glue::Error>())
        {
            if let Some(Ok(tls)) = e
                .into_inner()
                .map(|inner| inner.downcast::<tls_glue::Error>())
            {
                return TransportError::Tls(*tls);
            }
            return TransportError::Io(io::Error::other("tls error"));
        }
        TransportError::Io(e)
    }
}

impl From<tls_glue::Error> for TransportError {
    fn from(e: tls_glue::Error) -> TransportError {
        TransportError::Tls(e)
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::WouldBlock => f.write_str("would block"),
            TransportError::Io(e) => e.fmt(f),
            TransportError::Tls(e) => e.fmt(f),
        }
    }
}

/// The byte stream under a transport.
pub(crate) enum Stream {
    /// A connected TCP socket, registered with the engine's poller.
    Tcp(TcpStream),
    /// A connected Unix domain socket, registered with the engine's poller.
    #[cfg(unix)]
    Unix(UnixStream),
    /// The plaintext of an outer transport: TLS to an `https://` proxy, with the
    /// origin's TLS running inside the tunnel through it.
    Inner(Box<Transport>),
    /// Reads and writes scripted in memory (state-machine unit tests).
    #[cfg(test)]
    Script(script::ScriptStream),
}

/// An outer transport's error as the `io::Error` a `Read`/`Write` must return; a TLS
/// error is boxed whole, so [`TransportError::from`] gets it back.
fn into_io(e: TransportError) -> io::Error {
    match e {
        TransportError::WouldBlock => io::ErrorKind::WouldBlock.into(),
        TransportError::Io(e) => e,
        TransportError::Tls(e) => io::Error::other(e),
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
            Stream::Inner(t) => t.read(buf).map_err(into_io),
            #[cfg(test)]
            Stream::Script(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            #[cfg(unix)]
            Stream::Unix(s) => s.write_vectored(bufs),
            Stream::Inner(t) => t.write_vectored(bufs).map_err(into_io),
            #[cfg(test)]
            Stream::Script(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            #[cfg(unix)]
            Stream::Unix(s) => s.register(registry, token, interests),
            Stream::Inner(t) => t.stream.register(registry, token, interests),
            #[cfg(test)]
            Stream::Script(_) => Ok(()),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            #[cfg(unix)]
            Stream::Unix(s) => s.reregister(registry, token, interests),
            Stream::Inner(t) => t.stream.reregister(registry, token, interests),
            #[cfg(test)]
            Stream::Script(_) => Ok(()),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            #[cfg(unix)]
            Stream::Unix(s) => s.deregister(registry),
            Stream::Inner(t) => t.stream.deregister(registry),
            #[cfg(test)]
            Stream::Script(_) => Ok(()),
        }
    }
}

impl Stream {
    /// For a connect in progress: the socket's pending error (`SO_ERROR`), if any.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            #[cfg(unix)]
            Stream::Unix(s) => s.take_error(),
            Stream::Inner(t) => t.stream.take_error(),
            #[cfg(test)]
            Stream::Script(_) => Ok(None),
        }
    }

    /// For a connect in progress: whether it has a peer yet (`NotConnected` if not).
    /// `Some(address)` for TCP; `None` for other streams.
    pub(crate) fn peer_addr(&self) -> io::Result<Option<std::net::SocketAddr>> {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(Some),
            #[cfg(unix)]
            Stream::Unix(s) => s.peer_addr().map(|_| None),
            Stream::Inner(t) => t.stream.peer_addr(),
            #[cfg(test)]
            Stream::Script(_) => Ok(None),
        }
    }
}

/// A connected stream, with a TLS session on top for `https`.
pub(crate) struct Transport {
    stream: Stream,
    tls: Option<Box<TlsLayer>>,
}

/// The TLS session (which buffers the ciphertext it reads from the socket) and what the
/// transport learned about the stream under it.
struct TlsLayer {
    session: TlsSession,
    /// The socket reached EOF and the session was told.
    eof: bool,
    /// A TLS error met while feeding ciphertext, held back until the plaintext that the
    /// same read decrypted before it (authentic bytes) has been handed out.
    failure: Option<TransportError>,
    /// The socket read of the current plaintext read returned less than rustls asked
    /// for: the socket is drained (see [`Transport::drained_by_short_read`]).
    last_read_short: bool,
}

/// Where a TLS handshake stands after [`Transport::drive_handshake`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Finished; the connection can carry requests.
    Done(Option<HandshakeKind>),
    /// Waiting for the socket.
    Pending,
}

impl Transport {
    /// Plain bytes over `stream`.
    pub(crate) fn plain(stream: Stream) -> Transport {
        Transport { stream, tls: None }
    }

    /// TLS over `stream` with a fresh client session (handshake not started).
    pub(crate) fn tls(stream: Stream, session: TlsSession) -> Transport {
        Transport {
            stream,
            tls: Some(Box::new(TlsLayer {
                session,
                eof: false,
                failure: None,
                last_read_short: false,
            })),
        }
    }

    /// The same stream with a TLS session on top: over the socket (after the connect
    /// for `https`, or for an `https://` proxy), or over this transport's plaintext when
    /// it already runs TLS (the origin's TLS inside the tunnel of an `https://` proxy).
    pub(crate) fn into_tls(self, session: TlsSession) -> Transport {
        if self.tls.is_some() {
            return Transport::tls(Stream::Inner(Box::new(self)), session);
        }
        Transport::tls(self.stream, session)
    }

    /// After a plaintext read that did not fill the space offered: whether the socket is
    /// drained, so that waiting for the next readiness event loses nothing (epoll
    /// reports each arrival of new bytes). A plain socket's short read says so itself
    /// (Linux). With TLS the session handed out all the plaintext it had (the read was
    /// short), and if the last socket read was short too, what is left is at most part
    /// of a record that needs more bytes: no read would find anything now. Saves the
    /// `recvfrom` that returns `EAGAIN` after every TLS response. Never while the session
    /// has something the next read must report — a TLS error held back behind the
    /// plaintext before it, the peer's `close_notify`, the socket's EOF — or a poisoned
    /// connection could go idle without anyone reading it. Not for TLS inside a TLS
    /// tunnel, whose reads are the outer session's plaintext.
    pub(crate) fn drained_by_short_read(&self) -> bool {
        match self.tls.as_deref() {
            None => true,
            Some(tls) => {
                tls.last_read_short
                    && tls.failure.is_none()
                    && !tls.eof
                    && !tls.session.is_peer_closed()
                    && !matches!(self.stream, Stream::Inner(_))
            }
        }
    }

    /// The TLS session of the last hop (the one whose handshake ran last), for trace
    /// events: what it negotiated.
    pub(crate) fn tls_session(&self) -> Option<&TlsSession> {
        self.tls.as_deref().map(|tls| &tls.session)
    }

    /// The stream, to (de)register with the poller.
    pub(crate) fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// The scripted stream under this transport (unit tests feed it and read what was
    /// written).
    #[cfg(test)]
    pub(crate) fn script_mut(&mut self) -> Option<&mut script::ScriptStream> {
        match &mut self.stream {
            Stream::Script(s) => Some(s),
            _ => None,
        }
    }

    /// Reads plaintext into `buf`; `Ok(0)` is the peer's clean end.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return loop {
                match self.stream.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break Ok(other?),
                }
            };
        };
        // Only a socket read made by this call may say the socket is drained: plaintext
        // handed out from the session's buffer says nothing about bytes that arrived
        // since (their readiness events may have been used up while reading was paused).
        tls.last_read_short = false;
        loop {
            match tls.session.read_plaintext(buf)? {
                PlaintextRead::Bytes(n) => return Ok(n),
                PlaintextRead::Closed => return Ok(0),
                PlaintextRead::NeedCiphertext => {}
            }
            if let Some(failure) = tls.failure.take() {
                return Err(failure);
            }
            if tls.eof {
                // The session saw EOF and still has nothing to give: a clean end.
                return Ok(0);
            }
            if let Err(e) = tls.read_ciphertext(&mut self.stream) {
                if !matches!(e, TransportError::Tls(_)) {
                    return Err(e);
                }
                // One read can hold valid records followed by a bad one (or an alert):
                // hand out what the valid ones decrypted first, then the error.
                tls.failure = Some(e);
                let _ = flush_all(tls, &mut self.stream); // the alert rustls queued
                continue;
            }
            // Alerts, key updates and the like want to go out at once.
            flush_all(tls, &mut self.stream)?;
        }
    }

    /// Writes plaintext; returns how much was taken. For TLS, "taken" means encrypted
    /// into the session; [`Transport::flush`] pushes the ciphertext out.
    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> Result<usize, TransportError> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return loop {
                match self.stream.write_vectored(bufs) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break Ok(other?),
                }
            };
        };
        // Ciphertext queued earlier goes first, so the session makes room.
        flush_all(tls, &mut self.stream)?;
        let mut taken = 0;
        for buf in bufs {
            let n = tls.session.write_plaintext(buf)?;
            taken += n;
            if n < buf.len() {
                break;
            }
        }
        flush_all(tls, &mut self.stream)?;
        if taken == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(TransportError::WouldBlock);
        }
        Ok(taken)
    }

    /// Writes out pending TLS ciphertext (of every layer). `Ok(true)` when nothing is
    /// left pending.
    pub(crate) fn flush(&mut self) -> Result<bool, TransportError> {
        let mine = match self.tls.as_deref_mut() {
            None => true,
            Some(tls) => {
                flush_all(tls, &mut self.stream)?;
                !tls.session.wants_write()
            }
        };
        let under = match &mut self.stream {
            Stream::Inner(outer) => outer.flush()?,
            _ => true,
        };
        Ok(mine && under)
    }

    /// Our side is closing: for TLS, queue `close_notify` and try once to send it (the
    /// socket closes right after, so a full buffer just loses the alert).
    pub(crate) fn close_notify(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.session.send_close_notify();
            let _ = flush_all(tls, &mut self.stream);
        }
        if let Stream::Inner(outer) = &mut self.stream {
            outer.close_notify();
        }
    }

    /// Advances the TLS handshake as far as the socket allows.
    pub(crate) fn drive_handshake(&mut self) -> Result<Handshake, TransportError> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return Ok(Handshake::Done(None));
        };
        loop {
            flush_all(tls, &mut self.stream)?;
            if !tls.session.is_handshaking() {
                return Ok(Handshake::Done(tls.session.handshake_kind()));
            }
            if tls.eof {
                return Err(TransportError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection during the TLS handshake",
                )));
            }
            match tls.read_ciphertext(&mut self.stream) {
                Ok(()) => {}
                Err(TransportError::WouldBlock) => {
                    flush_all(tls, &mut self.stream)?;
                    return Ok(Handshake::Pending);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl TlsLayer {
    /// One socket read, fed to the session. `WouldBlock` passes through.
    fn read_ciphertext(&mut self, stream: &mut Stream) -> Result<(), TransportError> {
        // rustls reads from the socket into its own buffer: no staging copy here.
        let mut source = NoteShort {
            stream,
            short: false,
        };
        let n = loop {
            match self.session.read_ciphertext_from(&mut source) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        self.last_read_short = source.short;
        if n == 0 {
            self.eof = true;
            return Ok(self.session.handle_eof()?);
        }
        Ok(())
    }
}

/// A socket that notes whether its last read got less than was asked for.
struct NoteShort<'a> {
    stream: &'a mut Stream,
    short: bool,
}

impl Read for NoteShort<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

/// Writes pending ciphertext of `tls` and, when `stream` is another transport's
/// plaintext, that transport's too (its records wait for the socket like ours).
fn flush_all(tls: &mut TlsLayer, stream: &mut Stream) -> Result<(), TransportError> {
    flush_tls(tls, stream)?;
    if let Stream::Inner(outer) = stream {
        match outer.flush() {
            Ok(_) | Err(TransportError::WouldBlock) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes pending ciphertext until done or the socket would block.
fn flush_tls(tls: &mut TlsLayer, stream: &mut Stream) -> Result<(), TransportError> {
    while tls.session.wants_write() {
        match tls.session.write_ciphertext_to(stream) {
            Ok(0) => return Err(TransportError::Io(io::ErrorKind::WriteZero.into())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TransportError::from(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod script {
    //! A stream that plays scripted reads and records writes, for unit tests of the
    //! state machine: no socket, no clock.

    use std::collections::VecDeque;
    use std::io::{self, IoSlice};

    /// One scripted answer to a read.
    #[derive(Debug)]
    pub(crate) enum ScriptRead {
        /// These bytes (split over several reads if the buffer is smaller).
        Bytes(Vec<u8>),
        /// The peer's end: every read from here on returns `Ok(0)`.
        Eof,
        /// This error, once.
        Error(io::ErrorKind),
    }

    /// Reads come from `reads` (`WouldBlock` when it is empty); writes are appended to
    /// `written` while `write_room` lasts, then would block, or fail with `write_error`.
    #[derive(Debug, Default)]
    pub(crate) struct ScriptStream {
        pub(crate) reads: VecDeque<ScriptRead>,
        pub(crate) written: Vec<u8>,
        pub(crate) write_room: usize,
        pub(crate) write_error: Option<io::ErrorKind>,
    }

    impl ScriptStream {
        pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.reads.pop_front() {
                None => Err(io::ErrorKind::WouldBlock.into()),
                Some(ScriptRead::Eof) => {
                    self.reads.push_front(ScriptRead::Eof);
                    Ok(0)
                }
                Some(ScriptRead::Error(kind)) => Err(kind.into()),
                Some(ScriptRead::Bytes(mut bytes)) => {
                    let n = bytes.len().min(buf.len());
                    buf[..n].copy_from_slice(&bytes[..n]);
                    if n < bytes.len() {
                        self.reads.push_front(ScriptRead::Bytes(bytes.split_off(n)));
                    }
                    Ok(n)
                }
            }
        }

        pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(kind) = self.write_error {
                return Err(kind.into());
            }
            let n = buf.len().min(self.write_room);
            if n == 0 && !buf.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.write_room -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut total = 0;
            for buf in bufs {
                match self.write(buf) {
                    Ok(n) => {
                        total += n;
                        if n < buf.len() {
                            break;
                        }
                    }
                    Err(e) if total == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(total)
        }
    }
}
