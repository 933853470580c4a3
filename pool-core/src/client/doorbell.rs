//! Where callers park, and how the engine thread wakes many of them with one system call.
//!
//! # Why not a condition variable per request
//!
//! The engine thread answers requests in batches: one turn of its loop reads every socket
//! that became readable and fills the mailboxes of their callers. Waking those callers one
//! `notify` (one `futex` call) at a time costs more than the call: on a busy CPU each woken
//! caller preempts the engine at once (the kernel favours the thread that slept), runs,
//! sends its next request, parks, and only then lets the engine wake the next one. Two
//! context switches per request, where one is enough: measured with the Client at C = 64
//! on one CPU, the engine thread was preempted ≈ 0.9 times per request (see
//! `docs/benchmarks.md`, issue 15).
//!
//! So callers park on a few shared words ("doorbells"), each caller thread on one bit of
//! one word, and the engine rings a whole word for every caller of the turn with a single
//! `FUTEX_WAKE_BITSET`. The first caller it wakes may still preempt it, but the others are
//! runnable already and run one after another; the engine resumes when they are parked.
//!
//! # The protocol
//!
//! A doorbell word is a counter: ringing adds one to it, then wakes the threads waiting on
//! the rung bits. A caller reads the counter *while it still holds its mailbox's lock*
//! (after finding the mailbox empty and saying it waits), releases the lock, and sleeps
//! only if the counter still has that value. The engine fills the mailbox under the same
//! lock and rings afterwards, so its ring changes the counter after the caller read it:
//! the caller either sees the change and does not sleep, or is woken. No wake-up is lost.
//! A caller may be woken for nothing (another bit of its word rang, or a thread sharing
//! its bit was meant); it then looks at its mailbox and parks again.
//!
//! # What it deliberately does not do
//!
//! It does not know mailboxes: it is the parking and waking alone, with its own tests.
//! On systems other than Linux a mutex and a condition variable per word stand in for the
//! futex (same protocol, every waiter of the word wakes).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Doorbell words. Threads take bits in turn, so up to `WORDS * 32` (2 048) caller
/// threads each have a bit of their own; more share bits (and may be woken for nothing).
/// A turn costs one system call per word it rings, so many words cost nothing when few
/// callers wait, and keep a client with a thousand threads free of needless wake-ups.
const WORDS: usize = 64;

/// Bits of a word (a futex bitset is 32 bits).
const BITS: usize = 32;

/// The process's doorbells: shared by every client and engine (a thread parks on one
/// mailbox at a time, whichever client it belongs to).
static BELLS: Bells = Bells::new();

/// The next bit a thread that parks for the first time takes.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot: which word and which bit it parks on.
    static SLOT: Slot = Slot::take();
}

/// A caller thread's place: a word and one of its bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Slot {
    word: u8,
    bit: u8,
}

impl Slot {
    /// The calling thread's slot (taken the first time it asks). A thread whose
    /// thread-locals are being torn down (a blocking call from a thread-local's
    /// destructor) parks on the first slot: it may be woken for nothing, never missed.
    pub(super) fn current() -> Slot {
        SLOT.try_with(|slot| *slot)
            .unwrap_or(Slot { word: 0, bit: 0 })
    }

    fn take() -> Slot {
        let n = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % (WORDS * BITS);
        Slot {
            word: (n / BITS) as u8,
            bit: (n % BITS) as u8,
        }
    }

    fn mask(self) -> u32 {
        1 << self.bit
    }
}

/// A ticket to sleep on: the value of the slot's word read under the caller's lock.
#[derive(Debug)]
#[must_use = "sleep on it after releasing the lock"]
pub(super) struct Ticket {
    slot: Slot,
    seen: u32,
}

impl Ticket {
    /// Caller side, under its lock, after saying it waits: what it will sleep on.
    pub(super) fn new() -> Ticket {
        let slot = Slot::current();
        Ticket {
            slot,
            seen: BELLS.words[slot.word as usize].load(Ordering::SeqCst),
        }
    }

    /// The slot this ticket is for (what the engine side rings).
    pub(super) fn slot(&self) -> Slot {
        self.slot
    }

    /// Caller side, after releasing its lock: sleeps until the slot's word rings (returns
    /// at once if it rang since the ticket was taken). May return for nothing.
    pub(super) fn sleep(self) {
        BELLS.wait(self.slot, self.seen);
    }
}

/// The slots to ring at the end of the engine's turn: a mask per word.
#[derive(Debug)]
pub(super) struct Peal {
    masks: [u32; WORDS],
}

impl Default for Peal {
    fn default() -> Peal {
        Peal { masks: [0; WORDS] }
    }
}

impl Peal {
    /// Adds `slot` to what will ring.
    pub(super) fn add(&mut self, slot: Slot) {
        self.masks[slot.word as usize] |= slot.mask();
    }

    /// Rings every slot added (one system call per word that has any), and empties the
    /// peal.
    pub(super) fn ring(&mut self) {
        for (word, mask) in self.masks.iter_mut().enumerate() {
            if *mask != 0 {
                BELLS.ring(word, std::mem::take(mask));
            }
        }
    }
}

/// Rings one slot now (a wake outside the engine's turn: a cancel, an upload's room, a
/// mailbox closed by a dropped command).
pub(super) fn ring_one(slot: Slot) {
    BELLS.ring(slot.word as usize, slot.mask());
}

struct Bells {
    words: [AtomicU32; WORDS],
    #[cfg(not(target_os = "linux"))]
    fallback: [portable::Word; WORDS],
}

impl Bells {
    const fn new() -> Bells {
        Bells {
            words: [const { AtomicU32::new(0) }; WORDS],
            #[cfg(not(target_os = "linux"))]
            fallback: [const { portable::Word::new() }; WORDS],
        }
    }

    fn ring(&self, word: usize, mask: u32) {
        self.words[word].fetch_add(1, Ordering::SeqCst);
        #[cfg(target_os = "linux")]
        linux::wake(&self.words[word], mask);
        #[cfg(not(target_os = "linux"))]
        {
            let _ = mask;
            self.fallback[word].wake();
        }
    }

    fn wait(&self, slot: Slot, seen: u32) {
        let word = &self.words[slot.word as usize];
        #[cfg(target_os = "linux")]
        linux::wait(word, seen, slot.mask());
        #[cfg(not(target_os = "linux"))]
        self.fallback[slot.word as usize].wait(word, seen);
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::num::NonZeroU32;
    use std::sync::atomic::AtomicU32;

    use rustix::thread::futex;

    /// Sleeps while `word` holds `seen`, until a wake names a bit of `mask`. Returns at
    /// once if the value changed; may return early (a signal), which the caller's loop
    /// handles like any other wake-up.
    pub(super) fn wait(word: &AtomicU32, seen: u32, mask: u32) {
        let Some(mask) = NonZeroU32::new(mask) else {
            return;
        };
        // `EAGAIN` (the word changed) and `EINTR` are wake-ups like the others.
        let _ = futex::wait_bitset(word, futex::Flags::PRIVATE, seen, None, mask);
    }

    /// Wakes every thread waiting on `word` with a bit of `mask`.
    pub(super) fn wake(word: &AtomicU32, mask: u32) {
        if let Some(mask) = NonZeroU32::new(mask) {
            let _ = futex::wake_bitset(word, futex::Flags::PRIVATE, i32::MAX as u32, mask);
        }
    }
}

// Compiled for tests on Linux too, so the fallback is exercised where CI runs.
#[cfg(any(test, not(target_os = "linux")))]
mod portable {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Condvar, Mutex, PoisonError};

    /// A word's waiters: the counter is checked under `lock`, and a ring takes `lock`
    /// before it notifies, so a waiter between its check and its wait cannot miss it.
    pub(super) struct Word {
        lock: Mutex<()>,
        rang: Condvar,
    }

    impl Word {
        pub(super) const fn new() -> Word {
            Word {
                lock: Mutex::new(()),
                rang: Condvar::new(),
            }
        }

        pub(super) fn wait(&self, word: &AtomicU32, seen: u32) {
            let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            if word.load(Ordering::SeqCst) == seen {
                drop(
                    self.rang
                        .wait(guard)
                        .unwrap_or_else(PoisonError::into_inner),
                );
            }
        }

        pub(super) fn wake(&self) {
            drop(self.lock.lock().unwrap_or_else(PoisonError::into_inner));
            self.rang.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A ring after the ticket was taken is never lost: the sleeper returns whether the
    /// ring came before it slept or while it slept.
    #[test]
    fn a_ring_after_the_ticket_wakes_the_sleeper() {
        for delay_ms in [0, 20] {
            let ready = Arc::new(Mutex::new(false));
            let (tx, rx) = std::sync::mpsc::channel();
            let waiter = {
                let ready = Arc::clone(&ready);
                std::thread::spawn(move || loop {
                    let guard = ready.lock().unwrap();
                    if *guard {
                        return;
                    }
                    let ticket = Ticket::new();
                    tx.send(ticket.slot()).unwrap();
                    drop(guard);
                    ticket.sleep();
                })
            };
            let slot = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(delay_ms));
            *ready.lock().unwrap() = true;
            let mut peal = Peal::default();
            peal.add(slot);
            peal.ring();
            waiter.join().unwrap();
        }
    }

    /// One peal wakes every thread added to it.
    #[test]
    fn one_peal_wakes_many_sleepers() {
        let go = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let waiters: Vec<_> = (0..40)
            .map(|_| {
                let go = Arc::clone(&go);
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut told = false;
                    while !go.load(Ordering::SeqCst) {
                        let ticket = Ticket::new();
                        if !told {
                            tx.send(ticket.slot()).unwrap();
                            told = true;
                        }
                        if go.load(Ordering::SeqCst) {
                            return;
                        }
                        ticket.sleep();
                    }
                })
            })
            .collect();
        let slots: Vec<Slot> = (0..40).map(|_| rx.recv().unwrap()).collect();
        std::thread::sleep(Duration::from_millis(20));
        go.store(true, Ordering::SeqCst);
        let mut peal = Peal::default();
        for slot in slots {
            peal.add(slot);
        }
        peal.ring();
        for w in waiters {
            w.join().unwrap();
        }
    }

    /// The fallback (systems without futexes) keeps the same promise: a ring after the
    /// value was read wakes the waiter, before or during its wait.
    #[test]
    fn the_portable_fallback_never_loses_a_ring() {
        for delay_ms in [0, 20] {
            let word = Arc::new((AtomicU32::new(0), portable::Word::new()));
            let seen = word.0.load(Ordering::SeqCst);
            let waiter = {
                let word = Arc::clone(&word);
                std::thread::spawn(move || word.1.wait(&word.0, seen))
            };
            std::thread::sleep(Duration::from_millis(delay_ms));
            word.0.fetch_add(1, Ordering::SeqCst);
            word.1.wake();
            waiter.join().unwrap();
        }
    }

    /// Threads take distinct slots (until every bit of every word is taken).
    #[test]
    fn threads_take_distinct_slots() {
        let slots: Vec<Slot> = (0..16)
            .map(|_| std::thread::spawn(Slot::current).join().unwrap())
            .collect();
        let mut unique = slots.clone();
        unique.sort_by_key(|s| (s.word, s.bit));
        unique.dedup();
        // Other tests take slots concurrently, but never the same one twice within a
        // round of WORDS * BITS.
        assert_eq!(unique.len(), slots.len());
        assert_eq!(Slot::current(), Slot::current());
    }
}
