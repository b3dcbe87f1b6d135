//! `rate_limiting_config` values: one window, a list of windows, or null.
//!
//! Parsed by hand from the YAML value rather than through an untagged serde
//! enum, because an untagged enum's only error is "did not match any variant",
//! which tells a user nothing about which key was wrong.

use serde::Deserialize;

/// A window unit. Each unit may appear once per limit so the
/// `X-RateLimit-*-<Window>` headers stay unambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    #[serde(alias = "second")]
    Seconds,
    #[serde(alias = "minute")]
    Minutes,
    #[serde(alias = "hour")]
    Hours,
    #[serde(alias = "day")]
    Days,
    /// 30 days (rate-limiting's `month`; not an ACE duration).
    #[serde(alias = "month")]
    Months,
    /// 365 days (rate-limiting's `year`; not an ACE duration).
    #[serde(alias = "year")]
    Years,
}

impl Unit {
    pub const ALL: [Unit; 6] = [
        Unit::Seconds,
        Unit::Minutes,
        Unit::Hours,
        Unit::Days,
        Unit::Months,
        Unit::Years,
    ];

    pub fn seconds(self) -> u64 {
        match self {
            Unit::Seconds => 1,
            Unit::Minutes => 60,
            Unit::Hours => 3_600,
            Unit::Days => 86_400,
            Unit::Months => 30 * 86_400,
            Unit::Years => 365 * 86_400,
        }
    }

    /// The window's name in lower case, as logs and `explain` print it.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Seconds => "second",
            Unit::Minutes => "minute",
            Unit::Hours => "hour",
            Unit::Days => "day",
            Unit::Months => "month",
            Unit::Years => "year",
        }
    }

    /// The suffix used in `X-RateLimit-Limit-<Window>` headers.
    pub fn header_suffix(self) -> &'static str {
        match self {
            Unit::Seconds => "Second",
            Unit::Minutes => "Minute",
            Unit::Hours => "Hour",
            Unit::Days => "Day",
            Unit::Months => "Month",
            Unit::Years => "Year",
        }
    }
}

/// One window: `limit` requests per one `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub limit: u64,
    pub unit: Unit,
}

/// All windows of one limit; every one must admit a request. Sorted by unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Limits {
    pub windows: Vec<Window>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    limit: serde_yaml::Value,
    duration: Unit,
}

/// Parses a `rate_limiting_config` value. `Ok(None)` means unlimited.
/// Errors carry a path relative to the value (empty for the value itself).
pub fn parse_limits(value: &serde_yaml::Value) -> Result<Option<Limits>, Vec<(String, String)>> {
    let items: Vec<(String, &serde_yaml::Value)> = match value {
        serde_yaml::Value::Null => return Ok(None),
        serde_yaml::Value::Sequence(seq) => seq
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v))
            .collect(),
        serde_yaml::Value::Mapping(_) => vec![(String::new(), value)],
        _ => {
            return Err(vec![(
                String::new(),
                "expected {limit, duration}, a list of them, or null".to_string(),
            )])
        }
    };
    let mut errors = Vec::new();
    let mut windows: Vec<Window> = Vec::with_capacity(items.len());
    for (at, item) in items {
        let raw: RawWindow = match serde_path_to_error::deserialize(item.clone()) {
            Ok(raw) => raw,
            Err(e) => {
                let inner = e.path().to_string();
                let path = join(&at, if inner == "." { "" } else { &inner });
                errors.push((path, e.into_inner().to_string()));
                continue;
            }
        };
        let limit = match raw.limit.as_u64() {
            Some(n) if n > 0 => n,
            _ => {
                errors.push((
                    join(&at, "limit"),
                    format!(
                        "limit must be a whole number of at least 1, got {}",
                        render(&raw.limit)
                    ),
                ));
                continue;
            }
        };
        if matches!(raw.duration, Unit::Months | Unit::Years) {
            errors.push((
                join(&at, "duration"),
                "an ACE duration is seconds, minutes, hours or days".to_string(),
            ));
            continue;
        }
        if windows.iter().any(|w| w.unit == raw.duration) {
            errors.push((
                join(&at, "duration"),
                format!(
                    "duration {:?} appears twice; give each duration once",
                    raw.duration
                )
                .to_lowercase(),
            ));
            continue;
        }
        windows.push(Window {
            limit,
            unit: raw.duration,
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if windows.is_empty() {
        return Ok(None);
    }
    windows.sort_by_key(|w| w.unit);
    Ok(Some(Limits { windows }))
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a.to_string(),
        (true, false) => b.to_string(),
        (false, false) => format!("{a}.{b}"),
    }
}

fn render(v: &serde_yaml::Value) -> String {
    serde_yaml::to_string(v)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Option<Limits>, Vec<(String, String)>> {
        let v: serde_yaml::Value = serde_yaml::from_str(src).expect("yaml");
        parse_limits(&v)
    }

    #[test]
    fn table() {
        type Expected = Option<Vec<(u64, Unit)>>;
        let ok: &[(&str, Expected)] = &[
            ("null", None),
            (
                "{limit: 5, duration: seconds}",
                Some(vec![(5, Unit::Seconds)]),
            ),
            (
                "{limit: 5, duration: second}",
                Some(vec![(5, Unit::Seconds)]),
            ),
            (
                "[{limit: 100, duration: minutes}, {limit: 5, duration: seconds}]",
                Some(vec![(5, Unit::Seconds), (100, Unit::Minutes)]),
            ),
            ("[]", None),
        ];
        for (src, want) in ok {
            let got = parse(src).unwrap_or_else(|e| panic!("{src}: {e:?}"));
            let got = got.map(|l| {
                l.windows
                    .iter()
                    .map(|w| (w.limit, w.unit))
                    .collect::<Vec<_>>()
            });
            assert_eq!(&got, want, "{src}");
        }
        let bad: &[(&str, &str)] = &[
            ("{limit: 0, duration: seconds}", "limit"),
            ("{limit: -3, duration: seconds}", "limit"),
            ("{limit: 1.5, duration: seconds}", "limit"),
            ("{limit: 5, duration: weeks}", "duration"),
            ("{limit: 5}", ""),
            ("{limit: 5, duration: seconds, extra: 1}", ""),
            (
                "[{limit: 5, duration: seconds}, {limit: 6, duration: seconds}]",
                "[1].duration",
            ),
            ("7", ""),
        ];
        for (src, path) in bad {
            let errs = parse(src).expect_err(src);
            assert!(
                errs.iter().any(|(p, _)| p.starts_with(path)),
                "{src}: {errs:?}"
            );
        }
    }
}
