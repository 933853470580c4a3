//! The bytes under a connection: plain TCP, or TLS over TCP.
//!
//! The state machine in `conn.rs` reads and writes *plaintext* with the usual `io`
//! meanings — `Ok(0)` is the peer's clean end, `WouldBlock` means wait for readiness —
//! and does not care which kind of transport it has. For TLS, [`Transport`] feeds the
//! ciphertext it reads from the socket into the `tls-glue` session, hands out the
//! plaintext, and writes out whatever ciphertext the session produced (handshake
//! flights, records, alerts, session tickets are consumed inside).
//!
//! Two TLS facts surface as I/O results:
//! - EOF without `close_notify` is reported as [`io::ErrorKind::UnexpectedEof`] carrying
//!   the TLS error, so a close-delimited body can be called truncated; elsewhere the
//!   state machine treats it like any EOF.
//! - Other TLS failures are `io::ErrorKind::Other` carrying the `tls_glue::Error`;
//!   [`tls_error`] finds it again.
//!
//! This module does not decide anything about HTTP; it never blocks and never sleeps.

use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;
use tls_glue::{HandshakeKind, PlaintextRead, TlsSession};

/// A connected socket, with a TLS session on top for `https`.
pub(crate) struct Transport {
    stream: TcpStream,
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
    failure: Option<io::Error>,
}

/// Where a TLS handshake stands after [`Transport::drive_handshake`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Finished; the connection can carry requests.
    Done(Option<HandshakeKind>),
    /// Waiting for the socket.
    Pending,
}

/// The TLS error inside an I/O error produced by a [`Transport`], if any.
pub(crate) fn tls_error(e: &io::Error) -> Option<&tls_glue::Error> {
    e.get_ref()?.downcast_ref::<tls_glue::Error>()
}

fn tls_io(e: tls_glue::Error) -> io::Error {
    let kind = if e.is_truncated() {
        io::ErrorKind::UnexpectedEof
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, e)
}

impl Transport {
    /// Plain TCP.
    pub(crate) fn plain(stream: TcpStream) -> Transport {
        Transport { stream, tls: None }
    }

    /// TLS over `stream` with a fresh client session (handshake not started).
    pub(crate) fn tls(stream: TcpStream, session: TlsSession) -> Transport {
        Transport {
            stream,
            tls: Some(Box::new(TlsLayer {
                session,
                eof: false,
                failure: None,
            })),
        }
    }

    /// The same socket with a TLS session on top (after TCP connected for `https`).
    pub(crate) fn into_tls(self, session: TlsSession) -> Transport {
        Transport::tls(self.stream, session)
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub(crate) fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Reads plaintext into `buf`.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return self.stream.read(buf);
        };
        loop {
            match tls.session.read_plaintext(buf).map_err(tls_io)? {
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
                if tls_error(&e).is_none() {
                    return Err(e);
                }
                // One read can hold valid records followed by a bad one (or an alert):
                // hand out what the valid ones decrypted first, then the error.
                tls.failure = Some(e);
                let _ = flush_tls(tls, &mut self.stream); // the alert rustls queued
                continue;
            }
            // Alerts, key updates and the like want to go out at once.
            flush_tls(tls, &mut self.stream)?;
        }
    }

    /// Writes plaintext; returns how much was taken. For TLS, "taken" means encrypted
    /// into the session; [`Transport::flush`] pushes the ciphertext out.
    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return self.stream.write_vectored(bufs);
        };
        // Ciphertext queued earlier goes first, so the session makes room.
        flush_tls(tls, &mut self.stream)?;
        let mut taken = 0;
        for buf in bufs {
            let n = tls.session.write_plaintext(buf).map_err(tls_io)?;
            taken += n;
            if n < buf.len() {
                break;
            }
        }
        flush_tls(tls, &mut self.stream)?;
        if taken == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(taken)
    }

    /// Writes out pending TLS ciphertext. `Ok(true)` when nothing is left pending.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        match self.tls.as_deref_mut() {
            None => Ok(true),
            Some(tls) => {
                flush_tls(tls, &mut self.stream)?;
                Ok(!tls.session.wants_write())
            }
        }
    }

    /// Our side is closing: for TLS, queue `close_notify` and try once to send it (the
    /// socket closes right after, so a full buffer just loses the alert).
    pub(crate) fn close_notify(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.session.send_close_notify();
            let _ = flush_tls(tls, &mut self.stream);
        }
    }

    /// Advances the TLS handshake as far as the socket allows.
    pub(crate) fn drive_handshake(&mut self) -> io::Result<Handshake> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return Ok(Handshake::Done(None));
        };
        loop {
            flush_tls(tls, &mut self.stream)?;
            if !tls.session.is_handshaking() {
                return Ok(Handshake::Done(tls.session.handshake_kind()));
            }
            if tls.eof {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection during the TLS handshake",
                ));
            }
            match tls.read_ciphertext(&mut self.stream) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    flush_tls(tls, &mut self.stream)?;
                    return Ok(Handshake::Pending);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl TlsLayer {
    /// One socket read, fed to the session. `WouldBlock` passes through.
    fn read_ciphertext(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        // rustls reads from the socket into its own buffer: no staging copy here.
        let n = loop {
            match self.session.read_ciphertext_from(stream) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n == 0 {
            self.eof = true;
            return self.session.handle_eof().map_err(tls_io);
        }
        Ok(())
    }
}

/// Writes pending ciphertext until done or the socket would block.
fn flush_tls(tls: &mut TlsLayer, stream: &mut TcpStream) -> io::Result<()> {
    while tls.session.wants_write() {
        match tls.session.write_ciphertext_to(stream) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
