//! Request encoding: the head, chunked body framing, and `Expect: 100-continue`.
//!
//! Owns the bytes of a request head ([`encode_head`]) and of chunked body framing
//! ([`encode_chunk`], [`encode_last_chunk`]). It does not write to sockets, send the body
//! (a `Content-Length` body goes out as is, no encoding needed), nor decide when to send a
//! body after `Expect: 100-continue` — the engine does, with a deadline; the codec only
//! answers [`expects_continue`].
//!
//! # What the encoder guarantees
//! - The request line is `METHOD SP target SP HTTP/1.1`, with the target in the
//!   [`TargetForm`] asked for; a URI that does not fit that form is refused.
//! - `Host` comes first: the caller's value if it set one, else the URI's authority
//!   (without user info; without the port when it is the scheme's default).
//! - The encoder owns framing: it writes `Content-Length` or `Transfer-Encoding: chunked`
//!   from [`RequestFraming`]. A caller `Content-Length` equal to the declared length is
//!   tolerated (written once); any other, or any caller `Transfer-Encoding`, is
//!   [`ErrorKind::FramingHeaderSet`]. POST, PUT and PATCH without a body get
//!   `Content-Length: 0`, as RFC 9110 §8.6 asks.
//! - Header names are tokens and values contain no CR, LF or NUL — checked here again,
//!   because `http` has unchecked constructors. A refused request writes nothing.
//! - Header names are written in canonical `Title-Case` (`Host`, `Content-Length`,
//!   `X-Token`: the first letter and every letter after a `-` upper-case, as Go and curl
//!   send them) unless [`HeaderCase::Lower`] asks for them as `http` stores them. Field
//!   names are case-insensitive (RFC 9110 §5.1), but some servers and middleboxes still
//!   care. Fields go out in map order, after `Host` and the [`RequestHead::defaults`]
//!   the caller's map does not override.

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, Method, Uri};

use crate::error::{Error, ErrorKind};
use crate::framing::parse_decimal;

/// Which form of request target to write (RFC 9112 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetForm {
    /// `/path?query`: requests to an origin server. `OPTIONS` may use `*`.
    Origin,
    /// `http://host:port/path?query`: requests through an HTTP proxy.
    Absolute,
    /// `host:port`: `CONNECT` requests.
    Authority,
}

/// How the request body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestFraming {
    /// No body.
    None,
    /// A body of exactly this many bytes (`content-length`).
    Length(u64),
    /// A chunked body: send it with [`encode_chunk`] and end with [`encode_last_chunk`].
    Chunked,
}

/// How header field names are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HeaderCase {
    /// Canonical `Title-Case`: `Host`, `Content-Length`, `X-Token` (the default; what Go
    /// and curl send).
    #[default]
    Title,
    /// As the `http` crate stores them: `host`, `content-length`, `x-token`.
    Lower,
}

/// A request head to encode, borrowed from the caller's `http` types.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URI; which parts are written depends on `form`.
    pub uri: &'a Uri,
    /// Header fields to send (without framing fields: the encoder writes those).
    pub headers: &'a HeaderMap,
    /// The request-target form.
    pub form: TargetForm,
    /// The body framing.
    pub framing: RequestFraming,
    /// How field names are written.
    pub case: HeaderCase,
    /// Fields written right after `Host` unless `headers` has a field of the same name
    /// (a default `User-Agent`, say): borrowed, so a default costs no allocation.
    pub defaults: &'a [DefaultField<'a>],
}

/// A field for [`RequestHead::defaults`]: written right after `Host` unless the caller's
/// headers have a field of the same name. A default may not be `Host` or a framing field
/// ([`ErrorKind::FramingHeaderSet`]).
#[derive(Clone, Copy, Debug)]
pub enum DefaultField<'a> {
    /// Checked and encoded (in the head's case) when the head is written.
    Field(&'a HeaderName, &'a [u8]),
    /// Checked and encoded once, ahead of time: written with one copy, in the case it
    /// was encoded in. For a field that goes on every request (a `User-Agent`).
    Encoded(&'a EncodedField),
}

impl DefaultField<'_> {
    fn name(&self) -> &HeaderName {
        match self {
            DefaultField::Field(name, _) => name,
            DefaultField::Encoded(field) => &field.name,
        }
    }
}

/// A header field checked and encoded once (`Name: value\r\n`), to be written into
/// many heads with one copy each (see [`DefaultField::Encoded`]).
///
/// ```
/// use http1_codec::request::{EncodedField, HeaderCase};
/// let ua = EncodedField::new(http::header::USER_AGENT, b"wirepool/1", HeaderCase::Title).unwrap();
/// assert_eq!(ua.as_bytes(), b"User-Agent: wirepool/1\r\n");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedField {
    name: HeaderName,
    line: Box<[u8]>,
}

impl EncodedField {
    /// Checks and encodes `name: value` in `case`. Refused like any field: a value with
    /// CR, LF or NUL ([`ErrorKind::InvalidHeaderValue`]), a name that is not a token;
    /// and `Host` or a framing field ([`ErrorKind::FramingHeaderSet`]): the encoder owns
    /// those.
    pub fn new(name: HeaderName, value: &[u8], case: HeaderCase) -> Result<EncodedField, Error> {
        if name == HOST || name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            return Err(ErrorKind::FramingHeaderSet.into());
        }
        let mut line = Vec::with_capacity(name.as_str().len() + value.len() + 4);
        write_field(&mut line, case, name.as_str().as_bytes(), value)?;
        Ok(EncodedField {
            name,
            line: line.into_boxed_slice(),
        })
    }

    /// The field's name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The encoded line, `Name: value\r\n`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.line
    }
}

/// Appends the request head (request line, fields, blank line) to `out`.
///
/// On error `out` is left exactly as it was.
///
/// ```
/// use http1_codec::request::{encode_head, HeaderCase, RequestFraming, RequestHead, TargetForm};
/// use http::{HeaderMap, Method, Uri};
///
/// let uri: Uri = "http://example.com/search?q=1".parse().unwrap();
/// let mut out = Vec::new();
/// encode_head(&RequestHead {
///     method: &Method::POST, uri: &uri, headers: &HeaderMap::new(),
///     form: TargetForm::Origin, framing: RequestFraming::Length(5),
///     case: HeaderCase::Title, defaults: &[],
/// }, &mut out).unwrap();
/// assert_eq!(out, b"POST /search?q=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\n");
/// ```
pub fn encode_head(head: &RequestHead<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let start = out.len();
    let result = write_head(head, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn write_head(head: &RequestHead<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let method = head.method.as_str().as_bytes();
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(ErrorKind::InvalidMethod.into());
    }

    // Framing the encoder will declare, checked against what the caller set.
    let declared_len = match head.framing {
        RequestFraming::None => Some(0),
        RequestFraming::Length(n) => Some(n),
        RequestFraming::Chunked => None,
    };
    if head.headers.contains_key(TRANSFER_ENCODING) {
        return Err(ErrorKind::FramingHeaderSet.into());
    }
    let caller_length = head.headers.contains_key(CONTENT_LENGTH);
    for value in head.headers.get_all(CONTENT_LENGTH) {
        match (parse_decimal(value.as_bytes()), declared_len) {
            (Some(set), Some(declared)) if set == declared => {}
            _ => return Err(ErrorKind::FramingHeaderSet.into()),
        }
    }

    // Request line.
    out.extend_from_slice(method);
    out.push(b' ');
    write_target(head, out)?;
    out.extend_from_slice(b" HTTP/1.1\r\n");

    // Host first.
    let case = head.case;
    match head.headers.get(HOST) {
        Some(_) => {
            for value in head.headers.get_all(HOST) {
                write_field(out, case, b"host", value.as_bytes())?;
            }
        }
        None => {
            let authority = head
                .uri
                .authority()
                .ok_or(Error::new(ErrorKind::MissingHost))?;
            write_name(out, case, b"host");
            out.extend_from_slice(b": ");
            write_host_value(head.uri, authority, out)?;
            out.extend_from_slice(b"\r\n");
        }
    }

    // Defaults the caller did not override.
    for default in head.defaults {
        let name = default.name();
        if *name == HOST || *name == CONTENT_LENGTH || *name == TRANSFER_ENCODING {
            return Err(ErrorKind::FramingHeaderSet.into());
        }
        if !head.headers.contains_key(name) {
            match default {
                DefaultField::Field(name, value) => {
                    write_field(out, case, name.as_str().as_bytes(), value)?
                }
                DefaultField::Encoded(field) => out.extend_from_slice(&field.line),
            }
        }
    }

    for (name, value) in head.headers {
        if name == HOST || name == CONTENT_LENGTH {
            continue;
        }
        write_field(out, case, name.as_str().as_bytes(), value.as_bytes())?;
    }

    // Framing.
    let body_method = matches!(*head.method, Method::POST | Method::PUT | Method::PATCH);
    match head.framing {
        RequestFraming::Chunked => {
            write_name(out, case, b"transfer-encoding");
            out.extend_from_slice(b": chunked\r\n");
        }
        RequestFraming::Length(n) if n > 0 || body_method || caller_length => {
            write_content_length(n, case, out)
        }
        RequestFraming::None if body_method || caller_length => write_content_length(0, case, out),
        RequestFraming::Length(_) | RequestFraming::None => {}
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

fn write_target(head: &RequestHead<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let bad_target = || Error::new(ErrorKind::InvalidRequestTarget);
    let uri = head.uri;
    let path_and_query = uri.path_and_query().map_or("", |pq| pq.as_str());
    let mark = out.len();
    match head.form {
        TargetForm::Origin => {
            if path_and_query == "*" {
                if *head.method != Method::OPTIONS {
                    return Err(bad_target());
                }
                out.push(b'*');
            } else {
                write_origin(path_and_query, out)?;
            }
        }
        TargetForm::Absolute => {
            let scheme = uri.scheme_str().ok_or_else(bad_target)?;
            let authority = uri.authority().ok_or_else(bad_target)?;
            out.extend_from_slice(scheme.as_bytes());
            out.extend_from_slice(b"://");
            out.extend_from_slice(authority.as_str().as_bytes());
            write_origin(path_and_query, out)?;
        }
        TargetForm::Authority => {
            let authority = uri.authority().ok_or_else(bad_target)?;
            // authority-form = uri-host ":" port; no user info.
            if authority.as_str().contains('@') {
                return Err(bad_target());
            }
            let port = match authority.port_u16() {
                Some(p) => p,
                None => default_port(uri.scheme_str()).ok_or_else(bad_target)?,
            };
            out.extend_from_slice(authority.host().as_bytes());
            out.push(b':');
            write_decimal(u64::from(port), out);
        }
    }
    // Nothing that could end or split the request line.
    if out[mark..].iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(bad_target());
    }
    Ok(())
}

fn write_origin(path_and_query: &str, out: &mut Vec<u8>) -> Result<(), Error> {
    if path_and_query.is_empty() || path_and_query.starts_with('?') {
        out.push(b'/');
    } else if !path_and_query.starts_with('/') {
        return Err(ErrorKind::InvalidRequestTarget.into());
    }
    out.extend_from_slice(path_and_query.as_bytes());
    Ok(())
}

fn write_host_value(
    uri: &Uri,
    authority: &http::uri::Authority,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let host = authority.host();
    if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(ErrorKind::InvalidRequestTarget.into());
    }
    out.extend_from_slice(host.as_bytes());
    if let Some(port) = authority.port_u16() {
        if default_port(uri.scheme_str()) != Some(port) {
            out.push(b':');
            write_decimal(u64::from(port), out);
        }
    }
    Ok(())
}

fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("ws") => Some(80),
        Some(s) if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("wss") => Some(443),
        _ => None,
    }
}

fn write_field(
    out: &mut Vec<u8>,
    case: HeaderCase,
    name: &[u8],
    value: &[u8],
) -> Result<(), Error> {
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(ErrorKind::InvalidHeaderName.into());
    }
    check_value(value)?;
    write_name(out, case, name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Writes a field name (a token, checked by the caller) in `case`: for `Title`, the
/// first letter and every letter after a `-` upper-case, the rest lower-case.
fn write_name(out: &mut Vec<u8>, case: HeaderCase, name: &[u8]) {
    let start = out.len();
    out.extend_from_slice(name);
    if case == HeaderCase::Title {
        // In place, after one copy: cheaper than pushing byte by byte.
        let mut upper = true;
        for b in &mut out[start..] {
            *b = if upper {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
            upper = *b == b'-';
        }
    }
}

fn check_value(value: &[u8]) -> Result<(), Error> {
    if value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(ErrorKind::InvalidHeaderValue.into());
    }
    Ok(())
}

fn write_content_length(n: u64, case: HeaderCase, out: &mut Vec<u8>) {
    write_name(out, case, b"content-length");
    out.extend_from_slice(b": ");
    write_decimal(n, out);
    out.extend_from_slice(b"\r\n");
}

fn write_decimal(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn write_hex(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `tchar` from RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// `tchar` by byte: a table, because every header name of every request is checked
/// byte by byte (a chain of comparisons per byte cost more than the rest of the field).
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

/// Appends one chunk (`size CRLF data CRLF`). Empty `data` writes nothing: an empty chunk
/// would end the body.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    write_hex(data.len() as u64, out);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk (`0 CRLF`), the trailer fields if any, and the final CRLF.
///
/// Trailers are checked like header fields and their names written in `case`; framing
/// fields (`Content-Length`, `Transfer-Encoding`) and `Host` are refused in trailers
/// (RFC 9110 §6.5.1). On error `out` is left as it was.
pub fn encode_last_chunk(
    trailers: Option<&HeaderMap>,
    case: HeaderCase,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let start = out.len();
    out.extend_from_slice(b"0\r\n");
    if let Some(trailers) = trailers {
        for (name, value) in trailers {
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == HOST {
                out.truncate(start);
                return Err(ErrorKind::FramingHeaderSet.into());
            }
            if let Err(e) = write_field(out, case, name.as_str().as_bytes(), value.as_bytes()) {
                out.truncate(start);
                return Err(e);
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// `true` when the request carries `Expect: 100-continue` (case-insensitive): the
/// engine should send the head, wait for [`crate::response::HeadKind::Continue`] (or a
/// final response, or its expect deadline), then send the body.
pub fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::EXPECT)
        .iter()
        .any(|v| crate::framing::trim_ows(v.as_bytes()).eq_ignore_ascii_case(b"100-continue"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table says what the RFC's list says, for every byte.
    #[test]
    fn the_tchar_table_is_the_rfc_list() {
        let listed = b"!#$%&'*+-.^_`|~";
        for b in 0..=255u8 {
            let want = b.is_ascii_alphanumeric() || listed.contains(&b);
            assert_eq!(is_tchar(b), want, "byte {b:#04x}");
        }
    }

    #[test]
    fn numbers_format_without_allocation_helpers() {
        let mut out = Vec::new();
        write_decimal(0, &mut out);
        out.push(b' ');
        write_decimal(u64::MAX, &mut out);
        out.push(b' ');
        write_hex(0, &mut out);
        out.push(b' ');
        write_hex(u64::MAX, &mut out);
        assert_eq!(out, b"0 18446744073709551615 0 ffffffffffffffff");
    }

    /// `http` refuses these values and names in safe code, but its unchecked
    /// constructors do not: the encoder checks again, here at the field level.
    #[test]
    fn injection_is_refused_at_field_level() {
        type Row = (&'static [u8], &'static [u8], Result<(), ErrorKind>);
        let cases: &[Row] = &[
            (b"x-a", b"ok value", Ok(())),
            (
                b"x-a",
                b"a\r\nx-injected: 1",
                Err(ErrorKind::InvalidHeaderValue),
            ),
            (b"x-a", b"a\nb", Err(ErrorKind::InvalidHeaderValue)),
            (b"x-a", b"a\rb", Err(ErrorKind::InvalidHeaderValue)),
            (b"x-a", b"a\0b", Err(ErrorKind::InvalidHeaderValue)),
            (b"x a", b"v", Err(ErrorKind::InvalidHeaderName)),
            (b"x:a", b"v", Err(ErrorKind::InvalidHeaderName)),
            (b"", b"v", Err(ErrorKind::InvalidHeaderName)),
            (b"x\r\na", b"v", Err(ErrorKind::InvalidHeaderName)),
        ];
        for (name, value, want) in cases {
            let mut out = Vec::new();
            let got = write_field(&mut out, HeaderCase::Title, name, value).map_err(|e| e.kind());
            assert_eq!(got, *want, "{name:?} {value:?}");
        }
    }

    use http::HeaderValue;

    fn head<'a>(
        headers: &'a HeaderMap,
        uri: &'a Uri,
        defaults: &'a [DefaultField<'a>],
    ) -> RequestHead<'a> {
        RequestHead {
            method: &Method::GET,
            uri,
            headers,
            form: TargetForm::Origin,
            framing: RequestFraming::None,
            case: HeaderCase::Title,
            defaults,
        }
    }

    /// A default may not be a framing field or `Host`: the encoder owns those. Refused,
    /// and nothing written.
    #[test]
    fn defaults_cannot_set_framing_or_host() {
        let uri: Uri = "http://c.test/".parse().unwrap();
        let headers = HeaderMap::new();
        for name in [&CONTENT_LENGTH, &TRANSFER_ENCODING, &HOST] {
            let defaults = [DefaultField::Field(name, b"5")];
            let mut out = b"x".to_vec();
            let got = encode_head(&head(&headers, &uri, &defaults), &mut out);
            assert_eq!(
                got.map_err(|e| e.kind()),
                Err(ErrorKind::FramingHeaderSet),
                "{name}"
            );
            assert_eq!(out, b"x");
        }
        // Several defaults, one overridden by the caller: the rest go out in order.
        let mut headers = HeaderMap::new();
        headers.insert("accept", HeaderValue::from_static("text/plain"));
        let (ua, accept) = (
            HeaderName::from_static("user-agent"),
            HeaderName::from_static("accept"),
        );
        let defaults = [
            DefaultField::Field(&ua, b"w/1"),
            DefaultField::Field(&accept, b"*/*"),
        ];
        let mut out = Vec::new();
        encode_head(&head(&headers, &uri, &defaults), &mut out).unwrap();
        assert_eq!(
            out,
            b"GET / HTTP/1.1\r\nHost: c.test\r\nUser-Agent: w/1\r\nAccept: text/plain\r\n\r\n"
        );
        // Encoded ahead of time: the same bytes, in the case it was encoded in.
        let encoded = EncodedField::new(ua.clone(), b"w/1", HeaderCase::Title).unwrap();
        let defaults = [DefaultField::Encoded(&encoded)];
        let mut again = Vec::new();
        encode_head(&head(&HeaderMap::new(), &uri, &defaults), &mut again).unwrap();
        assert_eq!(
            again,
            b"GET / HTTP/1.1\r\nHost: c.test\r\nUser-Agent: w/1\r\n\r\n"
        );
        // ... and refused like a field.
        let bad = EncodedField::new(ua, b"a\r\nX: 1", HeaderCase::Title);
        assert_eq!(
            bad.map_err(|e| e.kind()),
            Err(ErrorKind::InvalidHeaderValue)
        );
        let host = EncodedField::new(HOST, b"h", HeaderCase::Title);
        assert_eq!(host.map_err(|e| e.kind()), Err(ErrorKind::FramingHeaderSet));
    }

    #[test]
    fn chunks_and_last_chunk() {
        let mut out = Vec::new();
        encode_chunk(b"", &mut out);
        assert!(out.is_empty());
        encode_chunk(&[b'x'; 26], &mut out);
        assert!(out.starts_with(b"1a\r\nxxx"));
        assert!(out.ends_with(b"x\r\n"));
        let mut out = Vec::new();
        encode_last_chunk(None, HeaderCase::Title, &mut out).unwrap();
        assert_eq!(out, b"0\r\n\r\n");
        let mut t = HeaderMap::new();
        t.insert("x-checksum", "abc".parse().unwrap());
        let mut out = b"keep".to_vec();
        encode_last_chunk(Some(&t), HeaderCase::Title, &mut out).unwrap();
        assert_eq!(out, b"keep0\r\nX-Checksum: abc\r\n\r\n");
        let mut out = Vec::new();
        encode_last_chunk(Some(&t), HeaderCase::Lower, &mut out).unwrap();
        assert_eq!(out, b"0\r\nx-checksum: abc\r\n\r\n");
        t.insert(CONTENT_LENGTH, "3".parse().unwrap());
        let mut out = b"keep".to_vec();
        assert_eq!(
            encode_last_chunk(Some(&t), HeaderCase::Title, &mut out).map_err(|e| e.kind()),
            Err(ErrorKind::FramingHeaderSet)
        );
        assert_eq!(out, b"keep");
    }
}
