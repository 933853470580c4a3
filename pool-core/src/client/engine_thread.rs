//! The engine thread: starting it ([`EngineThread::spawn`]), its loop ([`run_engine`]:
//! apply commands, run a turn, [`route`] events to mailboxes), catching its panic, and its
//! lifetime.
//!
//! # What this module owns
//!
//! * **Lifetime.** The engine runs while anyone may still need it. Every `Client` handle
//!   and every unfinished `ResponseBody` owns it (an `Arc<EngineThread>`), so a response
//!   can outlive the client that sent it, as with reqwest, ureq or Go; when the last of
//!   them is gone the engine shuts down, closes its sockets and its thread is joined.
//!   `Client::shutdown` is the hard stop: requests in flight and bodies still arriving
//!   fail with [`ErrorKind::PoolClosed`] at once.
//! * **Panics.** The engine thread catches its own panic: routes dropped while unwinding
//!   report [`ErrorKind::EngineFailed`], the shared status makes every later call (`send`,
//!   `stats`, a body read) say so, and commands still queued are failed before the thread
//!   ends.
//! * **Routing.** Engine events become messages in the caller's mailbox; each mailbox
//!   that got one is woken once at the end of the turn, and the body budget's upward
//!   crossing pauses the socket.
//!
//! # What it deliberately does not do
//!
//! It makes no decision about connections or requests: that is the [`Engine`]'s, reached
//! only through its public calls (`submit_with`, `poll`, `discard`, `resume`, ...). And it
//! knows nothing of responses or middleware; it speaks only the protocol of `channel`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{unbounded, Receiver, TryRecvError};

use super::channel::{stopped_error, Command, EngineStatus, Handle, Mailbox, Msg, Route};
use super::doorbell::Peal;
use crate::engine::{Engine, Event};
use crate::error::{Error, ErrorKind};
use crate::request::{Flow, RequestId};

/// The engine thread and the way to reach it.
///
/// Every `Client` handle and every open [`ResponseBody`](crate::ResponseBody) holds it through an `Arc`, so
/// the engine lives exactly as long as someone may still need it: a response can
/// outlive the client that sent it (a helper that builds a client, sends and returns
/// the response works whatever the body's size), and when the last owner goes the
/// engine is shut down and its thread joined.
pub(super) struct EngineThread {
    pub(super) handle: Handle,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The engine thread's name, as debuggers, `top -H` and panic messages show it, before
/// its index: `wirepool-engine-0`, `wirepool-engine-1`, ... (one per engine of a client).
const THREAD_NAME: &str = "wirepool-engine";

impl EngineThread {
    /// Starts a thread that runs `engine` until it is shut down (or panics), and returns
    /// the way to reach it; `index` is the engine's place among its client's engines,
    /// shown in the thread's name. `Err` only if the thread could not be spawned.
    pub(super) fn spawn(engine: Engine, index: usize) -> Result<EngineThread, Error> {
        let waker = engine.waker();
        let (tx, rx) = unbounded();
        let status = Arc::new(EngineStatus::default());
        let thread = std::thread::Builder::new()
            .name(format!("{THREAD_NAME}-{index}"))
            .spawn({
                let status = Arc::clone(&status);
                move || engine_thread(engine, rx, &status)
            })
            .map_err(|e| Error::with_source(ErrorKind::Io, e))?;
        Ok(EngineThread {
            handle: Handle { tx, waker, status },
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the engine (in-flight requests fail with `PoolClosed`, sockets close) and
    /// joins its thread. Idempotent; a concurrent caller returns once the thread is
    /// joined.
    pub(super) fn shutdown(&self) {
        // Refused when the engine has stopped already; the join below is then quick.
        let _ = self.handle.send(Command::Shutdown);
        let mut thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = thread.take() {
            // The engine thread never owns an `EngineThread`; should that ever change,
            // joining itself would deadlock, so it lets itself finish instead.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for EngineThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The body of the engine thread: runs the engine until it is shut down or panics,
/// then answers everything it will never process.
///
/// A panic is caught rather than left to end the thread silently: the routes of
/// requests in flight are dropped while unwinding (their callers get
/// [`ErrorKind::EngineFailed`]), the status tells later callers, and commands still
/// queued are failed here. A panic is a bug; this makes it an error, not a hang.
fn engine_thread(mut engine: Engine, rx: Receiver<Command>, status: &EngineStatus) {
    let run = panic::catch_unwind(AssertUnwindSafe(|| run_engine(&mut engine, &rx, status)));
    let panicked = run.is_err();
    status.stop(panicked);
    // Whatever is still queued will never run. A `Send` is failed in words; dropping any
    // other command answers it (a `Stats` caller sees its reply channel close).
    while let Ok(cmd) = rx.try_recv() {
        if let Command::Send { reply, .. } = cmd {
            reply.end(Msg::Failed(stopped_error(panicked)));
        }
    }
    // Sends from now on are refused by the closed channel.
    drop(rx);
    if panicked {
        // The engine stopped halfway through a change; dropping it closes its sockets.
        // Should that panic as well, nobody is left to tell: end the thread quietly.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(engine)));
    }
}

/// The engine loop: apply commands, run a turn, route events; until shutdown.
fn run_engine(engine: &mut Engine, rx: &Receiver<Command>, status: &EngineStatus) {
    let mut routes = Routes::default();
    // Mailboxes filled during the current turn, woken once when it ends.
    let mut filled = Filled::default();
    loop {
        let mut shutdown = false;
        loop {
            let cmd = match rx.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Empty) => break,
                // Every handle is gone without a Shutdown (cannot happen: the
                // `EngineThread` owning the last one sends it on drop); stop all the same.
                Err(TryRecvError::Disconnected) => {
                    shutdown = true;
                    break;
                }
            };
            match cmd {
                Command::Send {
                    request,
                    opts,
                    reply,
                } => match engine.submit_with(*request, opts) {
                    Ok(id) => {
                        reply.reply.set_id(id);
                        // Canceled before the id was known: the canceler could not name
                        // it, so it is canceled here (see `Mailbox::cancel`).
                        let canceled = reply.reply.is_canceled();
                        routes.insert(id, reply);
                        if canceled {
                            engine.cancel(id);
                        }
                    }
                    Err(e) => reply.end(Msg::Failed(e)),
                },
                Command::Prewarm { url, replies } => match engine.prewarm(&url, replies.len()) {
                    Ok(ids) => {
                        for (id, reply) in ids.into_iter().zip(replies) {
                            routes.insert(id, reply);
                        }
                    }
                    Err(e) => {
                        if let Some(first) = replies.into_iter().next() {
                            first.end(Msg::Failed(e));
                        }
                    }
                },
                Command::Discard(id) => {
                    routes.remove(&id);
                    engine.discard(id);
                }
                Command::Resume(id) => engine.resume(id),
                Command::Cancel(id) => {
                    engine.cancel(id);
                }
                Command::BodyReady(id) => engine.body_ready(id),
                Command::CloseIdle => engine.close_idle(),
                Command::Stats(reply) => {
                    let _ = reply.send(engine.stats());
                }
                Command::Shutdown => shutdown = true,
                Command::PanicForTests(after) => {
                    std::thread::sleep(after);
                    panic!("wirepool: engine thread panic requested by a test");
                }
            }
        }
        if shutdown {
            engine.shutdown(|ev| route(&mut routes, &mut filled, ev));
            filled.wake_all();
            return;
        }
        // Senders wake the engine only when it says it may block (`EngineStatus`): a
        // command queued before this is seen here, one queued after rings the waker.
        if !status.may_sleep(|| !rx.is_empty()) {
            continue;
        }
        let turn = engine.poll(None, |ev| route(&mut routes, &mut filled, ev));
        status.awake();
        filled.wake_all();
        if turn.is_err() {
            // The poller itself failed: nothing can make progress. Fail everything.
            engine.shutdown(|ev| route(&mut routes, &mut filled, ev));
            filled.wake_all();
            return;
        }
    }
}

/// Where each request's messages go, by the engine's request id.
type Routes = HashMap<RequestId, Route, BuildHasherDefault<IdHasher>>;

/// Hashes request ids: the engine's serial numbers, never chosen by a peer, so a
/// multiplication spreads them well enough and SipHash would be wasted work.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The callers to wake at the end of the turn: mailboxes that got a piece of a response,
/// and the doorbells of those whose response ended.
#[derive(Default)]
struct Filled {
    mailboxes: Vec<Arc<Mailbox>>,
    peal: Peal,
}

impl Filled {
    /// Remembers that `mailbox` got a message this turn. A response's pieces usually
    /// come one after another, so a repeat of the last entry is skipped: a body of many
    /// small chunks costs one entry per turn, not one per chunk.
    fn note(&mut self, mailbox: &Arc<Mailbox>) {
        if !self
            .mailboxes
            .last()
            .is_some_and(|last| Arc::ptr_eq(last, mailbox))
        {
            self.mailboxes.push(Arc::clone(mailbox));
        }
    }

    /// Wakes every caller whose mailbox got messages this turn, with one system call
    /// per doorbell word rather than one per caller (see `doorbell`).
    fn wake_all(&mut self) {
        for mailbox in self.mailboxes.drain(..) {
            mailbox.wake_with(&mut self.peal);
        }
        self.peal.ring();
    }
}

impl Drop for Filled {
    /// A turn cut short by a panic still wakes the callers whose mailboxes it closed.
    fn drop(&mut self) {
        self.wake_all();
    }
}

/// Hands an engine event to its request's caller. Mailboxes that got a message are
/// collected in `filled`, to be woken once after the turn.
fn route(routes: &mut Routes, filled: &mut Filled, ev: Event<'_>) -> Flow {
    match ev {
        Event::Head { id, head, info } => {
            let Some(r) = routes.get(&id) else {
                return Flow::Continue;
            };
            let mut resp = http::Response::new(());
            *resp.status_mut() = head.status();
            *resp.version_mut() = head.version();
            *resp.headers_mut() = head.header_map();
            if r.reply.push(Msg::Head(id, resp, *info)).is_ok() {
                filled.note(&r.reply);
            }
            Flow::Continue
        }
        Event::Data { id, data } => {
            let Some(r) = routes.get(&id) else {
                return Flow::Continue;
            };
            let n = data.len();
            // Counted before the bytes are queued: the reader may take them the moment
            // they are, and its subtraction must never find the counter below them.
            let before = r.reply.buffered.fetch_add(n, Ordering::AcqRel);
            if r.reply.push_data(data).is_err() {
                // The reader is gone and its Discard is on the way: stop reading until it
                // arrives, so the drain rule (not the speed of this loop) decides.
                return Flow::Pause;
            }
            filled.note(&r.reply);
            if before <= r.reply.limit && before + n > r.reply.limit {
                Flow::Pause
            } else {
                Flow::Continue
            }
        }
        Event::Done { id, info } => {
            if let Some(r) = routes.remove(&id) {
                // Ends the route and closes the mailbox; the caller wakes with the turn's.
                r.end_in_turn(Msg::Done(info), &mut filled.peal);
            }
            Flow::Continue
        }
        Event::Failed { id, error } => {
            if let Some(r) = routes.remove(&id) {
                r.end_in_turn(Msg::Failed(error), &mut filled.peal);
            }
            Flow::Continue
        }
    }
}
