use super::*;
use tollgate_config::upstreams::{Balance, HashKey, TargetSpec};

fn spec(weights: &[u32]) -> UpstreamSpec {
    UpstreamSpec {
        name: "u".into(),
        balance: Balance::RoundRobin,
        hash_on: HashKey::None,
        hash_fallback: HashKey::None,
        host_header: None,
        healthchecks: Default::default(),
        targets: weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| TargetSpec {
                target: format!("10.0.0.{i}:80"),
                host: format!("10.0.0.{i}"),
                port: 80,
                weight,
            })
            .collect(),
        tags: vec![],
    }
}

#[test]
fn weights_are_reduced_and_bounded() {
    assert_eq!(
        selector_weights(&spec(&[100, 200, 0, 300])),
        vec![1, 2, 0, 3]
    );
    let big = selector_weights(&spec(&[65535, 65534, 1]));
    assert!(big.iter().map(|w| u64::from(*w)).sum::<u64>() <= MAX_TOTAL_WEIGHT + 3);
    assert_eq!(big[2], 1, "a small weight is never rounded to 0");
    assert!(big[0] >= big[1] && big[1] > 4000, "{big:?}");
}
