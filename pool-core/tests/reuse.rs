//! Connection reuse: sequential requests share one connection; concurrent ones open
//! exactly as many as needed; the stats say so.

use testkit as support;

use std::time::Duration;

use pool_core::{Client, Engine, Event, Flow};
use support::TestServer;

#[test]
fn sequential_gets_reuse_one_connection() {
    let server = TestServer::keep_alive(b"hello");
    let client = Client::new().unwrap();
    for i in 0..5 {
        let mut resp = client.get(&server.url("/x")).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.info().reused, i > 0, "request {i}");
        assert_eq!(resp.text().unwrap(), "hello");
    }
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 5);
    let stats = client.stats();
    assert_eq!(
        (stats.total.requests, stats.total.dials, stats.total.reuses),
        (5, 1, 4)
    );
    assert_eq!(stats.total.idle, 1);
}

#[test]
fn engine_mode_delivers_head_data_done() {
    let server = TestServer::keep_alive(b"hello world");
    let mut engine = Engine::new(Default::default()).unwrap();
    let mut body = Vec::new();
    let mut done = 0;
    for _ in 0..3 {
        let req = http::Request::get(server.url("/"))
            .body(Default::default())
            .unwrap();
        let id = engine.submit(req).unwrap();
        let mut finished = false;
        while !finished {
            engine
                .poll(Some(Duration::from_secs(5)), |ev| {
                    match ev {
                        Event::Head { id: got, head, .. } => {
                            assert_eq!(got, id);
                            assert_eq!(head.status(), 200);
                        }
                        Event::Data { data, .. } => body.extend_from_slice(data),
                        Event::Done { .. } => {
                            done += 1;
                            finished = true;
                        }
                        Event::Failed { error, .. } => panic!("failed: {error:?}"),
                    }
                    Flow::Continue
                })
                .unwrap();
        }
    }
    assert_eq!(done, 3);
    assert_eq!(body, b"hello worldhello worldhello world");
    assert_eq!(server.connections(), 1);
}
