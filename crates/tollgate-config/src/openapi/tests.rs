//! Importer tables: each case is a small spec and the operations (or the
//! problems) it must give.

use super::*;

/// `METHOD path [id]` of every operation, sorted.
fn ops(text: &str) -> Vec<String> {
    let imported = import(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
    assert!(
        imported.problems.is_empty(),
        "{text}: {:?}",
        imported.problems
    );
    let mut v: Vec<String> = imported
        .operations
        .iter()
        .map(|o| match &o.operation_id {
            Some(id) => format!("{} {} {id}", o.method, o.path),
            None => format!("{} {}", o.method, o.path),
        })
        .collect();
    v.sort();
    v
}

const R: &str = "responses: { '200': { description: ok } }";

#[test]
fn imports_table() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!(
                "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\nservers: [{{url: 'https://api.example.com/v1/'}}]\npaths:\n  /flights:\n    get: {{operationId: list, {R}}}\n    post: {{{R}}}\n  /flights/{{id}}:\n    get: {{operationId: one, {R}}}\n"
            ),
            vec!["GET /v1/flights list", "GET /v1/flights/{id} one", "POST /v1/flights"],
        ),
        (
            // Trailing slash and parameter-name variants merge; the first keeps its id.
            format!(
                "openapi: 3.0.0\ninfo: {{title: t, version: '1'}}\npaths:\n  /a/{{id}}:\n    get: {{operationId: first, {R}}}\n  /a/{{name}}/:\n    get: {{operationId: second, {R}}}\n"
            ),
            vec!["GET /a/{id} first"],
        ),
        (
            // Parameters with a literal prefix or suffix in the segment.
            format!(
                "openapi: 3.0.1\ninfo: {{title: t, version: '1'}}\nservers: [{{url: 'https://api.twilio.com'}}]\npaths:\n  /Accounts/{{Sid}}.json:\n    get: {{{R}}}\n  /files/{{id}}/thumbnail.{{extension}}:\n    get: {{{R}}}\n"
            ),
            vec!["GET /Accounts/{Sid}.json", "GET /files/{id}/thumbnail.{extension}"],
        ),
        (
            // `#fragment` variants are one endpoint on the wire.
            format!(
                "openapi: 3.0.2\ninfo: {{title: t, version: '1'}}\npaths:\n  /files/{{id}}:\n    get: {{operationId: get-file, {R}}}\n  /files/{{id}}#add_link:\n    put: {{operationId: add-link, {R}}}\n  /files/{{id}}#update_link:\n    put: {{operationId: update-link, {R}}}\n"
            ),
            vec!["GET /files/{id} get-file", "PUT /files/{id} add-link"],
        ),
        (
            // Swagger 2.0: basePath prefixes; host is not used for matching.
            format!(
                "swagger: '2.0'\ninfo: {{title: t, version: '1'}}\nhost: petstore.example.com\nbasePath: /v1\npaths:\n  /pets:\n    get: {{operationId: listPets, {R}}}\n    parameters: []\n  x-internal: {{}}\n"
            ),
            vec!["GET /v1/pets listPets"],
        ),
        (
            // Server variable in the path, substituted with its default.
            format!(
                "openapi: 3.0.0\ninfo: {{title: t, version: '1'}}\nservers: [{{url: 'https://x.io/{{base}}', variables: {{base: {{default: v2}}}}}}]\npaths:\n  /p:\n    get: {{{R}}}\n"
            ),
            vec!["GET /v2/p"],
        ),
        (
            // Path-level servers replace the base path for that path.
            format!(
                "openapi: 3.0.0\ninfo: {{title: t, version: '1'}}\nservers: [{{url: /v1}}]\npaths:\n  /p:\n    servers: [{{url: /v9}}]\n    get: {{{R}}}\n  /q:\n    get: {{{R}}}\n"
            ),
            vec!["GET /v1/q", "GET /v9/p"],
        ),
        (
            // 3.1: a path item that is a $ref, and an x- key under paths.
            r##"{"openapi":"3.1.0","info":{"title":"t","version":"1"},
                "servers":[{"url":"/api"}],
                "paths":{"/a":{"get":{"operationId":"a"},"delete":{}},
                         "/b":{"$ref":"#/components/pathItems/B"},
                         "x-tags":{"whatever":true}},
                "components":{"pathItems":{"B":{"post":{"operationId":"b"}}}}}"##
                .to_string(),
            vec!["DELETE /api/a", "GET /api/a a", "POST /api/b b"],
        ),
        (
            // 3.0 path item $ref.
            format!(
                "openapi: 3.0.0\ninfo: {{title: t, version: '1'}}\npaths:\n  /r:\n    $ref: '#/x-items/R'\nx-items:\n  R:\n    head: {{{R}}}\n"
            ),
            vec!["HEAD /r"],
        ),
        (
            "openapi: 3.1.0\ninfo: {title: t, version: '1'}\nwebhooks: {}\n".to_string(),
            vec![],
        ),
        (
            // The root path under a base path is the base path itself.
            format!(
                "openapi: 3.0.0\ninfo: {{title: t, version: '1'}}\nservers: [{{url: /v2}}]\npaths:\n  /:\n    get: {{{R}}}\n"
            ),
            vec!["GET /v2"],
        ),
    ];
    for (text, want) in cases {
        assert_eq!(ops(&text), want, "{text}");
    }
}

#[test]
fn path_problems_table() {
    // (spec, pointer of the one problem, operations it names)
    let cases: Vec<(String, &str, Vec<&str>)> = vec![
        (
            format!(
                "openapi: 3.0.0\ninfo: {{title: t, version: '1'}}\npaths:\n  /a/{{x}}{{y}}:\n    get: {{{R}}}\n    post: {{{R}}}\n  /ok:\n    get: {{{R}}}\n"
            ),
            "/paths/~1a~1{x}{y}",
            vec!["GET /a/{x}{y}", "POST /a/{x}{y}"],
        ),
        (
            r##"{"openapi":"3.1.0","info":{"title":"t","version":"1"},
                "paths":{"/b":{"$ref":"#/components/pathItems/Missing"},"/ok":{"get":{}}}}"##
                .to_string(),
            "/paths/~1b",
            vec![],
        ),
        (
            r##"{"openapi":"3.1.0","info":{"title":"t","version":"1"},
                "paths":{"/c":{"$ref":"other.yaml#/C"},"/ok":{"get":{}}}}"##
                .to_string(),
            "/paths/~1c",
            vec![],
        ),
        (
            "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths:\n  nope:\n    get: {}\n  /ok:\n    get: {}\n"
                .to_string(),
            "/paths/nope",
            vec!["GET nope"],
        ),
    ];
    for (text, pointer, names) in cases {
        let imported = import(&text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        assert_eq!(
            imported.problems.len(),
            1,
            "{text}: {:?}",
            imported.problems
        );
        assert_eq!(imported.problems[0].pointer, pointer, "{text}");
        assert_eq!(imported.problems[0].operations, names, "{text}");
        assert!(
            imported.operations.iter().any(|o| o.path == "/ok"),
            "{text}: the other paths still import"
        );
    }
}

#[test]
fn an_invalid_30_operation_is_its_paths_problem() {
    // `responses` must be a mapping: the 3.0 parser refuses this path only.
    let text = format!(
        "openapi: 3.0.0\ninfo: {{title: t, version: '1'}}\npaths:\n  /bad:\n    get: {{responses: 7}}\n    put: {{{R}}}\n  /ok:\n    get: {{{R}}}\n"
    );
    let imported = import(&text).expect("the document is usable");
    assert_eq!(imported.problems.len(), 1, "{:?}", imported.problems);
    let p = &imported.problems[0];
    assert_eq!(p.pointer, "/paths/~1bad");
    assert!(
        p.message.contains("not a valid OpenAPI 3.0 path item") && p.message.contains("Responses"),
        "{}",
        p.message
    );
    assert_eq!(p.operations, ["GET /bad", "PUT /bad"]);
    let paths: Vec<&str> = imported
        .operations
        .iter()
        .map(|o| o.path.as_str())
        .collect();
    assert_eq!(paths, ["/ok"]);
}

#[test]
fn whole_document_problems() {
    let cases: &[(&str, &str)] = &[
        ("swagger: '1.2'\npaths: {}", "/swagger"),
        ("openapi: 2.5.0\npaths: {}", "/openapi"),
        ("just: a map", ""),
        ("swagger: '2.0'", ""),
        ("swagger: '2.0'\ninfo: {title: t}\npaths: {}", "/info"),
        ("openapi: 3.1.0\npaths: {}", ""),
        ("openapi: 3.0.0\ninfo: 7\npaths: {}", "/info"),
        ("[unclosed", ""),
        ("{\"openapi\": ", ""),
        (
            "openapi: 3.0.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'https://x/{v}'}]\npaths: {}",
            "/servers/0/variables/v",
        ),
    ];
    for (text, pointer) in cases {
        match import(text) {
            Ok(i) => panic!("{text}: imported {:?}", i.operations),
            Err(e) => assert_eq!(e.pointer, *pointer, "{text}: {}", e.message),
        }
    }
}

#[test]
fn pointers_escape() {
    assert_eq!(pointer_escape("/a~b/{id}"), "~1a~0b~1{id}");
}
