//! Opening a connection to one Redis as Kong's `redis` fields describe it:
//! plain TCP, or TLS (`ssl`) with the server certificate checked against the
//! system trust store (`ssl_verify`, default on) for the name `server_name`
//! (default: `host`). `server_name` may differ from `host` (an IP address, or
//! a load balancer's name): `host` is what is dialled, `server_name` what is
//! sent as SNI and verified.

use redis::aio::MultiplexedConnection;
use redis::io::AsyncDNSResolver;
use redis::{AsyncConnectionConfig, ConnectionAddr, RedisConnectionInfo, RedisFuture};
use std::net::SocketAddr;
use std::time::Duration;
use tollgate_config::plugins::RedisConfig;

/// The client for a Redis endpoint; the TLS name is carried in its address.
pub fn client(config: &RedisConfig) -> redis::RedisResult<redis::Client> {
    let addr = if config.ssl {
        ConnectionAddr::TcpTls {
            host: tls_name(config).to_string(),
            port: config.port,
            insecure: !config.ssl_verify,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(config.host.clone(), config.port)
    };
    redis::Client::open(redis::ConnectionInfo {
        addr,
        redis: RedisConnectionInfo {
            db: i64::from(config.database),
            username: config.username.clone(),
            password: config.password.clone(),
            protocol: redis::ProtocolVersion::RESP2,
        },
    })
}

fn tls_name(config: &RedisConfig) -> &str {
    config.server_name.as_deref().unwrap_or(&config.host)
}

/// Opens one multiplexed connection (commands from all requests are
/// pipelined on it).
pub async fn open(
    client: &redis::Client,
    config: &RedisConfig,
    connect: Duration,
    response: Duration,
) -> redis::RedisResult<MultiplexedConnection> {
    let mut cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(connect)
        .set_response_timeout(response);
    if config.ssl && tls_name(config) != config.host {
        // The address names `server_name`; dial `host` instead.
        cfg = cfg.set_dns_resolver(DialHost {
            host: config.host.clone(),
        });
    }
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
}

/// Resolves every name to `host`'s addresses.
struct DialHost {
    host: String,
}

impl AsyncDNSResolver for DialHost {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        _name: &'b str,
        port: u16,
    ) -> RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), port))
                .await?
                .collect();
            Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}
