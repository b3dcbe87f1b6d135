//! Multi-window GCRA limiter: the arithmetic of one limit, and the store
//! (`store.rs`) that holds every key's state across snapshots.
//!
//! Why not `governor`: a request must be admitted by every window of a limit
//! or charged to none of them, remaining counts are needed for headers, and a
//! changed limit must re-base existing state. Those need check-then-commit over
//! several windows under one lock, which governor's per-limiter API cannot do.
//!
//! GCRA state at or before "now" is identical to no state, so idle entries are
//! evicted without changing any decision; a hard cap bounds the rest.

mod entry;
mod store;
mod subject;

pub use store::{Evictions, LimiterStore, DEFAULT_MAX_KEYS};
pub use subject::{canonical_octets, SubjectKey, NO_ADDRESS};

use tollgate_config::{Limits, Unit};

const NANOS: u64 = 1_000_000_000;
/// At most one window per unit.
pub const MAX_WINDOWS: usize = 4;

/// Identity of one limiter: a credential (or client) and the limit it is charged to.
/// Both halves are stable across reloads, so state survives an unchanged limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitKey {
    pub subject: u64,
    pub scope: u64,
}

/// One window compiled for GCRA arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    pub unit: Unit,
    pub limit: u64,
    pub period_ns: u64,
    /// Emission interval: period / limit.
    pub interval_ns: u64,
}

/// A limit ready for the hot path: up to four windows, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompiledLimit {
    pub windows: [Option<WindowSpec>; MAX_WINDOWS],
}

impl CompiledLimit {
    pub fn new(limits: &Limits) -> Self {
        let mut windows = [None; MAX_WINDOWS];
        for (slot, w) in windows.iter_mut().zip(limits.windows.iter()) {
            let period_ns = w.unit.seconds() * NANOS;
            *slot = Some(WindowSpec {
                unit: w.unit,
                limit: w.limit,
                period_ns,
                interval_ns: (period_ns / w.limit).max(1),
            });
        }
        CompiledLimit { windows }
    }

    pub fn iter(&self) -> impl Iterator<Item = &WindowSpec> {
        self.windows.iter().flatten()
    }
}

/// What one window said about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowState {
    pub unit: Unit,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window is full again.
    pub reset_secs: u64,
}

/// The result of charging a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    pub windows: [Option<WindowState>; MAX_WINDOWS],
    /// Index of the binding window: lowest remaining (the rejecting one on deny).
    pub binding: usize,
    /// On deny: seconds until a request could be admitted (at least 1).
    pub retry_after_secs: u64,
}

impl Outcome {
    pub fn binding(&self) -> Option<&WindowState> {
        self.windows[self.binding].as_ref()
    }

    /// Builds the outcome from each window's debt (TAT minus now, in ns)
    /// after the decision, wherever it was taken (locally or in Redis).
    pub fn from_debts(
        limit: &CompiledLimit,
        debts: &[Option<u64>; MAX_WINDOWS],
        allowed: bool,
        retry_ns: u64,
    ) -> Outcome {
        let mut out = Outcome {
            allowed,
            windows: [None; MAX_WINDOWS],
            binding: 0,
            retry_after_secs: if allowed {
                0
            } else {
                div_ceil(retry_ns, NANOS).max(1)
            },
        };
        let mut lowest = u64::MAX;
        let mut worst_wait = 0u64;
        for (i, (w, d)) in limit.windows.iter().zip(debts.iter()).enumerate() {
            let (Some(spec), Some(debt)) = (w, d) else {
                continue;
            };
            // The interval is rounded down to whole ns; for limits that do not
            // divide the window that could report one more than the limit.
            let rem = (spec.period_ns.saturating_sub(*debt) / spec.interval_ns).min(spec.limit);
            out.windows[i] = Some(WindowState {
                unit: spec.unit,
                limit: spec.limit,
                remaining: rem,
                reset_secs: div_ceil(*debt, NANOS),
            });
            if allowed {
                if rem < lowest {
                    lowest = rem;
                    out.binding = i;
                }
            } else {
                // The rejecting window: the one that would wait longest.
                let wait = (*debt + spec.interval_ns).saturating_sub(spec.period_ns);
                if wait > worst_wait || (wait > 0 && worst_wait == 0) {
                    worst_wait = wait;
                    out.binding = i;
                }
            }
        }
        out
    }
}

fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

/// Whether every window admits one more request given its debt; on
/// rejection, how long until it would (ns).
pub fn admit(limit: &CompiledLimit, debts: &[Option<u64>; MAX_WINDOWS]) -> (bool, u64) {
    let mut allowed = true;
    let mut retry = 0u64;
    for (w, d) in limit.windows.iter().zip(debts.iter()) {
        let (Some(spec), Some(debt)) = (w, d) else {
            continue;
        };
        let after = debt + spec.interval_ns;
        if after > spec.period_ns {
            allowed = false;
            retry = retry.max(after - spec.period_ns);
        }
    }
    (allowed, retry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_config::Window;

    fn limit(ws: &[(u64, Unit)]) -> CompiledLimit {
        CompiledLimit::new(&Limits {
            windows: ws
                .iter()
                .map(|&(limit, unit)| Window { limit, unit })
                .collect(),
        })
    }

    const KEY: LimitKey = LimitKey {
        subject: 1,
        scope: 2,
    };
    const T0: u64 = 1_000 * NANOS;

    #[test]
    fn burst_then_refill() {
        let s = LimiterStore::default();
        let l = limit(&[(5, Unit::Seconds)]);
        let remaining: Vec<u64> = (0..5)
            .map(|_| {
                let o = s.charge(KEY, &l, T0);
                assert!(o.allowed);
                o.binding().unwrap().remaining
            })
            .collect();
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        let o = s.charge(KEY, &l, T0);
        assert!(!o.allowed);
        assert_eq!(o.retry_after_secs, 1);
        // One emission interval later (200 ms) exactly one more is admitted.
        assert!(s.charge(KEY, &l, T0 + NANOS / 5).allowed);
        assert!(!s.charge(KEY, &l, T0 + NANOS / 5).allowed);
    }

    #[test]
    fn rejected_request_consumes_nothing_anywhere() {
        let s = LimiterStore::default();
        let l = limit(&[(10, Unit::Seconds), (3, Unit::Minutes)]);
        for _ in 0..3 {
            assert!(s.charge(KEY, &l, T0).allowed);
        }
        let denied = s.charge(KEY, &l, T0);
        assert!(!denied.allowed);
        assert_eq!(denied.binding().unwrap().unit, Unit::Minutes);
        // The seconds window still shows 7: the rejection charged nothing.
        assert_eq!(denied.windows[0].unwrap().remaining, 7);
        assert_eq!(denied.retry_after_secs, 20);
    }

    #[test]
    fn binding_window_is_lowest_remaining() {
        let s = LimiterStore::default();
        let l = limit(&[(5, Unit::Seconds), (100, Unit::Minutes)]);
        let o = s.charge(KEY, &l, T0);
        assert_eq!(o.binding().unwrap().unit, Unit::Seconds);
        assert_eq!(o.binding().unwrap().remaining, 4);
        assert_eq!(o.windows[1].unwrap().remaining, 99);
    }

    #[test]
    fn rebase_never_grants_more_than_new_limit() {
        let s = LimiterStore::default();
        let old = limit(&[(10, Unit::Minutes)]);
        for _ in 0..4 {
            s.charge(KEY, &old, T0);
        }
        // Lowered to 3/min: 4 were used, so the new window is exhausted.
        let new = limit(&[(3, Unit::Minutes)]);
        let o = s.charge(KEY, &new, T0);
        assert!(!o.allowed);
        assert_eq!(o.binding().unwrap().remaining, 0);
        // Raised to 20/min: the 4 used carry over; 15 remain after this request.
        let s2 = LimiterStore::default();
        for _ in 0..4 {
            s2.charge(KEY, &old, T0);
        }
        let o = s2.charge(KEY, &limit(&[(20, Unit::Minutes)]), T0);
        assert_eq!(o.binding().unwrap().remaining, 15);
        // A new window starts full; a removed one is forgotten.
        let o = s2.charge(KEY, &limit(&[(5, Unit::Seconds), (20, Unit::Minutes)]), T0);
        assert_eq!(o.windows[0].unwrap().remaining, 4);
    }

    #[test]
    fn idle_keys_are_evicted_without_changing_decisions() {
        let s = LimiterStore::default();
        let l = limit(&[(2, Unit::Seconds)]);
        s.charge(KEY, &l, T0);
        s.charge(
            LimitKey {
                subject: 9,
                scope: 2,
            },
            &l,
            T0,
        );
        assert_eq!(s.evict_idle(T0), 0);
        assert_eq!(s.len(), 2);
        assert_eq!(s.evict_idle(T0 + NANOS), 2);
        assert!(s.is_empty());
        assert_eq!(
            s.charge(KEY, &l, T0 + NANOS).binding().unwrap().remaining,
            1
        );
    }
}
