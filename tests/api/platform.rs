//! Health, readiness, metrics, OpenAPI/docs and the error model.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn health_and_readiness_report_each_store() {
    let app = TestApp::spawn().await;
    let (s, b) = app.get("/healthz", None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b,
        json!({"status": "ok", "postgres": "up", "redis": "up", "clickhouse": "up"})
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn readiness_names_the_store_that_is_down() {
    // ClickHouse pointed at a closed port: the service serves, but is not ready.
    let app = TestApp::spawn_parts(
        qrsaas::startup::Parts {
            migrate: false,
            ..qrsaas::startup::Parts::ALL
        },
        |s| s.clickhouse_url = "http://127.0.0.1:9".into(),
    )
    .await;
    // Postgres migrations are normally applied by `all`; here only the HTTP probe matters.
    let (s, b) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b["clickhouse"], "down");
    assert_eq!(b["postgres"], "up");
    assert_eq!(b["redis"], "up");
    assert_eq!(app.get("/healthz", None).await.0, StatusCode::OK);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_label_routes_by_pattern_not_raw_path() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("metrics@example.com").await;
    let id = uuid::Uuid::new_v4();
    let (s, _) = app
        .get(&format!("/api/v1/projects/{id}"), Some(&token))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let text = app.metrics().await;
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/api/v1/projects/{id}""#), "{text}");
    assert!(
        !text.contains(&id.to_string()),
        "raw ids must not become labels"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn request_ids_are_echoed_or_assigned() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let assigned = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&assigned).is_ok(), "{assigned}");
    app.stop().await.unwrap();
}

/// Every route the server answers is in the OpenAPI document.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/google/start"),
    ("get", "/api/v1/auth/google/callback"),
    ("post", "/api/v1/auth/password/change"),
    ("post", "/api/v1/auth/password/forgot"),
    ("post", "/api/v1/auth/password/reset"),
    ("post", "/api/v1/auth/verify-email"),
    ("post", "/api/v1/auth/verify-email/resend"),
    ("post", "/api/v1/auth/email/change"),
    ("get", "/api/v1/auth/sessions"),
    ("post", "/api/v1/auth/totp/setup"),
    ("post", "/api/v1/auth/totp/enable"),
    ("post", "/api/v1/auth/totp/disable"),
    ("delete", "/api/v1/auth/sessions/{id}"),
    ("get", "/api/v1/me"),
    ("delete", "/api/v1/me"),
    ("patch", "/api/v1/me"),
    ("post", "/api/v1/me/export"),
    ("post", "/api/v1/api-keys"),
    ("get", "/api/v1/api-keys"),
    ("get", "/api/v1/api-keys/{id}"),
    ("delete", "/api/v1/api-keys/{id}"),
    ("post", "/api/v1/projects"),
    ("get", "/api/v1/projects"),
    ("get", "/api/v1/projects/{id}"),
    ("patch", "/api/v1/projects/{id}"),
    ("delete", "/api/v1/projects/{id}"),
    ("get", "/api/v1/settings"),
    ("put", "/api/v1/settings"),
    ("get", "/api/v1/audit-logs"),
    ("get", "/api/v1/admin/audit-logs"),
    ("get", "/api/v1/admin/users"),
    ("patch", "/api/v1/admin/users/{id}"),
    ("post", "/api/v1/qr-codes"),
    ("get", "/api/v1/qr-codes"),
    ("get", "/api/v1/qr-codes/{id}"),
    ("patch", "/api/v1/qr-codes/{id}"),
    ("delete", "/api/v1/qr-codes/{id}"),
    ("get", "/api/v1/qr-codes/{id}/image"),
    ("get", "/api/v1/qr-codes/{id}/versions"),
    ("post", "/api/v1/qr-codes/{id}/versions/{version}/restore"),
    ("post", "/api/v1/qr-codes/{id}/schedules"),
    ("post", "/api/v1/imports"),
    ("post", "/api/v1/domains"),
    ("get", "/api/v1/domains"),
    ("delete", "/api/v1/domains/{id}"),
    ("patch", "/api/v1/domains/{id}"),
    ("post", "/api/v1/domains/{id}/verify"),
    ("get", "/internal/tls-allowed"),
    ("get", "/api/v1/domains/{id}"),
    ("get", "/.well-known/qrsaas/{token}"),
    ("get", "/api/v1/qr-codes/{id}/schedules"),
    ("delete", "/api/v1/qr-codes/{id}/schedules/{schedule_id}"),
    ("get", "/api/v1/merchant"),
    ("put", "/api/v1/merchant"),
    ("post", "/api/v1/products"),
    ("get", "/api/v1/products"),
    ("get", "/api/v1/products/{id}"),
    ("patch", "/api/v1/products/{id}"),
    ("delete", "/api/v1/products/{id}"),
    ("post", "/api/v1/uploads"),
    ("get", "/api/v1/uploads/{id}"),
    ("get", "/api/v1/templates"),
    ("get", "/api/v1/templates/{id}/preview"),
    ("post", "/api/v1/templates/{id}/data"),
    ("get", "/p/{url_id}"),
    ("get", "/r/{short_code}"),
    ("get", "/r/{short_code}/download"),
    ("post", "/r/{short_code}"),
    ("get", "/r/{short_code}/logo"),
    ("get", "/r/{short_code}/report"),
    ("post", "/r/{short_code}/report"),
    ("post", "/api/v1/admin/qr-codes/{id}/block"),
    ("post", "/api/v1/admin/qr-codes/{id}/unblock"),
    ("get", "/api/v1/admin/qr-codes"),
    ("get", "/api/v1/admin/stats"),
    ("get", "/api/v1/admin/blocklist"),
    ("post", "/api/v1/admin/blocklist"),
    ("delete", "/api/v1/admin/blocklist/{id}"),
    ("get", "/api/v1/admin/reports"),
    ("post", "/api/v1/admin/reports/{id}/resolve"),
    ("get", "/api/v1/qr-codes/{id}/analytics"),
    ("get", "/api/v1/qr-codes/{id}/analytics.csv"),
    ("get", "/api/v1/analytics"),
    ("get", "/api/v1/analytics.csv"),
    ("post", "/api/v1/exports"),
    ("post", "/api/v1/qr-codes/bulk"),
    ("get", "/api/v1/exports/{id}/download"),
    ("get", "/api/v1/jobs/{id}"),
    ("post", "/api/v1/jobs/{id}/cancel"),
    ("get", "/api/v1/admin/jobs"),
    ("post", "/api/v1/admin/jobs/{id}/retry"),
    ("get", "/api/v1/billing/statements"),
    ("get", "/api/v1/billing/plans"),
    ("get", "/api/v1/billing/subscription"),
    ("get", "/api/v1/billing/usage"),
    ("get", "/api/v1/billing/credits"),
    ("post", "/api/v1/billing/checkout"),
    ("post", "/api/v1/billing/credits/checkout"),
    ("post", "/api/v1/billing/portal"),
    ("post", "/api/v1/billing/stripe/webhook"),
    ("get", "/api/v1/admin/users/{id}"),
    ("post", "/api/v1/admin/users/{id}/credits"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/{id}"),
    ("patch", "/api/v1/webhooks/{id}"),
    ("delete", "/api/v1/webhooks/{id}"),
    ("post", "/api/v1/webhooks/{id}/rotate-secret"),
    ("post", "/api/v1/webhooks/{id}/test"),
    ("get", "/api/v1/webhooks/{id}/deliveries"),
    ("get", "/api/v1/webhooks/{id}/deliveries/{delivery_id}"),
    (
        "post",
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/replay",
    ),
    ("get", "/api/v1/scans/stream"),
    ("put", "/api/v1/me/phone"),
    ("get", "/api/v1/me/phone"),
    ("delete", "/api/v1/me/phone"),
    ("post", "/api/v1/me/phone/verify"),
    ("get", "/api/v1/unsubscribe"),
    ("post", "/api/v1/unsubscribe"),
];

#[tokio::test]
async fn openapi_lists_every_route_and_docs_are_served_offline() {
    let app = TestApp::spawn().await;
    let (s, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from OpenAPI"
        );
    }
    let n: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        n,
        ROUTES.len(),
        "OpenAPI documents a route the test list does not know"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let res = app.http.get(app.url("/docs")).send().await.unwrap();
    assert!(res.status().is_redirection());
    let html = app
        .http
        .get(app.url("/docs/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // The viewer's assets come from the binary, not a CDN.
    assert!(
        !html.contains("https://"),
        "docs page must not load remote assets"
    );
    for asset in [
        "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
    ] {
        let r = app.http.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn bad_input_answers_the_error_model() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("errors@example.com").await;
    let send = |body: &'static str, ctype: &'static str| {
        app.http
            .post(app.url("/api/v1/projects"))
            .bearer_auth(&token)
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    // Malformed JSON: 400.
    let r = send("{\"name\": ", "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "bad_request");
    // Missing field: 422 naming it.
    let r = send("{\"color\": \"#112233\"}", "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "validation_failed");
    assert_eq!(b["error"]["fields"]["name"], "is required");
    // Wrong type: 422 naming it.
    let r = send("{\"name\": 5}", "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b: serde_json::Value = r.json().await.unwrap();
    assert!(b["error"]["fields"]["name"].is_string(), "{b}");
    // Invalid values: every bad field reported at once.
    let r = send("{\"name\": \"  \", \"color\": \"red\"}", "application/json")
        .await
        .unwrap();
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["error"]["fields"]["name"], "must not be empty");
    assert_eq!(
        b["error"]["fields"]["color"],
        "must be a colour like #1a2b3c"
    );
    // Not JSON at all: 415.
    let r = send("name=x", "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Oversize: 413.
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    let r = app
        .http
        .post(app.url("/api/v1/projects"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "payload_too_large");
    // No credentials: 401; unknown route: JSON 404; non-UUID id: 404.
    let (s, b) = app.get("/api/v1/projects", None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (s, b) = app.get("/api/v1/nope", Some(&token)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, _) = app.get("/api/v1/projects/not-a-uuid", Some(&token)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Bad pagination: 422.
    let (s, b) = app.get("/api/v1/projects?per_page=500", Some(&token)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["error"]["fields"]["per_page"].is_string());
    // Nothing was created by any of it.
    let (_, list) = app.get("/api/v1/projects", Some(&token)).await;
    assert_eq!(list["total"], 0);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn clickhouse_migrations_create_the_tables_once() {
    let app = TestApp::spawn().await;
    let ch = qrsaas::analytics::client(&app.settings);
    let db = &app.settings.clickhouse_database;
    let tables = names(
        &ch,
        "SELECT name FROM system.tables WHERE database = ?",
        db,
        "",
    )
    .await;
    for t in [
        "daily_aggregates",
        "qr_codes",
        "scan_events",
        "schema_migrations",
    ] {
        assert!(tables.contains(&t.to_owned()), "{t} missing: {tables:?}");
    }
    let columns = names(
        &ch,
        "SELECT name FROM system.columns WHERE database = ? AND table = ?",
        db,
        "scan_events",
    )
    .await;
    // Every column of both seed tables (qr_scan_events and scan_logs).
    for c in [
        "event_id",
        "qr_id",
        "user_id",
        "scanned_at",
        "ip",
        "country",
        "city",
        "user_agent",
        "device_type",
        "os",
        "browser",
        "referer",
        "id",
        "device",
        "referrer",
    ] {
        assert!(columns.contains(&c.to_owned()), "scan_events lacks {c}");
    }
    // Running the migrations again applies nothing.
    assert_eq!(qrsaas::analytics::migrate(&app.settings).await.unwrap(), 0);
    app.stop().await.unwrap();
}

/// The `name` column of a system-table query with two bound parameters (the second may be unused).
async fn names(ch: &clickhouse::Client, sql: &str, a: &str, b: &str) -> Vec<String> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Name {
        name: String,
    }
    let mut q = ch.query(sql).bind(a);
    if sql.matches('?').count() > 1 {
        q = q.bind(b);
    }
    q.fetch_all::<Name>()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect()
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app =
        TestApp::spawn_with(|s| s.cors_allowed_origins = vec!["https://app.example.com".into()])
            .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/projects"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let evil = preflight("https://evil.example.com").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn openapi_has_no_dangling_references() {
    let app = TestApp::spawn().await;
    let (_, doc) = app.get("/api/openapi.json", None).await;
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut dangling: Vec<&str> = text
        .match_indices("#/components/schemas/")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .filter(|name| !schemas.contains_key(*name))
        .collect();
    dangling.sort_unstable();
    dangling.dedup();
    assert!(
        dangling.is_empty(),
        "dangling schema references: {dangling:?}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn openapi_states_the_limits_and_refusals_the_server_enforces() {
    let app = TestApp::spawn().await;
    let (_, doc) = app.get("/api/openapi.json", None).await;
    let params = doc["paths"]["/api/v1/qr-codes"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let per_page = params.iter().find(|p| p["name"] == "per_page").unwrap();
    assert_eq!(
        (
            per_page["schema"]["minimum"].as_f64(),
            per_page["schema"]["maximum"].as_f64()
        ),
        (Some(1.0), Some(100.0))
    );
    let page = params.iter().find(|p| p["name"] == "page").unwrap();
    assert_eq!(page["schema"]["minimum"].as_f64(), Some(1.0));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["requestBody"]["content"]["application/json"].is_object() {
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {path}: {status} undocumented"
                    );
                }
            }
        }
    }
    app.stop().await.unwrap();
}
