//! TLS client configuration: trust roots, extra CAs, client certificates, protocol floor,
//! ALPN, the crypto provider and the session-resumption cache.
//!
//! A [`TlsConfig`] is built once per Client and shared by every connection it opens
//! (cloning it is an `Arc` clone). Everything that can fail — reading CA files, parsing
//! keys, loading the OS trust store — fails in [`TlsConfigBuilder::build`], before the first
//! request, never inside a handshake. This module does file I/O only there; sessions never
//! touch the file system.
//!
//! What is fixed rather than configurable, and why:
//! - ALPN offers exactly `http/1.1`: the engine speaks nothing else, and a server that would
//!   pick `h2` for us must not.
//! - TLS 1.2 is the floor (TLS 1.0/1.1 are deprecated by RFC 8996); it can be raised to 1.3.
//! - SNI is sent for DNS names and never for IP literals (RFC 6066 forbids it).
//! - Certificate verification is on. The only way around it is the loudly named
//!   [`TlsConfigBuilder::danger_accept_invalid_certs_for_testing_only`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, ErrorKind};
use crate::session::TlsSession;

/// The ALPN protocol we offer, and the only one we accept.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Default capacity of the resumption cache, in server names. rustls keeps a few
/// tickets per name; 256 names covers the hosts a typical service talks to, at a few
/// hundred bytes each.
pub const DEFAULT_MAX_CACHED_SESSIONS: usize = 256;

/// Where the trust anchors for server certificates come from.
///
/// CA files added with [`TlsConfigBuilder::add_ca_pem_file`] are trusted *in addition*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustRoots {
    /// The operating system's trust store, read once when the configuration is built
    /// (`rustls-native-certs`: on Linux the usual bundle files, honouring `SSL_CERT_FILE`
    /// and `SSL_CERT_DIR`). The default, when the `native-roots` feature is on (it is by
    /// default); see `docs/tls.md` for why.
    #[cfg(feature = "native-roots")]
    System,
    /// Mozilla's root program as bundled into the binary by `webpki-roots` (feature
    /// `webpki-roots`): the same on every machine, and works in images without
    /// `/etc/ssl`, but only as fresh as the crate version.
    #[cfg(feature = "webpki-roots")]
    Bundled,
    /// No built-in roots: only the CAs added explicitly. For internal services with a
    /// private CA, and for tests.
    OnlyAdded,
}

/// The lowest TLS protocol version the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2 (RFC 5246).
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}

/// A built, immutable TLS client configuration; cheap to clone (an `Arc`).
///
/// Every [`TlsSession`] made by [`new_session`](TlsConfig::new_session) shares the one
/// resumption cache inside, so a re-dial to a host resumes the previous session instead of
/// running a full handshake.
#[derive(Clone)]
pub struct TlsConfig {
    rustls: Arc<ClientConfig>,
    root_count: usize,
    verifies_certificates: bool,
}

impl TlsConfig {
    /// Starts a builder with the defaults: system roots (or none, if the `native-roots`
    /// feature is off), TLS 1.2 minimum, ALPN `http/1.1`, a resumption cache of
    /// [`DEFAULT_MAX_CACHED_SESSIONS`], no client certificate.
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder::new()
    }

    /// Starts a client session to `host`: a DNS name (sent as SNI and checked against the
    /// certificate) or an IP literal, with or without brackets (checked against the
    /// certificate's IP SANs; no SNI is sent). The session has its `ClientHello` ready to be
    /// written ([`TlsSession::wants_write`] is true).
    pub fn new_session(&self, host: &str) -> Result<TlsSession, Error> {
        let server_name = parse_server_name(host)?;
        TlsSession::new(Arc::clone(&self.rustls), server_name)
    }

    /// How many trust anchors the configuration holds (built-in plus added). Useful in a
    /// startup log line.
    pub fn root_count(&self) -> usize {
        self.root_count
    }

    /// False only for configurations built with
    /// [`TlsConfigBuilder::danger_accept_invalid_certs_for_testing_only`].
    pub fn verifies_certificates(&self) -> bool {
        self.verifies_certificates
    }

    /// The rustls configuration inside, for inspection (cipher suites, provider).
    pub fn as_rustls(&self) -> &Arc<ClientConfig> {
        &self.rustls
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("root_count", &self.root_count)
            .field("verifies_certificates", &self.verifies_certificates)
            .field("alpn", &"http/1.1")
            .field(
                "client_auth",
                &self.rustls.client_auth_cert_resolver.has_certs(),
            )
            .finish()
    }
}

/// Parses what the engine has as a URL host into a rustls server name.
fn parse_server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare)
        .map(|name| name.to_owned())
        .map_err(|e| {
            Error::new(ErrorKind::InvalidServerName)
                .with_detail(format!("{host:?}"))
                .with_source(e)
        })
}

/// Where a client certificate chain and its key come from.
#[derive(Clone)]
enum ClientIdentity {
    Files { cert: PathBuf, key: PathBuf },
    Pem { cert: Vec<u8>, key: Vec<u8> },
}

/// Where an extra CA comes from.
#[derive(Debug, Clone)]
enum CaSource {
    File(PathBuf),
    Pem(Vec<u8>),
}

/// Builds a [`TlsConfig`]. Setters record; [`build`](TlsConfigBuilder::build) reads files and
/// reports the first problem.
pub struct TlsConfigBuilder {
    roots: TrustRoots,
    extra_cas: Vec<CaSource>,
    identity: Option<ClientIdentity>,
    min_version: TlsVersion,
    max_cached_sessions: usize,
    session_store: Option<Arc<dyn ClientSessionStore>>,
    provider: Option<Arc<CryptoProvider>>,
    accept_invalid_certs: bool,
}

impl fmt::Debug for TlsConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfigBuilder")
            .field("roots", &self.roots)
            .field("extra_cas", &self.extra_cas.len())
            .field("client_identity", &self.identity.is_some())
            .field("min_version", &self.min_version)
            .field("max_cached_sessions", &self.max_cached_sessions)
            .field("custom_session_store", &self.session_store.is_some())
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

impl Default for TlsConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsConfigBuilder {
    /// The defaults described at [`TlsConfig::builder`].
    pub fn new() -> Self {
        TlsConfigBuilder {
            #[cfg(feature = "native-roots")]
            roots: TrustRoots::System,
            #[cfg(not(feature = "native-roots"))]
            roots: TrustRoots::OnlyAdded,
            extra_cas: Vec::new(),
            identity: None,
            min_version: TlsVersion::Tls12,
            max_cached_sessions: DEFAULT_MAX_CACHED_SESSIONS,
            session_store: None,
            provider: None,
            accept_invalid_certs: false,
        }
    }

    /// Chooses the built-in trust anchors.
    pub fn trust_roots(mut self, roots: TrustRoots) -> Self {
        self.roots = roots;
        self
    }

    /// Also trusts every certificate in a PEM file (one or more `CERTIFICATE` blocks), e.g.
    /// an internal CA. Read by [`build`](TlsConfigBuilder::build).
    pub fn add_ca_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        self.extra_cas
            .push(CaSource::File(path.as_ref().to_path_buf()));
        self
    }

    /// Also trusts every certificate in PEM text held in memory.
    pub fn add_ca_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.extra_cas.push(CaSource::Pem(pem.as_ref().to_vec()));
        self
    }

    /// Presents a client certificate (mutual TLS) when the server asks for one: a PEM file
    /// with the certificate chain, leaf first, and a PEM file with its private key (PKCS#8,
    /// PKCS#1 or SEC1).
    pub fn client_cert_pem_files(mut self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        self.identity = Some(ClientIdentity::Files {
            cert: cert.as_ref().to_path_buf(),
            key: key.as_ref().to_path_buf(),
        });
        self
    }

    /// Like [`client_cert_pem_files`](Self::client_cert_pem_files), from PEM text in memory.
    pub fn client_cert_pem(mut self, cert: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Self {
        self.identity = Some(ClientIdentity::Pem {
            cert: cert.as_ref().to_vec(),
            key: key.as_ref().to_vec(),
        });
        self
    }

    /// Raises the lowest accepted protocol version (default [`TlsVersion::Tls12`]).
    pub fn min_protocol_version(mut self, version: TlsVersion) -> Self {
        self.min_version = version;
        self
    }

    /// Capacity of the built-in resumption cache, in server names; `0` turns session
    /// resumption off (every dial runs a full handshake).
    pub fn max_cached_sessions(mut self, max: usize) -> Self {
        self.max_cached_sessions = max;
        self
    }

    /// Uses a caller-provided resumption store instead of the built-in memory cache, e.g.
    /// to share one store between several configurations.
    pub fn session_store(mut self, store: Arc<dyn ClientSessionStore>) -> Self {
        self.session_store = Some(store);
        self
    }

    /// Uses a specific rustls crypto provider instead of the one chosen by this crate's
    /// features (`aws-lc-rs` if enabled, else `ring`).
    pub fn crypto_provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// **Disables server certificate verification.** Any certificate, for any name, from
    /// any issuer, expired or not, is accepted: a network attacker can read and change
    /// all traffic. For tests against throwaway servers only; never a default, never
    /// reachable from an environment variable. The handshake signature is still checked
    /// against the presented certificate.
    pub fn danger_accept_invalid_certs_for_testing_only(mut self) -> Self {
        self.accept_invalid_certs = true;
        self
    }

    /// Reads the files, loads the roots and builds the configuration.
    ///
    /// Fails with [`ErrorKind::Config`] if a file cannot be read or parsed, a key does not
    /// match its certificate, or there are no trust anchors at all (an empty OS store in a
    /// minimal container image, say) — failing here beats failing every handshake with
    /// "unknown issuer".
    pub fn build(self) -> Result<TlsConfig, Error> {
        let provider = match self.provider {
            Some(provider) => provider,
            None => Arc::new(default_provider()),
        };
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .map_err(|e| config_error("the crypto provider does not support TLS 1.2/1.3", e))?;

        let mut roots = RootCertStore::empty();
        load_builtin_roots(self.roots, &mut roots)?;
        for ca in &self.extra_cas {
            add_extra_ca(ca, &mut roots)?;
        }
        let root_count = roots.len();

        let builder = if self.accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                    provider: Arc::clone(&provider),
                }))
        } else {
            if roots.is_empty() {
                return Err(Error::new(ErrorKind::Config).with_detail(
                    "no trust roots: the system store is empty and no CA was added \
                     (install ca-certificates, set SSL_CERT_FILE, or add a CA file)",
                ));
            }
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| config_error("cannot build the certificate verifier", e))?;
            builder.with_webpki_verifier(verifier)
        };

        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let (chain, key) = load_identity(identity)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| config_error("client certificate and key", e))?
            }
        };

        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        config.resumption = match (self.session_store, self.max_cached_sessions) {
            (Some(store), _) => Resumption::store(store),
            (None, 0) => Resumption::disabled(),
            (None, max) => Resumption::store(Arc::new(ClientSessionMemoryCache::new(max))),
        };

        Ok(TlsConfig {
            rustls: Arc::new(config),
            root_count,
            verifies_certificates: !self.accept_invalid_certs,
        })
    }
}

/// The provider this crate's features select: `aws-lc-rs` when that feature is enabled
/// explicitly, otherwise `ring` (the default; `docs/tls.md` has the measurements).
pub fn default_provider() -> CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    {
        rustls::crypto::aws_lc_rs::default_provider()
    }
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    {
        rustls::crypto::ring::default_provider()
    }
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    compile_error!("tls-glue needs a crypto provider: enable the `ring` or `aws-lc-rs` feature")
}

fn config_error(what: &str, source: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::new(ErrorKind::Config)
        .with_detail(what)
        .with_source(source)
}

fn file_error(path: &Path, source: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::new(ErrorKind::Config)
        .with_detail(format!("cannot use {}", path.display()))
        .with_source(source)
}

#[cfg_attr(
    not(any(feature = "native-roots", feature = "webpki-roots")),
    allow(unused_variables)
)]
fn load_builtin_roots(which: TrustRoots, roots: &mut RootCertStore) -> Result<(), Error> {
    match which {
        #[cfg(feature = "native-roots")]
        TrustRoots::System => {
            // Unreadable individual files are not fatal as long as something loaded; an
            // empty store is reported by `build`.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
        #[cfg(feature = "webpki-roots")]
        TrustRoots::Bundled => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        TrustRoots::OnlyAdded => {}
    }
    Ok(())
}

fn add_extra_ca(ca: &CaSource, roots: &mut RootCertStore) -> Result<(), Error> {
    let certs: Vec<CertificateDer<'static>> = match ca {
        CaSource::File(path) => CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<_, _>>())
            .map_err(|e| file_error(path, e))?,
        CaSource::Pem(pem) => CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| config_error("cannot parse CA PEM", e))?,
    };
    if certs.is_empty() {
        let detail = match ca {
            CaSource::File(path) => format!("no CERTIFICATE block in {}", path.display()),
            CaSource::Pem(_) => "no CERTIFICATE block in CA PEM".to_owned(),
        };
        return Err(Error::new(ErrorKind::Config).with_detail(detail));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| match ca {
            CaSource::File(path) => file_error(path, e),
            CaSource::Pem(_) => config_error("invalid CA certificate", e),
        })?;
    }
    Ok(())
}

fn load_identity(
    identity: &ClientIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let (chain, key) = match identity {
        ClientIdentity::Files { cert, key } => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|iter| iter.collect::<Result<_, _>>())
                .map_err(|e| file_error(cert, e))?;
            if chain.is_empty() {
                return Err(Error::new(ErrorKind::Config)
                    .with_detail(format!("no CERTIFICATE block in {}", cert.display())));
            }
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
            (chain, key)
        }
        ClientIdentity::Pem { cert, key } => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<_, _>>()
                .map_err(|e| config_error("cannot parse client certificate PEM", e))?;
            if chain.is_empty() {
                return Err(Error::new(ErrorKind::Config)
                    .with_detail("no CERTIFICATE block in client certificate PEM"));
            }
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| config_error("cannot parse client key PEM", e))?;
            (chain, key)
        }
    };
    Ok((chain, key))
}

/// The verifier behind [`TlsConfigBuilder::danger_accept_invalid_certs_for_testing_only`]:
/// accepts any certificate but still checks that the peer holds its key.
#[derive(Debug)]
struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_from_url_hosts() {
        let cases = [
            ("example.com", true),
            ("127.0.0.1", false),
            ("::1", false),
            ("[::1]", false),
        ];
        for (host, is_dns) in cases {
            let name = parse_server_name(host).unwrap();
            assert_eq!(matches!(name, ServerName::DnsName(_)), is_dns, "{host}");
        }
        for bad in ["", "exa mple.com", "[example.com", "a..b"] {
            let err = parse_server_name(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidServerName, "{bad:?}");
        }
    }

    #[test]
    fn no_roots_is_a_config_error_at_build_time() {
        let err = TlsConfig::builder()
            .trust_roots(TrustRoots::OnlyAdded)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("no trust roots"), "{err}");
    }

    #[test]
    fn unreadable_ca_file_names_the_file() {
        let err = TlsConfig::builder()
            .add_ca_pem_file("/nonexistent/wirepool-ca.pem")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string().contains("/nonexistent/wirepool-ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn pem_without_certificates_is_rejected() {
        let err = TlsConfig::builder()
            .trust_roots(TrustRoots::OnlyAdded)
            .add_ca_pem("just some text\n")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[cfg(feature = "webpki-roots")]
    #[test]
    fn bundled_roots_are_compiled_in() {
        let config = TlsConfig::builder()
            .trust_roots(TrustRoots::Bundled)
            .build()
            .unwrap();
        assert!(config.root_count() > 100, "{}", config.root_count());
    }

    #[test]
    fn danger_mode_is_visible() {
        let config = TlsConfig::builder()
            .trust_roots(TrustRoots::OnlyAdded)
            .danger_accept_invalid_certs_for_testing_only()
            .build()
            .unwrap();
        assert!(!config.verifies_certificates());
        assert!(format!("{config:?}").contains("verifies_certificates: false"));
    }
}
