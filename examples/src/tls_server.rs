//! An embedded HTTPS server, so `demo` can compare pools over TLS with no setup.
//!
//! At start it makes a throwaway PKI with rcgen: a CA, and a certificate for
//! `localhost`, `127.0.0.1` and `::1` signed by it. Neither key is ever written to disk;
//! a client trusts this server by trusting [`TlsServer::ca_pem`] (and nothing else, in
//! `demo`). The TLS is rustls over blocking `std::net`, one thread per connection, like
//! the plain [`DemoServer`](crate::server::DemoServer), and the HTTP spoken inside is the
//! same code (`answer_requests` in `crate::server`): keep-alive by default,
//! `Connection: close` honoured (answered, then `close_notify` and a TCP shutdown), every
//! response `200` with a fixed body.
//!
//! Session resumption is on, as on any production server, so that a client's re-dials
//! can be cheap: TLS 1.3 tickets (and TLS 1.2 tickets) sealed by a ticket key made at
//! start (`rustls::crypto::ring::Ticketer`), and rustls' default session-id cache for
//! TLS 1.2. The server counts accepted connections, answered requests, and full versus
//! resumed handshakes as it saw them — the other end's view of the client's dials.
//!
//! The crypto is rustls with the *ring* provider, exactly the build `tls-glue` uses
//! (reached through `pool_core::tls::rustls`, so the versions cannot drift apart).
//!
//! It is not a general server: no client certificates, no SNI-based selection, no ALPN
//! other than `http/1.1`, and the same HTTP limits as the plain server.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pool_core::tls::rustls::crypto::ring::Ticketer;
use pool_core::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use pool_core::tls::rustls::{HandshakeKind, ServerConfig, ServerConnection, StreamOwned};
use pool_core::tls::{default_provider, ALPN_HTTP1};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::server::{answer_requests, response_bytes, Acceptor, Ending, IDLE_READ_TIMEOUT};

/// The names the server certificate is valid for: what a demo client may dial.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Counters shared with the connection threads.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    full_handshakes: AtomicU64,
    resumed_handshakes: AtomicU64,
}

/// A running embedded HTTPS server; stops when dropped.
#[derive(Debug)]
pub struct TlsServer {
    acceptor: Acceptor,
    ca_pem: String,
    counters: Arc<Counters>,
}

impl TlsServer {
    /// Makes a CA and a server certificate, then starts a server on 127.0.0.1 (a free
    /// port) answering every request with `body_len` bytes.
    pub fn start(body_len: usize) -> io::Result<TlsServer> {
        let pki = DemoPki::generate().map_err(io::Error::other)?;
        let config = Arc::new(server_config(&pki)?);
        let counters = Arc::new(Counters::default());
        let response = response_bytes(body_len);
        let acceptor = {
            let counters = Arc::clone(&counters);
            Acceptor::start("demo-tls-server", move |stream| {
                counters.connections.fetch_add(1, Ordering::Relaxed);
                serve(stream, Arc::clone(&config), &counters, &response);
            })?
        };
        Ok(TlsServer {
            acceptor,
            ca_pem: pki.ca_pem,
            counters,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.addr(), path)
    }

    /// The PEM of the CA that issued the server's certificate: the one root a client
    /// needs (`TlsConfig::builder().trust_roots(TrustRoots::OnlyAdded).add_ca_pem(..)`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    /// Completed handshakes that sent the certificate chain (no session resumed).
    pub fn full_handshakes(&self) -> u64 {
        self.counters.full_handshakes.load(Ordering::Relaxed)
    }

    /// Completed handshakes that resumed an earlier session.
    pub fn resumed_handshakes(&self) -> u64 {
        self.counters.resumed_handshakes.load(Ordering::Relaxed)
    }
}

/// The certificates made at start: a CA (only its PEM leaves this module) and the
/// server's chain and key.
struct DemoPki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl DemoPki {
    /// A fresh CA, and a leaf for [`SERVER_NAMES`] signed by it (ECDSA P-256, rcgen's
    /// default key type; rcgen's default validity). DNS names and IP literals become SANs
    /// of the matching type.
    fn generate() -> Result<DemoPki, rcgen::Error> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wirepool demo CA (generated at start)");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut leaf_params = CertificateParams::new(SERVER_NAMES.map(String::from).to_vec())?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, SERVER_NAMES[0]);
        let leaf_key = KeyPair::generate()?;
        let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
        Ok(DemoPki {
            ca_pem: ca.pem(),
            chain: vec![leaf.der().clone()],
            key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
        })
    }
}

/// rustls server settings: the demo certificate, TLS 1.2 and 1.3, ALPN `http/1.1`, and
/// resumption by tickets (a fresh ticket key) plus the default session-id cache.
fn server_config(pki: &DemoPki) -> io::Result<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .map_err(io::Error::other)?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    config.ticketer = Ticketer::new().map_err(io::Error::other)?;
    Ok(config)
}

/// Serves one TLS connection: the handshake (counted by kind), then HTTP until the
/// client closes, asks to close, or misbehaves.
fn serve(sock: TcpStream, config: Arc<ServerConfig>, counters: &Counters, response: &[u8]) {
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(Some(IDLE_READ_TIMEOUT));
    let Ok(conn) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, sock);
    // Finish the handshake before the first request so that it can be counted; a
    // client that fails it (wrong CA, hung up) is simply dropped.
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            return;
        }
    }
    match tls.conn.handshake_kind() {
        Some(HandshakeKind::Resumed) => &counters.resumed_handshakes,
        _ => &counters.full_handshakes,
    }
    .fetch_add(1, Ordering::Relaxed);
    let (mut tls, ending) = answer_requests(tls, &counters.requests, response);
    if ending == Ending::CloseRequested {
        tls.conn.send_close_notify();
        let _ = tls.flush();
        let _ = tls.sock.shutdown(Shutdown::Write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pool_core::tls::{TlsConfig, TrustRoots};
    use pool_core::Client;
    use std::thread;
    use std::time::Duration;

    fn client_for(server: &TlsServer) -> Client {
        let tls = TlsConfig::builder()
            .trust_roots(TrustRoots::OnlyAdded)
            .add_ca_pem(server.ca_pem())
            .build()
            .expect("tls config");
        Client::builder().tls_config(tls).build().expect("client")
    }

    #[test]
    fn serves_https_keep_alive_to_a_client_trusting_only_its_ca() {
        let server = TlsServer::start(5).expect("start");
        let client = client_for(&server);
        for path in ["/a", "/b", "/c"] {
            let resp = client.get(server.url(path)).send().expect("get");
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.text().expect("body"), "abcde");
        }
        let stats = client.stats().expect("stats").total;
        assert_eq!((stats.dials, stats.reuses), (1, 2));
        assert_eq!(
            (stats.tls_full_handshakes, stats.tls_resumed_handshakes),
            (1, 0)
        );
        assert_eq!((server.connections(), server.requests()), (1, 3));
        assert_eq!(server.full_handshakes(), 1);
    }

    #[test]
    fn certificate_names_localhost_and_loopback_addresses() {
        let server = TlsServer::start(1).expect("start");
        let client = client_for(&server);
        let port = server.addr().port();
        for host in ["localhost", "127.0.0.1"] {
            let url = format!("https://{host}:{port}/");
            let resp = client
                .get(&url)
                .send()
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(resp.bytes().expect("body"), b"a");
        }
    }

    #[test]
    fn redials_resume_the_session() {
        let server = TlsServer::start(3).expect("start");
        // No idle connection is kept, so every request dials again.
        let tls = TlsConfig::builder()
            .trust_roots(TrustRoots::OnlyAdded)
            .add_ca_pem(server.ca_pem())
            .build()
            .expect("tls config");
        let client = Client::builder()
            .tls_config(tls)
            .max_idle_per_host(0)
            .build()
            .expect("client");
        for _ in 0..4 {
            let resp = client.get(server.url("/")).send().expect("get");
            assert_eq!(resp.bytes().expect("body"), b"abc");
        }
        let stats = client.stats().expect("stats").total;
        assert_eq!(stats.dials, 4);
        assert_eq!(stats.tls_full_handshakes, 1, "{stats:?}");
        assert_eq!(stats.tls_resumed_handshakes, 3, "{stats:?}");
        // The server saw the same: wait for its threads to count the last handshake.
        let t = std::time::Instant::now();
        while server.resumed_handshakes() < 3 && t.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            (server.full_handshakes(), server.resumed_handshakes()),
            (1, 3)
        );
    }

    #[test]
    fn connection_close_is_answered_then_closed_with_close_notify() {
        use pool_core::tls::{PlaintextRead, TlsSession};
        use std::io::Read;

        let server = TlsServer::start(2).expect("start");
        let tls = TlsConfig::builder()
            .trust_roots(TrustRoots::OnlyAdded)
            .add_ca_pem(server.ca_pem())
            .build()
            .expect("tls config");
        let mut session: TlsSession = tls.new_session("localhost").expect("session");
        let mut sock = TcpStream::connect(server.addr()).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        session
            .write_plaintext(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .expect("write");
        let (mut wire, mut plain, mut got) = (vec![0u8; 16 * 1024], [0u8; 4096], Vec::new());
        loop {
            let n = session.poll_ciphertext(&mut wire);
            sock.write_all(&wire[..n]).expect("send");
            let n = sock.read(&mut wire).expect("recv");
            if n == 0 {
                session.handle_eof().expect("close_notify came before EOF");
                break;
            }
            let mut unread = &wire[..n];
            while !unread.is_empty() {
                let used = session.handle_ciphertext(unread).expect("ciphertext");
                unread = &unread[used..];
            }
            while let PlaintextRead::Bytes(n) = session.read_plaintext(&mut plain).expect("read") {
                got.extend_from_slice(&plain[..n]);
            }
        }
        assert_eq!(
            session.read_plaintext(&mut plain).expect("read"),
            PlaintextRead::Closed
        );
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"));
        assert!(got.ends_with(b"\r\n\r\nab"));
        assert_eq!(server.requests(), 1);
    }
}
