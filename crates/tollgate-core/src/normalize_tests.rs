//! Table tests of path normalization: what is normalized, and to what, and what is refused.

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
        ("/files/..%5Cadmin", Err(PathError::HiddenDotSegment)),
        ("/files/a%2F..b", Ok("/files/a%2F..b")),
        ("/a\\b", Err(PathError::BadByte)),
        ("/a%5Cb", Ok("/a%5Cb")),
        ("/a%5cb", Ok("/a%5Cb")),
        ("/a%2fb", Ok("/a%2Fb")),
        ("/a%20b", Ok("/a%20b")),
        ("/a%7e", Ok("/a~")),
        ("/a%00b", Err(PathError::BadByte)),
        ("/..", Err(PathError::EscapesRoot)),
        ("/a/../..", Err(PathError::EscapesRoot)),
        ("/%2e%2e/x", Err(PathError::EscapesRoot)),
        ("/a%zz", Err(PathError::BadPercent)),
        ("/a%2", Err(PathError::BadPercent)),
        ("a", Err(PathError::NotAbsolute)),
        ("", Err(PathError::NotAbsolute)),
        ("/a b", Err(PathError::BadByte)),
        ("/caf\u{e9}", Err(PathError::BadByte)),
        ("/caf%C3%A9", Ok("/caf%C3%A9")),
        ("/users/%252e%252e%252fadmin", Err(PathError::DoubleEncoded)),
        ("/users/%252F", Err(PathError::DoubleEncoded)),
        ("/users/%255c", Err(PathError::DoubleEncoded)),
        ("/users/%25%32%66", Err(PathError::DoubleEncoded)),
        ("/users/%2541", Ok("/users/%2541")),
        ("/users/..%c0%af..%c0%afadmin", Err(PathError::InvalidUtf8)),
        ("/users/%ff", Err(PathError::InvalidUtf8)),
        ("/users/..%EF%BC%8Fadmin", Err(PathError::LookAlike)),
        ("/users/%EF%BC%8E%EF%BC%8E", Err(PathError::LookAlike)),
        ("/users/%E2%88%95", Err(PathError::LookAlike)),
        ("/flights;jsessionid=1", Ok("/flights;jsessionid=1")),
        ("/users/%40me", Ok("/users/@me")),
        ("/v1/things%3abatchGet", Ok("/v1/things:batchGet")),
        ("/a%21%24%26%27%28%29%2A%2B%2C%3D", Ok("/a!$&'()*+,=")),
        ("/a%3Bb", Ok("/a%3Bb")),
        ("/a%3Fb%23c%25d", Ok("/a%3Fb%23c%25d")),
        ("/a%7Cb%22", Ok("/a%7Cb%22")),
    ];
    for (input, want) in cases {
        let got = normalize(input);
        assert_eq!(
            got.as_ref().map(|n| &*n.path).map_err(|e| *e),
            want.as_ref().map(|s| *s).map_err(|e| *e),
            "{input}"
        );
    }
}

#[test]
fn flags() {
    let n = normalize("/a%2fb").expect("valid");
    assert!(n.escaped_slash && !n.params);
    let n = normalize("/a;b=1/c").expect("valid");
    assert!(!n.escaped_slash && n.params);
    let n = normalize("/a%3Bb").expect("valid");
    assert!(!n.params, "an encoded ';' is data");
    let n = normalize("/a/%2e/b;x").expect("valid");
    assert!(n.params);
    let n = normalize("/a/;x/../b").expect("valid");
    assert!(!n.params && n.path == "/a/b", "{n:?}");
    let n = normalize("/a%2F/../b").expect("valid");
    assert!(!n.escaped_slash && n.path == "/b", "{n:?}");
}

#[test]
fn normal_paths_are_borrowed() {
    assert!(matches!(
        normalize("/flights/123").map(|n| n.path),
        Ok(Cow::Borrowed(_))
    ));
}

#[test]
fn decoded_slashes_are_normalized_again() {
    let cases = [
        ("/a%2Fb", Ok("/a/b".to_string())),
        ("/a%5Cb/", Ok("/a/b/".to_string())),
        ("/a/b%2F%2Fc", Ok("/a/b/c".to_string())),
    ];
    for (input, want) in cases {
        assert_eq!(decode_slashes(input), want, "{input}");
    }
}

#[test]
fn params() {
    assert_eq!(strip_params("/flights;jsessionid=1"), "/flights");
    assert_eq!(strip_params("/a;x/b;y=2/c"), "/a/b/c");
    let cases = [
        ("/flights;j=1/x", 8, 12),
        ("/flights;j=1", 8, 12),
        ("/flights/x;a", 8, 8),
        ("/flightsx;a", 8, 8),
        ("/a;1/b;2/c", 4, 8),
    ];
    for (path, stripped, want) in cases {
        assert_eq!(params_prefix_len(path, stripped), want, "{path} {stripped}");
    }
}

#[test]
fn match_form_drops_trailing_slash() {
    assert_eq!(match_form("/a/"), "/a");
    assert_eq!(match_form("/"), "/");
}
