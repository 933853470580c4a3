//! Request-encoding table: request line and target forms, `Host`, framing headers,
//! header-name case, default fields, refusals. Each row encodes after a prefix already in the output buffer: on success
//! the head is appended after it, on error the buffer is left exactly as it was.
#![allow(clippy::unwrap_used)] // tests may unwrap

use http::header::USER_AGENT;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use http1_codec::{
    encode_head, expects_continue, DefaultField, ErrorKind as E, HeaderCase, RequestFraming as F,
    RequestHead, TargetForm as T,
};

struct Case {
    name: &'static str,
    method: Method,
    uri: &'static str,
    headers: &'static [(&'static str, &'static str)],
    form: T,
    framing: F,
    want: Result<&'static str, E>,
    /// Header-name case (rows made by `r` use the default, `Title`).
    case: HeaderCase,
    /// A default `User-Agent` written unless the row's headers set one.
    default_ua: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)]
fn r(
    name: &'static str,
    method: Method,
    uri: &'static str,
    headers: &'static [(&'static str, &'static str)],
    form: T,
    framing: F,
    want: Result<&'static str, E>,
) -> Case {
    Case {
        name,
        method,
        uri,
        headers,
        form,
        framing,
        want,
        case: HeaderCase::Title,
        default_ua: None,
    }
}

/// A row written with lower-case names.
fn lower(case: Case) -> Case {
    Case {
        case: HeaderCase::Lower,
        ..case
    }
}

/// A row with a default `User-Agent`.
fn with_ua(ua: &'static str, case: Case) -> Case {
    Case {
        default_ua: Some(ua),
        ..case
    }
}

fn cases() -> Vec<Case> {
    use Method as M;
    let get = M::GET;
    let none: &[(&str, &str)] = &[];
    vec![
        // ---- origin form, Host from the URI ----
        r("get root", get.clone(), "http://example.com/", none, T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        r("get path query", get.clone(), "http://example.com/a/b?c=d&e", none, T::Origin, F::None, Ok("GET /a/b?c=d&e HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        r("get no path", get.clone(), "http://example.com", none, T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        r("get query only", get.clone(), "http://example.com?x=1", none, T::Origin, F::None, Ok("GET /?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        r("non-default port", get.clone(), "http://example.com:8080/", none, T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")),
        r("http default port omitted", get.clone(), "http://example.com:80/", none, T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        r("https default port omitted", get.clone(), "https://example.com:443/", none, T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        r("https port 80 kept", get.clone(), "https://example.com:80/", none, T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: example.com:80\r\n\r\n")),
        r("userinfo stripped", get.clone(), "http://user:pw@example.com/", none, T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        r("ipv6 literal", get.clone(), "http://[::1]:8080/x", none, T::Origin, F::None, Ok("GET /x HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n")),
        r("ipv4 literal", get.clone(), "http://127.0.0.1:3000/", none, T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n")),
        r("caller host wins", get.clone(), "http://example.com/", &[("host", "other.test")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")),
        r("path-only uri with host", get.clone(), "/only/path", &[("host", "h.test")], T::Origin, F::None, Ok("GET /only/path HTTP/1.1\r\nHost: h.test\r\n\r\n")),
        r("path-only uri without host", get.clone(), "/only/path", none, T::Origin, F::None, Err(E::MissingHost)),
        r("options asterisk", M::OPTIONS, "*", &[("host", "h.test")], T::Origin, F::None, Ok("OPTIONS * HTTP/1.1\r\nHost: h.test\r\n\r\n")),
        r("asterisk only for options", get.clone(), "*", &[("host", "h.test")], T::Origin, F::None, Err(E::InvalidRequestTarget)),
        r("extension method", M::from_bytes(b"PURGE").unwrap(), "http://c.test/x", none, T::Origin, F::None, Ok("PURGE /x HTTP/1.1\r\nHost: c.test\r\n\r\n")),
        r("head request", M::HEAD, "http://c.test/", none, T::Origin, F::None, Ok("HEAD / HTTP/1.1\r\nHost: c.test\r\n\r\n")),
        // ---- absolute form (proxies) ----
        r("absolute form", get.clone(), "http://example.com/x?y", none, T::Absolute, F::None, Ok("GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        r("absolute form no path", get.clone(), "http://example.com", none, T::Absolute, F::None, Ok("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        r("absolute form port", get.clone(), "http://example.com:8080/", none, T::Absolute, F::None, Ok("GET http://example.com:8080/ HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")),
        r("absolute form needs scheme", get.clone(), "/x", &[("host", "h.test")], T::Absolute, F::None, Err(E::InvalidRequestTarget)),
        // ---- authority form (CONNECT) ----
        r("connect authority", M::CONNECT, "example.com:443", none, T::Authority, F::None, Ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")),
        r("connect from https uri", M::CONNECT, "https://example.com/", none, T::Authority, F::None, Ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n")),
        r("connect with host header", M::CONNECT, "db.test:5432", &[("host", "db.test:5432")], T::Authority, F::None, Ok("CONNECT db.test:5432 HTTP/1.1\r\nHost: db.test:5432\r\n\r\n")),
        r("connect needs port", M::CONNECT, "example.com", none, T::Authority, F::None, Err(E::InvalidRequestTarget)),
        r("connect path only", M::CONNECT, "/x", none, T::Authority, F::None, Err(E::InvalidRequestTarget)),
        r("connect no userinfo", M::CONNECT, "http://u@example.com:443/", none, T::Authority, F::None, Err(E::InvalidRequestTarget)),
        // ---- framing ----
        r("post length", M::POST, "http://c.test/", none, T::Origin, F::Length(5), Ok("POST / HTTP/1.1\r\nHost: c.test\r\nContent-Length: 5\r\n\r\n")),
        r("post none gets cl 0", M::POST, "http://c.test/", none, T::Origin, F::None, Ok("POST / HTTP/1.1\r\nHost: c.test\r\nContent-Length: 0\r\n\r\n")),
        r("put length 0", M::PUT, "http://c.test/", none, T::Origin, F::Length(0), Ok("PUT / HTTP/1.1\r\nHost: c.test\r\nContent-Length: 0\r\n\r\n")),
        r("patch none", M::PATCH, "http://c.test/", none, T::Origin, F::None, Ok("PATCH / HTTP/1.1\r\nHost: c.test\r\nContent-Length: 0\r\n\r\n")),
        r("get length 0 no cl", get.clone(), "http://c.test/", none, T::Origin, F::Length(0), Ok("GET / HTTP/1.1\r\nHost: c.test\r\n\r\n")),
        r("get with body", get.clone(), "http://c.test/", none, T::Origin, F::Length(3), Ok("GET / HTTP/1.1\r\nHost: c.test\r\nContent-Length: 3\r\n\r\n")),
        r("delete none", M::DELETE, "http://c.test/", none, T::Origin, F::None, Ok("DELETE / HTTP/1.1\r\nHost: c.test\r\n\r\n")),
        r("post huge length", M::POST, "http://c.test/", none, T::Origin, F::Length(u64::MAX), Ok("POST / HTTP/1.1\r\nHost: c.test\r\nContent-Length: 18446744073709551615\r\n\r\n")),
        r("post chunked", M::POST, "http://c.test/", none, T::Origin, F::Chunked, Ok("POST / HTTP/1.1\r\nHost: c.test\r\nTransfer-Encoding: chunked\r\n\r\n")),
        r("caller cl equal", M::POST, "http://c.test/", &[("content-length", "5")], T::Origin, F::Length(5), Ok("POST / HTTP/1.1\r\nHost: c.test\r\nContent-Length: 5\r\n\r\n")),
        r("caller cl equal get zero", get.clone(), "http://c.test/", &[("content-length", "0")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: c.test\r\nContent-Length: 0\r\n\r\n")),
        r("caller cl differs", M::POST, "http://c.test/", &[("content-length", "6")], T::Origin, F::Length(5), Err(E::FramingHeaderSet)),
        r("caller cl not a number", M::POST, "http://c.test/", &[("content-length", "five")], T::Origin, F::Length(5), Err(E::FramingHeaderSet)),
        r("caller cl with chunked", M::POST, "http://c.test/", &[("content-length", "5")], T::Origin, F::Chunked, Err(E::FramingHeaderSet)),
        r("caller cl with none", M::POST, "http://c.test/", &[("content-length", "5")], T::Origin, F::None, Err(E::FramingHeaderSet)),
        r("caller te", M::POST, "http://c.test/", &[("transfer-encoding", "chunked")], T::Origin, F::Chunked, Err(E::FramingHeaderSet)),
        r("caller te gzip", M::POST, "http://c.test/", &[("transfer-encoding", "gzip")], T::Origin, F::Length(1), Err(E::FramingHeaderSet)),
        // ---- other fields pass through, in order, lowercase ----
        r("fields in order", get.clone(), "http://c.test/", &[("user-agent", "wirepool"), ("accept", "*/*"), ("X-Trace", "abc")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: c.test\r\nUser-Agent: wirepool\r\nAccept: */*\r\nX-Trace: abc\r\n\r\n")),
        r("repeated field", get.clone(), "http://c.test/", &[("accept", "a"), ("accept", "b")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: c.test\r\nAccept: a\r\nAccept: b\r\n\r\n")),
        r("connection close passes", get.clone(), "http://c.test/", &[("connection", "close")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: c.test\r\nConnection: close\r\n\r\n")),
        r("expect passes", M::PUT, "http://c.test/f", &[("expect", "100-continue")], T::Origin, F::Length(10), Ok("PUT /f HTTP/1.1\r\nHost: c.test\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")),
        r("empty value", get.clone(), "http://c.test/", &[("x-empty", "")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: c.test\r\nX-Empty: \r\n\r\n")),
        r("value with tab", get.clone(), "http://c.test/", &[("x-v", "a\tb")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: c.test\r\nX-V: a\tb\r\n\r\n")),
        // ---- header-name case: Title-Case by default, lower-case on request ----
        r("title case multi-dash", get.clone(), "http://c.test/", &[("x-request-id", "7"), ("www-authenticate", "a"), ("content-md5", "m")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: c.test\r\nX-Request-Id: 7\r\nWww-Authenticate: a\r\nContent-Md5: m\r\n\r\n")),
        r("title case odd tokens", get.clone(), "http://c.test/", &[("x--double", "1"), ("-lead", "2"), ("x_under.dot", "3"), ("te", "trailers")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: c.test\r\nX--Double: 1\r\n-Lead: 2\r\nX_under.dot: 3\r\nTe: trailers\r\n\r\n")),
        r("title case framing chunked", M::PUT, "http://c.test/", &[("x-token", "t")], T::Origin, F::Chunked, Ok("PUT / HTTP/1.1\r\nHost: c.test\r\nX-Token: t\r\nTransfer-Encoding: chunked\r\n\r\n")),
        lower(r("lower get", get.clone(), "http://c.test/", &[("X-Token", "t"), ("user-agent", "u")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nhost: c.test\r\nx-token: t\r\nuser-agent: u\r\n\r\n"))),
        lower(r("lower post length", M::POST, "http://c.test/", none, T::Origin, F::Length(5), Ok("POST / HTTP/1.1\r\nhost: c.test\r\ncontent-length: 5\r\n\r\n"))),
        lower(r("lower chunked", M::POST, "http://c.test/", none, T::Origin, F::Chunked, Ok("POST / HTTP/1.1\r\nhost: c.test\r\ntransfer-encoding: chunked\r\n\r\n"))),
        lower(r("lower caller host", get.clone(), "http://c.test/", &[("host", "o.test")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nhost: o.test\r\n\r\n"))),
        lower(r("lower refusal same", M::POST, "http://c.test/", &[("transfer-encoding", "chunked")], T::Origin, F::Chunked, Err(E::FramingHeaderSet))),
        // ---- defaults: written after Host unless the caller set the field ----
        with_ua("wirepool/1", r("default ua", get.clone(), "http://c.test/", &[("accept", "*/*")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: c.test\r\nUser-Agent: wirepool/1\r\nAccept: */*\r\n\r\n"))),
        with_ua("wirepool/1", r("caller ua wins", get.clone(), "http://c.test/", &[("User-Agent", "mine/2")], T::Origin, F::None, Ok("GET / HTTP/1.1\r\nHost: c.test\r\nUser-Agent: mine/2\r\n\r\n"))),
        with_ua("wirepool/1", lower(r("default ua lower", get.clone(), "http://c.test/", none, T::Origin, F::None, Ok("GET / HTTP/1.1\r\nhost: c.test\r\nuser-agent: wirepool/1\r\n\r\n")))),
    ]
}

fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

#[test]
fn request_table() {
    for case in cases() {
        let uri: Uri = case.uri.parse().unwrap();
        let headers = header_map(case.headers);
        let defaults = case
            .default_ua
            .map(|v| [DefaultField::Field(&USER_AGENT, v.as_bytes())]);
        let head = RequestHead {
            method: &case.method,
            uri: &uri,
            headers: &headers,
            form: case.form,
            framing: case.framing,
            case: case.case,
            defaults: defaults.as_ref().map_or(&[], |d| &d[..]),
        };
        let mut out = b"PREFIX".to_vec();
        let got = encode_head(&head, &mut out).map_err(|e| e.kind());
        match case.want {
            Ok(bytes) => {
                assert_eq!(got, Ok(()), "case {:?}", case.name);
                assert_eq!(
                    String::from_utf8_lossy(&out[6..]),
                    bytes,
                    "case {:?}",
                    case.name
                );
                assert_eq!(&out[..6], b"PREFIX");
            }
            Err(kind) => {
                assert_eq!(got, Err(kind), "case {:?}", case.name);
                assert_eq!(out, b"PREFIX", "case {:?}: output touched", case.name);
            }
        }
    }
}

#[test]
fn request_table_is_big_enough() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} request cases", cases.len());
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");
}

#[test]
fn expects_continue_table() {
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[], false),
        (&[("expect", "100-continue")], true),
        (&[("expect", "100-Continue")], true),
        (&[("expect", " 100-continue ")], true),
        (&[("expect", "something-else")], false),
        (&[("expect", "x"), ("expect", "100-continue")], true),
        (&[("x-expect", "100-continue")], false),
    ];
    for (pairs, want) in cases {
        assert_eq!(expects_continue(&header_map(pairs)), *want, "{pairs:?}");
    }
}
