//! A proxy listener that cannot be bound after the start-up check ends the
//! process (exit 2) instead of leaving the admin API up in front of nothing.
//! The failure is made with a small `LD_PRELOAD` library, built here with the
//! system C compiler: every `bind` to the proxy port after the first (the
//! start-up check) fails.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::{free_port, BIN};

const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
static atomic_int calls;
int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real) real = dlsym(RTLD_NEXT, "bind");
    const char *p = getenv("TOLLGATE_TEST_FAIL_PORT");
    if (p && addr->sa_family == AF_INET
        && ntohs(((const struct sockaddr_in *)addr)->sin_port) == atoi(p)
        && atomic_fetch_add(&calls, 1) >= 1) {
        errno = EACCES;
        return -1;
    }
    return real(fd, addr, len);
}
"#;

#[test]
fn a_proxy_listener_that_fails_to_bind_ends_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("bindfail.c");
    let lib = dir.path().join("bindfail.so");
    std::fs::write(&src, SHIM).expect("write shim");
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .output()
        .expect("the C compiler (cc) is needed to build the test library");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );

    let proxy = free_port();
    let admin = free_port();
    let log = dir.path().join("gateway.log");
    let mut child = Command::new(BIN)
        .args(["run", "--threads", "1"])
        .args(["--listen", &format!("127.0.0.1:{proxy}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .env("LD_PRELOAD", &lib)
        .env("TOLLGATE_TEST_FAIL_PORT", proxy.to_string())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running without its proxy listener:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(
        text.contains("a listener could not be bound; exiting"),
        "{text}"
    );
}
