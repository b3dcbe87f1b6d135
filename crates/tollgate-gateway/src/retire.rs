//! Frees replaced snapshots off the request path. Requests still in flight
//! hold clones, and whoever drops the last one frees it: freeing millions of
//! entries must not land on a proxy thread, nor make an apply wait for a
//! long-lived request. One long-lived, low-priority thread (started on the
//! first retire) holds each retired value until it is the last holder, then
//! drops it; a thread per apply would cost a spawn each and pile up threads
//! under a burst of pushes.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Retired values queued for the thread; beyond this, dropped inline.
const QUEUE: usize = 64;
/// How often held values are checked for remaining holders.
const CHECK: Duration = Duration::from_millis(20);

pub struct Retirer<T> {
    /// `None` inside: the thread could not start (values are dropped inline).
    tx: OnceLock<Option<SyncSender<Arc<T>>>>,
}

impl<T> Default for Retirer<T> {
    fn default() -> Self {
        Retirer {
            tx: OnceLock::new(),
        }
    }
}

impl<T: Send + Sync + 'static> Retirer<T> {
    /// Hands `old` to the cleanup thread; when its queue is full (or it
    /// could not start), `old` is dropped here, on the caller's thread.
    pub fn retire(&self, old: Arc<T>) {
        let Some(tx) = self.tx.get_or_init(start) else {
            return;
        };
        match tx.try_send(old) {
            Ok(()) => {}
            Err(TrySendError::Full(old)) | Err(TrySendError::Disconnected(old)) => {
                tracing::debug!("snapshot cleanup queue full: freeing on the applying thread");
                drop(old);
            }
        }
    }
}

fn start<T: Send + Sync + 'static>() -> Option<SyncSender<Arc<T>>> {
    let (tx, rx) = sync_channel(QUEUE);
    match std::thread::Builder::new()
        .name("tollgate-retire".into())
        .spawn(move || run(rx))
    {
        Ok(_) => Some(tx),
        Err(e) => {
            tracing::warn!("cannot start the snapshot cleanup thread: {e}");
            None
        }
    }
}

fn run<T>(rx: Receiver<Arc<T>>) {
    // SAFETY: plain syscalls on the current thread with valid arguments.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
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
            Ok(old) => held.push(old),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
        while let Ok(old) = rx.try_recv() {
            held.push(old);
        }
        // The last holder drops it, here.
        held.retain(|a| Arc::strong_count(a) > 1);
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
