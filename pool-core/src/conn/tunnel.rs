//! The `CONNECT` tunnel through an HTTP proxy, between the connect to the proxy (and its
//! TLS handshake, for an `https://` proxy) and the origin's TLS handshake.
//!
//! An `https` origin behind a proxy is reached by asking the proxy to open a TCP tunnel
//! (RFC 9110 §9.3.6): `CONNECT origin:443 HTTP/1.1`, with `Proxy-Authorization` when the
//! proxy URL has credentials. The engine encodes that request (it knows the origin and
//! the proxy) and hands it over with a read buffer in [`Conn::start_tunnel`]; the
//! connection writes it, reads the answer's head with its own parser, and decides:
//! - a 2xx: the tunnel is open. The proxy must not have sent anything after the head
//!   (the origin speaks only after our TLS `ClientHello`): bytes there are a protocol
//!   error, never TLS input. Then [`Conn::after_tunnel`]: the origin's TLS handshake.
//! - any other final status: the request fails with [`ErrorKind::Proxy`] and a
//!   [`ProxyRefused`] carrying the proxy's status line (407: it wants credentials; 403:
//!   it refuses the destination). The rest of the answer is not read: the connection
//!   closes.
//! - EOF, a reset, a malformed head: [`ErrorKind::Proxy`] with the cause.
//!
//! The whole exchange runs under `proxy_connect_timeout` ([`Deadline::ProxyConnect`]);
//! the TCP connect before it is under `connect_timeout`, the origin's TLS handshake after
//! it under `tls_handshake_timeout`. Nothing of the request itself has been sent while
//! tunneling, so every failure here is safe to retry. The connection counts as
//! connecting in the stats until the origin's handshake is done.
//!
//! Credentials stay on this hop: `Proxy-Authorization` is on the `CONNECT` only; the
//! request sent inside the tunnel is the caller's, in origin form, for the origin.

use std::io::{self, IoSlice};

use http::Method;
use http1_codec::HeadKind;

use super::transport::TransportError;
use super::{Conn, Ctx, Next, State};
use crate::error::{Error, ErrorKind, ProxyRefused};
use crate::timer::Deadline;

/// The longest status line kept for [`ProxyRefused`] (a hostile proxy could send one as
/// long as the head limit).
const MAX_STATUS_LINE: usize = 256;

impl Conn {
    /// The connection to the proxy is up: send `connect_head` (the encoded `CONNECT`
    /// request) and wait for the answer. The engine equipped the read buffer and parser.
    pub(crate) fn start_tunnel(&mut self, connect_head: Vec<u8>, ctx: &mut Ctx<'_>) -> Next {
        let Some(req) = self.state.request() else {
            return Next::Wait;
        };
        self.wbuf = connect_head;
        self.written = 0;
        self.set_state(State::Tunneling { req });
        let timeout = ctx.config.proxy_connect_timeout;
        self.arm_after(ctx, Deadline::ProxyConnect, timeout);
        self.drive_tunnel(ctx)
    }

    /// Writes what is left of the `CONNECT` request and reads the proxy's answer as far
    /// as the socket allows.
    pub(crate) fn drive_tunnel(&mut self, ctx: &mut Ctx<'_>) -> Next {
        if !matches!(self.state, State::Tunneling { .. }) {
            return Next::Wait;
        }
        let Some(transport) = self.transport.as_mut() else {
            return Next::Wait;
        };
        while self.written < self.wbuf.len() {
            if !self.writable {
                break;
            }
            match transport.write_vectored(&[IoSlice::new(&self.wbuf[self.written..])]) {
                Ok(0) => return fail("the proxy stopped taking the CONNECT request", None),
                Ok(n) => self.written += n,
                Err(TransportError::WouldBlock) => self.writable = false,
                Err(e) => return fail("writing CONNECT to the proxy failed", Some(e)),
            }
        }
        let max = ctx.config.head_limits.max_head_bytes;
        let next = self.read_tunnel_answer(max, ctx);
        // `read_tunnel_answer` borrowed the engine's scratch if it read the socket.
        self.rbuf.give_back(ctx.scratch);
        next
    }

    /// Parses the proxy's answer from the buffer, reading the socket until it would
    /// block or the answer is complete.
    fn read_tunnel_answer(&mut self, max: usize, ctx: &mut Ctx<'_>) -> Next {
        loop {
            // A proxy may answer before the request is all out (a refusal); read anyway.
            match self.parser.parse(self.rbuf.data(), &Method::CONNECT) {
                Ok(Some(head)) => match head.kind {
                    HeadKind::Continue | HeadKind::Informational => {
                        self.rbuf.consume(head.head_len);
                        self.parser.reset();
                        continue;
                    }
                    HeadKind::Final { .. } if head.status.is_success() => {
                        self.rbuf.consume(head.head_len);
                        self.parser.reset();
                        if self.written < self.wbuf.len() {
                            return fail(
                                "the proxy opened the tunnel before reading CONNECT",
                                None,
                            );
                        }
                        if !self.rbuf.is_empty() {
                            return fail("the proxy sent bytes after its CONNECT answer", None);
                        }
                        self.deadlines.clear(Deadline::ProxyConnect);
                        self.wbuf.clear();
                        self.written = 0;
                        return self.after_tunnel();
                    }
                    HeadKind::SwitchingProtocols | HeadKind::Final { .. } => {
                        let line = status_line(self.rbuf.data());
                        let refused = ProxyRefused::new(head.status, line);
                        return Next::Fail(Error::with_source(ErrorKind::Proxy, refused));
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    return Next::Fail(Error::with_source(ErrorKind::Proxy, e));
                }
            }
            if !self.readable {
                return Next::Wait;
            }
            let Some(transport) = self.transport.as_mut() else {
                return Next::Wait;
            };
            self.rbuf.lend(ctx.scratch, ctx.config.read_buffer_size);
            match self.rbuf.read_from(transport, max) {
                Ok(Some((0, _))) => {
                    return fail(
                        "the proxy closed the connection before answering CONNECT",
                        None,
                    )
                }
                Ok(Some(_)) => {}
                Ok(None) => return fail("the proxy's CONNECT answer exceeds the head limit", None),
                Err(TransportError::WouldBlock) => {
                    self.readable = false;
                    return Next::Wait;
                }
                Err(e) => return fail("reading the proxy's CONNECT answer failed", Some(e)),
            }
        }
    }
}

/// Fails the tunnel with `what`, and the transport error that caused it if any.
fn fail(what: &str, cause: Option<TransportError>) -> Next {
    let (kind, text) = match cause {
        Some(TransportError::Io(e)) => (e.kind(), format!("{what}: {e}")),
        Some(e) => (io::ErrorKind::Other, format!("{what}: {e}")),
        None if what.contains("closed") => (io::ErrorKind::UnexpectedEof, what.to_string()),
        None => (io::ErrorKind::Other, what.to_string()),
    };
    Next::Fail(Error::with_source(
        ErrorKind::Proxy,
        io::Error::new(kind, text),
    ))
}

/// The first line of `head`, printable, at most [`MAX_STATUS_LINE`] bytes.
fn status_line(head: &[u8]) -> String {
    let end = head
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(head.len())
        .min(MAX_STATUS_LINE);
    head[..end]
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}
