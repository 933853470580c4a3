//! The crate's one error type, and the mapping from rustls' errors to it.
//!
//! rustls reports failures with a rich but wide enum (`rustls::Error`, over a hundred
//! leaves). The engine and its users need a handful of answers instead: *which* certificate
//! problem, a handshake that could not agree, a peer that broke the protocol, a connection
//! that ended without `close_notify`, or a configuration mistake on our side. This module
//! owns that mapping, in one place, so every caller gets the same answer for the same
//! failure. The rustls error is kept as the [`source`](std::error::Error::source) for logs.
//!
//! Who is at fault is said per kind: the **peer** (its certificate, its protocol), the
//! **caller** (configuration, server name), or the **path between** (a truncated stream).

use std::error::Error as StdError;
use std::fmt;

use rustls::pki_types::{ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, InvalidMessage, PeerIncompatible};

/// What went wrong, in the terms a caller acts on.
///
/// New kinds may be added; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server's certificate chain does not lead to a trusted root (self-signed, an
    /// internal CA we were not told about, or a missing intermediate). Peer's (or
    /// configuration's) fault: add the issuing CA with
    /// [`TlsConfigBuilder::add_ca_pem_file`](crate::TlsConfigBuilder::add_ca_pem_file) if it is
    /// legitimately yours. Never retried.
    UnknownIssuer,
    /// The server's certificate (or one in its chain) has expired. Peer's fault. Never retried.
    CertificateExpired,
    /// The server's certificate is not valid yet: it was issued for the future, or this
    /// machine's clock is behind. Never retried.
    CertificateNotYetValid,
    /// The certificate is valid but not for the host we dialed. The message names the
    /// expected host and, where rustls tells us, the names the certificate holds. Never
    /// retried: it usually means a wrong URL, a wrong DNS answer or an interception.
    HostnameMismatch,
    /// Any other problem with the server's certificate: bad signature, revoked, wrong
    /// purpose (not a TLS server certificate), unparsable, or no certificate at all.
    InvalidCertificate,
    /// The server refused our client certificate, or required one and we sent none
    /// (mutual TLS). With TLS 1.3 this can arrive *after* the client considers the
    /// handshake done, on the first read. Configure one with
    /// [`TlsConfigBuilder::client_cert_pem_files`](crate::TlsConfigBuilder::client_cert_pem_files).
    ClientCertificateRejected,
    /// The handshake failed for another reason: no cipher suite, key exchange group or
    /// signature scheme in common, a fatal alert from the server, no common application
    /// protocol, or the connection closing before the handshake completed.
    HandshakeFailure,
    /// No TLS protocol version in common: the server speaks only versions we refuse
    /// (below TLS 1.2, or below the configured minimum).
    ProtocolVersion,
    /// The peer broke the TLS protocol after the handshake: a record that fails to
    /// decrypt, a malformed or unexpected message, or a fatal alert. The connection is
    /// unusable.
    Protocol,
    /// The transport reached EOF without the peer's `close_notify`. Data read so far is
    /// authentic but possibly incomplete: for a close-delimited body this means the body
    /// may have been truncated, by the server or by an attacker. Harmless when the message
    /// framing says the response was already complete, or when the connection was idle.
    Truncated,
    /// The server name given for a session is neither a DNS name nor an IP address.
    /// Caller's fault.
    InvalidServerName,
    /// The configuration could not be built: an unreadable or malformed CA, certificate or
    /// key file, a key that does not match its certificate, or no trust roots at all.
    /// Caller's (or the environment's) fault, found when the configuration is built, never
    /// during a request.
    Config,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnknownIssuer => "server certificate issued by an unknown authority",
            ErrorKind::CertificateExpired => "server certificate expired",
            ErrorKind::CertificateNotYetValid => "server certificate not yet valid",
            ErrorKind::HostnameMismatch => "server certificate not valid for the host",
            ErrorKind::InvalidCertificate => "invalid server certificate",
            ErrorKind::ClientCertificateRejected => "server rejected the client certificate",
            ErrorKind::HandshakeFailure => "tls handshake failed",
            ErrorKind::ProtocolVersion => "no tls protocol version in common",
            ErrorKind::Protocol => "tls protocol violation by the peer",
            ErrorKind::Truncated => "connection closed without tls close_notify",
            ErrorKind::InvalidServerName => "invalid tls server name",
            ErrorKind::Config => "invalid tls configuration",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every fallible `tls-glue` call: a [`kind`](Error::kind), a short detail
/// where we know one (the expected host, the file that failed), and the underlying rustls
/// or I/O error as [`source`](StdError::source).
pub struct Error {
    kind: ErrorKind,
    detail: Option<String>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True for the kinds that are about the server's certificate (unknown issuer, expired,
    /// not yet valid, hostname mismatch, invalid). Such errors are never worth a retry.
    pub fn is_certificate_error(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::UnknownIssuer
                | ErrorKind::CertificateExpired
                | ErrorKind::CertificateNotYetValid
                | ErrorKind::HostnameMismatch
                | ErrorKind::InvalidCertificate
        )
    }

    /// True if the connection ended without `close_notify` (see [`ErrorKind::Truncated`]).
    pub fn is_truncated(&self) -> bool {
        self.kind == ErrorKind::Truncated
    }

    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            detail: None,
            source: None,
        }
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Maps an error from rustls' `process_new_packets` (or the handshake driven by it).
    /// `handshaking` says whether the handshake was still running, which decides between
    /// [`ErrorKind::HandshakeFailure`] and [`ErrorKind::Protocol`] for the generic cases.
    pub(crate) fn from_rustls(err: rustls::Error, handshaking: bool) -> Self {
        let generic = if handshaking {
            ErrorKind::HandshakeFailure
        } else {
            ErrorKind::Protocol
        };
        let (kind, detail) = match &err {
            rustls::Error::InvalidCertificate(cert) => certificate_kind(cert),
            rustls::Error::NoCertificatesPresented => (
                ErrorKind::InvalidCertificate,
                Some("the server presented no certificate".to_owned()),
            ),
            rustls::Error::PeerIncompatible(incompatible) => match incompatible {
                PeerIncompatible::ServerDoesNotSupportTls12Or13
                | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
                | PeerIncompatible::SupportedVersionsExtensionRequired
                | PeerIncompatible::Tls12NotOffered
                | PeerIncompatible::Tls12NotOfferedOrEnabled => (ErrorKind::ProtocolVersion, None),
                _ => (ErrorKind::HandshakeFailure, None),
            },
            rustls::Error::AlertReceived(alert) => alert_kind(*alert, generic),
            rustls::Error::NoApplicationProtocol => (
                ErrorKind::HandshakeFailure,
                Some("no application protocol in common (we offer http/1.1)".to_owned()),
            ),
            rustls::Error::InconsistentKeys(_) => (ErrorKind::Config, None),
            // The first bytes back are not a TLS record at all: typically `https://` to a
            // plain-HTTP port ("HTTP/1.1 400 ..." starts with 0x48, not a content type).
            rustls::Error::InvalidMessage(
                InvalidMessage::InvalidContentType | InvalidMessage::UnknownProtocolVersion,
            ) if handshaking => (
                ErrorKind::HandshakeFailure,
                Some("the server did not answer with TLS (a plain-text port?)".to_owned()),
            ),
            _ => (generic, None),
        };
        let mut out = Error::new(kind).with_source(err);
        out.detail = detail;
        out
    }

    /// The error for a transport EOF seen without `close_notify`.
    pub(crate) fn unclean_eof(handshaking: bool) -> Self {
        if handshaking {
            Error::new(ErrorKind::HandshakeFailure)
                .with_detail("the connection closed during the handshake")
        } else {
            Error::new(ErrorKind::Truncated)
        }
    }
}

fn certificate_kind(cert: &CertificateError) -> (ErrorKind, Option<String>) {
    match cert {
        CertificateError::UnknownIssuer => (ErrorKind::UnknownIssuer, None),
        CertificateError::Expired => (ErrorKind::CertificateExpired, None),
        CertificateError::ExpiredContext { time, not_after } => (
            ErrorKind::CertificateExpired,
            Some(format!(
                "valid until {}, now {}",
                Timestamp(*not_after),
                Timestamp(*time)
            )),
        ),
        CertificateError::NotValidYet => (ErrorKind::CertificateNotYetValid, None),
        CertificateError::NotValidYetContext { time, not_before } => (
            ErrorKind::CertificateNotYetValid,
            Some(format!(
                "valid from {}, now {}",
                Timestamp(*not_before),
                Timestamp(*time)
            )),
        ),
        // The plain variant carries no names: the session adds the expected host.
        CertificateError::NotValidForName => (ErrorKind::HostnameMismatch, None),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => (
            ErrorKind::HostnameMismatch,
            Some(name_mismatch_detail(expected, presented)),
        ),
        _ => (ErrorKind::InvalidCertificate, None),
    }
}

fn alert_kind(alert: AlertDescription, generic: ErrorKind) -> (ErrorKind, Option<String>) {
    let kind = match alert {
        AlertDescription::ProtocolVersion => ErrorKind::ProtocolVersion,
        // A server only sends certificate alerts about the certificate *we* sent (or the
        // one it required and did not get).
        AlertDescription::CertificateRequired
        | AlertDescription::BadCertificate
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::CertificateRevoked
        | AlertDescription::CertificateExpired
        | AlertDescription::CertificateUnknown
        | AlertDescription::UnknownCA
        | AlertDescription::AccessDenied => ErrorKind::ClientCertificateRejected,
        AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity => {
            ErrorKind::HandshakeFailure
        }
        _ => generic,
    };
    (kind, Some(format!("the server sent alert {alert:?}")))
}

/// "expected "a.example"; the certificate is valid for: "b.example", "c.example"".
pub(crate) fn name_mismatch_detail(expected: &ServerName<'_>, presented: &[String]) -> String {
    let expected = server_name_str(expected);
    if presented.is_empty() {
        format!("expected \"{expected}\"; the certificate names no host")
    } else {
        let names: Vec<String> = presented.iter().map(|n| readable_name(n)).collect();
        format!(
            "expected \"{expected}\"; the certificate is valid for: {}",
            names.join(", ")
        )
    }
}

/// webpki describes the names a certificate holds in `Debug` form (`DnsName("a.example")`,
/// `IpAddress(10.0.0.1)`); show them as a person would write them.
fn readable_name(presented: &str) -> String {
    if let Some(dns) = presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
    {
        format!("\"{dns}\"")
    } else if let Some(ip) = presented
        .strip_prefix("IpAddress(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        ip.to_owned()
    } else {
        presented.to_owned()
    }
}

pub(crate) fn server_name_str(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(dns) => dns.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

impl Error {
    /// Adds the expected host to a hostname mismatch that rustls reported without context.
    pub(crate) fn add_expected_host(mut self, expected: &ServerName<'_>) -> Self {
        if self.kind == ErrorKind::HostnameMismatch && self.detail.is_none() {
            self.detail = Some(format!("expected \"{}\"", server_name_str(expected)));
        }
        self
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if let Some(detail) = &self.detail {
            d.field("detail", detail);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// A UTC timestamp printed as `2024-05-01T12:00:00Z`, so that an expiry message can be read
/// without a calculator (and without a date crate).
struct Timestamp(UnixTime);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_utc_dates() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_704_067_199, "2023-12-31T23:59:59Z"),
            (4_102_444_800, "2100-01-01T00:00:00Z"),
        ];
        for (secs, want) in cases {
            let got = Timestamp(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                secs,
            )))
            .to_string();
            assert_eq!(got, want, "{secs}");
        }
    }

    #[test]
    fn rustls_errors_map_to_kinds() {
        let cases: Vec<(rustls::Error, bool, ErrorKind)> = vec![
            (
                CertificateError::UnknownIssuer.into(),
                true,
                ErrorKind::UnknownIssuer,
            ),
            (
                CertificateError::Expired.into(),
                true,
                ErrorKind::CertificateExpired,
            ),
            (
                CertificateError::NotValidYet.into(),
                true,
                ErrorKind::CertificateNotYetValid,
            ),
            (
                CertificateError::NotValidForName.into(),
                true,
                ErrorKind::HostnameMismatch,
            ),
            (
                CertificateError::BadSignature.into(),
                true,
                ErrorKind::InvalidCertificate,
            ),
            (
                PeerIncompatible::ServerDoesNotSupportTls12Or13.into(),
                true,
                ErrorKind::ProtocolVersion,
            ),
            (
                PeerIncompatible::NoCipherSuitesInCommon.into(),
                true,
                ErrorKind::HandshakeFailure,
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::ProtocolVersion),
                true,
                ErrorKind::ProtocolVersion,
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
                false,
                ErrorKind::ClientCertificateRejected,
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::InternalError),
                true,
                ErrorKind::HandshakeFailure,
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::InternalError),
                false,
                ErrorKind::Protocol,
            ),
            (rustls::Error::DecryptError, false, ErrorKind::Protocol),
            (
                rustls::Error::DecryptError,
                true,
                ErrorKind::HandshakeFailure,
            ),
        ];
        for (err, handshaking, want) in cases {
            let shown = format!("{err:?}");
            let got = Error::from_rustls(err, handshaking);
            assert_eq!(got.kind(), want, "{shown} (handshaking: {handshaking})");
            assert!(got.source().is_some());
        }
    }

    #[test]
    fn hostname_mismatch_names_both_sides() {
        let expected = ServerName::try_from("api.example").unwrap().to_owned();
        let err = Error::from_rustls(
            CertificateError::NotValidForNameContext {
                expected,
                presented: vec!["DnsName(\"www.example\")".to_owned()],
            }
            .into(),
            true,
        );
        let text = err.to_string();
        assert!(text.starts_with("server certificate not valid for the host"));
        assert!(text.contains("expected \"api.example\""), "{text}");
        assert!(
            text.ends_with("the certificate is valid for: \"www.example\""),
            "{text}"
        );
    }

    #[test]
    fn display_is_lowercase_and_does_not_repeat_the_source() {
        let err = Error::from_rustls(rustls::Error::DecryptError, false);
        let text = err.to_string();
        assert_eq!(text, "tls protocol violation by the peer");
        assert!(text.chars().next().is_some_and(|c| c.is_lowercase()));
    }
}
