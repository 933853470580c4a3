//! Several engines behind one client: starting them ([`Engines::start`]), which one a
//! request goes to ([`Engines::pick`]), and how the settings are shared out among them.
//!
//! One [`Engine`] is one thread running one event loop; it can use one core. A client
//! built with [`engine_threads(n)`](crate::ClientBuilder::engine_threads) runs `n` of
//! them, each with its own pools, timers, DNS cache and resolver threads, and every
//! request goes to exactly one. How the choice is made is the [`EngineSplit`]:
//!
//! ```text
//!   by host (default)                        by caller
//!   ─────────────────                        ─────────
//!   hash(scheme, host, port) ─► engine k     calling thread ─► its engine (round-robin
//!   one origin's pool in one engine:         on its first request): one busy origin's
//!   per-host limits stay exact               load spreads over every engine; per-host
//!                                            limits are shared out (÷ n, rounded up)
//! ```
//!
//! # What this module owns
//!
//! * **The pick.** By host: a stable hash of the request's origin, so one host's pool
//!   lives in exactly one engine and `max_conns_per_host`, the wait queue, learned limits
//!   and the retry budget stay exact (Envoy keeps a pool per worker the same way, but
//!   picks the worker by connection; we pick by host because our limits are per host).
//!   Each redirect hop is picked on its own. A request through a proxy or a Unix socket
//!   hashes its target origin like any other. By caller: each calling thread keeps one
//!   engine for this client, given out round-robin the first time the thread sends.
//! * **Sharing the settings out.** Every engine gets the client's [`Config`] except that
//!   `max_idle_total` is divided by `n` (rounded up); by caller, `max_conns_per_host`,
//!   `max_waiters_per_host` and `max_idle_per_host` are divided as well
//!   ([`engine_config`]). Rounding up means the sum over engines may pass a limit by up
//!   to `n - 1`, never fall short of it (a limit of 1 stays 1 per engine).
//! * **Starting them**, named `wirepool-engine-0`, `wirepool-engine-1`, ...; the tracer and
//!   a custom resolver are shared (clones of one `Arc`), everything else is per engine.
//!
//! # What it deliberately does not do
//!
//! It does not move work between engines: a request stays where it was picked, and a
//! host's connections never change engine. It keeps nothing per request, and with one
//! engine (the default) the pick is a length check: no hashing, no thread-local.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use http::Uri;

use super::channel::Command;
use super::engine_thread::EngineThread;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::pool::{host_hash, Scheme};
use crate::trace::Tracer;

/// The most engine threads a client may run: more threads than cores only adds context
/// switches, and no machine this is meant for has more than 256 cores to give one client.
pub const MAX_ENGINE_THREADS: usize = 256;

/// How a client with several engines ([`ClientBuilder::engine_threads`]) chooses the
/// engine of a request. See `docs/tuning.md`, "Several engines".
///
/// [`ClientBuilder::engine_threads`]: crate::ClientBuilder::engine_threads
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EngineSplit {
    /// By the request's origin (scheme, host, port): one host's pool lives in exactly one
    /// engine, so per-host limits (`max_conns_per_host`, `max_waiters_per_host`,
    /// `max_idle_per_host`, learned limits, the retry budget) hold exactly as with one
    /// engine. Fits many hosts; one very busy host still uses one core. The default.
    #[default]
    ByHost,
    /// By the calling thread: each thread sends all its requests through one engine,
    /// given out round-robin on the thread's first request, so that one busy host can
    /// use every engine's core (Envoy's per-worker pools). Each engine then has a pool per
    /// host, and `max_conns_per_host`, `max_waiters_per_host` and `max_idle_per_host` are
    /// divided among the engines, rounded up: per engine, not per client.
    ByCaller,
}

/// The engine threads of one client and the rule that picks among them.
pub(super) struct Engines {
    /// The engines, in the order of their thread names (`wirepool-engine-<index>`).
    all: Box<[Arc<EngineThread>]>,
    split: EngineSplit,
    /// This client's number, which the calling threads' memory of their engine is keyed
    /// by (see [`caller_index`]); never 0, never reused in the process.
    serial: u64,
    /// The next engine handed to a thread that sends for the first time (by caller).
    next_caller: AtomicUsize,
}

/// Hands out client numbers for [`Engines::serial`]; 0 means "no entry" in the
/// thread-local table.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// How many clients a thread remembers its engine for (by caller). A thread that sends
/// through more clients than this forgets the oldest and is given an engine afresh: a
/// new engine, possibly, which costs locality (warm connections), never correctness.
const CALLER_MEMORY: usize = 4;

thread_local! {
    /// This thread's engine per client, as (client serial, engine index); serial 0 is an
    /// empty slot. A few entries: a thread rarely sends through many clients.
    static CALLER_ENGINES: [Cell<(u64, usize)>; CALLER_MEMORY] =
        const { [const { Cell::new((0, 0)) }; CALLER_MEMORY] };
    /// The slot the next new entry replaces (round-robin).
    static CALLER_NEXT_SLOT: Cell<usize> = const { Cell::new(0) };
}

impl Engines {
    /// Starts `n` engine threads with the client's `config` shared out by `split`, each
    /// with `tracer`. Refuses an `n` outside `1..=MAX_ENGINE_THREADS` and any setting the
    /// engine refuses, with [`ErrorKind::InvalidConfig`]; engines already started are
    /// stopped again when a later one fails.
    pub(super) fn start(
        config: &Config,
        n: usize,
        split: EngineSplit,
        tracer: Option<&Arc<dyn Tracer>>,
    ) -> Result<Engines, Error> {
        if n == 0 || n > MAX_ENGINE_THREADS {
            return Err(Error::msg(
                ErrorKind::InvalidConfig,
                format!("engine_threads: must be from 1 to {MAX_ENGINE_THREADS}, got {n}"),
            ));
        }
        let mut all = Vec::with_capacity(n);
        for index in 0..n {
            // Each engine validates its own settings: they may differ (shared out).
            let mut engine = Engine::new(engine_config(config, n, split))?;
            engine.set_tracer(tracer.cloned());
            all.push(Arc::new(EngineThread::spawn(engine, index)?));
        }
        Ok(Engines {
            all: all.into_boxed_slice(),
            split,
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            next_caller: AtomicUsize::new(0),
        })
    }

    /// Every engine, in index order.
    pub(super) fn all(&self) -> &[Arc<EngineThread>] {
        &self.all
    }

    /// The split rule.
    pub(super) fn split(&self) -> EngineSplit {
        self.split
    }

    /// The engine that serves a request to `uri`. With one engine, that one at once.
    #[inline]
    pub(super) fn pick(&self, uri: &Uri) -> &Arc<EngineThread> {
        match &*self.all {
            [only] => only,
            all => &all[self.index_for(uri)],
        }
    }

    /// The engine that serves `url` (a string not yet parsed, as `prewarm` takes it). A
    /// string that is no URI goes to the first engine, which reports it.
    pub(super) fn pick_str(&self, url: &str) -> &Arc<EngineThread> {
        match &*self.all {
            [only] => only,
            all => match Uri::try_from(url) {
                Ok(uri) => &all[self.index_for(&uri)],
                Err(_) => &all[0],
            },
        }
    }

    /// The index of the engine for `uri` among several.
    fn index_for(&self, uri: &Uri) -> usize {
        let n = self.all.len();
        match self.split {
            EngineSplit::ByHost => origin_index(uri, n),
            EngineSplit::ByCaller => {
                caller_index(self.serial, || {
                    self.next_caller.fetch_add(1, Ordering::Relaxed) % n
                }) % n
            }
        }
    }
}

impl Drop for Engines {
    /// Tells every engine nobody else holds to stop, before the engines are dropped
    /// (each drop joins its thread): they stop side by side instead of one after the
    /// other. An engine a response body still holds keeps running for it. The count is
    /// exact here: clones are made only from `self`, which is going.
    fn drop(&mut self) {
        if self.all.len() > 1 {
            for engine in self.all.iter().filter(|e| Arc::strong_count(e) == 1) {
                let _ = engine.handle.send(Command::Shutdown);
            }
        }
    }
}

/// The engine of `uri`'s origin among `n`: its scheme, ASCII-lower-cased host and port
/// (the scheme's default when the URI names none), hashed as the pool's own table hashes
/// them, so that every spelling of one origin lands on one engine. A URI without a usable
/// scheme or host goes to engine 0, which refuses it as one engine would.
pub(crate) fn origin_index(uri: &Uri, n: usize) -> usize {
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        _ => return 0,
    };
    let Some(host) = uri.host() else {
        return 0;
    };
    let port = uri.port_u16().unwrap_or_else(|| scheme.default_port());
    reduce(host_hash(scheme, host, port), n)
}

/// Maps a 64-bit hash onto `0..n` by its high bits (multiply-shift: no division, and
/// independent of the low bits the pool's hash table uses).
fn reduce(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

/// This thread's engine index for the client numbered `serial`; `assign` gives one out
/// the first time (the caller reduces it modulo its engine count).
fn caller_index(serial: u64, assign: impl FnOnce() -> usize) -> usize {
    CALLER_ENGINES.with(|slots| {
        if let Some(slot) = slots.iter().find(|s| s.get().0 == serial) {
            return slot.get().1;
        }
        let index = assign();
        let at = CALLER_NEXT_SLOT.with(|next| {
            let at = next.get();
            next.set((at + 1) % CALLER_MEMORY);
            at
        });
        slots[at].set((serial, index));
        index
    })
}

/// The settings of one engine among `n`: the client's `config` with `max_idle_total`
/// divided by `n`, and by caller the per-host limits too, each rounded up (see the module
/// docs). With one engine, `config` unchanged.
pub(crate) fn engine_config(config: &Config, n: usize, split: EngineSplit) -> Config {
    let mut c = config.clone();
    if n > 1 {
        c.max_idle_total = config.max_idle_total.div_ceil(n);
        if split == EngineSplit::ByCaller {
            c.max_idle_per_host = config.max_idle_per_host.div_ceil(n);
            c.max_conns_per_host = config.max_conns_per_host.map(|m| m.div_ceil(n));
            c.max_waiters_per_host = config.max_waiters_per_host.map(|m| m.div_ceil(n));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn one_origin_one_engine_whatever_the_spelling() {
        for n in [2, 3, 7, 256] {
            let a = origin_index(&uri("http://API.example/x?y"), n);
            assert_eq!(a, origin_index(&uri("http://api.example:80/other"), n));
            assert_eq!(a, origin_index(&uri("http://user@api.example/"), n));
            assert!(a < n);
        }
    }

    #[test]
    fn origins_spread_over_the_engines() {
        // 64 ports of one host and 64 host names: every engine of 2 and of 4 gets some.
        for n in [2, 4] {
            let mut by_port = vec![0; n];
            let mut by_name = vec![0; n];
            for i in 0..64 {
                by_port[origin_index(&uri(&format!("http://127.0.0.1:{}/", 40000 + i)), n)] += 1;
                by_name[origin_index(&uri(&format!("https://h{i}.example/")), n)] += 1;
            }
            assert!(by_port.iter().all(|&c| c >= 64 / n / 3), "{by_port:?}");
            assert!(by_name.iter().all(|&c| c >= 64 / n / 3), "{by_name:?}");
        }
    }

    #[test]
    fn scheme_and_port_are_part_of_the_origin() {
        // Some pair among these must differ, or the scheme and port would be ignored.
        let n = 64;
        let http = origin_index(&uri("http://a.example/"), n);
        let https = origin_index(&uri("https://a.example/"), n);
        let ports: Vec<_> = (1..=8)
            .map(|p| origin_index(&uri(&format!("http://a.example:{p}/")), n))
            .collect();
        assert!(
            http != https || ports.iter().any(|&p| p != http),
            "{ports:?}"
        );
        assert_eq!(https, origin_index(&uri("https://a.example:443/"), n));
    }

    #[test]
    fn no_usable_origin_goes_to_the_first_engine() {
        assert_eq!(origin_index(&uri("/relative"), 8), 0);
        assert_eq!(origin_index(&uri("ftp://a.example/"), 8), 0);
    }

    #[test]
    fn reduce_stays_in_range() {
        for n in [1, 2, 3, 256] {
            for h in [0, 1, u64::MAX / 2, u64::MAX] {
                assert!(reduce(h, n) < n);
            }
        }
        assert_eq!(reduce(u64::MAX, 2), 1);
        assert_eq!(reduce(0, 2), 0);
    }

    #[test]
    fn a_thread_keeps_its_engine_per_client() {
        let mut given = 0;
        let mut assign = || {
            given += 1;
            given
        };
        let first = caller_index(u64::MAX - 1, &mut assign);
        assert_eq!(caller_index(u64::MAX - 1, &mut assign), first);
        let other = caller_index(u64::MAX - 2, &mut assign);
        assert_ne!(other, first);
        assert_eq!(caller_index(u64::MAX - 1, &mut assign), first);
        assert_eq!(given, 2);
    }

    #[test]
    fn settings_are_shared_out_rounding_up() {
        let config = Config {
            max_idle_total: 1001,
            max_idle_per_host: 3,
            max_conns_per_host: Some(1),
            max_waiters_per_host: Some(5),
            ..Config::default()
        };
        let one = engine_config(&config, 1, EngineSplit::ByCaller);
        assert_eq!(
            (
                one.max_idle_total,
                one.max_idle_per_host,
                one.max_conns_per_host
            ),
            (1001, 3, Some(1))
        );
        let by_host = engine_config(&config, 2, EngineSplit::ByHost);
        assert_eq!(by_host.max_idle_total, 501);
        assert_eq!(by_host.max_idle_per_host, 3);
        assert_eq!(by_host.max_conns_per_host, Some(1));
        assert_eq!(by_host.max_waiters_per_host, Some(5));
        let by_caller = engine_config(&config, 2, EngineSplit::ByCaller);
        assert_eq!(by_caller.max_idle_total, 501);
        assert_eq!(by_caller.max_idle_per_host, 2);
        assert_eq!(by_caller.max_conns_per_host, Some(1));
        assert_eq!(by_caller.max_waiters_per_host, Some(3));
        assert_eq!(by_caller.timeout, config.timeout);
    }
}
