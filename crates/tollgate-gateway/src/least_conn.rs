//! Kong's `least-connections` balancing (kong/runloop/balancer/least_connections.lua):
//! each target counts the requests it has in flight, and the next request goes
//! to the usable target with the lowest `(in_flight + 1) / weight`. The `+ 1`
//! is Kong's: among idle targets the heaviest is picked first. Pingora's
//! load-balancing crate has no such selector.

use crate::balancer::Pool;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One request in flight to a target of a least-connections pool; counted
/// from the pick until dropped (the next try, or the end of the request).
pub struct InFlight {
    pool: Arc<Pool>,
    ix: usize,
}

impl InFlight {
    pub fn start(pool: &Arc<Pool>, ix: usize) -> Option<InFlight> {
        pool.targets
            .get(ix)?
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            pool: pool.clone(),
            ix,
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(t) = self.pool.targets.get(self.ix) {
            t.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The usable target with the fewest requests in flight per unit of weight;
/// ties go to the first one from `start`, so equal targets take turns.
pub(crate) fn pick(pool: &Pool, start: usize, usable: impl Fn(usize) -> bool) -> Option<usize> {
    let n = pool.targets.len();
    let mut best: Option<(usize, u128, u128)> = None;
    for ix in (0..n).map(|i| (start + i) % n) {
        let t = &pool.targets[ix];
        if !usable(ix) {
            continue;
        }
        let load = u128::from(t.in_flight.load(Ordering::Relaxed)) + 1;
        let weight = u128::from(t.weight);
        // load / weight < best_load / best_weight, without division.
        let better = best.is_none_or(|(_, bl, bw)| load * bw < bl * weight);
        if better {
            best = Some((ix, load, weight));
        }
    }
    best.map(|(ix, _, _)| ix)
}
