//! What a TLS handshake costs, full vs resumed, per crypto provider — measured in memory.
//!
//! A [`TlsSession`](tls_glue::TlsSession) and a rustls server run on this one thread and
//! trade bytes through the test support's `Link`, so the numbers are CPU time only: no
//! kernel, no network, no round trips. "client" is the time spent inside the client
//! session's calls (what the engine pays per dial); "both" adds the server's work. Each
//! figure is the fastest of five rounds, to filter out other processes on a shared machine;
//! `valgrind --tool=callgrind` on this binary gives instruction counts that do not depend on
//! the machine's load at all.
//!
//! ```text
//! cargo run --release -p tls-glue --example handshake_cost                       # ring
//! cargo run --release -p tls-glue --example handshake_cost --features aws-lc-rs  # ring and aws-lc-rs
//! cargo run --release -p tls-glue --example handshake_cost -- 200 1000 ring      # iterations per round, one provider
//! ```
//!
//! The server certificate is ECDSA P-256 (what rcgen makes by default), signed by a test CA;
//! key exchange is whatever the provider prefers (X25519, or X25519MLKEM768 where offered).
#![allow(clippy::unwrap_used)] // a measurement harness: any failure should stop it loudly

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Link, ServerVersions, TestCa};
use tls_glue::rustls::crypto::CryptoProvider;
use tls_glue::rustls::{self, ServerConfig};
use tls_glue::{HandshakeKind, PlaintextRead, TlsConfig, TrustRoots};

fn providers() -> Vec<(&'static str, CryptoProvider)> {
    [
        #[cfg(feature = "ring")]
        ("ring", rustls::crypto::ring::default_provider()),
        #[cfg(feature = "aws-lc-rs")]
        ("aws-lc-rs", rustls::crypto::aws_lc_rs::default_provider()),
    ]
    .into_iter()
    .collect()
}

fn server_config(
    provider: &Arc<CryptoProvider>,
    identity: &support::Identity,
    versions: ServerVersions,
) -> Arc<ServerConfig> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match versions {
        ServerVersions::Tls12Only => &[&rustls::version::TLS12],
        _ => &[&rustls::version::TLS13],
    };
    let mut config = ServerConfig::builder_with_provider(Arc::clone(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(identity.chain(), identity.key())
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Times only the client's side of one handshake plus one small round trip (which is when
/// TLS 1.3 tickets arrive). Returns (client time, total time, handshake kind).
fn one_dial(config: &TlsConfig, server: &Arc<ServerConfig>) -> (Duration, Duration, HandshakeKind) {
    let started = Instant::now();
    let mut client_time = Duration::ZERO;
    let t = Instant::now();
    let mut client = config.new_session("api.example").unwrap();
    client.write_plaintext(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    client_time += t.elapsed();

    let mut link = Link::new(client, Arc::clone(server));
    let mut out = vec![0u8; 1 << 16];
    let mut plain = [0u8; 256];
    let mut answered = false;
    loop {
        let t = Instant::now();
        let n = link.client.poll_ciphertext(&mut out);
        client_time += t.elapsed();
        let mut flight = Vec::new();
        if n > 0 {
            let mut rd = &out[..n];
            while !rd.is_empty() {
                link.server.read_tls(&mut rd).unwrap();
                link.server.process_new_packets().unwrap();
            }
            if !answered && !link.server.is_handshaking() {
                let mut req = [0u8; 64];
                use std::io::Read;
                if link.server.reader().read(&mut req).is_ok() {
                    use std::io::Write;
                    link.server
                        .writer()
                        .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                        .unwrap();
                    answered = true;
                }
            }
        }
        while link.server.wants_write() {
            link.server.write_tls(&mut flight).unwrap();
        }
        if n == 0 && flight.is_empty() {
            break;
        }
        let t = Instant::now();
        let mut rest = &flight[..];
        while !rest.is_empty() {
            let taken = link.client.handle_ciphertext(rest).unwrap();
            rest = &rest[taken..];
            while let PlaintextRead::Bytes(_) = link.client.read_plaintext(&mut plain).unwrap() {}
        }
        client_time += t.elapsed();
    }
    assert!(answered && !link.client.is_handshaking());
    if std::env::var_os("SHOW_KX").is_some() {
        let conn = link.client.as_rustls();
        eprintln!(
            "kx {:?} suite {:?}",
            conn.negotiated_key_exchange_group().map(|g| g.name()),
            conn.negotiated_cipher_suite().map(|s| s.suite())
        );
    }
    let kind = link.client.handshake_kind().unwrap();
    (client_time, started.elapsed(), kind)
}

/// Rounds per measurement; the fastest round is reported, which filters out time stolen
/// by other processes on a shared machine.
const ROUNDS: usize = 5;

fn measure(
    label: &str,
    config: &TlsConfig,
    server: &Arc<ServerConfig>,
    iterations: usize,
    want_resumed: bool,
) {
    // HANDSHAKE_COST_ONLY="ring TLS1.3 full" runs one row (for callgrind).
    let only = std::env::var("HANDSHAKE_COST_ONLY").ok();
    if iterations == 0 || only.is_some_and(|only| only != label) {
        return;
    }
    // Warm-up: fills the resumption cache and the caches of the CPU.
    for _ in 0..10 {
        one_dial(config, server);
    }
    let mut best: Option<(Duration, Duration)> = None;
    for _ in 0..ROUNDS {
        let mut client = Duration::ZERO;
        let mut total = Duration::ZERO;
        for _ in 0..iterations {
            let (c, t, kind) = one_dial(config, server);
            assert_eq!(kind.is_resumed(), want_resumed, "{label}: {kind:?}");
            client += c;
            total += t;
        }
        if best.map_or(true, |(_, best_total)| total < best_total) {
            best = Some((client, total));
        }
    }
    let (client, total) = best.unwrap();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / iterations as f64;
    println!(
        "{label:<26} {:>9.0} µs {:>9.0} µs {:>9.0}/s",
        per(client),
        per(total),
        iterations as f64 / total.as_secs_f64()
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let full_iterations: usize = args.next().map_or(200, |a| a.parse().unwrap());
    let resumed_iterations: usize = args.next().map_or(1000, |a| a.parse().unwrap());
    let only: Option<String> = args.next();

    let ca = TestCa::new("bench ca");
    let identity = ca.leaf(&["api.example"]);
    println!(
        "{:<26} {:>12} {:>12} {:>11}",
        "provider / handshake", "client", "both", "rate (both)"
    );
    for (name, provider) in providers() {
        if only.as_deref().is_some_and(|only| only != name) {
            continue;
        }
        let provider = Arc::new(provider);
        for (version, versions) in [
            ("TLS1.3", ServerVersions::Tls13Only),
            ("TLS1.2", ServerVersions::Tls12Only),
        ] {
            let server = server_config(&provider, &identity, versions);
            let fresh = TlsConfig::builder()
                .trust_roots(TrustRoots::OnlyAdded)
                .add_ca_pem(ca.cert_pem())
                .crypto_provider(Arc::clone(&provider))
                .max_cached_sessions(0)
                .build()
                .unwrap();
            let resuming = TlsConfig::builder()
                .trust_roots(TrustRoots::OnlyAdded)
                .add_ca_pem(ca.cert_pem())
                .crypto_provider(Arc::clone(&provider))
                .build()
                .unwrap();
            measure(
                &format!("{name} {version} full"),
                &fresh,
                &server,
                full_iterations,
                false,
            );
            measure(
                &format!("{name} {version} resumed"),
                &resuming,
                &server,
                resumed_iterations,
                true,
            );
        }
    }
}
