//! `key-auth` (priority 1250): identifies a consumer by one of its keys.

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
}

impl KeyAuth {
    fn fail(&self, cx: &mut AccessCx<'_>, reply: Reply) -> Flow {
        match self.anonymous {
            Some(c) => {
                cx.state.identity = Identity {
                    consumer: Some(c),
                    anonymous: true,
                    keyauth_credential: None,
                };
                Flow::Continue
            }
            None => Flow::Respond(reply),
        }
    }
}

fn no_key() -> Reply {
    let mut r = Reply::static_json(401, r#"{"message":"No API key found in request"}"#);
    r.headers.push((
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Key realm=\"tollgate\""),
    ));
    r
}

impl Plugin for KeyAuth {
    const NAME: &'static str = "key-auth";
    const PRIORITY: i32 = 1250;

    fn access(&self, cx: &mut AccessCx<'_>) -> Access {
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
            Found::None => return self.fail(cx, no_key()),
            Found::Duplicate => {
                return self.fail(
                    cx,
                    Reply::static_json(401, r#"{"message":"Duplicate API key found"}"#),
                )
            }
            Found::Key(k, s) => (k, s),
        };
        let Some(&ck) = cx.snap.consumer_key_index.get(key.as_ref()) else {
            return self.fail(
                cx,
                Reply::static_json(401, r#"{"message":"Invalid authentication credentials"}"#),
            );
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
            consumer: Some(cx.snap.consumer_keys[ck as usize].consumer),
            anonymous: false,
            keyauth_credential: Some(ck),
        };
        Flow::Continue
    }
}
