//! One key's limiter state, packed small: the cap on keys is a memory
//! budget, so every byte of an entry counts ten million times.

use super::{div_ceil, CompiledLimit, WindowSpec, MAX_WINDOWS};
use tollgate_config::Unit;

const UNIT_SHIFT: u32 = 61;
const INTERVAL_MASK: u64 = (1 << UNIT_SHIFT) - 1;

/// Packs a window's identity into one word: emission interval (at most a
/// year in ns, < 2^55) and unit (3 bits). Never 0, which marks an unused slot.
pub(super) fn pack(spec: &WindowSpec) -> u64 {
    let unit = match spec.unit {
        Unit::Seconds => 0,
        Unit::Minutes => 1,
        Unit::Hours => 2,
        Unit::Days => 3,
        Unit::Months => 4,
        Unit::Years => 5,
    };
    (spec.interval_ns.max(1) & INTERVAL_MASK) | (unit << UNIT_SHIFT)
}

fn packed(limit: &CompiledLimit) -> [u64; MAX_WINDOWS] {
    let mut out = [0; MAX_WINDOWS];
    for (o, w) in out.iter_mut().zip(limit.windows.iter()) {
        *o = w.as_ref().map(pack).unwrap_or(0);
    }
    out
}

fn unit_bits(packed: u64) -> u64 {
    packed >> UNIT_SHIFT
}

fn interval_of(packed: u64) -> u64 {
    packed & INTERVAL_MASK
}

/// One key's state: per window, its theoretical arrival time and identity.
/// 64 bytes; unused windows are all zero.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) tat: [u64; MAX_WINDOWS],
    pub(super) spec: [u64; MAX_WINDOWS],
}

impl Entry {
    pub(super) fn fresh(limit: &CompiledLimit, now: u64) -> Self {
        let spec = packed(limit);
        let mut tat = [0; MAX_WINDOWS];
        for (t, s) in tat.iter_mut().zip(spec.iter()) {
            if *s != 0 {
                *t = now;
            }
        }
        Entry { tat, spec }
    }

    /// Re-bases state for windows whose limit changed. What was consumed in
    /// the window is kept (as Kong keeps its counters when a limit changes),
    /// capped at the new limit: remaining never exceeds the new limit and a
    /// reload never hands out a fresh burst. Afterwards slot `i` is window `i`
    /// of `limit`.
    pub(super) fn rebase(&mut self, limit: &CompiledLimit, now: u64) {
        let spec = packed(limit);
        if spec == self.spec {
            return;
        }
        let mut tat = [0; MAX_WINDOWS];
        for (i, w) in limit.windows.iter().enumerate() {
            let Some(w) = w else { continue };
            let old = (0..MAX_WINDOWS)
                .find(|&j| self.spec[j] != 0 && unit_bits(self.spec[j]) == unit_bits(spec[i]));
            tat[i] = match old {
                Some(j) => {
                    let used = div_ceil(self.tat[j].saturating_sub(now), interval_of(self.spec[j]))
                        .min(w.limit);
                    now + used * w.interval_ns
                }
                None => now,
            };
        }
        self.tat = tat;
        self.spec = spec;
    }

    /// When every window is full again: from then on the entry is no state.
    pub(super) fn refilled_at(&self) -> u64 {
        self.tat.iter().copied().max().unwrap_or(0)
    }

    pub(super) fn idle(&self, now: u64) -> bool {
        self.refilled_at() <= now
    }
}
