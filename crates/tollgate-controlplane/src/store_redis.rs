//! `tollgate cp --store redis://...`: versions and snapshots kept in Redis so
//! that several control-plane replicas serve the same sequence.
//!
//! One hash, `tollgate:cp:current`, holds `epoch`, `version`, `hash`,
//! `snapshot` and `ops` (the operation list, JSON). A push is a compare-and-set
//! in one Lua script: it succeeds only when the store still holds the version
//! (and epoch) the breaking-change check was made against, bumps the version,
//! writes the snapshot and publishes the version on `tollgate:cp:changes`, all
//! atomically. A replica that loses the race re-reads and checks again, so
//! racing pushes get distinct versions and the last one wins. Each replica
//! follows the channel and also re-reads the version every second, which
//! covers messages missed while its subscription was reconnecting.

use crate::store::{gzip, new_epoch, removed, Prepared, PushError, State, Store, Stored};
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The hash holding the current snapshot.
pub const CURRENT_KEY: &str = "tollgate:cp:current";
/// The hash of data-plane reports, by data-plane id.
pub const DATA_PLANES_KEY: &str = "tollgate:cp:data-planes";
/// The channel each accepted push's version is published on.
pub const CHANNEL: &str = "tollgate:cp:changes";
/// A push that keeps losing the race gives up after this many tries (503).
const MAX_ATTEMPTS: usize = 64;
/// How often a replica re-reads the version without a message.
const POLL_EVERY: Duration = Duration::from_secs(1);

const PUSH_SCRIPT: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'version', 'epoch')
local v = tonumber(cur[1]) or 0
local e = cur[2] or ''
if v ~= tonumber(ARGV[1]) or e ~= ARGV[2] then
  return {0, e}
end
if e == '' then
  e = ARGV[3]
  redis.call('HSET', KEYS[1], 'epoch', e)
end
v = v + 1
redis.call('HSET', KEYS[1], 'version', v, 'hash', ARGV[4], 'snapshot', ARGV[5], 'ops', ARGV[6])
redis.call('PUBLISH', ARGV[7], v)
return {v, e}
";

pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    script: redis::Script,
}

/// What the store holds right now, as read for one push.
pub(crate) struct Head {
    version: u64,
    /// Empty when the store has no epoch (never written, or its data lost).
    epoch: String,
    current: Option<Arc<Stored>>,
}

fn unavailable(e: redis::RedisError) -> PushError {
    PushError::Unavailable(e.to_string())
}

/// Longest a read of the store's head may take before the caller gives up
/// (and answers from its cached copy, or 503 for a push).
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// `fut`, or a timeout error after `limit`.
pub async fn bounded<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, redis::RedisError> {
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
        Err(redis::RedisError::from((
            redis::ErrorKind::IoError,
            "the store did not answer in time",
        )))
    })
}

/// Connects, makes sure the store has an epoch, and loads its snapshot.
/// Fails when Redis cannot be reached at start.
pub async fn connect(url: &str) -> Result<Store, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let cfg = ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(5))
        // Snapshots can be large: give a full read time to arrive.
        .set_response_timeout(Duration::from_secs(30))
        .set_max_delay(2_000)
        // Fail fast while Redis is down; the next command reconnects.
        .set_number_of_retries(1);
    let mut conn = ConnectionManager::new_with_config(client.clone(), cfg).await?;
    let _: i64 = redis::cmd("HSETNX")
        .arg(CURRENT_KEY)
        .arg("epoch")
        .arg(new_epoch())
        .query_async(&mut conn)
        .await?;
    let redis = RedisStore {
        client,
        conn,
        script: redis::Script::new(PUSH_SCRIPT),
    };
    let empty = State {
        epoch: Arc::from(""),
        current: None,
    };
    let head = redis.read(&empty).await?;
    let state = State {
        epoch: Arc::from(head.epoch.as_str()),
        current: head.current,
    };
    Ok(Store::with_redis(state, redis))
}

impl RedisStore {
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Reads the store's head; the snapshot itself is fetched only when it is
    /// not the one `cached` already holds.
    async fn read(&self, cached: &State) -> Result<Head, redis::RedisError> {
        let mut conn = self.conn.clone();
        let (version, epoch): (Option<u64>, Option<String>) = redis::cmd("HMGET")
            .arg(CURRENT_KEY)
            .arg("version")
            .arg("epoch")
            .query_async(&mut conn)
            .await?;
        let epoch = epoch.unwrap_or_default();
        let version = version.unwrap_or(0);
        let served = cached.current.as_ref().map(|c| c.version).unwrap_or(0);
        if *cached.epoch == *epoch && served == version {
            return Ok(Head {
                version,
                epoch,
                current: cached.current.clone(),
            });
        }
        type Row = (
            Option<u64>,
            Option<String>,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
        );
        let (version, epoch, hash, bytes, ops): Row = redis::cmd("HMGET")
            .arg(CURRENT_KEY)
            .arg("version")
            .arg("epoch")
            .arg("hash")
            .arg("snapshot")
            .arg("ops")
            .query_async(&mut conn)
            .await?;
        let current = match (version, hash, bytes) {
            (Some(version), Some(hash), Some(bytes)) => {
                let operations: BTreeSet<String> = ops
                    .and_then(|o| serde_json::from_str(&o).ok())
                    .unwrap_or_default();
                let (bytes, gzipped) = tokio::task::spawn_blocking(move || {
                    let gz = gzip(&bytes);
                    (bytes, gz)
                })
                .await
                .map_err(|e| {
                    redis::RedisError::from((redis::ErrorKind::IoError, "gzip", e.to_string()))
                })?;
                let gzipped = gzipped.map_err(redis::RedisError::from)?;
                Some(Arc::new(Stored {
                    version,
                    hash,
                    bytes,
                    gzipped,
                    operations,
                }))
            }
            _ => None,
        };
        Ok(Head {
            version: version.unwrap_or(0),
            epoch: epoch.unwrap_or_default(),
            current,
        })
    }

    /// Brings `store`'s served state up to the store's.
    pub(crate) async fn refresh(&self, store: &Store) -> Result<Head, redis::RedisError> {
        let head = self.read(&store.state()).await?;
        if head.epoch.is_empty() {
            store.clear();
        } else {
            store.install(Arc::from(head.epoch.as_str()), head.current.clone());
        }
        Ok(head)
    }

    /// Versions `p` as the store's next snapshot (see the module doc).
    pub(crate) async fn commit(
        &self,
        store: &Store,
        p: Prepared,
        force: bool,
    ) -> Result<Arc<Stored>, PushError> {
        let ops = serde_json::to_string(&p.operations).unwrap_or_else(|_| "[]".into());
        let fresh_epoch = new_epoch();
        for _ in 0..MAX_ATTEMPTS {
            let head = bounded(READ_TIMEOUT, self.refresh(store))
                .await
                .map_err(unavailable)?;
            let gone = removed(head.current.as_deref(), &p.operations);
            if !force && !gone.is_empty() {
                return Err(PushError::Breaking(gone));
            }
            let mut conn = self.conn.clone();
            let (version, epoch): (u64, String) = self
                .script
                .key(CURRENT_KEY)
                .arg(head.version)
                .arg(&head.epoch)
                .arg(&fresh_epoch)
                .arg(&p.hash)
                .arg(&p.bytes)
                .arg(&ops)
                .arg(CHANNEL)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if version == 0 {
                // Another replica pushed since `head` was read: check again.
                continue;
            }
            let stored = Arc::new(p.into_stored(version));
            store.install(Arc::from(epoch.as_str()), Some(stored.clone()));
            return Ok(stored);
        }
        Err(PushError::Unavailable(
            "too many concurrent pushes; try again".into(),
        ))
    }
}

/// Keeps `store` following Redis for the life of the process: the change
/// channel for speed, a read every second as a safety net.
pub async fn follow(store: Arc<Store>) {
    let Some(redis) = store.redis() else { return };
    let mut healthy = true;
    loop {
        let pubsub = tokio::time::timeout(Duration::from_secs(5), async {
            let mut ps = redis.client.get_async_pubsub().await?;
            ps.subscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(ps)
        })
        .await;
        let mut stream = match pubsub {
            Ok(Ok(ps)) => Some(ps.into_on_message()),
            Ok(Err(e)) => {
                tracing::debug!("cannot subscribe to {CHANNEL}: {e}");
                None
            }
            Err(_) => None,
        };
        // A push may have landed while the subscription was down.
        healthy = report(bounded(READ_TIMEOUT, redis.refresh(&store)).await, healthy);
        match &mut stream {
            Some(s) => loop {
                match tokio::time::timeout(POLL_EVERY, s.next()).await {
                    Ok(None) => break,
                    _ => {
                        healthy =
                            report(bounded(READ_TIMEOUT, redis.refresh(&store)).await, healthy)
                    }
                }
            },
            None => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}

/// Logs the first failure and the recovery of an outage; returns health.
fn report<T>(r: Result<T, redis::RedisError>, was_healthy: bool) -> bool {
    match r {
        Ok(_) => {
            if !was_healthy {
                tracing::info!("the store is reachable again");
            }
            true
        }
        Err(e) => {
            if was_healthy {
                tracing::warn!("cannot read the store (still serving the last snapshot): {e}");
            }
            false
        }
    }
}
