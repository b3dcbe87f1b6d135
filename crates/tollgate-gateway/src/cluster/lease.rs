//! `strategy: lease`: each node takes slices of a limit's remaining quota
//! from Redis (`lease.lua`) and admits locally until its slice is spent.
//!
//! Every admission is backed by a grant already charged in Redis, so the
//! cluster never admits more than GCRA allows. A request costs a Redis round
//! trip only when its node has no slice left: a renewal starts in the
//! background once half of a slice is spent. A slice is sized from the node's
//! recent rate (`HORIZON` of traffic) and is never more than half of what
//! remains, so the end of a limit is spread over the nodes asking for it.
//! Unused quota goes back to Redis when a lease expires (`TTL`). When Redis
//! is unusable, the usual fallback applies (`RedisCounters::local`), from
//! the cluster's usage as last seen.

use super::Conn;
use super::{CallError, Debts, RedisCounters};
use futures::StreamExt;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tollgate_core::limiter::{CompiledLimit, LimitKey, LimiterStore, Outcome, MAX_WINDOWS};
use tollgate_core::plugins::Charge;

pub(super) const LEASE_SCRIPT: &str = include_str!("lease.lua");
/// How much of a node's recent traffic one slice covers.
const HORIZON: Duration = Duration::from_millis(100);
/// After this long, what is left of a slice goes back to Redis.
const TTL: Duration = Duration::from_millis(1000);
/// How often expired leases are looked for.
pub(super) const SWEEP_EVERY: Duration = Duration::from_millis(100);
const GIVE_CONCURRENCY: usize = 32;

/// What a call to `lease.lua` asks for.
#[derive(Clone, Copy)]
enum Ask {
    /// A slice of up to this many requests.
    Take(u64),
    /// Return this many unused requests.
    Give(u64),
}

/// One node's lease on one limit.
pub(super) struct Lease {
    limit: CompiledLimit,
    ip: Option<IpAddr>,
    /// Requests this node may still admit without asking Redis.
    left: u64,
    /// Limiter clock (ns) of the last grant; `debts` are as of then.
    granted_ns: u64,
    debts: Debts,
    expires_ns: u64,
    /// Admitted since `granted_ns`, for the rate estimate.
    used: u64,
    last_slice: u64,
    /// Redis had nothing to grant: reject locally until then.
    denied_until_ns: u64,
    renewing: bool,
}

impl Lease {
    fn new(c: &Charge) -> Lease {
        Lease {
            limit: c.limit,
            ip: c.client_ip,
            left: 0,
            granted_ns: 0,
            debts: [None; MAX_WINDOWS],
            expires_ns: 0,
            used: 0,
            last_slice: 0,
            denied_until_ns: 0,
            renewing: false,
        }
    }

    /// The slice to ask for: this node's rate over the last grant × HORIZON.
    fn wanted(&self, now: u64) -> u64 {
        let elapsed = now.saturating_sub(self.granted_ns).max(1_000_000);
        let rate_per_horizon =
            (self.used as u128 * HORIZON.as_nanos()).div_ceil(elapsed as u128) as u64;
        let cap = self.limit.iter().map(|w| w.limit).min().unwrap_or(1);
        rate_per_horizon.clamp(1, cap.max(1))
    }

    /// Cluster state as seen now: Redis' debts at the grant, refilled since,
    /// with this node's unspent slice counted as still available.
    fn outcome(&self, now: u64, allowed: bool, retry_ns: u64) -> Outcome {
        Outcome::from_debts(&self.limit, &self.debts_now(now), allowed, retry_ns)
    }

    /// The cluster's usage as this node knows it, without its own unspent
    /// slice. Never above what Redis holds (even after the slice is given
    /// back), so it is a safe floor and a fair start for a local fallback.
    fn debts_now(&self, now: u64) -> Debts {
        let elapsed = now.saturating_sub(self.granted_ns);
        let mut debts = self.debts;
        for (d, w) in debts.iter_mut().zip(self.limit.windows.iter()) {
            if let (Some(d), Some(w)) = (d.as_mut(), w) {
                *d = d
                    .saturating_sub(elapsed)
                    .saturating_sub(self.left.saturating_mul(w.interval_ns));
            }
        }
        debts
    }

    fn grant(&mut self, granted: u64, debts: Debts, retry_ns: u64, now: u64) {
        self.left += granted;
        self.debts = debts;
        self.granted_ns = now;
        self.used = 0;
        if granted > 0 {
            self.last_slice = granted;
            self.expires_ns = now + TTL.as_nanos() as u64;
        } else {
            self.denied_until_ns = now + retry_ns;
        }
    }
}

impl RedisCounters {
    /// Runs `lease.lua` for one limit; returns (granted, retry_ns, debts_ns).
    async fn eval_lease(
        &self,
        conn: Conn,
        key: LimitKey,
        ip: Option<IpAddr>,
        limit: &CompiledLimit,
        ask: Ask,
        floor: Debts,
    ) -> Result<(u64, u64, Debts), CallError> {
        let mut inv = self.lease_script.prepare_invoke();
        match ask {
            Ask::Take(n) => inv.arg("take").arg(n),
            Ask::Give(n) => inv.arg("give").arg(n),
        };
        for (w, f) in limit.windows.iter().zip(floor.iter()) {
            let Some(w) = w else { continue };
            inv.key(super::super::keys::window_key(key, ip, w.unit));
            inv.arg(w.interval_ns as f64 / 1000.0)
                .arg(w.period_ns / 1000)
                .arg(w.limit)
                .arg(f.unwrap_or(0) / 1000);
        }
        let (granted, retry_ns, debts) = self.invoke(&inv, conn, limit).await?;
        Ok((granted.max(0) as u64, retry_ns, debts))
    }

    /// Admits or rejects from this node's lease when it can decide alone.
    fn from_lease(self: &Arc<Self>, store: &LimiterStore, c: &Charge, now: u64) -> Option<Outcome> {
        let mut e = self.leases.get_mut(&c.key)?;
        if e.limit != c.limit {
            // The limit changed: the old slice was sized for it; let it lapse.
            e.limit = c.limit;
            e.left = 0;
            e.denied_until_ns = 0;
        }
        if e.left > 0 {
            e.left -= 1;
            e.used += 1;
            let renew = !e.renewing && e.left <= e.last_slice / 2;
            let want = if renew { e.wanted(now) } else { 0 };
            if renew {
                e.renewing = true;
            }
            let debts = e.debts_now(now);
            drop(e);
            // The floor against an emptied Redis, and the local view a
            // fallback starts from.
            store.merge(c.key, &c.limit, &debts, now);
            let out = Outcome::from_debts(&c.limit, &debts, true, 0);
            if renew {
                self.spawn_renewal(*c, want, store.debts(c.key, &c.limit, now), now);
            }
            return Some(out);
        }
        if now < e.denied_until_ns {
            let retry = e.denied_until_ns - now;
            return Some(e.outcome(now, false, retry));
        }
        None
    }

    fn spawn_renewal(self: &Arc<Self>, c: Charge, want: u64, floor: Debts, now: u64) {
        let me = self.clone();
        tokio::spawn(async move {
            let result = match me.usable().await {
                Some((conn, probe)) => {
                    let r = me
                        .eval_lease(conn, c.key, c.client_ip, &c.limit, Ask::Take(want), floor)
                        .await;
                    if probe {
                        me.probing.store(false, Ordering::Release);
                    }
                    Some(r)
                }
                None => None,
            };
            let granted = match result {
                Some(Ok(g)) => {
                    me.recovered();
                    Some(g)
                }
                Some(Err(e)) => {
                    me.call_failed("lease", e);
                    None
                }
                None => None,
            };
            let stale = match me.leases.get_mut(&c.key) {
                Some(mut e) => {
                    e.renewing = false;
                    match granted {
                        Some((granted, retry_ns, debts)) if e.limit == c.limit => {
                            e.grant(granted, debts, retry_ns, now);
                            0
                        }
                        // Granted for a limit since replaced: give it back.
                        Some((granted, _, _)) => granted,
                        None => 0,
                    }
                }
                None => granted.map(|g| g.0).unwrap_or(0),
            };
            if stale > 0 {
                me.give_back(vec![(c.key, c.client_ip, c.limit, stale)])
                    .await;
            }
        });
    }

    /// Charges one request under `strategy: lease`.
    pub(super) async fn charge_lease(
        self: &Arc<Self>,
        store: &LimiterStore,
        c: &Charge,
        now: u64,
    ) -> Outcome {
        if let Some(o) = self.from_lease(store, c, now) {
            return o;
        }
        let Some((conn, probe)) = self.usable().await else {
            return self.local(store, c, now);
        };
        let want = self.leases.get(&c.key).map(|e| e.wanted(now)).unwrap_or(1);
        let floor = store.debts(c.key, &c.limit, now);
        let result = self
            .eval_lease(conn, c.key, c.client_ip, &c.limit, Ask::Take(want), floor)
            .await;
        if probe {
            self.probing.store(false, Ordering::Release);
        }
        let (granted, retry_ns, debts) = match result {
            Ok(r) => {
                self.recovered();
                r
            }
            Err(e) => {
                // A take that timed out may have been charged: that slice is
                // lost to this node (under-admission, never over-admission).
                self.call_failed("lease", e);
                return self.local(store, c, now);
            }
        };
        let mut e = self.leases.entry(c.key).or_insert_with(|| Lease::new(c));
        e.limit = c.limit;
        e.grant(granted, debts, retry_ns, now);
        if e.left == 0 {
            return e.outcome(now, false, retry_ns);
        }
        e.left -= 1;
        e.used += 1;
        let debts = e.debts_now(now);
        drop(e);
        store.merge(c.key, &c.limit, &debts, now);
        Outcome::from_debts(&c.limit, &debts, true, 0)
    }

    /// Returns what is left of expired leases to Redis and forgets idle ones;
    /// runs at most every `SWEEP_EVERY`.
    pub(super) async fn sweep_leases(self: &Arc<Self>, now: u64) {
        let mut gives = Vec::new();
        self.leases.retain(|k, e| {
            if now < e.expires_ns || e.renewing {
                return true;
            }
            if e.left > 0 {
                gives.push((*k, e.ip, e.limit, e.left));
                e.left = 0;
            }
            now < e.denied_until_ns
        });
        if !gives.is_empty() {
            self.give_back(gives).await;
        }
    }

    async fn give_back(
        self: &Arc<Self>,
        gives: Vec<(LimitKey, Option<IpAddr>, CompiledLimit, u64)>,
    ) {
        let Some((conn, probe)) = self.usable().await else {
            // Lost while Redis is away: the quota refills on its own.
            return;
        };
        let calls = gives.into_iter().map(|(key, ip, limit, n)| {
            let conn = conn.clone();
            async move {
                self.eval_lease(conn, key, ip, &limit, Ask::Give(n), [Some(0); MAX_WINDOWS])
                    .await
            }
        });
        let results: Vec<_> = futures::stream::iter(calls)
            .buffer_unordered(GIVE_CONCURRENCY)
            .collect()
            .await;
        if probe {
            self.probing.store(false, Ordering::Release);
        }
        match results.into_iter().find_map(|r| r.err()) {
            Some(e) => self.call_failed("lease return", e),
            None => self.recovered(),
        }
    }
}
