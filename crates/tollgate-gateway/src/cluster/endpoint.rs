//! Where a Redis backend's connection comes from: one host, the master a set
//! of Sentinels names, or a Redis Cluster (Kong's `sentinel_*` and
//! `cluster_*` fields), through the `redis` crate's own support for each.
//!
//! A Sentinel connection is bound to the master it was opened to; the
//! callers drop it on any failure, so the next connect asks the Sentinels
//! again and finds a promoted replica. A Cluster connection follows MOVED and
//! ASK redirections itself (up to `cluster_max_redirections`).

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, Pipeline, RedisFuture, RedisResult, Value,
};
use std::time::Duration;
use tollgate_config::plugins::RedisConfig;

pub enum Endpoint {
    /// One host, plain or TLS (`connect.rs`); the config says how to dial it.
    Single(redis::Client, Box<RedisConfig>),
    /// `async_get_client` needs `&mut`; only the background connect uses it.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
    Cluster(redis::cluster::ClusterClient),
}

/// A connection from any [`Endpoint`]; cheap to clone (multiplexed).
#[derive(Clone)]
pub enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Endpoint {
    pub fn new(config: &RedisConfig) -> RedisResult<Endpoint> {
        if let (Some(master), Some(nodes)) = (&config.sentinel_master, &config.sentinel_nodes) {
            let addrs = nodes
                .iter()
                .map(|n| ConnectionAddr::Tcp(n.host.clone(), n.port));
            let mut b =
                SentinelClientBuilder::new(addrs, master.clone(), SentinelServerType::Master)?
                    .set_client_to_redis_db(i64::from(config.database));
            if let Some(u) = &config.username {
                b = b.set_client_to_redis_username(u.clone());
            }
            if let Some(p) = &config.password {
                b = b.set_client_to_redis_password(p.clone());
            }
            if let Some(u) = &config.sentinel_username {
                b = b.set_client_to_sentinel_username(u.clone());
            }
            if let Some(p) = &config.sentinel_password {
                b = b.set_client_to_sentinel_password(p.clone());
            }
            return Ok(Endpoint::Sentinel(tokio::sync::Mutex::new(b.build()?)));
        }
        if let Some(nodes) = &config.cluster_nodes {
            let addrs: Vec<String> = nodes
                .iter()
                .map(|n| format!("redis://{}:{}", n.host, n.port))
                .collect();
            let mut b = ClusterClientBuilder::new(addrs)
                .retries(config.cluster_max_redirections)
                .connection_timeout(Duration::from_millis(config.connect_timeout.max(1)))
                .response_timeout(Duration::from_millis(config.read_timeout.max(1)));
            if let Some(u) = &config.username {
                b = b.username(u.clone());
            }
            if let Some(p) = &config.password {
                b = b.password(p.clone());
            }
            return Ok(Endpoint::Cluster(b.build()?));
        }
        Ok(Endpoint::Single(
            super::connect::client(config)?,
            Box::new(config.clone()),
        ))
    }

    /// Whether a failed call should drop the connection so that the next
    /// connect re-discovers the topology (a Sentinel failover).
    pub fn rediscovers(&self) -> bool {
        matches!(self, Endpoint::Sentinel(_))
    }

    pub async fn connect(&self, connect: Duration, response: Duration) -> RedisResult<Conn> {
        match self {
            Endpoint::Single(client, config) => Ok(Conn::Single(
                super::connect::open(client, config, connect, response).await?,
            )),
            Endpoint::Sentinel(s) => {
                let client = s.lock().await.async_get_client().await?;
                let cfg = AsyncConnectionConfig::new()
                    .set_connection_timeout(connect)
                    .set_response_timeout(response);
                Ok(Conn::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&cfg)
                        .await?,
                ))
            }
            Endpoint::Cluster(c) => Ok(Conn::Cluster(c.get_async_connection().await?)),
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
