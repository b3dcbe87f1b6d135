//! Graceful shutdown and zero-downtime upgrade through real processes: a
//! request in flight at SIGTERM is answered, the grace period bounds the
//! wait, and a new process takes the listening sockets over from a running
//! one under load without a failed request.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Gateway, BIN};

/// An upstream answering `GET /sleep/MS` after MS milliseconds (any other
/// path at once), one thread per connection, keep-alive.
fn slow_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve_slow(conn));
        }
    });
    addr
}

fn serve_slow(conn: TcpStream) {
    let mut out = match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
        }
        if let Some(ms) = path.strip_prefix("/sleep/") {
            let ms: u64 = ms.parse().unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms));
        }
        let body = "done";
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn snapshot(up: SocketAddr) -> String {
    format!(
        r#"_format_version: "3.0"
services:
  - name: up
    url: http://{up}
    routes: [{{ name: all, paths: [/], strip_path: false }}]
"#
    )
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} failed");
}

/// Waits for the process to exit; how long it took, or None past `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// How a request went on the wire.
#[derive(Debug)]
enum Outcome {
    /// A complete 200; whether the server asked to close the connection.
    Ok {
        close: bool,
    },
    /// The connection closed before a single response byte: a kept-alive
    /// connection the server closed while idle (RFC 9112 §9.3.1 lets the
    /// client retry such a request).
    ClosedUnanswered,
    Failed(String),
}

/// One GET on `conn`, reading a content-length framed response.
fn exchange(conn: &mut TcpStream, path: &str) -> Outcome {
    let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
    if let Err(e) = conn.write_all(req.as_bytes()) {
        return match e.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                Outcome::ClosedUnanswered
            }
            _ => Outcome::Failed(format!("write: {e}")),
        };
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) if buf.is_empty() => return Outcome::ClosedUnanswered,
            Ok(0) => return Outcome::Failed("closed mid-head".into()),
            Err(e) => return Outcome::Failed(format!("read: {e}")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        return Outcome::Failed(head.lines().next().unwrap_or("").to_string());
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match conn.read(&mut chunk) {
            Ok(0) => return Outcome::Failed("closed mid-body".into()),
            Err(e) => return Outcome::Failed(format!("read body: {e}")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Outcome::Ok {
        close: head.contains("connection: close"),
    }
}

fn connect(addr: &str) -> Result<TcpStream, String> {
    let c = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(Duration::from_secs(10))).ok();
    c.set_nodelay(true).ok();
    Ok(c)
}

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    retried: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

/// Sends requests until `stop`: on one kept-alive connection at a time
/// (`keepalive`) or on a new connection for each request.
fn hammer(addr: String, keepalive: bool, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        let reused = conn.is_some();
        let mut c = match conn.take() {
            Some(c) => c,
            None => match connect(&addr) {
                Ok(c) => c,
                Err(e) => {
                    tally.failures.lock().expect("tally").push(e);
                    continue;
                }
            },
        };
        match exchange(&mut c, "/hammer") {
            Outcome::Ok { close } => {
                tally.ok.fetch_add(1, Ordering::Relaxed);
                if keepalive && !close {
                    conn = Some(c);
                }
            }
            Outcome::ClosedUnanswered if reused => {
                tally.retried.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::ClosedUnanswered => tally
                .failures
                .lock()
                .expect("tally")
                .push("new connection closed unanswered".into()),
            Outcome::Failed(e) => tally.failures.lock().expect("tally").push(e),
        }
    }
}

#[test]
fn sigterm_answers_the_request_in_flight_then_exits_without_waiting_the_grace() {
    let up = slow_upstream();
    let mut gw = Gateway::start_with(&snapshot(up), &["--shutdown-grace", "20"]);
    let addr = gw.proxy.clone();
    let inflight = std::thread::spawn(move || {
        let mut c = connect(&addr).expect("connect");
        exchange(&mut c, "/sleep/1500")
    });
    std::thread::sleep(Duration::from_millis(400));
    signal(&gw.child, "-TERM");
    let outcome = inflight.join().expect("client thread");
    assert!(
        matches!(outcome, Outcome::Ok { .. }),
        "in-flight request: {outcome:?}\n{}",
        gw.log()
    );
    // Early exit once drained: far below the 20 s grace.
    let took = wait_exit(&mut gw.child, Duration::from_secs(10));
    assert!(took.is_some(), "still running after drain:\n{}", gw.log());
    assert!(gw.log().contains("drained: exiting"), "{}", gw.log());
}

#[test]
fn the_grace_period_bounds_the_drain() {
    let up = slow_upstream();
    let mut gw = Gateway::start_with(&snapshot(up), &["--shutdown-grace", "1"]);
    let addr = gw.proxy.clone();
    let stuck = std::thread::spawn(move || {
        let mut c = connect(&addr).expect("connect");
        exchange(&mut c, "/sleep/30000")
    });
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&gw.child, "-TERM");
    // 1 s grace + Pingora's 2 s runtime shutdown, with slack for a loaded machine.
    let took = wait_exit(&mut gw.child, Duration::from_secs(8));
    assert!(
        took.is_some(),
        "did not exit within the grace:\n{}",
        gw.log()
    );
    assert!(
        sent.elapsed() >= Duration::from_secs(1),
        "exited before the grace"
    );
    assert!(matches!(
        stuck.join().expect("thread"),
        Outcome::ClosedUnanswered | Outcome::Failed(_)
    ));
}

#[test]
fn upgrade_under_load_fails_no_request() {
    let up = slow_upstream();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("upgrade.sock");
    let sock_arg = sock.display().to_string();
    let mut old = Gateway::start_with(
        &snapshot(up),
        &["--upgrade-sock", &sock_arg, "--shutdown-grace", "10"],
    );

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = [true, true, false, false]
        .into_iter()
        .map(|keepalive| {
            let (addr, stop, tally) = (old.proxy.clone(), stop.clone(), tally.clone());
            std::thread::spawn(move || hammer(addr, keepalive, stop, tally))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = tally.ok.load(Ordering::Relaxed);

    let new_log = dir.path().join("new.log");
    let mut new = Command::new(BIN)
        .arg("run")
        .args(["--listen", &old.proxy, "--admin-listen", &old.admin])
        .arg("--config")
        .arg(&old.config)
        .args(["--threads", "2", "--upgrade", "--upgrade-sock", &sock_arg])
        .env("TOLLGATE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&new_log).expect("log"))
        .spawn()
        .expect("spawn new gateway");
    // The new process waits on the socket for the old one's listeners.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&new_log)
        .unwrap_or_default()
        .contains("waiting for the running gateway")
    {
        assert!(Instant::now() < deadline, "new gateway did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    signal(&old.child, "-QUIT");

    // The old process keeps accepting for 5 s, then drains and exits.
    let took = wait_exit(&mut old.child, Duration::from_secs(20));
    let mid = tally.ok.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let after = tally.ok.load(Ordering::Relaxed);
    // The admin listener was handed over too.
    let health = support::get(&old.admin_url("/health"), &[]).map(|r| r.status);
    let new_status = new.try_wait().expect("try_wait");
    let new_text = std::fs::read_to_string(&new_log).unwrap_or_default();
    let _ = new.kill();
    let _ = new.wait();

    assert!(took.is_some(), "old gateway still running:\n{}", old.log());
    assert!(new_status.is_none(), "new gateway exited:\n{new_text}");
    let failures = tally.failures.lock().expect("tally");
    assert!(
        failures.is_empty(),
        "{} failed requests (of {after}): {:?}\nold:\n{}\nnew:\n{new_text}",
        failures.len(),
        &failures[..failures.len().min(10)],
        old.log()
    );
    assert_eq!(health, Ok(200), "admin API after the upgrade");
    assert!(before > 0, "no load before the upgrade");
    assert!(after > mid, "nothing served by the new process alone");
    eprintln!(
        "upgrade: {after} requests, 0 failed, {} idle keep-alive connections closed by the old process and retried",
        tally.retried.load(Ordering::Relaxed)
    );
}
