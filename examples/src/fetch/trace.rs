//! The `--trace` line: what one request did with the pool, as `key=value` pairs.
//!
//! ```text
//! url=http://127.0.0.1:8080/ method=GET status=200 reused=true idle_us=412 conn_id=1 wait_us=9 ttfb_us=88 head_us=95 total_us=131 bytes=5
//! ```
//!
//! One line per request, space-separated, values never contain spaces, keys in this
//! order (a key whose value does not apply is left out):
//!
//! | key          | when                  | meaning                                          |
//! |--------------|-----------------------|--------------------------------------------------|
//! | `url`        | always                | the URL as sent                                  |
//! | `method`     | always                | the request method                               |
//! | `status`     | always                | the status code, or `failed` if no head arrived  |
//! | `reused`     | a head arrived        | `true` if the connection came from the idle pool |
//! | `idle_us`    | reused                | how long that connection had been idle           |
//! | `conn_id`    | a head arrived        | the connection's number (from 1, never reused)   |
//! | `dns_us`     | dialled, name looked up | DNS time (literal IPs skip DNS)                |
//! | `connect_us` | dialled               | TCP connect time                                 |
//! | `tls_us`     | dialled `https`       | TLS handshake time                               |
//! | `wait_us`    | a head arrived        | send → a connection ready (queue, DNS, connect, TLS) |
//! | `ttfb_us`    | a head arrived        | send → first response byte                       |
//! | `head_us`    | a head arrived        | send → response head                             |
//! | `total_us`   | always                | send → end of body (or → failure)                |
//! | `bytes`      | a head arrived        | body bytes written to stdout                     |
//! | `retries`    | more than 0           | resends on a fresh connection                    |
//! | `error`      | the request failed    | the error kind in snake case (`request_timed_out`) |
//!
//! Times are whole microseconds. This module only formats; the numbers come from
//! [`RequestInfo`] and the caller's own byte count.

use std::fmt;
use std::time::Duration;

use wirepool::http::{Method, StatusCode, Uri};
use wirepool::{ErrorKind, RequestInfo};

/// The facts of one request, for one `--trace` line.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The URL requested.
    pub url: Uri,
    /// The method used.
    pub method: Method,
    /// The response status, if a head arrived.
    pub status: Option<StatusCode>,
    /// Reuse facts and timings, if a head arrived (the final ones once the body ended).
    pub info: Option<RequestInfo>,
    /// From send to the end of the body or to the failure.
    pub total: Duration,
    /// Body bytes written out.
    pub bytes: u64,
    /// What failed, if something did.
    pub error: Option<ErrorKind>,
}

impl Trace {
    /// The line of a request not sent yet: nothing known but what was asked for.
    pub fn new(url: Uri, method: Method) -> Trace {
        Trace {
            url,
            method,
            status: None,
            info: None,
            total: Duration::ZERO,
            bytes: 0,
            error: None,
        }
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "url={} method={}", self.url, self.method)?;
        match self.status {
            Some(status) => write!(f, " status={}", status.as_u16())?,
            None => f.write_str(" status=failed")?,
        }
        if let Some(info) = &self.info {
            write!(f, " reused={}", info.reused)?;
            if let (true, Some(idle)) = (info.reused, info.idle_for) {
                write!(f, " idle_us={}", idle.as_micros())?;
            }
            write!(f, " conn_id={}", info.conn_id)?;
            if let Some(dns) = info.dns {
                write!(f, " dns_us={}", dns.as_micros())?;
            }
            if let Some(connect) = info.connect {
                write!(f, " connect_us={}", connect.as_micros())?;
            }
            if let Some(tls) = info.tls {
                write!(f, " tls_us={}", tls.as_micros())?;
            }
            write!(f, " wait_us={}", info.wait.as_micros())?;
            write!(f, " ttfb_us={}", info.ttfb.as_micros())?;
            write!(f, " head_us={}", info.head.as_micros())?;
        }
        write!(f, " total_us={}", self.total.as_micros())?;
        if self.info.is_some() {
            write!(f, " bytes={}", self.bytes)?;
        }
        if let Some(retries) = self.info.map(|i| i.retries).filter(|&r| r > 0) {
            write!(f, " retries={retries}")?;
        }
        if let Some(kind) = self.error {
            write!(f, " error={}", kind_name(kind))?;
        }
        Ok(())
    }
}

/// An error kind as one word: `connect failed` → `connect_failed`.
pub fn kind_name(kind: ErrorKind) -> String {
    kind.as_str().replace([' ', '/'], "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(us: u64) -> Duration {
        Duration::from_micros(us)
    }

    fn trace() -> Trace {
        Trace {
            total: micros(250),
            ..Trace::new(Uri::from_static("http://127.0.0.1:8080/a"), Method::GET)
        }
    }

    #[test]
    fn dialled_request() {
        let mut info = RequestInfo::default();
        info.connect = Some(micros(80));
        info.tls = Some(micros(40));
        info.wait = micros(130);
        info.ttfb = micros(140);
        info.head = micros(150);
        info.conn_id = 3;
        let t = Trace {
            status: Some(StatusCode::OK),
            info: Some(info),
            bytes: 5,
            ..trace()
        };
        assert_eq!(
            t.to_string(),
            "url=http://127.0.0.1:8080/a method=GET status=200 reused=false conn_id=3 \
             connect_us=80 tls_us=40 wait_us=130 ttfb_us=140 head_us=150 total_us=250 bytes=5"
        );
    }

    #[test]
    fn reused_request_with_dns_and_retry() {
        let mut info = RequestInfo::default();
        info.reused = true;
        info.idle_for = Some(micros(1000));
        info.dns = Some(micros(7));
        info.wait = micros(20);
        info.ttfb = micros(85);
        info.head = micros(90);
        info.retries = 1;
        info.conn_id = 2;
        let t = Trace {
            status: Some(StatusCode::NOT_FOUND),
            info: Some(info),
            bytes: 12,
            ..trace()
        };
        assert_eq!(
            t.to_string(),
            "url=http://127.0.0.1:8080/a method=GET status=404 reused=true idle_us=1000 \
             conn_id=2 dns_us=7 wait_us=20 ttfb_us=85 head_us=90 total_us=250 bytes=12 retries=1"
        );
    }

    #[test]
    fn failed_request() {
        let t = Trace {
            method: Method::POST,
            error: Some(ErrorKind::Connect),
            ..trace()
        };
        assert_eq!(
            t.to_string(),
            "url=http://127.0.0.1:8080/a method=POST status=failed total_us=250 \
             error=connect_failed"
        );
    }

    #[test]
    fn every_kind_is_one_word() {
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::Dns,
            ErrorKind::Connect,
            ErrorKind::ConnectTimeout,
            ErrorKind::ResponseHeaderTimeout,
            ErrorKind::Timeout,
            ErrorKind::Protocol,
            ErrorKind::ConnectionClosed,
            ErrorKind::Io,
            ErrorKind::Canceled,
            ErrorKind::PoolClosed,
            ErrorKind::EngineFailed,
        ] {
            let name = kind_name(kind);
            assert!(!name.contains(char::is_whitespace), "{name}");
        }
    }
}
