//! Runtime knobs of the proxy that Pingora leaves at its defaults and an
//! operator may want to choose: how worker threads share work, how many
//! idle upstream connections are kept, how many tasks accept connections.

use pingora::server::configuration::ServerConf;

/// What `run` passes to Pingora's server configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// One work-stealing runtime for all proxy threads (true), or one
    /// single-threaded runtime per thread, connections spread among them (false).
    pub work_stealing: bool,
    /// Idle upstream connections kept for reuse, over all upstreams.
    pub upstream_keepalive_pool: usize,
    /// Tasks accepting connections on the proxy listener.
    pub listener_tasks: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        let conf = ServerConf::default();
        Tuning {
            work_stealing: conf.work_stealing,
            upstream_keepalive_pool: conf.upstream_keepalive_pool_size,
            listener_tasks: conf.listener_tasks_per_fd,
        }
    }
}

impl Tuning {
    pub fn apply(&self, conf: &mut ServerConf) {
        conf.work_stealing = self.work_stealing;
        conf.upstream_keepalive_pool_size = self.upstream_keepalive_pool.max(1);
        conf.listener_tasks_per_fd = self.listener_tasks.max(1);
    }
}
