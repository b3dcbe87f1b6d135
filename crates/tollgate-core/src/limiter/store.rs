//! The limiter's state: one compact GCRA entry per key, in a sharded map with
//! a hard cap on keys.
//!
//! Keys can come from client input (`limit_by: ip`), so memory must not
//! follow whoever sends the most distinct addresses. The cap is split evenly
//! over the shards; a shard that is full when a new key arrives makes room
//! under its own lock, first by dropping idle entries (which changes no
//! decision), then, if still full, the entries closest to refilling. Dropping
//! a non-idle entry forgets what that key used, so its limit restarts full:
//! eviction only ever makes the limiter more permissive, never stricter. Both
//! kinds are counted ([`Evictions`]).
//!
//! Shards hold a few thousand keys each, so a pass over one (eviction, or
//! the periodic idle sweep) holds its lock for tens of microseconds, and no
//! lock covers more than one shard.

use super::entry::{pack, Entry};
use super::{admit, CompiledLimit, LimitKey, Outcome, SubjectKey, MAX_WINDOWS};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Default cap on keys; see docs/performance.md ("Limiter memory") for what it costs.
pub const DEFAULT_MAX_KEYS: usize = 10_000_000;
/// Keys per shard at the cap: 7/8 of 8192, the most a hash table of 8192
/// buckets holds before it grows, and few enough to scan in tens of µs.
const SHARD_KEYS: usize = 7168;
/// A full shard is brought down to 15/16 of its cap, so that the next pass
/// comes only after that many new keys.
const LOW_WATER: usize = 16;
/// Most shards: beyond it, shards grow instead (a cap of billions of keys
/// must not allocate millions of locks).
const MAX_SHARDS: usize = 1 << 16;
/// Entries sampled to choose how close to refilling an entry must be to go.
const SAMPLE: usize = 64;
/// Passes over a full shard before settling for fewer evictions than planned
/// (each pass still frees at least one slot).
const PASSES: usize = 3;

/// Hashes a key inside its shard. Subjects are already hashes that no client
/// chooses (SHA-256 prefixes of operator keys and names, or keyed hashes of
/// client addresses), and scopes come from the operator, so a fast mix is
/// as safe here as SipHash and four times cheaper on every charge.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(29) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // Another seed than the shard choice, so that keys of one shard still
        // spread over all of its buckets.
        fmix(self.0 ^ 0x5851_f42d_4c95_7f2d)
    }
}

type Map = HashMap<LimitKey, Entry, BuildHasherDefault<KeyHasher>>;

fn new_map(capacity: usize) -> Map {
    Map::with_capacity_and_hasher(capacity, BuildHasherDefault::default())
}

/// A shard on its own cache line, so that two cores locking neighbours do
/// not contend.
#[repr(align(64))]
struct Shard(Mutex<Map>);

/// Entries removed since the store was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evictions {
    /// Fully refilled entries: no decision changes.
    pub idle: u64,
    /// Entries dropped to stay under the cap while still holding usage.
    pub capacity: u64,
}

/// Limiter state for every active key, at most `max_keys` of them.
pub struct LimiterStore {
    shards: Box<[Shard]>,
    /// Cap per shard; shards × this ≤ `max_keys`.
    per_shard: usize,
    max_keys: usize,
    len: AtomicUsize,
    evicted_idle: AtomicU64,
    evicted_capacity: AtomicU64,
    subjects: SubjectKey,
}

impl Default for LimiterStore {
    fn default() -> Self {
        LimiterStore::new(DEFAULT_MAX_KEYS, SubjectKey::random())
    }
}

/// A 64-bit finalizer (splitmix64): every input bit moves every output bit.
fn fmix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Spreads keys over the shards (see [`KeyHasher`] for why a mix suffices).
fn shard_hash(key: &LimitKey) -> u64 {
    fmix(key.subject ^ key.scope.rotate_left(32))
}

impl LimiterStore {
    /// A store holding at most `max_keys` keys (at least 1), hashing client
    /// addresses with `subjects`.
    pub fn new(max_keys: usize, subjects: SubjectKey) -> Self {
        let max_keys = max_keys.max(1);
        // Small caps still get a few shards, as long as each keeps ~64 keys.
        // Rounded up, so no shard is meant to hold more than SHARD_KEYS.
        let shards = max_keys
            .div_ceil(SHARD_KEYS)
            .max((max_keys / 64).clamp(1, 16))
            .min(MAX_SHARDS);
        LimiterStore {
            shards: (0..shards)
                .map(|_| Shard(Mutex::new(Map::default())))
                .collect(),
            per_shard: max_keys / shards,
            max_keys,
            len: AtomicUsize::new(0),
            evicted_idle: AtomicU64::new(0),
            evicted_capacity: AtomicU64::new(0),
            subjects,
        }
    }

    /// How many independently locked shards the keys are spread over.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The cap this store was made with.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// The limiter subject of a client address (`limit_by: ip` and its
    /// fallbacks): a keyed hash, so no client can aim at another's state.
    pub fn ip_subject(&self, ip: Option<std::net::IpAddr>) -> u64 {
        self.subjects.ip_subject(ip)
    }

    fn lock(&self, key: &LimitKey) -> MutexGuard<'_, Map> {
        let n = self.shards.len() as u128;
        let i = ((u128::from(shard_hash(key)) * n) >> 64) as usize;
        let shard = &self.shards[i.min(self.shards.len() - 1)];
        // No code panics while holding a shard; a poisoned one is still consistent.
        shard.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry of `key`, made (after making room when the shard is full).
    fn entry<'m>(
        &self,
        map: &'m mut Map,
        key: LimitKey,
        limit: &CompiledLimit,
        now: u64,
    ) -> &'m mut Entry {
        if map.len() >= self.per_shard && !map.contains_key(&key) {
            self.make_room(map, now);
        }
        match map.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                self.len.fetch_add(1, Ordering::Relaxed);
                v.insert(Entry::fresh(limit, now))
            }
        }
    }

    /// Brings a full shard below its cap: idle entries first, then those
    /// closest to refilling (they hold the least usage), down to the low
    /// water mark. Always frees at least one slot.
    fn make_room(&self, map: &mut Map, now: u64) {
        let before = map.len();
        map.retain(|_, e| !e.idle(now));
        let idle = before - map.len();
        let target = self
            .per_shard
            .saturating_sub(self.per_shard / LOW_WATER)
            .min(self.per_shard - 1);
        let mut capacity = 0;
        for pass in 0..PASSES {
            if map.len() <= target {
                break;
            }
            let need = map.len() - target;
            // Iteration order of a randomly keyed map is unrelated to age or
            // usage, so its first entries are a fair sample.
            let mut sample = [0u64; SAMPLE];
            let mut n = 0;
            for (s, e) in sample.iter_mut().zip(map.values()) {
                *s = e.refilled_at();
                n += 1;
            }
            let sample = &mut sample[..n];
            sample.sort_unstable();
            // The quantile expected to hold `need` entries; widened on later
            // passes when the sample under-estimated it.
            let idx = (need * n).div_ceil(map.len()) << pass;
            let threshold = sample[idx.clamp(1, n) - 1];
            let mut left = need;
            map.retain(|_, e| {
                if left > 0 && e.refilled_at() <= threshold {
                    left -= 1;
                    false
                } else {
                    true
                }
            });
            capacity += need - left;
        }
        // Removals leave tombstones that a hash table only clears by growing
        // (to twice the memory) once they fill it; a rebuilt table has none.
        let mut fresh = new_map(self.per_shard);
        fresh.extend(map.drain());
        *map = fresh;
        self.len.fetch_sub(idle + capacity, Ordering::Relaxed);
        self.evicted_idle.fetch_add(idle as u64, Ordering::Relaxed);
        self.evicted_capacity
            .fetch_add(capacity as u64, Ordering::Relaxed);
    }

    /// Charges one request to `key` under `limit`, at `now` nanoseconds
    /// (any monotonic origin). All windows admit it, or none is charged.
    pub fn charge(&self, key: LimitKey, limit: &CompiledLimit, now: u64) -> Outcome {
        let mut map = self.lock(&key);
        let entry = self.entry(&mut map, key, limit, now);
        entry.rebase(limit, now);
        let mut debts = [None; MAX_WINDOWS];
        for (i, d) in debts.iter_mut().enumerate() {
            if limit.windows[i].is_some() {
                *d = Some(entry.tat[i].saturating_sub(now));
            }
        }
        let (allowed, retry_ns) = admit(limit, &debts);
        if allowed {
            for (i, d) in debts.iter_mut().enumerate() {
                if let (Some(d), Some(w)) = (d.as_mut(), &limit.windows[i]) {
                    entry.tat[i] = entry.tat[i].max(now) + w.interval_ns;
                    *d = entry.tat[i] - now;
                }
            }
        }
        drop(map);
        Outcome::from_debts(limit, &debts, allowed, retry_ns)
    }

    /// This node's current debt per window of `limit` (0 when unknown): the
    /// floor a shared counter must not go below.
    pub fn debts(
        &self,
        key: LimitKey,
        limit: &CompiledLimit,
        now: u64,
    ) -> [Option<u64>; MAX_WINDOWS] {
        let mut out = [None; MAX_WINDOWS];
        let map = self.lock(&key);
        let entry = map.get(&key);
        for (o, w) in out.iter_mut().zip(limit.windows.iter()) {
            let Some(w) = w else { continue };
            let want = pack(w);
            let tat = entry.and_then(|e| {
                (0..MAX_WINDOWS)
                    .find(|&j| e.spec[j] == want)
                    .map(|j| e.tat[j])
            });
            *o = Some(tat.map(|t| t.saturating_sub(now)).unwrap_or(0));
        }
        out
    }

    /// Raises the local state of `key` to at least `debts` (time owed per
    /// window, in ns, as of `now`): how a node learns the cluster's usage.
    pub fn merge(
        &self,
        key: LimitKey,
        limit: &CompiledLimit,
        debts: &[Option<u64>; MAX_WINDOWS],
        now: u64,
    ) {
        let mut map = self.lock(&key);
        let entry = self.entry(&mut map, key, limit, now);
        entry.rebase(limit, now);
        for (i, d) in debts.iter().enumerate() {
            if let (Some(d), Some(w)) = (d, &limit.windows[i]) {
                // Debt beyond a window is what holds every node back after they
                // admitted together; capped (as in Redis) at four windows.
                entry.tat[i] = entry.tat[i].max(now + (*d).min(4 * w.period_ns));
            }
        }
    }

    /// Removes entries that are fully refilled, one shard at a time; returns
    /// how many were removed.
    pub fn evict_idle(&self, now: u64) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut map = shard.0.lock().unwrap_or_else(|p| p.into_inner());
            let before = map.len();
            map.retain(|_, e| !e.idle(now));
            removed += before - map.len();
            // Give memory back once most keys have gone (after a burst of
            // new clients), keeping room to grow again without rehashing.
            if map.len() * 4 < map.capacity() && map.capacity() > 64 {
                let keep = map.len() * 2;
                map.shrink_to(keep);
            }
        }
        self.len.fetch_sub(removed, Ordering::Relaxed);
        self.evicted_idle
            .fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Entries removed so far, by reason.
    pub fn evictions(&self) -> Evictions {
        Evictions {
            idle: self.evicted_idle.load(Ordering::Relaxed),
            capacity: self.evicted_capacity.load(Ordering::Relaxed),
        }
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
