//! Sans-IO HTTP/1.1 client codec: request encoder, response head parser, body decoders.
//!
//! This crate never touches a socket, a clock or a thread. Bytes go in as slices; what
//! comes out is bytes to send, events, and how many input bytes were used. That is what
//! lets every rule here be tested by table, by splitting the same bytes at every point,
//! and by fuzzing.
//!
//! ```text
//!  caller (the engine)                      http1-codec
//!  ───────────────────                      ───────────
//!  RequestHead (http types) ──────────────▶ request::encode_head ──▶ bytes to write
//!  body bytes ────────────────────────────▶ request::encode_chunk / encode_last_chunk
//!
//!  bytes read ─▶ read buffer ─────────────▶ response::ResponseParser::parse
//!                   │                          │  Ok(None): need more bytes
//!                   │                          ▼
//!                   │                  Head { status, head_len, kind }
//!                   │                          │  kind: Continue | SwitchingProtocols
//!                   │                          │      | Informational | Final { framing,
//!                   │                          │                           keep_alive }
//!                   │                          ▼  (framing::body_framing, RFC 9112 §6.3)
//!                   └── drop head_len ───▶ body::BodyDecoder::decode
//!                                              │  Decoded { consumed, data (a slice of
//!                                              ▼           the buffer), done }
//!                                      body bytes, end of body, trailers,
//!                                      keep-alive verdict: reuse or close
//! ```
//!
//! # Modules
//! - [`request`]: request line (origin, absolute and authority form), `Host`, header
//!   names in `Title-Case` (or lower-case), default fields, header injection checks, body framing (none, `Content-Length`, chunked with trailers),
//!   `Expect: 100-continue`.
//! - [`response`]: response heads via httparse, incremental, with limits (64 KiB, 100
//!   fields by default); header fields recorded as offsets into the caller's buffer.
//! - [`framing`]: the one function that decides where a body ends.
//! - [`body`]: length, chunked, close-delimited and empty body decoders.
//! - [`keepalive`]: may the connection carry another request, and if not, why.
//! - [`error`]: one `Copy` error type that names what was wrong and who is at fault.
//!
//! # Framing rules (RFC 9112 §6.3, in order)
//! 1. A response to `HEAD`, and any `1xx`, `204` or `304` response, has no body,
//!    whatever its headers say.
//! 2. A `2xx` response to `CONNECT` has no body: the connection becomes a tunnel.
//! 3. `Transfer-Encoding` with `Content-Length` is an error (the RFC allows guessing;
//!    a pool must not). `Transfer-Encoding` whose final coding is `chunked` → chunked;
//!    any other final coding (or any `Transfer-Encoding` in HTTP/1.0) → read until close.
//!    An empty `Transfer-Encoding`, or `chunked` applied twice, is an error.
//! 4. `Content-Length`: a list of identical values (`5, 5`, or two fields `5`) is one
//!    value; differing values, an empty, signed, non-numeric or overflowing value is an
//!    error.
//! 5. Otherwise the body is close-delimited, and the connection cannot be reused.
//!
//! Ambiguous framing is always an error, never a guess: that is how response smuggling
//! and pool poisoning start.
//!
//! # Walking one request through the codec
//! A `GET` is encoded, the response head arrives in two reads, and its chunked body is
//! decoded from the same buffer without copying.
//!
//! ```
//! use http1_codec::body::{BodyDecoder, Decoded};
//! use http1_codec::request::{encode_head, HeaderCase, RequestFraming, RequestHead, TargetForm};
//! use http1_codec::response::{HeadKind, HeadLimits, ResponseParser};
//! use http::{HeaderMap, Method, StatusCode, Uri};
//!
//! // 1. Encode the request head.
//! let uri: Uri = "http://example.com:8080/items?page=2".parse()?;
//! let mut out = Vec::new();
//! encode_head(&RequestHead {
//!     method: &Method::GET,
//!     uri: &uri,
//!     headers: &HeaderMap::new(),
//!     form: TargetForm::Origin,
//!     framing: RequestFraming::None,
//!     case: HeaderCase::Title, // canonical names: `Host`, `Content-Length`
//!     defaults: &[],           // fields sent unless `headers` has them (a User-Agent)
//! }, &mut out)?;
//! assert_eq!(out, b"GET /items?page=2 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
//!
//! // 2. The response head arrives in two reads; the caller appends to one buffer.
//! let mut parser = ResponseParser::new(HeadLimits::default());
//! let mut buf = Vec::new();
//! buf.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Enc");
//! assert_eq!(parser.parse(&buf, &Method::GET)?, None); // need more bytes
//! buf.extend_from_slice(b"oding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
//! let head = parser.parse(&buf, &Method::GET)?.expect("complete head");
//! assert_eq!(head.status, StatusCode::OK);
//! assert_eq!(parser.header(&buf, "content-type"), Some(&b"text/plain"[..]));
//! let HeadKind::Final { framing, keep_alive } = head.kind else { panic!("not final") };
//! buf.drain(..head.head_len);
//! parser.reset();
//!
//! // 3. Decode the body: each call hands back a slice of `buf` and what it consumed.
//! let mut decoder = BodyDecoder::new(framing);
//! let mut body = Vec::new();
//! loop {
//!     let Decoded { consumed, data, done } = decoder.decode(&buf)?;
//!     body.extend_from_slice(data); // a real caller hands the slice on, uncopied
//!     buf.drain(..consumed);
//!     if done || consumed == 0 {
//!         break;
//!     }
//! }
//! assert!(decoder.is_done());
//! assert_eq!(body, b"hello world");
//! assert!(keep_alive.can_reuse()); // HTTP/1.1, no `Connection: close`, body complete
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

pub mod body;
pub mod error;
pub mod framing;
pub mod keepalive;
pub mod request;
pub mod response;

pub use body::{BodyDecoder, ChunkLimits, Decoded, Remaining};
pub use error::{Culprit, Error, ErrorKind};
pub use framing::{body_framing, BodyFraming};
pub use keepalive::{keep_alive, CloseReason, ConnectionTokens, KeepAlive, KeepAliveHint};
pub use request::{
    encode_chunk, encode_head, encode_last_chunk, expects_continue, DefaultField, EncodedField,
    HeaderCase, RequestFraming, RequestHead, TargetForm,
};
pub use response::{Head, HeadKind, HeadLimits, ResponseParser, Span, MAX_HEADERS};
