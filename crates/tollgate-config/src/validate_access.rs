//! Validation of the ACE side of a snapshot: APIs and their operations
//! (spec import merged with manual operations), auth strategies, packages
//! and applications with their credentials and ordered registrations.

use crate::limits::parse_limits;
use crate::model;
use crate::operations::{canonical_key, check_host, check_method, check_template};
use crate::raw::RawSnapshot;
use crate::resolved::*;
use crate::validate_ctx::{index_names, Ctx};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

pub(crate) struct Access {
    pub apis: Vec<ApiSpec>,
    pub strategies: Vec<StrategySpec>,
    pub packages: Vec<PackageSpec>,
    pub applications: Vec<ApplicationSpec>,
}

use crate::validate_api::OpIndex;

pub(crate) fn validate(
    ctx: &mut Ctx,
    raw: &RawSnapshot,
    consumers: &HashMap<String, usize>,
) -> Access {
    let api_names = index_names(
        ctx,
        "apis",
        "name",
        raw.apis.iter().map(|(i, a)| (*i, a.name.as_str())),
    );
    let mut apis = Vec::with_capacity(raw.apis.len());
    let mut op_indexes = Vec::with_capacity(raw.apis.len());
    let mut router = crate::router_check::RouterCheck::default();
    for (i, a) in &raw.apis {
        let (api, index) = crate::validate_api::api(ctx, *i, a, &mut router);
        apis.push(api);
        op_indexes.push(index);
    }
    let strategy_names = index_names(
        ctx,
        "auth_strategies",
        "name",
        raw.auth_strategies
            .iter()
            .map(|(i, s)| (*i, s.name.as_str())),
    );
    let strategies: Vec<StrategySpec> = raw
        .auth_strategies
        .iter()
        .map(|(i, s)| {
            if s.kind != "key_auth" {
                ctx.err(
                    format!("auth_strategies[{i}].type"),
                    format!("unsupported type {:?}; expected key_auth", s.kind),
                );
            }
            if s.key_names.is_empty() || s.key_names.iter().any(|k| k.trim().is_empty()) {
                ctx.err(
                    format!("auth_strategies[{i}].key_names"),
                    "needs at least one non-empty name",
                );
            }
            if s.ttl.as_ref().is_some_and(|t| t.value == 0) {
                ctx.err(
                    format!("auth_strategies[{i}].ttl.value"),
                    "must be at least 1",
                );
            }
            StrategySpec {
                name: s.name.clone(),
                key_names: s.key_names.clone(),
                ttl_s: s.ttl.as_ref().map(model::KeyTtl::seconds),
            }
        })
        .collect();
    let package_names = index_names(
        ctx,
        "api_packages",
        "name",
        raw.api_packages.iter().map(|(i, p)| (*i, p.name.as_str())),
    );
    let packages = raw
        .api_packages
        .iter()
        .map(|(i, p)| package(ctx, *i, p, &api_names, &apis, &op_indexes))
        .collect();
    if raw.applications_unchanged {
        // Same section, same names: validated before with this result.
        return Access {
            apis,
            strategies,
            packages,
            applications: Vec::new(),
        };
    }
    index_names(
        ctx,
        "applications",
        "name",
        raw.applications.iter().map(|(i, a)| (*i, a.name.as_str())),
    );
    let strategy_ttls: Vec<Option<u64>> = strategies.iter().map(|s| s.ttl_s).collect();
    let names = Names {
        apis: &api_names,
        packages: &package_names,
        strategies: &strategy_names,
        strategy_ttls: &strategy_ttls,
        consumers,
    };
    let mut seen_creds: HashMap<[u8; 32], usize> = HashMap::new();
    let applications = raw
        .applications
        .iter()
        .map(|(i, a)| application(ctx, *i, a, &names, &mut seen_creds))
        .collect();
    Access {
        apis,
        strategies,
        packages,
        applications,
    }
}

fn limits(ctx: &mut Ctx, at: &str, v: Option<&serde_yaml::Value>) -> Option<crate::limits::Limits> {
    let v = v?;
    match parse_limits(v) {
        Ok(l) => l,
        Err(errs) => {
            for (p, m) in errs {
                let loc = match (p.is_empty(), p.starts_with('[')) {
                    (true, _) => at.to_string(),
                    (false, true) => format!("{at}{p}"),
                    (false, false) => format!("{at}.{p}"),
                };
                ctx.err(loc, m);
            }
            None
        }
    }
}

fn package(
    ctx: &mut Ctx,
    i: usize,
    p: &model::ApiPackage,
    api_names: &HashMap<String, usize>,
    apis: &[ApiSpec],
    op_indexes: &[OpIndex],
) -> PackageSpec {
    let at = format!("api_packages[{i}]");
    let pkg_limits = limits(
        ctx,
        &format!("{at}.rate_limiting_config"),
        p.rate_limiting_config.as_ref(),
    );
    let mut ops = Vec::with_capacity(p.operations.len());
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    for (k, o) in p.operations.iter().enumerate() {
        let oat = format!("{at}.operations[{k}]");
        let op_limits = limits(
            ctx,
            &format!("{oat}.rate_limiting_config"),
            o.rate_limiting_config.as_ref(),
        );
        let Some(api) = ctx.resolve(api_names, &o.api, "api", format!("{oat}.api")) else {
            continue;
        };
        let method = match check_method(&o.method) {
            Ok(m) => m,
            Err(e) => {
                ctx.err(format!("{oat}.method"), e);
                continue;
            }
        };
        let path = match check_template(&o.path) {
            Ok(p) => p,
            Err(e) => {
                ctx.err(format!("{oat}.path"), e);
                continue;
            }
        };
        let key = canonical_key(&path);
        let host = match o.host.as_deref().map(|h| check_host(h, false)).transpose() {
            Ok(h) => h,
            Err(e) => {
                ctx.err(format!("{oat}.host"), e);
                continue;
            }
        };
        // The operation with exactly this host (or none); without a host,
        // else the only hosted one. The scan is for that last case only: a
        // thousand packages over APIs of hundreds of operations each.
        let wanted = (method, key, host);
        let exact = op_indexes[api].get(&wanted).copied();
        let (method, key, host) = wanted;
        let mut hosted: Vec<usize> = match (exact, &host) {
            (None, None) => op_indexes[api]
                .iter()
                .filter(|((m, p, _), _)| *m == method && *p == key)
                .map(|(_, &idx)| idx)
                .collect(),
            _ => Vec::new(),
        };
        hosted.sort_unstable();
        let found = match (exact, hosted.as_slice()) {
            (Some(idx), _) => Some(idx),
            (None, []) => None,
            (None, [idx]) => Some(*idx),
            _ => {
                ctx.err(
                    &oat,
                    format!(
                        "api {:?} has {method} {} for several hosts; name one with `host`",
                        apis[api].name, o.path
                    ),
                );
                continue;
            }
        };
        let Some(operation) = found else {
            if !ctx.broken.contains(&apis[api].name) {
                let hint = crate::hints::servers_prefix(&apis[api], &method, &o.path);
                ctx.err(
                    &oat,
                    format!(
                        "api {:?} has no operation {method} {}{hint}",
                        apis[api].name, o.path
                    ),
                );
            }
            continue;
        };
        if !seen.insert((api, operation)) {
            ctx.err(
                &oat,
                format!(
                    "operation {method} {} of api {:?} is listed twice",
                    o.path, o.api
                ),
            );
            continue;
        }
        ops.push(PackageOpSpec {
            api,
            operation,
            limits: op_limits,
        });
    }
    PackageSpec {
        name: p.name.clone(),
        description: p.description.clone(),
        limits: pkg_limits,
        operations: ops,
    }
}

struct Names<'a> {
    apis: &'a HashMap<String, usize>,
    packages: &'a HashMap<String, usize>,
    strategies: &'a HashMap<String, usize>,
    /// Per strategy, its key ttl in seconds.
    strategy_ttls: &'a [Option<u64>],
    consumers: &'a HashMap<String, usize>,
}

fn application(
    ctx: &mut Ctx,
    i: usize,
    a: &model::Application,
    names: &Names,
    seen: &mut HashMap<[u8; 32], usize>,
) -> ApplicationSpec {
    let at = format!("applications[{i}]");
    let strategy = ctx
        .resolve(
            names.strategies,
            &a.auth_strategy,
            "auth strategy",
            format!("{at}.auth_strategy"),
        )
        .unwrap_or(0);
    let consumer = a
        .consumer
        .as_ref()
        .and_then(|c| ctx.resolve(names.consumers, c, "consumer", format!("{at}.consumer")));
    let mut credentials = Vec::with_capacity(a.credentials.len());
    for (k, c) in a.credentials.iter().enumerate() {
        // Locations are formatted only on error: a snapshot may carry millions of credentials.
        let cat = || format!("{at}.credentials[{k}]");
        let hash = match (&c.key, &c.key_sha256) {
            (Some(key), None) if !key.is_empty() => {
                let d: [u8; 32] = Sha256::digest(key.as_bytes()).into();
                d
            }
            (Some(_), None) => {
                ctx.err(format!("{}.key", cat()), "must not be empty");
                continue;
            }
            (None, Some(h)) => match hex::decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            {
                Some(d) => d,
                None => {
                    ctx.err(
                        format!("{}.key_sha256", cat()),
                        "must be 64 hex characters (a SHA-256 digest)",
                    );
                    continue;
                }
            },
            _ => {
                ctx.err(cat(), "set exactly one of key or key_sha256");
                continue;
            }
        };
        match seen.entry(hash) {
            std::collections::hash_map::Entry::Occupied(other) => {
                let other = *other.get();
                ctx.err(
                    cat(),
                    format!("this credential is already used by applications[{other}]"),
                );
                continue;
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
        let ttl = names.strategy_ttls.get(strategy).copied().flatten();
        let expires_at = match (ttl, c.created_at) {
            (Some(ttl), Some(created)) => Some(created.saturating_add(ttl)),
            (Some(_), None) => {
                ctx.err(
                    format!("{}.created_at", cat()),
                    "the auth strategy sets a key ttl: give the credential's creation time (Unix seconds) so it can expire",
                );
                continue;
            }
            (None, _) => None,
        };
        credentials.push(CredentialSpec {
            sha256: hash,
            plain: c.key.clone(),
            expires_at,
        });
    }
    let mut registrations = Vec::with_capacity(a.registrations.len());
    for (k, r) in a.registrations.iter().enumerate() {
        let rat = format!("{at}.registrations[{k}]");
        let grant = match (&r.api_package, &r.api) {
            (Some(p), None) => ctx
                .resolve(
                    names.packages,
                    p,
                    "api package",
                    format!("{rat}.api_package"),
                )
                .map(Grant::Package),
            (None, Some(api)) => ctx
                .resolve(names.apis, api, "api", format!("{rat}.api"))
                .map(Grant::Api),
            _ => {
                ctx.err(&rat, "set exactly one of api_package or api");
                None
            }
        };
        if let Some(grant) = grant {
            if registrations
                .iter()
                .any(|x: &RegistrationSpec| x.grant == grant)
            {
                ctx.err(&rat, "registered twice to the same target");
                continue;
            }
            registrations.push(RegistrationSpec {
                grant,
                status: r.status,
            });
        }
    }
    ApplicationSpec {
        name: a.name.clone(),
        strategy,
        consumer,
        credentials,
        registrations,
    }
}
