//! Target health: Kong's counters (as lua-resty-healthcheck keeps them) fed by
//! passive reports from proxied traffic and by active probes, which Pingora's
//! load-balancing health checks (`HttpHealthCheck`, `TcpHealthCheck`) perform.
//!
//! One state per target, shared by both kinds of report: a success resets the
//! failure counters and a failure resets the success counter, so thresholds
//! count consecutive outcomes. A threshold of 0 disables that transition.

use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType};
use pingora_load_balancing::health_check::{HealthCheck, HttpHealthCheck, TcpHealthCheck};
use pingora_load_balancing::Backend;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tollgate_config::upstreams::{Active, CheckType, Healthchecks};

/// What one observation of a target says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Success,
    HttpFailure,
    TcpFailure,
    Timeout,
}

/// Kong's counters for one kind of check (active or passive).
#[derive(Debug, Clone, Copy, Default)]
pub struct Thresholds {
    pub successes: u32,
    pub http_failures: u32,
    pub tcp_failures: u32,
    pub timeouts: u32,
}

impl Thresholds {
    pub fn active(h: &Healthchecks) -> Self {
        let a = &h.active;
        Thresholds {
            successes: a.healthy.successes,
            http_failures: a.unhealthy.http_failures,
            tcp_failures: a.unhealthy.tcp_failures,
            timeouts: a.unhealthy.timeouts,
        }
    }

    pub fn passive(h: &Healthchecks) -> Self {
        let p = &h.passive;
        Thresholds {
            successes: p.healthy.successes,
            http_failures: p.unhealthy.http_failures,
            tcp_failures: p.unhealthy.tcp_failures,
            timeouts: p.unhealthy.timeouts,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    successes: u32,
    http_failures: u32,
    tcp_failures: u32,
    timeouts: u32,
}

/// One target's health. Read lock-free on the request path.
#[derive(Debug)]
pub struct Health {
    healthy: AtomicBool,
    counters: Mutex<Counters>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            healthy: AtomicBool::new(true),
            counters: Mutex::new(Counters::default()),
        }
    }
}

impl Health {
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Counts `r`; returns the new state when it flipped.
    pub fn report(&self, r: Report, t: &Thresholds) -> Option<bool> {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let healthy = self.healthy();
        let flip = match r {
            Report::Success => {
                c.http_failures = 0;
                c.tcp_failures = 0;
                c.timeouts = 0;
                if healthy || t.successes == 0 {
                    false
                } else {
                    c.successes += 1;
                    c.successes >= t.successes
                }
            }
            failure => {
                c.successes = 0;
                let (count, limit) = match failure {
                    Report::HttpFailure => (&mut c.http_failures, t.http_failures),
                    Report::TcpFailure => (&mut c.tcp_failures, t.tcp_failures),
                    _ => (&mut c.timeouts, t.timeouts),
                };
                if !healthy || limit == 0 {
                    false
                } else {
                    *count += 1;
                    *count >= limit
                }
            }
        };
        if !flip {
            return None;
        }
        *c = Counters::default();
        self.healthy.store(!healthy, Ordering::Relaxed);
        Some(!healthy)
    }
}

/// An active probe of one target, built once per pool.
pub enum Probe {
    Http(Box<HttpHealthCheck>),
    Tcp(Box<TcpHealthCheck>),
}

/// Marks a probe answer whose status is in neither of Kong's lists: it
/// counts for nothing.
const NEUTRAL: &str = "status in neither list";
const UNHEALTHY: &str = "unhealthy status";

impl Probe {
    /// `host` is the `Host` header (and default SNI) the probe sends.
    pub fn new(a: &Active, host: &str, sni_host: &str) -> Option<Probe> {
        let timeout = Duration::from_secs_f64(a.timeout.max(0.001));
        if a.kind == CheckType::Tcp {
            let mut tcp = TcpHealthCheck::new();
            tcp.peer_template.options.connection_timeout = Some(timeout);
            return Some(Probe::Tcp(tcp));
        }
        let tls = a.kind == CheckType::Https;
        let mut hc = HttpHealthCheck::new(host, tls);
        let uri = http::Uri::try_from(a.http_path.as_str()).ok()?;
        hc.req.set_uri(uri);
        for (name, values) in a.headers.iter().flatten() {
            for v in values {
                hc.req.append_header(name.clone(), v.as_str()).ok()?;
            }
        }
        let mut peer = HttpPeer::new("0.0.0.0:1", tls, String::new());
        if tls {
            peer.sni = a.https_sni.clone().unwrap_or_else(|| sni_host.to_string());
            peer.options.verify_cert = a.https_verify_certificate;
            peer.options.verify_hostname = a.https_verify_certificate;
        }
        peer.options.connection_timeout = Some(timeout);
        peer.options.read_timeout = Some(timeout);
        peer.options.write_timeout = Some(timeout);
        hc.peer_template = peer;
        let healthy = a.healthy.http_statuses.clone();
        let unhealthy = a.unhealthy.http_statuses.clone();
        hc.validator = Some(Box::new(move |resp| {
            let code = resp.status.as_u16();
            if healthy.contains(&code) {
                Ok(())
            } else if unhealthy.contains(&code) {
                Error::e_explain(ErrorType::CustomCode(UNHEALTHY, code), "health probe")
            } else {
                Error::e_explain(ErrorType::CustomCode(NEUTRAL, code), "health probe")
            }
        }));
        Some(Probe::Http(Box::new(hc)))
    }

    /// Probes `backend` once; `None` when the answer counts for nothing.
    pub async fn run(&self, backend: &Backend, timeout: Duration) -> Option<Report> {
        let check = match self {
            Probe::Http(hc) => hc.check(backend),
            Probe::Tcp(tcp) => tcp.check(backend),
        };
        // The probe's own timeouts bound each step; this bounds the whole.
        let result = match tokio::time::timeout(timeout * 3, check).await {
            Ok(r) => r,
            Err(_) => return Some(Report::Timeout),
        };
        match result {
            Ok(()) => Some(Report::Success),
            Err(e) => Some(match e.etype() {
                ErrorType::CustomCode(NEUTRAL, _) => return None,
                ErrorType::CustomCode(_, _) => Report::HttpFailure,
                ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                    Report::Timeout
                }
                _ => Report::TcpFailure,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(successes: u32, failures: u32) -> Thresholds {
        Thresholds {
            successes,
            http_failures: failures,
            tcp_failures: failures,
            timeouts: failures,
        }
    }

    #[test]
    fn consecutive_failures_take_a_target_out() {
        let h = Health::default();
        let th = t(2, 3);
        assert_eq!(h.report(Report::TcpFailure, &th), None);
        assert_eq!(h.report(Report::TcpFailure, &th), None);
        // A success in between restarts the count.
        assert_eq!(h.report(Report::Success, &th), None);
        assert_eq!(h.report(Report::TcpFailure, &th), None);
        assert_eq!(h.report(Report::TcpFailure, &th), None);
        assert_eq!(h.report(Report::TcpFailure, &th), Some(false));
        assert!(!h.healthy());
        assert_eq!(h.report(Report::Success, &th), None);
        assert_eq!(h.report(Report::Success, &th), Some(true));
        assert!(h.healthy());
    }

    #[test]
    fn a_zero_threshold_never_flips() {
        let h = Health::default();
        for _ in 0..100 {
            assert_eq!(h.report(Report::Timeout, &t(0, 0)), None);
        }
        assert!(h.healthy());
        assert_eq!(h.report(Report::HttpFailure, &t(0, 1)), Some(false));
        for _ in 0..100 {
            assert_eq!(h.report(Report::Success, &t(0, 1)), None);
        }
        assert!(!h.healthy());
    }
}
