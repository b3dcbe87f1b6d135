//! Request path normalization, done once before routing (contract §3).
//!
//! The normalized path is both what the routers match and what is sent
//! upstream, so no spelling of a path can reach an upstream under a different
//! identity than the one it was authorized as.

use std::borrow::Cow;

/// Why a request path was refused (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must start with '/'")]
    NotAbsolute,
    #[error("path escapes the root")]
    EscapesRoot,
    #[error("path has an invalid percent-encoding")]
    BadPercent,
    #[error("path has a byte that is not allowed")]
    BadByte,
    #[error("path is too long")]
    TooLong,
    #[error("path has a '.' or '..' segment hidden behind an encoded slash")]
    HiddenDotSegment,
}

/// Longest path accepted; longer is refused rather than processed.
pub const MAX_PATH_LEN: usize = 8 * 1024;

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Normalizes a raw request path (without the query).
///
/// Returns the input borrowed when it is already normal, which is the common
/// case, so the hot path does not allocate.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if bytes.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if is_normal(bytes)? {
        return Ok(Cow::Borrowed(raw));
    }
    slow(bytes).map(Cow::Owned)
}

/// True when nothing needs rewriting; errors on bytes never allowed.
fn is_normal(bytes: &[u8]) -> Result<bool, PathError> {
    let mut normal = true;
    let mut seg_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // A backslash is a separator to some upstreams (Node, IIS): refused
        // rather than matched as part of a segment.
        if b <= b' ' || b >= 0x7f || b == b'\\' {
            return Err(PathError::BadByte);
        }
        match b {
            b'%' => normal = false,
            b'/' => {
                if i > 0 {
                    let seg = &bytes[seg_start..i];
                    if seg.is_empty() || seg == b"." || seg == b".." {
                        normal = false;
                    }
                }
                seg_start = i + 1;
            }
            _ => {}
        }
    }
    let last = &bytes[seg_start..];
    if last == b"." || last == b".." {
        normal = false;
    }
    Ok(normal)
}

fn slow(bytes: &[u8]) -> Result<String, PathError> {
    // Decode unreserved percent-escapes; keep every other escape, upper-cased.
    let mut decoded: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (h, l) = match (
                bytes.get(i + 1).and_then(|&c| hex(c)),
                bytes.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(h), Some(l)) => (h, l),
                _ => return Err(PathError::BadPercent),
            };
            let v = h * 16 + l;
            if v == b'\\' {
                return Err(PathError::BadByte);
            }
            if is_unreserved(v) {
                decoded.push(v);
            } else {
                decoded.push(b'%');
                decoded.extend_from_slice(format!("{v:02X}").as_bytes());
            }
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }
    let trailing = decoded.len() > 1 && decoded.ends_with(b"/");
    let mut out: Vec<&[u8]> = Vec::new();
    let segments: Vec<&[u8]> = decoded.split(|&c| c == b'/').skip(1).collect();
    let count = segments.len();
    let mut dir_end = false;
    for (k, seg) in segments.into_iter().enumerate() {
        let is_last = k + 1 == count;
        match seg {
            b"" => continue,
            b"." => {
                dir_end = is_last;
                continue;
            }
            b".." => {
                if out.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
                dir_end = is_last;
            }
            s => {
                out.push(s);
                dir_end = false;
            }
        }
    }
    // Upstreams that decode %2F before resolving dots would see `a%2F..%2Fb`
    // as `b`: refuse dot segments hidden between encoded slashes.
    for seg in &out {
        if seg.windows(3).any(|w| w == b"%2F")
            && seg
                .split(|&c| c == b'%')
                .map(|p| p.strip_prefix(b"2F").unwrap_or(p))
                .any(|p| p == b"." || p == b"..")
        {
            return Err(PathError::HiddenDotSegment);
        }
    }
    let mut s = String::with_capacity(decoded.len());
    for seg in &out {
        s.push('/');
        // Only ASCII bytes reach here (checked in is_normal), so this is valid UTF-8.
        s.push_str(std::str::from_utf8(seg).map_err(|_| PathError::BadByte)?);
    }
    if s.is_empty() || trailing || dir_end {
        s.push('/');
    }
    Ok(s)
}

/// The path as the operation router sees it: trailing slash not significant.
pub fn match_form(path: &str) -> &str {
    if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, Result<&str, PathError>)] = &[
            ("/", Ok("/")),
            ("/billing", Ok("/billing")),
            ("/billing/", Ok("/billing/")),
            ("/a//b", Ok("/a/b")),
            ("//a///b//", Ok("/a/b/")),
            ("/a/./b", Ok("/a/b")),
            ("/a/b/..", Ok("/a/")),
            ("/a/b/../c", Ok("/a/c")),
            ("/a/%2E%2E/c", Ok("/c")),
            ("/%62illing", Ok("/billing")),
            ("/a%2Fb", Ok("/a%2Fb")),
            ("/files/a%2F..%2Fadmin", Err(PathError::HiddenDotSegment)),
            ("/files/a%2F.%2Fb", Err(PathError::HiddenDotSegment)),
            ("/files/a%2F..b", Ok("/files/a%2F..b")),
            ("/a\\b", Err(PathError::BadByte)),
            ("/a%5Cb", Err(PathError::BadByte)),
            ("/a%2fb", Ok("/a%2Fb")),
            ("/a%20b", Ok("/a%20b")),
            ("/a%7e", Ok("/a~")),
            ("/..", Err(PathError::EscapesRoot)),
            ("/a/../..", Err(PathError::EscapesRoot)),
            ("/%2e%2e/x", Err(PathError::EscapesRoot)),
            ("/a%zz", Err(PathError::BadPercent)),
            ("/a%2", Err(PathError::BadPercent)),
            ("a", Err(PathError::NotAbsolute)),
            ("", Err(PathError::NotAbsolute)),
            ("/a b", Err(PathError::BadByte)),
            ("/caf\u{e9}", Err(PathError::BadByte)),
        ];
        for (input, want) in cases {
            let got = normalize(input);
            assert_eq!(
                got.as_deref().map_err(|e| *e),
                want.as_ref().map(|s| *s).map_err(|e| *e),
                "{input}"
            );
        }
    }

    #[test]
    fn normal_paths_are_borrowed() {
        assert!(matches!(normalize("/flights/123"), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn match_form_drops_trailing_slash() {
        assert_eq!(match_form("/a/"), "/a");
        assert_eq!(match_form("/"), "/");
    }
}
