//! Counters on highly available Redis, with real processes: a master, a
//! replica and three Sentinels (the master killed under load, counting goes
//! on on the promoted replica), and a 3-master Redis Cluster whose slot is
//! migrated mid-run (ASK, then MOVED).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::cluster::{items_snapshot, round_robin as send};
use support::procs::Redis;
use support::{free_port, upstream, Gateway};

fn snapshot(up: SocketAddr, redis: &str, limit: &str) -> String {
    snapshot_with(up, "sync_rate: 0", redis, limit)
}

fn snapshot_with(up: SocketAddr, how: &str, redis: &str, limit: &str) -> String {
    let redis = format!("connect_timeout: 300, read_timeout: 300, send_timeout: 300, {redis}");
    items_snapshot(up, how, &redis, limit)
}

fn admitted(v: &[u16]) -> usize {
    assert!(v.iter().all(|s| *s == 200 || *s == 429), "{v:?}");
    v.iter().filter(|s| **s == 200).count()
}

fn redis_errors(gw: &Gateway) -> f64 {
    gw.metrics()
        .lines()
        .find(|l| l.starts_with("tollgate_redis_errors_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sentinel_failover_under_load_goes_on_counting_on_the_promoted_replica() {
    // Local counting during the outage (docs/cluster.md): each plane at most
    // what its last decision left, 10 + 9 + 8 of the 12 sent round-robin.
    sentinel_failover("sync_rate: 0", 27.0);
}

#[test]
fn sentinel_failover_with_leases() {
    // A leasing plane's local view is the cluster's usage at its last grant
    // (others' unspent slices counted as used): the same bound.
    sentinel_failover("strategy: lease", 27.0);
}

fn sentinel_failover(how: &str, outage_bound: f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut master = Redis::start(free_port(), None);
    let replica_port = free_port();
    // The replica stores the master's snapshot in --dir, not in the checkout.
    let data = dir.path().display().to_string();
    let replica = Redis::start_with(
        replica_port,
        &[
            "--replicaof",
            "127.0.0.1",
            &master.port.to_string(),
            "--dir",
            &data,
        ],
    );
    wait_for("replica in sync", 10, || {
        replica
            .command(&["INFO", "replication"])
            .contains("master_link_status:up")
    });
    let sentinels: Vec<Redis> = (0..3)
        .map(|i| {
            let conf = dir.path().join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "sentinel monitor main 127.0.0.1 {} 2\n\
                     sentinel down-after-milliseconds main 500\n\
                     sentinel failover-timeout main 3000\n",
                    master.port
                ),
            )
            .expect("sentinel conf");
            let conf = conf.display().to_string();
            Redis::start_with(free_port(), &[&conf, "--sentinel"])
        })
        .collect();
    let nodes: Vec<String> = sentinels
        .iter()
        .map(|s| format!("{{ host: 127.0.0.1, port: {} }}", s.port))
        .collect();
    let redis = format!(
        "sentinel_master: main, sentinel_role: master, sentinel_nodes: [{}]",
        nodes.join(", ")
    );
    let yaml = snapshot_with(
        upstream("items"),
        how,
        &redis,
        "{ limit: 20, duration: minutes }",
    );
    let planes: Vec<Gateway> = (0..3).map(|_| Gateway::start(&yaml)).collect();

    // Through the master: exact.
    let before = send(&planes, 12, Duration::from_millis(20));
    assert_eq!(admitted(&before), 12, "{before:?}");
    wait_for("replica caught up", 5, || {
        replica
            .command(&["KEYS", "tollgate:*"])
            .contains("tollgate:")
    });

    let started = Instant::now();
    master.kill();
    // Under load until a Sentinel has promoted the replica and every plane
    // has moved to it.
    let mut during = Vec::new();
    wait_for("replica promoted", 20, || {
        during.extend(send(&planes, 3, Duration::from_millis(30)));
        replica
            .command(&["INFO", "replication"])
            .contains("role:master")
    });
    let failover = started.elapsed();
    // Each plane finds the new master at its next connect (after its cool-down).
    let lease = how.contains("lease");
    let promoted_calls = replica.script_calls();
    wait_for("every plane on the promoted replica", 10, || {
        let calls = replica.script_calls();
        during.extend(send(&planes, 3, Duration::from_millis(50)));
        if lease {
            // Leasing planes that were denied do not ask again before their
            // Retry-After; their outage admissions still reach the replica.
            replica.script_calls() - promoted_calls >= 3
        } else {
            replica.script_calls() - calls >= 3
        }
    });
    if lease {
        std::thread::sleep(Duration::from_millis(1500));
    }
    let calls_before = replica.script_calls();
    let after = send(&planes, 9, Duration::from_millis(20));
    let elapsed = started.elapsed().as_secs_f64();
    // The promoted replica now takes every decision: 9 requests, 9 calls at least.
    let calls = replica.script_calls() - calls_before;
    assert!(
        lease || calls >= 9,
        "decisions not on the promoted replica: {calls} calls"
    );
    // What the planes admitted locally during the failover reached it: the
    // limit is spent (the refill of 1 per 3 s may admit one).
    assert!(admitted(&after) <= 1, "{after:?}");
    let total = 12 + admitted(&during) + admitted(&after);
    let exact = 20.0 + elapsed / 3.0;
    eprintln!(
        "sentinel failover, {how}: {:.1} s to promote; admitted {total} where {exact:.1} was exact ({} during the failover)",
        failover.as_secs_f64(),
        admitted(&during)
    );
    assert!(total as f64 <= exact + outage_bound, "{how}: {total}");
}

/// Two ports p and p + 10000 (the cluster bus) both free.
fn cluster_port() -> u16 {
    loop {
        let p = free_port();
        if p < 55000 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

fn node_id(r: &Redis) -> String {
    r.command(&["CLUSTER", "MYID"])
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn cluster_counts_exactly_across_a_slot_migration_with_ask_and_moved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes: Vec<Redis> = (0..3)
        .map(|_| {
            let port = cluster_port();
            let conf = dir.path().join(format!("nodes-{port}.conf"));
            let conf = conf.display().to_string();
            Redis::start_with(
                port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf,
                    "--cluster-node-timeout",
                    "2000",
                ],
            )
        })
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let out = std::process::Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli --cluster create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    wait_for("cluster ok", 15, || {
        nodes
            .iter()
            .all(|n| n.command(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    });

    // One seed node is enough: the client learns the slot map from it.
    let redis = format!(
        "cluster_nodes: [{{ ip: 127.0.0.1, port: {} }}], cluster_max_redirections: 5",
        nodes[0].port
    );
    let yaml = snapshot(
        upstream("items"),
        &redis,
        "{ limit: 30, duration: minutes }",
    );
    let planes: Vec<Gateway> = (0..3).map(|_| Gateway::start(&yaml)).collect();
    let started = Instant::now();
    let first = send(&planes, 10, Duration::ZERO);
    assert_eq!(admitted(&first), 10);

    // Where the counter lives, and a node to move its slot to.
    let (src, key) = nodes
        .iter()
        .enumerate()
        .find_map(|(i, n)| {
            let keys = n.command(&["KEYS", "tollgate:*"]);
            keys.lines()
                .find(|l| l.starts_with("tollgate:"))
                .map(|k| (i, k.to_string()))
        })
        .expect("the counter is in the cluster");
    let dst = (src + 1) % 3;
    let slot = nodes[src]
        .command(&["CLUSTER", "KEYSLOT", &key])
        .trim()
        .trim_start_matches(':')
        .to_string();
    let (src_id, dst_id) = (node_id(&nodes[src]), node_id(&nodes[dst]));
    nodes[dst].command(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &src_id]);
    nodes[src].command(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &dst_id]);
    let moved = nodes[src].command(&[
        "MIGRATE",
        "127.0.0.1",
        &nodes[dst].port.to_string(),
        "",
        "0",
        "5000",
        "KEYS",
        &key,
    ]);
    assert!(moved.contains("OK"), "{moved}");
    // The slot is migrating: the source answers ASK, the client asks the target.
    let asked = send(&planes, 10, Duration::ZERO);
    assert_eq!(admitted(&asked), 10, "{asked:?}");
    for n in &nodes {
        n.command(&["CLUSTER", "SETSLOT", &slot, "NODE", &dst_id]);
    }
    // The slot moved: the source answers MOVED, the client refreshes its map.
    let after = send(&planes, 15, Duration::ZERO);
    let total = 20 + admitted(&after);
    let exact = 30.0 + started.elapsed().as_secs_f64() / 2.0;
    eprintln!("cluster across a slot migration: admitted {total}, exact {exact:.1}");
    assert!(total >= 30 && total as f64 <= exact, "{after:?}");
    assert!(nodes[dst].command(&["EXISTS", &key]).contains(":1"));
    for p in &planes {
        assert_eq!(redis_errors(p), 0.0, "{}", p.log());
    }
}

#[test]
fn validate_refuses_sentinel_and_cluster_fields_counters_cannot_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let cases = [
        (
            "sentinel_master: main, sentinel_role: slave, sentinel_nodes: [{ host: 127.0.0.1 }]",
            "redis.sentinel_role",
        ),
        ("sentinel_master: main", "redis.sentinel_nodes"),
        (
            "sentinel_master: main, sentinel_nodes: [{ host: a }], cluster_nodes: [{ ip: b }]",
            "redis.cluster_nodes",
        ),
        ("cluster_nodes: []", "redis.cluster_nodes"),
        ("cluster_nodes: [{ ip: a }], database: 2", "redis.database"),
    ];
    for (redis, location) in cases {
        let file = dir.path().join("s.yaml");
        std::fs::write(
            &file,
            snapshot(up, redis, "{ limit: 5, duration: minutes }"),
        )
        .expect("write");
        let (code, text) = support::validate_file(&file);
        assert_eq!(code, 1, "{redis}: {text}");
        assert!(text.contains(location), "{redis}: {text}");
    }
    let ok = dir.path().join("ok.yaml");
    let fields = "sentinel_master: main, sentinel_role: any, sentinel_nodes: [{ host: 127.0.0.1, port: 26379 }]";
    std::fs::write(&ok, snapshot(up, fields, "{ limit: 5, duration: minutes }")).expect("write");
    let (code, text) = support::validate_file(&ok);
    assert_eq!(code, 0, "{text}");
}
