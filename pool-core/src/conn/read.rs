//! Reading: the read buffer, response heads, bodies, EOF, and idle health checks.
//!
//! [`Conn::drive_read`] alternates two things until there is nothing left to do: use the
//! bytes already buffered (parse a head, decode a body) and read the socket until it
//! would block. What the bytes mean depends on the state:
//! - before the final head (`Writing`, `WriteFailed`, `AwaitingContinue`,
//!   `AwaitingHead`): 1xx heads are consumed (`100 Continue` releases a waiting body),
//!   the final head is delivered and decides the body's framing and the keep-alive
//!   verdict;
//! - `ReadingBody` and `Draining` run the same decode loop; the first hands each piece to
//!   the caller (who may pause), the second counts and discards it up to `drain_limit`;
//! - `Idle`: any byte or EOF means the server closed or poisoned the connection.
//!
//! Body pieces are slices of the read buffer: nothing is copied here. The bytes are read
//! into the engine's scratch buffer, lent for the call; a connection keeps only what it
//! could not use yet (see [`ReadBuf`]).

use std::time::Duration;

use http1_codec::{BodyDecoder, HeadKind, Remaining};

use super::transport::{Transport, TransportError};
use super::{transport_error, Conn, Ctx, Next, State};
use crate::error::{Error, ErrorKind};
use crate::event::{Event, HeadView};
use crate::pool::{CloseCause, NotReusable};
use crate::request::{Flow, Req};
use crate::timer::Deadline;
use crate::trace::{HeadReceived, Step as TraceStep, Tracers};

/// Bytes read from an idle socket to tell EOF from stray bytes: any count is enough.
const IDLE_PROBE_BYTES: usize = 64;

/// Room kept above the larger of the head limit and the read buffer size, so a head at
/// its limit still leaves space for the first body bytes read with it.
const READ_SLACK_BYTES: usize = 1024;

/// The smallest a read buffer grows to when it is full of unused bytes.
const MIN_GROWN_BUFFER_BYTES: usize = 4096;

/// Largest capacity a connection keeps for its unused bytes once they are used up:
/// small leftovers (a chunk-size line, a head split across reads) come and go without
/// allocating; a bigger one (a paused body's unread bytes) is freed when it empties.
const KEPT_CAPACITY_BYTES: usize = 1024;

/// A connection's read buffer: bytes in `buf[start..end]` are received and not yet used.
///
/// A connection does not own a buffer to read into. While it reads
/// ([`Conn::drive_read`]) it borrows the engine's one scratch buffer (lent through
/// [`Ctx::scratch`](super::Ctx)): the bytes it kept from earlier reads are copied to the
/// front, the socket is read after them, and what the turn could not use (a partial
/// head, a partial chunk-size line, a paused body) is copied back into a small buffer
/// of its own when it gives the scratch back. The common exchange — a response that
/// arrives whole and is used whole — copies nothing and allocates nothing.
///
/// Why not a buffer per connection: with many connections busy at once, each held a
/// `read_buffer_size` buffer; they were freed when the connections went idle, but the
/// allocator kept those pages (freed chunks interleaved with live ones), so 10 000 idle
/// connections cost the memory of 10 000 busy ones. Now an idle connection holds no
/// buffer and a burst of busy ones needs no more than their unused bytes.
#[derive(Default)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `buf` is the engine's scratch; the connection's own buffer (emptied, kept for
    /// its capacity) waits in the lender's slot until [`give_back`](Self::give_back).
    lent: bool,
    /// The connection carries a request (the engine equipped it), so it may read.
    equipped: bool,
}

impl ReadBuf {
    /// Unused received bytes.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// The connection got a request: it may read (into the lent scratch).
    pub(crate) fn equip(&mut self) {
        self.equipped = true;
    }

    /// Whether [`equip`](Self::equip) ran since the last [`release`](Self::release).
    pub(crate) fn is_equipped(&self) -> bool {
        self.equipped
    }

    /// The connection goes idle or closes: frees whatever it kept. (An idle connection
    /// has no unused bytes: bytes on an idle socket close it.)
    pub(crate) fn release(&mut self) {
        *self = ReadBuf::default();
    }

    /// Capacity this connection holds of its own (while the scratch is not lent).
    #[cfg(test)]
    pub(crate) fn own_capacity(&self) -> usize {
        assert!(!self.lent, "the scratch is lent");
        self.buf.capacity()
    }

    /// Borrows the engine's `scratch` (growing it to `size` bytes once) and moves the
    /// kept bytes to its front; the connection's own buffer waits in `scratch`'s place,
    /// emptied. Returns false, doing nothing, when this buffer holds the scratch already.
    ///
    /// Lending and giving back keep `data()` as it was, so they nest: a read inside a
    /// read (`100 Continue` sends the body, whose write reads an early response) may
    /// give the scratch back before the outer one is done; the outer one lends it again
    /// at its next socket read.
    pub(crate) fn lend(&mut self, scratch: &mut Vec<u8>, size: usize) -> bool {
        if self.lent {
            return false;
        }
        self.lent = true;
        std::mem::swap(&mut self.buf, scratch);
        // `scratch` now holds the connection's own buffer, `self.buf` the scratch.
        if self.start == self.end && self.buf.len() >= size {
            // Nothing kept (the common case): a swap, no copy.
            scratch.clear();
            self.start = 0;
            self.end = 0;
            return true;
        }
        let kept = self.end - self.start;
        let len = size.max(kept);
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        self.buf[..kept].copy_from_slice(&scratch[self.start..self.end]);
        scratch.clear();
        self.start = 0;
        self.end = kept;
        true
    }

    /// Gives the scratch back to the engine, keeping the unused bytes in this
    /// connection's own buffer (which comes back from `scratch`'s place).
    pub(crate) fn give_back(&mut self, scratch: &mut Vec<u8>) {
        if !self.lent {
            return;
        }
        self.lent = false;
        std::mem::swap(&mut self.buf, scratch);
        // `self.buf` is the connection's own buffer again (empty), `scratch` the scratch.
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.capacity() > KEPT_CAPACITY_BYTES {
                self.buf = Vec::new();
            }
            return;
        }
        self.buf.extend_from_slice(&scratch[self.start..self.end]);
        self.start = 0;
        self.end = self.buf.len();
    }

    /// Appends `bytes` as if read (unit tests).
    #[cfg(test)]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.truncate(self.end);
        self.buf.extend_from_slice(bytes);
        self.end = self.buf.len();
    }

    /// One `read` into the free space; grows the buffer up to `max` bytes when it is
    /// full of unused bytes (a head or chunk line larger than the buffer). Returns the
    /// byte count and whether the read filled all the space offered; `None` when the
    /// buffer is full at `max`.
    pub(super) fn read_from(
        &mut self,
        transport: &mut Transport,
        max: usize,
    ) -> Result<Option<(usize, bool)>, TransportError> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < max {
                // Not `clamp`: it panics when `max` (from the settings) is below the
                // growth step, which small valid buffer and head limits allow.
                let grown = (self.buf.len() * 2).max(MIN_GROWN_BUFFER_BYTES).min(max);
                self.buf.resize(grown, 0);
            } else {
                return Ok(None);
            }
        }
        let space = self.buf.len() - self.end;
        let n = transport.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(Some((n, n == space)))
    }
}

/// What the buffered bytes led to, inside [`Conn::drive_read`].
enum Step {
    /// Everything buffered was used; read more if the socket has more.
    NeedInput,
    /// The state moved on (a head was parsed); run the new state over what is buffered.
    Progress,
    /// Stop reading for now (the caller paused, or this state reads nothing).
    Stop,
    /// A decision for the engine.
    Decided(Next),
}

impl Conn {
    /// Uses buffered bytes and reads the socket until it would block, the caller pauses,
    /// or the state decides something.
    pub(crate) fn drive_read(&mut self, req: Option<&mut Req>, ctx: &mut Ctx<'_>) -> Next {
        let next = self.read_loop(req, ctx);
        // `read_loop` borrowed the engine's scratch if it read the socket.
        self.rbuf.give_back(ctx.scratch);
        // After a failed write, that failure is the cause of whatever followed. It is
        // swapped in once: when `100 Continue` sends the body from inside the read loop,
        // the `drive_read` under that write has already handed it over.
        match (next, &mut self.state) {
            (Next::Fail(err), State::WriteFailed { error, .. }) => {
                Next::Fail(error.take().unwrap_or(err))
            }
            (next, _) => next,
        }
    }

    fn read_loop(&mut self, mut req: Option<&mut Req>, ctx: &mut Ctx<'_>) -> Next {
        let max = ctx
            .config
            .head_limits
            .max_head_bytes
            .max(ctx.config.read_buffer_size)
            .saturating_add(READ_SLACK_BYTES);
        loop {
            if matches!(self.state, State::Idle | State::Retiring { .. }) {
                return self.check_idle();
            }
            if self.paused {
                return Next::Wait;
            }
            match self.use_buffered(req.as_deref_mut(), ctx) {
                Step::NeedInput => {}
                Step::Progress => continue,
                Step::Stop => return Next::Wait,
                Step::Decided(next) => return next,
            }
            if !self.readable || !self.state.is_reading() {
                return self.nothing_more_to_read();
            }
            let Some(transport) = self.transport.as_mut() else {
                return Next::Wait;
            };
            // Only a read needs the scratch (kept bytes are used where they are); the
            // caller of `read_loop` gives it back.
            self.rbuf.lend(ctx.scratch, ctx.config.read_buffer_size);
            match self.rbuf.read_from(transport, max) {
                Ok(Some((0, _))) => return self.handle_eof(false),
                Ok(Some((_, filled))) => {
                    // A short read drained a plain socket (Linux epoll semantics); with
                    // TLS only if the socket read under it was short too (see
                    // `drained_by_short_read`); otherwise read on until `WouldBlock`.
                    if !filled && !self.read_closed && transport.drained_by_short_read() {
                        self.readable = false;
                    }
                }
                Ok(None) => {
                    let err = Error::msg(ErrorKind::Protocol, "response exceeds the buffer limit");
                    return Next::Fail(err);
                }
                Err(TransportError::WouldBlock) => {
                    self.readable = false;
                    return self.nothing_more_to_read();
                }
                Err(TransportError::Tls(e)) if e.is_truncated() => return self.handle_eof(true),
                Err(e) => return Next::Fail(transport_error(e)),
            }
        }
    }

    /// The socket has nothing more for now. After a failed write that means no
    /// (complete) early response is coming: the request fails with the write error.
    fn nothing_more_to_read(&mut self) -> Next {
        if matches!(self.state, State::WriteFailed { .. }) {
            // `drive_read` swaps in the stored write error.
            return Next::Fail(Error::new(ErrorKind::Io));
        }
        Next::Wait
    }

    /// Runs the current state over the buffered bytes.
    fn use_buffered(&mut self, req: Option<&mut Req>, ctx: &mut Ctx<'_>) -> Step {
        // The body states check for their end first: an empty body (`Content-Length: 0`,
        // 204, 304, a response to HEAD) is complete before any byte of it arrives.
        match self.state {
            State::ReadingBody { .. } | State::Draining { .. } => self.read_body(ctx),
            _ if self.rbuf.is_empty() => {
                if self.state.is_reading() {
                    Step::NeedInput
                } else {
                    Step::Stop
                }
            }
            State::Writing { .. }
            | State::WriteFailed { .. }
            | State::AwaitingContinue { .. }
            | State::AwaitingHead { .. } => self.read_head(req, ctx),
            _ => Step::Stop,
        }
    }

    /// Parses a response head from the buffer: skips 1xx, delivers the final one.
    fn read_head(&mut self, req: Option<&mut Req>, ctx: &mut Ctx<'_>) -> Step {
        let Some(rid) = self.state.request() else {
            return Step::Stop;
        };
        let Some(req) = req else {
            return Step::Stop;
        };
        let awaiting_continue = matches!(self.state, State::AwaitingContinue { .. });
        // Not all of the request went out: the server cannot know where the rest would
        // have ended, so the connection must not carry another request.
        let request_sent = matches!(self.state, State::AwaitingHead { .. });
        let (now, conn_id) = (ctx.now, self.serial);
        let trace = Tracers::new(ctx.tracer, self.req_tracer.as_deref());
        let step = TraceStep {
            at: now,
            request: rid,
            conn_id,
        };
        if !req.got_response_bytes {
            // The first bytes of this attempt's response are in the buffer: they were
            // read in this turn.
            req.got_response_bytes = true;
            req.info.ttfb = now.saturating_duration_since(req.submitted);
            trace.emit(|t| t.first_byte(&step));
        }
        let head = match self.parser.parse(self.rbuf.data(), req.request.method()) {
            Ok(None) => return Step::NeedInput,
            Ok(Some(head)) => head,
            Err(e) => return Step::Decided(Next::Fail(e.into())),
        };
        match head.kind {
            HeadKind::Continue | HeadKind::Informational => {
                self.rbuf.consume(head.head_len);
                self.parser.reset();
                if awaiting_continue && matches!(head.kind, HeadKind::Continue) {
                    trace.emit(|t| t.got_100_continue(&step));
                    // When the socket does not take the whole body now, what followed
                    // the 100 in the buffer (a final response, early) is still read: no
                    // readable edge will come for bytes already read.
                    return match self.send_body(Some(req), ctx) {
                        Next::Wait => Step::Progress,
                        next => Step::Decided(next),
                    };
                }
                Step::Progress
            }
            HeadKind::SwitchingProtocols => Step::Decided(Next::Fail(Error::msg(
                ErrorKind::Protocol,
                "101 switching protocols: upgrades are not supported",
            ))),
            HeadKind::Final {
                framing,
                keep_alive,
            } => {
                self.deadlines.clear(Deadline::ResponseHead);
                self.deadlines.clear(Deadline::ExpectContinue);
                // The server's `Keep-Alive: timeout=, max=`: it holds for this connection
                // from now on (a later response may change it).
                let hint = head.keep_alive_hint;
                if let Some(secs) = hint.timeout_secs {
                    self.server_idle_timeout = Some(Duration::from_secs(secs));
                }
                if let Some(max) = hint.max_requests {
                    self.requests_left = Some(max);
                }
                // A final answer before we sent the whole request (an early response,
                // or one that came instead of `100 Continue`) leaves the server unsure
                // whether a body follows: never reuse.
                let verdict = keep_alive.with_request_headers(req.request.headers());
                let keep_alive = match verdict.reason() {
                    Some(reason) => Err(NotReusable::from_verdict(reason)),
                    None if !request_sent => Err(NotReusable::EarlyResponse),
                    None => Ok(()),
                }
                .map_err(CloseCause::NotReusable);
                req.info.head = now.saturating_duration_since(req.submitted);
                trace.emit(|t| {
                    t.head_received(&HeadReceived {
                        at: now,
                        request: rid,
                        conn_id,
                        status: head.status,
                        version: head.version,
                    })
                });
                let view = HeadView {
                    head: &head,
                    parser: &self.parser,
                    buf: self.rbuf.data(),
                };
                let flow = (ctx.sink)(Event::Head {
                    id: rid,
                    head: view,
                    info: &req.info,
                });
                self.rbuf.consume(head.head_len);
                self.parser.reset();
                self.set_state(State::ReadingBody {
                    req: rid,
                    decoder: BodyDecoder::new(framing),
                    keep_alive,
                });
                if flow == Flow::Pause {
                    self.paused = true;
                    return Step::Stop;
                }
                Step::Progress
            }
        }
    }

    /// The body loop of `ReadingBody` (pieces go to the caller) and `Draining` (pieces
    /// are counted and dropped, up to `drain_limit`).
    fn read_body(&mut self, ctx: &mut Ctx<'_>) -> Step {
        let drain_limit = ctx.config.drain_limit;
        loop {
            let (decoder, deliver_to, drained) = match &mut self.state {
                State::ReadingBody { req, decoder, .. } => (decoder, Some(*req), None),
                State::Draining { decoder, drained } => (decoder, None, Some(drained)),
                _ => return Step::Stop,
            };
            if decoder.is_done() {
                return Step::Decided(self.finish_body());
            }
            if self.rbuf.is_empty() {
                return Step::NeedInput;
            }
            let decoded = match decoder.decode(self.rbuf.data()) {
                Ok(d) => d,
                Err(e) => return Step::Decided(Next::Fail(e.into())),
            };
            let (consumed, done) = (decoded.consumed, decoded.done);
            let mut flow = Flow::Continue;
            let mut over_limit = false;
            match (deliver_to, drained) {
                (Some(id), _) if !decoded.data.is_empty() => {
                    flow = (ctx.sink)(Event::Data {
                        id,
                        data: decoded.data,
                    });
                }
                (_, Some(drained)) => {
                    *drained += decoded.data.len() as u64;
                    over_limit = *drained > drain_limit;
                }
                _ => {}
            }
            self.rbuf.consume(consumed);
            if over_limit {
                // The rest of the body stays unread: the connection cannot be reused.
                self.end_exchange();
                return Step::Decided(Next::Finished {
                    req: None,
                    reuse: Err(CloseCause::NotReusable(NotReusable::DrainLimit)),
                });
            }
            if done {
                return Step::Decided(self.finish_body());
            }
            if flow == Flow::Pause {
                self.paused = true;
                return Step::Stop;
            }
            if consumed == 0 {
                return Step::NeedInput;
            }
        }
    }

    /// The body was read (or drained) to its framed end.
    fn finish_body(&mut self) -> Next {
        let keep_alive = match &self.state {
            State::ReadingBody { keep_alive, .. } => *keep_alive,
            _ => Ok(()),
        };
        let req = self.state.request();
        self.end_exchange();
        // Bytes after the end of the response: the server is not speaking HTTP/1.1 to
        // us. (Checked after the verdict: an exchange that closes anyway is not garbage.)
        // Then the server's own budget: `Keep-Alive: max=` used up.
        let reuse = keep_alive.and_then(|()| {
            if !self.rbuf.is_empty() {
                Err(CloseCause::Error)
            } else if self.requests_left == Some(0) {
                Err(CloseCause::KeepAliveMax)
            } else {
                Ok(())
            }
        });
        Next::Finished { req, reuse }
    }

    /// The exchange is over, whatever happens to the connection next.
    fn end_exchange(&mut self) {
        self.served += 1;
        self.paused = false;
        self.deadlines.clear(Deadline::Drain);
    }

    /// The socket reached EOF while reading. `tls_truncated`: a TLS peer closed without
    /// `close_notify`, so a close-delimited body may have been cut short.
    pub(crate) fn handle_eof(&mut self, tls_truncated: bool) -> Next {
        match &mut self.state {
            State::ReadingBody { decoder, .. } if tls_truncated && decoder.is_close_delimited() => {
                Next::Fail(Error::msg(
                    ErrorKind::Protocol,
                    "the TLS connection ended without close_notify: the close-delimited body may be truncated",
                ))
            }
            State::ReadingBody { decoder, .. } => match decoder.handle_eof() {
                // A close-delimited body ended (every buffered byte was used first); the
                // connection ends with it.
                Ok(()) => {
                    let req = self.state.request();
                    self.end_exchange();
                    Next::Finished {
                        req,
                        reuse: Err(CloseCause::NotReusable(NotReusable::CloseDelimitedBody)),
                    }
                }
                Err(e) => Next::Fail(Error::with_source(ErrorKind::Protocol, e)),
            },
            State::Draining { .. } => Next::Close(CloseCause::ServerClose),
            // `drive_read` swaps in the write error: it is why the server went away.
            State::WriteFailed { .. } => Next::Fail(Error::new(ErrorKind::ConnectionClosed)),
            State::AwaitingHead { .. } | State::AwaitingContinue { .. } | State::Writing { .. } => {
                Next::Fail(if self.rbuf.is_empty() {
                    Error::msg(ErrorKind::ConnectionClosed, "closed before any response byte")
                } else {
                    Error::msg(ErrorKind::Protocol, "closed in the middle of the response head")
                })
            }
            _ => Next::Close(CloseCause::ServerClose),
        }
    }

    /// An idle connection's socket became readable: EOF or bytes both mean it must go.
    /// A spurious wake-up (`WouldBlock`) keeps it.
    pub(crate) fn check_idle(&mut self) -> Next {
        if !self.readable {
            return Next::Wait;
        }
        let Some(transport) = self.transport.as_mut() else {
            return Next::Wait;
        };
        // For TLS this also consumes what may legitimately arrive while idle (TLS 1.3
        // session tickets); only plaintext, EOF or an error mean the connection must go.
        let mut probe = [0u8; IDLE_PROBE_BYTES];
        let cause = match transport.read(&mut probe) {
            Ok(0) => CloseCause::ServerClose,
            Ok(_) => CloseCause::Error, // unsolicited bytes: poisoned
            Err(TransportError::WouldBlock) => {
                self.readable = false;
                return Next::Wait;
            }
            // A TLS violation (a bad record, a fatal alert) poisons the connection as
            // unsolicited bytes do; EOF without close_notify, a reset and other socket
            // errors are the server going away.
            Err(TransportError::Tls(e)) if !e.is_truncated() => CloseCause::Error,
            Err(_) => CloseCause::ServerClose,
        };
        log::debug!(target: "wirepool::conn", "conn#{}: idle socket readable: {cause}", self.serial);
        Next::Close(cause)
    }

    /// The caller dropped the body unread: drain the rest in the background if it is
    /// small enough and the connection could be reused, else close. A request with no
    /// head yet is simply canceled.
    pub(crate) fn discard(&mut self, ctx: &mut Ctx<'_>) -> Next {
        let State::ReadingBody {
            keep_alive,
            decoder,
            ..
        } = &self.state
        else {
            return Next::Close(CloseCause::Canceled);
        };
        let limit = ctx.config.drain_limit;
        let small = match decoder.remaining() {
            Remaining::Exact(n) => n <= limit,
            Remaining::AtLeast(n) => n <= limit && !decoder.is_close_delimited(),
            Remaining::Unknown => !decoder.is_close_delimited(),
        };
        if let Err(cause) = keep_alive {
            return Next::Close(*cause);
        }
        if !small {
            return Next::Close(CloseCause::NotReusable(NotReusable::DrainLimit));
        }
        self.paused = false;
        // The request is gone: its deadline no longer applies, the drain's does.
        self.deadlines.clear(Deadline::Total);
        self.map_state(|old| match old {
            State::ReadingBody { decoder, .. } => State::Draining {
                decoder,
                drained: 0,
            },
            other => other,
        });
        let drain_for = ctx.config.drain_timeout;
        self.arm_after(ctx, Deadline::Drain, drain_for);
        Next::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::{ReadBuf, KEPT_CAPACITY_BYTES};

    /// A buffer holding `kept` unused bytes, as a connection leaves a turn.
    fn keeping(kept: &[u8]) -> ReadBuf {
        let mut rbuf = ReadBuf::default();
        rbuf.equip();
        rbuf.push(kept);
        rbuf
    }

    #[test]
    fn lending_moves_kept_bytes_to_the_front_of_the_scratch_and_back() {
        let mut scratch = Vec::new();
        let mut rbuf = keeping(b"HTTP/1.1 2");
        rbuf.consume(5);
        assert!(rbuf.lend(&mut scratch, 64));
        assert!(scratch.is_empty(), "the scratch is with the connection");
        assert_eq!(rbuf.data(), b"1.1 2");
        rbuf.consume(3);
        rbuf.give_back(&mut scratch);
        assert_eq!(scratch.len(), 64, "the scratch came back at its size");
        assert_eq!(
            rbuf.data(),
            b" 2",
            "the unused bytes stay with the connection"
        );
        assert!(rbuf.lend(&mut scratch, 64));
        assert_eq!(rbuf.data(), b" 2");
    }

    #[test]
    fn a_turn_that_uses_every_byte_keeps_nothing() {
        let mut scratch = vec![0; 64];
        let scratch_at = scratch.as_ptr();
        let mut rbuf = keeping(b"");
        assert!(rbuf.lend(&mut scratch, 64));
        rbuf.push(b"HTTP/1.1 204 No Content\r\n\r\n");
        rbuf.consume(27);
        rbuf.give_back(&mut scratch);
        assert!(rbuf.is_empty());
        assert_eq!(
            rbuf.own_capacity(),
            0,
            "nothing was allocated for the connection"
        );
        assert_eq!(scratch.as_ptr(), scratch_at, "the same scratch, not a copy");
    }

    #[test]
    fn a_nested_lend_leaves_the_scratch_to_the_outer_one() {
        let mut scratch = vec![0; 64];
        let mut rbuf = keeping(b"abc");
        assert!(rbuf.lend(&mut scratch, 64));
        let mut inner = Vec::new(); // what the nested call sees in `Ctx::scratch`
        assert!(!rbuf.lend(&mut inner, 64));
        assert_eq!(rbuf.data(), b"abc");
        rbuf.give_back(&mut scratch);
        assert_eq!(scratch.len(), 64);
        assert_eq!(rbuf.data(), b"abc");
        // Giving back twice does nothing the second time.
        let mut again = Vec::new();
        rbuf.give_back(&mut again);
        assert!(again.is_empty());
        assert_eq!(rbuf.data(), b"abc");
    }

    #[test]
    fn a_large_leftover_is_freed_once_used_small_capacity_is_kept() {
        let mut scratch = Vec::new();
        let big = vec![b'x'; 4 * KEPT_CAPACITY_BYTES];
        let mut rbuf = keeping(&big);
        assert!(rbuf.own_capacity() >= big.len());
        assert!(rbuf.lend(&mut scratch, 64));
        assert!(scratch.is_empty());
        assert_eq!(
            rbuf.data(),
            &big[..],
            "the scratch grew to hold what was kept"
        );
        rbuf.consume(big.len());
        rbuf.give_back(&mut scratch);
        assert_eq!(
            rbuf.own_capacity(),
            0,
            "a paused body's bytes are not kept forever"
        );
        assert!(scratch.len() >= big.len());

        let mut rbuf = keeping(b"3\r");
        assert!(rbuf.lend(&mut scratch, 64));
        rbuf.consume(2);
        rbuf.give_back(&mut scratch);
        assert!(
            rbuf.own_capacity() > 0,
            "a small leftover's capacity stays for the next one"
        );
    }

    #[test]
    fn release_frees_everything_and_unequips() {
        let mut rbuf = keeping(b"stray");
        assert!(rbuf.is_equipped());
        rbuf.release();
        assert!(!rbuf.is_equipped());
        assert!(rbuf.is_empty());
        assert_eq!(rbuf.own_capacity(), 0);
    }
}
