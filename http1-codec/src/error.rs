//! The codec's one error type.
//!
//! Owns [`Error`], its [`ErrorKind`] (one variant per failure) and the [`Culprit`] that
//! says who caused it. It does not carry a source error, a message buffer or a backtrace:
//! the codec sees only bytes, so a `Copy` value that names what was wrong is all there is
//! to say, and it costs nothing on the hot path.

use std::fmt;

/// Something the codec refused: a malformed or hostile response, or a request that
/// cannot be written safely.
///
/// `Error` is `Copy` and compares by kind. Its `Display` text is lowercase and short, for
/// example `conflicting content-length and transfer-encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Error {
    kind: ErrorKind,
}

/// Who is at fault for an [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Culprit {
    /// The server sent bytes that are not a valid (or not a safely framed) response.
    /// The connection must be closed; its remaining bytes cannot be trusted.
    Peer,
    /// The caller asked for a request that cannot be written safely (header injection,
    /// a framing header set by hand, a target that does not fit the form). Nothing was
    /// written; the connection is unaffected.
    Caller,
}

/// What exactly went wrong. New kinds may be added in minor releases.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    // ---- peer: response head ----
    /// The response head did not end within `HeadLimits::max_head_bytes`. Close the
    /// connection; raise the limit only if the server is known to send huge heads.
    HeadTooLarge,
    /// The response head has more header fields than `HeadLimits::max_headers`.
    TooManyHeaders,
    /// The status line is malformed (status code not three digits, or below 100,
    /// missing space, bad reason phrase, leading empty line).
    InvalidStatusLine,
    /// The response does not start with `HTTP/1.0` or `HTTP/1.1`: not an HTTP/1.x peer.
    InvalidVersion,
    /// A header line is malformed: a name that is not a token, a value with control
    /// characters, a missing colon, a bare CR.
    InvalidHeader,
    /// A header line starts with whitespace: obsolete line folding (RFC 9112 §5.2) or
    /// whitespace between the status line and the first header. Rejected, never unfolded.
    ObsFold,
    // ---- peer: framing ----
    /// The response has both `Transfer-Encoding` and `Content-Length` (RFC 9112 §6.3
    /// rule 3). Refused rather than guessed: that is how responses get smuggled.
    ConflictingFraming,
    /// `Content-Length` values (in one list or in several fields) differ.
    ConflictingContentLength,
    /// A `Content-Length` value is empty, non-numeric, signed, or does not fit a `u64`.
    InvalidContentLength,
    /// `Transfer-Encoding` is empty, or applies `chunked` more than once.
    InvalidTransferEncoding,
    // ---- peer: chunked body ----
    /// A chunk-size line is malformed: no hex digits, an unexpected byte, or a bare LF.
    InvalidChunkSize,
    /// A chunk size does not fit a `u64`.
    ChunkSizeOverflow,
    /// Chunk extensions are longer than `ChunkLimits::max_extension_bytes`.
    ChunkExtensionTooLong,
    /// Chunk data is not followed by exactly CRLF.
    InvalidChunkTerminator,
    /// The trailer section is longer than `ChunkLimits::max_trailer_bytes` or has too
    /// many fields.
    TrailersTooLarge,
    /// A trailer field line is malformed (same rules as header lines; bare LF refused).
    InvalidTrailer,
    // ---- peer: end of stream ----
    /// The connection closed before the body was complete (a length or chunked body).
    /// The response is truncated; do not use it as if it were whole.
    UnexpectedEof,
    // ---- caller: request ----
    /// The request method is not a token.
    InvalidMethod,
    /// A header name is not a token.
    InvalidHeaderName,
    /// A header value contains CR, LF or NUL (header injection).
    InvalidHeaderValue,
    /// The URI does not fit the requested target form, or contains bytes that cannot
    /// appear in a request line.
    InvalidRequestTarget,
    /// There is no `Host` header and the URI has no authority to derive one from.
    MissingHost,
    /// The caller set `Transfer-Encoding`, or a `Content-Length` that differs from the
    /// framing (or a framing field in trailers). The encoder owns framing.
    FramingHeaderSet,
}

impl Error {
    /// Builds an error of the given kind.
    pub const fn new(kind: ErrorKind) -> Self {
        Error { kind }
    }

    /// What went wrong.
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Who is at fault: the peer (close the connection) or the caller (fix the request).
    pub const fn culprit(&self) -> Culprit {
        use ErrorKind::*;
        match self.kind {
            InvalidMethod | InvalidHeaderName | InvalidHeaderValue | InvalidRequestTarget
            | MissingHost | FramingHeaderSet => Culprit::Caller,
            _ => Culprit::Peer,
        }
    }

    /// `true` when the peer sent something invalid.
    pub const fn is_peer(&self) -> bool {
        matches!(self.culprit(), Culprit::Peer)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        use ErrorKind::*;
        match self {
            HeadTooLarge => "response head too large",
            TooManyHeaders => "too many response headers",
            InvalidStatusLine => "invalid status line",
            InvalidVersion => "invalid http version",
            InvalidHeader => "invalid response header",
            ObsFold => "obsolete line folding in response head",
            ConflictingFraming => "conflicting content-length and transfer-encoding",
            ConflictingContentLength => "conflicting content-length values",
            InvalidContentLength => "invalid content-length",
            InvalidTransferEncoding => "invalid transfer-encoding",
            InvalidChunkSize => "invalid chunk size line",
            ChunkSizeOverflow => "chunk size overflows u64",
            ChunkExtensionTooLong => "chunk extension too long",
            InvalidChunkTerminator => "chunk data not followed by crlf",
            TrailersTooLarge => "trailer section too large",
            InvalidTrailer => "invalid trailer field",
            UnexpectedEof => "connection closed before the body was complete",
            InvalidMethod => "invalid request method",
            InvalidHeaderName => "invalid request header name",
            InvalidHeaderValue => "request header value contains cr, lf or nul",
            InvalidRequestTarget => "invalid request target",
            MissingHost => "no host header and no uri authority",
            FramingHeaderSet => "framing header set by the caller",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_lowercase_and_names_the_problem() {
        let e = Error::new(ErrorKind::ConflictingFraming);
        assert_eq!(
            e.to_string(),
            "conflicting content-length and transfer-encoding"
        );
        assert_eq!(e.culprit(), Culprit::Peer);
        assert_eq!(
            Error::from(ErrorKind::FramingHeaderSet).culprit(),
            Culprit::Caller
        );
        assert!(!Error::new(ErrorKind::MissingHost).is_peer());
    }
}
