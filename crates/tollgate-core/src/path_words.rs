//! Word-at-a-time byte checks for the per-request path work: the fast path of
//! normalization and the route trie's child search. Eight bytes are tested
//! at once with plain integer arithmetic, without branching on their values:
//! a byte loop over scattered request paths mispredicts at every `/`.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const LOWS: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// The little-endian word of the 8 bytes at `at`; missing bytes read as 0.
#[inline]
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

/// Index of the first byte equal to `b` in the little-endian word `w`, 8 if none.
#[inline]
pub(crate) fn byte_position(w: u64, b: u8) -> usize {
    let x = w ^ (ONES * u64::from(b));
    // The lowest flagged byte is exact; only bytes above a zero byte can be
    // flagged falsely (by the borrow), and only the lowest is read.
    let zero = x.wrapping_sub(ONES) & !x & HIGHS;
    (zero.trailing_zeros() / 8) as usize
}

/// The high bit of every byte of `w` equal to `b`, and of no other.
#[inline]
fn eq_mask(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * u64::from(b));
    !(((x & LOWS) + LOWS) | x) & HIGHS
}

/// `Some(has ';')` when `path` (starting with `/`) is already normal by a
/// check that needs no segment bookkeeping: every byte printable ASCII, no
/// `\`, no `%`, no `.` at all, no `//`. `None` says nothing: the full scan
/// decides (it also finds the error, if any).
pub(crate) fn plainly_normal(path: &[u8]) -> Option<bool> {
    let mut refused = 0u64;
    let mut semi = 0u64;
    // The slash flag of the previous word's last byte, moved to byte 0's high bit.
    let mut carry = 0u64;
    let mut check = |w: u64| {
        // Bytes below '!' (controls, space) or from 0x7F up; below 0x80 the
        // add carries into the high bit exactly when the byte is >= '!'.
        let low = !((w & LOWS) + ONES * (0x80 - u64::from(b'!'))) & HIGHS;
        refused |= low | (w & HIGHS) | eq_mask(w, 0x7F);
        refused |= eq_mask(w, b'\\') | eq_mask(w, b'%') | eq_mask(w, b'.');
        semi |= eq_mask(w, b';');
        let slash = eq_mask(w, b'/');
        refused |= slash & ((slash << 8) | carry);
        carry = (slash >> 56) & 0x80;
    };
    let mut words = path.chunks_exact(8);
    for c in &mut words {
        check(le64(c, 0));
    }
    let r = words.remainder().len();
    if r > 0 {
        // The last bytes as the low bytes of a word, the rest padded with a
        // plain letter (which adds nothing to any check). Read as one word
        // where the path is long enough: a copy into a buffer is a call and
        // a stalled load.
        let tail = if path.len() >= 8 {
            le64(path, path.len() - 8) >> (8 * (8 - r))
        } else {
            path.iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b))
        };
        check(tail | (ONES * u64::from(b'a')) << (8 * r));
    }
    (refused == 0).then_some(semi != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_take_the_fast_path() {
        let cases: &[(&str, Option<bool>)] = &[
            ("/", Some(false)),
            ("/svc123/v4/items/567", Some(false)),
            ("/billing/", Some(false)),
            ("/abcdefg/", Some(false)),
            ("/abcdefghijklmno", Some(false)),
            ("/a/b/c/d/e/f/g/h/i/j/k", Some(false)),
            ("/flights;jsessionid=1", Some(true)),
            ("/a;/b", Some(true)),
            ("/users/@me:x!$&'()*+,=~_-", Some(false)),
            // What the full scan must look at (or refuse).
            ("/a%2Fb", None),
            ("/%62illing", None),
            ("/a/./b", None),
            ("/a/../b", None),
            ("/a/b/.", None),
            ("/a/b/..", None),
            ("/a.", None),
            ("/file.txt", None),
            ("//a", None),
            ("/a//b", None),
            ("/abcdefg//b", None),
            ("/abcdefgh//", None),
            ("/abcdef//", None),
            ("/a\\b", None),
            ("/a b", None),
            ("/a\tb", None),
            ("/a\u{7f}", None),
            ("/caf\u{e9}", None),
            ("/abcdefghijklm\u{0}", None),
        ];
        for (path, want) in cases {
            assert_eq!(plainly_normal(path.as_bytes()), *want, "{path:?}");
        }
    }

    #[test]
    fn slashes_are_found_across_word_boundaries() {
        // A `//` at every offset, so that each byte pair straddling two words is tried.
        for at in 1..24 {
            let mut p = "/".to_string() + &"a".repeat(30);
            p.replace_range(at..at + 2, "//");
            assert_eq!(plainly_normal(p.as_bytes()), None, "{p}");
            let one = p.replacen("//", "/a", 1);
            assert_eq!(plainly_normal(one.as_bytes()), Some(false), "{one}");
        }
    }

    #[test]
    fn byte_positions() {
        let w = le64(b"/0123456", 0);
        assert_eq!(byte_position(w, b'/'), 0);
        assert_eq!(byte_position(w, b'6'), 7);
        assert_eq!(byte_position(w, b'7'), 8);
        assert_eq!(byte_position(le64(b"\x01\x00aaaaaa", 0), 0), 1);
    }

    #[test]
    fn every_byte_value_is_classed_as_a_byte_loop_would() {
        for b in 0..=255u8 {
            if b == b'/' {
                continue; // `//` has its own test
            }
            let plain = (b'!'..0x7F).contains(&b) && !b"\\%.".contains(&b);
            for at in 1..10 {
                let mut p = vec![b'a'; 12];
                p[0] = b'/';
                p[at] = b;
                let want = plain.then_some(b == b';');
                assert_eq!(plainly_normal(&p), want, "byte {b:#x} at {at}");
            }
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_full_scan() {
        // Random paths over the bytes the two decide on, at every length
        // around the word size.
        let alphabet = b"/a;.%\\ 2F\x7f\xc3";
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut fast = 0;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = 1 + (seed % 20) as usize;
            let mut p = vec![b'/'];
            p.extend(
                (1..len)
                    .map(|k| alphabet[((seed >> (3 * k % 60)) % alphabet.len() as u64) as usize]),
            );
            let full = crate::normalize::scan(&p);
            match plainly_normal(&p) {
                Some(params) => {
                    fast += 1;
                    assert_eq!(full, Ok((true, params)), "{p:?}");
                }
                // What it leaves to the scan: a '.', '%' or refused byte, or `//`.
                None => assert!(
                    full != Ok((true, false)) && full != Ok((true, true))
                        || p.iter().any(|b| matches!(b, b'.' | b'%')),
                    "{p:?}"
                ),
            }
        }
        assert!(fast > 1000, "the fast path must be taken often: {fast}");
    }
}
