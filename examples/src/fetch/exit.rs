//! `fetch`'s exit codes: curl's, where curl has one for the same failure.
//!
//! | code | when (curl's name) |
//! |---|---|
//! | 0 | the last URL got a response (with `-f`: a status below 400) |
//! | 1 | a URL of another scheme (`UNSUPPORTED_PROTOCOL`), or a failure curl has no code for |
//! | 2 | usage error: unknown option, bad value (`FAILED_INIT`, what curl exits with for those) |
//! | 3 | a malformed URL (`URL_MALFORMAT`) |
//! | 4 | a SOCKS proxy: curl has them, this build does not (`NOT_BUILT_IN`) |
//! | 5 | the proxy's name did not resolve, or its URL does not parse (`COULDNT_RESOLVE_PROXY`) |
//! | 6 | the host name did not resolve (`COULDNT_RESOLVE_HOST`) |
//! | 7 | no TCP connection, to the origin or to the proxy; a proxy scheme curl does not know (`COULDNT_CONNECT`) |
//! | 8 | the server broke HTTP: malformed head, ambiguous framing (`WEIRD_SERVER_REPLY`) |
//! | 18 | the body ended before its announced end (`PARTIAL_FILE`) |
//! | 22 | `-f` and a status ≥ 400 (`HTTP_RETURNED_ERROR`) |
//! | 23 | writing the body failed: stdout closed, `-o` file not writable (`WRITE_ERROR`) |
//! | 26 | the `-T` file or stdin could not be read, or ended early (`READ_ERROR`) |
//! | 28 | a deadline passed: connect, the proxy's `CONNECT` answer, TLS handshake, response head, total (`OPERATION_TIMEDOUT`) |
//! | 35 | the TLS handshake failed for another reason than the certificate (`SSL_CONNECT_ERROR`) |
//! | 47 | `-L`: more redirects than `--max-redirs`, a loop, or an unusable `Location` (`TOO_MANY_REDIRECTS`) |
//! | 52 | the server closed before any response byte (`GOT_NOTHING`) |
//! | 56 | the connection failed while receiving; the proxy refused `CONNECT` or broke it (`RECV_ERROR`) |
//! | 60 | the server's certificate is not trusted: unknown issuer, expired, wrong name (`PEER_FAILED_VERIFICATION`) |
//! | 61 | `--compressed`: the body could not be decoded (`BAD_CONTENT_ENCODING`) |
//! | 63 | `--compressed`: the body decodes to more than 64 MiB, a bomb (`FILESIZE_EXCEEDED`) |
//! | 77 | the `--cacert` file cannot be used (`SSL_CACERT_BADFILE`) |
//!
//! As in curl, with several URLs the last one decides the exit status (an earlier
//! failure is still reported on stderr).

use std::error::Error as StdError;

use wirepool::tls::ErrorKind as TlsKind;
use wirepool::{Error, ErrorKind};

/// Success.
pub const OK: u8 = 0;
/// A failure curl has no closer code for; an unsupported scheme.
pub const OTHER: u8 = 1;
/// Usage error.
pub const USAGE: u8 = 2;
/// Malformed URL.
pub const URL_MALFORMAT: u8 = 3;
/// A feature this build does not have (SOCKS proxies).
pub const NOT_BUILT_IN: u8 = 4;
/// The proxy's name did not resolve, or its URL does not parse.
pub const COULDNT_RESOLVE_PROXY: u8 = 5;
/// DNS failure.
pub const COULDNT_RESOLVE_HOST: u8 = 6;
/// Connect failure.
pub const COULDNT_CONNECT: u8 = 7;
/// The server broke HTTP.
pub const WEIRD_SERVER_REPLY: u8 = 8;
/// Body cut short.
pub const PARTIAL_FILE: u8 = 18;
/// `-f` and a status ≥ 400.
pub const HTTP_RETURNED_ERROR: u8 = 22;
/// Output could not be written.
pub const WRITE_ERROR: u8 = 23;
/// The upload could not be read.
pub const READ_ERROR: u8 = 26;
/// Redirects not followed: too many, a loop, an unusable `Location`.
pub const TOO_MANY_REDIRECTS: u8 = 47;
/// A deadline passed.
pub const OPERATION_TIMEDOUT: u8 = 28;
/// TLS handshake failure.
pub const SSL_CONNECT_ERROR: u8 = 35;
/// Closed before any response byte.
pub const GOT_NOTHING: u8 = 52;
/// Failure while receiving.
pub const RECV_ERROR: u8 = 56;
/// Certificate not trusted.
pub const PEER_FAILED_VERIFICATION: u8 = 60;
/// A compressed body that does not decode.
pub const BAD_CONTENT_ENCODING: u8 = 61;
/// A compressed body over the decoded size limit.
pub const FILESIZE_EXCEEDED: u8 = 63;
/// Unusable `--cacert` file.
pub const SSL_CACERT_BADFILE: u8 = 77;

/// The exit code for a request that failed with `error`; `reading_body` when the head
/// had arrived and the body was being read.
pub fn for_error(error: &Error, reading_body: bool) -> u8 {
    match error.kind() {
        ErrorKind::Dns => COULDNT_RESOLVE_HOST,
        ErrorKind::Connect => COULDNT_CONNECT,
        // A refused CONNECT (curl: "CONNECT tunnel failed, response 403"), or a proxy
        // that closed, reset or answered garbage during it.
        ErrorKind::Proxy => RECV_ERROR,
        ErrorKind::ConnectTimeout
        | ErrorKind::ProxyConnectTimeout
        | ErrorKind::TlsHandshakeTimeout
        | ErrorKind::ResponseHeaderTimeout
        | ErrorKind::Timeout => OPERATION_TIMEDOUT,
        ErrorKind::Tls => match tls_kind(error) {
            Some(
                TlsKind::UnknownIssuer
                | TlsKind::CertificateExpired
                | TlsKind::CertificateNotYetValid
                | TlsKind::HostnameMismatch
                | TlsKind::InvalidCertificate,
            ) => PEER_FAILED_VERIFICATION,
            _ => SSL_CONNECT_ERROR,
        },
        ErrorKind::Protocol | ErrorKind::ConnectionClosed if reading_body => PARTIAL_FILE,
        ErrorKind::Protocol => WEIRD_SERVER_REPLY,
        ErrorKind::ConnectionClosed => GOT_NOTHING,
        ErrorKind::Io => RECV_ERROR,
        ErrorKind::RequestBody => READ_ERROR,
        ErrorKind::Redirect => TOO_MANY_REDIRECTS,
        ErrorKind::Decode => BAD_CONTENT_ENCODING,
        ErrorKind::BodyTooLarge => FILESIZE_EXCEEDED,
        _ => OTHER,
    }
}

/// As [`for_error`], for a request sent through a proxy: the only name the client
/// resolves then is the proxy's, so a DNS failure is curl's 5, not 6.
pub fn for_proxied_error(error: &Error, reading_body: bool) -> u8 {
    match error.kind() {
        ErrorKind::Dns => COULDNT_RESOLVE_PROXY,
        _ => for_error(error, reading_body),
    }
}

/// The TLS error kind behind a `Tls` error, if its source says.
fn tls_kind(error: &Error) -> Option<TlsKind> {
    let mut next: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<wirepool::tls::Error>() {
            return Some(tls.kind());
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_curls_codes() {
        let code = |kind, body| for_error(&Error::new(kind), body);
        assert_eq!(code(ErrorKind::Dns, false), 6);
        assert_eq!(code(ErrorKind::Connect, false), 7);
        for kind in [
            ErrorKind::ConnectTimeout,
            ErrorKind::TlsHandshakeTimeout,
            ErrorKind::ResponseHeaderTimeout,
            ErrorKind::Timeout,
        ] {
            assert_eq!(code(kind, false), 28, "{kind:?}");
        }
        assert_eq!(code(ErrorKind::Tls, false), 35);
        assert_eq!(code(ErrorKind::Protocol, false), 8);
        assert_eq!(code(ErrorKind::Protocol, true), 18);
        assert_eq!(code(ErrorKind::ConnectionClosed, false), 52);
        assert_eq!(code(ErrorKind::ConnectionClosed, true), 18);
        assert_eq!(code(ErrorKind::Io, true), 56);
        assert_eq!(code(ErrorKind::RequestBody, false), 26);
        assert_eq!(code(ErrorKind::Redirect, false), 47);
        assert_eq!(code(ErrorKind::Decode, true), 61);
        assert_eq!(code(ErrorKind::BodyTooLarge, true), 63);
        assert_eq!(code(ErrorKind::PoolClosed, false), 1);
        assert_eq!(code(ErrorKind::Proxy, false), 56);
        assert_eq!(code(ErrorKind::ProxyConnectTimeout, false), 28);
        let proxied = |kind| for_proxied_error(&Error::new(kind), false);
        assert_eq!(proxied(ErrorKind::Dns), 5);
        assert_eq!(proxied(ErrorKind::Connect), 7);
        assert_eq!(proxied(ErrorKind::Proxy), 56);
    }
}
