//! The snapshot and load shared by the cluster tests: one route `/items`,
//! ACE required, one package limit, one key (`k1`), counters in Redis.

use super::Gateway;
use std::net::SocketAddr;
use std::time::Duration;

/// `how`: what goes under `rate_limiting` besides `redis` (e.g. `sync_rate: 0`,
/// `strategy: lease`); `redis`: the inside of the `redis` mapping; `limit`:
/// the package's `rate_limiting_config`.
pub fn items_snapshot(up: SocketAddr, how: &str, redis: &str, limit: &str) -> String {
    format!(
        r#"_format_version: "3.0"
services:
  - {{ name: s, url: "http://{up}", routes: [{{ name: r, paths: [/items], strip_path: false }}] }}
plugins:
  - name: ace
    config:
      match_policy: required
      rate_limiting:
        {how}
        redis: {{ {redis} }}
apis:
  - name: items
    operations: [{{ method: GET, path: /items, id: list-items }}]
auth_strategies: [{{ name: keys, type: key_auth, key_names: [apikey] }}]
api_packages:
  - name: pkg
    rate_limiting_config: {limit}
    operations: [{{ api: items, method: GET, path: /items }}]
applications:
  - {{ name: app, auth_strategy: keys, credentials: [{{ key: k1 }}], registrations: [{{ api_package: pkg }}] }}
"#
    )
}

/// The `redis` mapping of a local server on `port`, with short timeouts.
pub fn local_redis(port: u16, timeout_ms: u64) -> String {
    format!(
        "host: 127.0.0.1, port: {port}, connect_timeout: {timeout_ms}, read_timeout: {timeout_ms}, send_timeout: {timeout_ms}"
    )
}

/// Sends `n` requests for `/items` with key `k1` round-robin over `planes`,
/// `gap` apart; the statuses in order.
pub fn round_robin(planes: &[Gateway], n: usize, gap: Duration) -> Vec<u16> {
    (0..n)
        .map(|i| {
            let s = planes[i % planes.len()]
                .get("/items", &[("apikey", "k1")])
                .status;
            std::thread::sleep(gap);
            s
        })
        .collect()
}
