//! The TLS handshakes of a new connection: with an `https` origin between the connect
//! (or the tunnel) and the request, and with an `https://` proxy right after the
//! connect.
//!
//! The engine owns the TLS configuration (one resumption cache for every connection)
//! and hands a fresh session to [`Conn::start_handshake`] when the connection says
//! [`Next::NeedsTls`] (with the server name of the hop); from then on the handshake is
//! driven by readiness, under `tls_handshake_timeout`. The origin's handshake ends in
//! [`Next::Connected`] with its kind (full or resumed) for the stats; the proxy's goes on
//! to whatever the plan has next (the tunnel). Over an `https://` proxy the origin's
//! session runs inside the proxy's (the transport stacks them). A failure here is safe
//! to retry: nothing of the request was sent.

use tls_glue::TlsSession;

use super::transport::{Handshake, TransportError};
use super::{transport_error, Conn, Ctx, Hop, Next, State};
use crate::timer::Deadline;

impl Conn {
    /// The stream is up and `hop` wants TLS: put `session` on it and start the handshake.
    pub(crate) fn start_handshake(
        &mut self,
        session: TlsSession,
        hop: Hop,
        ctx: &mut Ctx<'_>,
    ) -> Next {
        let (Some(req), Some(transport)) = (self.state.request(), self.transport.take()) else {
            return Next::Wait;
        };
        self.transport = Some(transport.into_tls(session));
        self.set_state(State::Handshaking {
            req,
            hop,
            started: ctx.now,
        });
        let timeout = ctx.config.tls_handshake_timeout;
        self.arm_after(ctx, Deadline::TlsHandshake, timeout);
        self.drive_handshake()
    }

    /// Moves the TLS handshake on as far as the socket allows.
    pub(crate) fn drive_handshake(&mut self) -> Next {
        let Some(transport) = self.transport.as_mut() else {
            return Next::Wait;
        };
        match transport.drive_handshake() {
            Ok(Handshake::Pending) | Err(TransportError::WouldBlock) => {
                self.readable = false;
                Next::Wait
            }
            Ok(Handshake::Done(kind)) => {
                self.deadlines.clear(Deadline::TlsHandshake);
                match self.state {
                    State::Handshaking {
                        hop: Hop::Proxy, ..
                    } => self.after_proxy_tls(),
                    _ => Next::Connected { tls: kind },
                }
            }
            // A TLS failure is `ErrorKind::Tls` with the `tls_glue::Error` as source; a
            // socket error (a reset) is what it would be on any connection. Nothing of
            // the request was sent: safe to try again, for the caller.
            Err(e) => Next::Fail(transport_error(e).retry_safe(true)),
        }
    }
}
