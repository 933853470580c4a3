//! What a caller gets back: a [`Response`] whose head has arrived, and its
//! [`ResponseBody`], which implements [`std::io::Read`] over the messages the engine puts
//! in the request's mailbox.
//!
//! # What this module owns
//!
//! The reader's side of the body: taking pieces off the mailbox, giving budget back
//! (resuming the engine when the buffered amount falls back under `body_buffer_limit`),
//! turning an engine failure into an `io::Error` (and back, for [`Response::bytes`]), and
//! the body's share in the engine's lifetime: until it has been read to its end (or failed,
//! or been dropped) it keeps the engine running; dropped unread, it sends `Discard` so the
//! engine drains the rest and reuses the connection.
//!
//! # What it deliberately does not do
//!
//! It does not send requests: a response is made by `Core::send` at the end of the
//! middleware chain, which hands over the mailbox through [`Response::new`]. It
//! copies nothing more than the one copy the engine made.

use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{HeaderMap, StatusCode, Version};

use super::channel::{stopped_error, Command, Mailbox, Msg};
use super::engine_thread::EngineThread;
use crate::error::{Error, ErrorKind};
use crate::request::{RequestId, RequestInfo};

/// A response whose head has arrived; the body streams through [`ResponseBody`].
#[derive(Debug)]
pub struct Response {
    head: http::Response<()>,
    info: RequestInfo,
    body: ResponseBody,
}

impl Response {
    /// The response to request `id`, whose head and `info` have arrived: its body comes
    /// through `rx` from `engine`, which the body keeps running until it ends.
    pub(super) fn new(
        id: RequestId,
        head: http::Response<()>,
        info: RequestInfo,
        rx: Arc<Mailbox>,
        engine: Arc<EngineThread>,
    ) -> Response {
        Response {
            head,
            info,
            body: ResponseBody {
                id,
                rx,
                engine: Some(engine),
                chunk: Vec::new(),
                pos: 0,
                state: BodyState::Open,
                final_info: None,
            },
        }
    }

    /// Status code.
    pub fn status(&self) -> StatusCode {
        self.head.status()
    }

    /// HTTP version.
    pub fn version(&self) -> Version {
        self.head.version()
    }

    /// Response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.head.headers()
    }

    /// Whether the connection was reused, timings so far.
    pub fn info(&self) -> &RequestInfo {
        &self.info
    }

    /// The body, to read with [`std::io::Read`].
    pub fn body_mut(&mut self) -> &mut ResponseBody {
        &mut self.body
    }

    /// The head and the body apart.
    pub fn into_parts(self) -> (http::Response<()>, ResponseBody) {
        (self.head, self.body)
    }

    /// Reads the whole body.
    pub fn bytes(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.body.read_to_end(&mut out).map_err(into_error)?;
        Ok(out)
    }

    /// Reads the whole body as UTF-8 text (invalid sequences replaced).
    pub fn text(&mut self) -> Result<String, Error> {
        let bytes = self.bytes()?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

/// Turns the `io::Error` that `Read` returned back into our error where it was one.
fn into_error(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(ours) = inner.downcast::<Error>() {
                return *ours;
            }
        }
        return Error::new(ErrorKind::Io);
    }
    Error::with_source(ErrorKind::Io, e)
}

#[derive(Debug, PartialEq, Eq)]
enum BodyState {
    Open,
    Done,
    Failed,
}

/// A response body being received; implements [`std::io::Read`]. Dropping it before the
/// end lets the engine drain the rest (up to `drain_limit`) so the connection is reused.
///
/// Until it has been read to its end (or failed, or been dropped) it keeps the engine
/// running, even when every [`Client`](crate::Client) handle is gone; [`Client::shutdown`](crate::Client::shutdown) stops the
/// engine regardless, and the body then fails with [`ErrorKind::PoolClosed`].
pub struct ResponseBody {
    id: RequestId,
    rx: Arc<Mailbox>,
    /// The engine delivering this body; released once the body has ended, so that a
    /// finished response kept around does not keep the engine running.
    engine: Option<Arc<EngineThread>>,
    chunk: Vec<u8>,
    pos: usize,
    state: BodyState,
    /// Timings of the whole exchange, once the body ended.
    final_info: Option<RequestInfo>,
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    /// Reuse facts and timings of the whole exchange (with `total`), once the body has
    /// been read to its end.
    pub fn final_info(&self) -> Option<&RequestInfo> {
        self.final_info.as_ref()
    }

    /// Gives back `n` consumed bytes of budget; resumes the engine when this takes the
    /// buffered amount from above the limit to at or below it.
    fn consumed(&self, n: usize) {
        let before = self.rx.buffered.fetch_sub(n, Ordering::AcqRel);
        if before > self.rx.limit && before - n <= self.rx.limit {
            if let Some(engine) = &self.engine {
                let _ = engine.handle.send(Command::Resume(self.id));
            }
        }
    }

    /// The body has ended (done or failed): the engine owes it nothing more. If this
    /// was the engine's last owner, the engine stops here.
    fn end(&mut self, state: BodyState) {
        self.state = state;
        self.engine = None;
    }
}

impl Read for ResponseBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.chunk.len() {
                let n = out.len().min(self.chunk.len() - self.pos);
                out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
                self.pos += n;
                if self.pos == self.chunk.len() {
                    let len = self.chunk.len();
                    self.chunk.clear();
                    self.pos = 0;
                    self.consumed(len);
                }
                return Ok(n);
            }
            match self.state {
                BodyState::Done => return Ok(0),
                BodyState::Failed => return Err(io::Error::other(Error::new(ErrorKind::Io))),
                BodyState::Open => {}
            }
            match self.rx.recv() {
                Some(Msg::Data(data)) => {
                    self.chunk = data;
                    self.pos = 0;
                }
                Some(Msg::Done(info)) => {
                    self.final_info = Some(info);
                    self.end(BodyState::Done);
                }
                Some(Msg::Failed(e)) => {
                    self.end(BodyState::Failed);
                    let kind = if e.is_timeout() {
                        io::ErrorKind::TimedOut
                    } else {
                        io::ErrorKind::Other
                    };
                    return Err(io::Error::new(kind, e));
                }
                Some(Msg::Head(..)) => {}
                None => {
                    let error = match &self.engine {
                        Some(engine) => engine.handle.status.error(),
                        None => stopped_error(false),
                    };
                    self.end(BodyState::Failed);
                    return Err(io::Error::other(error));
                }
            }
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.rx.hang_up();
        if let Some(engine) = self.engine.take() {
            if self.state == BodyState::Open {
                let _ = engine.handle.send(Command::Discard(self.id));
            }
            // If this body was the engine's last owner, the engine stops here.
        }
    }
}
