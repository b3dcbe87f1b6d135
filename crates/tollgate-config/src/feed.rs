//! The control-plane feed protocol, shared by `tollgate cp` and the data
//! planes that subscribe to it (see docs/control-plane.md).
//!
//! Data planes long-poll `GET /v1/subscribe`; the query reports what the data
//! plane runs, and the answer is either a snapshot newer than `seen` (200) or,
//! after `wait` seconds without one, 204.

/// Path a data plane long-polls.
pub const SUBSCRIBE_PATH: &str = "/v1/subscribe";
/// Path snapshots are pushed to and read from.
pub const CONFIG_PATH: &str = "/v1/config";
/// Path listing the data planes.
pub const DATA_PLANES_PATH: &str = "/v1/data-planes";
/// Response header carrying the snapshot's version.
pub const VERSION_HEADER: &str = "x-tollgate-config-version";
/// Response header carrying the snapshot's hash.
pub const HASH_HEADER: &str = "x-tollgate-config-hash";
/// Response header carrying the control plane's epoch: a random id fixed for
/// the life of its data dir, so data planes notice a control plane whose
/// versions started again from 1.
pub const EPOCH_HEADER: &str = "x-tollgate-cp-epoch";
/// Longest a subscribe request is held open, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

/// What a data plane tells the control plane on every poll.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Stable id of the data plane.
    pub id: String,
    pub hostname: String,
    /// Hash and version of the snapshot the data plane is serving.
    pub hash: String,
    pub version: Option<u64>,
    /// Highest version received, applied or refused: the control plane sends
    /// only newer ones, so a refused snapshot is not re-sent in a loop.
    pub seen: u64,
    /// Why the last received snapshot was refused, if it was.
    pub error: Option<String>,
    /// The control-plane epoch `seen` belongs to.
    pub epoch: Option<String>,
    /// Seconds to hold the poll open.
    pub wait: u64,
    /// The control-plane URL this data plane follows (one of its
    /// `--control-plane` list), as the data plane spells it.
    pub control_plane: Option<String>,
}

fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn dec(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Report {
    pub fn to_query(&self) -> String {
        let mut q = format!(
            "id={}&hostname={}&hash={}&seen={}&wait={}",
            enc(&self.id),
            enc(&self.hostname),
            enc(&self.hash),
            self.seen,
            self.wait
        );
        if let Some(v) = self.version {
            q.push_str(&format!("&version={v}"));
        }
        if let Some(e) = &self.error {
            q.push_str(&format!("&error={}", enc(e)));
        }
        if let Some(e) = &self.epoch {
            q.push_str(&format!("&epoch={}", enc(e)));
        }
        if let Some(c) = &self.control_plane {
            q.push_str(&format!("&cp={}", enc(c)));
        }
        q
    }

    pub fn from_query(q: &str) -> Result<Report, String> {
        let mut r = Report {
            wait: MAX_WAIT_SECS,
            ..Report::default()
        };
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = dec(v);
            match k {
                "id" => r.id = v,
                "hostname" => r.hostname = v,
                "hash" => r.hash = v,
                "seen" => {
                    r.seen = v
                        .parse()
                        .map_err(|_| format!("seen={v:?} is not a number"))?
                }
                "version" => {
                    r.version = Some(
                        v.parse()
                            .map_err(|_| format!("version={v:?} is not a number"))?,
                    )
                }
                "wait" => {
                    r.wait = v
                        .parse::<u64>()
                        .map_err(|_| format!("wait={v:?} is not a number"))?
                        .min(MAX_WAIT_SECS)
                }
                "error" => r.error = Some(v),
                "epoch" => r.epoch = Some(v),
                "cp" => r.control_plane = Some(v),
                _ => {}
            }
        }
        if r.id.is_empty() || r.id.len() > 128 {
            return Err("id is required (at most 128 characters)".to_string());
        }
        truncate_chars(&mut r.hostname, 255);
        if let Some(c) = &mut r.control_plane {
            truncate_chars(c, 1024);
        }
        if let Some(e) = &mut r.error {
            truncate_chars(e, MAX_ERROR_BYTES);
        }
        Ok(r)
    }
}

/// Longest refusal message a data plane reports (it travels in the URL).
pub const MAX_ERROR_BYTES: usize = 2048;

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate_chars(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_through_a_query() {
        let r = Report {
            id: "dp 1/x".into(),
            hostname: "host-a".into(),
            hash: "abc".into(),
            version: Some(7),
            seen: 9,
            error: Some("bad: \"x\" & y=z".into()),
            epoch: Some("e1".into()),
            wait: 5,
            control_plane: Some("http://cp-b:8005/x?y".into()),
        };
        assert_eq!(Report::from_query(&r.to_query()), Ok(r));
        assert!(Report::from_query("hostname=x").is_err());
        assert!(Report::from_query("id=a&seen=x").is_err());
        assert_eq!(
            Report::from_query("id=a&wait=999").map(|r| r.wait),
            Ok(MAX_WAIT_SECS)
        );
    }
}
