//! `acl` (priority 950): admits or refuses the identified consumer by its
//! groups (Kong's `acls`), with Kong's statuses: no consumer, or a consumer
//! without groups under an allow list, is 401 unless a credential was
//! authenticated (then 403); a refused group is 403.

use super::{Access, AccessCx, Plugin};
use crate::request::{Flow, Reply};

#[derive(Debug)]
pub struct Acl {
    /// `deny` list (else `allow`).
    pub deny: bool,
    pub groups: Vec<Box<str>>,
    pub hide_groups_header: bool,
}

const FORBIDDEN: &str = r#"{"message":"You cannot consume this service"}"#;
const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;

impl Plugin for Acl {
    const NAME: &'static str = "acl";
    const PRIORITY: i32 = 950;

    fn access(&self, cx: &mut AccessCx<'_>) -> Access {
        let id = cx.state.identity;
        let refuse = |credential: bool| {
            Access::Done(Flow::Respond(if credential {
                Reply::static_json(403, FORBIDDEN)
            } else {
                Reply::static_json(401, UNAUTHORIZED)
            }))
        };
        let Some(c) = id.consumer else {
            return refuse(id.has_credential() || cx.state.ace.is_some());
        };
        let groups = &cx.dir.consumers[c as usize].groups;
        if groups.is_empty() && !self.deny {
            return refuse(id.has_credential() || cx.state.ace.is_some());
        }
        let member = groups.iter().any(|g| self.groups.contains(g));
        if member == self.deny {
            return Access::Done(Flow::Respond(Reply::static_json(403, FORBIDDEN)));
        }
        if !self.hide_groups_header && !groups.is_empty() {
            cx.state.send_groups = true;
        }
        Access::Done(Flow::Continue)
    }
}
