//! Request path normalization, done once before routing (contract §3).
//!
//! The normalized path is both what the routers match and what is sent
//! upstream, so no spelling of a path can reach an upstream under a different
//! identity than the one it was authorized as.

use crate::path_words::plainly_normal;
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
    #[error("path has a double-encoded '/', '\\' or '.'")]
    DoubleEncoded,
    #[error("path decodes to invalid UTF-8")]
    InvalidUtf8,
    #[error("path has a character that looks like '/', '\\' or '.'")]
    LookAlike,
}

/// Longest path accepted; longer is refused rather than processed.
pub const MAX_PATH_LEN: usize = 8 * 1024;

/// A normalized path and what the route's policies need to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized<'a> {
    pub path: Cow<'a, str>,
    /// It holds an encoded `/` or `\` (kept as `%2F` / `%5C`).
    pub escaped_slash: bool,
    /// A segment carries `;` parameters.
    pub params: bool,
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Sub-delimiters, `:` and `@` but `;`: allowed as they are in a segment and
/// read the same decoded or not by every upstream that decodes paths, so
/// decoded here too; kept encoded, `/users/%40me` would be matched as
/// `/users/{id}` and run as `/users/@me` by such an upstream.
fn is_plain_pchar(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
    )
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escaped(out: &mut Vec<u8>, v: u8) {
    out.extend_from_slice(&[b'%', HEX[usize::from(v >> 4)], HEX[usize::from(v & 15)]]);
}

/// Characters that some upstreams fold to `/`, `\` or `.` (NFKC, IIS "best
/// fit"): refused rather than matched as ordinary segment content.
fn is_look_alike(c: char) -> bool {
    matches!(
        c,
        '\u{2024}' // one dot leader
            | '\u{2044}' // fraction slash
            | '\u{2215}' // division slash
            | '\u{2216}' // set minus
            | '\u{29F5}' // reverse solidus operator
            | '\u{29F8}' // big solidus
            | '\u{29F9}' // big reverse solidus
            | '\u{FE52}' // small full stop
            | '\u{FE68}' // small reverse solidus
            | '\u{FF0E}' // fullwidth full stop
            | '\u{FF0F}' // fullwidth solidus
            | '\u{FF3C}' // fullwidth reverse solidus
    )
}

/// Normalizes a raw request path (without the query).
///
/// The path is borrowed when it is already normal, which is the common case,
/// so the hot path does not allocate.
pub fn normalize(raw: &str) -> Result<Normalized<'_>, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if bytes.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if let Some(params) = plainly_normal(bytes) {
        return Ok(Normalized {
            path: Cow::Borrowed(raw),
            escaped_slash: false,
            params,
        });
    }
    let (normal, params) = scan(bytes)?;
    if normal {
        return Ok(Normalized {
            path: Cow::Borrowed(raw),
            escaped_slash: false,
            params,
        });
    }
    slow(bytes)
}

/// (nothing needs rewriting, some segment has `;`); errors on bytes never allowed.
pub(crate) fn scan(bytes: &[u8]) -> Result<(bool, bool), PathError> {
    let mut normal = true;
    let mut params = false;
    let mut seg_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // A backslash is a separator to some upstreams (Node, IIS): refused
        // rather than matched as part of a segment.
        if b <= b' ' || b >= 0x7f || b == b'\\' {
            return Err(PathError::BadByte);
        }
        match b {
            b'%' => normal = false,
            b';' => params = true,
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
    Ok((normal, params))
}

/// Decodes unreserved and plain segment escapes, keeps every other one
/// upper-cased, and checks what an upstream decoding the rest could make of them.
fn decode(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), PathError> {
    let escape = |i: usize| match (
        bytes.get(i + 1).and_then(|&c| hex(c)),
        bytes.get(i + 2).and_then(|&c| hex(c)),
    ) {
        (Some(h), Some(l)) if bytes[i] == b'%' => Ok(h * 16 + l),
        _ => Err(PathError::BadPercent),
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let v = escape(i)?;
        if v >= 0x80 {
            // A run of encoded non-ASCII bytes must be UTF-8 and no look-alike.
            let mut run = Vec::new();
            while i < bytes.len() && bytes[i] == b'%' {
                let v = escape(i)?;
                if v < 0x80 {
                    break;
                }
                run.push(v);
                i += 3;
            }
            let text = std::str::from_utf8(&run).map_err(|_| PathError::InvalidUtf8)?;
            if text.chars().any(is_look_alike) {
                return Err(PathError::LookAlike);
            }
            for v in run {
                push_escaped(out, v);
            }
            continue;
        }
        match v {
            0 => return Err(PathError::BadByte),
            b'/' | b'\\' => push_escaped(out, v),
            v if is_unreserved(v) || is_plain_pchar(v) => out.push(v),
            v => push_escaped(out, v),
        }
        i += 3;
    }
    Ok(())
}

fn slow(bytes: &[u8]) -> Result<Normalized<'static>, PathError> {
    let mut decoded: Vec<u8> = Vec::with_capacity(bytes.len());
    decode(bytes, &mut decoded)?;
    // `%252F` reaches an upstream that decodes twice as `/`.
    if decoded.windows(5).any(|w| {
        w[..3] == *b"%25" && matches!(&w[3..].to_ascii_uppercase()[..], b"2F" | b"5C" | b"2E")
    }) {
        return Err(PathError::DoubleEncoded);
    }
    let path = resolve_dots(&decoded)?;
    // Said of the path as normalized: `/a/;x/../b` is `/a/b`, without
    // parameters; `/a%2F/../b` is `/b`, without an encoded slash.
    Ok(Normalized {
        escaped_slash: path.contains("%2F") || path.contains("%5C"),
        params: path.contains(';'),
        path: Cow::Owned(path),
    })
}

/// Resolves `.` and `..`, collapses empty segments; keeps a trailing slash.
fn resolve_dots(decoded: &[u8]) -> Result<String, PathError> {
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
    if out.iter().any(|seg| hides_dot_segment(seg)) {
        return Err(PathError::HiddenDotSegment);
    }
    let mut s = String::with_capacity(decoded.len());
    for seg in &out {
        s.push('/');
        // Only ASCII bytes reach here (checked by `scan`/`decode`), so this is valid UTF-8.
        s.push_str(std::str::from_utf8(seg).map_err(|_| PathError::BadByte)?);
    }
    if s.is_empty() || trailing || dir_end {
        s.push('/');
    }
    Ok(s)
}

/// Whether a segment is `.`/`..` pieces joined by encoded slashes.
fn hides_dot_segment(seg: &[u8]) -> bool {
    let mut parts = 0;
    let mut dot = false;
    let mut start = 0;
    let mut i = 0;
    while i + 3 <= seg.len() {
        if &seg[i..i + 3] == b"%2F" || &seg[i..i + 3] == b"%5C" {
            dot |= matches!(&seg[start..i], b"." | b"..");
            parts += 1;
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    dot |= matches!(&seg[start..], b"." | b"..");
    parts > 0 && dot
}

/// A normalized path with its encoded slashes decoded to `/`, normalized again
/// (a route with `escaped_slashes: decode`).
pub fn decode_slashes(path: &str) -> Result<String, PathError> {
    let replaced = path.replace("%2F", "/").replace("%5C", "/");
    resolve_dots(replaced.as_bytes())
}

/// The path without `;` parameters in any segment (what Tomcat or Spring route on).
pub fn strip_params(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (k, seg) in path.split('/').enumerate() {
        if k > 0 {
            out.push('/');
        }
        out.push_str(seg.split(';').next().unwrap_or(""));
    }
    out
}

/// Where `stripped_len` bytes of `strip_params(path)` end in `path`, with the
/// parameters of the last segment cut off included (they go with the prefix).
pub fn params_prefix_len(path: &str, stripped_len: usize) -> usize {
    let bytes = path.as_bytes();
    let (mut i, mut kept, mut in_param) = (0, 0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'/' {
            in_param = false;
        } else if b == b';' {
            in_param = true;
        }
        if kept == stripped_len && (!in_param || b == b'/') {
            break;
        }
        if !in_param {
            kept += 1;
        }
        i += 1;
    }
    i
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
#[path = "normalize_tests.rs"]
mod tests;
