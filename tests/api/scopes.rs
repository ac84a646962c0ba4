//! Scoped API keys: every secured operation in the OpenAPI document names its scope, and a key
//! without it is refused (403 `insufficient_scope`) before anything else happens, while a key
//! with only that scope gets through. Plus narrowing, validation, expiry and `last_used_at`.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, eventually};

const ID: &str = "0191f3c4-0000-7000-8000-000000000000";

async fn key(app: &TestApp, token: &str, body: Value) -> String {
    let (s, b) = app.post("/api/v1/api-keys", Some(token), body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["key"].as_str().unwrap().to_owned()
}

/// Status and error code, without reading a streamed body to its end.
async fn try_op(app: &TestApp, method: &str, path: &str, key: &str) -> (StatusCode, Value) {
    let mut req = app
        .http
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(key);
    if matches!(method, "POST" | "PUT" | "PATCH") {
        req = req.json(&json!({}));
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let is_json = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
    let body = if is_json && status.is_client_error() {
        res.json().await.unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    (status, body)
}

#[tokio::test]
async fn every_secured_operation_needs_its_scope() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("scopes@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "scopes@example.com")
        .await
        .unwrap();
    let all: Vec<&str> = qrsaas::accounts::scopes::SCOPES
        .iter()
        .map(|(s, _)| *s)
        .collect();
    // Per scope: a key with everything but it (and the write scope that includes it), and a
    // key with only it.
    let mut without = BTreeMap::new();
    let mut only = BTreeMap::new();
    for s in &all {
        let implied_by = s.strip_suffix(":read").map(|r| format!("{r}:write"));
        let rest: Vec<&str> = all
            .iter()
            .copied()
            .filter(|x| x != s && Some(x.to_string()) != implied_by)
            .collect();
        without.insert(
            *s,
            key(&app, &t, json!({"name": "w", "scopes": rest})).await,
        );
        only.insert(*s, key(&app, &t, json!({"name": "o", "scopes": [s]})).await);
    }

    let (_, doc) = app.get("/api/openapi.json", None).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(security) = op["security"].as_array() else {
                continue;
            };
            let Some(scope) = security
                .iter()
                .find_map(|s| s["bearer"].as_array())
                .and_then(|scopes| scopes.first())
                .and_then(Value::as_str)
            else {
                continue;
            };
            assert!(
                all.contains(&scope),
                "{method} {path}: unknown scope {scope}"
            );
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path}: 401 undocumented"
            );
            let concrete = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { ID } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let m = method.to_uppercase();
            let (s, b) = try_op(&app, &m, &concrete, &without[scope]).await;
            assert_eq!(
                (
                    s,
                    b["error"]["code"].as_str(),
                    b["error"]["fields"]["scope"].as_str()
                ),
                (
                    StatusCode::FORBIDDEN,
                    Some("insufficient_scope"),
                    Some(scope)
                ),
                "{m} {path} with a key lacking {scope}: {b}"
            );
            let (s, b) = try_op(&app, &m, &concrete, &only[scope]).await;
            assert!(
                b["error"]["code"] != "insufficient_scope" && s != StatusCode::UNAUTHORIZED,
                "{m} {path} with only {scope}: {s} {b}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 70, "only {checked} secured operations");
    // Sessions have every scope.
    assert_eq!(
        app.get("/api/v1/api-keys", Some(&t)).await.0,
        StatusCode::OK
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn keys_are_narrowed_validated_expire_and_record_use() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("narrow@example.com").await;
    // Unknown scopes, empty lists and past expiry: 422 naming the field.
    let (s, b) = app
        .post(
            "/api/v1/api-keys",
            Some(&t),
            json!({"name": "x", "scopes": ["codes:read", "root"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["error"]["fields"]["scopes[1]"], "is not a known scope");
    let (s, b) = app
        .post(
            "/api/v1/api-keys",
            Some(&t),
            json!({"name": "x", "scopes": []}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["scopes"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let (s, b) = app
        .post(
            "/api/v1/api-keys",
            Some(&t),
            json!({"name": "x", "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["expires_at"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("must be in the future")
        )
    );

    // A read-only key reads, cannot write, and says so.
    let (_, created) = app
        .post(
            "/api/v1/api-keys",
            Some(&t),
            json!({"name": "ro", "scopes": ["codes:read"]}),
        )
        .await;
    assert_eq!(created["scopes"], json!(["codes:read"]));
    let ro = created["key"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/qr-codes", Some(&ro)).await.0,
        StatusCode::OK
    );
    let (s, b) = app
        .post(
            "/api/v1/qr-codes",
            Some(&ro),
            json!({"name": "n", "qr_type": "text", "dynamic": false, "data": {"text": "x"}}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope"))
    );
    // A key cannot mint a wider key.
    let admin_only = key(&app, &t, json!({"name": "a", "scopes": ["account:admin"]})).await;
    let (s, b) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin_only),
            json!({"name": "wider", "scopes": ["codes:write"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(
        b["error"]["fields"]["scopes[0]"],
        "is not held by the key creating this one"
    );
    // Omitted scopes: what the creator holds (here only account:admin).
    let (_, same) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin_only),
            json!({"name": "same"}),
        )
        .await;
    assert_eq!(same["scopes"], json!(["account:admin"]));
    // A session's key without scopes has them all.
    let (_, full) = app
        .post("/api/v1/api-keys", Some(&t), json!({"name": "full"}))
        .await;
    assert_eq!(
        full["scopes"].as_array().unwrap().len(),
        qrsaas::accounts::scopes::SCOPES.len()
    );

    // last_used_at is recorded.
    let id = created["id"].as_str().unwrap();
    let (_, k) = app.get(&format!("/api/v1/api-keys/{id}"), Some(&t)).await;
    assert!(k["last_used_at"].is_string(), "{k}");

    // An expiring key works until its time, then answers 401.
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (_, short) = app
        .post(
            "/api/v1/api-keys",
            Some(&t),
            json!({"name": "short", "scopes": ["codes:read"], "expires_at": at}),
        )
        .await;
    let short = short["key"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/qr-codes", Some(&short)).await.0,
        StatusCode::OK
    );
    eventually("the key expires", || async {
        (app.get("/api/v1/qr-codes", Some(&short)).await.0 == StatusCode::UNAUTHORIZED)
            .then_some(())
    })
    .await;
    app.stop().await.unwrap();
}
