//! `prometheus` (priority 13): accepted for Kong compatibility. tollgate's
//! metrics are always exported on the admin listener's `/metrics`, so the
//! plugin has nothing to do per request.

use super::{Access, AccessCx, Plugin};
use crate::request::Flow;

#[derive(Debug)]
pub struct Prometheus;

impl Plugin for Prometheus {
    const NAME: &'static str = "prometheus";
    const PRIORITY: i32 = 13;

    fn access(&self, _cx: &mut AccessCx<'_>) -> Access {
        Access::Done(Flow::Continue)
    }
}
