//! Frees replaced snapshots off the request path. Requests still in flight
//! hold clones, and whoever drops the last one frees it: freeing millions of
//! entries must not land on a proxy thread, nor make an apply wait for a
//! long-lived request. One long-lived, low-priority thread (started on the
//! first retire) holds each retired value until it is the last holder, then
//! drops it; a thread per apply would cost a spawn each and pile up threads
//! under a burst of pushes.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Retired values queued for the thread; beyond this, dropped inline.
const QUEUE: usize = 64;
/// How often held values are checked for remaining holders.
const CHECK: Duration = Duration::from_millis(20);

pub struct Retirer<T> {
    /// `None` inside: the thread could not start (values are dropped inline).
    worker: OnceLock<Option<Worker<T>>>,
}

struct Worker<T> {
    tx: SyncSender<Arc<T>>,
    shared: Arc<Shared>,
}

/// What the applying side knows of the cleanup thread. It runs at background
/// priority (`lowprio`); a retire that finds the previous one not yet taken
/// off the queue means the thread is starved, and raises it until it holds
/// nothing: replaced snapshots must not pile up in memory on a core that
/// never idles.
#[derive(Default)]
struct Shared {
    tid: AtomicI32,
    queued: AtomicUsize,
    promoted: AtomicBool,
}

impl<T> Default for Retirer<T> {
    fn default() -> Self {
        Retirer {
            worker: OnceLock::new(),
        }
    }
}

impl<T: Send + Sync + 'static> Retirer<T> {
    /// Hands `old` to the cleanup thread; when its queue is full (or it
    /// could not start), `old` is dropped here, on the caller's thread.
    pub fn retire(&self, old: Arc<T>) {
        let Some(w) = self.worker.get_or_init(start) else {
            return;
        };
        let behind = w.shared.queued.fetch_add(1, Ordering::AcqRel) > 0;
        match w.tx.try_send(old) {
            Ok(()) => {
                let tid = w.shared.tid.load(Ordering::Acquire);
                if behind && tid != 0 && !w.shared.promoted.swap(true, Ordering::AcqRel) {
                    crate::lowprio::promote(tid);
                }
            }
            Err(TrySendError::Full(old)) | Err(TrySendError::Disconnected(old)) => {
                w.shared.queued.fetch_sub(1, Ordering::AcqRel);
                tracing::debug!("snapshot cleanup queue full: freeing on the applying thread");
                drop(old);
            }
        }
    }
}

fn start<T: Send + Sync + 'static>() -> Option<Worker<T>> {
    let (tx, rx) = sync_channel(QUEUE);
    let shared = Arc::new(Shared::default());
    let theirs = shared.clone();
    match std::thread::Builder::new()
        .name("tollgate-retire".into())
        .spawn(move || run(rx, &theirs))
    {
        Ok(_) => Some(Worker { tx, shared }),
        Err(e) => {
            tracing::warn!("cannot start the snapshot cleanup thread: {e}");
            None
        }
    }
}

fn run<T>(rx: Receiver<Arc<T>>, shared: &Shared) {
    crate::lowprio::lower_current_thread();
    shared
        .tid
        .store(crate::lowprio::current_tid(), Ordering::Release);
    let mut held: Vec<Arc<T>> = Vec::new();
    let mut open = true;
    while open || !held.is_empty() {
        // With nothing held, sleep until something is retired.
        let next = if held.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else if open {
            rx.recv_timeout(CHECK)
        } else {
            std::thread::sleep(CHECK);
            Err(RecvTimeoutError::Timeout)
        };
        match next {
            Ok(old) => {
                shared.queued.fetch_sub(1, Ordering::AcqRel);
                held.push(old);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
        while let Ok(old) = rx.try_recv() {
            shared.queued.fetch_sub(1, Ordering::AcqRel);
            held.push(old);
        }
        // The last holder drops it, here.
        held.retain(|a| Arc::strong_count(a) > 1);
        // Caught up: nothing queued (values held for in-flight requests are
        // only polled, which idle time is enough for).
        if shared.queued.load(Ordering::Acquire) == 0
            && shared.promoted.swap(false, Ordering::AcqRel)
        {
            crate::lowprio::lower_current_thread();
            // A retire between the swap and the lowering raised this thread
            // and set the flag again: stay raised, as it expects.
            if shared.promoted.load(Ordering::Acquire) {
                crate::lowprio::promote(crate::lowprio::current_tid());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::thread::ThreadId;
    use std::time::Instant;

    /// Records the thread it was dropped on.
    struct Probe(Arc<Mutex<Vec<ThreadId>>>);

    impl Drop for Probe {
        fn drop(&mut self) {
            if let Ok(mut v) = self.0.lock() {
                v.push(std::thread::current().id());
            }
        }
    }

    fn wait_for(drops: &Mutex<Vec<ThreadId>>, n: usize) -> Vec<ThreadId> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let v = drops.lock().expect("lock").clone();
            if v.len() >= n || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn dropped_off_the_caller_once_the_last_holder_is_gone() {
        let drops = Arc::new(Mutex::new(Vec::new()));
        let retirer = Retirer::default();
        let old = Arc::new(Probe(drops.clone()));
        let in_flight = old.clone();
        retirer.retire(old);
        std::thread::sleep(CHECK * 3);
        assert!(drops.lock().expect("lock").is_empty(), "freed while held");
        drop(in_flight);
        let v = wait_for(&drops, 1);
        assert_eq!(v.len(), 1);
        assert_ne!(v[0], std::thread::current().id());
    }

    /// Records the scheduling policy and nice value it was dropped at,
    /// after holding the thread for a while.
    struct Slow(Arc<Mutex<Vec<(i32, i32)>>>, Duration, Arc<AtomicUsize>);

    impl Drop for Slow {
        fn drop(&mut self) {
            // SAFETY: querying the calling thread.
            let at = unsafe {
                (
                    libc::sched_getscheduler(0),
                    libc::getpriority(libc::PRIO_PROCESS, 0),
                )
            };
            self.2.fetch_add(1, Ordering::AcqRel);
            std::thread::sleep(self.1);
            if let Ok(mut v) = self.0.lock() {
                v.push(at);
            }
        }
    }

    fn background_policy() -> i32 {
        if crate::lowprio::tests_background_is_idle() {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_OTHER
        }
    }

    #[test]
    fn a_cleanup_thread_that_falls_behind_is_raised_then_lowered_again() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let retirer = Retirer::default();
        let started = Arc::new(AtomicUsize::new(0));
        let slow = |ms| {
            Arc::new(Slow(
                seen.clone(),
                Duration::from_millis(ms),
                started.clone(),
            ))
        };
        let wait = |n: usize| {
            let deadline = Instant::now() + Duration::from_secs(5);
            while seen.lock().expect("lock").len() < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        // The first keeps the thread busy: the third retire finds the second
        // still queued.
        retirer.retire(slow(300));
        let deadline = Instant::now() + Duration::from_secs(5);
        while started.load(Ordering::Acquire) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        retirer.retire(slow(0));
        retirer.retire(slow(0));
        wait(3);
        // Until the thread has lowered itself again (it may not have run
        // since dropping the third).
        let tid = retirer
            .worker
            .get()
            .and_then(|w| w.as_ref())
            .map(|w| w.shared.tid.load(Ordering::Acquire))
            .expect("cleanup thread");
        let deadline = Instant::now() + Duration::from_secs(5);
        // SAFETY: querying a thread of this process.
        while unsafe { libc::sched_getscheduler(tid) } != background_policy()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        retirer.retire(slow(0));
        wait(4);
        let v = seen.lock().expect("lock").clone();
        let background = background_policy();
        assert_eq!(v.len(), 4, "{v:?}");
        assert_eq!(v[0].0, background, "{v:?}");
        assert_eq!(v[1], (libc::SCHED_OTHER, 10), "raised while behind: {v:?}");
        assert_eq!(v[2], (libc::SCHED_OTHER, 10), "{v:?}");
        assert_eq!(v[3].0, background, "lowered once caught up: {v:?}");
    }

    #[test]
    fn one_thread_frees_many_snapshots() {
        let drops = Arc::new(Mutex::new(Vec::new()));
        let retirer = Retirer::default();
        for _ in 0..QUEUE {
            retirer.retire(Arc::new(Probe(drops.clone())));
        }
        let v = wait_for(&drops, QUEUE);
        assert_eq!(v.len(), QUEUE);
        let me = std::thread::current().id();
        let mut threads: Vec<_> = v.into_iter().filter(|t| *t != me).collect();
        threads.dedup();
        assert_eq!(threads.len(), 1, "one cleanup thread, not one per retire");
    }
}
