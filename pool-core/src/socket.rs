//! Opening TCP sockets: non-blocking connect with the options the pool promises.
//!
//! socket2 creates the socket so that `TCP_NODELAY`, keepalive probes and a local bind are
//! set *before* `connect`, which then returns at once (`EINPROGRESS`); the engine learns
//! the outcome from writability. This module does not wait, retry or pick addresses:
//! the engine's dial logic does.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Socket, TcpKeepalive, Type};

use crate::config::Config;

/// Starts a non-blocking connect to `addr` and returns the socket for mio.
pub(crate) fn start_connect(addr: SocketAddr, config: &Config) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(config.tcp_nodelay)?;
    if let Some(ka) = config.tcp_keepalive {
        let params = TcpKeepalive::new()
            .with_time(ka.idle)
            .with_interval(ka.interval)
            .with_retries(ka.retries);
        socket.set_tcp_keepalive(&params)?;
    }
    if let Some(ip) = config.local_address {
        socket.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc_einprogress()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// `EINPROGRESS` on Linux and the BSDs: the connect continues in the background.
fn libc_einprogress() -> i32 {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        115
    } else {
        36
    }
}

/// The outcome of a connect attempt that reported readiness.
#[derive(Debug)]
pub(crate) enum ConnectCheck {
    /// Connected.
    Connected,
    /// Still in progress (a spurious wake-up).
    Pending,
    /// Failed with this error.
    Failed(io::Error),
}

/// Checks a connecting socket after a readiness event, as mio documents: `take_error`
/// for a failure, `peer_addr` for success.
pub(crate) fn check_connect(stream: &mio::net::TcpStream) -> ConnectCheck {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return ConnectCheck::Failed(e),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => ConnectCheck::Connected,
        Err(e) if e.kind() == io::ErrorKind::NotConnected => ConnectCheck::Pending,
        Err(e) if e.raw_os_error() == Some(libc_einprogress()) => ConnectCheck::Pending,
        Err(e) => ConnectCheck::Failed(e),
    }
}
