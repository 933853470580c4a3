//! What a caller hands the pool, and what it gets back besides the body.
//!
//! Requests are `http::Request<Body>`: the types the Rust ecosystem already shares. The
//! body is held in memory ([`Body`]) so that the one safe retry (an idempotent request
//! that failed on a reused connection before any response byte) can send it again.
//! Per-request settings that override the pool's go in [`RequestOptions`]; the timings
//! and reuse facts of a finished exchange come back as [`RequestInfo`].

use std::fmt;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode, Version};

/// A request body held in memory (replayable for a retry).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Body {
    bytes: Vec<u8>,
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body::default()
    }

    /// The body's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Body({} bytes)", self.bytes.len())
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body { bytes }
    }
}

impl From<&[u8]> for Body {
    fn from(bytes: &[u8]) -> Body {
        Body {
            bytes: bytes.to_vec(),
        }
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body {
            bytes: s.into_bytes(),
        }
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body::from(s.as_bytes())
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::empty()
    }
}

/// Per-request settings that override the pool's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestOptions {
    /// Total timeout for this request instead of the configured `timeout`.
    pub timeout: Option<Duration>,
    /// An absolute deadline; the earlier of this and the timeout applies.
    pub deadline: Option<Instant>,
}

impl RequestOptions {
    /// Options with a total timeout.
    pub fn timeout(timeout: Duration) -> RequestOptions {
        RequestOptions {
            timeout: Some(timeout),
            ..RequestOptions::default()
        }
    }

    /// Options with an absolute deadline.
    pub fn deadline(deadline: Instant) -> RequestOptions {
        RequestOptions {
            deadline: Some(deadline),
            ..RequestOptions::default()
        }
    }
}

/// Identifies a request submitted to an [`Engine`](crate::Engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The id as a number (unique within its engine).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0 & 0xffff_ffff)
    }
}

/// How a request used the pool, and where its time went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The connection had served a request before this one.
    pub reused: bool,
    /// How long the reused connection had been idle.
    pub idle_for: Option<Duration>,
    /// Time spent in the host's wait queue (`max_conns_per_host` reached).
    pub queued: Duration,
    /// DNS lookup time, when this request dialled and the answer was not cached.
    pub dns: Option<Duration>,
    /// TCP connect time, when this request dialled.
    pub connect: Option<Duration>,
    /// From submission to the response head.
    pub head: Duration,
    /// From submission to the end of the body (zero until then).
    pub total: Duration,
    /// Resends after a failure on a reused connection.
    pub retries: u8,
    /// The connection that served the request: unique within its engine (connections
    /// are numbered from 1 as they are opened; a number is never given out twice).
    pub conn_id: u64,
}

/// Whether the engine may keep reading a response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep delivering body data.
    Continue,
    /// Stop reading this socket until [`Engine::resume`](crate::Engine::resume): the
    /// caller cannot take more data now (backpressure).
    Pause,
}

/// A response head as the engine delivers it: borrowed, nothing copied.
pub struct HeadView<'a> {
    pub(crate) head: &'a http1_codec::Head,
    pub(crate) parser: &'a http1_codec::ResponseParser,
    pub(crate) buf: &'a [u8],
}

impl<'a> HeadView<'a> {
    /// Status code.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// HTTP version of the response.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// Header fields in the order received (names as sent, values as raw bytes).
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.parser.headers(self.buf)
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Copies the headers into an `http::HeaderMap` (allocates).
    pub fn header_map(&self) -> HeaderMap {
        self.parser.header_map(self.buf)
    }
}

impl fmt::Debug for HeadView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadView")
            .field("status", &self.status())
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

/// Whether a request may be sent twice without changing its effect: the idempotent
/// methods of RFC 9110 §9.2.2, or any request carrying an `Idempotency-Key` header.
pub(crate) fn is_idempotent(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    ) || headers.contains_key("idempotency-key")
        || headers.contains_key("x-idempotency-key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotent_methods_and_key() {
        let none = HeaderMap::new();
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
            Method::TRACE,
        ] {
            assert!(is_idempotent(&m, &none), "{m}");
        }
        assert!(!is_idempotent(&Method::POST, &none));
        assert!(!is_idempotent(&Method::PATCH, &none));
        let mut keyed = HeaderMap::new();
        keyed.insert("idempotency-key", http::HeaderValue::from_static("abc"));
        assert!(is_idempotent(&Method::POST, &keyed));
    }
}
