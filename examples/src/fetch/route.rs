//! Where `fetch` sends each URL — straight to the origin, through an HTTP proxy, or over
//! a Unix domain socket — and curl's `--resolve` and `--connect-to` rules.
//!
//! ```text
//!  -x / --noproxy / --unix-socket ─┐
//!  the environment (curl's names) ─┴─► Routing ──via(url)──► Direct | Proxy(P) | Unix(path)
//!                                                               │ one client per distinct
//!  --resolve ──► ResolveRules ──┐                               ▼ route (usually one)
//!  --connect-to ──► ConnectTo ──┴──────────────────────► ClientBuilder (the library acts)
//! ```
//!
//! # What this module owns
//!
//! * The route of each URL, decided **once, before anything is sent, with curl's rules**
//!   ([`Routing::via`]). The library's own defaults follow Go; `fetch` stands in for curl,
//!   so here curl wins where the two differ:
//!   - `-x URL` replaces the proxy variables; `-x ""` turns proxies off altogether.
//!   - Without `-x`: `http_proxy` for `http://` (**lower case only**: curl never reads
//!     `HTTP_PROXY`, which a CGI server fills from a client's `Proxy:` header), then
//!     `https_proxy` / `HTTPS_PROXY` for `https://`, then `all_proxy` / `ALL_PROXY`.
//!     An empty variable counts as unset (curl's `curl_getenv`).
//!   - `--noproxy LIST` replaces `no_proxy` / `NO_PROXY`, and either applies to `-x` too.
//!     The list is matched as curl's `Curl_check_noproxy` matches it ([`curl_noproxy`]):
//!     only a list that is exactly `*` matches everything; a name matches itself and its
//!     subdomains, a leading `.` changes nothing; addresses and CIDR ranges match IP
//!     literals only; no ports.
//!   - `localhost` and loopback addresses are proxied like any host (Go never proxies
//!     them from the environment).
//!   - A proxy without a port is on 1080 (`http://`) or 443 (`https://`).
//!   - `--unix-socket` wins over any proxy (curl does not mix the two).
//! * Parsing `--resolve` as curl does ([`ResolveRules`]): `[+]HOST:PORT:ADDR[,ADDR]...`,
//!   `*` as the host for any name on that port (looked at after the exact entries), a
//!   later entry for the same `HOST:PORT` replacing an earlier one, `-HOST:PORT` removing
//!   one.
//!
//! # What it does not do
//!
//! No sockets and no matching at request time: the library carries the routes out.
//! A URL routed through proxy P goes to a client built with `proxy(P)` that proxies every
//! host (the decision was made here); a URL routed straight goes to a client with no
//! proxy; the library's own reading of the environment is turned off. `--connect-to`
//! and the `--resolve` rules go to every client as they are (`ConnectTo`, `ResolveTo`).
//!
//! # Why
//!
//! A curl user's environment and habits should mean the same to `fetch`: the same
//! variables read, the same hosts excluded, the same proxy port. Deciding per URL here,
//! rather than translating curl's rules into the library's, keeps each rule in one place
//! and lets `-v` say which variable was used, as curl does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use wirepool::http::Uri;
use wirepool::{Proxy, ResolveTo};

use super::exit;

/// Where one URL goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// TCP to the origin (or where a `--connect-to` rule sends it).
    Direct,
    /// Through this HTTP proxy; `env` names the variable it came from (none for `-x`).
    Proxy {
        /// The proxy.
        proxy: Proxy,
        /// The environment variable it came from; `None` for `-x`.
        env: Option<EnvVar>,
    },
    /// Over this Unix domain socket.
    Unix(PathBuf),
}

impl Via {
    /// The proxy, when the URL goes through one.
    pub fn proxy(&self) -> Option<&Proxy> {
        match self {
            Via::Proxy { proxy, .. } => Some(proxy),
            Via::Direct | Via::Unix(_) => None,
        }
    }
}

/// The environment variable a proxy came from, for `-v`'s `* Uses proxy env variable`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    /// Its name, as read (`https_proxy`, `HTTPS_PROXY`, ...).
    pub name: &'static str,
    /// Its value.
    pub value: String,
}

/// A proxy that cannot be used: the URLs it would carry fail with `code` (curl's) and
/// `message`, before anything is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError {
    /// curl's exit code: 5 for a proxy URL that does not parse, 7 for a scheme curl does
    /// not know, 4 for SOCKS (curl has it; this build does not).
    pub code: u8,
    /// What is wrong, the password hidden.
    pub message: String,
}

/// The variables curl reads for each scheme, in order (`http_proxy` has no upper-case
/// form: see the module docs).
const HTTP_VARS: &[&str] = &["http_proxy", "all_proxy", "ALL_PROXY"];
const HTTPS_VARS: &[&str] = &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
const NO_PROXY_VARS: &[&str] = &["no_proxy", "NO_PROXY"];

/// Every proxy variable curl or Go reads, `HTTP_PROXY` included (which [`Routing`]
/// never uses): the tests clear them all for a clean environment.
pub const ENV_VARS: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// The routing rules of one run: the command line and what the environment said.
#[derive(Clone, Debug, Default)]
pub struct Routing {
    /// `--unix-socket`.
    unix_socket: Option<PathBuf>,
    /// `-x`: `Some("")` turns proxies off.
    proxy_arg: Option<String>,
    /// `--noproxy`, else `no_proxy` / `NO_PROXY`.
    noproxy: Option<String>,
    /// The proxy variables that are set and not empty.
    env: Vec<(&'static str, String)>,
}

impl Routing {
    /// The rules for `-x` (`proxy`), `--noproxy` and `--unix-socket`, reading the
    /// environment through `getenv` (the process's, or a test's map).
    pub fn new(
        proxy: Option<String>,
        noproxy: Option<String>,
        unix_socket: Option<PathBuf>,
        getenv: impl Fn(&str) -> Option<String>,
    ) -> Routing {
        let set = |name: &str| getenv(name).filter(|v| !v.is_empty());
        let mut env: Vec<(&'static str, String)> = Vec::new();
        for &name in HTTP_VARS.iter().chain(HTTPS_VARS) {
            if !env.iter().any(|(n, _)| *n == name) {
                if let Some(value) = set(name) {
                    env.push((name, value));
                }
            }
        }
        let noproxy = noproxy.or_else(|| NO_PROXY_VARS.iter().find_map(|&name| set(name)));
        Routing {
            unix_socket,
            proxy_arg: proxy,
            noproxy,
            env,
        }
    }

    /// `--unix-socket`, if given.
    pub fn unix_socket(&self) -> Option<&PathBuf> {
        self.unix_socket.as_ref()
    }

    /// The route of `url` (an `http://` or `https://` URL with a host), or why the proxy
    /// it would take cannot be used.
    pub fn via(&self, url: &Uri) -> Result<Via, RouteError> {
        if let Some(path) = &self.unix_socket {
            return Ok(Via::Unix(path.clone()));
        }
        let host = url.host().unwrap_or_default();
        if self
            .noproxy
            .as_deref()
            .is_some_and(|list| curl_noproxy(list, host))
        {
            return Ok(Via::Direct);
        }
        let (text, env) = match &self.proxy_arg {
            Some(text) if text.is_empty() => return Ok(Via::Direct),
            Some(text) => (text.clone(), None),
            None => {
                let names = if url.scheme_str() == Some("https") {
                    HTTPS_VARS
                } else {
                    HTTP_VARS
                };
                let found = names.iter().find_map(|&name| {
                    self.env
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(n, v)| (*n, v.clone()))
                });
                match found {
                    None => return Ok(Via::Direct),
                    Some((name, value)) => (value.clone(), Some(EnvVar { name, value })),
                }
            }
        };
        let proxy = curl_proxy(&text)?;
        Ok(Via::Proxy { proxy, env })
    }
}

/// Parses a proxy as curl's `-x` does: `[scheme://][user:password@]host[:port]`; no
/// scheme means `http://`; without a port, 1080 for `http://` (curl's default; the
/// library's is 80) and 443 for `https://`.
pub fn curl_proxy(text: &str) -> Result<Proxy, RouteError> {
    let shown = redact(text);
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("http".to_owned(), text),
    };
    match scheme.as_str() {
        "http" | "https" => {}
        "socks" | "socks4" | "socks4a" | "socks5" | "socks5h" => {
            return Err(RouteError {
                code: exit::NOT_BUILT_IN,
                message: format!("Unsupported proxy '{shown}': SOCKS proxies are not supported"),
            })
        }
        _ => {
            return Err(RouteError {
                code: exit::COULDNT_CONNECT,
                message: format!("Unsupported proxy scheme for '{shown}'"),
            })
        }
    }
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_len);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let after_host = hostport.rfind(']').map_or(0, |i| i + 1);
    let has_port = hostport[after_host..].contains(':');
    let full = if has_port || scheme == "https" {
        format!("{scheme}://{rest}")
    } else {
        format!("{scheme}://{authority}:1080{tail}")
    };
    Proxy::parse(&full).map_err(|e| {
        let why = std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
        // The library's text is `proxy "URL": why`; the URL is already in ours.
        let why = why.split_once("\": ").map_or(why.as_str(), |(_, w)| w);
        RouteError {
            code: exit::COULDNT_RESOLVE_PROXY,
            message: format!("Unsupported proxy syntax in '{shown}': {why}"),
        }
    })
}

/// `text` with a password in it replaced by `***`, for messages and `-v`.
pub fn redact(text: &str) -> String {
    let start = text.find("://").map_or(0, |i| i + 3);
    let end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    match text[start..end].rfind('@') {
        Some(at) => {
            let info = &text[start..start + at];
            match info.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:***{}", &text[..start], &text[start + at..])
                }
                None => text.to_owned(),
            }
        }
        None => text.to_owned(),
    }
}

/// Whether curl's no-proxy `list` exempts `host` (as the URL gives it: an IPv6 literal
/// in brackets), following `Curl_check_noproxy`:
///
/// - the list `*` (exactly) matches every host;
/// - entries are separated by commas, blanks around them ignored (a blank inside the
///   list without a comma ends it, as in curl);
/// - for a name: an entry matches the name itself or any subdomain (`example.com`
///   matches `www.example.com`, not `badexample.com`); a trailing dot on either side and
///   a leading dot on the entry are ignored; case-insensitive; an entry with a port or a
///   `*.` never matches;
/// - for an IP literal: an entry is an address or a CIDR range of the same family
///   (`192.168.0.0/16`, `fd00::/8`, IPv6 without brackets); `/0` means the whole
///   address.
pub fn curl_noproxy(list: &str, host: &str) -> bool {
    if host.is_empty() || list.is_empty() {
        return false;
    }
    if list == "*" {
        return true;
    }
    let ip: Option<IpAddr> = match host.strip_prefix('[') {
        Some(v6) => match v6.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(ip)) => Some(IpAddr::V6(ip)),
            _ => return false,
        },
        None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    let blank = |c: char| c == ' ' || c == '\t';
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches(blank);
        let end = rest
            .find(|c: char| blank(c) || c == ',')
            .unwrap_or(rest.len());
        let token = &rest[..end];
        rest = rest[end..].trim_start_matches(blank);
        if !token.is_empty() {
            let hit = match ip {
                None => {
                    let token = token.strip_suffix('.').unwrap_or(token);
                    let token = token.strip_prefix('.').unwrap_or(token);
                    name_matches(name, token)
                }
                Some(ip) => ip_matches(ip, token),
            };
            if hit {
                return true;
            }
        }
        // Anything but a comma here ends the list (curl's loop does the same).
        if !rest.starts_with(',') {
            return false;
        }
        rest = rest.trim_start_matches(',');
    }
}

/// `name` is `token` or a subdomain of it.
fn name_matches(name: &str, token: &str) -> bool {
    if token.is_empty() {
        return false;
    }
    if name.len() == token.len() {
        return name.eq_ignore_ascii_case(token);
    }
    name.len() > token.len()
        && name.is_char_boundary(name.len() - token.len())
        && name.as_bytes()[name.len() - token.len() - 1] == b'.'
        && name[name.len() - token.len()..].eq_ignore_ascii_case(token)
}

/// `ip` is the address, or in the range, that `token` names (`ADDR` or `ADDR/BITS`).
fn ip_matches(ip: IpAddr, token: &str) -> bool {
    let (addr, bits) = match token.split_once('/') {
        Some((addr, bits)) => (addr, bits.parse::<u32>().unwrap_or(0)),
        None => (token, 0),
    };
    match (ip, addr.parse::<IpAddr>()) {
        (IpAddr::V4(ip), Ok(IpAddr::V4(net))) => {
            let bits = if bits == 0 { 32 } else { bits };
            bits <= 32 && {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(ip) & mask == u32::from(net) & mask
            }
        }
        (IpAddr::V6(ip), Ok(IpAddr::V6(net))) => {
            let bits = if bits == 0 { 128 } else { bits };
            bits <= 128 && {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(ip) & mask == u128::from(net) & mask
            }
        }
        _ => false,
    }
}

/// The `--resolve` entries of a run, in curl's terms: exact `HOST:PORT` entries (the
/// library's [`ResolveTo`]) and `*:PORT` entries for any other name on that port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolveRules {
    /// `HOST:PORT:ADDR[,ADDR]...`, at most one per `HOST:PORT` (the last given).
    pub exact: Vec<ResolveTo>,
    /// `*:PORT:ADDR[,ADDR]...`: (port, addresses), at most one per port.
    pub any_host: Vec<(u16, Vec<SocketAddr>)>,
}

impl ResolveRules {
    /// Adds one `--resolve` value: `[+]HOST:PORT:ADDR[,ADDR]...` (IPv6 addresses in
    /// brackets or not; `+` is accepted and changes nothing in a run this short), or
    /// `-HOST:PORT` to remove an earlier entry.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        if let Some(gone) = spec.strip_prefix('-') {
            let (host, port) = gone
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_ascii_lowercase(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| format!("--resolve {spec:?}: expected -HOST:PORT"))?;
            self.exact
                .retain(|r| !(r.host() == host && r.port() == port));
            if host == "*" {
                self.any_host.retain(|(p, _)| *p != port);
            }
            return Ok(());
        }
        let spec = spec.strip_prefix('+').unwrap_or(spec);
        let rule = ResolveTo::parse(spec).map_err(|e| {
            std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string)
        })?;
        if rule.host() == "*" {
            self.any_host.retain(|(p, _)| *p != rule.port());
            self.any_host.push((rule.port(), rule.addrs().to_vec()));
        } else {
            self.exact
                .retain(|r| !(r.host() == rule.host() && r.port() == rule.port()));
            self.exact.push(rule);
        }
        Ok(())
    }

    /// The addresses an entry gives for `host:port`, if one does (an exact entry first,
    /// then a `*` one for a name).
    pub fn lookup(&self, host: &str, port: u16) -> Option<&[SocketAddr]> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.exact
            .iter()
            .find(|r| r.port() == port && r.host().eq_ignore_ascii_case(host))
            .map(ResolveTo::addrs)
            .or_else(|| {
                // Names only: the library never resolves an IP literal.
                (host.parse::<IpAddr>().is_err())
                    .then(|| self.any_host.iter().find(|(p, _)| *p == port))
                    .flatten()
                    .map(|(_, addrs)| addrs.as_slice())
            })
    }

    /// The resolver for the `*` entries: their addresses on their ports, the system's
    /// answer for the rest. `None` when there are none (the library's own resolver
    /// stays). Exact entries never reach it: the library answers them first.
    pub fn wildcard_resolver(
        &self,
    ) -> Option<impl Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + Send + Sync + 'static>
    {
        if self.any_host.is_empty() {
            return None;
        }
        let any_host = self.any_host.clone();
        Some(
            move |host: &str, port: u16| match any_host.iter().find(|(p, _)| *p == port) {
                Some((_, addrs)) => Ok(addrs.clone()),
                None => (host, port).to_socket_addrs().map(Iterator::collect),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn routing(proxy: Option<&str>, noproxy: Option<&str>, vars: &[(&str, &str)]) -> Routing {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Routing::new(
            proxy.map(str::to_owned),
            noproxy.map(str::to_owned),
            None,
            |k| map.get(k).cloned(),
        )
    }

    /// Where `url` goes: `direct`, `proxy URL (VAR)`, or `error CODE`.
    fn via(r: &Routing, url: &str) -> String {
        match r.via(&url.parse().unwrap()) {
            Ok(Via::Direct) => "direct".into(),
            Ok(Via::Proxy { proxy, env: None }) => format!("proxy {proxy}"),
            Ok(Via::Proxy {
                proxy,
                env: Some(var),
            }) => format!("proxy {proxy} ({})", var.name),
            Ok(Via::Unix(p)) => format!("unix {}", p.display()),
            Err(e) => format!("error {}", e.code),
        }
    }

    #[test]
    fn variables_as_curl_reads_them() {
        // http_proxy in lower case only; HTTP_PROXY is never read.
        let r = routing(None, None, &[("HTTP_PROXY", "upper:1")]);
        assert_eq!(via(&r, "http://a.test/"), "direct");
        let r = routing(
            None,
            None,
            &[("http_proxy", "lower:1"), ("HTTP_PROXY", "up:2")],
        );
        assert_eq!(
            via(&r, "http://a.test/"),
            "proxy http://lower:1 (http_proxy)"
        );
        // HTTP_PROXY does not make ALL_PROXY lose either.
        let r = routing(
            None,
            None,
            &[("HTTP_PROXY", "up:2"), ("ALL_PROXY", "all:3")],
        );
        assert_eq!(via(&r, "http://a.test/"), "proxy http://all:3 (ALL_PROXY)");
        // https: lower case first, then upper case, then all_proxy, ALL_PROXY.
        let r = routing(
            None,
            None,
            &[("https_proxy", "s:1"), ("HTTPS_PROXY", "S:2")],
        );
        assert_eq!(via(&r, "https://a.test/"), "proxy http://s:1 (https_proxy)");
        let r = routing(None, None, &[("HTTPS_PROXY", "S:2"), ("all_proxy", "a:3")]);
        assert_eq!(via(&r, "https://a.test/"), "proxy http://s:2 (HTTPS_PROXY)");
        let r = routing(None, None, &[("all_proxy", "a:3"), ("ALL_PROXY", "A:4")]);
        assert_eq!(via(&r, "https://a.test/"), "proxy http://a:3 (all_proxy)");
        assert_eq!(via(&r, "http://a.test/"), "proxy http://a:3 (all_proxy)");
        // The scheme's own variable is for that scheme only.
        let r = routing(None, None, &[("http_proxy", "h:1")]);
        assert_eq!(via(&r, "https://a.test/"), "direct");
        // Empty counts as unset.
        let r = routing(None, None, &[("https_proxy", ""), ("ALL_PROXY", "A:4")]);
        assert_eq!(via(&r, "https://a.test/"), "proxy http://a:4 (ALL_PROXY)");
        // Loopback is proxied like any host (curl; Go would not).
        let r = routing(None, None, &[("http_proxy", "h:1")]);
        assert_eq!(
            via(&r, "http://127.0.0.1:8080/"),
            "proxy http://h:1 (http_proxy)"
        );
        assert_eq!(
            via(&r, "http://localhost/"),
            "proxy http://h:1 (http_proxy)"
        );
    }

    #[test]
    fn the_command_line_overrides_the_environment() {
        let env = [("http_proxy", "env:1"), ("no_proxy", "skip.test")];
        let r = routing(Some("cli:2"), None, &env);
        assert_eq!(via(&r, "http://a.test/"), "proxy http://cli:2");
        assert_eq!(via(&r, "https://a.test/"), "proxy http://cli:2");
        // NO_PROXY applies to -x too (curl since 7.53).
        assert_eq!(via(&r, "http://skip.test/"), "direct");
        // --noproxy replaces NO_PROXY; "" proxies every host.
        let r = routing(Some("cli:2"), Some(""), &env);
        assert_eq!(via(&r, "http://skip.test/"), "proxy http://cli:2");
        let r = routing(None, Some("a.test"), &env);
        assert_eq!(via(&r, "http://a.test/"), "direct");
        assert_eq!(
            via(&r, "http://skip.test/"),
            "proxy http://env:1 (http_proxy)"
        );
        // -x "" turns proxies off, environment included.
        let r = routing(Some(""), None, &env);
        assert_eq!(via(&r, "http://a.test/"), "direct");
        // --noproxy '*'.
        let r = routing(Some("cli:2"), Some("*"), &[]);
        assert_eq!(via(&r, "https://anything.test/"), "direct");
        // The Unix socket wins over any proxy.
        let mut r = routing(Some("cli:2"), None, &env);
        r.unix_socket = Some("/run/x.sock".into());
        assert_eq!(via(&r, "http://a.test/"), "unix /run/x.sock");
    }

    #[test]
    fn proxy_urls_as_curl_reads_them() {
        let p = |t: &str| curl_proxy(t).map(|p| p.to_string()).map_err(|e| e.code);
        assert_eq!(p("proxy.test"), Ok("http://proxy.test:1080".into()));
        assert_eq!(p("http://proxy.test"), Ok("http://proxy.test:1080".into()));
        assert_eq!(
            p("http://proxy.test/path"),
            Ok("http://proxy.test:1080".into())
        );
        assert_eq!(
            p("HTTP://u:p@proxy.test"),
            Ok("http://u:***@proxy.test:1080".into())
        );
        assert_eq!(p("https://proxy.test"), Ok("https://proxy.test:443".into()));
        assert_eq!(p("http://[::1]"), Ok("http://[::1]:1080".into()));
        assert_eq!(p("[::1]:3128"), Ok("http://[::1]:3128".into()));
        assert_eq!(p("127.0.0.1:3128"), Ok("http://127.0.0.1:3128".into()));
        assert_eq!(p("socks5://127.0.0.1:1080"), Err(4));
        assert_eq!(p("ftp://127.0.0.1:21"), Err(7));
        for bad in [
            "http://",
            "http://:80",
            "http://h:99999",
            "http://h:",
            "h:x",
        ] {
            assert_eq!(p(bad), Err(5), "{bad}");
        }
        let e = curl_proxy("http://user:secret@h:x").unwrap_err();
        assert_eq!(
            e.message,
            "Unsupported proxy syntax in 'http://user:***@h:x': bad port"
        );
        assert_eq!(redact("http://u:pw@h:1/p@x"), "http://u:***@h:1/p@x");
        assert_eq!(redact("h:1"), "h:1");
        // A proxy that cannot be used fails the URLs it would carry, not the others.
        let r = routing(
            None,
            None,
            &[("http_proxy", "socks5://h:1"), ("no_proxy", "ok.test")],
        );
        assert_eq!(via(&r, "http://a.test/"), "error 4");
        assert_eq!(via(&r, "http://ok.test/"), "direct");
    }

    #[test]
    fn noproxy_as_curl_matches_it() {
        // (list, host, exempt)
        let cases: &[(&str, &str, bool)] = &[
            ("*", "any.test", true),
            ("*", "[::1]", true),
            ("a.test, *", "b.test", false),
            ("example.com", "example.com", true),
            ("example.com", "EXAMPLE.COM.", true),
            ("example.com", "www.example.com", true),
            ("example.com", "badexample.com", false),
            ("example.com", "example.com.evil", false),
            (".example.com", "example.com", true),
            (".example.com", "www.example.com", true),
            ("example.com.", "www.example.com", true),
            ("*.example.com", "www.example.com", false),
            ("example.com:80", "example.com", false),
            ("localhost,127.0.0.1", "127.0.0.1", true),
            ("localhost", "127.0.0.1", false),
            ("127.0.0.1", "localhost", false),
            ("192.168.0.0/16", "192.168.7.9", true),
            ("192.168.0.0/16", "192.169.0.1", false),
            ("10.0.0.1/0", "10.0.0.1", true),
            ("10.0.0.1/0", "10.0.0.2", false),
            ("10.0.0.0/33", "10.0.0.0", false),
            ("::1", "[::1]", true),
            ("[::1]", "[::1]", false),
            ("fd00::/8", "[fd12::1]", true),
            ("fd00::/8", "[fe80::1]", false),
            ("192.168.0.1", "[::ffff:192.168.0.1]", false),
            (" a.test ,, b.test ", "b.test", true),
            ("a.test b.test", "b.test", false),
            ("a.test\tb.test", "a.test", true),
            ("", "a.test", false),
        ];
        for &(list, host, want) in cases {
            assert_eq!(curl_noproxy(list, host), want, "{list:?} {host}");
        }
    }

    #[test]
    fn resolve_entries() {
        let mut rules = ResolveRules::default();
        rules.add("Example.test:443:127.0.0.1").unwrap();
        rules.add("+other.test:80:[::1],127.0.0.2").unwrap();
        rules.add("*:8080:127.0.0.3").unwrap();
        let ip = |s: &str| -> SocketAddr { s.parse().unwrap() };
        assert_eq!(
            rules.lookup("example.test", 443),
            Some(&[ip("127.0.0.1:443")][..])
        );
        assert_eq!(
            rules.lookup("other.test", 80),
            Some(&[ip("[::1]:80"), ip("127.0.0.2:80")][..])
        );
        assert_eq!(rules.lookup("example.test", 80), None);
        assert_eq!(
            rules.lookup("whatever.test", 8080),
            Some(&[ip("127.0.0.3:8080")][..])
        );
        assert_eq!(rules.lookup("127.0.0.9", 8080), None);
        // A later entry replaces an earlier one; -HOST:PORT removes.
        rules.add("example.test:443:127.0.0.9").unwrap();
        assert_eq!(
            rules.lookup("example.test", 443),
            Some(&[ip("127.0.0.9:443")][..])
        );
        assert_eq!(rules.exact.len(), 2);
        rules.add("-example.test:443").unwrap();
        rules.add("-*:8080").unwrap();
        assert_eq!(rules.lookup("example.test", 443), None);
        assert!(rules.any_host.is_empty() && rules.wildcard_resolver().is_none());
        for bad in ["h", "h:80", "h:x:127.0.0.1", "h:80:not-an-ip", "-h", "-h:x"] {
            assert!(ResolveRules::default().add(bad).is_err(), "{bad}");
        }
        let mut rules = ResolveRules::default();
        rules.add("*:443:127.0.0.1").unwrap();
        let resolve = rules.wildcard_resolver().unwrap();
        assert_eq!(resolve("any.test", 443).unwrap(), [ip("127.0.0.1:443")]);
        assert_eq!(resolve("127.0.0.1", 80).unwrap(), [ip("127.0.0.1:80")]);
    }
}
