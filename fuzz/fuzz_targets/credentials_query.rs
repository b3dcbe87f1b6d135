//! Finding API keys in arbitrary query strings and headers: never panics.
//! Also the guarantees `hide_credentials` rests on: once a parameter is
//! stripped, no spelling of it is left for an upstream to read, and
//! `has_query_param` agrees with `query_value`.
//!
//! Input: the first line is a key name, the second the query string, every
//! further line a `name: value` header when both are valid.

#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tollgate_core::credentials::{
    find_key, has_query_param, query_value, strip_query_param, Found, KeyName, KeySource,
};

fn key_names(name: &str) -> Vec<KeyName> {
    ["apikey", name]
        .iter()
        .map(|n| KeyName {
            header: HeaderName::from_bytes(n.as_bytes()).ok(),
            query: (*n).into(),
            strategies: vec![0],
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let (Some(name), Some(query)) = (lines.next(), lines.next()) else {
        return;
    };
    // Validation refuses blank key names (the empty name is in every query).
    if name.trim().is_empty() {
        return;
    }
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((n, v)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v.trim()),
        ) {
            headers.append(n, v);
        }
    }

    let value = query_value(query, name);
    assert_eq!(
        has_query_param(query, name),
        value.is_some(),
        "{query:?} {name:?}"
    );
    let stripped = strip_query_param(query, name);
    assert!(
        !has_query_param(&stripped, name),
        "{name:?} left in {stripped:?}"
    );
    assert!(query_value(&stripped, name).is_none());

    let names = key_names(name);
    for (in_header, in_query) in [(true, true), (true, false), (false, true)] {
        match find_key(&names, &headers, Some(query), in_header, in_query) {
            Found::Key(_, KeySource::Query(i)) => {
                let hidden = strip_query_param(query, &names[i].query);
                assert!(!has_query_param(&hidden, &names[i].query));
            }
            Found::Key(_, KeySource::Header(i)) => assert!(names[i].header.is_some()),
            Found::Duplicate | Found::None => {}
        }
    }
});
