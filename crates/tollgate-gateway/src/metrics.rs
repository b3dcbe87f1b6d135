//! Prometheus metrics (contract §9). One registry per gateway, no globals.
//! Labels only carry names from the snapshot and status codes, never a
//! credential, key, path or client address.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use tollgate_core::request::AceDecision;

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub ace_decisions: IntCounterVec,
    pub ace_rate_limited: IntCounterVec,
    pub request_duration: Histogram,
    pub upstream_duration: Histogram,
    pub config_reloads: IntCounterVec,
    pub config_version: IntGauge,
    pub limiter_keys: IntGauge,
    /// `reason`: `idle` (refilled, no decision changes) or `capacity` (dropped at the cap).
    pub limiter_evictions: IntCounterVec,
    pub upstream_unresolved: IntCounter,
    pub upstream_dns_errors: IntCounter,
    /// `tollgate_upstream_target_health{upstream,target}`: 1 healthy, 0 not.
    pub target_health: IntGaugeVec,
    /// Tries made again on another target after a connect failure.
    pub upstream_retries: IntCounter,
    pub redis_errors: IntCounter,
    pub plugin_duration: HistogramVec,
    /// Request heads refused before parsing, by reason (too_large, timeout).
    pub head_refused: IntCounterVec,
    /// Per-plugin histogram handles, resolved once instead of per request.
    plugin_timers: Vec<(&'static str, Histogram)>,
    /// Per-decision counter handles: `MODES` × `AceDecision::ALL`.
    decision_counters: Vec<IntCounter>,
    pub ace_shadow_refusals: IntCounterVec,
    /// Access-log lines dropped because the writer fell behind.
    pub access_log_dropped: IntCounter,
    /// TLS listener certificate reloads by `source` (files, snapshot) and `result`.
    pub tls_reloads: IntCounterVec,
}

/// The `mode` label of ACE decisions; enforce first.
const MODES: [&str; 2] = ["enforce", "shadow"];

/// Metric construction only fails on invalid names, which are fixed here.
#[derive(Debug, thiserror::Error)]
#[error("metrics setup failed: {0}")]
pub struct MetricsError(#[from] pub prometheus::Error);

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "tollgate_http_requests_total",
                "Requests answered, by service, route and status",
            ),
            &["service", "route", "status"],
        )?;
        let ace_decisions = IntCounterVec::new(
            Opts::new(
                "tollgate_ace_decisions_total",
                "ACE decisions by outcome and mode (enforce, or shadow: recorded, not applied)",
            ),
            &["decision", "mode"],
        )?;
        let ace_shadow_refusals = IntCounterVec::new(
            Opts::new(
                "tollgate_ace_shadow_refusals_total",
                "Requests an ACE in shadow mode let through that enforce mode would refuse, by route and decision",
            ),
            &["route", "decision"],
        )?;
        let ace_rate_limited = IntCounterVec::new(
            Opts::new(
                "tollgate_ace_rate_limited_total",
                "Requests rejected by an ACE limit",
            ),
            &["api_package", "scope"],
        )?;
        let request_duration = Histogram::with_opts(
            HistogramOpts::new(
                "tollgate_request_duration_seconds",
                "Time from request start to response end",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let upstream_duration = Histogram::with_opts(
            HistogramOpts::new(
                "tollgate_upstream_duration_seconds",
                "Time from sending upstream to its response header",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "tollgate_config_reloads_total",
                "Snapshot applications by result",
            ),
            &["result"],
        )?;
        let tls_reloads = IntCounterVec::new(
            Opts::new(
                "tollgate_tls_certificate_reloads_total",
                "Reloads of the TLS listener's certificates by source and result",
            ),
            &["source", "result"],
        )?;
        registry.register(Box::new(tls_reloads.clone()))?;
        let config_version = IntGauge::new(
            "tollgate_config_version",
            "Version of the applied snapshot (0 when it has none)",
        )?;
        let limiter_keys = IntGauge::new("tollgate_limiter_keys", "Limiter keys held in memory")?;
        let limiter_evictions = IntCounterVec::new(
            Opts::new(
                "tollgate_limiter_evictions_total",
                "Limiter keys removed: idle (fully refilled) or capacity (at --limiter-max-keys)",
            ),
            &["reason"],
        )?;
        let upstream_unresolved = IntCounter::new(
            "tollgate_upstream_unresolved_total",
            "Requests answered 502 because their upstream host has not resolved yet",
        )?;
        let upstream_dns_errors = IntCounter::new(
            "tollgate_upstream_dns_errors_total",
            "Failed lookups of upstream hostnames (the last good address is kept)",
        )?;
        let target_health = IntGaugeVec::new(
            Opts::new(
                "tollgate_upstream_target_health",
                "Health of each load-balanced target: 1 healthy, 0 taken out by health checks",
            ),
            &["upstream", "target"],
        )?;
        let upstream_retries = IntCounter::new(
            "tollgate_upstream_retries_total",
            "Requests tried again on another target after a connect failure",
        )?;
        let redis_errors = IntCounter::new(
            "tollgate_redis_errors_total",
            "Redis operations that failed",
        )?;
        let plugin_duration = HistogramVec::new(
            HistogramOpts::new(
                "tollgate_plugin_duration_seconds",
                "Access-phase time per plugin",
            )
            .buckets(vec![
                0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.001, 0.01,
            ]),
            &["plugin"],
        )?;
        let head_refused = IntCounterVec::new(
            Opts::new(
                "tollgate_request_head_refused_total",
                "Request heads refused before parsing: larger than the cap (431) or slower than the deadline (408)",
            ),
            &["reason"],
        )?;
        for r in ["too_large", "timeout"] {
            head_refused.with_label_values(&[r]);
        }
        registry.register(Box::new(head_refused.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(ace_decisions.clone()))?;
        registry.register(Box::new(ace_shadow_refusals.clone()))?;
        let access_log_dropped = IntCounter::new(
            "tollgate_access_log_dropped_total",
            "Access-log lines dropped because the writer fell behind (the request was not delayed)",
        )?;
        registry.register(Box::new(access_log_dropped.clone()))?;
        registry.register(Box::new(ace_rate_limited.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(upstream_duration.clone()))?;
        registry.register(Box::new(config_reloads.clone()))?;
        registry.register(Box::new(config_version.clone()))?;
        registry.register(Box::new(limiter_keys.clone()))?;
        registry.register(Box::new(limiter_evictions.clone()))?;
        registry.register(Box::new(upstream_unresolved.clone()))?;
        registry.register(Box::new(upstream_dns_errors.clone()))?;
        registry.register(Box::new(redis_errors.clone()))?;
        registry.register(Box::new(target_health.clone()))?;
        registry.register(Box::new(upstream_retries.clone()))?;
        registry.register(Box::new(plugin_duration.clone()))?;
        // Pre-create the label sets the contract names so they show from the start.
        for mode in MODES {
            for d in AceDecision::ALL {
                ace_decisions.with_label_values(&[d.as_str(), mode]);
            }
        }
        for r in ["success", "failure"] {
            config_reloads.with_label_values(&[r]);
        }
        for src in ["files", "snapshot"] {
            for r in ["success", "failure"] {
                tls_reloads.with_label_values(&[src, r]);
            }
        }
        for r in ["idle", "capacity"] {
            limiter_evictions.with_label_values(&[r]);
        }
        let plugin_timers = tollgate_config::plugins::KNOWN_PLUGINS
            .iter()
            .map(|&n| (n, plugin_duration.with_label_values(&[n])))
            .collect();
        let decision_counters = MODES
            .iter()
            .flat_map(|mode| {
                AceDecision::ALL
                    .iter()
                    .map(|d| ace_decisions.with_label_values(&[d.as_str(), mode]))
            })
            .collect();
        Ok(Metrics {
            decision_counters,
            ace_shadow_refusals,
            access_log_dropped,
            plugin_timers,
            registry,
            http_requests,
            ace_decisions,
            ace_rate_limited,
            request_duration,
            upstream_duration,
            config_reloads,
            config_version,
            limiter_keys,
            limiter_evictions,
            upstream_unresolved,
            upstream_dns_errors,
            target_health,
            upstream_retries,
            redis_errors,
            plugin_duration,
            head_refused,
            tls_reloads,
        })
    }

    /// Counts one ACE decision, taken in shadow mode or not.
    pub fn ace_decision(&self, d: AceDecision, shadow: bool) {
        if let Some(i) = AceDecision::ALL.iter().position(|x| *x == d) {
            let i = if shadow {
                i + AceDecision::ALL.len()
            } else {
                i
            };
            if let Some(c) = self.decision_counters.get(i) {
                c.inc();
            }
        }
    }

    /// The access-phase histogram of a plugin.
    pub fn plugin_timer(&self, name: &str) -> &Histogram {
        self.plugin_timers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, h)| h)
            .unwrap_or(&self.plugin_timers[0].1)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}
