//! `key-auth` (priority 1250): identifies a consumer by one of its keys.
//!
//! Kong's multi-auth rule: with `anonymous` set, a request another auth
//! plugin already authenticated is left alone (logical OR) and a failure
//! continues as the anonymous consumer; without it, a failure is a 401 even
//! when another plugin succeeded (logical AND).

use super::{Access, AccessCx, Plugin};
use crate::credentials::{find_key, Found, KeyName, KeySource};
use crate::request::{Flow, Hidden, Identity, Reply};
use http::HeaderValue;

#[derive(Debug)]
pub struct KeyAuth {
    pub names: Vec<KeyName>,
    pub in_header: bool,
    pub in_query: bool,
    pub hide_credentials: bool,
    /// Consumer index to continue as when no valid key is presented.
    pub anonymous: Option<u32>,
    /// `false`: `OPTIONS` requests pass unauthenticated.
    pub run_on_preflight: bool,
    /// `WWW-Authenticate` on every 401: `Key` or `Key realm="..."`.
    pub www_authenticate: HeaderValue,
}

impl KeyAuth {
    fn fail(&self, cx: &mut AccessCx<'_>, body: &'static str) -> Flow {
        match self.anonymous {
            Some(c) => {
                cx.state.identity = Identity::anonymous(c);
                Flow::Continue
            }
            None => {
                let mut r = Reply::static_json(401, body);
                r.headers.push((
                    http::header::WWW_AUTHENTICATE,
                    self.www_authenticate.clone(),
                ));
                Flow::Respond(r)
            }
        }
    }
}

impl Plugin for KeyAuth {
    const NAME: &'static str = "key-auth";
    const PRIORITY: i32 = 1250;

    fn access(&self, cx: &mut AccessCx<'_>) -> Access {
        if !self.run_on_preflight && cx.req.method == http::Method::OPTIONS {
            return Access::Done(Flow::Continue);
        }
        if self.anonymous.is_some() && cx.state.identity.has_credential() {
            return Access::Done(Flow::Continue);
        }
        Access::Done(self.authenticate(cx))
    }
}

impl KeyAuth {
    fn authenticate(&self, cx: &mut AccessCx<'_>) -> Flow {
        let req = cx.req;
        let found = find_key(
            &self.names,
            req.headers,
            req.query,
            self.in_header,
            self.in_query,
        );
        let (key, source) = match found {
            Found::None => return self.fail(cx, r#"{"message":"No API key found in request"}"#),
            Found::Duplicate => return self.fail(cx, r#"{"message":"Duplicate API key found"}"#),
            Found::Key(k, s) => (k, s),
        };
        let Some(&ck) = cx.dir.consumer_key_index.get(key.as_ref()) else {
            return self.fail(cx, r#"{"message":"Unauthorized"}"#);
        };
        if self.hide_credentials {
            cx.state.hidden.push(match source {
                KeySource::Header(i) => match &self.names[i].header {
                    Some(h) => Hidden::Header(h.clone()),
                    None => Hidden::Query(self.names[i].query.clone()),
                },
                KeySource::Query(i) => Hidden::Query(self.names[i].query.clone()),
            });
        }
        cx.state.identity = Identity {
            consumer: Some(cx.dir.consumer_keys[ck as usize].consumer),
            anonymous: false,
            keyauth_credential: Some(ck),
            basic_credential: None,
        };
        Flow::Continue
    }
}
