//! Request bodies: what a caller may send ([`Body`]), the pull-based source the engine
//! reads a streamed body from ([`BodySource`], [`Pull`]), and the engine's write-side
//! state of one request's body (`Outgoing`).
//!
//! # What this module owns
//!
//! * **The kinds of body.** Bytes in memory ([`Body::from`] a `Vec<u8>`, a `String`, a
//!   `&'static [u8]`, a `&'static str`, [`Bytes`]): never copied, the engine writes
//!   them straight from where they are, and always replayable. A blocking reader
//!   ([`Body::from_reader`], [`Body::sized_reader`], [`Body::from_seekable`],
//!   [`Body::from_factory`], files): streamed, never read whole into memory; only the
//!   [`Client`](crate::Client) can send it, because reading it may block. A
//!   [`BodySource`]: a non-blocking source the [`Engine`](crate::Engine) pulls from.
//! * **Framing.** A body of known length goes out with `Content-Length`; one of unknown
//!   length with `Transfer-Encoding: chunked`. A streamed body that ends early or gives
//!   more than its declared length fails the request with [`ErrorKind::RequestBody`]
//!   (its connection is closed: the server cannot know where the request ended).
//! * **Replay.** The engine resends a request (an idempotent one that met a stale
//!   reused connection before any response byte) only if its body can start again:
//!   bytes always can; a reader only if the caller gave a way back to its first byte
//!   (a factory that opens it again, or `Seek`); a source only if
//!   [`BodySource::rewind`] says so. Otherwise the stale-connection error is returned
//!   and the request is never resent with a partial body.
//!
//! # How a streamed body flows, and why nothing blocks the engine thread
//!
//! ```text
//!   Client (caller thread)                          engine thread
//!   ──────────────────────                          ─────────────
//!   reader.read() ─► 64 KiB piece ─► upload queue ─► BodySource::pull() ─► writev
//!        ▲            (bounded by body_buffer_limit)     │ Pending: wait for
//!        └── parks while the queue is full ◄─────────────┘ Engine::body_ready(id)
//! ```
//!
//! The engine pulls a piece only when the socket can take it (the connection is
//! writable and the previous piece is out), so a slow server slows the pulls, and the
//! bounded queue then parks the caller's reader: backpressure end to end, with memory
//! bounded by the queue, one piece in the engine and one being read. The engine never
//! calls `Read`: a reader that blocks (a pipe, a socket, stdin) blocks the caller's
//! thread, which is waiting for the response anyway, never the engine thread that
//! serves every other request. `pull` never blocks; when it has nothing it answers
//! [`Pull::Pending`] and whoever fills it calls [`Engine::body_ready`](crate::Engine::body_ready).
//!
//! While a body is being written the connection keeps reading: a response that arrives
//! early (a `413`, a `401` instead of `100 Continue`) is delivered, the rest of the body
//! is not sent, the source is dropped and the connection is not pooled.
//!
//! # What it deliberately does not do
//!
//! It never touches a socket or a thread: the connection (`conn/write.rs`) writes what
//! [`Outgoing`] queues, and the Client's feeder (`client/upload.rs`) reads the caller's
//! reader. It does not compress request bodies.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http1_codec::RequestFraming;

use crate::error::{Error, ErrorKind};

/// A request body: bytes in memory, a blocking reader (streamed by the
/// [`Client`](crate::Client)), or a non-blocking [`BodySource`].
///
/// - **Bytes** (`Vec<u8>`, `String`, `&'static [u8]`, `&'static str`, [`Bytes`]) are
///   never copied: the engine writes them from where they are. Always replayable.
/// - **A reader** is streamed, never read whole into memory, on the caller's thread (the
///   engine thread never blocks on it): with `Content-Length` when its length is known
///   ([`sized_reader`](Self::sized_reader), files), chunked otherwise
///   ([`from_reader`](Self::from_reader)). A reader that ends early or fails fails the
///   request with [`ErrorKind::RequestBody`]. Replayable only if it can get back to its
///   first byte ([`from_factory`](Self::from_factory), [`from_path`](Self::from_path),
///   [`from_seekable`](Self::from_seekable), files).
/// - **A [`BodySource`]** is pulled by the engine without blocking; the way to stream a
///   body through the [`Engine`](crate::Engine) directly.
///
/// Replay matters once: an idempotent request that met a stale reused connection is
/// resent only if its body can start again; otherwise the stale connection's error is
/// returned and nothing is resent.
///
/// ```
/// use wirepool::Body;
///
/// let empty = Body::empty();
/// let json = Body::from(r#"{"a":1}"#);                 // &'static str: not copied
/// let owned = Body::from(vec![1u8, 2, 3]);             // Vec<u8>: moved, not copied
/// assert_eq!(owned.len(), Some(3));
/// let piped = Body::from_reader(std::io::repeat(b'x').take(10)); // chunked, streamed
/// assert_eq!(piped.len(), None);
/// assert!(!piped.is_replayable());
/// # use std::io::Read;
/// # let _ = (empty, json);
/// ```
pub struct Body {
    inner: Inner,
}

enum Inner {
    Bytes(Bytes),
    Reader(ReaderBody),
    Source(Box<dyn BodySource>),
}

/// A body read from a blocking reader: its declared length and how to (re)open it.
pub(crate) struct ReaderBody {
    pub(crate) len: Option<u64>,
    pub(crate) opener: Opener,
}

/// Something to read and seek (a file, a cursor).
pub(crate) trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Opens a reader again from its first byte (what makes a reader body replayable).
type Factory = dyn Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync;

/// How a reader body gets (back) to its first byte.
pub(crate) enum Opener {
    /// Read once; cannot start again.
    Once(Box<dyn Read + Send>),
    /// Seek back to where reading started.
    Seek {
        reader: Box<dyn ReadSeek>,
        start: Option<u64>,
    },
    /// Open a new reader each time.
    Factory {
        factory: Arc<Factory>,
        current: Option<Box<dyn Read + Send>>,
    },
}

impl Opener {
    /// Whether reading can start again from the first byte.
    pub(crate) fn is_replayable(&self) -> bool {
        !matches!(self, Opener::Once(_))
    }

    /// Gets ready to read from the first byte: the first time (`again` false) a seekable
    /// reader remembers where it is and a factory opens its reader; after that, a
    /// seekable reader seeks back and a factory opens a new one. `Ok(false)` when the
    /// reader cannot start again.
    pub(crate) fn start(&mut self, again: bool) -> io::Result<bool> {
        match self {
            Opener::Once(_) => Ok(!again),
            Opener::Seek { reader, start } => {
                match *start {
                    Some(at) => {
                        reader.seek(SeekFrom::Start(at))?;
                    }
                    None => *start = Some(reader.stream_position()?),
                }
                Ok(true)
            }
            Opener::Factory { factory, current } => {
                *current = Some(factory()?);
                Ok(true)
            }
        }
    }

    /// Reads the next bytes (after [`start`](Self::start)).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Opener::Once(r) => r.read(buf),
            Opener::Seek { reader, .. } => reader.read(buf),
            Opener::Factory { current, .. } => match current {
                Some(r) => r.read(buf),
                None => Err(io::Error::other("the body reader was not opened")),
            },
        }
    }
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body::from(Bytes::new())
    }

    /// A body of static bytes, sent without copying.
    pub fn from_static(bytes: &'static [u8]) -> Body {
        Body::from(Bytes::from_static(bytes))
    }

    /// A body copied from `bytes` (for a slice that is not `'static`; a `Vec<u8>` or
    /// [`Bytes`] is taken without a copy).
    pub fn copy_from_slice(bytes: &[u8]) -> Body {
        Body::from(Bytes::copy_from_slice(bytes))
    }

    /// A body streamed from `reader`, of unknown length: sent chunked
    /// (`Transfer-Encoding: chunked`), never read whole into memory. Read on the
    /// caller's thread by the [`Client`](crate::Client) (the [`Engine`](crate::Engine)
    /// refuses it: give it a [`BodySource`]). Not replayable: a request that meets a
    /// stale connection after part of it was sent fails instead of being resent.
    pub fn from_reader(reader: impl Read + Send + 'static) -> Body {
        Body::reader(None, Opener::Once(Box::new(reader)))
    }

    /// A body streamed from `reader`, of exactly `len` bytes: sent with
    /// `Content-Length: len`. At most `len` bytes are read; a reader that ends sooner
    /// fails the request with [`ErrorKind::RequestBody`]. Not replayable (see
    /// [`from_reader`](Self::from_reader)).
    pub fn sized_reader(reader: impl Read + Send + 'static, len: u64) -> Body {
        Body::reader(Some(len), Opener::Once(Box::new(reader)))
    }

    /// A body streamed from a reader that can seek (a file, a cursor), from its current
    /// position; `len` as for [`sized_reader`](Self::sized_reader), `None` for chunked.
    /// Replayable: a resend seeks back to where the first attempt started.
    pub fn from_seekable(reader: impl Read + Seek + Send + 'static, len: Option<u64>) -> Body {
        Body::reader(
            len,
            Opener::Seek {
                reader: Box::new(reader),
                start: None,
            },
        )
    }

    /// A body streamed from the reader `open` returns; `len` as for
    /// [`sized_reader`](Self::sized_reader), `None` for chunked. Replayable, and
    /// clonable ([`try_clone`](Self::try_clone), which a `307`/`308` redirect needs):
    /// each attempt calls `open` for a reader from the first byte.
    ///
    /// ```
    /// use wirepool::Body;
    /// let body = Body::from_factory(Some(5), || Ok(std::io::Cursor::new(b"hello".to_vec())));
    /// assert!(body.is_replayable());
    /// assert!(body.try_clone().is_some());
    /// ```
    pub fn from_factory<R, F>(len: Option<u64>, open: F) -> Body
    where
        R: Read + Send + 'static,
        F: Fn() -> io::Result<R> + Send + Sync + 'static,
    {
        let factory: Arc<Factory> =
            Arc::new(move || open().map(|r| Box::new(r) as Box<dyn Read + Send>));
        Body::reader(
            len,
            Opener::Factory {
                factory,
                current: None,
            },
        )
    }

    /// A body streamed from `file`, from its current position. A regular file is sent
    /// with `Content-Length` (its size less the position), anything else (a pipe, a
    /// terminal) chunked. Replayable by seeking back.
    pub fn from_file(mut file: File) -> io::Result<Body> {
        let len = file_len(&mut file)?;
        Ok(Body::from_seekable(file, len))
    }

    /// A body streamed from the file at `path`: opened now to learn its size and to
    /// fail early if it cannot be read, and again for each attempt (so it is replayable
    /// and clonable, for resends and `307`/`308` redirects). A file that changes size
    /// in between fails the request ([`ErrorKind::RequestBody`]).
    pub fn from_path(path: impl AsRef<Path>) -> io::Result<Body> {
        let path = path.as_ref().to_path_buf();
        let meta = File::open(&path)?.metadata()?;
        let len = meta.is_file().then_some(meta.len());
        Ok(Body::from_factory(len, move || File::open(&path)))
    }

    /// A body the engine pulls from without blocking (see [`BodySource`]).
    pub fn from_source(source: impl BodySource) -> Body {
        Body {
            inner: Inner::Source(Box::new(source)),
        }
    }

    fn reader(len: Option<u64>, opener: Opener) -> Body {
        Body {
            inner: Inner::Reader(ReaderBody { len, opener }),
        }
    }

    /// The body's length when it is known (sent as `Content-Length`); `None` for a
    /// streamed body of unknown length (sent chunked).
    pub fn len(&self) -> Option<u64> {
        match &self.inner {
            Inner::Bytes(b) => Some(b.len() as u64),
            Inner::Reader(r) => r.len,
            Inner::Source(s) => s.content_length(),
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The bytes of an in-memory body; `None` for a streamed one.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Bytes(b) => Some(b),
            Inner::Reader(_) | Inner::Source(_) => None,
        }
    }

    /// Whether the body is streamed (read from a reader or pulled from a source)
    /// rather than held in memory.
    pub fn is_streamed(&self) -> bool {
        !matches!(self.inner, Inner::Bytes(_))
    }

    /// Whether the body can be sent again from its first byte (see [`Body`]). A
    /// [`BodySource`] counts as not replayable here: whether it can rewind is its own
    /// answer ([`BodySource::rewind`]).
    pub fn is_replayable(&self) -> bool {
        match &self.inner {
            Inner::Bytes(_) => true,
            Inner::Reader(r) => r.opener.is_replayable(),
            Inner::Source(_) => false,
        }
    }

    /// A second body with the same bytes, without copying them: bytes bodies and
    /// factory bodies ([`from_factory`](Self::from_factory), [`from_path`](Self::from_path))
    /// can; a reader that can only be read once, a seekable reader (its position is
    /// shared) and a [`BodySource`] cannot.
    pub fn try_clone(&self) -> Option<Body> {
        match &self.inner {
            Inner::Bytes(b) => Some(Body::from(b.clone())),
            Inner::Reader(ReaderBody {
                len,
                opener: Opener::Factory { factory, .. },
            }) => Some(Body::reader(
                *len,
                Opener::Factory {
                    factory: Arc::clone(factory),
                    current: None,
                },
            )),
            Inner::Reader(_) | Inner::Source(_) => None,
        }
    }

    /// Whether [`try_clone`](Self::try_clone) can give a second body (without making it).
    pub(crate) fn can_clone(&self) -> bool {
        match &self.inner {
            Inner::Bytes(_) => true,
            Inner::Reader(r) => matches!(r.opener, Opener::Factory { .. }),
            Inner::Source(_) => false,
        }
    }

    /// Whether the body is read from a blocking reader (the Client streams it).
    pub(crate) fn is_reader(&self) -> bool {
        matches!(self.inner, Inner::Reader(_))
    }

    /// Takes a reader body out (the Client streams it); other bodies come back as they
    /// are.
    pub(crate) fn into_reader(self) -> Result<ReaderBody, Body> {
        match self.inner {
            Inner::Reader(r) => Ok(r),
            inner => Err(Body { inner }),
        }
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Bytes(b) => write!(f, "Body({} bytes)", b.len()),
            Inner::Reader(r) => match r.len {
                Some(n) => write!(f, "Body(reader, {n} bytes)"),
                None => f.write_str("Body(reader, chunked)"),
            },
            Inner::Source(s) => match s.content_length() {
                Some(n) => write!(f, "Body(source, {n} bytes)"),
                None => f.write_str("Body(source, chunked)"),
            },
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body {
            inner: Inner::Bytes(bytes),
        }
    }
}

impl From<Vec<u8>> for Body {
    /// Takes the vector as it is: no copy.
    fn from(bytes: Vec<u8>) -> Body {
        Body::from(Bytes::from(bytes))
    }
}

impl From<&'static [u8]> for Body {
    /// Borrows the static bytes: no copy. (For a shorter-lived slice use
    /// [`Body::copy_from_slice`].)
    fn from(bytes: &'static [u8]) -> Body {
        Body::from_static(bytes)
    }
}

impl<const N: usize> From<&'static [u8; N]> for Body {
    /// Borrows the static bytes: no copy.
    fn from(bytes: &'static [u8; N]) -> Body {
        Body::from_static(bytes)
    }
}

impl From<String> for Body {
    /// Takes the string's buffer: no copy.
    fn from(s: String) -> Body {
        Body::from(s.into_bytes())
    }
}

impl From<&'static str> for Body {
    /// Borrows the static text: no copy. (For a shorter-lived `&str`, pass
    /// `s.to_owned()`.)
    fn from(s: &'static str) -> Body {
        Body::from_static(s.as_bytes())
    }
}

impl From<File> for Body {
    /// Streams the file (see [`Body::from_file`]); if its size cannot be read it is
    /// sent chunked.
    fn from(mut file: File) -> Body {
        let len = file_len(&mut file).ok().flatten();
        Body::from_seekable(file, len)
    }
}

/// What is left to read of a regular file; `None` for a pipe, a terminal, a device.
fn file_len(file: &mut File) -> io::Result<Option<u64>> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let at = file.stream_position()?;
    Ok(Some(meta.len().saturating_sub(at)))
}

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::empty()
    }
}

/// What a [`BodySource`] answers when the engine asks for the next piece.
#[derive(Debug)]
pub enum Pull {
    /// The next bytes of the body (an empty piece is skipped).
    Data(Bytes),
    /// Nothing yet. The engine stops writing this request (the connection keeps
    /// reading, for an early response) until [`Engine::body_ready`](crate::Engine::body_ready)
    /// is called for it; the request's deadlines still run.
    Pending,
    /// The body is complete.
    End,
    /// The body cannot be read: the request fails with [`ErrorKind::RequestBody`]
    /// (this error as its source) and its connection is closed.
    Error(io::Error),
}

/// A request body the engine pulls from, piece by piece, on its own thread.
///
/// `pull` must never block: the engine thread serves every other request too. A source
/// fed from elsewhere (another thread reading a file or a pipe) answers
/// [`Pull::Pending`] when it has nothing, and whoever feeds it calls
/// [`Engine::body_ready`](crate::Engine::body_ready) when it has more. The engine pulls
/// only when the socket can take more, which is the backpressure.
///
/// ```
/// use wirepool::{Body, BodySource, Bytes, Pull};
///
/// /// Three pieces, then the end; can start again.
/// struct Pieces(usize);
/// impl BodySource for Pieces {
///     fn content_length(&self) -> Option<u64> { None } // unknown: sent chunked
///     fn pull(&mut self) -> Pull {
///         self.0 += 1;
///         match self.0 {
///             1..=3 => Pull::Data(Bytes::from_static(b"piece ")),
///             _ => Pull::End,
///         }
///     }
///     fn rewind(&mut self) -> bool { self.0 = 0; true }
/// }
/// let body = Body::from_source(Pieces(0));
/// assert_eq!(body.len(), None);
/// ```
pub trait BodySource: Send + 'static {
    /// The body's length if known (sent as `Content-Length`, and checked: more or fewer
    /// bytes fail the request); `None` sends it chunked.
    fn content_length(&self) -> Option<u64>;

    /// The next piece of the body, without blocking.
    fn pull(&mut self) -> Pull;

    /// Starts again from the first byte, for a resend after a stale connection;
    /// `false` (the default) if it cannot, and then the request is not resent.
    fn rewind(&mut self) -> bool {
        false
    }
}

/// The most chunk-size-line and CRLF bytes queued before one piece: `\r\n` ending the
/// previous chunk, up to 16 hex digits and `\r\n`, or the last chunk `0\r\n\r\n`.
const FRAME_BYTES: usize = 24;

/// How many empty pieces in a row a source may give before it is called broken.
const MAX_EMPTY_PULLS: usize = 1024;

/// What [`Outgoing::refill`] found.
#[derive(Debug)]
pub(crate) enum Refill {
    /// More bytes are queued.
    Ready,
    /// The source has nothing now (`Engine::body_ready` wakes the writer).
    Pending,
    /// The whole body (and its framing) is out.
    Done,
    /// The body failed; the request fails with this.
    Failed(Error),
}

/// The engine's write-side state of one request body: what is queued for the socket
/// (framing bytes, then a piece of payload), how much of the body went out on this
/// attempt, and whether it can start again.
///
/// An in-memory body (every request of the hot path) needs only the bytes and a
/// position; what a stream needs is boxed, so the request's bookkeeping stays small
/// (it is moved on every submit).
pub(crate) struct Outgoing {
    kind: OutKind,
}

/// The body in flight.
enum OutKind {
    /// In memory: written straight from here, from `pos`.
    Bytes { bytes: Bytes, pos: usize },
    /// Pulled piece by piece.
    Stream(Box<Stream>),
}

/// A streamed body in flight.
struct Stream {
    source: Box<dyn BodySource>,
    /// `Transfer-Encoding: chunked` (a streamed body of unknown length).
    chunked: bool,
    /// The length declared in `Content-Length` (`None` when chunked).
    declared: Option<u64>,
    /// Payload bytes taken from the source on this attempt.
    taken: u64,
    /// Framing bytes to write before the rest of `piece`: `frame[frame_pos..frame_len]`.
    frame: [u8; FRAME_BYTES],
    frame_pos: u8,
    frame_len: u8,
    /// The piece being written, and how much of it is out.
    piece: Bytes,
    piece_pos: usize,
    /// The source said `End` (for chunked bodies the last chunk is in `frame`).
    ended: bool,
    /// A piece was pulled on this attempt: a resend needs the source to rewind.
    pulled: bool,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            OutKind::Bytes { bytes, pos } => f
                .debug_struct("Outgoing")
                .field("len", &bytes.len())
                .field("pos", pos)
                .finish(),
            OutKind::Stream(s) => f
                .debug_struct("Outgoing")
                .field("chunked", &s.chunked)
                .field("declared", &s.declared)
                .field("taken", &s.taken)
                .field("ended", &s.ended)
                .finish_non_exhaustive(),
        }
    }
}

impl Outgoing {
    /// The engine's side of `body`. A reader body is refused: reading it may block,
    /// and the engine thread never blocks (the Client turns it into a source).
    pub(crate) fn new(body: Body) -> Result<Outgoing, Error> {
        let kind = match body.inner {
            Inner::Bytes(bytes) => OutKind::Bytes { bytes, pos: 0 },
            Inner::Source(source) => {
                let declared = source.content_length();
                OutKind::Stream(Box::new(Stream {
                    source,
                    chunked: declared.is_none(),
                    declared,
                    taken: 0,
                    frame: [0; FRAME_BYTES],
                    frame_pos: 0,
                    frame_len: 0,
                    piece: Bytes::new(),
                    piece_pos: 0,
                    ended: false,
                    pulled: false,
                }))
            }
            Inner::Reader(_) => {
                return Err(Error::msg(
                    ErrorKind::InvalidRequest,
                    "a body read from a blocking reader is sent by the Client; \
                     give the Engine a BodySource (Body::from_source)",
                ))
            }
        };
        Ok(Outgoing { kind })
    }

    /// The length sent as `Content-Length`; `None` for a chunked body.
    fn declared(&self) -> Option<u64> {
        match &self.kind {
            OutKind::Bytes { bytes, .. } => Some(bytes.len() as u64),
            OutKind::Stream(s) => s.declared,
        }
    }

    /// How the body is framed on the wire for a request with `method`.
    pub(crate) fn framing(&self, method: &Method) -> RequestFraming {
        match self.declared() {
            None => RequestFraming::Chunked,
            Some(0) if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {
                RequestFraming::None
            }
            Some(n) => RequestFraming::Length(n),
        }
    }

    /// Whether the body is known to be empty (nothing to hold back for
    /// `100 Continue`).
    pub(crate) fn is_empty(&self) -> bool {
        self.declared() == Some(0)
    }

    /// Bytes queued for the socket: framing first, then payload. Both empty means
    /// [`refill`](Self::refill) is due.
    pub(crate) fn queued(&self) -> (&[u8], &[u8]) {
        match &self.kind {
            OutKind::Bytes { bytes, pos } => (&[], &bytes[*pos..]),
            OutKind::Stream(s) => (
                &s.frame[usize::from(s.frame_pos)..usize::from(s.frame_len)],
                &s.piece[s.piece_pos..],
            ),
        }
    }

    /// `n` queued bytes were written.
    pub(crate) fn advance(&mut self, n: usize) {
        match &mut self.kind {
            OutKind::Bytes { pos, .. } => *pos += n,
            OutKind::Stream(s) => {
                let frame_left = usize::from(s.frame_len - s.frame_pos);
                let from_frame = n.min(frame_left);
                s.frame_pos += from_frame as u8;
                s.piece_pos += n - from_frame;
            }
        }
    }

    /// Queues the next piece when everything queued is out.
    pub(crate) fn refill(&mut self) -> Refill {
        match &mut self.kind {
            OutKind::Bytes { bytes, pos } => {
                if *pos < bytes.len() {
                    Refill::Ready
                } else {
                    Refill::Done
                }
            }
            OutKind::Stream(s) => s.refill(),
        }
    }

    /// Gets ready to send the body again from its first byte, for a resend. `false`
    /// when it cannot: a source that was pulled from and does not rewind.
    pub(crate) fn rewind(&mut self) -> bool {
        match &mut self.kind {
            OutKind::Bytes { pos, .. } => {
                *pos = 0;
                true
            }
            OutKind::Stream(s) => {
                let can = !s.pulled || s.source.rewind();
                if can {
                    s.taken = 0;
                    s.frame_pos = 0;
                    s.frame_len = 0;
                    s.piece = Bytes::new();
                    s.piece_pos = 0;
                    s.pulled = false;
                    s.ended = false;
                }
                can
            }
        }
    }
}

impl Stream {
    /// Pulls the next piece (with its chunk framing) when everything queued is out.
    fn refill(&mut self) -> Refill {
        if usize::from(self.frame_pos) < usize::from(self.frame_len)
            || self.piece_pos < self.piece.len()
        {
            return Refill::Ready;
        }
        if self.ended {
            return Refill::Done;
        }
        for _ in 0..MAX_EMPTY_PULLS {
            match self.source.pull() {
                Pull::Data(piece) if piece.is_empty() => continue,
                Pull::Data(piece) => {
                    let len = piece.len() as u64;
                    if let Some(declared) = self.declared {
                        if self.taken + len > declared {
                            return Refill::Failed(body_error(format!(
                                "the body gave more than its declared {declared} bytes"
                            )));
                        }
                    }
                    self.set_frame(FrameKind::Chunk(len));
                    self.taken += len;
                    self.piece = piece;
                    self.piece_pos = 0;
                    self.pulled = true;
                    return Refill::Ready;
                }
                Pull::Pending => return Refill::Pending,
                Pull::End => {
                    if let Some(declared) = self.declared {
                        if self.taken != declared {
                            return Refill::Failed(body_error(format!(
                                "the body ended after {} of its declared {declared} bytes",
                                self.taken
                            )));
                        }
                    }
                    self.ended = true;
                    self.piece = Bytes::new();
                    self.piece_pos = 0;
                    self.set_frame(FrameKind::Last);
                    return if self.frame_len > 0 {
                        Refill::Ready
                    } else {
                        Refill::Done
                    };
                }
                Pull::Error(e) => {
                    return Refill::Failed(Error::with_source(ErrorKind::RequestBody, e));
                }
            }
        }
        Refill::Failed(body_error(format!(
            "the body source gave {MAX_EMPTY_PULLS} empty pieces in a row"
        )))
    }

    /// Writes the chunked framing that goes before the next piece (nothing for a
    /// `Content-Length` body).
    fn set_frame(&mut self, kind: FrameKind) {
        self.frame_pos = 0;
        self.frame_len = 0;
        if !self.chunked {
            return;
        }
        let mut at = 0;
        let mut put = |bytes: &[u8], frame: &mut [u8; FRAME_BYTES]| {
            frame[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if self.taken > 0 {
            put(b"\r\n", &mut self.frame); // ends the previous chunk
        }
        match kind {
            FrameKind::Chunk(len) => {
                let mut digits = [0u8; 16];
                let mut i = digits.len();
                let mut n = len;
                loop {
                    i -= 1;
                    digits[i] = b"0123456789abcdef"[(n & 0xf) as usize];
                    n >>= 4;
                    if n == 0 {
                        break;
                    }
                }
                put(&digits[i..], &mut self.frame);
                put(b"\r\n", &mut self.frame);
            }
            FrameKind::Last => put(b"0\r\n\r\n", &mut self.frame),
        }
        self.frame_len = at as u8;
    }
}

/// What goes before the next piece of a chunked body.
enum FrameKind {
    /// A chunk of this many bytes.
    Chunk(u64),
    /// The last (empty) chunk and the end of the (empty) trailer section.
    Last,
}

fn body_error(text: String) -> Error {
    Error::msg(ErrorKind::RequestBody, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A scripted source: answers from the list, then `End`.
    struct Script(VecDeque<Pull>, Option<u64>);

    impl BodySource for Script {
        fn content_length(&self) -> Option<u64> {
            self.1
        }
        fn pull(&mut self) -> Pull {
            self.0.pop_front().unwrap_or(Pull::End)
        }
    }

    fn data(b: &'static [u8]) -> Pull {
        Pull::Data(Bytes::from_static(b))
    }

    /// Writes everything `out` queues, `step` bytes at a time, until it is done, pending
    /// or failed; returns the bytes and the last refill.
    fn drain(out: &mut Outgoing, step: usize) -> (Vec<u8>, Refill) {
        let mut wire = Vec::new();
        loop {
            match out.refill() {
                Refill::Ready => {}
                other => return (wire, other),
            }
            let (frame, piece) = out.queued();
            let all: Vec<u8> = frame.iter().chain(piece).copied().collect();
            let n = step.min(all.len());
            wire.extend_from_slice(&all[..n]);
            out.advance(n);
        }
    }

    #[test]
    fn chunked_framing_at_every_write_size() {
        for step in 1..40 {
            let pulls = [data(b"hello"), data(b""), data(&[b'x'; 26])];
            let mut out = Outgoing::new(Body::from_source(Script(pulls.into(), None))).unwrap();
            assert_eq!(out.framing(&Method::POST), RequestFraming::Chunked);
            let (wire, last) = drain(&mut out, step);
            assert!(matches!(last, Refill::Done), "{step}: {last:?}");
            let want = format!("5\r\nhello\r\n1a\r\n{}\r\n0\r\n\r\n", "x".repeat(26));
            assert_eq!(String::from_utf8(wire).unwrap(), want, "step {step}");
        }
    }

    #[test]
    fn an_empty_chunked_body_is_just_the_last_chunk() {
        let mut out = Outgoing::new(Body::from_source(Script(VecDeque::new(), None))).unwrap();
        let (wire, last) = drain(&mut out, 100);
        assert!(matches!(last, Refill::Done));
        assert_eq!(wire, b"0\r\n\r\n");
    }

    #[test]
    fn sized_sources_are_checked_against_their_length() {
        let exact = [data(b"abc"), data(b"de")];
        let mut out = Outgoing::new(Body::from_source(Script(exact.into(), Some(5)))).unwrap();
        assert_eq!(out.framing(&Method::PUT), RequestFraming::Length(5));
        let (wire, last) = drain(&mut out, 2);
        assert!(matches!(last, Refill::Done));
        assert_eq!(wire, b"abcde");

        let short = [data(b"abc")];
        let mut out = Outgoing::new(Body::from_source(Script(short.into(), Some(5)))).unwrap();
        match drain(&mut out, 9).1 {
            Refill::Failed(e) => assert_eq!(e.kind(), ErrorKind::RequestBody),
            other => panic!("{other:?}"),
        }
        let long = [data(b"abc"), data(b"def")];
        let mut out = Outgoing::new(Body::from_source(Script(long.into(), Some(5)))).unwrap();
        let (wire, last) = drain(&mut out, 9);
        assert!(matches!(last, Refill::Failed(ref e) if e.kind() == ErrorKind::RequestBody));
        assert_eq!(wire, b"abc", "nothing past the declared length is queued");
    }

    #[test]
    fn pending_and_errors_pass_through() {
        let pulls = [
            data(b"a"),
            Pull::Pending,
            Pull::Error(io::Error::other("disk")),
        ];
        let mut out = Outgoing::new(Body::from_source(Script(pulls.into(), None))).unwrap();
        let (wire, last) = drain(&mut out, 64);
        assert_eq!(wire, b"1\r\na");
        assert!(matches!(last, Refill::Pending));
        let (_, last) = drain(&mut out, 64);
        match last {
            Refill::Failed(e) => {
                assert_eq!(e.kind(), ErrorKind::RequestBody);
                assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "disk");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bytes_bodies_replay_and_pulled_sources_replay_only_if_they_rewind() {
        let mut out = Outgoing::new(Body::from_static(b"payload")).unwrap();
        assert_eq!(drain(&mut out, 3).0, b"payload");
        assert!(out.rewind());
        assert_eq!(drain(&mut out, 100).0, b"payload");

        let mut out = Outgoing::new(Body::from_source(Script([data(b"a")].into(), None))).unwrap();
        assert!(out.rewind(), "nothing pulled yet: nothing to undo");
        drain(&mut out, 100);
        assert!(!out.rewind(), "pulled and cannot rewind");
    }

    #[test]
    fn the_engine_refuses_a_blocking_reader() {
        let err = Outgoing::new(Body::from_reader(io::empty())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn reader_bodies_say_what_they_can_do() {
        let once = Body::from_reader(io::empty());
        assert!(!once.is_replayable() && once.try_clone().is_none());
        let seek = Body::from_seekable(io::Cursor::new(vec![1, 2]), Some(2));
        assert!(seek.is_replayable() && seek.try_clone().is_none());
        let factory = Body::from_factory(None, || Ok(io::empty()));
        assert!(factory.is_replayable() && factory.try_clone().is_some());
        let bytes = Body::from(vec![1, 2, 3]);
        assert_eq!(bytes.try_clone().unwrap().as_bytes(), Some(&[1, 2, 3][..]));
    }

    #[test]
    fn a_seekable_reader_starts_again_where_it_first_started() {
        let mut cursor = io::Cursor::new(b"skip:payload".to_vec());
        cursor.set_position(5);
        let mut opener = match Body::from_seekable(cursor, None).into_reader() {
            Ok(r) => r.opener,
            Err(_) => panic!("a reader body"),
        };
        for again in [false, true] {
            assert!(opener.start(again).unwrap());
            let mut buf = [0u8; 32];
            let n = opener.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"payload");
        }
    }
}
