//! Where a request's connection goes: straight to the origin, through an HTTP proxy, or
//! over a Unix domain socket — and the static overrides of where a name connects.
//!
//! # What this module owns
//!
//! * [`Proxy`]: an HTTP proxy parsed from a URL (`http://user:pass@proxy:3128`), with the
//!   `Proxy-Authorization: Basic` value its credentials become.
//! * [`NoProxy`]: the exclusion list of `NO_PROXY` / [`ClientBuilder::no_proxy`]: domains
//!   and their subdomains, a leading `.` or `*.` for subdomains only, `*` for everything,
//!   IP addresses, CIDR ranges, and an optional `:port` on names and addresses. Matching
//!   follows Go's `golang.org/x/net/http/httpproxy` (the rules of the article this
//!   project answers); `docs/proxies.md` lists where curl differs.
//! * Reading the environment as curl and Go do ([`EnvProxies`]): for each variable the
//!   lower-case name first, then the upper-case one; `http_proxy`/`HTTP_PROXY` for
//!   `http://`, `https_proxy`/`HTTPS_PROXY` for `https://`, `all_proxy`/`ALL_PROXY` for
//!   either when the scheme's own is unset (curl), `no_proxy`/`NO_PROXY` for exclusions.
//!   Empty values count as unset. Upper-case `HTTP_PROXY` is ignored when
//!   `REQUEST_METHOD` is set (a CGI program, where a client's `Proxy:` header becomes
//!   `HTTP_PROXY`: "httpoxy"; curl never reads it, Go refuses it there). `localhost` and
//!   loopback addresses are never sent to a proxy from the environment (Go's rule).
//! * [`Route`]: what a pool key says about the path to the origin; [`Routes`]: the
//!   engine's fixed rules that pick a route for a new host.
//! * [`ConnectTo`] (curl's `--connect-to`) and [`ResolveTo`] (curl's `--resolve`).
//!
//! # What it deliberately does not do
//!
//! No sockets and no DNS: it only decides. The CONNECT tunnel is a connection state
//! (`conn/tunnel.rs`), dialing is `conn/dial.rs`, name resolution is `dns.rs`. Routes
//! are decided once per host (scheme + host + port) when the engine first sees it and
//! kept in its [`PoolKey`](crate::PoolKey): the rules are fixed when the engine is
//! built, so the per-request cost of a proxy is nil. SOCKS proxies are not supported; a
//! `socks5://` proxy in the environment makes the requests it would carry fail with
//! [`ErrorKind::Proxy`] rather than silently go direct.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, ErrorKind};
use crate::pool::Scheme;

// ---------------------------------------------------------------------------------------
// Proxy
// ---------------------------------------------------------------------------------------

/// An HTTP proxy: its scheme (`http`: plain TCP to the proxy; `https`: TLS to the proxy),
/// host, port and optional credentials.
///
/// Plain `http://` requests go to it in absolute form (`GET http://origin/path`);
/// `https://` requests go through a `CONNECT origin:443` tunnel, with TLS to the origin
/// inside it. Credentials in the URL become `Proxy-Authorization: Basic …`, sent only to
/// the proxy: on absolute-form requests and on the `CONNECT`, never inside a tunnel.
///
/// ```
/// use wirepool::Proxy;
/// let proxy = Proxy::parse("http://user:s%40cret@proxy.internal:3128")?;
/// assert_eq!(proxy.host(), "proxy.internal");
/// assert_eq!(proxy.port(), 3128);
/// assert!(proxy.has_credentials());
/// // Credentials are never shown.
/// assert_eq!(proxy.to_string(), "http://user:***@proxy.internal:3128");
/// # Ok::<(), wirepool::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Proxy {
    scheme: Scheme,
    /// Lower-cased host; an IPv6 literal keeps its brackets (as `http::Uri` gives it).
    host: Box<str>,
    port: u16,
    /// The user name, for `Display` (the password is never kept in clear text).
    user: Option<Box<str>>,
    /// `Basic base64(user:password)`: the `Proxy-Authorization` value.
    auth: Option<Arc<str>>,
}

impl Proxy {
    /// Parses a proxy URL: `http://host:port`, `https://host:port`, or `host:port`
    /// (meaning `http://`), optionally with `user:password@` (percent-encoded as in any
    /// URL). Without a port, 80 for `http` and 443 for `https` (as Go; curl assumes
    /// 1080). A path is ignored.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a URL that does not parse, has no host, or names
    /// another scheme (`socks5://` is not supported).
    pub fn parse(url: &str) -> Result<Proxy, Error> {
        let bad = |why: &str| {
            Error::msg(
                ErrorKind::InvalidConfig,
                format!("proxy {:?}: {why}", redact(url)),
            )
        };
        let url = url.trim();
        if url.is_empty() {
            return Err(bad("empty"));
        }
        let (scheme, rest) = match url.split_once("://") {
            Some((s, rest)) => {
                let scheme = match s.to_ascii_lowercase().as_str() {
                    "http" => Scheme::Http,
                    "https" => Scheme::Https,
                    other => {
                        return Err(bad(&format!(
                            "{other}:// proxies are not supported (only http:// and https://)"
                        )))
                    }
                };
                (scheme, rest)
            }
            None => (Scheme::Http, url),
        };
        // The authority ends at the first '/', '?' or '#'.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let parsed: http::uri::Authority =
            hostport.parse().map_err(|_| bad("not a host[:port]"))?;
        let host = parsed.host();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if hostport.ends_with(':') {
            return Err(bad("empty port"));
        }
        // The port is what follows the last ':' outside an IPv6 literal's brackets.
        let after_host = hostport.rfind(']').map_or(0, |i| i + 1);
        let port = match hostport[after_host..].rsplit_once(':') {
            Some((_, p)) => p.parse().map_err(|_| bad("bad port"))?,
            None => scheme.default_port(),
        };
        let (user, auth) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                let user = percent_decode(user).ok_or_else(|| bad("bad %-escape in user"))?;
                let password =
                    percent_decode(password).ok_or_else(|| bad("bad %-escape in password"))?;
                let mut plain = user.clone();
                plain.push(b':');
                plain.extend_from_slice(&password);
                let value = format!("Basic {}", base64(&plain));
                let shown = String::from_utf8_lossy(&user).into_owned();
                (Some(shown.into_boxed_str()), Some(Arc::from(value)))
            }
        };
        Ok(Proxy {
            scheme,
            host: host.to_ascii_lowercase().into_boxed_str(),
            port,
            user,
            auth,
        })
    }

    /// `http` (plain TCP to the proxy) or `https` (TLS to the proxy).
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The proxy's host (lower-cased).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the URL carried credentials (sent as `Proxy-Authorization: Basic`).
    pub fn has_credentials(&self) -> bool {
        self.auth.is_some()
    }

    /// The `Proxy-Authorization` value, if the URL carried credentials.
    pub(crate) fn authorization(&self) -> Option<&Arc<str>> {
        self.auth.as_ref()
    }
}

impl fmt::Display for Proxy {
    /// `http://host:port`, with `user:***@` when there are credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(user) = &self.user {
            write!(f, "{user}:***@")?;
        } else if self.auth.is_some() {
            f.write_str(":***@")?;
        }
        if self.host.contains(':') && !self.host.starts_with('[') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({self})")
    }
}

/// `url` with any password replaced, for error messages.
fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => {
            let info = &url[start..start + at];
            let user = info.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..start], &url[start + at..])
        }
        None => url.to_string(),
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Standard base64 with padding (RFC 4648 §4), for `Basic` credentials.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// NoProxy
// ---------------------------------------------------------------------------------------

/// Hosts that must not go through a proxy: `NO_PROXY`'s syntax, matched as Go matches it.
///
/// A comma-separated list; blanks around entries are ignored, and so are entries that
/// make no sense. Each entry is one of:
/// - `*`: every host (no proxy at all);
/// - `example.com`: that name and every subdomain (`api.example.com`), not
///   `badexample.com`;
/// - `.example.com` or `*.example.com`: subdomains only (curl also matches
///   `example.com` itself here);
/// - `192.0.2.7`, `2001:db8::1`: that address (an IP literal in the URL only: names
///   are not resolved to be matched);
/// - `10.0.0.0/8`, `fd00::/8`: any address in that range;
/// - any of the above but `*` and ranges with `:port` (`[::1]:8080` for IPv6): only
///   that port.
///
/// Names compare case-insensitively, without a trailing dot.
///
/// ```
/// use wirepool::NoProxy;
/// let list = NoProxy::parse("internal.example, .svc, 10.0.0.0/8, api.test:8443");
/// assert!(list.matches("internal.example", 443));
/// assert!(list.matches("db.internal.example", 5432));
/// assert!(list.matches("web.default.svc", 80));
/// assert!(!list.matches("svc", 80));
/// assert!(list.matches("10.1.2.3", 80));
/// assert!(list.matches("api.test", 8443));
/// assert!(!list.matches("api.test", 443));
/// assert!(!list.matches("example.com", 443));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    /// `*` was in the list.
    all: bool,
    entries: Vec<NoProxyEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum NoProxyEntry {
    /// An address, with an optional port.
    Ip { ip: IpAddr, port: Option<u16> },
    /// A range of addresses.
    Cidr { net: IpAddr, bits: u8 },
    /// `suffix` starts with `.`; `apex`: the name without the dot matches too.
    Domain {
        suffix: Box<str>,
        apex: bool,
        port: Option<u16>,
    },
}

impl NoProxy {
    /// Parses a `NO_PROXY`-style list. Never fails: entries it cannot read are skipped
    /// (as Go and curl do).
    pub fn parse(list: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for raw in list.split(',') {
            let entry = raw.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                out.all = true;
                continue;
            }
            if let Some(cidr) = parse_cidr(&entry) {
                out.entries.push(cidr);
                continue;
            }
            let (host, port) = match split_host_port(&entry) {
                Some((h, p)) => (h, Some(p)),
                None if entry.ends_with(':') => continue,
                None => (entry.as_str(), None),
            };
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            if let Ok(ip) = host.parse::<IpAddr>() {
                out.entries.push(NoProxyEntry::Ip { ip, port });
                continue;
            }
            let host = host.strip_suffix('.').unwrap_or(host);
            let host = host.strip_prefix('*').unwrap_or(host);
            if host.is_empty() || host == "." || host.contains(['/', '[', ']', ':', ' ']) {
                continue;
            }
            let (suffix, apex) = match host.strip_prefix('.') {
                Some(_) => (host.to_string(), false),
                None => (format!(".{host}"), true),
            };
            out.entries.push(NoProxyEntry::Domain {
                suffix: suffix.into_boxed_str(),
                apex,
                port,
            });
        }
        out
    }

    /// True if `host:port` must not go through a proxy. `host` is a name or an IP
    /// literal (an IPv6 literal with or without brackets).
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip = bare.parse::<IpAddr>().ok();
        let name = bare.strip_suffix('.').unwrap_or(bare).to_ascii_lowercase();
        self.entries.iter().any(|entry| match (entry, ip) {
            (NoProxyEntry::Ip { ip: want, port: p }, Some(ip)) => {
                canonical(*want) == canonical(ip) && p.map_or(true, |p| p == port)
            }
            (NoProxyEntry::Cidr { net, bits }, Some(ip)) => in_range(ip, *net, *bits),
            (
                NoProxyEntry::Domain {
                    suffix,
                    apex,
                    port: p,
                },
                _,
            ) => {
                let hit = name.ends_with(&**suffix) || (*apex && name == suffix[1..]);
                hit && p.map_or(true, |p| p == port)
            }
            _ => false,
        })
    }

    /// Whether the list is empty (matches nothing).
    pub fn is_empty(&self) -> bool {
        !self.all && self.entries.is_empty()
    }
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn parse_cidr(entry: &str) -> Option<NoProxyEntry> {
    let (addr, bits) = entry.split_once('/')?;
    let net: IpAddr = addr.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some(NoProxyEntry::Cidr { net, bits })
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (canonical(ip), net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// `host:port` or `[v6]:port` → (host, port); `None` without a (valid) port. A bare IPv6
/// literal (several colons, no brackets) has no port.
fn split_host_port(s: &str) -> Option<(&str, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

// ---------------------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------------------

/// A proxy setting read from an environment variable: the proxy, or why it cannot be
/// used (kept, so that the requests it would carry fail with that reason instead of
/// going direct).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EnvProxy {
    Use(Proxy),
    Unusable { var: &'static str, why: Arc<str> },
}

/// What the proxy variables of an environment say, read as curl and Go read them (see
/// the module docs for the order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EnvProxies {
    pub(crate) http: Option<EnvProxy>,
    pub(crate) https: Option<EnvProxy>,
    pub(crate) no_proxy: Option<NoProxy>,
}

impl EnvProxies {
    /// Reads the process environment.
    pub(crate) fn from_process() -> EnvProxies {
        EnvProxies::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `get` (tests pass a map).
    pub(crate) fn from_vars(get: impl Fn(&str) -> Option<String>) -> EnvProxies {
        let first = |names: &[&'static str]| {
            names.iter().find_map(|&name| {
                get(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|value| (name, value))
            })
        };
        let cgi = get("REQUEST_METHOD").is_some_and(|v| !v.is_empty());
        let http_names: &[&'static str] = if cgi {
            &["http_proxy", "all_proxy", "ALL_PROXY"]
        } else {
            &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        };
        let read = |found: Option<(&'static str, String)>| {
            found.map(|(var, value)| match Proxy::parse(&value) {
                Ok(proxy) => EnvProxy::Use(proxy),
                Err(e) => EnvProxy::Unusable {
                    var,
                    why: std::error::Error::source(&e)
                        .map_or_else(|| e.to_string(), ToString::to_string)
                        .into(),
                },
            })
        };
        EnvProxies {
            http: read(first(http_names)),
            https: read(first(&[
                "https_proxy",
                "HTTPS_PROXY",
                "all_proxy",
                "ALL_PROXY",
            ])),
            no_proxy: first(&["no_proxy", "NO_PROXY"]).map(|(_, v)| NoProxy::parse(&v)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------

/// How connections of a pool reach the origin; part of its [`PoolKey`](crate::PoolKey),
/// so connections with different routes are never mixed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Route {
    /// TCP to the origin (or to where a [`ConnectTo`] rule sends its name).
    #[default]
    Direct,
    /// Through this HTTP proxy: absolute-form requests for `http://`, a `CONNECT`
    /// tunnel for `https://`.
    Proxy(Proxy),
    /// Over the Unix domain socket at this path; the URL's host is only the `Host`
    /// header (and the TLS server name for `https://`).
    Unix(PathBuf),
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Direct => f.write_str("direct"),
            Route::Proxy(p) => write!(f, "via proxy {p}"),
            Route::Unix(path) => write!(f, "via unix:{}", path.display()),
        }
    }
}

/// curl's `--connect-to HOST1:PORT1:HOST2:PORT2`: connections for `HOST1:PORT1` go to
/// `HOST2:PORT2` instead; the request (its `Host` header, TLS server name and
/// certificate check) still names `HOST1`. An empty `HOST1` or `PORT1` matches any; an
/// empty `HOST2` or `PORT2` keeps the original. Applies to direct connections only.
///
/// ```
/// use wirepool::ConnectTo;
/// let rule = ConnectTo::parse("api.example:443:127.0.0.1:8443")?;
/// assert_eq!(rule.target("api.example", 443), Some(("127.0.0.1", 8443)));
/// assert_eq!(rule.target("other.example", 443), None);
/// let any_port = ConnectTo::parse("api.example::[::1]:")?;
/// assert_eq!(any_port.target("api.example", 80), Some(("::1", 80)));
/// # Ok::<(), wirepool::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectTo {
    from_host: Option<Box<str>>,
    from_port: Option<u16>,
    to_host: Option<Box<str>>,
    to_port: Option<u16>,
}

impl ConnectTo {
    /// Parses `HOST1:PORT1:HOST2:PORT2` (IPv6 literals in brackets).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when it does not have four parts or a port is not a
    /// number from 0 to 65535.
    pub fn parse(spec: &str) -> Result<ConnectTo, Error> {
        let bad = || {
            Error::msg(
                ErrorKind::InvalidConfig,
                format!("connect-to {spec:?}: expected HOST1:PORT1:HOST2:PORT2"),
            )
        };
        let parts = split_colons(spec).ok_or_else(bad)?;
        let [h1, p1, h2, p2] = parts.as_slice() else {
            return Err(bad());
        };
        let port = |p: &str| -> Result<Option<u16>, Error> {
            if p.is_empty() {
                Ok(None)
            } else {
                p.parse().map(Some).map_err(|_| bad())
            }
        };
        let host = |h: &str| (!h.is_empty()).then(|| unbracket(h).to_ascii_lowercase().into());
        Ok(ConnectTo {
            from_host: host(h1),
            from_port: port(p1)?,
            to_host: host(h2),
            to_port: port(p2)?,
        })
    }

    /// Where a connection for `host:port` goes under this rule, if it applies.
    pub fn target<'a>(&'a self, host: &'a str, port: u16) -> Option<(&'a str, u16)> {
        let host_ok = self
            .from_host
            .as_deref()
            .map_or(true, |h| h.eq_ignore_ascii_case(unbracket(host)));
        let port_ok = self.from_port.map_or(true, |p| p == port);
        (host_ok && port_ok).then(|| {
            (
                self.to_host.as_deref().unwrap_or(host),
                self.to_port.unwrap_or(port),
            )
        })
    }
}

/// curl's `--resolve HOST:PORT:ADDR[,ADDR]...`: the addresses to use for `HOST:PORT`
/// instead of asking the resolver. Applies to every name the engine resolves (an
/// origin, a proxy, a [`ConnectTo`] target).
///
/// ```
/// use wirepool::ResolveTo;
/// let rule = ResolveTo::parse("api.example:443:127.0.0.1,[::1]")?;
/// assert_eq!(rule.host(), "api.example");
/// assert_eq!(rule.addrs().len(), 2);
/// # Ok::<(), wirepool::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveTo {
    host: Box<str>,
    port: u16,
    addrs: Vec<SocketAddr>,
}

impl ResolveTo {
    /// Parses `HOST:PORT:ADDR[,ADDR]...` (IPv6 addresses may be in brackets).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a missing part, a bad port or an address that
    /// is not an IP literal.
    pub fn parse(spec: &str) -> Result<ResolveTo, Error> {
        let bad = |why: &str| {
            Error::msg(
                ErrorKind::InvalidConfig,
                format!("resolve {spec:?}: {why} (expected HOST:PORT:ADDR[,ADDR]...)"),
            )
        };
        let (host, rest) = spec.split_once(':').ok_or_else(|| bad("no port"))?;
        let (port, addrs) = rest.split_once(':').ok_or_else(|| bad("no address"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
        let addrs = addrs
            .split(',')
            .map(|a| {
                unbracket(a.trim())
                    .parse::<IpAddr>()
                    .map(|ip| SocketAddr::new(ip, port))
                    .map_err(|_| bad(&format!("{a:?} is not an IP address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ResolveTo {
            host: host.to_ascii_lowercase().into(),
            port,
            addrs,
        })
    }

    /// A rule from parts: `addrs` for `host:port`.
    pub fn new(host: &str, port: u16, addrs: Vec<IpAddr>) -> ResolveTo {
        ResolveTo {
            host: unbracket(host).to_ascii_lowercase().into(),
            port,
            addrs: addrs
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
        }
    }

    /// The host it answers for (lower-cased).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port it answers for.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses it answers with.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

/// `[v6]` → `v6`; anything else unchanged.
pub(crate) fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Splits on `:` outside brackets; `None` for unbalanced brackets.
fn split_colons(s: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1)?,
            ':' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return None;
    }
    parts.push(&s[start..]);
    Some(parts)
}

/// A proxy the rules picked: usable, or why not.
#[derive(Clone, Debug)]
enum Choice {
    Use(Proxy),
    Unusable(Arc<str>),
}

/// The engine's fixed routing rules, built once from the [`Config`](crate::Config) (and
/// the environment, when it is read).
#[derive(Clone, Debug, Default)]
pub(crate) struct Routes {
    http: Option<Choice>,
    https: Option<Choice>,
    no_proxy: NoProxy,
    /// The proxies came from the environment: `localhost` and loopback go direct.
    from_env: bool,
    unix: Option<PathBuf>,
    connect_to: Vec<ConnectTo>,
}

impl Routes {
    /// The rules for `config`, reading the proxy variables through `env` when the
    /// config asks for the environment (`proxy_from_env`) and nothing explicit overrides
    /// them.
    pub(crate) fn new(config: &crate::config::Config, env: impl FnOnce() -> EnvProxies) -> Routes {
        let env = if config.proxy_from_env && (config.proxy.is_none() || config.no_proxy.is_none())
        {
            env()
        } else {
            EnvProxies::default()
        };
        let choice = |e: Option<EnvProxy>| {
            e.map(|e| match e {
                EnvProxy::Use(p) => Choice::Use(p),
                EnvProxy::Unusable { var, why } => {
                    Choice::Unusable(format!("the proxy in {var} cannot be used: {why}").into())
                }
            })
        };
        let (http, https, from_env) = match &config.proxy {
            Some(p) => (
                Some(Choice::Use(p.clone())),
                Some(Choice::Use(p.clone())),
                false,
            ),
            None => (choice(env.http), choice(env.https), true),
        };
        Routes {
            http,
            https,
            no_proxy: config.no_proxy.clone().or(env.no_proxy).unwrap_or_default(),
            from_env,
            unix: config.unix_socket.clone(),
            connect_to: config.connect_to.clone(),
        }
    }

    /// The route of a new host `scheme://host:port`, or why its requests cannot be sent.
    pub(crate) fn route_for(&self, scheme: Scheme, host: &str, port: u16) -> Result<Route, Error> {
        if let Some(path) = &self.unix {
            return Ok(Route::Unix(path.clone()));
        }
        let choice = match scheme {
            Scheme::Http => &self.http,
            Scheme::Https => &self.https,
        };
        let Some(choice) = choice else {
            return Ok(Route::Direct);
        };
        if self.from_env && is_loopback(host) {
            return Ok(Route::Direct);
        }
        if self.no_proxy.matches(host, port) {
            return Ok(Route::Direct);
        }
        match choice {
            Choice::Use(proxy) => Ok(Route::Proxy(proxy.clone())),
            Choice::Unusable(why) => Err(Error::msg(ErrorKind::Proxy, why.to_string())),
        }
    }

    /// Where a direct connection for `host:port` dials (a [`ConnectTo`] rule, or itself).
    pub(crate) fn connect_target<'a>(&'a self, host: &'a str, port: u16) -> (&'a str, u16) {
        self.connect_to
            .iter()
            .find_map(|rule| rule.target(host, port))
            .unwrap_or((host, port))
    }
}

/// `localhost` (and its subdomains), and loopback IP literals: never proxied from the
/// environment (Go's rule: a local service behind a proxy is almost never meant).
fn is_loopback(host: &str) -> bool {
    let bare = unbracket(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return canonical(ip).is_loopback();
    }
    let name = bare.strip_suffix('.').unwrap_or(bare);
    name.eq_ignore_ascii_case("localhost") || name.to_ascii_lowercase().ends_with(".localhost")
}

/// Where a connection's socket goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum DialTarget<'a> {
    /// Resolve this name (or IP literal) and connect over TCP.
    Tcp(&'a str, u16),
    /// Connect to this Unix domain socket.
    Unix(&'a Path),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("proxy.example:3128").unwrap();
        assert_eq!(
            (p.scheme(), p.host(), p.port()),
            (Scheme::Http, "proxy.example", 3128)
        );
        let p = Proxy::parse("HTTPS://Proxy.Example").unwrap();
        assert_eq!(
            (p.scheme(), p.host(), p.port()),
            (Scheme::Https, "proxy.example", 443)
        );
        let p = Proxy::parse("http://proxy.example/").unwrap();
        assert_eq!(p.port(), 80);
        let p = Proxy::parse("http://[::1]:8080").unwrap();
        assert_eq!((p.host(), p.port()), ("[::1]", 8080));
        assert_eq!(p.to_string(), "http://[::1]:8080");
        for bad in [
            "",
            "socks5://h:1080",
            "http://",
            "http://:80",
            "http://h:99999",
            "http://h:",
        ] {
            let e = Proxy::parse(bad).expect_err(bad);
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{bad}");
        }
    }

    #[test]
    fn proxy_credentials_become_basic_auth_and_are_never_shown() {
        // RFC 7617's example: Aladdin / open sesame.
        let p = Proxy::parse("http://Aladdin:open%20sesame@proxy:3128").unwrap();
        assert_eq!(
            p.authorization().map(|a| &**a),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        assert_eq!(p.to_string(), "http://Aladdin:***@proxy:3128");
        assert!(!format!("{p:?}").contains("sesame"));
        let e = Proxy::parse("ftp://user:secret@proxy").unwrap_err();
        let text = std::error::Error::source(&e).unwrap().to_string();
        assert!(!text.contains("secret"), "{text}");
        // A user name alone is `user:` (empty password), as curl sends it.
        let p = Proxy::parse("http://user@proxy").unwrap();
        assert_eq!(p.authorization().map(|a| &**a), Some("Basic dXNlcjo="));
        assert_eq!(
            Proxy::parse("http://u:p%zz@proxy").unwrap_err().kind(),
            ErrorKind::InvalidConfig
        );
    }

    #[test]
    fn base64_pads() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input}");
        }
    }

    #[test]
    fn no_proxy_table() {
        // (list, host, port, matches)
        let cases: &[(&str, &str, u16, bool)] = &[
            ("", "example.com", 80, false),
            ("*", "anything.example", 1, true),
            ("example.com", "example.com", 80, true),
            ("example.com", "EXAMPLE.com.", 80, true),
            ("example.com", "www.example.com", 443, true),
            ("example.com", "badexample.com", 80, false),
            ("example.com", "example.com.evil", 80, false),
            (".example.com", "www.example.com", 80, true),
            (".example.com", "example.com", 80, false),
            ("*.example.com", "a.b.example.com", 80, true),
            ("*.example.com", "example.com", 80, false),
            ("example.com.", "www.example.com", 80, true),
            ("example.com:8080", "example.com", 8080, true),
            ("example.com:8080", "example.com", 80, false),
            ("192.0.2.7", "192.0.2.7", 80, true),
            ("192.0.2.7", "192.0.2.8", 80, false),
            ("192.0.2.7:443", "192.0.2.7", 443, true),
            ("192.0.2.7:443", "192.0.2.7", 80, false),
            ("192.0.2.0/24", "192.0.2.200", 80, true),
            ("192.0.2.0/24", "192.0.3.1", 80, false),
            ("0.0.0.0/0", "203.0.113.9", 80, true),
            ("10.0.0.0/8", "10.0.0.0.example", 80, false),
            ("2001:db8::1", "[2001:db8::1]", 80, true),
            ("2001:db8::1", "2001:db8::1", 80, true),
            ("[2001:db8::1]:8443", "[2001:db8::1]", 8443, true),
            ("[2001:db8::1]:8443", "[2001:db8::1]", 443, false),
            ("2001:db8::/32", "[2001:db8:ffff::1]", 80, true),
            ("2001:db8::/32", "[2001:db9::1]", 80, false),
            ("192.0.2.0/24", "[::ffff:192.0.2.1]", 80, true),
            // Names are not resolved to match addresses, nor addresses to match names.
            ("192.0.2.7", "host.example", 80, false),
            ("example.com", "192.0.2.7", 80, false),
            // Blanks, empty and nonsense entries are skipped; the rest still work.
            (" , foo.test ,, :80, /8, bar.test ", "bar.test", 80, true),
            ("foo.test,   bar.test", "foo.test", 80, true),
            ("10.0.0.0/99", "10.1.1.1", 80, false),
        ];
        for &(list, host, port, want) in cases {
            assert_eq!(
                NoProxy::parse(list).matches(host, port),
                want,
                "NO_PROXY={list:?} host={host} port={port}"
            );
        }
    }

    fn env(vars: &[(&str, &str)]) -> EnvProxies {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnvProxies::from_vars(|name| map.get(name).cloned())
    }

    fn used(e: &Option<EnvProxy>) -> Option<String> {
        match e {
            Some(EnvProxy::Use(p)) => Some(p.to_string()),
            Some(EnvProxy::Unusable { var, .. }) => Some(format!("unusable from {var}")),
            None => None,
        }
    }

    #[test]
    fn env_precedence() {
        // Lower-case first (curl), upper-case next, ALL_PROXY last.
        let e = env(&[("http_proxy", "lower:1"), ("HTTP_PROXY", "upper:2")]);
        assert_eq!(used(&e.http).as_deref(), Some("http://lower:1"));
        let e = env(&[("HTTP_PROXY", "upper:2")]);
        assert_eq!(used(&e.http).as_deref(), Some("http://upper:2"));
        let e = env(&[
            ("https_proxy", "s:1"),
            ("HTTPS_PROXY", "S:2"),
            ("ALL_PROXY", "all:3"),
        ]);
        assert_eq!(used(&e.https).as_deref(), Some("http://s:1"));
        assert_eq!(used(&e.http).as_deref(), Some("http://all:3"));
        let e = env(&[("all_proxy", "a:1"), ("ALL_PROXY", "A:2")]);
        assert_eq!(used(&e.https).as_deref(), Some("http://a:1"));
        // Empty means unset.
        let e = env(&[("http_proxy", ""), ("HTTP_PROXY", "upper:2")]);
        assert_eq!(used(&e.http).as_deref(), Some("http://upper:2"));
        // httpoxy: a CGI program ignores HTTP_PROXY, never http_proxy.
        let e = env(&[("HTTP_PROXY", "evil:1"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(used(&e.http), None);
        let e = env(&[("http_proxy", "ok:1"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(used(&e.http).as_deref(), Some("http://ok:1"));
        // NO_PROXY: lower-case first.
        let e = env(&[("no_proxy", "a.test"), ("NO_PROXY", "b.test")]);
        let list = e.no_proxy.unwrap();
        assert!(list.matches("a.test", 80) && !list.matches("b.test", 80));
        // A SOCKS proxy is kept as unusable, not dropped.
        let e = env(&[("ALL_PROXY", "socks5://127.0.0.1:1080")]);
        assert_eq!(used(&e.https).as_deref(), Some("unusable from ALL_PROXY"));
    }

    fn routes(config: crate::config::Config, vars: &[(&str, &str)]) -> Routes {
        let vars = env(vars);
        Routes::new(&config, move || vars)
    }

    #[test]
    fn routes_from_env_skip_loopback_and_no_proxy() {
        let r = routes(
            crate::config::Config::default(),
            &[("https_proxy", "proxy:3128"), ("no_proxy", "internal.test")],
        );
        let via = |scheme, host: &str| r.route_for(scheme, host, 443).unwrap();
        assert!(matches!(via(Scheme::Https, "api.example"), Route::Proxy(_)));
        assert_eq!(via(Scheme::Http, "api.example"), Route::Direct);
        assert_eq!(via(Scheme::Https, "db.internal.test"), Route::Direct);
        for local in [
            "localhost",
            "LOCALHOST.",
            "a.localhost",
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
            "::1",
        ] {
            assert_eq!(via(Scheme::Https, local), Route::Direct, "{local}");
        }
        // An unusable proxy fails the requests it would carry, and only those.
        let r = routes(
            crate::config::Config::default(),
            &[
                ("ALL_PROXY", "socks5://proxy:1080"),
                ("NO_PROXY", "direct.test"),
            ],
        );
        let e = r.route_for(Scheme::Http, "api.example", 80).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Proxy);
        assert_eq!(
            r.route_for(Scheme::Http, "direct.test", 80).unwrap(),
            Route::Direct
        );
    }

    #[test]
    fn explicit_settings_override_the_environment() {
        let mut config = crate::config::Config {
            proxy: Some(Proxy::parse("http://explicit:8080").unwrap()),
            ..crate::config::Config::default()
        };
        let r = routes(
            config.clone(),
            &[("http_proxy", "env:1"), ("no_proxy", "skip.test")],
        );
        // The explicit proxy proxies loopback too (Go's ProxyURL does); NO_PROXY from the
        // environment still applies (curl's rule) unless the environment is off.
        let Route::Proxy(p) = r.route_for(Scheme::Http, "127.0.0.1", 80).unwrap() else {
            panic!("not proxied")
        };
        assert_eq!(p.host(), "explicit");
        assert_eq!(
            r.route_for(Scheme::Http, "skip.test", 80).unwrap(),
            Route::Direct
        );
        config.proxy_from_env = false;
        let r = routes(config.clone(), &[("no_proxy", "skip.test")]);
        assert!(matches!(
            r.route_for(Scheme::Http, "skip.test", 80).unwrap(),
            Route::Proxy(_)
        ));
        // An explicit list replaces NO_PROXY.
        config.proxy_from_env = true;
        config.no_proxy = Some(NoProxy::parse("other.test"));
        let r = routes(config.clone(), &[("no_proxy", "skip.test")]);
        assert!(matches!(
            r.route_for(Scheme::Http, "skip.test", 80).unwrap(),
            Route::Proxy(_)
        ));
        assert_eq!(
            r.route_for(Scheme::Http, "other.test", 80).unwrap(),
            Route::Direct
        );
        // Environment off, nothing explicit: direct.
        let config = crate::config::Config {
            proxy_from_env: false,
            ..crate::config::Config::default()
        };
        let r = routes(config, &[("http_proxy", "env:1")]);
        assert_eq!(
            r.route_for(Scheme::Http, "api.example", 80).unwrap(),
            Route::Direct
        );
    }

    #[test]
    fn connect_to_and_resolve_specs() {
        let rule = ConnectTo::parse(":443:backend.test:").unwrap();
        assert_eq!(rule.target("anything", 443), Some(("backend.test", 443)));
        assert_eq!(rule.target("anything", 80), None);
        let rule = ConnectTo::parse("[::1]:80:127.0.0.1:8080").unwrap();
        assert_eq!(rule.target("[::1]", 80), Some(("127.0.0.1", 8080)));
        for bad in ["a:1:b", "a:x:b:2", "a:1:b:2:c", "[a:1:b:2"] {
            assert!(ConnectTo::parse(bad).is_err(), "{bad}");
        }
        let r = ResolveTo::parse("Example.test:8080:127.0.0.1, [::1]").unwrap();
        assert_eq!(r.host(), "example.test");
        assert_eq!(
            r.addrs(),
            &[
                "127.0.0.1:8080".parse().unwrap(),
                "[::1]:8080".parse().unwrap()
            ]
        );
        for bad in [
            "h",
            "h:80",
            ":80:127.0.0.1",
            "h:x:127.0.0.1",
            "h:80:not-an-ip",
        ] {
            assert!(ResolveTo::parse(bad).is_err(), "{bad}");
        }
    }
}
