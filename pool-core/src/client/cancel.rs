//! [`CancelToken`]: ends requests from another thread, at once, in whatever state they
//! are.
//!
//! # What this module owns
//!
//! The token and the list of requests it covers. A token is handed to a request
//! before it is sent ([`RequestBuilder::cancel_token`](crate::RequestBuilder::cancel_token),
//! or, for [`Client::send`](crate::Client::send), a clone inserted into the
//! `http::Request`'s extensions, where middleware passes it on untouched), and covers it
//! until its body ends: waiting for a connection, dialing, writing (a streamed body
//! too), waiting for the head, reading the body. [`CancelToken::cancel`] wakes the
//! request's caller at once with [`ErrorKind::Canceled`](crate::ErrorKind::Canceled)
//! (whatever the engine was about to deliver) and tells the engine, which closes the
//! connection if the exchange had started (its state is unknown) or takes the request
//! off its queue. One token may cover many requests, like a Go `context.Context`; once
//! canceled it stays canceled, and requests sent with it later fail at once.
//!
//! # What it deliberately does not do
//!
//! It does not interrupt a caller's own blocking code: a streamed body's `Read` that
//! blocks returns when it returns, and the canceled request is reported then. It keeps
//! no request alive: it holds them weakly.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::channel::{Handle, Mailbox};
use crate::error::{Error, ErrorKind};

/// Cancels the requests it was given to, from any thread. Cheap to clone; clones are
/// the same token.
///
/// ```no_run
/// use std::time::Duration;
/// use wirepool::{CancelToken, Client, ErrorKind};
///
/// let client = Client::new()?;
/// let token = CancelToken::new();
/// let canceler = token.clone();
/// std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(100));
///     canceler.cancel(); // the `send` below returns at once
/// });
/// let err = client.get("http://10.255.255.1/slow").cancel_token(&token).send().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Canceled);
/// # Ok::<(), wirepool::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<TokenInner>,
}

#[derive(Default)]
struct TokenInner {
    canceled: AtomicBool,
    /// The requests covered, each with the way to tell its engine.
    requests: Mutex<Vec<(Weak<Mailbox>, Handle)>>,
}

impl CancelToken {
    /// A new token, not canceled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every request this token covers, and every later one sent with it.
    /// Returns at once; each request's caller wakes with
    /// [`ErrorKind::Canceled`](crate::ErrorKind::Canceled). Calling it again does
    /// nothing.
    pub fn cancel(&self) {
        self.inner.canceled.store(true, Ordering::SeqCst);
        let requests = std::mem::take(&mut *self.lock());
        for (mailbox, handle) in requests {
            if let Some(mailbox) = mailbox.upgrade() {
                mailbox.cancel(&handle);
            }
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_canceled(&self) -> bool {
        self.inner.canceled.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Weak<Mailbox>, Handle)>> {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Covers the request whose mailbox this is; `Err(Canceled)` if the token was
    /// canceled already (the request must not be sent).
    pub(super) fn register(&self, mailbox: &Arc<Mailbox>, handle: &Handle) -> Result<(), Error> {
        let mut requests = self.lock();
        // Checked under the lock `cancel` takes after setting the flag: either it sees
        // this entry, or this sees the flag.
        if self.is_canceled() {
            return Err(Error::msg(
                ErrorKind::Canceled,
                "its CancelToken was canceled before it was sent",
            ));
        }
        requests.retain(|(m, _)| m.strong_count() > 0);
        requests.push((Arc::downgrade(mailbox), handle.clone()));
        Ok(())
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("canceled", &self.is_canceled())
            .finish_non_exhaustive()
    }
}
