//! `request-termination` (priority 2): answers every request it applies to
//! with a fixed response, typically scoped to a consumer (e.g. anonymous).

use super::{Access, AccessCx, Plugin};
use crate::request::{Flow, Reply};

#[derive(Debug)]
pub struct RequestTermination {
    pub status: u16,
    pub reply: Reply,
}

impl Plugin for RequestTermination {
    const NAME: &'static str = "request-termination";
    const PRIORITY: i32 = 2;

    fn access(&self, _cx: &mut AccessCx<'_>) -> Access {
        Access::Done(Flow::Respond(self.reply.clone()))
    }
}
