//! Other real processes the tests start: a `redis-server`, and `tollgate push`.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` on a loopback port without persistence, killed on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    pub fn start(port: u16, password: Option<&str>) -> Redis {
        match password {
            Some(p) => Self::start_with(port, &["--requirepass", p]),
            None => Self::start_with(port, &[]),
        }
    }

    /// A server with extra arguments (a replica, a cluster node, or, with a
    /// config file first and `--sentinel`, a Sentinel).
    pub fn start_with(port: u16, extra: &[&str]) -> Redis {
        let mut cmd = Command::new("redis-server");
        let sentinel = extra.contains(&"--sentinel");
        if sentinel {
            cmd.args(extra);
        }
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
        if !sentinel {
            cmd.args(["--save", "", "--appendonly", "no"]).args(extra);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port }
    }

    /// Sends one command and returns the raw reply (enough for `INFO`).
    pub fn command(&self, args: &[&str]) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("redis");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).expect("send");
        s.set_read_timeout(Some(Duration::from_millis(300))).ok();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Script calls so far (`EVAL` + `EVALSHA`), from `INFO commandstats`.
    pub fn script_calls(&self) -> u64 {
        self.command(&["INFO", "commandstats"])
            .lines()
            .filter(|l| l.starts_with("cmdstat_eval:") || l.starts_with("cmdstat_evalsha:"))
            .filter_map(|l| l.split("calls=").nth(1))
            .filter_map(|v| v.split(',').next())
            .filter_map(|v| v.parse::<u64>().ok())
            .sum()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `tollgate push FILE --to URL EXTRA...` without a token from the environment.
pub fn push(file: &Path, to: &str, extra: &[&str]) -> Output {
    Command::new(super::BIN)
        .arg("push")
        .arg(file)
        .args(["--to", to])
        .args(extra)
        .env_remove("TOLLGATE_TOKEN")
        .output()
        .expect("push")
}
