//! W3C Trace Context (`traceparent`): reading the client's header and
//! writing the one sent upstream. Works on fixed-size arrays, so continuing
//! a trace allocates nothing but the header value actually sent.

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// Length of a version-00 `traceparent`.
pub const LEN: usize = 55;

/// The sampled bit of the trace flags.
pub const SAMPLED: u8 = 0x01;

/// A valid `traceparent`: the caller's trace, span and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The spec allows lower-case hex only.
fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

fn decode<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Parses one `traceparent` value; `None` when it is not valid, in which
/// case the gateway starts a new trace.
pub fn parse(v: &[u8]) -> Option<TraceParent> {
    if v.len() < LEN || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let [version] = decode::<1>(&v[..2])?;
    // Version ff is forbidden; version 00 has nothing after the flags, and a
    // later version may only append fields after a dash.
    match version {
        0xff => return None,
        0 if v.len() != LEN => return None,
        _ if v.len() > LEN && v[LEN] != b'-' => return None,
        _ => {}
    }
    let trace_id = decode::<16>(&v[3..35])?;
    let span_id = decode::<8>(&v[36..52])?;
    let [flags] = decode::<1>(&v[53..55])?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(TraceParent {
        trace_id,
        span_id,
        flags,
    })
}

fn encode(out: &mut [u8], bytes: &[u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[(b >> 4) as usize];
        pair[1] = HEX[(b & 15) as usize];
    }
}

/// A version-00 `traceparent`.
pub fn format(trace_id: &[u8; 16], span_id: &[u8; 8], flags: u8) -> [u8; LEN] {
    let mut out = [b'-'; LEN];
    out[..2].copy_from_slice(b"00");
    encode(&mut out[3..35], trace_id);
    encode(&mut out[36..52], span_id);
    encode(&mut out[53..55], &[flags]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_formats_round_trip() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.flags, 1);
        assert_eq!(p.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert_eq!(&format(&p.trace_id, &p.span_id, p.flags)[..], GOOD);
    }

    #[test]
    fn refuses_invalid_values() {
        let bad: &[&[u8]] = &[
            b"",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01".as_bytes(),
        ];
        for v in bad {
            assert_eq!(parse(v), None, "{:?}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn accepts_a_later_version_with_extra_fields() {
        let v = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        assert!(parse(v).is_some());
        assert!(parse(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x").is_none());
    }
}
