//! The wire between caller threads and the engine thread: the [`Command`]s callers send,
//! the [`Msg`]s the engine answers with, one request's [`Mailbox`], the [`Route`] that
//! closes it, the [`Handle`] that sends a command and wakes the engine, and the
//! [`EngineStatus`] that says why an engine no longer answers.
//!
//! # What this module owns
//!
//! The protocol and its guarantees, each kept by one type here:
//!
//! * **Bounded memory.** Body bytes cross threads with one deliberate copy, and those
//!   copies count against `body_buffer_limit`: when a reader falls behind by more than
//!   that, the engine stops reading the socket (TCP flow control then slows the server),
//!   so a slow reader costs a bounded amount of memory. The budget is one atomic counter
//!   per response ([`Mailbox::buffered`]): the engine pauses when its add crosses the
//!   limit, the reader resumes it when its subtract crosses back, and a crossing up is
//!   always followed by exactly one crossing down. The budget counts payload, so what
//!   holds the payload must cost about as much: small pieces (a body of one-byte chunks,
//!   say) are appended to the last queued piece instead of each becoming a message with
//!   an allocation of its own.
//! * **An answer in bounded time**, whatever happens to the engine thread. A request's
//!   mailbox is closed by its [`Route`] when dropped, and the route travels inside the
//!   [`Command::Send`], so a command dropped unprocessed (queued when the engine stopped,
//!   or refused by a closed channel) still wakes its caller. A route dropped while the
//!   engine thread unwinds from a panic reports [`ErrorKind::EngineFailed`]. A status
//!   flag and a fence on each side ([`Handle::send`], [`EngineStatus::stop`]) make sure
//!   no command is enqueued after the engine's final drain without its sender seeing the
//!   stop.
//! * **The other direction.** A streamed request body's pieces wait in the mailbox too
//!   ([`Upload`], under the same lock, bounded by the same `body_buffer_limit`), so that
//!   one doorbell (see `doorbell`) wakes a caller for either reason it may be parked: room for
//!   its next piece, or a message (the head, a failure). The logic of both ends is in
//!   `upload`.
//! * **Cancel at once.** [`Mailbox::cancel`] replaces whatever is queued by one
//!   `Canceled` failure, refuses anything later, wakes the caller, and tells the engine
//!   (or leaves the flag the engine thread reads right after it submits the request).
//!
//! # What it deliberately does not do
//!
//! It runs nothing: it neither owns the engine thread nor decides what a command does
//! (that is `engine_thread`), and it does not read bodies (that is `response`). It
//! depends on no other module of `client/`, so both ends of the wire can be checked here,
//! without an engine (see the tests).

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Sender;
use http::Request;
use mio::Waker;

use super::doorbell::{self, Peal, Slot, Ticket};
use crate::body::Body;
use crate::error::{Error, ErrorKind};
use crate::pool::Stats;
use crate::request::{RequestId, RequestInfo, RequestOptions};

/// Work for the engine thread.
pub(super) enum Command {
    Send {
        request: Box<Request<Body>>,
        opts: RequestOptions,
        /// Closes the caller's mailbox when dropped, wherever that happens: in the
        /// engine's route table, or with the command itself if it is never processed.
        reply: Route,
    },
    /// `Engine::prewarm(url, replies.len())`: each connection's outcome ends one route
    /// (`Done` when it is up, `Failed` if not); routes beyond what the limits allow are
    /// dropped unanswered.
    Prewarm {
        url: String,
        replies: Vec<Route>,
    },
    Discard(RequestId),
    Resume(RequestId),
    /// The caller canceled the request (its `CancelToken`).
    Cancel(RequestId),
    /// More of the request's streamed body is queued (see `upload`).
    BodyReady(RequestId),
    CloseIdle,
    Stats(Sender<Stats>),
    Shutdown,
    /// Test-only (see [`Client::__panic_engine_for_tests`](crate::Client::__panic_engine_for_tests)): sleep, then panic.
    PanicForTests(Duration),
}

/// What the engine thread tells one request's caller.
pub(super) enum Msg {
    Head(RequestId, http::Response<()>, RequestInfo),
    Data(Vec<u8>),
    Done(RequestInfo),
    Failed(Error),
}

/// Body pieces up to this size are coalesced in a response's mailbox (see
/// [`Mailbox::push_data`]). The budget (`body_buffer_limit`) counts payload bytes, so
/// what a paused reader costs must be close to its payload: with coalescing a queue
/// holds at most two messages per `COALESCE_BYTES` of payload, whatever the chunk sizes
/// the server chose. A socket read is up to 64 KiB by default, so the usual full-buffer piece
/// is never appended to (no extra copy) and tiny pieces fill buffers of this size.
pub(super) const COALESCE_BYTES: usize = 16 * 1024;

/// One request's messages from the engine thread to its caller.
///
/// A `Mutex`-guarded queue rather than a channel: the caller parks as soon as it has
/// nothing to read (a channel's blocking receive spins and yields first, which costs a
/// CPU that the engine thread needs), on its thread's doorbell (see `doorbell`), and the
/// engine rings only for a caller that is actually parked, once per turn for all of
/// them. It is closed when the request's [`Route`] is dropped (by the
/// engine, or with a command that never ran), which is how a reader learns that nothing
/// more will come.
pub(super) struct Mailbox {
    state: Mutex<MailState>,
    /// The engine's id for the request (0 until the engine thread submitted it): what
    /// `BodyReady` and `Cancel` commands name.
    id: AtomicU64,
    /// The caller canceled the request; read by the engine thread right after it
    /// submits it (see [`Mailbox::cancel`]).
    canceled: AtomicBool,
    /// Body bytes pushed and not yet consumed by the reader: the backpressure budget,
    /// lock-free on both sides (see the module docs).
    pub(super) buffered: AtomicUsize,
    /// The engine pauses the socket when `buffered` crosses this (`body_buffer_limit`).
    pub(super) limit: usize,
}

#[derive(Default)]
pub(super) struct MailState {
    queue: VecDeque<Msg>,
    /// The caller is parked (in `recv`, or feeding a streamed body in `upload`), on this
    /// doorbell slot; taken by whoever wakes it.
    pub(super) waiting: Option<Slot>,
    /// The engine will send nothing more.
    closed: bool,
    /// The caller dropped its end (or canceled): messages would only pile up.
    reader_gone: bool,
    /// A streamed request body on its way from the caller's reader to the engine.
    pub(super) upload: Option<Upload>,
}

/// The queue of a streamed request body between the caller's thread (which reads the
/// caller's reader and pushes pieces) and the engine (whose `BodySource` pulls them):
/// plain data, kept under the mailbox's lock so that one doorbell wakes the
/// caller for either reason it may be parked (room in this queue, or a message). The
/// logic on both sides is in `upload`.
#[derive(Debug, Default)]
pub(super) struct Upload {
    /// Pieces read and not yet pulled.
    pub(super) pieces: VecDeque<Bytes>,
    /// Their total size, held under `Mailbox::limit`.
    pub(super) queued: usize,
    /// The reader ended (after the pieces queued).
    pub(super) ended: bool,
    /// The reader failed (after the pieces queued).
    pub(super) error: Option<io::Error>,
    /// Bumped when the engine rewinds the body for a resend: the caller starts reading
    /// again from the first byte, and pieces of an older generation are dropped.
    pub(super) generation: u32,
    /// The engine found the queue empty and waits for a `BodyReady`.
    pub(super) engine_waiting: bool,
    /// The engine dropped its side (the request ended): stop reading.
    pub(super) engine_gone: bool,
}

impl Mailbox {
    pub(super) fn new(limit: usize) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            // Room for the usual head, body piece and end without growing.
            state: Mutex::new(MailState {
                queue: VecDeque::with_capacity(4),
                ..MailState::default()
            }),
            id: AtomicU64::new(0),
            canceled: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            limit: limit.max(1),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, MailState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Parks the caller until the engine rings (`state.waiting` tells the engine side
    /// whom to ring); returns the lock again. May return for nothing: callers loop.
    pub(super) fn park<'a>(
        &'a self,
        mut state: MutexGuard<'a, MailState>,
    ) -> MutexGuard<'a, MailState> {
        // The ticket is taken under the lock: a ring after this point (the engine fills
        // the mailbox under the lock, then rings) cannot be missed.
        let ticket = Ticket::new();
        state.waiting = Some(ticket.slot());
        drop(state);
        ticket.sleep();
        let mut state = self.lock();
        state.waiting = None;
        state
    }

    /// Wakes the caller if `state` says it is parked (the lock is released first).
    pub(super) fn notify(&self, mut state: MutexGuard<'_, MailState>) {
        let wake = state.waiting.take();
        drop(state);
        if let Some(slot) = wake {
            doorbell::ring_one(slot);
        }
    }

    /// Takes the next message, if one is queued (under the caller's lock).
    pub(super) fn take_msg(state: &mut MailState) -> Option<Msg> {
        state.queue.pop_front()
    }

    /// Whether the engine closed the mailbox (under the caller's lock).
    pub(super) fn is_closed(state: &MailState) -> bool {
        state.closed
    }

    /// Engine thread: the request was submitted as `id`.
    pub(super) fn set_id(&self, id: RequestId) {
        self.id.store(id.0, Ordering::SeqCst);
    }

    /// The request's id, once the engine thread submitted it.
    pub(super) fn id(&self) -> Option<RequestId> {
        match self.id.load(Ordering::SeqCst) {
            0 => None,
            raw => Some(RequestId(raw)),
        }
    }

    /// Whether the caller canceled the request.
    pub(super) fn is_canceled(&self) -> bool {
        self.canceled.load(Ordering::SeqCst)
    }

    /// Caller side (any thread): cancels the request at once. The caller's next (or
    /// current) wait returns [`ErrorKind::Canceled`], whatever was queued before it, and
    /// nothing more is queued; the engine is told to cancel through `handle` when it
    /// has submitted the request, or sees the flag when it does (one of the two always
    /// happens: both sides write, then read the other's write, in `SeqCst` order).
    pub(super) fn cancel(&self, handle: &Handle) {
        let mut state = self.lock();
        if state.reader_gone {
            return; // the response is gone already: nothing to wake
        }
        state.queue.clear();
        state.queue.push_back(Msg::Failed(Error::msg(
            ErrorKind::Canceled,
            "canceled by its CancelToken",
        )));
        state.reader_gone = true;
        self.notify(state);
        self.canceled.store(true, Ordering::SeqCst);
        if let Some(id) = self.id() {
            let _ = handle.send(Command::Cancel(id));
        }
    }

    /// Engine side: queues `msg` without waking the caller (the engine wakes every
    /// mailbox it filled once, at the end of its turn, so a head, its body and its end
    /// usually cost one wake-up). `Err(())` when the caller is gone.
    pub(super) fn push(&self, msg: Msg) -> Result<(), ()> {
        let mut state = self.lock();
        if state.reader_gone {
            return Err(());
        }
        state.queue.push_back(msg);
        Ok(())
    }

    /// Engine side: queues a copy of `data`, a piece of the body, without waking the
    /// caller (see [`push`](Self::push)). A piece smaller than [`COALESCE_BYTES`] is
    /// appended to the last queued piece while that stays under the size, so that a
    /// body of tiny chunks is held as a few large buffers rather than one allocation and
    /// one queue slot per byte; a larger piece is queued as is (the one copy there is
    /// anyway, no extra one). `Err(())` when the caller is gone.
    pub(super) fn push_data(&self, data: &[u8]) -> Result<(), ()> {
        let mut state = self.lock();
        if state.reader_gone {
            return Err(());
        }
        if let Some(Msg::Data(last)) = state.queue.back_mut() {
            if last.len() + data.len() <= COALESCE_BYTES {
                last.extend_from_slice(data);
                return Ok(());
            }
        }
        state.queue.push_back(Msg::Data(data.to_vec()));
        Ok(())
    }

    /// Engine side: adds the caller to `peal` if it is parked (rung at the end of the
    /// turn, with every other caller of the turn).
    pub(super) fn wake_with(&self, peal: &mut Peal) {
        if let Some(slot) = self.lock().waiting.take() {
            peal.add(slot);
        }
    }

    /// Engine side: nothing more will come; wakes the caller now.
    pub(super) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.notify(state);
    }

    /// Engine side: queues the request's last message and closes the mailbox under one
    /// lock; returns the slot of the caller if it is parked, for the engine to ring.
    fn finish(&self, msg: Msg) -> Option<Slot> {
        let mut state = self.lock();
        if !state.reader_gone {
            state.queue.push_back(msg);
        }
        state.closed = true;
        state.waiting.take()
    }

    /// Caller side: the next message, parking until one comes; `None` once closed and
    /// empty.
    pub(super) fn recv(&self) -> Option<Msg> {
        let mut state = self.lock();
        loop {
            if let Some(msg) = state.queue.pop_front() {
                return Some(msg);
            }
            if state.closed {
                return None;
            }
            state = self.park(state);
        }
    }

    /// Caller side: the reader is gone; drop what is queued.
    pub(super) fn hang_up(&self) {
        let mut state = self.lock();
        state.reader_gone = true;
        state.queue.clear();
    }
}

/// The sending half the caller side keeps: commands plus the waker that interrupts
/// the engine's poll.
#[derive(Clone)]
pub(super) struct Handle {
    pub(super) tx: Sender<Command>,
    pub(super) waker: Arc<Waker>,
    pub(super) status: Arc<EngineStatus>,
}

impl Handle {
    /// Hands `cmd` to the engine. `Err` when the engine has stopped: the command may
    /// then never run, so a caller must not wait for its answer; the error says why.
    /// (A command that raced the stop may have run all the same; at a shutdown, calling
    /// it failed is the honest answer either way.)
    pub(super) fn send(&self, cmd: Command) -> Result<(), Error> {
        if let Err(refused) = self.tx.send(cmd) {
            // The engine thread is gone; dropping the command answers it.
            drop(refused);
            return Err(self.status.error());
        }
        // Pairs with the fence in `EngineStatus::stop`: either the engine thread, which
        // drains the channel after it stops, finds this command, or this load sees the
        // stop. Never neither, so a command cannot sit unanswered in the channel.
        fence(Ordering::SeqCst);
        if self.status.is_stopped() {
            return Err(self.status.error());
        }
        // Wake the engine only if it may be blocked in its poll: while it runs its turn
        // it looks at the channel before it blocks again (see `EngineStatus::may_sleep`),
        // and a system call per command is what a busy engine can least afford.
        if self.status.asleep.swap(false, Ordering::SeqCst) {
            // A failed wake means the engine is gone; the channel reports that next time.
            let _ = self.waker.wake();
        }
        Ok(())
    }
}

/// Whether the engine thread still runs, and if not, how it ended: shared by the engine
/// thread, which sets it once, and the callers, who read it to say why nothing came.
/// Also whether the engine may be blocked in its poll (and needs its waker to see a
/// command).
#[derive(Debug, Default)]
pub(super) struct EngineStatus {
    code: AtomicU8,
    /// Set by the engine thread before it may block, cleared by the first sender that
    /// then wakes it (see [`may_sleep`](Self::may_sleep) and [`Handle::send`]).
    asleep: AtomicBool,
}

impl EngineStatus {
    const RUNNING: u8 = 0;
    const STOPPED: u8 = 1;
    const PANICKED: u8 = 2;

    /// Engine side, once, before it drains the channel: the engine will process
    /// nothing more; `panicked` says whether it died or was shut down.
    pub(super) fn stop(&self, panicked: bool) {
        let code = if panicked {
            Self::PANICKED
        } else {
            Self::STOPPED
        };
        self.code.store(code, Ordering::SeqCst);
        // Pairs with the fence in `Handle::send`: the drain that follows sees every
        // command a caller enqueued without seeing this store.
        fence(Ordering::SeqCst);
    }

    /// Engine side, before a poll that may block: says so, then returns whether the
    /// poll may block — `false` when a command is already queued (`queued`, checked
    /// after the flag is set). Pairs with [`Handle::send`], which queues its command and
    /// then clears the flag, waking the engine if it was set: each side writes, then
    /// reads what the other wrote, in `SeqCst` order, so either the engine sees the
    /// command here or the sender sees the flag and wakes it.
    pub(super) fn may_sleep(&self, queued: impl FnOnce() -> bool) -> bool {
        self.asleep.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if queued() {
            self.asleep.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Engine side, after its poll returned: no sender needs to wake it until it says
    /// [`may_sleep`](Self::may_sleep) again.
    pub(super) fn awake(&self) {
        self.asleep.store(false, Ordering::Relaxed);
    }

    pub(super) fn is_stopped(&self) -> bool {
        self.code.load(Ordering::SeqCst) != Self::RUNNING
    }

    pub(super) fn is_panicked(&self) -> bool {
        self.code.load(Ordering::SeqCst) == Self::PANICKED
    }

    /// The error for a command or request the engine will never answer.
    pub(super) fn error(&self) -> Error {
        stopped_error(self.is_panicked())
    }
}

/// The error for work a stopped engine will never do: [`ErrorKind::EngineFailed`] if it
/// panicked, [`ErrorKind::PoolClosed`] if it was shut down.
pub(super) fn stopped_error(panicked: bool) -> Error {
    if panicked {
        Error::msg(ErrorKind::EngineFailed, "the engine thread panicked")
    } else {
        Error::msg(ErrorKind::PoolClosed, "the engine thread has stopped")
    }
}

/// Where a request's messages go, from the moment it is sent until the engine is done
/// with it.
///
/// Dropping it closes the caller's mailbox, wherever that happens: the engine finished,
/// failed or discarded the request; the engine stopped; the `Command::Send` carrying it
/// was dropped unprocessed (queued when the engine stopped, refused by a closed
/// channel); or the engine thread is unwinding from a panic. A caller therefore never
/// waits on a mailbox that nobody will close.
pub(super) struct Route {
    pub(super) reply: Arc<Mailbox>,
    /// The last message was delivered through [`end`](Self::end).
    ended: bool,
}

impl Route {
    pub(super) fn new(reply: Arc<Mailbox>) -> Route {
        Route {
            reply,
            ended: false,
        }
    }

    /// Delivers the request's last message (its end or its failure) and closes the
    /// mailbox, waking the caller now.
    pub(super) fn end(mut self, msg: Msg) {
        self.ended = true;
        if let Some(slot) = self.reply.finish(msg) {
            doorbell::ring_one(slot);
        }
    }

    /// Like [`end`](Self::end), but the caller is woken with the rest of the turn's
    /// callers, through `peal`.
    pub(super) fn end_in_turn(mut self, msg: Msg, peal: &mut Peal) {
        self.ended = true;
        if let Some(slot) = self.reply.finish(msg) {
            peal.add(slot);
        }
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        if self.ended {
            return; // closed by `end` or `end_in_turn`
        }
        // Unwinding from a panic of the engine thread: say so, rather than leave the
        // caller to guess from a bare close (the status is set only once the unwinding
        // is over, after the caller may already have looked).
        if std::thread::panicking() {
            let _ = self.reply.push(Msg::Failed(stopped_error(true)));
        }
        self.reply.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;

    fn send_command(reply: Route) -> Command {
        Command::Send {
            request: Box::new(Request::new(Body::empty())),
            opts: RequestOptions::default(),
            reply,
        }
    }

    /// A `Send` that never reaches the engine (dropped in the channel, or refused)
    /// closes its caller's mailbox: the caller wakes instead of waiting for ever.
    #[test]
    fn a_send_dropped_unprocessed_closes_its_mailbox() {
        let mailbox = Mailbox::new(16);
        let cmd = send_command(Route::new(Arc::clone(&mailbox)));
        let (tx, rx) = unbounded();
        tx.send(cmd).unwrap();
        drop(rx); // the engine thread is gone with the command still queued
        drop(tx);
        assert!(mailbox.recv().is_none());
    }

    /// A route dropped while the engine thread unwinds tells its caller the engine
    /// failed, not just that the mailbox closed.
    #[test]
    fn a_route_dropped_by_a_panic_reports_engine_failed() {
        let mailbox = Mailbox::new(16);
        let route = Route::new(Arc::clone(&mailbox));
        let outcome = std::thread::spawn(move || {
            let _route = route;
            panic!("engine bug");
        })
        .join();
        assert!(outcome.is_err());
        match mailbox.recv() {
            Some(Msg::Failed(e)) => assert_eq!(e.kind(), ErrorKind::EngineFailed),
            _ => panic!("expected Failed(EngineFailed)"),
        }
        assert!(mailbox.recv().is_none());
    }

    /// Tiny pieces are coalesced up to `COALESCE_BYTES`; a full-size piece is queued as
    /// is; the bytes come out in order.
    #[test]
    fn small_pieces_are_coalesced_and_large_ones_kept_whole() {
        let mailbox = Mailbox::new(1 << 20);
        for i in 0..COALESCE_BYTES + 10 {
            mailbox.push_data(&[i as u8]).unwrap();
        }
        mailbox.push_data(&[7; COALESCE_BYTES]).unwrap();
        mailbox.push_data(b"tail").unwrap();
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        mailbox.close();
        while let Some(msg) = mailbox.recv() {
            if let Msg::Data(d) = msg {
                sizes.push(d.len());
                all.extend_from_slice(&d);
            }
        }
        assert_eq!(sizes, [COALESCE_BYTES, 10, COALESCE_BYTES, 4]);
        let expected: Vec<u8> = (0..COALESCE_BYTES + 10)
            .map(|i| i as u8)
            .chain([7; COALESCE_BYTES])
            .chain(*b"tail")
            .collect();
        assert!(all == expected);
    }
}
