//! Compiling a validated snapshot into the runtime form: routers, indices,
//! header values and plugin chains are all built here, once, so the request
//! path only looks things up.

use crate::credentials::{identity, KeyName};
use crate::limiter::CompiledLimit;
use crate::opmatch::{InsertError, OperationRouter};
use crate::plugins::{self, Counters, PluginInstance};
use crate::request::Reply;
use crate::routes::RouteTable;
use crate::snapshot::*;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use tollgate_config::plugins::PluginConfig;
use tollgate_config::{ConfigError, Limits, RouteRef, Snapshot};

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Operation(#[from] InsertError),
    #[error(
        "the applications section is marked unchanged, but the running snapshot does not hold it"
    )]
    ApplicationsNotHeld,
}

/// A stable 64-bit id for a named thing (limiter scopes and subjects).
pub fn stable_id(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    identity(&h.finalize().into()).0
}

/// Header values that cannot be represented are replaced, never a panic.
pub(crate) fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn scoped(limits: &Option<Limits>, scope: &[&str]) -> Option<ScopedLimit> {
    limits.as_ref().map(|l| ScopedLimit {
        scope: stable_id(scope),
        limit: CompiledLimit::new(l),
    })
}

pub fn compile(s: &Snapshot) -> Result<CompiledSnapshot, CompileError> {
    compile_from(s, AppsFrom::Build)
}

/// [`compile`] for a snapshot that replaces `running`: when the loader found
/// the applications section unchanged (`load_bytes_reusing`), they are
/// shared with `running` instead of being built again.
pub fn compile_reusing(
    s: &Snapshot,
    running: &CompiledSnapshot,
) -> Result<CompiledSnapshot, CompileError> {
    if s.applications_unchanged {
        compile_from(s, AppsFrom::Running(running))
    } else {
        compile(s)
    }
}

/// Everything [`compile`] can refuse, without building the applications and
/// their credential index (which cannot fail): the control plane's check.
pub fn check(s: &Snapshot) -> Result<(), CompileError> {
    compile_from(s, AppsFrom::Skip).map(drop)
}

enum AppsFrom<'a> {
    Build,
    Running(&'a CompiledSnapshot),
    Skip,
}

fn compile_from(s: &Snapshot, apps_from: AppsFrom) -> Result<CompiledSnapshot, CompileError> {
    let services: Vec<CompiledService> = s
        .services
        .iter()
        .map(|svc| {
            let u = &svc.upstream;
            let default_port = if u.tls { 443 } else { 80 };
            let host = if u.host.contains(':') {
                format!("[{}]", u.host)
            } else {
                u.host.clone()
            };
            let host_header = if u.port == default_port {
                host
            } else {
                format!("{host}:{}", u.port)
            };
            CompiledService {
                name: svc.name.as_str().into(),
                upstream: u.clone(),
                host_header: hv(&host_header),
                connect_timeout_ms: svc.connect_timeout_ms,
                read_timeout_ms: svc.read_timeout_ms,
                write_timeout_ms: svc.write_timeout_ms,
                balancer: svc.balancer.map(|u| u as u32),
                retries: svc.retries,
                tls: svc.tls.clone(),
            }
        })
        .collect();
    let routes = RouteTable::compile(s);
    let mut operations = Vec::new();
    let mut apis = Vec::new();
    let mut op_router = OperationRouter::default();
    let mut warnings: Vec<ConfigError> = s.warnings.clone();
    for (ai, api) in s.apis.iter().enumerate() {
        let start = operations.len() as u32;
        for (oi, op) in api.operations.iter().enumerate() {
            let id = operations.len() as u32;
            op_router.insert(op.host.as_deref(), &op.method, &op.path, id)?;
            if !carried(&routes, op) {
                warnings.push(ConfigError {
                    path: format!("apis[{ai}].operations[{oi}]"),
                    message: format!(
                        "operation {} {} ({}) is not carried by any route: such requests are answered 404 (no Route matched) before ACE runs",
                        op.method, op.path, op.id
                    ),
                });
            }
            operations.push(CompiledOperation {
                api: ai as u32,
                id: op.id.as_str().into(),
                id_header: hv(&op.id),
                method: op.method.as_str().into(),
                path: op.path.as_str().into(),
                host: op.host.as_deref().map(Into::into),
            });
        }
        apis.push(CompiledApi {
            name: api.name.as_str().into(),
            ops: start..operations.len() as u32,
        });
    }
    let packages = s
        .packages
        .iter()
        .map(|p| CompiledPackage {
            name: p.name.as_str().into(),
            name_header: hv(&p.name),
            limit: scoped(&p.limits, &["package", &p.name]),
            ops: p
                .operations
                .iter()
                .map(|o| {
                    let id = apis[o.api].ops.start + o.operation as u32;
                    let op = &operations[id as usize];
                    let over = scoped(
                        &o.limits,
                        &[
                            "operation",
                            &p.name,
                            &apis[o.api].name,
                            &op.method,
                            &op.path,
                            op.host.as_deref().unwrap_or(""),
                        ],
                    );
                    (id, over)
                })
                .collect(),
        })
        .collect();
    let (apps, credentials) = match apps_from {
        AppsFrom::Build => {
            let (apps, credentials) = crate::compile_apps::build(s);
            (Arc::new(apps), Arc::new(credentials))
        }
        AppsFrom::Running(prev) => crate::compile_apps::reuse(s, prev)?,
        AppsFrom::Skip => (Arc::default(), Arc::default()),
    };
    let ace_key_names = key_names(s);
    let consumers: Vec<CompiledConsumer> = s
        .consumers
        .iter()
        .map(|c| CompiledConsumer {
            username: c.username.as_str().into(),
            username_header: hv(&c.username),
            id_header: hv(&hex::encode(&Sha256::digest(c.username.as_bytes())[..16])),
            custom_id_header: c.custom_id.as_deref().map(hv),
            subject: stable_id(&["consumer", &c.username]),
            groups: c.groups.iter().map(|g| g.as_str().into()).collect(),
            groups_header: (!c.groups.is_empty()).then(|| hv(&c.groups.join(", "))),
        })
        .collect();
    let mut consumer_keys = Vec::new();
    let mut consumer_key_index = HashMap::new();
    for (ci, c) in s.consumers.iter().enumerate() {
        for k in &c.keys {
            let (subject, id) = identity(&Sha256::digest(k.as_bytes()).into());
            consumer_key_index.insert(k.as_bytes().into(), consumer_keys.len() as u32);
            consumer_keys.push(ConsumerKey {
                consumer: ci as u32,
                identifier: hv(&id),
                subject,
            });
        }
    }
    let (basic_creds, basic_index) = crate::compile_kong::basic_creds(s);
    let mut counters = vec![Counters::Local];
    let instances: Vec<Arc<PluginInstance>> = s
        .plugins
        .iter()
        .map(|p| Arc::new(instance(s, p, &mut counters)))
        .collect();
    let route_refs: Vec<RouteRef> = s
        .services
        .iter()
        .enumerate()
        .flat_map(|(si, svc)| {
            (0..svc.routes.len()).map(move |ri| RouteRef {
                service: si,
                route: ri,
            })
        })
        .collect();
    let chains = plugins::resolve_chains(&s.plugins, &instances, &route_refs);
    if !s.packages.is_empty()
        && !s
            .plugins
            .iter()
            .any(|p| matches!(p.config, PluginConfig::Ace(_)))
    {
        warnings.push(ConfigError {
            path: "plugins".into(),
            message:
                "api_packages are defined but no ace plugin is enabled: packages are not enforced"
                    .into(),
        });
    }
    let counts = Counts {
        services: services.len(),
        routes: routes.len(),
        apis: apis.len(),
        operations: operations.len(),
        api_packages: s.packages.len(),
        applications: apps.len(),
        credentials: credentials.len(),
    };
    let dir = Directory {
        apis,
        operations,
        op_router,
        packages,
        apps,
        credentials,
        apps_key: s.applications_key,
        ace_key_names,
        consumers,
        consumer_keys,
        consumer_key_index,
        basic_creds,
        basic_index,
        counters,
        service_subjects: s
            .services
            .iter()
            .map(|svc| stable_id(&["service", &svc.name]))
            .collect(),
    };
    Ok(CompiledSnapshot {
        hash: s.hash.clone(),
        services,
        routes,
        chains,
        dir,
        upstreams: s.upstreams.clone(),
        certificates: s.certificates.clone(),
        tags: crate::snapshot::tag_index(&s.tags),
        counts,
        warnings,
    })
}

/// Index of `c` in `list`, adding it when new: plugins sharing a Redis share its connection.
fn counters_index(list: &mut Vec<Counters>, c: Counters) -> u32 {
    match list.iter().position(|x| *x == c) {
        Some(i) => i as u32,
        None => {
            list.push(c);
            (list.len() - 1) as u32
        }
    }
}

/// Would any route carry a request for this operation?
fn carried(routes: &RouteTable, op: &tollgate_config::OperationSpec) -> bool {
    let sample = tollgate_config::sample_path(&op.path);
    let Ok(method) = http::Method::from_bytes(op.method.as_bytes()) else {
        return false;
    };
    routes.carries(&method, op.host.as_deref(), &sample)
}

fn key_names(s: &Snapshot) -> Vec<KeyName> {
    let mut out: Vec<KeyName> = Vec::new();
    for (si, st) in s.auth_strategies.iter().enumerate() {
        for n in &st.key_names {
            match out.iter_mut().find(|k| &*k.query == n.as_str()) {
                Some(k) => k.strategies.push(si as u32),
                None => out.push(KeyName {
                    header: HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).ok(),
                    query: n.as_str().into(),
                    strategies: vec![si as u32],
                }),
            }
        }
    }
    out
}

fn plugin_key_names(names: &[String]) -> Vec<KeyName> {
    names
        .iter()
        .map(|n| KeyName {
            header: HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).ok(),
            query: n.as_str().into(),
            strategies: vec![],
        })
        .collect()
}

fn instance(
    s: &Snapshot,
    p: &tollgate_config::PluginSpec,
    counters: &mut Vec<Counters>,
) -> PluginInstance {
    let consumer_idx = |name: &Option<String>| {
        name.as_ref()
            .and_then(|n| s.consumers.iter().position(|c| &c.username == n))
            .map(|i| i as u32)
    };
    if let Some(kong) = crate::compile_kong::instance(&p.config, consumer_idx) {
        return kong;
    }
    match &p.config {
        PluginConfig::KeyAuth(c) => PluginInstance::KeyAuth(plugins::KeyAuth {
            names: plugin_key_names(&c.key_names),
            in_header: c.key_in_header,
            in_query: c.key_in_query,
            hide_credentials: c.hide_credentials,
            anonymous: consumer_idx(&c.anonymous),
            run_on_preflight: c.run_on_preflight,
            www_authenticate: match &c.realm {
                Some(r) => hv(&format!("Key realm=\"{r}\"")),
                None => HeaderValue::from_static("Key"),
            },
        }),
        PluginConfig::Ace(c) => {
            let which = match &c.rate_limiting {
                Some(rl) if rl.strategy == tollgate_config::plugins::Strategy::Lease => {
                    Counters::Lease {
                        redis: rl.redis.clone().unwrap_or_default(),
                    }
                }
                Some(rl) => match rl.sync_rate {
                    Some(sync_rate) => Counters::Redis {
                        redis: rl.redis.clone().unwrap_or_default(),
                        sync_rate,
                    },
                    None => Counters::Local,
                },
                None => Counters::Local,
            };
            PluginInstance::Ace(plugins::Ace {
                policy: c.match_policy,
                anonymous: consumer_idx(&c.anonymous),
                counters: counters_index(counters, which),
                hide_credentials: c.hide_credentials,
                shadow: c.mode == tollgate_config::plugins::AceMode::Shadow,
                shadow_header: c.shadow_header,
            })
        }
        PluginConfig::RateLimiting(c) => {
            let windows = [
                (c.second, tollgate_config::Unit::Seconds),
                (c.minute, tollgate_config::Unit::Minutes),
                (c.hour, tollgate_config::Unit::Hours),
                (c.day, tollgate_config::Unit::Days),
                (c.month, tollgate_config::Unit::Months),
                (c.year, tollgate_config::Unit::Years),
            ]
            .into_iter()
            .filter_map(|(v, unit)| v.map(|limit| tollgate_config::Window { limit, unit }))
            .collect();
            let service = p.service.map(|i| s.services[i].name.as_str()).unwrap_or("");
            let route = p
                .route
                .map(|r| s.services[r.service].routes[r.route].name.as_str())
                .unwrap_or("");
            let consumer = p
                .consumer
                .map(|i| s.consumers[i].username.as_str())
                .unwrap_or("");
            PluginInstance::RateLimiting(plugins::RateLimiting {
                limit: CompiledLimit::new(&Limits { windows }),
                limit_by: c.limit_by,
                scope: stable_id(&["rate-limiting", service, route, consumer]),
                hide_client_headers: c.hide_client_headers,
                header: c
                    .header_name
                    .as_deref()
                    .and_then(|h| HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok()),
                path: c
                    .path
                    .as_deref()
                    .map(|p| (p.into(), stable_id(&["path", p]))),
                fault_tolerant: c.fault_tolerant,
                error: Reply::message(c.error_code, &c.error_message),
                counters: match c.policy {
                    // Cluster is refused by validation.
                    tollgate_config::plugins::Policy::Local
                    | tollgate_config::plugins::Policy::Cluster => 0,
                    // Kong's redis policy counts in Redis on every request.
                    tollgate_config::plugins::Policy::Redis => counters_index(
                        counters,
                        Counters::Redis {
                            redis: c.redis.clone().unwrap_or_default(),
                            sync_rate: 0.0,
                        },
                    ),
                },
            })
        }
        PluginConfig::RequestTermination(c) => {
            let reply = match (&c.body, &c.message) {
                (Some(body), _) => Reply {
                    status: c.status_code,
                    body: Bytes::from(body.clone()),
                    content_type: hv(c
                        .content_type
                        .as_deref()
                        .unwrap_or("text/plain; charset=utf-8")),
                    headers: vec![],
                },
                (None, msg) => Reply::message(
                    c.status_code,
                    msg.as_deref().unwrap_or(default_reason(c.status_code)),
                ),
            };
            PluginInstance::RequestTermination(plugins::RequestTermination {
                status: c.status_code,
                reply,
            })
        }
        // Built by `compile_kong::instance` above.
        PluginConfig::BasicAuth(_)
        | PluginConfig::Acl(_)
        | PluginConfig::Cors(_)
        | PluginConfig::Prometheus(_) => PluginInstance::Prometheus(plugins::Prometheus),
    }
}

fn default_reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Request terminated")
}
