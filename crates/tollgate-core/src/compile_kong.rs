//! Compiling the Kong plugins beside ACE (`basic-auth`, `acl`, `cors`,
//! `prometheus`) and the basic-auth credential index.

use crate::plugins::cors::{normalize_origin, OriginRule, Origins};
use crate::plugins::{self, PluginInstance};
use crate::snapshot::BasicCred;
use http::HeaderValue;
use std::collections::HashMap;
use tollgate_config::plugin_configs::CorsConfig;
use tollgate_config::plugins::PluginConfig;
use tollgate_config::Snapshot;

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The instance of a Kong plugin; `None` for the plugins `compile` builds itself.
pub(crate) fn instance(
    config: &PluginConfig,
    consumer_idx: impl Fn(&Option<String>) -> Option<u32>,
) -> Option<PluginInstance> {
    Some(match config {
        PluginConfig::BasicAuth(c) => PluginInstance::BasicAuth(plugins::BasicAuth {
            hide_credentials: c.hide_credentials,
            anonymous: consumer_idx(&c.anonymous),
            www_authenticate: hv(&format!("Basic realm=\"{}\"", c.realm)),
        }),
        PluginConfig::Acl(c) => {
            let deny = c.deny.as_ref().is_some_and(|d| !d.is_empty());
            let groups = if deny { &c.deny } else { &c.allow };
            PluginInstance::Acl(plugins::Acl {
                deny,
                groups: groups.iter().flatten().map(|g| g.as_str().into()).collect(),
                hide_groups_header: c.hide_groups_header,
            })
        }
        PluginConfig::Cors(c) => PluginInstance::Cors(cors(c)),
        PluginConfig::Prometheus(_) => PluginInstance::Prometheus(plugins::Prometheus),
        _ => return None,
    })
}

fn joined(list: &[String]) -> Option<HeaderValue> {
    (!list.is_empty()).then(|| hv(&list.join(",")))
}

fn cors(c: &CorsConfig) -> plugins::Cors {
    use tollgate_config::validate_plugins_kong::{anchored, is_plain_origin};
    let origins = match c.origins.as_slice() {
        [] => Origins::All,
        [one] if one == "*" => Origins::All,
        [one] if is_plain_origin(one) => Origins::Fixed(hv(one)),
        list => Origins::List(
            list.iter()
                .filter_map(|o| {
                    if o == "*" {
                        Some(OriginRule::Any)
                    } else if is_plain_origin(o) {
                        Some(OriginRule::Exact(normalize_origin(o).0))
                    } else {
                        // Validation compiled it already; an invalid one matches nothing.
                        regex::Regex::new(&anchored(o))
                            .ok()
                            .map(|re| OriginRule::Regex {
                                re,
                                by_host: !o.contains(':'),
                            })
                    }
                })
                .collect(),
        ),
    };
    plugins::Cors {
        origins,
        credentials: c.credentials,
        allow_headers: joined(&c.headers),
        expose_headers: joined(&c.exposed_headers),
        methods: hv(&c.methods.join(",")),
        max_age: c.max_age.map(HeaderValue::from),
        private_network: c.private_network,
        preflight_continue: c.preflight_continue,
        allow_origin_absent: c.allow_origin_absent,
    }
}

/// Every basic-auth credential, and the index by username.
pub(crate) fn basic_creds(s: &Snapshot) -> (Vec<BasicCred>, HashMap<Box<str>, u32>) {
    let mut creds = Vec::new();
    let mut index = HashMap::new();
    for (ci, c) in s.consumers.iter().enumerate() {
        for b in &c.basic {
            index.insert(b.username.as_str().into(), creds.len() as u32);
            creds.push(BasicCred {
                consumer: ci as u32,
                secret: b.secret.clone(),
                identifier: hv(&b.username),
                subject: crate::compile::stable_id(&["basic-auth", &b.username]),
                bcrypt_ok: std::sync::Mutex::new(Vec::new()),
            });
        }
    }
    (creds, index)
}
