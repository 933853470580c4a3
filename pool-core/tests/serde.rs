//! The `serde` feature: a stats snapshot written as JSON and read back is the same
//! snapshot, pool keys (with their routes) included; a proxy's credentials are not
//! written. Run with `cargo test -p wirepool --features serde --test serde`.
#![cfg(feature = "serde")]
#![allow(clippy::unwrap_used)]

use testkit::TestServer;
use wirepool::{Client, PoolKey, Proxy, Route, Scheme, Stats};

#[test]
fn a_snapshot_goes_through_json_and_back() {
    let server = TestServer::keep_alive(b"serde");
    let client = Client::new().unwrap();
    for _ in 0..3 {
        client.get(&server.url("/")).unwrap().text().unwrap();
    }
    let stats = client.stats().unwrap();
    assert!(stats.total.timings.ttfb.count() == 3);
    let json = serde_json::to_string(&stats).unwrap();
    assert!(json.contains("\"route\":\"direct\""), "{json}");
    let back: Stats = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stats);
}

#[test]
fn pool_keys_keep_their_route_and_lose_credentials() {
    let proxy = Proxy::parse("http://alice:secret@proxy.example:3128").unwrap();
    let keys = [
        PoolKey::new(Scheme::Https, "API.example", 443),
        PoolKey::with_route(Scheme::Https, "api.example", 443, Route::Proxy(proxy)),
        PoolKey::with_route(
            Scheme::Http,
            "localhost",
            80,
            Route::Unix("/run/app.sock".into()),
        ),
    ];
    for key in keys {
        let json = serde_json::to_string(&key).unwrap();
        assert!(
            !json.contains("secret") && !json.contains("alice"),
            "{json}"
        );
        let back: PoolKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back.scheme(), key.scheme());
        assert_eq!((back.host(), back.port()), (key.host(), key.port()));
        assert_eq!(
            back.route().to_string(),
            key.route().to_string().replace("alice:***@", "")
        );
    }
    let bad = r#"{"scheme":"http","host":"h","port":1,"route":"via carrier pigeon"}"#;
    assert!(serde_json::from_str::<PoolKey>(bad).is_err());
}
