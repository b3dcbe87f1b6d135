//! Header names the gateway owns: identity headers it sets itself, method
//! overrides, and forwarding headers it rewrites. The data plane strips the
//! client's copies (core `hygiene`); validation refuses route conditions on
//! them, because routes are chosen before that stripping happens.

/// Prefixes of the identity headers the gateway sets.
pub const OWNED_PREFIXES: &[&str] = &["x-ace-", "x-consumer-", "x-credential-", "x-authenticated-"];
/// Single names the gateway sets, or that would change what the upstream runs.
pub const OWNED_NAMES: &[&str] = &[
    "x-application-name",
    "x-anonymous-consumer",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
];

/// Forwarding headers: kept only from trusted peers.
pub fn is_forwarding(n: &str) -> bool {
    n == "x-real-ip" || n == "forwarded" || n.starts_with("x-forwarded-")
}

/// A lower-case name the gateway owns.
pub fn gateway_owned(n: &str) -> bool {
    OWNED_PREFIXES.iter().any(|p| n.starts_with(p)) || OWNED_NAMES.contains(&n)
}

/// `name` lower-cased with `_` and `.` folded into `-`, as CGI-style servers do.
pub fn folded(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '_' | '.' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}
