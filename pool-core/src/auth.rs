//! Credentials: `Authorization: Basic` from a URL's user info or from a user and
//! password, with the small base64 and percent-decoding that needs.
//!
//! Owns the encoding only. It does not decide where credentials may go: the engine adds
//! the header of a URL's own credentials to that URL's request (so they reach only its
//! origin), and the Client's redirect layer strips `Authorization` when a redirect
//! changes the origin. No dependency is pulled in for 30 lines of base64.

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Uri};

use crate::error::{Error, ErrorKind};

/// `Basic base64(user ":" password)` (RFC 7617), for an `Authorization` header.
///
/// ```
/// let value = wirepool::basic_auth("Aladdin", Some("open sesame"));
/// assert_eq!(value, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
/// ```
pub fn basic_auth(user: &str, password: Option<&str>) -> HeaderValue {
    let mut plain = Vec::with_capacity(user.len() + 1 + password.map_or(0, str::len));
    plain.extend_from_slice(user.as_bytes());
    plain.push(b':');
    if let Some(p) = password {
        plain.extend_from_slice(p.as_bytes());
    }
    basic_value(&plain)
}

fn basic_value(plain: &[u8]) -> HeaderValue {
    let mut text = String::with_capacity(6 + plain.len().div_ceil(3) * 4);
    text.push_str("Basic ");
    base64_into(plain, &mut text);
    let mut value = HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// The user info of `uri` (`user:password` before the `@`), if any.
pub(crate) fn userinfo(uri: &Uri) -> Option<&str> {
    let authority = uri.authority()?.as_str();
    // A byte scan: this runs for every request the engine takes, and `rfind(char)`
    // costs several times more on a short authority.
    let at = authority.bytes().rposition(|b| b == b'@')?;
    authority.get(..at)
}

/// Adds `Authorization: Basic …` for the credentials in `request`'s URL, unless the
/// request has an `Authorization` of its own. The user and password are
/// percent-decoded first (`user%40corp` is `user@corp`), as curl and Go do.
pub(crate) fn credentials_from_url(request: &mut Request<()>) -> Result<(), Error> {
    let Some(info) = userinfo(request.uri()) else {
        return Ok(());
    };
    if request.headers().contains_key(AUTHORIZATION) {
        return Ok(());
    }
    let plain = percent_decode(info.as_bytes());
    if plain.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::msg(
            ErrorKind::InvalidRequest,
            "the URL's credentials decode to a control character",
        ));
    }
    // `user` alone means an empty password, as curl sends it.
    let mut plain = plain;
    if !plain.contains(&b':') {
        plain.push(b':');
    }
    let value = basic_value(&plain);
    request.headers_mut().insert(AUTHORIZATION, value);
    Ok(())
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it is.
pub(crate) fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64_into(input: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for group in input.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let chars = [n >> 18, n >> 12, n >> 6, n].map(|v| char::from(ALPHABET[(v & 63) as usize]));
        let keep = group.len() + 1;
        for (i, c) in chars.into_iter().enumerate() {
            out.push(if i < keep { c } else { '=' });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, want) in cases {
            let mut out = String::new();
            base64_into(plain.as_bytes(), &mut out);
            assert_eq!(out, want, "{plain:?}");
        }
    }

    #[test]
    fn url_credentials_become_basic_auth_unless_one_is_set() {
        let cases = [
            ("http://user:pass@h.test/", Some("Basic dXNlcjpwYXNz")),
            ("http://user@h.test/", Some("Basic dXNlcjo=")),
            ("http://us%40er:p%3As@h.test/", Some("Basic dXNAZXI6cDpz")), // us@er : p:s
            ("http://:pw@h.test/", Some("Basic OnB3")),
            ("http://h.test/", None),
            ("http://h.test/a@b", None), // an @ in the path is not user info
        ];
        for (url, want) in cases {
            let mut req = Request::get(url).body(()).unwrap();
            credentials_from_url(&mut req).unwrap();
            let got = req
                .headers()
                .get(AUTHORIZATION)
                .map(|v| v.to_str().unwrap());
            assert_eq!(got, want, "{url}");
        }
        let mut req = Request::get("http://user:pass@h.test/")
            .header("authorization", "Bearer t")
            .body(())
            .unwrap();
        credentials_from_url(&mut req).unwrap();
        assert_eq!(req.headers()["authorization"], "Bearer t");
    }

    #[test]
    fn control_characters_in_decoded_credentials_are_refused() {
        let mut req = Request::get("http://us%0Der:x@h.test/").body(()).unwrap();
        let err = credentials_from_url(&mut req).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn percent_decoding_keeps_broken_escapes() {
        assert_eq!(percent_decode(b"a%2"), b"a%2");
        assert_eq!(percent_decode(b"a%zz%41"), b"a%zzA");
        assert_eq!(percent_decode(b"%"), b"%");
    }
}
