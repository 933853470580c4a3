//! Putting a request on a connection and writing it.
//!
//! [`Conn::start_exchange`] moves the request's encoded head onto the connection (no
//! copy, no second encode) and writes head and body with one vectored write as far as
//! the socket takes them. With `Expect: 100-continue` only the head goes first and the
//! body waits in `AwaitingContinue` for `100 Continue` or `expect_continue_timeout`.
//!
//! A streamed body is pulled piece by piece from its source (`body.rs`), and only when
//! the socket took everything queued before: a slow server slows the pulls, which is
//! the backpressure. A source with nothing yet leaves the connection in `Writing`
//! (still reading, for an early response) until the engine is told the body is ready.
//!
//! While writing, the connection keeps reading (see `read.rs`): a server may answer
//! before it has read the whole request (RFC 9112 §9.5, `413` being the classic case).
//! When a write fails, what the socket already holds is still read: a complete response
//! that arrived before the server stopped reading is delivered (`WriteFailed`), and the
//! connection is never pooled, since the server cannot know where our unsent body would
//! have ended.

use std::io::{self, IoSlice};

use super::transport::TransportError;
use super::{transport_error, Conn, Ctx, Next, State};
use crate::body::Refill;
use crate::error::Error;
use crate::request::{encode_request_head, Place, Req, RequestId};
use crate::timer::Deadline;
use crate::trace::{Step, Tracers};

impl Conn {
    /// Puts request `rid` (whose bookkeeping is `req`) on this connection, fresh or
    /// reused (the engine equipped it with a read buffer and a parser), and starts
    /// writing it.
    pub(crate) fn start_exchange(
        &mut self,
        rid: RequestId,
        req: &mut Req,
        ctx: &mut Ctx<'_>,
    ) -> Next {
        req.place = Place::OnConn(ctx.cid);
        req.info.conn_id = self.serial;
        req.info.reused = self.served > 0 || self.pooled;
        req.got_response_bytes = false;
        self.written = 0;
        if let Some(left) = &mut self.requests_left {
            *left = left.saturating_sub(1);
        }
        if req.head.is_empty() {
            // A retry: the first attempt's connection took the encoded head.
            if let Err(err) = encode_request_head(
                &req.request,
                &req.body,
                &req.form,
                ctx.config,
                &mut req.head,
            ) {
                // Encoded once already at submit; only a bug gets here.
                return Next::Fail(err);
            }
        }
        // The head moves onto the connection; the request keeps the connection's old
        // buffer, emptied, to recycle when it finishes.
        std::mem::swap(&mut self.wbuf, &mut req.head);
        req.head.clear();
        let with_body = !req.expect_continue || req.body.is_empty();
        self.set_state(State::Writing {
            req: rid,
            with_body,
        });
        self.drive_write(Some(req), ctx)
    }

    /// Writes as much of the request as the socket takes, pulling the next piece of a
    /// streamed body whenever everything queued is out; when it is all out, waits for
    /// the response (or for `100 Continue`).
    pub(crate) fn drive_write(&mut self, req: Option<&mut Req>, ctx: &mut Ctx<'_>) -> Next {
        let State::Writing {
            req: rid,
            with_body,
        } = self.state
        else {
            return Next::Wait;
        };
        let Some(req) = req else {
            return Next::Wait;
        };
        loop {
            let head = &self.wbuf[self.written.min(self.wbuf.len())..];
            let (frame, piece) = if with_body {
                req.body.queued()
            } else {
                (&[][..], &[][..])
            };
            if head.is_empty() && frame.is_empty() && piece.is_empty() {
                if !with_body {
                    break;
                }
                match req.body.refill() {
                    Refill::Ready => continue,
                    // Waits for `Engine::body_ready`; the socket is still read.
                    Refill::Pending => return Next::Wait,
                    Refill::Done => break,
                    Refill::Failed(err) => return Next::Fail(err),
                }
            }
            if !self.writable {
                return Next::Wait;
            }
            let Some(transport) = self.transport.as_mut() else {
                return Next::Wait;
            };
            let bufs = [IoSlice::new(head), IoSlice::new(frame), IoSlice::new(piece)];
            match transport.write_vectored(&bufs) {
                Ok(0) => {
                    let err = TransportError::Io(io::ErrorKind::WriteZero.into());
                    return self.write_failed(rid, transport_error(err), req, ctx);
                }
                Ok(n) => {
                    let from_head = n.min(head.len());
                    let head_done_now = from_head > 0 && from_head == head.len();
                    self.written += from_head;
                    if with_body {
                        req.body.advance(n - from_head);
                    }
                    if head_done_now {
                        let (at, conn_id) = (ctx.now, self.serial);
                        Tracers::new(ctx.tracer, self.req_tracer.as_deref()).emit(|t| {
                            t.wrote_headers(&Step {
                                at,
                                request: rid,
                                conn_id,
                            })
                        });
                    }
                }
                Err(TransportError::WouldBlock) => {
                    self.writable = false;
                    return Next::Wait;
                }
                Err(e) => return self.write_failed(rid, transport_error(e), req, ctx),
            }
        }
        if with_body {
            let (at, conn_id) = (ctx.now, self.serial);
            self.tracers(ctx.tracer).emit(|t| {
                t.wrote_request(&Step {
                    at,
                    request: rid,
                    conn_id,
                })
            });
            self.set_state(State::AwaitingHead { req: rid });
            if let Some(t) = ctx.config.response_header_timeout {
                self.arm_after(ctx, Deadline::ResponseHead, t);
            }
        } else {
            self.set_state(State::AwaitingContinue { req: rid });
            let t = ctx.config.expect_continue_timeout;
            self.arm_after(ctx, Deadline::ExpectContinue, t);
        }
        // The response may already be here (a fast server, or an early answer).
        self.drive_read(Some(req), ctx)
    }

    /// Writing the request failed with `error`. A server that stops reading (and then
    /// resets) has often answered first: read what the socket holds and deliver a
    /// complete response; fail with `error` otherwise.
    fn write_failed(
        &mut self,
        rid: RequestId,
        error: Error,
        req: &mut Req,
        ctx: &mut Ctx<'_>,
    ) -> Next {
        self.readable = true;
        self.set_state(State::WriteFailed {
            req: rid,
            error: Some(error),
        });
        self.drive_read(Some(req), ctx)
    }

    /// The expect-continue wait ended (100 arrived or the deadline passed): send the body.
    pub(crate) fn send_body(&mut self, req: Option<&mut Req>, ctx: &mut Ctx<'_>) -> Next {
        let State::AwaitingContinue { req: rid } = self.state else {
            return Next::Wait;
        };
        self.deadlines.clear(Deadline::ExpectContinue);
        self.set_state(State::Writing {
            req: rid,
            with_body: true,
        });
        self.drive_write(req, ctx)
    }
}
