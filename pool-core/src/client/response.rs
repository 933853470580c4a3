//! What a caller gets back: a [`Response`] whose head has arrived, and its
//! [`ResponseBody`], which implements [`std::io::Read`] over the messages the engine puts
//! in the request's mailbox (decoding `gzip`/`deflate` on the way when the Client asked
//! for compression; see `decode`).
//!
//! # What this module owns
//!
//! The reader's side of the body: taking pieces off the mailbox, giving budget back
//! (resuming the engine when the buffered amount falls back under `body_buffer_limit`),
//! errors that keep their [`ErrorKind`] (through `Read` as an `io::Error` that
//! [`Error::from_io`] turns back, or directly from [`ResponseBody::read_chunk`],
//! [`Response::bytes`] and [`Response::text`]), and the body's share in the engine's
//! lifetime: until it has been read to its end (or failed, or been dropped) it keeps
//! the engine running; dropped unread, it sends `Discard` so the engine drains the rest
//! and reuses the connection. Also what the Client's layers learned on the way: the
//! final URL and the redirects that led to it.
//!
//! # What it deliberately does not do
//!
//! It does not send requests: a response is made by `Core::send` at the end of the
//! middleware chain, which hands over the mailbox through [`Response::new`]. It copies
//! nothing more than the one copy the engine made (decoding writes into the caller's
//! buffer).

use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{HeaderMap, StatusCode, Uri, Version};

use super::channel::{stopped_error, Command, Mailbox, Msg};
use super::engine_thread::EngineThread;
use crate::error::{Error, ErrorKind};
use crate::request::{RequestId, RequestInfo};

/// One redirect on the way to a [`Response`]: `url` answered `status` with a
/// `Location` that was followed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedirectHop {
    /// The URL that answered with the redirect.
    pub url: Uri,
    /// Its status (301, 302, 303, 307 or 308).
    pub status: StatusCode,
}

/// A response whose head has arrived; the body streams through [`ResponseBody`], and
/// `Response` reads it too ([`Read`]).
#[derive(Debug)]
pub struct Response {
    head: http::Response<()>,
    info: RequestInfo,
    url: Uri,
    redirects: Vec<RedirectHop>,
    body: ResponseBody,
}

impl Response {
    /// The response to request `id` for `url`, whose head and `info` have arrived: its
    /// body comes through `rx` from `engine`, which the body keeps running until it ends.
    pub(super) fn new(
        id: RequestId,
        head: http::Response<()>,
        info: RequestInfo,
        url: Uri,
        rx: Arc<Mailbox>,
        engine: Arc<EngineThread>,
    ) -> Response {
        Response {
            head,
            info,
            url,
            redirects: Vec::new(),
            body: ResponseBody {
                reader: Reader::Raw(RawBody {
                    id,
                    rx,
                    engine: Some(engine),
                    chunk: Vec::new(),
                    pos: 0,
                    state: BodyState::Open,
                    final_info: None,
                }),
                failed: None,
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

    /// Response headers. For a body the Client decoded, `Content-Encoding` and
    /// `Content-Length` are gone (they described the encoded bytes).
    pub fn headers(&self) -> &HeaderMap {
        self.head.headers()
    }

    /// Mutable headers (middleware that rewrites a response).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.head.headers_mut()
    }

    /// Whether the connection was reused, timings so far.
    pub fn info(&self) -> &RequestInfo {
        &self.info
    }

    /// The URL this response came from: the request's, or after redirects the last
    /// one followed.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The redirects followed to get here, in order (empty if none).
    pub fn redirects(&self) -> &[RedirectHop] {
        &self.redirects
    }

    /// Records that `hops` led to this response (the redirect layer).
    pub(super) fn set_redirects(&mut self, hops: Vec<RedirectHop>) {
        self.redirects = hops;
    }

    /// The body, to read with [`std::io::Read`] or [`ResponseBody::read_chunk`].
    pub fn body_mut(&mut self) -> &mut ResponseBody {
        &mut self.body
    }

    /// The head and the body apart.
    pub fn into_parts(self) -> (http::Response<()>, ResponseBody) {
        (self.head, self.body)
    }

    /// Reads the whole body. A failure keeps its kind (a timeout is
    /// [`ErrorKind::Timeout`], a decompression bomb [`ErrorKind::BodyTooLarge`], ...).
    ///
    /// Takes the response, as reqwest's does (and so that it is this method, not
    /// `Read::bytes`, that `resp.bytes()` calls where `std::io::Read` is in scope): read
    /// [`info`](Self::info) or the headers first, or use
    /// [`body_mut`](Self::body_mut)`().read_to_end(..)` to keep the response.
    pub fn bytes(mut self) -> Result<Vec<u8>, Error> {
        self.body.read_all()
    }

    /// Reads the whole body as UTF-8 text (invalid sequences replaced). Takes the
    /// response, like [`bytes`](Self::bytes).
    pub fn text(self) -> Result<String, Error> {
        let bytes = self.bytes()?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// Reads the whole body and parses it as JSON into `T` (the `json` feature). A body
    /// that is not JSON of that shape fails with [`ErrorKind::Decode`]. Takes the
    /// response, like [`bytes`](Self::bytes).
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes()?;
        serde_json::from_slice(&bytes).map_err(|e| Error::with_source(ErrorKind::Decode, e))
    }

    /// Turns the body into a decoding one (the compression layer), with the headers
    /// that described the encoded bytes removed.
    #[cfg(feature = "compression")]
    pub(super) fn decode(&mut self, coding: super::decode::Coding, limit: Option<u64>) {
        let headers = self.head.headers_mut();
        headers.remove(http::header::CONTENT_ENCODING);
        headers.remove(http::header::CONTENT_LENGTH);
        let reader = std::mem::replace(&mut self.body.reader, Reader::Empty);
        self.body.reader = match reader {
            Reader::Raw(raw) => {
                Reader::Decoded(Box::new(super::decode::Decoder::new(raw, coding, limit)))
            }
            other => other,
        };
    }
}

impl Read for Response {
    /// Reads the body (the same as `body_mut().read`).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.body.read(buf)
    }
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
///
/// Errors keep their kind: [`read_chunk`](Self::read_chunk) returns this crate's
/// [`Error`]; `Read::read` returns an `io::Error` ([`io::ErrorKind::TimedOut`] for the
/// timeouts) that [`Error::from_io`] turns back into it.
pub struct ResponseBody {
    reader: Reader,
    /// The kind of the failure already reported: later reads report it again.
    failed: Option<ErrorKind>,
}

/// The raw body, or the raw body behind a decoder.
// `Raw` is every response's variant: boxing it would cost an allocation per response to
// save bytes only in the rare ones (a decoded body is boxed instead).
#[allow(clippy::large_enum_variant)]
enum Reader {
    Raw(RawBody),
    #[cfg(feature = "compression")]
    Decoded(Box<super::decode::Decoder>),
    /// Only while a reader is being wrapped.
    #[cfg_attr(not(feature = "compression"), allow(dead_code))]
    Empty,
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ResponseBody");
        if let Some(raw) = self.raw() {
            d.field("id", &raw.id).field("state", &raw.state);
        }
        d.field("decoded", &self.is_decoded())
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    fn raw(&self) -> Option<&RawBody> {
        match &self.reader {
            Reader::Raw(raw) => Some(raw),
            #[cfg(feature = "compression")]
            Reader::Decoded(d) => d.raw(),
            Reader::Empty => None,
        }
    }

    /// Whether the Client is decoding this body (`gzip` or `deflate`).
    pub fn is_decoded(&self) -> bool {
        #[cfg(feature = "compression")]
        if let Reader::Decoded(_) = self.reader {
            return true;
        }
        false
    }

    /// Reuse facts and timings of the whole exchange (with `total`), once the body has
    /// been read to its end.
    pub fn final_info(&self) -> Option<&RequestInfo> {
        self.raw().and_then(|raw| raw.final_info.as_ref())
    }

    /// Reads the rest of the body into a vector; a failure keeps its kind.
    pub fn read_all(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.read_to_end(&mut out).map_err(Error::from_io)?;
        Ok(out)
    }

    /// The next piece of the body, as it came from the engine (no copy beyond the one
    /// the engine made; decoded bodies come in pieces of up to 16 KiB); `Ok(None)` at
    /// the end. Errors are this crate's, with their kind.
    ///
    /// ```no_run
    /// # fn f(client: &wirepool::Client) -> Result<(), wirepool::Error> {
    /// let mut resp = client.get("http://127.0.0.1:8080/big").send()?;
    /// let mut total = 0;
    /// while let Some(piece) = resp.body_mut().read_chunk()? {
    ///     total += piece.len();
    /// }
    /// # Ok(()) }
    /// ```
    pub fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if let Some(kind) = self.failed {
            return Err(Error::new(kind));
        }
        let result = match &mut self.reader {
            Reader::Raw(raw) => raw.next_piece(),
            #[cfg(feature = "compression")]
            Reader::Decoded(d) => {
                let mut buf = vec![0u8; 16 * 1024];
                match d.read(&mut buf) {
                    Ok(0) => Ok(None),
                    Ok(n) => {
                        buf.truncate(n);
                        Ok(Some(buf))
                    }
                    Err(e) => Err(Error::from_io(e)),
                }
            }
            Reader::Empty => Ok(None),
        };
        if let Err(e) = &result {
            self.failed = Some(e.kind());
        }
        result
    }
}

impl Read for ResponseBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(kind) = self.failed {
            return Err(Error::new(kind).into_io());
        }
        let result = match &mut self.reader {
            Reader::Raw(raw) => raw.read_into(out),
            #[cfg(feature = "compression")]
            Reader::Decoded(d) => d.read(out).map_err(Error::from_io),
            Reader::Empty => Ok(0),
        };
        result.map_err(|e| {
            self.failed = Some(e.kind());
            e.into_io()
        })
    }
}

/// The body as the engine delivers it: pieces off the mailbox.
pub(super) struct RawBody {
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

impl RawBody {
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

    /// Whether the body was read to its end.
    #[cfg_attr(not(feature = "compression"), allow(dead_code))]
    pub(super) fn is_done(&self) -> bool {
        self.state == BodyState::Done
    }

    /// Makes sure `self.chunk[self.pos..]` has bytes, taking the next message; `false`
    /// at the end.
    fn fill(&mut self) -> Result<bool, Error> {
        loop {
            if self.pos < self.chunk.len() {
                return Ok(true);
            }
            match self.state {
                BodyState::Done => return Ok(false),
                BodyState::Failed => return Err(Error::new(ErrorKind::Io)),
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
                    return Err(e);
                }
                Some(Msg::Head(..)) => {}
                None => {
                    let error = match &self.engine {
                        Some(engine) => engine.handle.status.error(),
                        None => stopped_error(false),
                    };
                    self.end(BodyState::Failed);
                    return Err(error);
                }
            }
        }
    }

    /// Copies body bytes into `out`.
    pub(super) fn read_into(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if out.is_empty() || !self.fill()? {
            return Ok(0);
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.chunk.len() {
            let len = self.chunk.len();
            self.chunk.clear();
            self.pos = 0;
            self.consumed(len);
        }
        Ok(n)
    }

    /// The rest of the current piece, or the next one, moved out whole.
    fn next_piece(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if !self.fill()? {
            return Ok(None);
        }
        let len = self.chunk.len();
        let mut piece = std::mem::take(&mut self.chunk);
        if self.pos > 0 {
            piece.drain(..self.pos);
        }
        self.pos = 0;
        self.consumed(len);
        Ok(Some(piece))
    }
}

impl Read for RawBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.read_into(out).map_err(Error::into_io)
    }
}

impl Drop for RawBody {
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
