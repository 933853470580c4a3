//! Requests over a Unix domain socket (`ClientBuilder::unix_socket`, curl's
//! `--unix-socket`): pooled like TCP connections, with the same stale detection,
//! timeouts and stats. The server is `testkit::unix::UnixServer`, the scriptable server
//! behind a Unix socket.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{wait_until, WAIT};
use testkit::unix::UnixServer;
use wirepool::{Client, ErrorKind, Route};

#[test]
fn requests_share_one_pooled_connection_and_the_host_is_only_a_header() {
    let server = UnixServer::keep_alive(b"over unix");
    let client = Client::builder()
        .unix_socket(server.path())
        .build()
        .unwrap();
    for path in ["/a", "/b", "/c"] {
        let mut resp = client.get(&format!("http://docker.local{path}")).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().unwrap(), "over unix");
    }
    assert_eq!(server.connections(), 1);
    let seen = server.recorded();
    assert_eq!(seen[0].target, "/a");
    assert_eq!(seen[0].header("host"), Some("docker.local"));
    let stats = client.stats().unwrap();
    let (key, host) = &stats.hosts[0];
    assert_eq!(*key.route(), Route::Unix(server.path().to_path_buf()));
    assert_eq!((host.dials, host.reuses, host.idle), (1, 2, 1));
    assert!(host.addresses.is_empty() && host.peer.is_none());
    assert!(key
        .to_string()
        .ends_with(&format!("via unix:{}", server.path().display())));
}

#[test]
fn a_connection_the_server_closed_while_idle_is_not_reused() {
    // One response per connection, then the server closes.
    let server = UnixServer::start(|conn| {
        if conn.read_request().is_some() {
            conn.respond(200, &[], b"once");
        }
    });
    let client = Client::builder()
        .unix_socket(server.path())
        .build()
        .unwrap();
    let mut resp = client.get("http://local/1").unwrap();
    assert_eq!(resp.text().unwrap(), "once");
    // The idle connection turns readable (EOF) and is closed before anyone reuses it.
    assert!(wait_until(WAIT, || {
        let stats = client.stats().unwrap();
        stats.total.idle == 0 && stats.total.closes.server_close == 1
    }));
    let mut resp = client.get("http://local/2").unwrap();
    assert_eq!(resp.text().unwrap(), "once");
    assert!(!resp.info().reused);
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.dials, stats.total.retries), (2, 0));
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = UnixServer::start(|conn| {
        let _ = conn.read_request();
        // Never answers; returns when the client gives up and closes.
        conn.wait_for_client_close();
    });
    let client = Client::builder()
        .unix_socket(server.path())
        .response_header_timeout(Some(Duration::from_millis(150)))
        .build()
        .unwrap();
    let err = client.get("http://local/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseHeaderTimeout, "{err:?}");
    let stats = client.stats().unwrap();
    assert_eq!(stats.total.closes.error, 1);
    assert!(
        server.wait_for_open_connections(0, WAIT),
        "the connection leaked"
    );
}

#[test]
fn a_missing_socket_is_a_connect_error_naming_the_path() {
    let path = std::env::temp_dir().join("wirepool-no-such.sock");
    let client = Client::builder().unix_socket(&path).build().unwrap();
    let err = client.get("http://local/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(err.is_retry_safe());
    let text = std::error::Error::source(&err).unwrap().to_string();
    assert!(text.contains("wirepool-no-such.sock"), "{text}");
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::NotFound));
}

#[test]
fn the_unix_socket_wins_over_proxies() {
    let server = UnixServer::keep_alive(b"local daemon");
    let client = Client::builder()
        .proxy(wirepool::Proxy::parse("http://127.0.0.1:9").unwrap())
        .unix_socket(server.path())
        .build()
        .unwrap();
    let mut resp = client.get("http://daemon/").unwrap();
    assert_eq!(resp.text().unwrap(), "local daemon");
}
