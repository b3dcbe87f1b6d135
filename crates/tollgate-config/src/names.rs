//! Error locations a person can find: `api_packages[1].operations[4]`
//! becomes `api_packages[1] (retail-basic).operations[4]`, naming every
//! entity on the way that has a `name` or `username`.

use serde_yaml::Value;

/// `path` with the name of each list entry it passes through.
pub fn named_path(doc: &Value, path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 16);
    let mut node = Some(doc);
    for (n, part) in path.split('.').enumerate() {
        if n > 0 {
            out.push('.');
        }
        out.push_str(part);
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        node = node.and_then(|v| v.get(key));
        if indices.is_empty() {
            continue;
        }
        for idx in indices.split('[').skip(1) {
            let i = idx.trim_end_matches(']').parse::<usize>().ok();
            node = node.and_then(|v| v.get(i?));
        }
        if let Some(name) = node.and_then(|v| v.get("name").or_else(|| v.get("username"))) {
            if let Some(name) = name.as_str() {
                out.push_str(&format!(" ({name})"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::named_path;

    #[test]
    fn names_each_entity_on_the_path() {
        let doc: serde_yaml::Value = serde_yaml::from_str(
            "api_packages: [{ name: a }, { name: retail-basic, operations: [{}, {}, {}, {}, { api: x }] }]\nservices: [{ name: s, routes: [{ name: r }] }]\nconsumers: [{ username: u }]",
        )
        .expect("yaml");
        assert_eq!(
            named_path(&doc, "api_packages[1].operations[4]"),
            "api_packages[1] (retail-basic).operations[4]"
        );
        assert_eq!(
            named_path(&doc, "services[0].routes[0].paths[0]"),
            "services[0] (s).routes[0] (r).paths[0]"
        );
        assert_eq!(
            named_path(&doc, "consumers[0].acls"),
            "consumers[0] (u).acls"
        );
        assert_eq!(named_path(&doc, "nothing[3].x"), "nothing[3].x");
        assert_eq!(named_path(&doc, ""), "");
    }
}
