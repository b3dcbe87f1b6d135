//! CPU priority of the gateway's background work: receiving a snapshot from
//! the control plane, applying it, caching it, freeing replaced ones.
//!
//! That work runs at `SCHED_IDLE`: a proxy thread that wakes takes the core
//! at once. `nice` alone is not enough: the scheduler lets a running task of
//! any weight finish its time slice first, and on a busy core those slices
//! are what the proxy's p99 pays for every push (`docs/performance.md`). An
//! idle-class task can starve on a core that never idles, and an apply must
//! not wait forever (a revoked credential rides on it), so work still running
//! after [`PROMOTE_AFTER`] is raised to `nice 10` by the thread waiting for
//! it. Where the process may not raise a thread out of `SCHED_IDLE` (no
//! `CAP_SYS_NICE` and an `RLIMIT_NICE` below 10, as in a container with
//! Docker's default capabilities and limits), background work runs at
//! `nice 10` from the start.

use std::cell::Cell;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

/// How long background work may wait for idle CPU before it runs at `nice 10`.
pub const PROMOTE_AFTER: Duration = Duration::from_secs(5);

/// The priority background work runs at when `SCHED_IDLE` is not used.
const NICE: libc::c_int = 10;

thread_local! {
    /// Set on threads [`run`] started: nested background work runs inline.
    static IN_BACKGROUND: Cell<bool> = const { Cell::new(false) };
}

/// The kernel's id of the calling thread.
pub fn current_tid() -> libc::pid_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

fn set_idle(tid: libc::pid_t) -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // Nice 10 first: leaving `SCHED_IDLE` later is checked against the nice
    // value the thread has, so an `RLIMIT_NICE` of 10 is then enough.
    // SAFETY: plain syscalls on a thread of this process with valid arguments.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE);
        libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) == 0
    }
}

fn set_nice(tid: libc::pid_t) -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscalls on a thread of this process with valid arguments;
    // a thread that has exited makes them fail with ESRCH, nothing more.
    // Both are tried: where the policy call is refused or missing, the
    // thread still gets its nice value.
    unsafe {
        let policy = libc::sched_setscheduler(tid, libc::SCHED_OTHER, &param) == 0;
        let nice = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE) == 0;
        policy && nice
    }
}

/// Whether a thread of this process can be moved to `SCHED_IDLE` and raised
/// back out of it: tried once, on a thread of its own.
fn idle_usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| {
        std::thread::Builder::new()
            .name("tollgate-prio-probe".into())
            .spawn(|| set_idle(0) && set_nice(0))
            .ok()
            .and_then(|h| h.join().ok())
            .unwrap_or(false)
    })
}

/// Moves the calling thread to background priority: `SCHED_IDLE` where it
/// can be raised again ([`promote`]), else `nice 10`.
pub fn lower_current_thread() {
    if !(idle_usable() && set_idle(0)) {
        set_nice(current_tid());
    }
}

/// Raises thread `tid` of this process to `nice 10`. Returns whether the
/// kernel took it.
pub fn promote(tid: libc::pid_t) -> bool {
    set_nice(tid)
}

/// For threads a background thread starts for work of a different kind
/// (blocking DNS lookups): they would inherit `SCHED_IDLE`, and raising the
/// background thread later would not raise them.
pub fn leave_idle() {
    // SAFETY: querying the calling thread.
    if unsafe { libc::sched_getscheduler(0) } == libc::SCHED_IDLE {
        set_nice(current_tid());
    }
}

/// Runs `f` on a thread of its own at background priority and waits for it;
/// after [`PROMOTE_AFTER`] the thread is raised to `nice 10`. Called on a
/// background thread already, `f` runs inline. Falls back to the calling
/// thread when no thread can be started.
pub fn run<T: Send, F: FnOnce() -> T + Send>(name: &str, f: F) -> T {
    run_promoting_after(name, PROMOTE_AFTER, f)
}

fn run_promoting_after<T: Send, F: FnOnce() -> T + Send>(
    name: &str,
    promote_after: Duration,
    f: F,
) -> T {
    if IN_BACKGROUND.with(Cell::get) {
        return f();
    }
    let mut slot = Some(f);
    let ran = std::thread::scope(|scope| {
        let slot = &mut slot;
        let (tid_tx, tid_rx) = mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn_scoped(scope, move || {
                IN_BACKGROUND.with(|b| b.set(true));
                lower_current_thread();
                let _ = tid_tx.send(current_tid());
                slot.take().map(|f| f())
            })
            .ok()?;
        // The sender is dropped when the work ends (or panics): until then
        // the channel stays empty and the wait times out.
        if let Ok(tid) = tid_rx.recv() {
            if let Err(mpsc::RecvTimeoutError::Timeout) = tid_rx.recv_timeout(promote_after) {
                if promote(tid) {
                    tracing::info!(
                        thread = name,
                        "background work waited {promote_after:?} for idle CPU: continuing at nice {NICE}"
                    );
                }
            }
        }
        Some(handle.join())
    });
    match ran {
        Some(Ok(Some(v))) => v,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        // The thread could not start: run here, at the caller's priority.
        _ => match slot.take() {
            Some(f) => f(),
            None => std::panic::resume_unwind(Box::new("background work lost")),
        },
    }
}

/// Whether background threads here run at `SCHED_IDLE` (for other modules' tests).
#[cfg(test)]
pub(crate) fn tests_background_is_idle() -> bool {
    idle_usable()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> libc::c_int {
        // SAFETY: querying the calling thread.
        unsafe { libc::sched_getscheduler(0) }
    }

    fn nice() -> libc::c_int {
        // SAFETY: querying the calling thread.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    /// What background threads run at here: idle where it can be undone.
    fn background() -> (libc::c_int, Option<libc::c_int>) {
        if idle_usable() {
            (libc::SCHED_IDLE, None)
        } else {
            (libc::SCHED_OTHER, Some(NICE))
        }
    }

    #[test]
    fn work_runs_in_the_background_and_nested_work_inline() {
        let caller = std::thread::current().id();
        // No deadline within the test: on a loaded machine an idle-class
        // thread may wait long for its first turn, and must not be raised
        // before it looks at its own policy.
        let forever = Duration::from_secs(3600);
        let (outer, inner, same_thread) = run_promoting_after("t-bg", forever, || {
            let outer = (policy(), nice());
            let here = std::thread::current().id();
            let (inner, there) = run("t-bg-nested", || (policy(), std::thread::current().id()));
            (outer, inner, here == there)
        });
        let (want, want_nice) = background();
        assert_eq!(outer.0, want);
        if let Some(n) = want_nice {
            assert_eq!(outer.1, n);
        }
        assert_eq!(inner, want);
        assert!(
            same_thread,
            "nested work runs on the same background thread"
        );
        assert_eq!(std::thread::current().id(), caller);
        assert_ne!(policy(), libc::SCHED_IDLE, "the caller keeps its priority");
    }

    #[test]
    fn promote_raises_a_background_thread_to_nice_10() {
        let (tx, rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            lower_current_thread();
            tx.send(current_tid()).expect("send");
            go_rx.recv().expect("go");
            (policy(), nice())
        });
        let tid = rx.recv().expect("tid");
        assert!(promote(tid));
        go_tx.send(()).expect("go");
        assert_eq!(t.join().expect("join"), (libc::SCHED_OTHER, NICE));
    }

    #[test]
    fn work_still_running_after_the_deadline_is_raised_to_nice_10() {
        // (That it started in the background is the test above's; here it
        // may already have been raised before its first turn.)
        let after = run_promoting_after("t-bg-slow", Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_millis(400));
            (policy(), nice())
        });
        assert_eq!(after, (libc::SCHED_OTHER, NICE));
    }

    #[test]
    fn threads_started_by_background_work_leave_the_idle_class() {
        let (spawned, own) = run_promoting_after("t-bg-spawn", Duration::from_secs(3600), || {
            let spawned = std::thread::spawn(|| {
                leave_idle();
                (policy(), nice())
            })
            .join()
            .expect("join");
            (spawned, policy())
        });
        assert_eq!(spawned, (libc::SCHED_OTHER, NICE));
        assert_eq!(own, background().0);
    }

    #[test]
    fn a_panic_in_background_work_reaches_the_caller() {
        let r = std::panic::catch_unwind(|| run("t-bg-panic", || panic!("boom")));
        assert!(r.is_err());
    }
}
