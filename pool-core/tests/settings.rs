//! Every numeric setting at 0, 1 and its maximum (issue 9, defect 2).
//!
//! A setting used to be able to kill the engine thread for every caller: `Instant +
//! Duration` overflowed for `Duration::MAX`, `mul_f64` panicked for a NaN jitter, and
//! after that every clone got `PoolClosed`. Now each value either is refused by `build()`
//! with [`ErrorKind::InvalidRequest`] naming the setting, or the client works with it: a
//! request gets its response or an error of a kind the value explains, never a dead
//! engine and never a hang.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::time::Duration;

use testkit::TestServer;
use wirepool::http::Request;
use wirepool::{Body, Client, ClientBuilder, ErrorKind, HeadLimits, RequestOptions, TcpKeepalive};

/// The body every request gets: large enough to need many reads and buffer refills.
const BODY_LEN: u64 = 100_000;

/// What a value must lead to.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// `build()` refuses it.
    Refused,
    /// Requests succeed.
    Works,
    /// Requests succeed or fail with one of these kinds (a 1 ns timeout may or may not
    /// fire before the answer).
    WorksOr(&'static [ErrorKind]),
}
use Expect::{Refused, Works, WorksOr};

type Change = Box<dyn Fn(ClientBuilder) -> ClientBuilder>;

fn case(
    setting: &'static str,
    value: &'static str,
    expect: Expect,
    change: impl Fn(ClientBuilder) -> ClientBuilder + 'static,
) -> (&'static str, &'static str, Expect, Change) {
    (setting, value, expect, Box::new(change))
}

fn keepalive(change: impl Fn(&mut TcpKeepalive)) -> Option<TcpKeepalive> {
    let mut ka = TcpKeepalive::default();
    change(&mut ka);
    Some(ka)
}

fn head_limits(max_head_bytes: usize, max_headers: usize) -> HeadLimits {
    HeadLimits {
        max_head_bytes,
        max_headers,
    }
}

const NS: Duration = Duration::from_nanos(1);
const MAX: Duration = Duration::MAX;
const ZERO: Duration = Duration::ZERO;
const TIMEOUT: &[ErrorKind] = &[ErrorKind::Timeout];

fn cases() -> Vec<(&'static str, &'static str, Expect, Change)> {
    vec![
        case("timeout", "0", Refused, |b| b.timeout(Some(ZERO))),
        case("timeout", "1ns", WorksOr(TIMEOUT), |b| b.timeout(Some(NS))),
        case("timeout", "max", Works, |b| b.timeout(Some(MAX))),
        case("connect_timeout", "0", Refused, |b| b.connect_timeout(ZERO)),
        case(
            "connect_timeout",
            "1ns",
            WorksOr(&[ErrorKind::ConnectTimeout]),
            |b| b.connect_timeout(NS),
        ),
        case("connect_timeout", "max", Works, |b| b.connect_timeout(MAX)),
        case("response_header_timeout", "0", Refused, |b| {
            b.response_header_timeout(Some(ZERO))
        }),
        case(
            "response_header_timeout",
            "1ns",
            WorksOr(&[ErrorKind::ResponseHeaderTimeout]),
            |b| b.response_header_timeout(Some(NS)),
        ),
        case("response_header_timeout", "max", Works, |b| {
            b.response_header_timeout(Some(MAX))
        }),
        case("expect_continue_timeout", "0", Works, |b| {
            b.expect_continue_timeout(ZERO)
        }),
        case("expect_continue_timeout", "1ns", Works, |b| {
            b.expect_continue_timeout(NS)
        }),
        case("expect_continue_timeout", "max", Works, |b| {
            b.expect_continue_timeout(MAX)
        }),
        case("idle_timeout", "0", Works, |b| b.idle_timeout(ZERO)),
        case("idle_timeout", "1ns", Works, |b| b.idle_timeout(NS)),
        case("idle_timeout", "max", Works, |b| b.idle_timeout(MAX)),
        case("max_idle_per_host", "0", Works, |b| b.max_idle_per_host(0)),
        case("max_idle_per_host", "1", Works, |b| b.max_idle_per_host(1)),
        case("max_idle_per_host", "max", Works, |b| {
            b.max_idle_per_host(usize::MAX)
        }),
        case("max_idle_total", "0", Works, |b| b.max_idle_total(0)),
        case("max_idle_total", "1", Works, |b| b.max_idle_total(1)),
        case("max_idle_total", "max", Works, |b| {
            b.max_idle_total(usize::MAX)
        }),
        case("max_conns_per_host", "0", Refused, |b| {
            b.max_conns_per_host(Some(0))
        }),
        case("max_conns_per_host", "1", Works, |b| {
            b.max_conns_per_host(Some(1))
        }),
        case("max_conns_per_host", "max", Works, |b| {
            b.max_conns_per_host(Some(usize::MAX))
        }),
        case("max_conn_lifetime", "0", Works, |b| {
            b.max_conn_lifetime(Some(ZERO))
        }),
        case("max_conn_lifetime", "1ns", Works, |b| {
            b.max_conn_lifetime(Some(NS))
        }),
        case("max_conn_lifetime", "max", Works, |b| {
            b.max_conn_lifetime(Some(MAX))
        }),
        case("lifetime_jitter", "0", Works, |b| {
            b.max_conn_lifetime(Some(MAX)).lifetime_jitter(0.0)
        }),
        case("lifetime_jitter", "1", Works, |b| {
            b.max_conn_lifetime(Some(MAX)).lifetime_jitter(1.0)
        }),
        case("lifetime_jitter", "max", Refused, |b| {
            b.max_conn_lifetime(Some(MAX)).lifetime_jitter(f64::MAX)
        }),
        case("lifetime_jitter", "nan", Refused, |b| {
            b.max_conn_lifetime(Some(MAX)).lifetime_jitter(f64::NAN)
        }),
        case("lifetime_jitter", "-0.5", Refused, |b| {
            b.lifetime_jitter(-0.5)
        }),
        case("max_requests_per_conn", "0", Refused, |b| {
            b.max_requests_per_conn(Some(0))
        }),
        case("max_requests_per_conn", "1", Works, |b| {
            b.max_requests_per_conn(Some(1))
        }),
        case("max_requests_per_conn", "max", Works, |b| {
            b.max_requests_per_conn(Some(u32::MAX))
        }),
        case("drain_limit", "0", Works, |b| b.drain_limit(0)),
        case("drain_limit", "1", Works, |b| b.drain_limit(1)),
        case("drain_limit", "max", Works, |b| b.drain_limit(u64::MAX)),
        case("drain_timeout", "0", Works, |b| b.drain_timeout(ZERO)),
        case("drain_timeout", "1ns", Works, |b| b.drain_timeout(NS)),
        case("drain_timeout", "max", Works, |b| b.drain_timeout(MAX)),
        case("max_retries", "0", Works, |b| b.max_retries(0)),
        case("max_retries", "1", Works, |b| b.max_retries(1)),
        case("max_retries", "max", Works, |b| b.max_retries(u8::MAX)),
        case("retry_budget", "0", Works, |b| b.retry_budget(0.0)),
        case("retry_budget", "1", Works, |b| b.retry_budget(1.0)),
        case("retry_budget", "max", Refused, |b| b.retry_budget(f64::MAX)),
        case("retry_budget", "nan", Refused, |b| b.retry_budget(f64::NAN)),
        case("keepalive_margin", "0", Works, |b| b.keepalive_margin(ZERO)),
        case("keepalive_margin", "1ns", Works, |b| b.keepalive_margin(NS)),
        case("keepalive_margin", "max", Works, |b| {
            b.keepalive_margin(MAX)
        }),
        case("learn_server_limits", "off", Works, |b| {
            b.learn_server_limits(false)
        }),
        case("follow_dns", "off", Works, |b| b.follow_dns(false)),
        case("follow_dns", "with dns_ttl 1ns", Works, |b| {
            b.follow_dns(true).dns_ttl(NS)
        }),
        // One request at a time: nobody waits, whatever the queue allows.
        case("max_waiters_per_host", "0", Works, |b| {
            b.max_conns_per_host(Some(1)).max_waiters_per_host(Some(0))
        }),
        case("max_waiters_per_host", "1", Works, |b| {
            b.max_conns_per_host(Some(1)).max_waiters_per_host(Some(1))
        }),
        case("max_waiters_per_host", "max", Works, |b| {
            b.max_waiters_per_host(Some(usize::MAX))
        }),
        case("pool_wait_timeout", "0", Refused, |b| {
            b.pool_wait_timeout(Some(ZERO))
        }),
        case("pool_wait_timeout", "1ns", Works, |b| {
            b.max_conns_per_host(Some(1)).pool_wait_timeout(Some(NS))
        }),
        case("pool_wait_timeout", "max", Works, |b| {
            b.pool_wait_timeout(Some(MAX))
        }),
        case("tcp_keepalive.idle", "0", Refused, |b| {
            b.tcp_keepalive(keepalive(|k| k.idle = ZERO))
        }),
        case("tcp_keepalive.idle", "1s", Works, |b| {
            b.tcp_keepalive(keepalive(|k| k.idle = Duration::from_secs(1)))
        }),
        case("tcp_keepalive.idle", "max", Refused, |b| {
            b.tcp_keepalive(keepalive(|k| k.idle = MAX))
        }),
        case("tcp_keepalive.interval", "0", Refused, |b| {
            b.tcp_keepalive(keepalive(|k| k.interval = ZERO))
        }),
        case("tcp_keepalive.interval", "1s", Works, |b| {
            b.tcp_keepalive(keepalive(|k| k.interval = Duration::from_secs(1)))
        }),
        case("tcp_keepalive.interval", "max", Refused, |b| {
            b.tcp_keepalive(keepalive(|k| k.interval = MAX))
        }),
        case("tcp_keepalive.retries", "0", Refused, |b| {
            b.tcp_keepalive(keepalive(|k| k.retries = 0))
        }),
        case("tcp_keepalive.retries", "1", Works, |b| {
            b.tcp_keepalive(keepalive(|k| k.retries = 1))
        }),
        case("tcp_keepalive.retries", "max", Refused, |b| {
            b.tcp_keepalive(keepalive(|k| k.retries = u32::MAX))
        }),
        case("dns_ttl", "0", Works, |b| b.dns_ttl(ZERO)),
        case("dns_ttl", "1ns", Works, |b| b.dns_ttl(NS)),
        case("dns_ttl", "max", Works, |b| b.dns_ttl(MAX)),
        case("body_buffer_limit", "0", Refused, |b| {
            b.body_buffer_limit(0)
        }),
        case("body_buffer_limit", "1", Works, |b| b.body_buffer_limit(1)),
        case("body_buffer_limit", "max", Works, |b| {
            b.body_buffer_limit(usize::MAX)
        }),
        case("tls_handshake_timeout", "0", Refused, |b| {
            b.tls_handshake_timeout(ZERO)
        }),
        case("tls_handshake_timeout", "1ns", Works, |b| {
            b.tls_handshake_timeout(NS)
        }),
        case("tls_handshake_timeout", "max", Works, |b| {
            b.tls_handshake_timeout(MAX)
        }),
        case("happy_eyeballs_delay", "0", Works, |b| {
            b.happy_eyeballs_delay(ZERO)
        }),
        case("happy_eyeballs_delay", "1ns", Works, |b| {
            b.happy_eyeballs_delay(NS)
        }),
        case("happy_eyeballs_delay", "max", Works, |b| {
            b.happy_eyeballs_delay(MAX)
        }),
        case("resolver_threads", "0", Refused, |b| b.resolver_threads(0)),
        case("resolver_threads", "1", Works, |b| b.resolver_threads(1)),
        case("resolver_threads", "max", Refused, |b| {
            b.resolver_threads(usize::MAX)
        }),
        case("max_head_bytes", "0", Refused, |b| {
            b.head_limits(head_limits(0, 100))
        }),
        case(
            "max_head_bytes",
            "1",
            WorksOr(&[ErrorKind::Protocol]),
            |b| b.head_limits(head_limits(1, 100)),
        ),
        case("max_head_bytes", "max", Refused, |b| {
            b.head_limits(head_limits(usize::MAX, 100))
        }),
        case("max_headers", "0", Refused, |b| {
            b.head_limits(head_limits(64 << 10, 0))
        }),
        case("max_headers", "1", WorksOr(&[ErrorKind::Protocol]), |b| {
            b.head_limits(head_limits(64 << 10, 1))
        }),
        case("max_headers", "max", Works, |b| {
            b.head_limits(head_limits(64 << 10, usize::MAX))
        }),
        case("read_buffer_size", "0", Refused, |b| b.read_buffer_size(0)),
        case("read_buffer_size", "1", Works, |b| b.read_buffer_size(1)),
        case("read_buffer_size", "max", Refused, |b| {
            b.read_buffer_size(usize::MAX)
        }),
    ]
}

/// One GET through `client`; the body is read and checked to its end.
fn fetch(client: &Client, url: &str, opts: RequestOptions) -> Result<(), ErrorKind> {
    let request = Request::get(url).body(Body::empty()).unwrap();
    let mut resp = client.send_with(request, opts).map_err(|e| e.kind())?;
    let mut body = Vec::new();
    match resp.body_mut().read_to_end(&mut body) {
        Ok(_) => {
            assert_eq!(body, testkit::pattern(0, BODY_LEN as usize), "{url}");
            Ok(())
        }
        Err(e) => Err(common::kind_of(&e).unwrap_or(ErrorKind::Io)),
    }
}

fn server() -> TestServer {
    TestServer::start(|conn| {
        while conn.read_request().is_some() {
            conn.respond_with_pattern(BODY_LEN);
        }
    })
}

#[test]
fn every_numeric_setting_at_zero_one_and_max_is_refused_or_works() {
    let server = server();
    // `localhost` goes through the resolver (and `dns_ttl`); the server listens on
    // 127.0.0.1, so an IPv6 answer first also exercises the Happy Eyeballs fallback.
    let url = format!("http://localhost:{}/", server.addr().port());
    for (setting, value, expect, change) in cases() {
        let built = change(Client::builder()).build();
        let client = match (expect, built) {
            (Refused, Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{setting}={value}");
                let why = std::error::Error::source(&e).map(ToString::to_string);
                let why = why.unwrap_or_default();
                assert!(why.contains(setting), "{setting}={value}: {why}");
                continue;
            }
            (Refused, Ok(_)) => panic!("{setting}={value} was accepted"),
            (_, Err(e)) => panic!("{setting}={value} was refused: {e:?}"),
            (_, Ok(client)) => client,
        };
        for round in 0..3 {
            match (expect, fetch(&client, &url, RequestOptions::default())) {
                (_, Ok(())) => {}
                (WorksOr(kinds), Err(kind)) if kinds.contains(&kind) => {}
                (_, Err(kind)) => panic!("{setting}={value}, request {round}: {kind:?}"),
            }
        }
    }
}

#[test]
fn a_request_timeout_at_zero_one_and_max_never_stops_the_engine() {
    let server = server();
    let client = Client::new().unwrap();
    let url = server.url("/");
    for timeout in [ZERO, NS, MAX] {
        // A deadline that passes at once may still lose the race against a response
        // that arrives in the same engine turn: Ok is allowed, any error but a timeout
        // is not, and `Duration::MAX` means no deadline.
        match fetch(&client, &url, RequestOptions::timeout(timeout)) {
            Ok(()) => {}
            Err(kind) => {
                assert_eq!(kind, ErrorKind::Timeout, "{timeout:?}");
                assert!(timeout < MAX, "{timeout:?}");
            }
        }
        // The engine is alive and serves the next request.
        fetch(&client, &url, RequestOptions::default()).unwrap();
    }
}
