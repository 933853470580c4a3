//! Streamed request bodies: the caller's thread reads the caller's reader, the engine
//! pulls the pieces, and a bounded queue between them is the backpressure.
//!
//! ```text
//!   caller thread (Core::send)                        engine thread
//!   ──────────────────────────                        ─────────────
//!   Feeder::run: reader.read() ─► Upload queue ─────► PipeSource::pull (BodySource)
//!      │  parks while queued ≥ body_buffer_limit        │ queue empty: Pending, and
//!      │  (and for the response head)                   │ waits for Command::BodyReady
//!      └─ pushes a piece; engine waiting? ─► Command::BodyReady(id) ─► Engine::body_ready
//! ```
//!
//! # What this module owns
//!
//! Both ends of that queue ([`Upload`], kept under the request's mailbox lock so that
//! one doorbell wakes the caller for either reason it may be parked: room in
//! the queue, or a message such as the response head or a failure). The caller's
//! thread blocks on the reader — a pipe, stdin, a slow disk — never the engine thread,
//! which serves every other request. Memory is bounded: at most `body_buffer_limit`
//! bytes queued, one piece ([`PIECE_BYTES`]) being read and one being written.
//!
//! A resend after a stale connection rewinds the body: the engine bumps the queue's
//! generation (only when the caller's body can start again, from a factory or by
//! seeking), the caller opens its reader again, and pieces of the old generation are
//! dropped. A response that arrives while the body is still going out (an early
//! response, or one instead of `100 Continue`) ends the feeding: the caller returns the
//! response; the rest of the body is never read.
//!
//! # What it deliberately does not do
//!
//! No framing (that is the engine's, `body.rs`) and no waiting without a reason: the
//! caller waits for room, a message or a rewind, all signalled by the engine. A reader
//! that blocks delays only its own caller: a cancel or an early response is seen as
//! soon as the reader's `read` returns.

use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::channel::{Command, Handle, Mailbox, Msg, Upload};
use crate::body::{BodySource, Opener, Pull, ReaderBody};

/// The most bytes read from the caller's reader at a time: one piece.
pub(super) const PIECE_BYTES: usize = 64 * 1024;

/// The engine's side: a [`BodySource`] that takes the pieces the caller queued.
pub(super) struct PipeSource {
    mailbox: Arc<Mailbox>,
    len: Option<u64>,
    /// The caller's reader can start again (a factory, or `Seek`).
    replayable: bool,
}

/// The caller's side: reads the caller's reader into the queue.
pub(super) struct Feeder {
    opener: Opener,
    len: Option<u64>,
}

/// Sets up a streamed upload of `body` through `mailbox`: the source goes to the
/// engine inside the request, the feeder stays with the caller.
pub(super) fn pipe(mailbox: &Arc<Mailbox>, body: ReaderBody) -> (PipeSource, Feeder) {
    mailbox.lock().upload = Some(Upload::default());
    let source = PipeSource {
        mailbox: Arc::clone(mailbox),
        len: body.len,
        replayable: body.opener.is_replayable(),
    };
    let feeder = Feeder {
        opener: body.opener,
        len: body.len,
    };
    (source, feeder)
}

impl BodySource for PipeSource {
    fn content_length(&self) -> Option<u64> {
        self.len
    }

    fn pull(&mut self) -> Pull {
        let limit = self.mailbox.limit;
        let mut state = self.mailbox.lock();
        let Some(up) = state.upload.as_mut() else {
            return Pull::Error(io::Error::other("the upload queue is gone"));
        };
        if let Some(piece) = up.pieces.pop_front() {
            up.queued -= piece.len();
            // Wake a caller parked on a full queue once half of it is free, not for
            // every piece: fewer wake-ups, and reads stay large.
            let room = up.queued <= limit / 2;
            if room {
                self.mailbox.notify(state);
            }
            return Pull::Data(piece);
        }
        if let Some(e) = up.error.take() {
            return Pull::Error(e);
        }
        if up.ended {
            return Pull::End;
        }
        up.engine_waiting = true;
        Pull::Pending
    }

    fn rewind(&mut self) -> bool {
        if !self.replayable {
            return false;
        }
        let mut state = self.mailbox.lock();
        let Some(up) = state.upload.as_mut() else {
            return false;
        };
        up.pieces.clear();
        up.queued = 0;
        up.ended = false;
        up.error = None;
        up.engine_waiting = false;
        up.generation = up.generation.wrapping_add(1);
        self.mailbox.notify(state);
        true
    }
}

impl Drop for PipeSource {
    fn drop(&mut self) {
        let mut state = self.mailbox.lock();
        if let Some(up) = state.upload.as_mut() {
            up.engine_gone = true;
            up.pieces.clear();
            up.queued = 0;
        }
        self.mailbox.notify(state);
    }
}

/// What the caller's thread does next.
enum Step {
    /// A message arrived (the head, a failure): feeding is over.
    Msg(Box<Msg>),
    /// The mailbox closed without a word.
    Closed,
    /// Read the next piece.
    Read,
    /// The engine rewound the body: start again from the first byte.
    Restart(u32),
    /// The engine no longer wants the body (it ended the request): wait for messages.
    Stop,
}

impl Feeder {
    /// Feeds the body while waiting for the first message about the request (its head
    /// or its failure), which it returns; `None` if the mailbox closed without one.
    pub(super) fn run(mut self, mailbox: &Mailbox, handle: &Handle) -> Option<Msg> {
        let mut generation = 0u32;
        let mut ended = false;
        let mut started = false;
        let mut left = self.len;
        loop {
            match next_step(mailbox, generation, ended) {
                Step::Msg(msg) => return Some(*msg),
                Step::Closed => return None,
                Step::Stop => return mailbox.recv(),
                Step::Restart(g) => {
                    generation = g;
                    left = self.len;
                    ended = false;
                    if let Err(e) = self.opener.start(true) {
                        ended = true;
                        push(mailbox, handle, generation, Piece::Error(e));
                    }
                }
                Step::Read => {
                    if !started {
                        started = true;
                        if let Err(e) = self.opener.start(false) {
                            ended = true;
                            push(mailbox, handle, generation, Piece::Error(e));
                            continue;
                        }
                    }
                    let want = left.map_or(PIECE_BYTES, |l| l.min(PIECE_BYTES as u64) as usize);
                    if want == 0 {
                        ended = true;
                        push(mailbox, handle, generation, Piece::End);
                        continue;
                    }
                    let mut buf = vec![0u8; want];
                    let piece = loop {
                        match self.opener.read(&mut buf) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Ok(0) => break Piece::End,
                            Ok(n) => {
                                buf.truncate(n);
                                if let Some(l) = &mut left {
                                    *l -= n as u64;
                                }
                                break Piece::Data(Bytes::from(std::mem::take(&mut buf)));
                            }
                            Err(e) => break Piece::Error(e),
                        }
                    };
                    ended = !matches!(piece, Piece::Data(_));
                    push(mailbox, handle, generation, piece);
                }
            }
        }
    }
}

/// Waits until the caller has something to do.
fn next_step(mailbox: &Mailbox, generation: u32, ended: bool) -> Step {
    let limit = mailbox.limit;
    let mut state = mailbox.lock();
    loop {
        if let Some(msg) = Mailbox::take_msg(&mut state) {
            return Step::Msg(Box::new(msg));
        }
        if Mailbox::is_closed(&state) {
            return Step::Closed;
        }
        let Some(up) = state.upload.as_ref() else {
            return Step::Stop;
        };
        if up.engine_gone {
            return Step::Stop;
        }
        if up.generation != generation {
            return Step::Restart(up.generation);
        }
        if !ended && up.queued < limit {
            return Step::Read;
        }
        state = mailbox.park(state);
    }
}

/// What the reader gave.
enum Piece {
    Data(Bytes),
    End,
    Error(io::Error),
}

/// Queues `piece` (unless the engine rewound the body since it was read, or is gone)
/// and wakes the engine if it waits for one.
fn push(mailbox: &Mailbox, handle: &Handle, generation: u32, piece: Piece) {
    let mut state = mailbox.lock();
    let Some(up) = state.upload.as_mut() else {
        return;
    };
    if up.generation != generation || up.engine_gone {
        return;
    }
    match piece {
        Piece::Data(bytes) => {
            up.queued += bytes.len();
            up.pieces.push_back(bytes);
        }
        Piece::End => up.ended = true,
        Piece::Error(e) => up.error = Some(e),
    }
    let wake = std::mem::take(&mut up.engine_waiting);
    drop(state);
    if wake {
        if let Some(id) = mailbox.id() {
            let _ = handle.send(Command::BodyReady(id));
        }
    }
}
