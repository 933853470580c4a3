//! The server the load generators hit: nginx when installed, else `bench-server`.
//!
//! One server process serves every run of a benchmark session, on loopback only:
//! - the main address `127.0.0.1:P`: `/` answers 200 with the 13-byte body
//!   `hello, world!` (nginx: `return 200`), `/64k` a 65 536-byte static file;
//! - with nginx, a TLS address `127.0.0.1:Q` with the same locations, a certificate for
//!   `127.0.0.1`/`localhost` signed by a CA generated for the session with `testkit`'s
//!   PKI (ECDSA P-256; TLS 1.2 and 1.3, session tickets and a session cache on, so
//!   clients can resume). bench-server has no TLS: the HTTPS runs are then skipped, with
//!   a note;
//! - the scale addresses: `127.0.0.{2..}` × a block of ports, `H` distinct `ip:port`
//!   pairs (each one a separate pool key for the clients), same locations.
//!
//! nginx gets its own config in a temporary directory: 1 worker, unlimited keep-alive,
//! no access log, 20 000 connections. The process is stopped (SIGTERM, then SIGKILL) and
//! the directory removed on drop.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::tls::TestPki;

use crate::machine::pinned;

/// The small body (13 bytes).
pub const BODY: &str = "hello, world!";

/// Size of the `/64k` file.
pub const LARGE_BODY_BYTES: usize = 64 * 1024;

/// How long a server gets to start listening.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server process.
#[derive(Debug)]
pub struct Server {
    /// What it is, for the report.
    pub name: String,
    /// The process.
    pub child: Child,
    /// Main address (plain HTTP).
    pub addr: SocketAddr,
    /// TLS address and the CA file that signed its certificate.
    pub tls: Option<(SocketAddr, PathBuf)>,
    /// Scale addresses (plain HTTP).
    pub scale: Vec<SocketAddr>,
    /// Temporary directory (config, files, certificates).
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its worker. `Child::kill` is SIGKILL,
        // which would leave the worker running as an orphan.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A free loopback port: bind port 0, read it, close. Another process could take it in
/// between; the server start then fails loudly.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// `hosts` free addresses `127.0.0.{2..}:{base..}`, 100 ports per IP, below the
/// ephemeral range so no client socket takes one meanwhile.
pub fn scale_addrs(hosts: usize) -> io::Result<Vec<SocketAddr>> {
    let per_ip = 100usize;
    for attempt in 0..20u16 {
        let base = 20_000 + attempt * 600 + (std::process::id() % 400) as u16;
        let addrs: Vec<SocketAddr> = (0..hosts)
            .map(|i| {
                let ip = Ipv4Addr::new(127, 0, 0, 2 + (i / per_ip) as u8);
                SocketAddr::from((ip, base + (i % per_ip) as u16))
            })
            .collect();
        if addrs.iter().all(|a| TcpListener::bind(a).is_ok()) {
            return Ok(addrs);
        }
    }
    Err(io::Error::other("no free block of scale ports"))
}

fn wait_until_listening(addr: SocketAddr, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the server exited at start: {status}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "nothing listens on {addr} after {SERVER_START_TIMEOUT:?}"
    ))
}

fn temp_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("wirepool-loadbench-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let body: Vec<u8> = (0..LARGE_BODY_BYTES)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    fs::write(dir.join("64k"), body).map_err(|e| format!("64k file: {e}"))?;
    Ok(dir)
}

/// A CA and a server certificate for 127.0.0.1/localhost, made with `testkit`'s PKI
/// (ECDSA P-256, rcgen), written as PEM files. Returns (CA file, certificate file, key
/// file).
pub fn make_certs(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let pki = TestPki::with_name("wirepool bench CA");
    let leaf = pki.localhost_cert();
    let files = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    for (path, pem) in [
        (&files.0, pki.ca_pem()),
        (&files.1, leaf.cert_pem),
        (&files.2, leaf.key_pem),
    ] {
        fs::write(path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(files)
}

/// The nginx config: one worker, fixed answers, keep-alive without limits.
pub fn nginx_config(
    dir: &Path,
    port: u16,
    tls: Option<(u16, &Path, &Path)>,
    scale: &[SocketAddr],
) -> String {
    let d = dir.display();
    let mut listens = format!("        listen 127.0.0.1:{port} backlog=4096;\n");
    for a in scale {
        listens.push_str(&format!("        listen {a} backlog=1024;\n"));
    }
    let locations = format!(
        "        location = /64k {{ root {d}; }}\n        location / {{ return 200 \"{BODY}\"; }}\n"
    );
    let tls_server = match tls {
        Some((tport, cert, key)) => format!(
            "    server {{
        listen 127.0.0.1:{tport} ssl backlog=4096;
        ssl_certificate {};
        ssl_certificate_key {};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;
{locations}    }}
",
            cert.display(),
            key.display()
        ),
        None => String::new(),
    };
    format!(
        "worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 19000; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    default_type text/plain;
    server {{
{listens}{locations}    }}
{tls_server}}}
"
    )
}

/// Starts nginx with its own config, TLS included.
pub fn start_nginx(
    nginx: &Path,
    cpu: Option<usize>,
    scale: &[SocketAddr],
) -> Result<Server, String> {
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    let dir = temp_dir()?;
    let tls = match make_certs(&dir) {
        Ok(files) => Some((
            free_port().map_err(|e| format!("no free port: {e}"))?,
            files,
        )),
        Err(e) => {
            eprintln!("loadbench: note: no TLS server ({e}); the HTTPS runs are skipped");
            None
        }
    };
    let conf = dir.join("nginx.conf");
    let tls_conf = tls
        .as_ref()
        .map(|(p, (_, cert, key))| (*p, cert.as_path(), key.as_path()));
    fs::write(&conf, nginx_config(&dir, port, tls_conf, scale))
        .map_err(|e| format!("{}: {e}", conf.display()))?;
    let version = Command::new(nginx)
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_else(|_| "nginx".into());
    let mut child = pinned(nginx, cpu)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if let Err(e) = wait_until_listening(addr, &mut child) {
        let _ = child.kill();
        let _ = child.wait();
        let log = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        let _ = fs::remove_dir_all(&dir);
        return Err(format!("nginx: {e}\n{log}"));
    }
    Ok(Server {
        name: format!("{version} (1 worker; `return 200` 13-byte body, static 64 KiB file)"),
        child,
        addr,
        tls: tls.map(|(p, (ca, _, _))| (SocketAddr::from((Ipv4Addr::LOCALHOST, p)), ca)),
        scale: scale.to_vec(),
        dir,
    })
}

/// Starts `bench-server` (next to this binary) on the main and scale addresses.
pub fn start_builtin(
    exe_dir: &Path,
    cpu: Option<usize>,
    scale: &[SocketAddr],
) -> Result<Server, String> {
    let program = exe_dir.join("bench-server");
    let dir = temp_dir()?;
    let mut child = pinned(&program, cpu)
        .arg("127.0.0.1:0")
        .args(scale.iter().map(ToString::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "bench-server did not say where it listens: {line:?}"
        ));
    };
    wait_until_listening(addr, &mut child)?;
    eprintln!("loadbench: note: bench-server has no TLS; the HTTPS runs are skipped");
    Ok(Server {
        name: "bench-server (built-in, one mio thread; 13-byte body, 64 KiB /64k)".into(),
        child,
        addr,
        tls: None,
        scale: scale.to_vec(),
        dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_config_has_the_promised_settings() {
        let scale = [SocketAddr::from(([127, 0, 0, 2], 20001))];
        let conf = nginx_config(
            Path::new("/tmp/x"),
            8080,
            Some((8443, Path::new("/c.pem"), Path::new("/k.pem"))),
            &scale,
        );
        for needle in [
            "worker_processes 1;",
            "access_log off;",
            "keepalive_requests 1000000000;",
            "listen 127.0.0.1:8080",
            "listen 127.0.0.2:20001",
            "listen 127.0.0.1:8443 ssl",
            "ssl_session_tickets on;",
            "location = /64k { root /tmp/x; }",
            "return 200 \"hello, world!\";",
        ] {
            assert!(conf.contains(needle), "{needle}");
        }
        assert_eq!(BODY.len(), 13);
    }
}
