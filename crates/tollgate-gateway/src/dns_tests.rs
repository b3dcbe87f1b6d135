//! The hostname cache with a scripted resolver: refresh interval, last good
//! address kept on errors, address choice, and apply-time resolution.

use super::*;
use std::sync::atomic::AtomicUsize;

/// A resolver whose answers the test sets, counting its calls.
#[derive(Default)]
struct Script {
    answers: Mutex<HashMap<String, io::Result<Vec<SocketAddr>>>>,
    calls: AtomicUsize,
}

impl Script {
    fn set(&self, host: &str, answer: io::Result<Vec<&str>>) {
        let answer = answer.map(|v| v.iter().map(|a| a.parse().unwrap()).collect());
        self.answers
            .lock()
            .unwrap()
            .insert(host.to_string(), answer);
    }

    fn lookup(&self, host: &str) -> io::Result<Vec<SocketAddr>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.answers.lock().unwrap().get(host) {
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(e)) => Err(io::Error::new(e.kind(), e.to_string())),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "unknown host")),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn dns(script: &Arc<Script>, refresh: Duration) -> (Dns, prometheus::IntCounter) {
    let s = script.clone();
    let errors = prometheus::IntCounter::new("e", "e").unwrap();
    let d = Dns::new(
        Arc::new(move |host: &str, _port: u16| s.lookup(host)),
        refresh,
        prometheus::IntCounter::new("u", "u").unwrap(),
        errors.clone(),
    );
    (d, errors)
}

fn down() -> io::Result<Vec<&'static str>> {
    Err(io::Error::new(io::ErrorKind::TimedOut, "resolver down"))
}

#[test]
fn refreshes_after_the_interval_and_keeps_the_last_good_address() {
    let script = Arc::new(Script::default());
    let (dns, errors) = dns(&script, Duration::from_secs(30));
    let slot = dns.slot("api.internal", 80);
    let t0 = Instant::now();
    assert_eq!(slot.addr(), None);
    assert_eq!(dns.due(t0).len(), 1, "never resolved: due at once");

    dns.record(&slot, Ok(vec!["10.0.0.1:80".parse().unwrap()]), t0);
    assert_eq!(slot.addr(), Some("10.0.0.1:80".parse().unwrap()));
    assert!(dns.due(t0 + Duration::from_secs(29)).is_empty());
    assert_eq!(dns.due(t0 + Duration::from_secs(30)).len(), 1);

    // The resolver fails: the address stays, and a retry comes sooner.
    let t1 = t0 + Duration::from_secs(30);
    dns.record(&slot, down().map(|_| vec![]), t1);
    assert_eq!(slot.addr(), Some("10.0.0.1:80".parse().unwrap()));
    assert_eq!(errors.get(), 1);
    assert!(dns.due(t1 + Duration::from_secs(1)).is_empty());
    assert_eq!(dns.due(t1 + RETRY).len(), 1);
    // An empty answer is a failure too.
    dns.record(&slot, Ok(vec![]), t1 + RETRY);
    assert_eq!(slot.addr(), Some("10.0.0.1:80".parse().unwrap()));
    assert_eq!(errors.get(), 2);

    // Back with a new address: followed, and the interval is 30 s again.
    let t2 = t1 + 2 * RETRY;
    dns.record(&slot, Ok(vec!["10.0.0.2:80".parse().unwrap()]), t2);
    assert_eq!(slot.addr(), Some("10.0.0.2:80".parse().unwrap()));
    assert!(dns.due(t2 + Duration::from_secs(29)).is_empty());
}

#[test]
fn prefers_ipv4_and_keeps_the_current_address_while_offered() {
    let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
    let a: SocketAddr = "10.0.0.1:80".parse().unwrap();
    let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
    assert_eq!(pick(None, &[v6, a, b]), Some(a));
    assert_eq!(pick(None, &[v6]), Some(v6));
    assert_eq!(pick(Some(b), &[v6, a, b]), Some(b));
    assert_eq!(pick(Some(b), &[v6, a]), Some(a));
    assert_eq!(pick(Some(b), &[]), None);
}

#[test]
fn apply_resolves_new_hosts_once_and_background_refresh_follows() {
    let script = Arc::new(Script::default());
    script.set("a.internal", Ok(vec!["10.0.0.1:80"]));
    script.set("b.internal", down());
    let (dns, _) = dns(&script, Duration::from_secs(1));
    let a = dns.slot("a.internal", 80);
    let b = dns.slot("b.internal", 80);
    dns.resolve_new(&[a.clone(), b.clone()]);
    assert_eq!(script.calls(), 2);
    assert_eq!(a.addr(), Some("10.0.0.1:80".parse().unwrap()));
    assert_eq!(b.addr(), None);
    // Applying again does not look known hosts up again: that is the refresher's job.
    dns.resolve_new(&[a.clone(), b.clone()]);
    assert_eq!(script.calls(), 2);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Nothing is due yet: no lookup.
    rt.block_on(dns.refresh());
    assert_eq!(script.calls(), 2);
    // A second later both are due; b has come up.
    script.set("b.internal", Ok(vec!["10.0.0.9:81"]));
    script.set("a.internal", down());
    std::thread::sleep(Duration::from_millis(1100));
    rt.block_on(dns.refresh());
    assert_eq!(script.calls(), 4);
    assert_eq!(
        a.addr(),
        Some("10.0.0.1:80".parse().unwrap()),
        "last good kept"
    );
    assert_eq!(b.addr(), Some("10.0.0.9:81".parse().unwrap()));
}

#[test]
fn slots_no_snapshot_names_are_forgotten() {
    let script = Arc::new(Script::default());
    let (dns, _) = dns(&script, Duration::from_secs(30));
    let kept = dns.slot("kept.internal", 80);
    drop(dns.slot("gone.internal", 80));
    // The same host:port shares one slot.
    assert!(Arc::ptr_eq(&kept, &dns.slot("kept.internal", 80)));
    let due = dns.due(Instant::now());
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].host, "kept.internal");
}

#[test]
fn a_request_for_an_unresolved_host_is_counted() {
    let script = Arc::new(Script::default());
    let unresolved = prometheus::IntCounter::new("u2", "u").unwrap();
    let d = Dns::new(
        Arc::new(move |h: &str, _| script.lookup(h)),
        Duration::from_secs(30),
        unresolved.clone(),
        prometheus::IntCounter::new("e2", "e").unwrap(),
    );
    let slot = d.slot("never.internal", 80);
    assert_eq!(slot.addr(), None);
    slot.miss();
    slot.miss();
    assert_eq!(unresolved.get(), 2);
}
