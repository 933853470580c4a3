//! Response heads: status line and header fields, parsed from the caller's buffer.
//!
//! Owns [`ResponseParser`] (limits, the reusable header-span storage and how far it has
//! already searched), [`Head`] (what a parsed head says) and [`HeadKind`] (interim,
//! upgrade or final, and for a final head its body framing and keep-alive verdict).
//! It does not read sockets, copy header bytes or decode bodies: header fields are
//! recorded as byte offsets into the caller's buffer, and the body is left for
//! [`crate::body::BodyDecoder`].
//!
//! # Contract
//! The caller appends bytes to one buffer and calls [`ResponseParser::parse`] with the
//! whole buffer (from the first byte of the head) after each read. `Ok(None)` means
//! "need more bytes"; the parser remembers how far it searched for the blank line so a
//! head trickling in byte by byte costs O(n), not O(n²). Once a [`Head`] is returned,
//! the caller consumes [`Head::head_len`] bytes, reads header fields with
//! [`ResponseParser::headers`] (from the same buffer, before consuming), and calls
//! [`ResponseParser::reset`] before the next head.
//!
//! # Interim responses
//! `100 Continue` is surfaced as [`HeadKind::Continue`] (the engine may now send the
//! body), `101` as [`HeadKind::SwitchingProtocols`] (the connection is no longer HTTP),
//! and every other 1xx (`102`, `103 Early Hints`, ...) as [`HeadKind::Informational`]:
//! surfaced, never skipped silently, so the caller decides (it normally consumes the head
//! and parses again).
//!
//! # Strictness
//! Line endings may be CRLF or a bare LF (as httparse accepts); everything else follows
//! httparse's default [`httparse::ParserConfig`]: no whitespace before the colon, no
//! obsolete line folding (refused as [`ErrorKind::ObsFold`] as soon as it is seen), names
//! must be tokens, values must not contain control characters other than HTAB. Leading
//! empty lines are refused. HTTP/1.0 and HTTP/1.1 only.

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

use crate::error::{Error, ErrorKind};
use crate::framing::{body_framing, BodyFraming, ContentLength, TransferEncoding};
use crate::keepalive::{CloseReason, ConnectionTokens, KeepAlive, KeepAliveHint};

/// Default limit on the size of a response head: 64 KiB. Larger than any sane server
/// sends (nginx's default buffer for a whole head is 4–8 KiB), small enough that a
/// hostile server cannot make a connection buffer grow without bound.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;

/// Default limit on the number of header fields in a response head: 100, as hyper uses.
pub const DEFAULT_MAX_HEADERS: usize = 100;

/// The most header fields any head may have, whatever [`HeadLimits::max_headers`] says:
/// 24 576, the most distinct names an [`http::HeaderMap`] holds. Past it `HeaderMap`
/// panics on insertion, so a parser that accepted more would hand
/// [`ResponseParser::header_map`] a head it cannot convert.
pub const MAX_HEADERS: usize = 24_576;

/// Limits applied while parsing a response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadLimits {
    /// The head (status line, fields, blank line) must fit in this many bytes, or parsing
    /// fails with [`ErrorKind::HeadTooLarge`].
    pub max_head_bytes: usize,
    /// At most this many header fields, or parsing fails with
    /// [`ErrorKind::TooManyHeaders`]. Values above [`MAX_HEADERS`] act as [`MAX_HEADERS`].
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

/// A byte range `start..end` in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The bytes of this span in `buf`, or an empty slice if `buf` is too short (a
    /// different buffer than the one parsed): never panics.
    pub fn get<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// `true` when the span is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: Version,
    /// The status code (100–999).
    pub status: StatusCode,
    /// How many bytes of the buffer the head used, blank line included. The body (or
    /// the next head) starts right after.
    pub head_len: usize,
    /// Interim, upgrade or final; for a final head, framing and keep-alive.
    pub kind: HeadKind,
    /// Where the reason phrase is in the buffer (may be empty).
    pub reason: Span,
    /// The response's `Connection` tokens.
    pub connection: ConnectionTokens,
    /// What the response's `Keep-Alive` fields announced (idle timeout, requests
    /// left), if anything: advice for the pool, never a reason to fail.
    pub keep_alive_hint: KeepAliveHint,
}

impl Head {
    /// The reason phrase, read from the buffer the head was parsed from.
    pub fn reason<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.reason.get(buf)
    }
}

/// What kind of head this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKind {
    /// `100 Continue`: the server wants the request body. Consume the head, send the
    /// body, parse again.
    Continue,
    /// `101 Switching Protocols`: the connection now speaks the protocol named in
    /// `Upgrade`; bytes after `head_len` belong to it. Never reusable for HTTP.
    SwitchingProtocols,
    /// Any other 1xx (`102 Processing`, `103 Early Hints`, unknown 1xx): surfaced so the
    /// caller can look at it; consume it and parse again.
    Informational,
    /// The final response head.
    Final {
        /// How the body is delimited (RFC 9112 §6.3, given the request method).
        framing: BodyFraming,
        /// The keep-alive verdict from the response side only (version, `Connection`,
        /// close-delimited body, CONNECT tunnel). Combine it with the request with
        /// [`KeepAlive::with_request_headers`] if the request may have sent
        /// `Connection: close`.
        keep_alive: KeepAlive,
    },
}

#[derive(Clone, Copy, Debug)]
struct FieldSpan {
    name: Span,
    value: Span,
}

/// Incremental response-head parser. Reuse one per connection.
///
/// Owns its limits, its header-span storage (reused across heads: no allocation per
/// head after the first) and its search position in the current head.
#[derive(Debug)]
pub struct ResponseParser {
    limits: HeadLimits,
    config: httparse::ParserConfig,
    /// Header fields of the last parsed head, as offsets into its buffer.
    fields: Vec<FieldSpan>,
    /// Reused storage for httparse's header array; always empty between calls.
    scratch: Vec<MaybeUninit<httparse::Header<'static>>>,
    /// Bytes `..searched` of the current buffer hold no end of head (and no folded line).
    searched: usize,
}

impl Default for ResponseParser {
    fn default() -> Self {
        ResponseParser::new(HeadLimits::default())
    }
}

impl ResponseParser {
    /// A parser with the given limits.
    pub fn new(limits: HeadLimits) -> Self {
        ResponseParser {
            limits,
            // httparse's defaults are the strict ones we want (no obs-fold, no space
            // before the colon); spelled out so a change of default cannot loosen us.
            config: {
                let mut c = httparse::ParserConfig::default();
                c.allow_obsolete_multiline_headers_in_responses(false)
                    .allow_spaces_after_header_name_in_responses(false)
                    .ignore_invalid_headers_in_responses(false);
                c
            },
            fields: Vec::new(),
            scratch: Vec::new(),
            searched: 0,
        }
    }

    /// The limits this parser applies.
    pub fn limits(&self) -> HeadLimits {
        self.limits
    }

    /// Parses a response head from the start of `buf`.
    ///
    /// `Ok(None)`: the head is not complete yet; append more bytes and call again with
    /// the whole buffer. `Ok(Some(head))`: the head uses `head.head_len` bytes. `Err`:
    /// the peer sent something invalid; close the connection. Errors are reported as
    /// early as they can be known (a buffer that cannot start with `HTTP/` fails at once;
    /// one that holds `max_head_bytes` bytes without a blank line fails with
    /// [`ErrorKind::HeadTooLarge`]).
    pub fn parse(&mut self, buf: &[u8], request_method: &Method) -> Result<Option<Head>, Error> {
        // Early checks look only inside the head limit, so that the error reported does
        // not depend on how the bytes were split across reads.
        let window = &buf[..buf.len().min(self.limits.max_head_bytes)];
        if let Some(b'\r' | b'\n') = window.first() {
            return Err(ErrorKind::InvalidStatusLine.into());
        }
        let prefix = &window[..window.len().min(5)];
        if !b"HTTP/".starts_with(prefix) {
            return Err(ErrorKind::InvalidVersion.into());
        }
        let Some(end) = self.find_head_end(buf)? else {
            return Ok(None);
        };
        let head_bytes = &buf[..end];
        self.fields.clear();
        let mut scratch = recycle(std::mem::take(&mut self.scratch));
        let result = self.parse_complete(buf, head_bytes, &mut scratch, request_method);
        scratch.clear();
        self.scratch = recycle(scratch);
        self.searched = 0;
        if result.is_err() {
            self.fields.clear();
        }
        result.map(Some)
    }

    /// Finds the end of the head (just past the blank line) in `buf`, resuming the
    /// search where the previous call stopped.
    fn find_head_end(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        let window = &buf[..buf.len().min(self.limits.max_head_bytes)];
        let mut at = if self.searched <= window.len() {
            self.searched
        } else {
            0
        };
        loop {
            let Some(offset) = window[at..].iter().position(|&b| b == b'\n') else {
                at = window.len();
                break;
            };
            let lf = at + offset;
            match (window.get(lf + 1), window.get(lf + 2)) {
                (Some(b'\n'), _) => return Ok(Some(lf + 2)),
                (Some(b'\r'), Some(b'\n')) => return Ok(Some(lf + 3)),
                (Some(b' ' | b'\t'), _) => return Err(ErrorKind::ObsFold.into()),
                (None, _) | (Some(b'\r'), None) => {
                    // The line after this LF has not arrived yet: look here again.
                    at = lf;
                    break;
                }
                _ => at = lf + 1,
            }
        }
        if !buf.is_empty() && buf.len() >= self.limits.max_head_bytes {
            return Err(ErrorKind::HeadTooLarge.into());
        }
        self.searched = at;
        Ok(None)
    }

    fn parse_complete<'b>(
        &mut self,
        buf: &'b [u8],
        head_bytes: &'b [u8],
        scratch: &mut Vec<MaybeUninit<httparse::Header<'b>>>,
        request_method: &Method,
    ) -> Result<Head, Error> {
        // A header line takes at least 3 bytes ("a:\n"), so this many slots always
        // suffice below the limit, and a huge configured limit does not allocate hugely.
        let slots = self
            .limits
            .max_headers
            .min(MAX_HEADERS)
            .min(head_bytes.len() / 3 + 1);
        scratch.resize_with(slots, MaybeUninit::uninit);
        let mut response = httparse::Response::new(&mut []);
        let status =
            match self
                .config
                .parse_response_with_uninit_headers(&mut response, head_bytes, scratch)
            {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => return Err(ErrorKind::InvalidHeader.into()),
                Err(e) => return Err(map_httparse_error(e).into()),
            };
        let head_len = status;

        let version = match response.version {
            Some(0) => Version::HTTP_10,
            Some(1) => Version::HTTP_11,
            _ => return Err(ErrorKind::InvalidVersion.into()),
        };
        let status = response
            .code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or(Error::new(ErrorKind::InvalidStatusLine))?;
        let reason = response
            .reason
            .map(|r| span_of(buf, r.as_bytes()))
            .unwrap_or_default();

        let mut transfer_encoding = TransferEncoding::default();
        let mut content_length = ContentLength::Absent;
        let mut connection = ConnectionTokens::default();
        let mut keep_alive_hint = KeepAliveHint::default();
        for field in response.headers.iter() {
            let name = field.name.as_bytes();
            self.fields.push(FieldSpan {
                name: span_of(buf, name),
                value: span_of(buf, field.value),
            });
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                transfer_encoding = transfer_encoding.add_value(field.value);
            } else if name.eq_ignore_ascii_case(b"content-length") {
                content_length = content_length.add_value(field.value);
            } else if name.eq_ignore_ascii_case(b"connection") {
                connection = connection.add_value(field.value);
            } else if name.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive_hint = keep_alive_hint.add_value(field.value);
            }
        }

        let kind = match status.as_u16() {
            100 => HeadKind::Continue,
            101 => HeadKind::SwitchingProtocols,
            102..=199 => HeadKind::Informational,
            _ => {
                let framing = body_framing(
                    request_method,
                    version,
                    status,
                    transfer_encoding,
                    content_length,
                )?;
                let mut keep_alive = KeepAlive::from_response(version, connection, &framing);
                if *request_method == Method::CONNECT && status.is_success() {
                    keep_alive = keep_alive.with_reason(CloseReason::Tunnel);
                }
                HeadKind::Final {
                    framing,
                    keep_alive,
                }
            }
        };
        Ok(Head {
            version,
            status,
            head_len,
            kind,
            reason,
            connection,
            keep_alive_hint,
        })
    }

    /// Header fields of the head last returned by [`parse`](Self::parse), read from
    /// that same buffer: `(name, value)` in the order received, names as sent (not
    /// lowercased). Fields whose spans do not fit `buf` come out empty.
    pub fn headers<'b>(&'b self, buf: &'b [u8]) -> impl Iterator<Item = (&'b str, &'b [u8])> + 'b {
        self.fields.iter().map(move |f| {
            let name = std::str::from_utf8(f.name.get(buf)).unwrap_or("");
            (name, f.value.get(buf))
        })
    }

    /// The first value of header `name` (case-insensitive) in the last parsed head.
    pub fn header<'b>(&'b self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.headers(buf)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// How many header fields the last parsed head had.
    pub fn header_count(&self) -> usize {
        self.fields.len()
    }

    /// The last parsed head's fields as an owned [`HeaderMap`]: the boundary conversion
    /// to the `http` crate. The fields' bytes are copied once, into one shared buffer
    /// that every value points into (one allocation for the values, not one each).
    /// Fields `http` would refuse cannot pass the parser, nor can more fields than a
    /// `HeaderMap` holds ([`MAX_HEADERS`]); if one did, it would be left out rather than
    /// panic.
    pub fn header_map(&self, buf: &[u8]) -> HeaderMap {
        let mut map =
            HeaderMap::try_with_capacity(self.fields.len().min(MAX_HEADERS)).unwrap_or_default();
        let start = self.fields.iter().map(|f| f.value.start).min().unwrap_or(0);
        let end = self.fields.iter().map(|f| f.value.end).max().unwrap_or(0);
        let Some(block) = buf.get(start..end) else {
            return map;
        };
        let block = Bytes::copy_from_slice(block);
        for f in &self.fields {
            let name = HeaderName::from_bytes(f.name.get(buf));
            let value = block
                .get(f.value.start - start..f.value.end - start)
                .map(|_| block.slice(f.value.start - start..f.value.end - start));
            if let (Ok(name), Some(value)) = (name, value) {
                if let Ok(value) = HeaderValue::from_maybe_shared(value) {
                    // `append` panics when the map is full; the parser's limit keeps it
                    // from filling.
                    let _ = map.try_append(name, value);
                }
            }
        }
        map
    }

    /// Forgets the last head and the search position. Call before parsing the next
    /// response (or the final head after an interim one).
    pub fn reset(&mut self) {
        self.fields.clear();
        self.searched = 0;
    }
}

/// The span of `part`, a sub-slice of `buf`, as offsets (empty span if it is not one).
fn span_of(buf: &[u8], part: &[u8]) -> Span {
    let base = buf.as_ptr() as usize;
    let start = (part.as_ptr() as usize).wrapping_sub(base);
    match start.checked_add(part.len()) {
        Some(end) if end <= buf.len() => Span { start, end },
        _ => Span::default(),
    }
}

fn map_httparse_error(e: httparse::Error) -> ErrorKind {
    match e {
        httparse::Error::Version => ErrorKind::InvalidVersion,
        httparse::Error::Status | httparse::Error::Token => ErrorKind::InvalidStatusLine,
        httparse::Error::TooManyHeaders => ErrorKind::TooManyHeaders,
        _ => ErrorKind::InvalidHeader,
    }
}

/// Turns an empty vector of headers borrowing one buffer into an empty vector borrowing
/// another, keeping its allocation: `map` over `IntoIter` with an output of the same
/// layout is collected in place by std (no unsafe here, no allocation in practice;
/// `scratch_storage_is_reused` checks it). The vector is empty, so `map` never runs.
fn recycle<'x, 'y>(
    v: Vec<MaybeUninit<httparse::Header<'x>>>,
) -> Vec<MaybeUninit<httparse::Header<'y>>> {
    let mut v = v;
    v.clear();
    v.into_iter().map(|_| MaybeUninit::uninit()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Result<Option<Head>, ErrorKind> {
        ResponseParser::default()
            .parse(bytes, &Method::GET)
            .map_err(|e| e.kind())
    }

    #[test]
    fn httparse_default_config_rejects_obs_fold() {
        // Our own scan reports ObsFold first; this proves httparse would refuse it too.
        let mut headers = [httparse::EMPTY_HEADER; 4];
        let mut response = httparse::Response::new(&mut headers);
        let r = httparse::ParserConfig::default()
            .parse_response(&mut response, b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n");
        assert!(r.is_err());
        assert_eq!(
            parse_all(b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"),
            Err(ErrorKind::ObsFold)
        );
        assert_eq!(
            parse_all(b"HTTP/1.1 200 OK\r\nA: b\r\n\tc\r\n\r\n"),
            Err(ErrorKind::ObsFold)
        );
    }

    #[test]
    fn head_table() {
        use ErrorKind::*;
        // (input, Ok(Some((status, head_len))) / Ok(None) / Err(kind))
        type Want = Result<Option<(u16, usize)>, ErrorKind>;
        let cases: &[(&[u8], Want)] = &[
            (b"HTTP/1.1 200 OK\r\n\r\n", Ok(Some((200, 19)))),
            (b"HTTP/1.1 200 OK\r\n\r\nbody", Ok(Some((200, 19)))),
            (b"HTTP/1.1 200 OK\n\n", Ok(Some((200, 17)))),
            (b"HTTP/1.1 200 OK\r\n", Ok(None)),
            (b"HTTP/1.1 200 OK\r\n\r", Ok(None)),
            (b"HTTP/1.1 404\r\n\r\n", Ok(Some((404, 16)))),
            (b"HTTP/1.1 200 \r\n\r\n", Ok(Some((200, 17)))),
            (b"HTTP/1.0 200 OK\r\n\r\n", Ok(Some((200, 19)))),
            (b"HTTP/1.2 200 OK\r\n\r\n", Err(InvalidVersion)),
            (b"HTTP/2 200\r\n\r\n", Err(InvalidVersion)),
            (b"ICY 200 OK\r\n\r\n", Err(InvalidVersion)),
            (b"HTTP/1.1 20 OK\r\n\r\n", Err(InvalidStatusLine)),
            (b"HTTP/1.1 099 OK\r\n\r\n", Err(InvalidStatusLine)),
            (b"HTTP/1.1 2000 OK\r\n\r\n", Err(InvalidStatusLine)),
            (b"\r\nHTTP/1.1 200 OK\r\n\r\n", Err(InvalidStatusLine)),
            (b"HTTP/1.1 200 OK\r\nA : b\r\n\r\n", Err(InvalidHeader)),
            (b"HTTP/1.1 200 OK\r\nA\r\n\r\n", Err(InvalidHeader)),
            (b"HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n", Err(InvalidHeader)),
            (b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", Err(InvalidHeader)),
            (b"HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n", Err(ObsFold)),
        ];
        for (input, want) in cases {
            let got = parse_all(input).map(|h| h.map(|h| (h.status.as_u16(), h.head_len)));
            assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn limits_apply_exactly() {
        let head = b"HTTP/1.1 200 OK\r\nA: b\r\nC: d\r\n\r\n";
        let exact = HeadLimits {
            max_head_bytes: head.len(),
            max_headers: 2,
        };
        let mut p = ResponseParser::new(exact);
        assert!(matches!(p.parse(head, &Method::GET), Ok(Some(_))));
        let mut p = ResponseParser::new(HeadLimits {
            max_head_bytes: head.len() - 1,
            ..exact
        });
        assert_eq!(
            p.parse(head, &Method::GET).map_err(|e| e.kind()),
            Err(ErrorKind::HeadTooLarge)
        );
        let mut p = ResponseParser::new(HeadLimits {
            max_headers: 1,
            ..exact
        });
        assert_eq!(
            p.parse(head, &Method::GET).map_err(|e| e.kind()),
            Err(ErrorKind::TooManyHeaders)
        );
        // A huge header limit does not allocate hugely.
        let mut p = ResponseParser::new(HeadLimits {
            max_headers: usize::MAX,
            ..exact
        });
        assert!(matches!(p.parse(head, &Method::GET), Ok(Some(_))));
    }

    /// `http::HeaderMap` panics past 24 576 distinct names: a head with that many
    /// converts whole, one more is `TooManyHeaders` even with no configured limit.
    #[test]
    fn no_head_has_more_fields_than_a_header_map_holds() {
        let head = |fields: usize| {
            let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..fields {
                head.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
            }
            head.extend_from_slice(b"\r\n");
            head
        };
        let unlimited = HeadLimits {
            max_head_bytes: usize::MAX,
            max_headers: usize::MAX,
        };
        let mut p = ResponseParser::new(unlimited);
        let full = head(MAX_HEADERS);
        assert!(matches!(p.parse(&full, &Method::GET), Ok(Some(_))));
        let map = p.header_map(&full);
        assert_eq!(map.len(), MAX_HEADERS);
        assert_eq!(map["h24575"], "v");
        p.reset();
        assert_eq!(
            p.parse(&head(MAX_HEADERS + 1), &Method::GET)
                .map_err(|e| e.kind()),
            Err(ErrorKind::TooManyHeaders)
        );
    }

    #[test]
    fn spans_point_into_the_buffer() {
        let buf = b"HTTP/1.1 200 Fine\r\nContent-Length: 3\r\nX-Empty:\r\n\r\nabc";
        let mut p = ResponseParser::default();
        let head = p.parse(buf, &Method::GET).unwrap().unwrap();
        assert_eq!(head.reason(buf), b"Fine");
        let fields: Vec<_> = p.headers(buf).collect();
        assert_eq!(
            fields,
            [("Content-Length", &b"3"[..]), ("X-Empty", &b""[..])]
        );
        assert_eq!(p.header(buf, "content-length"), Some(&b"3"[..]));
        let map = p.header_map(buf);
        assert_eq!(map["content-length"], "3");
        assert_eq!(map.len(), 2);
        // A wrong (short) buffer yields empty slices, never a panic.
        assert!(p
            .headers(b"short")
            .all(|(n, v)| n.is_empty() && v.is_empty()));
    }

    /// The map holds every field, repeated names in order and empty values included,
    /// although the values share one copy of the head; a wrong buffer never panics.
    #[test]
    fn header_map_keeps_every_field_from_one_copy() {
        let buf = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Empty:\r\nServer: nginx\r\n\
                    Set-Cookie: b=2\r\nX-Tab: one\ttwo\r\n\r\n";
        let mut p = ResponseParser::default();
        p.parse(buf, &Method::GET).unwrap().unwrap();
        let map = p.header_map(buf);
        assert_eq!(map.len(), 5);
        let cookies: Vec<_> = map.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(map["x-empty"], "");
        assert_eq!(map["server"], "nginx");
        assert_eq!(map["x-tab"].as_bytes(), b"one\ttwo");
        assert!(p.header_map(b"short").len() <= 5);
    }

    #[test]
    fn scratch_storage_is_reused() {
        let buf = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
        let mut p = ResponseParser::default();
        p.parse(buf, &Method::GET).unwrap();
        let cap = p.scratch.capacity();
        let fields_cap = p.fields.capacity();
        assert!(cap > 0);
        for _ in 0..10 {
            p.reset();
            p.parse(buf, &Method::GET).unwrap();
        }
        assert_eq!(p.scratch.capacity(), cap);
        assert_eq!(p.fields.capacity(), fields_cap);
    }

    #[test]
    fn search_resumes_where_it_stopped() {
        let full = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
        let mut p = ResponseParser::default();
        for n in 0..full.len() {
            assert_eq!(p.parse(&full[..n], &Method::GET), Ok(None), "prefix {n}");
            assert!(p.searched <= n);
        }
        let head = p.parse(full, &Method::GET).unwrap().unwrap();
        assert_eq!(head.head_len, full.len());
    }
}
