//! An in-process TLS test server, and the certificates it needs, made at test time.
//!
//! HTTPS behaviour of a pool only shows against a real TLS peer on a real socket: which
//! connections ran a full handshake and which resumed one, whether a certificate problem
//! failed the request before any byte was sent, what the client made of a close without
//! `close_notify`. This module gives tests that peer:
//!
//! ```
//! use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
//!
//! let pki = TestPki::new(); // a CA, generated now
//! // A keep-alive HTTPS server whose certificate names `localhost` and `127.0.0.1`.
//! let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"hello");
//! // ... point a client that trusts `pki.ca_pem()` at server.url("/") ...
//! assert_eq!(server.handshakes().len(), 0);
//! ```
//!
//! What it offers:
//! - [`TestPki`]: a CA made with rcgen, and leaves minted from it: server certificates for
//!   chosen names (DNS names and IP literals become SANs of the right type), expired and
//!   not-yet-valid ones, one for the wrong name, one from a CA nobody trusts, and client
//!   certificates for mutual TLS; PEM text, or a [`TempFile`] for `--cacert PATH` tests.
//! - [`TlsTestServer`]: a [`TestServer`] whose connections speak TLS. The handler gets the
//!   same [`ServerConn`] (reads and writes go through rustls), so every
//!   [`Script`] runs over TLS unchanged; [`TlsScript`] adds the behaviours only
//!   TLS has (close with or without `close_notify`, never answering the handshake). It
//!   counts what plain servers count and, per connection, the [`Handshake`]: full or
//!   resumed, version, whether the client presented a certificate, SNI, ALPN.
//! - [`ServerSetup`]: the server's certificate, whether it requires a client certificate,
//!   which protocol versions it speaks, and how it resumes sessions (on by default: a
//!   session cache shared by all connections, which serves TLS 1.2 session ids and TLS 1.3
//!   tickets, so a client's re-dial can resume).
//!
//! The guarantees of [`TestServer`] hold here too: every blocking operation times out
//! ([`IO_TIMEOUT`](crate::IO_TIMEOUT), the handshake included), and dropping the server
//! stops it without hanging.
//!
//! What it is not: a TLS implementation under test. It is rustls with its defaults, on
//! blocking sockets, a thread per connection, and the ring provider (the one `tls-glue`
//! uses by default).

use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};

use crate::{RecordedRequest, Script, ServerConn, TestServer};

/// The rustls the server is built on, for tests that drive a plain rustls client.
pub use rustls;

/// The names [`TestPki::localhost_cert`] and [`ServerSetup::localhost`] certify: the
/// loopback host as a DNS name and as an IP literal.
pub const LOCALHOST: &[&str] = &["localhost", "127.0.0.1"];

/// The only name in [`TestPki::wrong_name_server_cert`]: a host no test connects to.
pub const WRONG_NAME: &str = "wrong-host.example";

/// The ALPN protocol the server offers (the only one wirepool speaks).
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The crypto provider of every configuration made here: ring, as `tls-glue` by default.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// ---------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------

/// A throwaway public-key infrastructure: one CA, generated when the test starts, that
/// signs server and client certificates.
pub struct TestPki {
    name: String,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki")
            .field("ca", &self.name)
            .finish_non_exhaustive()
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

impl TestPki {
    /// A new CA named `wirepool test ca`.
    pub fn new() -> TestPki {
        TestPki::with_name("wirepool test ca")
    }

    /// A new CA with `name` as its common name.
    pub fn with_name(name: &str) -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        TestPki {
            name: name.to_owned(),
            ca: CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// The CA certificate in PEM: what a client must trust.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The CA certificate written to a temporary file (removed when the [`TempFile`]
    /// drops), for `--cacert PATH` style configuration.
    pub fn ca_pem_file(&self) -> TempFile {
        TempFile::new("ca.pem", self.ca_pem().as_bytes())
    }

    /// A server certificate for `names`, valid now. Each name that parses as an IP address
    /// becomes an IP SAN, every other one a DNS SAN.
    pub fn server_cert(&self, names: &[&str]) -> Identity {
        self.server_cert_with(names, Validity::Current)
    }

    /// A server certificate for [`LOCALHOST`] (`localhost`, `127.0.0.1`).
    pub fn localhost_cert(&self) -> Identity {
        self.server_cert(LOCALHOST)
    }

    /// A server certificate for `names` with the given validity window.
    pub fn server_cert_with(&self, names: &[&str], validity: Validity) -> Identity {
        self.leaf(names, validity, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A server certificate for `names` that expired in 2001.
    pub fn expired_server_cert(&self, names: &[&str]) -> Identity {
        self.server_cert_with(names, Validity::Expired)
    }

    /// A server certificate for `names` valid only from the year 3000.
    pub fn not_yet_valid_server_cert(&self, names: &[&str]) -> Identity {
        self.server_cert_with(names, Validity::NotYetValid)
    }

    /// A valid server certificate for [`WRONG_NAME`] only: wrong for any host a test
    /// connects to.
    pub fn wrong_name_server_cert(&self) -> Identity {
        self.server_cert(&[WRONG_NAME])
    }

    /// A valid server certificate for `names` issued by a CA made for it and then
    /// forgotten: no client trusts it.
    pub fn unknown_ca_server_cert(names: &[&str]) -> Identity {
        TestPki::with_name("unknown test ca").server_cert(names)
    }

    /// A client certificate (mutual TLS) with `common_name` as its subject.
    pub fn client_cert(&self, common_name: &str) -> Identity {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn leaf(&self, names: &[&str], validity: Validity, usage: ExtendedKeyUsagePurpose) -> Identity {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        match validity {
            Validity::Current => {}
            Validity::Expired => {
                params.not_before = date_time_ymd(2000, 1, 1);
                params.not_after = date_time_ymd(2001, 1, 1);
            }
            Validity::NotYetValid => {
                params.not_before = date_time_ymd(3000, 1, 1);
                params.not_after = date_time_ymd(3001, 1, 1);
            }
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// The validity window of a leaf certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// rcgen's default window, 1975 to 4096: valid now.
    Current,
    /// 2000-01-01 to 2001-01-01.
    Expired,
    /// 3000-01-01 to 3001-01-01.
    NotYetValid,
}

/// A certificate (leaf only, no intermediates) and its private key, both in PEM.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The certificate, one `CERTIFICATE` block.
    pub cert_pem: String,
    /// Its private key, PKCS#8 `PRIVATE KEY`.
    pub key_pem: String,
}

impl Identity {
    /// The certificate chain in DER, as rustls takes it.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The private key in DER, as rustls takes it.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap()
    }

    /// The certificate written to a temporary file.
    pub fn cert_pem_file(&self) -> TempFile {
        TempFile::new("cert.pem", self.cert_pem.as_bytes())
    }

    /// The private key written to a temporary file.
    pub fn key_pem_file(&self) -> TempFile {
        TempFile::new("key.pem", self.key_pem.as_bytes())
    }
}

/// A file in the system's temporary directory, removed when this value drops.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// Writes `contents` to a new file whose name ends in `suffix` and is unique to this
    /// process and call.
    pub fn new(suffix: &str, contents: &[u8]) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "wirepool-testkit-{}-{n}-{suffix}",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        TempFile { path }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as a string, for command lines.
    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// Server configuration
// ---------------------------------------------------------------------------------------

/// The TLS protocol versions the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.3 and 1.2 (rustls' default; a rustls client picks 1.3).
    Both,
    /// TLS 1.2 only: resumption by session id.
    Tls12Only,
    /// TLS 1.3 only: resumption by tickets.
    Tls13Only,
}

/// How the server lets clients resume sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerResumption {
    /// A session cache shared by all connections of the server (rustls'
    /// `ServerSessionMemoryCache`): TLS 1.2 session ids, and TLS 1.3 tickets that name a
    /// cache entry. The default.
    SessionCache,
    /// As `SessionCache`, plus stateless tickets (rustls' `Ticketer`): TLS 1.2 session
    /// tickets and self-contained TLS 1.3 tickets.
    Tickets,
    /// No resumption: every handshake is a full one. A client's resumption attempt
    /// falls back to a full handshake.
    Off,
}

/// What a [`TlsTestServer`] presents and requires.
#[derive(Clone, Debug)]
pub struct ServerSetup {
    identity: Identity,
    /// PEM of the CA that client certificates must chain to, when one is required.
    client_ca_pem: Option<String>,
    versions: TlsVersions,
    resumption: ServerResumption,
}

impl ServerSetup {
    /// A server presenting `identity`, no client certificate required, TLS 1.2 and 1.3,
    /// resumption on, ALPN `http/1.1`.
    pub fn new(identity: Identity) -> ServerSetup {
        ServerSetup {
            identity,
            client_ca_pem: None,
            versions: TlsVersions::Both,
            resumption: ServerResumption::SessionCache,
        }
    }

    /// [`new`](Self::new) with a certificate from `pki` for [`LOCALHOST`].
    pub fn localhost(pki: &TestPki) -> ServerSetup {
        ServerSetup::new(pki.localhost_cert())
    }

    /// Requires a client certificate issued by `pki`'s CA (mutual TLS). A client that
    /// sends none, or one from another CA, fails the handshake with an alert.
    pub fn require_client_cert(mut self, pki: &TestPki) -> ServerSetup {
        self.client_ca_pem = Some(pki.ca_pem());
        self
    }

    /// Chooses the protocol versions (default [`TlsVersions::Both`]).
    pub fn versions(mut self, versions: TlsVersions) -> ServerSetup {
        self.versions = versions;
        self
    }

    /// Chooses how sessions resume (default [`ServerResumption::SessionCache`]).
    pub fn resumption(mut self, resumption: ServerResumption) -> ServerSetup {
        self.resumption = resumption;
        self
    }

    /// The rustls configuration, shared by every connection of one server (which is
    /// what makes resumption across connections possible).
    pub fn into_rustls(self) -> Arc<ServerConfig> {
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.versions {
            TlsVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersions::Tls12Only => &[&rustls::version::TLS12],
            TlsVersions::Tls13Only => &[&rustls::version::TLS13],
        };
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .unwrap();
        let builder = match &self.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    roots.add(cert.unwrap()).unwrap();
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(self.identity.chain(), self.identity.key())
            .unwrap();
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        match self.resumption {
            ServerResumption::SessionCache => {
                config.session_storage = ServerSessionMemoryCache::new(1024);
            }
            ServerResumption::Tickets => {
                config.session_storage = ServerSessionMemoryCache::new(1024);
                config.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
            }
            ServerResumption::Off => {
                config.session_storage = Arc::new(NoServerSessionStorage {});
                config.send_tls13_tickets = 0;
            }
        }
        Arc::new(config)
    }
}

// ---------------------------------------------------------------------------------------
// Handshake records
// ---------------------------------------------------------------------------------------

/// Whether a handshake authenticated from scratch or resumed an earlier session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeKind {
    /// Certificates sent and verified, fresh keys (with or without a HelloRetryRequest).
    Full,
    /// An earlier session resumed (TLS 1.3 PSK, TLS 1.2 session id or ticket).
    Resumed,
}

/// A handshake the server completed, as it saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// Index of the connection (0 for the first accepted).
    pub conn: usize,
    /// Full or resumed.
    pub kind: HandshakeKind,
    /// The protocol version, as rustls names it (`TLSv1_3`, `TLSv1_2`).
    pub version: String,
    /// Whether the client presented a certificate.
    pub client_cert: bool,
    /// The SNI the client sent; `None` when it sent none (as for an IP literal).
    pub sni: Option<String>,
    /// The ALPN protocol agreed on, if any.
    pub alpn: Option<Vec<u8>>,
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// A loopback HTTPS server: a [`TestServer`] whose connections speak TLS.
///
/// The handler gets a [`ServerConn`] as with [`TestServer`]; its reads and writes go
/// through rustls, the handshake runs on the first one. Dropping the server stops it.
pub struct TlsTestServer {
    inner: TestServer,
}

impl fmt::Debug for TlsTestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.shared.lock();
        f.debug_struct("TlsTestServer")
            .field("addr", &self.inner.addr)
            .field("connections", &state.connections)
            .field("handshakes", &state.handshakes.len())
            .field("handshake_failures", &state.handshake_failures.len())
            .field("requests", &state.requests)
            .finish_non_exhaustive()
    }
}

impl TlsTestServer {
    /// Starts a TLS server on `127.0.0.1` with an OS-chosen port. Every accepted
    /// connection runs `handler` on its own thread.
    pub fn start<F>(setup: ServerSetup, handler: F) -> TlsTestServer
    where
        F: Fn(&mut ServerConn) + Send + Sync + 'static,
    {
        TlsTestServer {
            inner: TestServer::start_with(Some(setup.into_rustls()), handler),
        }
    }

    /// Every connection answers each request with `200` and `body` until the client
    /// closes (see [`ServerConn::serve_keep_alive`]).
    pub fn keep_alive(setup: ServerSetup, body: &'static [u8]) -> TlsTestServer {
        TlsTestServer::start(setup, move |conn| conn.serve_keep_alive(body))
    }

    /// Runs `script` on every connection.
    pub fn scripted(setup: ServerSetup, script: TlsScript) -> TlsTestServer {
        TlsTestServer::start(setup, move |conn| script.run(conn))
    }

    /// Runs a plain-HTTP [`Script`] over TLS on every connection.
    pub fn http_scripted(setup: ServerSetup, script: Script) -> TlsTestServer {
        TlsTestServer::start(setup, move |conn| script.run(conn))
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr()
    }

    /// `https://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.addr(), path)
    }

    /// `https://HOST:PORT` followed by `path`: the same server under another name (say
    /// `localhost`, which resolves to it; or a name its certificate does not hold).
    pub fn url_with_host(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.addr().port())
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.inner.connections()
    }

    /// Complete requests read so far (see [`TestServer::requests`]).
    pub fn requests(&self) -> usize {
        self.inner.requests()
    }

    /// Every complete request read so far.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.inner.recorded()
    }

    /// Connections accepted and not yet closed on the server side.
    pub fn open_connections(&self) -> usize {
        self.inner.open_connections()
    }

    /// Every handshake completed so far, in order.
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.inner.shared.lock().handshakes.clone()
    }

    /// Completed full handshakes.
    pub fn full_handshakes(&self) -> usize {
        self.count_handshakes(|h| h.kind == HandshakeKind::Full)
    }

    /// Completed resumed handshakes.
    pub fn resumed_handshakes(&self) -> usize {
        self.count_handshakes(|h| h.kind == HandshakeKind::Resumed)
    }

    /// Completed handshakes in which the client presented a certificate.
    pub fn client_certs_presented(&self) -> usize {
        self.count_handshakes(|h| h.client_cert)
    }

    /// (connection index, why) of every handshake that failed: rustls' error, a
    /// timeout, or the client closing mid-handshake.
    pub fn handshake_failures(&self) -> Vec<(usize, String)> {
        self.inner.shared.lock().handshake_failures.clone()
    }

    /// Waits until at least `n` connections have been accepted; false on timeout.
    pub fn wait_for_connections(&self, n: usize, timeout: Duration) -> bool {
        self.inner.wait_for_connections(n, timeout)
    }

    /// Waits until at least `n` complete requests have been read; false on timeout.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.inner.wait_for_requests(n, timeout)
    }

    /// Waits until exactly `n` connections are open on the server side; false on timeout.
    pub fn wait_for_open_connections(&self, n: usize, timeout: Duration) -> bool {
        self.inner.wait_for_open_connections(n, timeout)
    }

    /// Waits until at least `n` handshakes ended, completed or failed; false on timeout.
    pub fn wait_for_handshakes_ended(&self, n: usize, timeout: Duration) -> bool {
        self.inner.shared.wait_until(timeout, |s| {
            s.handshakes.len() + s.handshake_failures.len() >= n
        })
    }

    fn count_handshakes(&self, which: impl Fn(&Handshake) -> bool) -> usize {
        let state = self.inner.shared.lock();
        state.handshakes.iter().filter(|h| which(h)).count()
    }
}

// ---------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------

/// The head of the close-delimited responses of [`TlsScript`]: no `Content-Length`, no
/// `Transfer-Encoding`, so only the end of the stream ends the body (RFC 9112 §6.3 rule 8).
pub const CLOSE_DELIMITED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";

/// Server behaviours that only TLS has. (Every [`Script`] runs over TLS as well, through
/// [`TlsTestServer::http_scripted`].)
#[derive(Clone, Debug)]
pub enum TlsScript {
    /// Answers requests with `200` and the body until the client closes.
    KeepAlive(&'static [u8]),
    /// Reads a request, answers with a close-delimited body ([`CLOSE_DELIMITED_HEAD`]
    /// then the body), then `close_notify` and FIN: a complete body.
    CloseDelimitedClean(&'static [u8]),
    /// As `CloseDelimitedClean`, but the FIN comes without `close_notify`: the client
    /// cannot tell the body was complete; it may have been cut by an attacker.
    CloseDelimitedTruncated(&'static [u8]),
    /// Answers one request with `200` and the body, framed for keep-alive, then closes
    /// cleanly (`close_notify`, FIN): the connection the client pooled is dead.
    CloseNotifyAfterResponse(&'static [u8]),
    /// As `CloseNotifyAfterResponse`, but closes with a bare FIN, no `close_notify`.
    DropAfterResponse(&'static [u8]),
    /// Serves keep-alive, but closes cleanly once no request arrived for `idle`: a
    /// server's keep-alive timeout.
    IdleTimeout {
        /// The response body.
        body: &'static [u8],
        /// How long the server keeps an idle connection.
        idle: Duration,
    },
    /// Accepts TCP and never answers the handshake: reads (and drops) whatever the
    /// client sends until it closes or the server is dropped. For handshake timeouts.
    NeverHandshake,
}

impl TlsScript {
    /// Runs this script on `conn`.
    pub fn run(&self, conn: &mut ServerConn) {
        match *self {
            TlsScript::KeepAlive(body) => conn.serve_keep_alive(body),
            TlsScript::CloseDelimitedClean(body) | TlsScript::CloseDelimitedTruncated(body) => {
                if conn.read_request().is_none() {
                    return;
                }
                let mut response = CLOSE_DELIMITED_HEAD.to_vec();
                response.extend_from_slice(body);
                conn.write(&response);
                if matches!(self, TlsScript::CloseDelimitedClean(_)) {
                    conn.close();
                } else {
                    conn.close_without_notify();
                }
            }
            TlsScript::CloseNotifyAfterResponse(body) | TlsScript::DropAfterResponse(body) => {
                if conn.read_request().is_some() {
                    conn.respond(200, &[], body);
                }
                if matches!(self, TlsScript::CloseNotifyAfterResponse(_)) {
                    conn.close();
                } else {
                    conn.close_without_notify();
                }
            }
            TlsScript::IdleTimeout { body, idle } => {
                conn.set_io_timeout(idle);
                conn.serve_keep_alive(body);
                conn.close();
            }
            TlsScript::NeverHandshake => never_handshake(conn),
        }
    }
}

/// Reads raw ciphertext (never answering it) until EOF, an error, or the server stopping.
fn never_handshake(conn: &mut ServerConn) {
    let Some(mut stream) = conn.stream() else {
        return;
    };
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                if conn.is_server_stopping() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}
