//! Splitting `host[:port]` and `[v6][:port]`, shared by a service's `url`
//! and a Kong target. Each caller words its own errors.

/// What is wrong with a `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    UnclosedBracket,
    /// Something other than `:port` after `[v6]`.
    AfterBracket,
    NoHost,
    BadPort(String),
}

impl Problem {
    /// The error message, about `what` (e.g. `url "http://[::1"`).
    pub(crate) fn about(&self, what: &str) -> String {
        match self {
            Problem::UnclosedBracket => format!("{what} has an unclosed IPv6 bracket"),
            Problem::AfterBracket => format!("{what} has something other than :port after ]"),
            Problem::NoHost => format!("{what} has no host"),
            Problem::BadPort(p) => format!("{what} has an invalid port {p:?}"),
        }
    }
}

/// How an unbracketed text with several colons is read.
#[derive(Clone, Copy)]
pub(crate) enum Colons {
    /// The last colon starts the port (a URL authority).
    LastIsPort,
    /// A bare IPv6 address without a port (Kong's targets).
    BareV6,
}

/// The host and the port, if one is written (1–65535).
pub(crate) fn split(s: &str, colons: Colons) -> Result<(String, Option<u16>), Problem> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or(Problem::UnclosedBracket)?;
        match after {
            "" => (h, None),
            _ => (
                h,
                Some(after.strip_prefix(':').ok_or(Problem::AfterBracket)?),
            ),
        }
    } else {
        match colons {
            Colons::BareV6 if s.matches(':').count() > 1 => (s, None),
            Colons::BareV6 => s.split_once(':').map_or((s, None), |(h, p)| (h, Some(p))),
            Colons::LastIsPort => s.rsplit_once(':').map_or((s, None), |(h, p)| (h, Some(p))),
        }
    };
    if host.is_empty() {
        return Err(Problem::NoHost);
    }
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| Problem::BadPort(p.to_string()))?,
        ),
        None => None,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Want = Result<(&'static str, Option<u16>), Problem>;

    #[test]
    fn splits_hosts_and_ports() {
        use Colons::*;
        let cases: &[(&str, Colons, Want)] = &[
            ("h:80", LastIsPort, Ok(("h", Some(80)))),
            ("h", LastIsPort, Ok(("h", None))),
            ("[::1]:81", LastIsPort, Ok(("::1", Some(81)))),
            ("[::1]", BareV6, Ok(("::1", None))),
            ("::1", BareV6, Ok(("::1", None))),
            ("[::1]x:80", LastIsPort, Err(Problem::AfterBracket)),
            ("[::1:80", BareV6, Err(Problem::UnclosedBracket)),
            (":80", LastIsPort, Err(Problem::NoHost)),
            ("h:0", BareV6, Err(Problem::BadPort("0".into()))),
            ("h:", LastIsPort, Err(Problem::BadPort(String::new()))),
        ];
        for (s, colons, want) in cases {
            let got = split(s, *colons);
            let want = want.clone().map(|(h, p)| (h.to_string(), p));
            assert_eq!(got, want, "{s}");
        }
    }
}
