//! What a caller hands the pool, and what it gets back besides the body.
//!
//! Requests are `http::Request<Body>`: the types the Rust ecosystem already shares. The
//! body ([`Body`](crate::Body), in `body.rs`) is bytes in memory or a stream; the
//! engine keeps its write-side state in the request's bookkeeping ([`Req`]), so the one
//! safe retry (an idempotent request that failed on a reused connection before any
//! response byte) can send it again when it can start again. Per-request settings that
//! override the pool's go in [`RequestOptions`]; the timings and reuse facts of a
//! finished exchange come back as [`RequestInfo`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::PROXY_AUTHORIZATION;
use http::{HeaderMap, Method, Request};
use http1_codec::{DefaultField, RequestFraming, RequestHead, TargetForm};

use crate::body::Outgoing;
use crate::config::Config;
use crate::error::Error;
use crate::pool::HostId;
use crate::trace::Tracer;

/// Per-request settings that override the pool's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestOptions {
    /// Total timeout for this request instead of the configured `timeout`.
    pub timeout: Option<Duration>,
    /// An absolute deadline; the earlier of this and the timeout applies.
    pub deadline: Option<Instant>,
    /// The Client's compression layer: add `Accept-Encoding: gzip, deflate` unless the
    /// request has an `Accept-Encoding` or a `Range` (written by the encoder, so no
    /// header map is touched).
    pub(crate) ask_compressed: bool,
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
    /// `req#N`, N counting the engine's submissions from 1 (the id's generation; the
    /// slot it also holds is reused, so it would name many requests in a log).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0 >> 32)
    }
}

/// How a request used the pool, and where its time went: the timing summary of one
/// exchange, like curl's `-w` timings.
///
/// ```text
///  submitted ─┬─ queued ──┬─ dns ─ connect ─ tls ─┬─ (written) ─ first byte ─ head ─ … ─ end of body
///             │ (waiting  │  (a fresh connection) │
///             │  at max_conns_per_host)           │
///             ├──────────── wait ─────────────────┤
///             ├──────────────────────── ttfb ─────────────────────┤
///             ├──────────────────────── head ────────────────────────────┤
///             └──────────────────────── total ─────────────────────────────────────────┘
/// ```
///
/// `queued`, `dns`, `connect` and `tls` are the lengths of those phases; `wait`, `ttfb`,
/// `head` and `total` are measured from submission, so they include what came before.
/// After a retry (a stale reused connection), the phases are those of the attempt that
/// answered and the instants still count from the first submission. Times come from the
/// engine's clock, read once per loop turn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The connection had served a request before this one, or was waiting in the idle
    /// pool (opened by `prewarm`).
    pub reused: bool,
    /// How long the reused connection had been idle (zero when it was handed over
    /// straight from the request before).
    pub idle_for: Option<Duration>,
    /// Requests the connection carried before this one.
    pub conn_requests: u32,
    /// Time spent in the host's wait queue (`max_conns_per_host` reached).
    pub queued: Duration,
    /// From submission until the request had a connection ready to write to: the wait
    /// queue, and for a fresh connection its DNS, connect and TLS handshake.
    pub wait: Duration,
    /// DNS lookup time, when this request dialled and the answer was not cached.
    pub dns: Option<Duration>,
    /// TCP connect time, when this request dialled.
    pub connect: Option<Duration>,
    /// TLS handshake time, when this request dialled an `https` connection.
    pub tls: Option<Duration>,
    /// From submission to the first byte of the response (time to first byte).
    pub ttfb: Duration,
    /// From submission to the response head (parsed).
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

/// Where a submitted request is. It moves Pending → (Queued →) OnConn, back to
/// Pending for a retry, and leaves the engine's table when it finishes or fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Submitted (or to be retried); the next settle gives it a connection.
    Pending,
    /// In its host's FIFO wait queue (`max_conns_per_host` reached) since this instant.
    Queued { since: Instant },
    /// Carried by this connection (dialing it, or in its exchange), or promised it by a
    /// hand-off at the next settle.
    OnConn(usize),
}

/// A submitted request's bookkeeping: what the engine and the connection carrying it
/// know about it. Its total deadline lives here and only here.
pub(crate) struct Req {
    /// Method, URI and headers (the body moved into `body`).
    pub(crate) request: Request<()>,
    /// The body and how much of it went out on this attempt.
    pub(crate) body: Outgoing,
    pub(crate) host: HostId,
    pub(crate) place: Place,
    /// The total deadline (`timeout`, the request's own timeout, or its deadline).
    pub(crate) deadline: Option<Instant>,
    pub(crate) submitted: Instant,
    /// Safe to send twice (see [`is_idempotent`]).
    pub(crate) idempotent: bool,
    /// The request asks for `100 Continue` before its body.
    pub(crate) expect_continue: bool,
    /// A response byte arrived on the current attempt: resending is no longer safe.
    pub(crate) got_response_bytes: bool,
    /// A retry after a stale connection: it must go out on a fresh one.
    pub(crate) fresh_only: bool,
    /// Not a request: `Engine::prewarm` asks for a connection to be opened and pooled.
    pub(crate) warm: bool,
    /// The encoded head until a connection takes it (then the connection's old write
    /// buffer, emptied, to recycle); encoded again only for a retry.
    pub(crate) head: Vec<u8>,
    /// How the head is written (origin form, or absolute form to a proxy).
    pub(crate) form: HeadForm,
    pub(crate) info: RequestInfo,
    /// This request's own tracer ([`RequestTracer`](crate::trace::RequestTracer)).
    pub(crate) tracer: Option<Arc<dyn Tracer>>,
}

/// How a request head is written for the route it takes.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeadForm {
    /// `GET http://origin/path` for a proxy (plain `http://` through an HTTP proxy);
    /// else `GET /path`.
    pub(crate) absolute: bool,
    /// `Proxy-Authorization` to add (absolute form only: it is for the proxy, which
    /// reads this request; never inside a tunnel, where the origin would).
    pub(crate) proxy_auth: Option<std::sync::Arc<str>>,
    /// Add `Accept-Encoding: gzip, deflate` (the Client's compression layer asked for it:
    /// [`RequestOptions`]' `ask_compressed`).
    pub(crate) accept_encoding: bool,
}

impl Req {
    /// The connection carrying the request, if any.
    pub(crate) fn conn(&self) -> Option<usize> {
        match self.place {
            Place::OnConn(cid) => Some(cid),
            Place::Pending | Place::Queued { .. } => None,
        }
    }
}

/// Encodes `request`'s head in `form` (body framing from its method and `body`), with
/// the configured header-name case and default fields: a `User-Agent`, and through a
/// proxy with credentials `Proxy-Authorization` — each unless the caller set one
/// (theirs wins, as in Go).
pub(crate) fn encode_request_head(
    request: &Request<()>,
    body: &Outgoing,
    form: &HeadForm,
    config: &Config,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    // `Proxy-Authorization` is for the proxy, which reads this request only in
    // absolute form; never inside a tunnel, where the origin would read it.
    let proxy_auth = form.proxy_auth.as_deref().filter(|_| form.absolute);
    let mut defaults = [DefaultField::Field(&PROXY_AUTHORIZATION, b""); 3];
    let mut n = 0;
    if let Some(ua) = &config.encoded_user_agent {
        defaults[n] = DefaultField::Encoded(ua);
        n += 1;
    }
    if let (true, Some(offer)) = (form.accept_encoding, &config.encoded_accept_encoding) {
        if !request.headers().contains_key(http::header::RANGE) {
            // Written unless the request has its own Accept-Encoding (the defaults' rule).
            defaults[n] = DefaultField::Encoded(offer);
            n += 1;
        }
    }
    if let Some(auth) = proxy_auth {
        defaults[n] = DefaultField::Field(&PROXY_AUTHORIZATION, auth.as_bytes());
        n += 1;
    }
    let head = RequestHead {
        method: request.method(),
        uri: request.uri(),
        headers: request.headers(),
        form: if form.absolute {
            TargetForm::Absolute
        } else {
            TargetForm::Origin
        },
        framing: body.framing(request.method()),
        case: config.header_case,
        defaults: &defaults[..n],
    };
    http1_codec::encode_head(&head, out).map_err(Error::from)
}

/// Encodes the `CONNECT host:port` request that opens a tunnel to `host:port` through a
/// proxy, with `Proxy-Authorization` when the proxy has credentials, the configured
/// `User-Agent` (as curl and Go send one) and header-name case.
pub(crate) fn encode_connect_head(
    host: &str,
    port: u16,
    proxy_auth: Option<&str>,
    config: &Config,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let uri = http::Uri::builder()
        .authority(authority.as_str())
        .build()
        .map_err(|e| Error::with_source(crate::error::ErrorKind::InvalidRequest, e))?;
    let mut headers = HeaderMap::new();
    if let Some(auth) = proxy_auth {
        let value = http::HeaderValue::from_str(auth)
            .map_err(|e| Error::with_source(crate::error::ErrorKind::InvalidConfig, e))?;
        headers.insert(http::header::PROXY_AUTHORIZATION, value);
    }
    let ua: [DefaultField<'_>; 1];
    let defaults: &[DefaultField<'_>] = match &config.encoded_user_agent {
        Some(field) => {
            ua = [DefaultField::Encoded(field)];
            &ua
        }
        None => &[],
    };
    let head = RequestHead {
        method: &Method::CONNECT,
        uri: &uri,
        headers: &headers,
        form: TargetForm::Authority,
        framing: RequestFraming::None,
        case: config.header_case,
        defaults,
    };
    http1_codec::encode_head(&head, out).map_err(Error::from)
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
