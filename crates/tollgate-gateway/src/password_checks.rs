//! Runs basic-auth's bcrypt checks on tokio's blocking pool, a bounded number
//! at once: a bcrypt run costs milliseconds by design, so on a proxy worker
//! it would stall every request sharing that worker, and unbounded it would
//! let a flood of wrong passwords take every core.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tollgate_core::plugins::PasswordCheck;

/// How long a check waits for a free slot before the request is refused.
const WAIT: Duration = Duration::from_millis(100);

/// What became of a check.
pub enum Checked {
    Ran(PasswordCheck, bool),
    /// Every slot stayed busy for [`WAIT`].
    Busy(PasswordCheck),
    /// The blocking task did not finish (the runtime is shutting down).
    Lost,
}

pub struct PasswordChecks {
    slots: Arc<Semaphore>,
}

impl PasswordChecks {
    pub fn new(slots: usize) -> Self {
        PasswordChecks {
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }

    /// One slot per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub async fn run(&self, check: PasswordCheck) -> Checked {
        let permit = match tokio::time::timeout(WAIT, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => return Checked::Busy(check),
        };
        // The permit moves into the task: a client that hangs up does not
        // free the slot before the bcrypt run it started is over.
        let task = tokio::task::spawn_blocking(move || {
            let ok = check.run();
            drop(permit);
            (check, ok)
        });
        match task.await {
            Ok((check, ok)) => Checked::Ran(check, ok),
            Err(_) => Checked::Lost,
        }
    }
}
