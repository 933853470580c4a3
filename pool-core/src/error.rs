//! The one error type of `pool-core`.
//!
//! Every failure a request can meet ends up here as an [`Error`] with an [`ErrorKind`]
//! that says *what* failed (DNS, connect, which timeout, a protocol violation by the
//! server, ...) and [`Error::culprit`] that says *who* is at fault: the caller (an
//! invalid request), the peer (a malformed or hostile response), the environment
//! (network, resolver, deadlines) or, should the engine thread ever panic, wirepool
//! itself. [`Error::is_retry_safe`] tells whether sending the
//! same request again cannot repeat a side effect on the server.
//!
//! `Display` text is short and lowercase and does not repeat the source's message; walk
//! [`std::error::Error::source`] for the cause.

use std::fmt;
use std::io;

/// Who caused a failure.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Culprit {
    /// The caller: the request itself was invalid, or the caller canceled it.
    Caller,
    /// The server: it sent something malformed or hostile, or hung up mid-response.
    Peer,
    /// Neither: the network, the resolver, a deadline, the machine's limits.
    Environment,
    /// wirepool itself, or code it ran on the engine thread on the caller's behalf (a
    /// custom TLS certificate verifier, say): the engine thread panicked. A bug to
    /// report; see [`ErrorKind::EngineFailed`].
    Internal,
}

/// What went wrong with a request.
///
/// Match on it to decide what to do; the enum is `#[non_exhaustive]`, so keep a wildcard
/// arm:
///
/// ```
/// use wirepool::{Client, Culprit, ErrorKind};
///
/// // A port where nothing listens: the connect is refused.
/// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
/// let client = Client::new()?;
/// let err = client.get(format!("http://127.0.0.1:{port}/")).send().unwrap_err();
/// let what_to_do = match err.kind() {
///     ErrorKind::Dns | ErrorKind::Connect | ErrorKind::ConnectTimeout => "try another host",
///     _ if err.is_timeout() => "give it more time",
///     ErrorKind::Protocol => "the server is broken: report it",
///     _ => "give up",
/// };
/// assert_eq!(err.kind(), ErrorKind::Connect);
/// assert_eq!(err.culprit(), Culprit::Environment);
/// assert!(err.is_retry_safe()); // nothing was sent
/// assert_eq!(what_to_do, "try another host");
/// assert_eq!(err.to_string(), "connect failed"); // the cause is in source()
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request could not be sent as given: unsupported scheme, missing host, a header
    /// that would inject (CR, LF, NUL), a framing header that contradicts the body.
    /// Fix the request; retrying it unchanged fails the same way.
    InvalidRequest,
    /// The host name did not resolve. The resolver's message is in `source()`.
    Dns,
    /// The TLS handshake failed or the server's certificate was rejected (unknown
    /// issuer, expired, wrong host name, ...), or a TLS protocol error occurred later.
    /// The `tls_glue::Error` in `source()` says which. Not retried: certificate problems
    /// do not go away by asking again.
    Tls,
    /// `tls_handshake_timeout` passed before the TLS handshake finished. Nothing was sent.
    TlsHandshakeTimeout,
    /// No TCP connection could be made to any address of the host (refused,
    /// unreachable, out of file descriptors, ...). Nothing was sent.
    Connect,
    /// `connect_timeout` passed before a connection (DNS included) was established.
    /// Nothing was sent.
    ConnectTimeout,
    /// The HTTP proxy did not open the tunnel: it answered `CONNECT` with another status
    /// than 2xx (the source is a [`ProxyRefused`](crate::ProxyRefused) with the proxy's
    /// status line: 407 means it wants credentials, 403 that it refuses the
    /// destination), closed or reset the connection, or sent something that is not
    /// HTTP. Or the proxy configured for the request cannot be used (a `socks5://` URL
    /// in `ALL_PROXY`, say). Nothing of the request was sent.
    Proxy,
    /// `proxy_connect_timeout` passed before the proxy answered `CONNECT`. Nothing of
    /// the request was sent.
    ProxyConnectTimeout,
    /// The request was written but no response head arrived within
    /// `response_header_timeout`. The server may have acted on the request.
    ResponseHeaderTimeout,
    /// The request's total deadline (`timeout`, or its own deadline) passed: while
    /// waiting for a connection, sending, or reading the body.
    Timeout,
    /// The request waited `pool_wait_timeout` for a connection (the host had
    /// `max_conns_per_host` open, all busy) and got none. Nothing was sent: retrying
    /// later, or elsewhere, is safe. Told apart from [`ErrorKind::Timeout`] so that a
    /// saturated pool is not mistaken for a slow server.
    PoolWaitTimeout,
    /// The host already had `max_waiters_per_host` requests waiting for a connection;
    /// this one was refused at once, without waiting. Nothing was sent: shed the load,
    /// retry later, or raise `max_conns_per_host`.
    WaitQueueFull,
    /// The server broke HTTP/1.1: a malformed head, ambiguous body framing, a bad chunk,
    /// a truncated body, bytes where none may be. The connection was closed, never pooled.
    Protocol,
    /// The server closed or reset the connection before the response was complete.
    ConnectionClosed,
    /// Another I/O error on an established connection.
    Io,
    /// The request was canceled by the caller ([`CancelToken::cancel`](crate::CancelToken::cancel),
    /// or `Engine::cancel`), whatever state it was in: waiting for a connection,
    /// dialing, writing, waiting for the head or reading the body. A connection in the
    /// middle of the exchange was closed.
    Canceled,
    /// The request body could not be sent: its reader or [`BodySource`](crate::BodySource)
    /// failed (the I/O error is in `source()`), or gave fewer or more bytes than the
    /// length it declared. The connection was closed (the server cannot know where the
    /// request ended). Fix the body; the server may have seen part of it.
    RequestBody,
    /// A redirect was not followed: more than the policy allows, a loop, an `https` to
    /// `http` downgrade the policy does not allow, or a `Location` that is not a usable
    /// URL. The message in `source()` says which; the redirect response itself is
    /// dropped.
    Redirect,
    /// A response body could not be decoded: corrupt `gzip`/`deflate` data, or (with the
    /// `json` feature) JSON that does not fit the type asked for.
    Decode,
    /// A compressed response body decoded to more than `max_decoded_body_bytes` (a
    /// decompression bomb, or a limit set too low for this response).
    BodyTooLarge,
    /// The client or engine shut down while the request was in flight, or the request
    /// was sent after it had shut down (`Client::shutdown`).
    PoolClosed,
    /// A setting was refused when the client or engine was built (zero where zero
    /// cannot work, NaN, beyond what the system accepts). The source names the setting
    /// and says what is allowed. Fix the configuration.
    InvalidConfig,
    /// The engine thread panicked: a bug in wirepool, or in code it ran on the engine
    /// thread for the caller (a custom TLS certificate verifier, say). Every request in
    /// flight, every body still arriving and every later call on the same `Client`
    /// (`send`, `stats`) fails with this kind instead of hanging; the pool's sockets
    /// are closed. The request may or may not have reached the server. Build a new
    /// `Client` to go on, and please report the panic message (printed by the panic
    /// hook) as a bug.
    EngineFailed,
}

impl ErrorKind {
    /// Lowercase text used by `Display`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Dns => "dns lookup failed",
            ErrorKind::Connect => "connect failed",
            ErrorKind::Tls => "tls error",
            ErrorKind::TlsHandshakeTimeout => "tls handshake timed out",
            ErrorKind::ConnectTimeout => "connect timed out",
            ErrorKind::Proxy => "proxy refused or failed the tunnel",
            ErrorKind::ProxyConnectTimeout => "timed out waiting for the proxy's CONNECT answer",
            ErrorKind::ResponseHeaderTimeout => "timed out waiting for the response head",
            ErrorKind::Timeout => "request timed out",
            ErrorKind::PoolWaitTimeout => "timed out waiting for a connection",
            ErrorKind::WaitQueueFull => "too many requests waiting for a connection",
            ErrorKind::Protocol => "protocol error from server",
            ErrorKind::ConnectionClosed => "connection closed by server",
            ErrorKind::Io => "i/o error",
            ErrorKind::Canceled => "request canceled",
            ErrorKind::RequestBody => "request body failed",
            ErrorKind::Redirect => "redirect not followed",
            ErrorKind::Decode => "response body could not be decoded",
            ErrorKind::BodyTooLarge => "decoded response body too large",
            ErrorKind::PoolClosed => "pool closed",
            ErrorKind::InvalidConfig => "invalid setting",
            ErrorKind::EngineFailed => "engine thread panicked",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failed request: a kind, an optional source, and whether resending is safe.
pub struct Error {
    kind: ErrorKind,
    source: Option<Source>,
    /// True when no byte of the request reached the server, or the request is idempotent.
    retry_safe: bool,
}

impl Error {
    /// A new error of `kind` with no source.
    pub fn new(kind: ErrorKind) -> Error {
        Error {
            kind,
            source: None,
            retry_safe: matches!(
                kind,
                ErrorKind::Dns
                    | ErrorKind::Connect
                    | ErrorKind::ConnectTimeout
                    | ErrorKind::PoolWaitTimeout
                    | ErrorKind::WaitQueueFull
                    | ErrorKind::Proxy
                    | ErrorKind::ProxyConnectTimeout
            ),
        }
    }

    /// A new error of `kind` caused by `source`.
    pub fn with_source(kind: ErrorKind, source: impl Into<Source>) -> Error {
        Error {
            source: Some(source.into()),
            ..Error::new(kind)
        }
    }

    pub(crate) fn retry_safe(mut self, safe: bool) -> Error {
        self.retry_safe = safe;
        self
    }

    /// What failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Who is at fault: the caller, the peer (server) or the environment.
    pub fn culprit(&self) -> Culprit {
        match self.kind {
            ErrorKind::InvalidRequest
            | ErrorKind::Canceled
            | ErrorKind::InvalidConfig
            | ErrorKind::RequestBody => Culprit::Caller,
            ErrorKind::Protocol
            | ErrorKind::ConnectionClosed
            | ErrorKind::Tls
            | ErrorKind::Redirect
            | ErrorKind::Decode
            | ErrorKind::BodyTooLarge => Culprit::Peer,
            ErrorKind::EngineFailed => Culprit::Internal,
            _ => Culprit::Environment,
        }
    }

    /// Whether this is one of the timeouts.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::ConnectTimeout
                | ErrorKind::ResponseHeaderTimeout
                | ErrorKind::Timeout
                | ErrorKind::PoolWaitTimeout
                | ErrorKind::TlsHandshakeTimeout
                | ErrorKind::ProxyConnectTimeout
        )
    }

    /// Whether sending the same request again cannot repeat a side effect: nothing was
    /// sent (DNS, connect), or the request is idempotent.
    pub fn is_retry_safe(&self) -> bool {
        self.retry_safe
    }

    /// Our error back from an `io::Error`: the one a response body's
    /// [`Read`](std::io::Read) returned (which carries this crate's error inside, with its
    /// kind) comes back as it was; any other `io::Error` becomes [`ErrorKind::Io`] with
    /// it as the source. So code that reads a body through `Read` never downcasts:
    ///
    /// ```no_run
    /// use std::io::Read;
    /// # fn f(mut resp: wirepool::Response) {
    /// let mut buf = Vec::new();
    /// if let Err(e) = resp.read_to_end(&mut buf) {
    ///     let e = wirepool::Error::from_io(e);
    ///     eprintln!("{}: timeout? {}", e.kind(), e.is_timeout());
    /// }
    /// # }
    /// ```
    pub fn from_io(e: io::Error) -> Error {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(Ok(ours)) = e.into_inner().map(|inner| inner.downcast::<Error>()) {
                return *ours;
            }
            return Error::new(ErrorKind::Io);
        }
        Error::with_source(ErrorKind::Io, e)
    }

    /// This error as an `io::Error` (for [`Read`](std::io::Read) implementations): a
    /// timeout becomes [`io::ErrorKind::TimedOut`], anything else
    /// [`io::ErrorKind::Other`]; [`Error::from_io`] gets it back whole.
    pub fn into_io(self) -> io::Error {
        let kind = if self.is_timeout() {
            io::ErrorKind::TimedOut
        } else {
            io::ErrorKind::Other
        };
        io::Error::new(kind, self)
    }

    /// The underlying I/O error kind, when the source is an I/O error.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        self.source
            .as_ref()
            .and_then(|s| s.downcast_ref::<io::Error>())
            .map(io::Error::kind)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.field("retry_safe", &self.retry_safe).finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

impl From<http1_codec::Error> for Error {
    fn from(e: http1_codec::Error) -> Error {
        let kind = match e.culprit() {
            http1_codec::Culprit::Caller => ErrorKind::InvalidRequest,
            _ => ErrorKind::Protocol,
        };
        Error::with_source(kind, e)
    }
}

/// A plain message as an error source.
#[derive(Debug)]
pub(crate) struct Message(pub(crate) String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

/// The source of an [`ErrorKind::Proxy`] error when the proxy answered `CONNECT` with a
/// status other than 2xx: the status and the proxy's status line as it sent it.
///
/// ```no_run
/// # let client = wirepool::Client::new()?;
/// match client.get("https://blocked.example/").send() {
///     Err(e) if e.kind() == wirepool::ErrorKind::Proxy => {
///         let refused = std::error::Error::source(&e)
///             .and_then(|s| s.downcast_ref::<wirepool::ProxyRefused>());
///         if let Some(r) = refused {
///             eprintln!("proxy said {}", r.status_line()); // "HTTP/1.1 403 Forbidden"
///         }
///     }
///     _ => {}
/// }
/// # Ok::<(), wirepool::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRefused {
    status: http::StatusCode,
    status_line: Box<str>,
}

impl ProxyRefused {
    pub(crate) fn new(status: http::StatusCode, status_line: String) -> ProxyRefused {
        ProxyRefused {
            status,
            status_line: status_line.into_boxed_str(),
        }
    }

    /// The status the proxy answered `CONNECT` with.
    pub fn status(&self) -> http::StatusCode {
        self.status
    }

    /// The proxy's status line, e.g. `HTTP/1.1 407 Proxy Authentication Required`
    /// (control bytes replaced).
    pub fn status_line(&self) -> &str {
        &self.status_line
    }
}

impl fmt::Display for ProxyRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the proxy answered CONNECT with {:?}", self.status_line)
    }
}

impl std::error::Error for ProxyRefused {}

impl Error {
    /// An error of `kind` whose source is a plain message.
    pub(crate) fn msg(kind: ErrorKind, text: impl Into<String>) -> Error {
        Error::with_source(kind, Message(text.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn display_is_short_and_source_carries_detail() {
        let e = Error::with_source(
            ErrorKind::Connect,
            io::Error::from(io::ErrorKind::ConnectionRefused),
        );
        assert_eq!(e.to_string(), "connect failed");
        assert_eq!(e.io_kind(), Some(io::ErrorKind::ConnectionRefused));
        assert!(e.source().is_some());
        assert!(e.is_retry_safe());
        assert_eq!(e.culprit(), Culprit::Environment);
    }

    #[test]
    fn timeouts_are_timeouts() {
        for k in [
            ErrorKind::ConnectTimeout,
            ErrorKind::ResponseHeaderTimeout,
            ErrorKind::Timeout,
        ] {
            assert!(Error::new(k).is_timeout());
        }
        assert!(!Error::new(ErrorKind::Protocol).is_timeout());
        assert_eq!(Error::new(ErrorKind::Protocol).culprit(), Culprit::Peer);
        assert_eq!(
            Error::new(ErrorKind::InvalidRequest).culprit(),
            Culprit::Caller
        );
    }

    #[test]
    fn from_io_gives_back_our_error_and_wraps_others() {
        let ours = Error::msg(ErrorKind::BodyTooLarge, "over 10 bytes").into_io();
        assert_eq!(ours.kind(), io::ErrorKind::Other);
        let back = Error::from_io(ours);
        assert_eq!(back.kind(), ErrorKind::BodyTooLarge);
        assert_eq!(back.source().unwrap().to_string(), "over 10 bytes");
        let timeout = Error::new(ErrorKind::Timeout).into_io();
        assert_eq!(timeout.kind(), io::ErrorKind::TimedOut);
        assert_eq!(Error::from_io(timeout).kind(), ErrorKind::Timeout);
        let theirs = Error::from_io(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(theirs.kind(), ErrorKind::Io);
        assert_eq!(theirs.io_kind(), Some(io::ErrorKind::BrokenPipe));
    }

    #[test]
    fn pool_waits_are_safe_to_retry_and_only_the_timeout_is_a_timeout() {
        let timeout = Error::new(ErrorKind::PoolWaitTimeout);
        let full = Error::new(ErrorKind::WaitQueueFull);
        assert!(timeout.is_retry_safe() && full.is_retry_safe());
        assert!(timeout.is_timeout() && !full.is_timeout());
        assert_eq!(timeout.culprit(), Culprit::Environment);
        assert_eq!(full.culprit(), Culprit::Environment);
        assert_ne!(
            timeout.to_string(),
            Error::new(ErrorKind::Timeout).to_string()
        );
    }

    #[test]
    fn a_panicked_engine_is_an_internal_failure_and_not_retry_safe() {
        let e = Error::new(ErrorKind::EngineFailed);
        assert_eq!(e.culprit(), Culprit::Internal);
        assert!(!e.is_retry_safe());
        assert!(!e.is_timeout());
        assert_eq!(e.to_string(), "engine thread panicked");
    }
}
