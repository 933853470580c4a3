//! [`UnixServer`]: the scriptable server on a Unix domain socket.
//!
//! It is a [`TestServer`] behind a relay: each connection accepted on the socket path
//! gets a TCP connection to the inner server, and bytes are copied both ways. Every
//! script, counter and guarantee of [`TestServer`] works unchanged, and the relay keeps
//! what matters to a pool: when the script closes (or resets, or the server is
//! dropped) the Unix connection is shut down too, so the client sees EOF; when the
//! script stalls, nothing arrives.
//!
//! ```
//! use testkit::unix::UnixServer;
//! let server = UnixServer::keep_alive(b"over unix");
//! assert!(server.path().exists());
//! // ... point a client at server.path() ...
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::{RecordedRequest, ServerConn, TestServer, ACCEPT_POLL};

/// A [`TestServer`] reached through a Unix domain socket. See the [module docs](self).
#[derive(Debug)]
pub struct UnixServer {
    inner: TestServer,
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    /// The Unix side of every relayed connection, to shut down on drop.
    live: Arc<Mutex<Vec<UnixStream>>>,
}

impl UnixServer {
    /// Starts a server on a fresh socket path; each connection runs `handler`.
    pub fn start<F>(handler: F) -> UnixServer
    where
        F: Fn(&mut ServerConn) + Send + Sync + 'static,
    {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let inner = TestServer::start(handler);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("wirepool-testkit-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Mutex::new(Vec::new()));
        let target = inner.addr();
        let accept = thread::Builder::new()
            .name("test-unix-server".into())
            .spawn({
                let stop = Arc::clone(&stop);
                let live = Arc::clone(&live);
                move || {
                    while !stop.load(Ordering::SeqCst) {
                        match listener.accept() {
                            Ok((unix, _)) => {
                                let _ = unix.set_nonblocking(false);
                                let Ok(tcp) = TcpStream::connect(target) else {
                                    continue;
                                };
                                if let Ok(clone) = unix.try_clone() {
                                    live.lock().unwrap().push(clone);
                                }
                                relay(unix, tcp);
                            }
                            Err(_) => thread::sleep(ACCEPT_POLL / 10),
                        }
                    }
                }
            })
            .unwrap();
        UnixServer {
            inner,
            path,
            stop,
            accept: Some(accept),
            live,
        }
    }

    /// Every connection answers each request with `200` and `body` until the client
    /// closes.
    pub fn keep_alive(body: &'static [u8]) -> UnixServer {
        UnixServer::start(move |conn| conn.serve_keep_alive(body))
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Connections accepted by the script side.
    pub fn connections(&self) -> usize {
        self.inner.connections()
    }

    /// Complete requests read.
    pub fn requests(&self) -> usize {
        self.inner.requests()
    }

    /// Every request read.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.inner.recorded()
    }

    /// Waits until exactly `n` connections are open on the script side.
    pub fn wait_for_open_connections(&self, n: usize, timeout: Duration) -> bool {
        self.inner.wait_for_open_connections(n, timeout)
    }
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for stream in self.live.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Copies bytes both ways on two threads; when one side ends, the other is shut down.
fn relay(unix: UnixStream, tcp: TcpStream) {
    let (Ok(unix2), Ok(tcp2)) = (unix.try_clone(), tcp.try_clone()) else {
        return;
    };
    let _ = tcp.set_nodelay(true);
    thread::spawn(move || {
        copy(&unix, &tcp);
        let _ = tcp.shutdown(Shutdown::Write);
    });
    thread::spawn(move || {
        copy(&tcp2, &unix2);
        // The script closed (or reset): the client must see the end at once.
        let _ = unix2.shutdown(Shutdown::Both);
    });
}

fn copy(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
