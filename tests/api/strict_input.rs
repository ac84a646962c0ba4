//! Sweeps driven by the OpenAPI document: every JSON request body refuses fields it does not
//! have and NUL characters in every string field, with 422 naming the field — never a silent
//! drop, never a database error.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;

/// The schema behind a `$ref`, or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Whether a property schema admits a string (`type: string`, `[string, null]`, or a `oneOf`
/// arm that does).
fn takes_string(doc: &Value, s: &Value) -> bool {
    let s = resolve(doc, s);
    match &s["type"] {
        Value::String(t) => t == "string",
        Value::Array(ts) => ts.iter().any(|t| t == "string"),
        _ => ["oneOf", "anyOf", "allOf"].iter().any(|k| {
            s[*k]
                .as_array()
                .is_some_and(|arms| arms.iter().any(|a| takes_string(doc, a)))
        }),
    }
}

struct Op {
    method: reqwest::Method,
    path: String,
    properties: Vec<(String, bool)>,
}

/// Every operation with a JSON object body: its concrete path (ids made up; the body is read
/// before any lookup) and its properties (name, takes a string).
fn json_ops(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(schema) =
                op["requestBody"]["content"]["application/json"]["schema"].as_object()
            else {
                continue;
            };
            let schema = resolve(doc, &Value::Object(schema.clone())).clone();
            let Some(props) = schema["properties"].as_object() else {
                continue;
            };
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "0191f3c4-0000-7000-8000-000000000000".to_owned()
                    } else {
                        seg.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            ops.push(Op {
                method: method.to_uppercase().parse().unwrap(),
                path: concrete,
                properties: props
                    .iter()
                    .map(|(k, v)| (k.clone(), takes_string(doc, v)))
                    .collect(),
            });
        }
    }
    ops
}

#[tokio::test]
async fn every_json_body_refuses_unknown_fields_duplicates_and_nul_by_name() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("strict@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "strict@example.com")
        .await
        .unwrap();
    let (_, doc) = app.get("/api/openapi.json", None).await;
    let ops = json_ops(&doc);
    assert!(ops.len() >= 20, "only {} JSON operations found", ops.len());
    let mut failures = Vec::new();
    let mut strings = 0;
    for op in &ops {
        let (s, b) = app
            .call(
                op.method.clone(),
                &op.path,
                Some(&t),
                Some(json!({"zz_not_a_field": 1})),
            )
            .await;
        if s != StatusCode::UNPROCESSABLE_ENTITY
            || b["error"]["fields"]["zz_not_a_field"] != "is not a known field"
        {
            failures.push(format!("{} {} unknown field: {s} {b}", op.method, op.path));
        }
        for (field, _) in op.properties.iter().filter(|(_, s)| *s) {
            strings += 1;
            let (s, b) = app
                .call(
                    op.method.clone(),
                    &op.path,
                    Some(&t),
                    Some(json!({ field: "a\u{0}b" })),
                )
                .await;
            if s != StatusCode::UNPROCESSABLE_ENTITY
                || b["error"]["fields"][field] != "must not contain NUL characters"
            {
                failures.push(format!("{} {} NUL in {field}: {s} {b}", op.method, op.path));
            }
        }
    }
    assert!(strings >= 30, "only {strings} string fields found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The examples the probe found, end to end.
    let (s, b) = app
        .patch("/api/v1/me", Some(&t), json!({"role": "admin"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["error"]["fields"]["role"], "is not a known field");
    let res = app
        .http
        .post(app.url("/api/v1/projects"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(r#"{"name":"first","name":"second"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"]["fields"]["name"], "appears more than once");
    // NUL deep inside a code's data and a bulk row.
    let (s, b) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "v", "qr_type": "vcard", "dynamic": false,
                   "data": {"first_name": "A", "emails": ["a@example.com", "b\u{0}@example.com"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(
        b["error"]["fields"]["data.emails[1]"],
        "must not contain NUL characters"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn every_list_pages_and_validates_alike() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("pages@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "pages@example.com")
        .await
        .unwrap();
    let (_, doc) = app.get("/api/openapi.json", None).await;
    let mut lists = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(params) = item["get"]["parameters"].as_array() else {
            continue;
        };
        if !params.iter().any(|p| p["name"] == "per_page") || path.contains('{') {
            continue;
        }
        lists += 1;
        for (query, field) in [
            ("page=0", "page"),
            ("page=-1", "page"),
            ("per_page=0", "per_page"),
            ("per_page=101", "per_page"),
        ] {
            let (s, b) = app.get(&format!("{path}?{query}"), Some(&t)).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}?{query}: {b}");
            assert!(
                b["error"]["fields"][field].is_string(),
                "{path}?{query}: {b}"
            );
        }
    }
    assert!(lists >= 8, "only {lists} paginated lists documented");

    for name in ["one", "two", "three"] {
        let (s, _) = app
            .post("/api/v1/api-keys", Some(&t), json!({ "name": name }))
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    for path in ["/api/v1/api-keys", "/api/v1/templates"] {
        let (_, all) = app.get(&format!("{path}?per_page=100"), Some(&t)).await;
        let total = all["total"].as_i64().unwrap();
        assert!(total >= 2, "{path}: {all}");
        let (s, b) = app
            .get(&format!("{path}?per_page=1&page=2"), Some(&t))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["items"].as_array().unwrap().len(), 1, "{path}: {b}");
        assert_eq!(b["items"][0], all["items"][1], "{path}");
        assert_eq!(
            (b["page"].as_i64(), b["per_page"].as_i64()),
            (Some(2), Some(1))
        );
        assert_eq!(b["total"].as_i64(), Some(total));
        let (_, past) = app
            .get(&format!("{path}?per_page=1&page={}", total + 1), Some(&t))
            .await;
        assert_eq!(past["items"], json!([]), "{path}");
    }
    app.stop().await.unwrap();
}
