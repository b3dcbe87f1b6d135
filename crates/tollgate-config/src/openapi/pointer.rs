//! JSON pointers (RFC 6901) into a spec: to locate problems for the user and
//! to follow a spec's own local `$ref`s.

use serde_yaml::Value;

/// Escapes one reference token (`~` → `~0`, `/` → `~1`).
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// The pointer of a path that `serde_path_to_error` reports.
pub(crate) fn from_serde_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => {
                out.push('/');
                out.push_str(&index.to_string());
            }
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&escape(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// Follows a local reference (`#/components/pathItems/Pet`) in `doc`.
/// Remote references (other files, URLs) are not fetched.
pub(crate) fn resolve<'a>(doc: &'a Value, reference: &str) -> Result<&'a Value, String> {
    let Some(ptr) = reference.strip_prefix('#') else {
        return Err(format!(
            "$ref {reference:?} points outside this document; only local references (#/...) are followed"
        ));
    };
    let mut at = doc;
    for raw in ptr.split('/').skip(1) {
        let token = unescape(raw);
        let next = match at {
            Value::Mapping(m) => m.get(token.as_str()),
            Value::Sequence(s) => token.parse::<usize>().ok().and_then(|i| s.get(i)),
            _ => None,
        };
        at = next.ok_or_else(|| format!("$ref {reference:?} does not resolve in this document"))?;
    }
    Ok(at)
}
