//! Where a response body ends: RFC 9112 §6.3, in one function.
//!
//! Owns [`BodyFraming`], the two header summaries it is decided from
//! ([`TransferEncoding`], [`ContentLength`]) and [`body_framing`], the only place in
//! wirepool that decides framing. It does not parse heads (see [`crate::response`]) and
//! does not decode bodies (see [`crate::body`]).
//!
//! The header summaries record *what was seen*, including invalid values, instead of
//! failing while headers are scanned: RFC 9112 §6.3 says a `204` or a response to `HEAD`
//! has no body "regardless of the header fields", so a bad `Content-Length` on such a
//! response is not an error. Only [`body_framing`] decides, in the RFC's order.

use http::{Method, StatusCode, Version};

use crate::error::{Error, ErrorKind};

/// How the body of a response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyFraming {
    /// No body at all (HEAD, 1xx, 204, 304, 2xx to CONNECT, or `Content-Length: 0`).
    None,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding` whose final coding is `chunked`.
    Chunked,
    /// The body ends when the server closes the connection; the connection can never
    /// be reused.
    CloseDelimited,
}

/// What the response's `Transfer-Encoding` fields say, summarised for framing.
///
/// Built by folding each field value in with [`TransferEncoding::add_value`]; the
/// default is "no `Transfer-Encoding` field".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TransferEncoding {
    /// At least one field was seen.
    present: bool,
    /// A field had no coding at all (`Transfer-Encoding:` or `Transfer-Encoding: ,`).
    empty_field: bool,
    /// How many times `chunked` appeared (saturating).
    chunked_count: u8,
    /// The last coding seen is `chunked`.
    final_is_chunked: bool,
}

/// What the response's `Content-Length` fields say, summarised for framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ContentLength {
    /// No `Content-Length` field.
    #[default]
    Absent,
    /// One value, possibly repeated (`5, 5` or two fields `5`): RFC 9110 §8.6 lets a
    /// recipient treat identical repeats as one.
    Value(u64),
    /// Values differ.
    Conflicting,
    /// A value is empty, non-numeric, signed or overflows `u64`.
    Invalid,
}

impl TransferEncoding {
    /// Folds one more `Transfer-Encoding` field value into the summary. Values are
    /// comma-separated codings; empty list elements are skipped; the last coding of the
    /// last field is the final one. Codings are compared case-insensitively; a coding
    /// with parameters (`chunked;x=1`) is not `chunked`.
    #[must_use]
    pub fn add_value(mut self, value: &[u8]) -> Self {
        self.present = true;
        let mut saw_coding = false;
        for coding in value.split(|&b| b == b',').map(trim_ows) {
            if coding.is_empty() {
                continue;
            }
            saw_coding = true;
            self.final_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if self.final_is_chunked {
                self.chunked_count = self.chunked_count.saturating_add(1);
            }
        }
        self.empty_field |= !saw_coding;
        self
    }

    /// `true` once any `Transfer-Encoding` field was folded in.
    pub fn is_present(&self) -> bool {
        self.present
    }

    /// `true` when present, every field names a coding, and `chunked` is applied at
    /// most once (RFC 9112 §6.1: "A sender MUST NOT apply the chunked transfer coding
    /// more than once to a message body").
    pub fn is_valid(&self) -> bool {
        self.present && !self.empty_field && self.chunked_count <= 1
    }

    /// `true` when the final coding is `chunked`.
    pub fn is_chunked_final(&self) -> bool {
        self.final_is_chunked
    }
}

impl ContentLength {
    /// Folds one more `Content-Length` field value (a comma list of decimal lengths) into
    /// the summary.
    pub fn add_value(self, value: &[u8]) -> Self {
        let mut state = self;
        for element in value.split(|&b| b == b',').map(trim_ows) {
            let Some(n) = parse_decimal(element) else {
                return ContentLength::Invalid;
            };
            state = match state {
                ContentLength::Absent => ContentLength::Value(n),
                ContentLength::Value(m) if m == n => ContentLength::Value(m),
                ContentLength::Value(_) => ContentLength::Conflicting,
                other => other,
            };
        }
        state
    }
}

/// Parses `1*DIGIT` into a `u64`; `None` on empty input, any other byte, or overflow.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Trims optional whitespace (SP, HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Decides how the body of a response is delimited, following RFC 9112 §6.3 in order.
///
/// `request_method` is the method of the request this response answers; `version` is the
/// response's version. The numbered rules below are quoted from the RFC, each followed by
/// the code that implements it.
///
/// ```
/// use http1_codec::framing::{body_framing, BodyFraming, ContentLength, TransferEncoding};
/// use http::{Method, StatusCode, Version};
///
/// let cl = ContentLength::Absent.add_value(b"42, 42");
/// let framing = body_framing(&Method::GET, Version::HTTP_11, StatusCode::OK,
///                            TransferEncoding::default(), cl);
/// assert_eq!(framing, Ok(BodyFraming::Length(42)));
/// ```
pub fn body_framing(
    request_method: &Method,
    version: Version,
    status: StatusCode,
    transfer_encoding: TransferEncoding,
    content_length: ContentLength,
) -> Result<BodyFraming, Error> {
    // 1. "Any response to a HEAD request and any response with a 1xx (Informational),
    //    204 (No Content), or 304 (Not Modified) status code is always terminated by the
    //    first empty line after the header fields, regardless of the header fields
    //    present in the message, and thus cannot contain a message body or trailer
    //    section."
    if *request_method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(BodyFraming::None);
    }

    // 2. "Any 2xx (Successful) response to a CONNECT request implies that the connection
    //    will become a tunnel immediately after the empty line that concludes the header
    //    fields. A client MUST ignore any Content-Length or Transfer-Encoding header
    //    fields received in such a message."
    if *request_method == Method::CONNECT && status.is_success() {
        return Ok(BodyFraming::None);
    }

    // 3. "If a message is received with both a Transfer-Encoding and a Content-Length
    //    header field, the Transfer-Encoding overrides the Content-Length. Such a message
    //    might indicate an attempt to perform request smuggling (Section 11.2) or response
    //    splitting (Section 11.1) and ought to be handled as an error."
    //    wirepool handles it as an error: a pooled connection must never guess.
    //
    //    "If a Transfer-Encoding header field is present in a response and the chunked
    //    transfer coding is the final encoding, the message body length is determined by
    //    reading and decoding the chunked data until the transfer coding indicates the
    //    data is complete."
    //
    //    "If a Transfer-Encoding header field is present in a response and the chunked
    //    transfer coding is not the final encoding, the message body length is determined
    //    by reading the connection until it is closed by the server."
    //
    //    And §6.1: "A server or client that receives an HTTP/1.0 message containing a
    //    Transfer-Encoding header field MUST treat the message as if the framing is
    //    faulty, even if a Content-Length is present, and close the connection after
    //    processing the message." wirepool reads such a body until close.
    if transfer_encoding.is_present() {
        if content_length != ContentLength::Absent {
            return Err(ErrorKind::ConflictingFraming.into());
        }
        if !transfer_encoding.is_valid() {
            return Err(ErrorKind::InvalidTransferEncoding.into());
        }
        if version == Version::HTTP_10 || !transfer_encoding.is_chunked_final() {
            return Ok(BodyFraming::CloseDelimited);
        }
        return Ok(BodyFraming::Chunked);
    }

    // 4. "If a message is received without Transfer-Encoding and with an invalid
    //    Content-Length header field, then the message framing is invalid and the
    //    recipient MUST treat it as an unrecoverable error [...] If it is a response
    //    message received by a user agent, the user agent MUST close the connection to
    //    the server and discard the received response."
    //    (Differing values are invalid; RFC 9110 §8.6 allows identical repeats.)
    //
    // 5. "If a valid Content-Length header field is present without Transfer-Encoding,
    //    its decimal value defines the expected message body length in octets."
    match content_length {
        ContentLength::Invalid => return Err(ErrorKind::InvalidContentLength.into()),
        ContentLength::Conflicting => return Err(ErrorKind::ConflictingContentLength.into()),
        ContentLength::Value(0) => return Ok(BodyFraming::None),
        ContentLength::Value(n) => return Ok(BodyFraming::Length(n)),
        ContentLength::Absent => {}
    }

    // 6. "If this is a request message and none of the above are true, then the message
    //    body length is zero" — not our case: we only read responses.
    //
    // 7. "Otherwise, this is a response message without a declared message body length,
    //    so the message body length is determined by the number of octets received prior
    //    to the server closing the connection."
    Ok(BodyFraming::CloseDelimited)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn te(values: &[&str]) -> TransferEncoding {
        values.iter().fold(TransferEncoding::default(), |s, v| {
            s.add_value(v.as_bytes())
        })
    }

    #[derive(Debug, PartialEq)]
    enum Te {
        Absent,
        ChunkedFinal,
        OtherFinal,
        Invalid,
    }

    fn classify(t: TransferEncoding) -> Te {
        match (t.is_present(), t.is_valid(), t.is_chunked_final()) {
            (false, _, _) => Te::Absent,
            (true, false, _) => Te::Invalid,
            (true, true, true) => Te::ChunkedFinal,
            (true, true, false) => Te::OtherFinal,
        }
    }

    fn cl(values: &[&str]) -> ContentLength {
        values
            .iter()
            .fold(ContentLength::Absent, |s, v| s.add_value(v.as_bytes()))
    }

    #[test]
    fn transfer_encoding_summary_table() {
        use Te::*;
        let cases: &[(&[&str], Te)] = &[
            (&[], Absent),
            (&["chunked"], ChunkedFinal),
            (&["Chunked"], ChunkedFinal),
            (&["gzip, chunked"], ChunkedFinal),
            (&["gzip", "chunked"], ChunkedFinal),
            (&["chunked, gzip"], OtherFinal),
            (&["chunked", "gzip"], OtherFinal),
            (&["gzip"], OtherFinal),
            (&["chunked, chunked"], Invalid),
            (&["chunked", "chunked"], Invalid),
            (&["chunked, gzip, chunked"], Invalid),
            (&["chunked", "gzip, chunked"], Invalid),
            (&[""], Invalid),
            (&[" , "], Invalid),
            (&["gzip,,chunked"], ChunkedFinal),
            (&["chunked;foo=bar"], OtherFinal),
        ];
        for (values, want) in cases {
            assert_eq!(classify(te(values)), *want, "{values:?}");
        }
    }

    #[test]
    fn content_length_summary_table() {
        use ContentLength::*;
        let cases: &[(&[&str], ContentLength)] = &[
            (&[], Absent),
            (&["5"], Value(5)),
            (&["005"], Value(5)),
            (&["5, 5"], Value(5)),
            (&["5", "5"], Value(5)),
            (&["5", "6"], Conflicting),
            (&["5,6"], Conflicting),
            (&["+5"], Invalid),
            (&["-5"], Invalid),
            (&[""], Invalid),
            (&["5,"], Invalid),
            (&["0x10"], Invalid),
            (&["18446744073709551615"], Value(u64::MAX)),
            (&["18446744073709551616"], Invalid),
            (&["5 5"], Invalid),
            (&["5", "6", "x"], Invalid),
        ];
        for (values, want) in cases {
            assert_eq!(cl(values), *want, "{values:?}");
        }
    }

    #[test]
    fn rules_apply_in_rfc_order() {
        use BodyFraming as F;
        let get = Method::GET;
        let v11 = Version::HTTP_11;
        type Row = (Method, Version, u16, TransferEncoding, ContentLength, Want);
        type Want = Result<F, ErrorKind>;
        let cases: Vec<Row> = vec![
            (
                Method::HEAD,
                v11,
                200,
                te(&["chunked"]),
                cl(&["5"]),
                Ok(F::None),
            ),
            (
                get.clone(),
                v11,
                204,
                TransferEncoding::default(),
                cl(&["x"]),
                Ok(F::None),
            ),
            (
                get.clone(),
                v11,
                304,
                TransferEncoding::default(),
                cl(&["10"]),
                Ok(F::None),
            ),
            (
                get.clone(),
                v11,
                100,
                TransferEncoding::default(),
                ContentLength::Absent,
                Ok(F::None),
            ),
            (
                Method::CONNECT,
                v11,
                200,
                te(&["chunked"]),
                ContentLength::Absent,
                Ok(F::None),
            ),
            (
                Method::CONNECT,
                v11,
                407,
                TransferEncoding::default(),
                cl(&["3"]),
                Ok(F::Length(3)),
            ),
            (
                get.clone(),
                v11,
                200,
                te(&["chunked"]),
                cl(&["3"]),
                Err(ErrorKind::ConflictingFraming),
            ),
            (
                get.clone(),
                v11,
                200,
                te(&["chunked"]),
                ContentLength::Absent,
                Ok(F::Chunked),
            ),
            (
                get.clone(),
                Version::HTTP_10,
                200,
                te(&["chunked"]),
                ContentLength::Absent,
                Ok(F::CloseDelimited),
            ),
            (
                get.clone(),
                v11,
                200,
                te(&["gzip"]),
                ContentLength::Absent,
                Ok(F::CloseDelimited),
            ),
            (
                get.clone(),
                v11,
                200,
                te(&[""]),
                ContentLength::Absent,
                Err(ErrorKind::InvalidTransferEncoding),
            ),
            (
                get.clone(),
                v11,
                200,
                TransferEncoding::default(),
                cl(&["1", "2"]),
                Err(ErrorKind::ConflictingContentLength),
            ),
            (
                get.clone(),
                v11,
                200,
                TransferEncoding::default(),
                cl(&["-1"]),
                Err(ErrorKind::InvalidContentLength),
            ),
            (
                get.clone(),
                v11,
                200,
                TransferEncoding::default(),
                cl(&["0"]),
                Ok(F::None),
            ),
            (
                get.clone(),
                v11,
                200,
                TransferEncoding::default(),
                cl(&["7"]),
                Ok(F::Length(7)),
            ),
            (
                get,
                v11,
                200,
                TransferEncoding::default(),
                ContentLength::Absent,
                Ok(F::CloseDelimited),
            ),
        ];
        for (m, v, s, t, c, want) in cases {
            let status = StatusCode::from_u16(s).unwrap();
            let got = body_framing(&m, v, status, t, c).map_err(|e| e.kind());
            assert_eq!(got, want, "{m} {s} {t:?} {c:?}");
        }
    }
}
