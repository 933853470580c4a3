//! Test support: a throwaway PKI (testkit's), an in-memory rustls server, and a
//! [`Link`] that shuttles bytes between it and a [`TlsSession`] in chunks of a chosen size.
//!
//! No sockets, no threads, no sleeps: every test is a deterministic replay of bytes, and the
//! chunk size lets the same exchange run byte-at-a-time.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::sync::Arc;

use tls_glue::rustls::pki_types::pem::PemObject;
use tls_glue::rustls::pki_types::CertificateDer;
use tls_glue::rustls::server::WebPkiClientVerifier;
use tls_glue::rustls::{self, RootCertStore, ServerConfig, ServerConnection};
use tls_glue::{Error, PlaintextRead, TlsSession};

/// Certificates come from `testkit`'s PKI, the one every TLS test of the workspace uses.
pub use testkit::tls::{Identity, Validity};

/// A certificate authority that signs server and client certificates for one test.
pub struct TestCa {
    pki: testkit::tls::TestPki,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        TestCa {
            pki: testkit::tls::TestPki::with_name(name),
        }
    }

    pub fn cert_pem(&self) -> String {
        self.pki.ca_pem()
    }

    /// A server certificate for `names` (DNS names and IP literals become SANs of the
    /// right type).
    pub fn leaf(&self, names: &[&str]) -> Identity {
        self.pki.server_cert(names)
    }

    pub fn leaf_with(&self, names: &[&str], validity: Validity) -> Identity {
        self.pki.server_cert_with(names, validity)
    }

    /// A client certificate (mutual TLS) for `common_name`.
    pub fn client_cert(&self, common_name: &str) -> Identity {
        self.pki.client_cert(common_name)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(tls_glue::default_provider())
}

/// Which protocol versions the test server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerVersions {
    Both,
    Tls12Only,
    Tls13Only,
}

/// A server configuration presenting `identity`, with rustls' default session cache (so
/// resumption works for both TLS 1.2 session ids and TLS 1.3 tickets) and ALPN `http/1.1`.
pub fn server_config(identity: &Identity, versions: ServerVersions) -> Arc<ServerConfig> {
    server_config_with_client_auth(identity, versions, None)
}

/// As [`server_config`], requiring a client certificate issued by `client_ca` if given.
pub fn server_config_with_client_auth(
    identity: &Identity,
    versions: ServerVersions,
    client_ca: Option<&TestCa>,
) -> Arc<ServerConfig> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match versions {
        ServerVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
        ServerVersions::Tls12Only => &[&rustls::version::TLS12],
        ServerVersions::Tls13Only => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.cert_pem().as_bytes()) {
                roots.add(cert.expect("ca pem")).expect("ca root");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(identity.chain(), identity.key())
        .expect("server cert");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The two ends of an in-memory TLS connection and the bytes in flight between them.
pub struct Link {
    pub client: TlsSession,
    pub server: ServerConnection,
    /// Ciphertext handed to the client this many bytes at a time.
    pub chunk: usize,
    /// Server ciphertext the client has not taken yet (back-pressure keeps it here).
    pub to_client: Vec<u8>,
    /// Everything the client decrypted, in order.
    pub client_plaintext: Vec<u8>,
    /// Everything the server decrypted, in order.
    pub server_plaintext: Vec<u8>,
    /// The client read `PlaintextRead::Closed`.
    pub client_saw_close: bool,
    /// The first error the server hit, if any (it then stops reading).
    pub server_error: Option<rustls::Error>,
    /// Size of the buffer the client reads plaintext into.
    pub read_buf_len: usize,
}

impl Link {
    pub fn new(client: TlsSession, server_config: Arc<ServerConfig>) -> Self {
        Link {
            client,
            server: ServerConnection::new(server_config).expect("server connection"),
            chunk: usize::MAX,
            to_client: Vec::new(),
            client_plaintext: Vec::new(),
            server_plaintext: Vec::new(),
            client_saw_close: false,
            server_error: None,
            read_buf_len: 4096,
        }
    }

    pub fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    /// Moves bytes both ways until neither side has anything to say. Returns the client's
    /// first error. Server errors are recorded in `server_error` (its alert still travels).
    pub fn run(&mut self) -> Result<(), Error> {
        for _ in 0..10_000 {
            let mut progress = false;

            // client -> server
            let mut out = vec![0u8; 1 << 16];
            let n = self.client.poll_ciphertext(&mut out);
            if n > 0 {
                progress = true;
                self.server_takes(&out[..n]);
            }

            // server -> client
            let mut flight = Vec::new();
            while self.server.wants_write() {
                self.server
                    .write_tls(&mut flight)
                    .expect("server write_tls");
            }
            if !flight.is_empty() {
                progress = true;
                self.to_client.extend_from_slice(&flight);
            }
            if self.client_takes()? {
                progress = true;
            }
            if self.client_reads()? {
                progress = true;
            }
            if !progress {
                return Ok(());
            }
        }
        panic!("link did not settle");
    }

    /// Hands pending ciphertext to the client in `chunk`-sized slices, as far as it takes it.
    fn client_takes(&mut self) -> Result<bool, Error> {
        let mut taken_any = false;
        while !self.to_client.is_empty() {
            let end = self.to_client.len().min(self.chunk);
            let taken = self.client.handle_ciphertext(&self.to_client[..end])?;
            self.to_client.drain(..taken);
            if taken > 0 {
                taken_any = true;
            }
            // Drain plaintext between slices, like the engine would.
            let read = self.client_reads()?;
            if taken == 0 && !read {
                break;
            }
        }
        Ok(taken_any)
    }

    /// Reads every decrypted byte the client has.
    fn client_reads(&mut self) -> Result<bool, Error> {
        let mut buf = vec![0u8; self.read_buf_len];
        let mut any = false;
        loop {
            match self.client.read_plaintext(&mut buf)? {
                PlaintextRead::Bytes(n) => {
                    any = true;
                    self.client_plaintext.extend_from_slice(&buf[..n]);
                }
                PlaintextRead::NeedCiphertext => return Ok(any),
                PlaintextRead::Closed => {
                    self.client_saw_close = true;
                    return Ok(any);
                }
            }
        }
    }

    fn server_takes(&mut self, mut bytes: &[u8]) {
        if self.server_error.is_some() {
            return;
        }
        while !bytes.is_empty() {
            let end = bytes.len().min(self.chunk);
            let mut slice = &bytes[..end];
            while !slice.is_empty() {
                match self.server.read_tls(&mut slice) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) => panic!("server read_tls: {e}"),
                }
                if let Err(e) = self.server.process_new_packets() {
                    self.server_error = Some(e);
                    return;
                }
            }
            bytes = &bytes[end..];
            let mut buf = [0u8; 4096];
            loop {
                match self.server.reader().read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => self.server_plaintext.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
    }

    /// The server application writes `data`.
    pub fn server_sends(&mut self, data: &[u8]) {
        self.server.writer().write_all(data).expect("server write");
    }

    /// Runs the handshake and asserts it completed on both sides.
    pub fn handshake(&mut self) -> Result<(), Error> {
        self.run()?;
        assert!(!self.client.is_handshaking(), "client still handshaking");
        assert!(!self.server.is_handshaking(), "server still handshaking");
        Ok(())
    }
}
