//! The keep-alive verdict: may this connection carry another request once the current
//! response body has been read in full?
//!
//! Owns [`KeepAlive`] (the verdict, a small set of reasons), [`CloseReason`] (why not,
//! in words fit for stats and logs), [`ConnectionTokens`] (what a `Connection` field
//! said) and [`keep_alive`]. It does not know about drain limits, errors on the socket or
//! idle timeouts: the engine adds those; and it says nothing while the body is unread —
//! a verdict of "reusable" holds only after the decoder reports the body done.

use std::fmt;

use http::{HeaderMap, Version};

use crate::framing::{trim_ows, BodyFraming};

/// Why a connection cannot be reused. `Display` gives a short lowercase phrase.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The response carried `Connection: close`.
    ServerSentClose,
    /// An HTTP/1.0 response without `Connection: keep-alive`.
    Http10WithoutKeepAlive,
    /// The body ends at connection close, so the connection ends with it.
    CloseDelimitedBody,
    /// Our request carried `Connection: close`.
    RequestSentClose,
    /// `101 Switching Protocols`: the connection now speaks another protocol.
    Upgrade,
    /// A 2xx answer to `CONNECT`: the connection is now a tunnel.
    Tunnel,
}

impl CloseReason {
    const ALL: [CloseReason; 6] = [
        CloseReason::ServerSentClose,
        CloseReason::RequestSentClose,
        CloseReason::Http10WithoutKeepAlive,
        CloseReason::CloseDelimitedBody,
        CloseReason::Upgrade,
        CloseReason::Tunnel,
    ];

    fn bit(self) -> u8 {
        match self {
            CloseReason::ServerSentClose => 1,
            CloseReason::RequestSentClose => 1 << 1,
            CloseReason::Http10WithoutKeepAlive => 1 << 2,
            CloseReason::CloseDelimitedBody => 1 << 3,
            CloseReason::Upgrade => 1 << 4,
            CloseReason::Tunnel => 1 << 5,
        }
    }

    /// A short lowercase phrase, the same as `Display`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ServerSentClose => "server sent connection: close",
            CloseReason::Http10WithoutKeepAlive => "http/1.0 response without keep-alive",
            CloseReason::CloseDelimitedBody => "close-delimited body",
            CloseReason::RequestSentClose => "request sent connection: close",
            CloseReason::Upgrade => "protocol upgrade",
            CloseReason::Tunnel => "connect tunnel",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The keep-alive verdict: a set of [`CloseReason`]s; empty means reusable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeepAlive {
    reasons: u8,
}

impl KeepAlive {
    /// A verdict with no reasons to close: reusable.
    pub const REUSABLE: KeepAlive = KeepAlive { reasons: 0 };

    /// `true` when nothing forbids reusing the connection after the body is read.
    pub fn can_reuse(&self) -> bool {
        self.reasons == 0
    }

    /// The most important reason not to reuse, if any (server close first, then request
    /// close, HTTP/1.0, close-delimited body, upgrade, tunnel).
    pub fn reason(&self) -> Option<CloseReason> {
        self.reasons().next()
    }

    /// Every reason not to reuse, most important first.
    pub fn reasons(&self) -> impl Iterator<Item = CloseReason> {
        let bits = self.reasons;
        CloseReason::ALL
            .into_iter()
            .filter(move |r| bits & r.bit() != 0)
    }

    /// `true` when `reason` is among the reasons.
    pub fn has(&self, reason: CloseReason) -> bool {
        self.reasons & reason.bit() != 0
    }

    /// This verdict plus one more reason to close.
    #[must_use]
    pub fn with_reason(self, reason: CloseReason) -> Self {
        KeepAlive {
            reasons: self.reasons | reason.bit(),
        }
    }

    /// The verdict from the response alone: its version, its `Connection` tokens and
    /// its framing. This is what [`crate::response::HeadKind::Final`] carries; combine
    /// with the request side via [`KeepAlive::with_request_headers`].
    pub fn from_response(
        version: Version,
        response_connection: ConnectionTokens,
        framing: &BodyFraming,
    ) -> Self {
        let mut verdict = KeepAlive::REUSABLE;
        if response_connection.close {
            verdict = verdict.with_reason(CloseReason::ServerSentClose);
        }
        if version == Version::HTTP_10 && !response_connection.keep_alive {
            verdict = verdict.with_reason(CloseReason::Http10WithoutKeepAlive);
        }
        if *framing == BodyFraming::CloseDelimited {
            verdict = verdict.with_reason(CloseReason::CloseDelimitedBody);
        }
        verdict
    }

    /// This verdict plus [`CloseReason::RequestSentClose`] if the request's
    /// `Connection` field has a `close` token.
    #[must_use]
    pub fn with_request_headers(self, request_headers: &HeaderMap) -> Self {
        if ConnectionTokens::from_headers(request_headers).close {
            self.with_reason(CloseReason::RequestSentClose)
        } else {
            self
        }
    }
}

impl fmt::Debug for KeepAlive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.can_reuse() {
            return f.write_str("KeepAlive(reusable)");
        }
        f.debug_tuple("KeepAlive")
            .field(&self.reasons().collect::<Vec<_>>())
            .finish()
    }
}

/// The tokens of interest in a `Connection` field (RFC 9110 §7.6.1): a comma list,
/// compared case-insensitively, possibly spread over several fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConnectionTokens {
    /// `close` was present.
    pub close: bool,
    /// `keep-alive` was present.
    pub keep_alive: bool,
    /// `upgrade` was present.
    pub upgrade: bool,
}

impl ConnectionTokens {
    /// Folds one more `Connection` field value into the summary.
    #[must_use]
    pub fn add_value(mut self, value: &[u8]) -> Self {
        for token in value.split(|&b| b == b',').map(trim_ows) {
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if token.eq_ignore_ascii_case(b"upgrade") {
                self.upgrade = true;
            }
        }
        self
    }

    /// The tokens of every `Connection` field in `headers`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers
            .get_all(http::header::CONNECTION)
            .iter()
            .fold(ConnectionTokens::default(), |t, v| {
                t.add_value(v.as_bytes())
            })
    }
}

/// What a server announced in its `Keep-Alive` field: how long it keeps an idle
/// connection open (`timeout`, in seconds) and how many more requests it will take on
/// it (`max`), e.g. `Keep-Alive: timeout=5, max=99`.
///
/// The field is not in RFC 9110/9112; it comes from RFC 2068 §19.7.1.1 and is what
/// Apache, Node.js and many proxies send (MDN documents it). Its grammar is a comma list
/// of `name[=value]` parameters; `timeout` is a delta-seconds, `max` a count of
/// requests. Apache counts `max` down on every response (`max=100`, `max=99`, …): after
/// a response saying `max=M`, at most `M` more requests will be served.
///
/// It is advice, so parsing never fails: unknown parameters are skipped, a parameter
/// whose value is not a plain decimal number (optionally quoted) is ignored, and a
/// number too large for `u64` saturates. When a parameter appears more than once (in one
/// field or several), the smaller value is kept: the safer reading of a confused server.
///
/// ```
/// use http1_codec::keepalive::KeepAliveHint;
///
/// let hint = KeepAliveHint::default().add_value(b"timeout=5, max=1000");
/// assert_eq!((hint.timeout_secs, hint.max_requests), (Some(5), Some(1000)));
/// let hint = hint.add_value(br#"Timeout="2", foo=bar"#);
/// assert_eq!(hint.timeout_secs, Some(2));
/// assert_eq!(KeepAliveHint::default().add_value(b"timeout=-1"), KeepAliveHint::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeepAliveHint {
    /// `timeout=N`: the server closes a connection idle for `N` seconds.
    pub timeout_secs: Option<u64>,
    /// `max=M`: the server takes at most `M` more requests on this connection.
    pub max_requests: Option<u64>,
}

impl KeepAliveHint {
    /// Folds one more `Keep-Alive` field value into the hint.
    #[must_use]
    pub fn add_value(mut self, value: &[u8]) -> Self {
        for param in value.split(|&b| b == b',') {
            let mut parts = param.splitn(2, |&b| b == b'=');
            let name = trim_ows(parts.next().unwrap_or_default());
            let Some(number) = parts.next().and_then(parse_count) else {
                continue;
            };
            let slot = if name.eq_ignore_ascii_case(b"timeout") {
                &mut self.timeout_secs
            } else if name.eq_ignore_ascii_case(b"max") {
                &mut self.max_requests
            } else {
                continue;
            };
            *slot = Some(slot.map_or(number, |old| old.min(number)));
        }
        self
    }

    /// Whether the server announced nothing the pool can use.
    pub fn is_empty(&self) -> bool {
        self.timeout_secs.is_none() && self.max_requests.is_none()
    }
}

/// A parameter value as a count: decimal digits, optionally in double quotes, with
/// optional whitespace around; `None` for anything else. Saturates at `u64::MAX`.
fn parse_count(value: &[u8]) -> Option<u64> {
    let value = trim_ows(value);
    let digits = match value {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The full keep-alive verdict from both sides: the request's headers, and the
/// response's version, `Connection` tokens and body framing.
///
/// ```
/// use http1_codec::keepalive::{keep_alive, CloseReason, ConnectionTokens};
/// use http1_codec::framing::BodyFraming;
/// use http::{HeaderMap, Version};
///
/// let tokens = ConnectionTokens::default().add_value(b"Keep-Alive");
/// let verdict = keep_alive(&HeaderMap::new(), Version::HTTP_10, tokens, &BodyFraming::Length(3));
/// assert!(verdict.can_reuse());
///
/// let verdict = keep_alive(&HeaderMap::new(), Version::HTTP_11, tokens, &BodyFraming::CloseDelimited);
/// assert_eq!(verdict.reason(), Some(CloseReason::CloseDelimitedBody));
/// ```
pub fn keep_alive(
    request_headers: &HeaderMap,
    version: Version,
    response_connection: ConnectionTokens,
    framing: &BodyFraming,
) -> KeepAlive {
    KeepAlive::from_response(version, response_connection, framing)
        .with_request_headers(request_headers)
}

#[cfg(test)]
// Table tests: one tuple type per table reads better than a named type per table.
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn verdict_table() {
        use BodyFraming as F;
        use CloseReason as R;
        let v10 = Version::HTTP_10;
        let v11 = Version::HTTP_11;
        // (request Connection, version, response Connection values, framing, expected first reason)
        type Row = (
            Option<&'static str>,
            Version,
            &'static [&'static str],
            F,
            Option<R>,
        );
        let cases: &[Row] = &[
            (None, v11, &[], F::Length(1), None),
            (
                None,
                v11,
                &["close"],
                F::Length(1),
                Some(R::ServerSentClose),
            ),
            (None, v11, &["Close"], F::None, Some(R::ServerSentClose)),
            (
                None,
                v11,
                &["keep-alive, CLOSE"],
                F::Chunked,
                Some(R::ServerSentClose),
            ),
            (
                None,
                v11,
                &["foo", " close "],
                F::Chunked,
                Some(R::ServerSentClose),
            ),
            (None, v11, &["closed"], F::Chunked, None),
            (
                None,
                v10,
                &[],
                F::Length(1),
                Some(R::Http10WithoutKeepAlive),
            ),
            (None, v10, &["keep-alive"], F::Length(1), None),
            (
                None,
                v10,
                &["Keep-Alive"],
                F::CloseDelimited,
                Some(R::CloseDelimitedBody),
            ),
            (
                None,
                v11,
                &[],
                F::CloseDelimited,
                Some(R::CloseDelimitedBody),
            ),
            (
                Some("close"),
                v11,
                &[],
                F::Length(1),
                Some(R::RequestSentClose),
            ),
            (
                Some("x, Close"),
                v11,
                &[],
                F::None,
                Some(R::RequestSentClose),
            ),
            (Some("keep-alive"), v11, &[], F::None, None),
            (
                Some("close"),
                v11,
                &["close"],
                F::None,
                Some(R::ServerSentClose),
            ),
        ];
        for (req, version, resp, framing, want) in cases {
            let mut headers = HeaderMap::new();
            if let Some(v) = req {
                headers.insert(http::header::CONNECTION, HeaderValue::from_static(v));
            }
            let tokens = resp.iter().fold(ConnectionTokens::default(), |t, v| {
                t.add_value(v.as_bytes())
            });
            let verdict = keep_alive(&headers, *version, tokens, framing);
            assert_eq!(
                verdict.reason(),
                *want,
                "{req:?} {version:?} {resp:?} {framing:?}"
            );
            assert_eq!(verdict.can_reuse(), want.is_none());
        }
    }

    #[test]
    fn keep_alive_hint_table() {
        // (field values, timeout, max)
        let cases: &[(&[&str], Option<u64>, Option<u64>)] = &[
            (&[], None, None),
            (&["timeout=5, max=1000"], Some(5), Some(1000)),
            (&["timeout=5"], Some(5), None),
            (&["max=0"], None, Some(0)),
            (&["Timeout=5,MAX=3"], Some(5), Some(3)),
            (&[" timeout = 5 , max = 7 "], Some(5), Some(7)),
            (&[r#"timeout="15""#], Some(15), None),
            (&[r#"timeout="15"#], None, None),
            (&["timeout=0"], Some(0), None),
            (&["timeout=5, timeout=3"], Some(3), None),
            (
                &["timeout=3", "timeout=5, max=9", "max=4"],
                Some(3),
                Some(4),
            ),
            (&["timeout=-1, max=+2"], None, None),
            (&["timeout=1.5, max=0x10"], None, None),
            (&["timeout=, max"], None, None),
            (&["timeout", "=5"], None, None),
            (&["foo=bar, timeout=9, baz"], Some(9), None),
            (&["timeouts=9, maximum=2"], None, None),
            (&["timeout=99999999999999999999999"], Some(u64::MAX), None),
            (&["timeout=5;max=3"], None, None),
            (&[",,timeout=4,,"], Some(4), None),
        ];
        for (values, timeout, max) in cases {
            let hint = values
                .iter()
                .fold(KeepAliveHint::default(), |h, v| h.add_value(v.as_bytes()));
            assert_eq!(hint.timeout_secs, *timeout, "{values:?}");
            assert_eq!(hint.max_requests, *max, "{values:?}");
            assert_eq!(hint.is_empty(), timeout.is_none() && max.is_none());
        }
    }

    #[test]
    fn reasons_accumulate_and_display() {
        let v = KeepAlive::REUSABLE
            .with_reason(CloseReason::CloseDelimitedBody)
            .with_reason(CloseReason::ServerSentClose);
        assert!(v.has(CloseReason::CloseDelimitedBody));
        assert_eq!(
            v.reasons().map(|r| r.to_string()).collect::<Vec<_>>(),
            ["server sent connection: close", "close-delimited body"]
        );
        assert_eq!(format!("{:?}", KeepAlive::REUSABLE), "KeepAlive(reusable)");
    }
}
