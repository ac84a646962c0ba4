//! Tenant isolation: every route that takes an id of a tenant's entity answers 404 for another
//! tenant's id, and the other tenant's data is unchanged afterwards.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::TestApp;
use crate::platform::ROUTES;

/// The id routes walked below. Admin routes are guarded by role, and templates are a shared
/// library (not tenant data); both are tested elsewhere.
const WALKED: &[(&str, &str)] = &[
    ("get", "/api/v1/projects/{id}"),
    ("patch", "/api/v1/projects/{id}"),
    ("delete", "/api/v1/projects/{id}"),
    ("get", "/api/v1/api-keys/{id}"),
    ("delete", "/api/v1/api-keys/{id}"),
    ("delete", "/api/v1/auth/sessions/{id}"),
    ("get", "/api/v1/qr-codes/{id}"),
    ("patch", "/api/v1/qr-codes/{id}"),
    ("delete", "/api/v1/qr-codes/{id}"),
    ("get", "/api/v1/qr-codes/{id}/image"),
    ("get", "/api/v1/qr-codes/{id}/versions"),
    ("get", "/api/v1/domains/{id}"),
    ("delete", "/api/v1/domains/{id}"),
    ("patch", "/api/v1/domains/{id}"),
    ("post", "/api/v1/domains/{id}/verify"),
    ("post", "/api/v1/qr-codes/{id}/versions/{version}/restore"),
    ("post", "/api/v1/qr-codes/{id}/schedules"),
    ("get", "/api/v1/qr-codes/{id}/schedules"),
    ("delete", "/api/v1/qr-codes/{id}/schedules/{schedule_id}"),
    ("get", "/api/v1/qr-codes/{id}/analytics"),
    ("get", "/api/v1/qr-codes/{id}/analytics.csv"),
    ("get", "/api/v1/products/{id}"),
    ("patch", "/api/v1/products/{id}"),
    ("delete", "/api/v1/products/{id}"),
    ("get", "/api/v1/uploads/{id}"),
    ("get", "/api/v1/jobs/{id}"),
    ("post", "/api/v1/jobs/{id}/cancel"),
    ("get", "/api/v1/exports/{id}/download"),
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
];

#[tokio::test]
async fn other_tenants_ids_answer_404_on_every_id_route() {
    // A new id route must be added to the walk.
    for (m, p) in ROUTES
        .iter()
        .filter(|(_, p)| p.contains("{id}") && !p.contains("/admin/") && !p.contains("/templates/"))
    {
        assert!(
            WALKED.contains(&(m, p)),
            "{m} {p} is not walked for tenant isolation"
        );
    }
    // Receivers on loopback are allowed, so alice can have an endpoint here.
    let app =
        TestApp::spawn_with(|s| s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap()])
            .await;
    let (alice, _) = app.register("alice@example.com").await;
    let (mallory, _) = app.register("mallory@example.com").await;
    let (_, project) = app
        .post("/api/v1/projects", Some(&alice), json!({"name": "Secret"}))
        .await;
    let (_, key) = app
        .post("/api/v1/api-keys", Some(&alice), json!({"name": "prod"}))
        .await;
    let (_, code) = app
        .post("/api/v1/qr-codes", Some(&alice), json!({"name": "Menu", "qr_type": "url", "dynamic": true, "target_url": "https://example.com"}))
        .await;
    let (_, product) = app
        .post(
            "/api/v1/products",
            Some(&alice),
            json!({"name": "Tea", "price": "20.00"}),
        )
        .await;
    let upload = crate::codes::upload_logo(&app, &alice).await;
    let (_, export) = app
        .post(
            "/api/v1/exports",
            Some(&alice),
            json!({"qr_ids": [code["id"]], "format": "png"}),
        )
        .await;
    let job = export["job_id"].as_str().unwrap().to_owned();
    let (_, hook) = app
        .post(
            "/api/v1/webhooks",
            Some(&alice),
            json!({"url": "http://127.0.0.1:9/hook", "events": ["qr_code.created"]}),
        )
        .await;
    let hook = hook["id"].as_str().unwrap().to_owned();
    let (_, ping) = app
        .post(
            &format!("/api/v1/webhooks/{hook}/test"),
            Some(&alice),
            json!({}),
        )
        .await;
    let delivery = ping["delivery_id"].as_str().unwrap().to_owned();
    let (_, dom) = app
        .post(
            "/api/v1/domains",
            Some(&alice),
            json!({"domain": "go.alice.example"}),
        )
        .await;
    let domain = dom["id"].as_str().unwrap().to_owned();
    let (_, sessions) = app.get("/api/v1/auth/sessions", Some(&alice)).await;
    let session = sessions["items"][0]["id"].as_str().unwrap().to_owned();
    let ids = [
        ("projects", project["id"].as_str().unwrap().to_owned()),
        ("api-keys", key["id"].as_str().unwrap().to_owned()),
        ("qr-codes", code["id"].as_str().unwrap().to_owned()),
        ("products", product["id"].as_str().unwrap().to_owned()),
        ("uploads", upload),
        ("jobs", job.clone()),
        ("exports", job.clone()),
        ("webhooks", hook.clone()),
        ("domains", domain),
        ("sessions", session),
    ];

    for (method, pattern) in WALKED {
        let id = &ids
            .iter()
            .find(|(kind, _)| pattern.contains(&format!("/{kind}/")))
            .unwrap()
            .1;
        let path = pattern
            .replace("{id}", id)
            .replace("{delivery_id}", &delivery)
            .replace("{version}", "1")
            .replace("{schedule_id}", &uuid::Uuid::now_v7().to_string());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = if method == Method::PATCH {
            Some(if pattern.contains("/webhooks/") {
                json!({"enabled": false})
            } else if pattern.contains("/domains/") {
                json!({"default": true})
            } else {
                json!({"name": "pwned"})
            })
        } else if method == Method::POST && pattern.ends_with("/schedules") {
            Some(json!({"at": "2030-01-01T00:00:00Z", "changes": {"name": "pwned"}}))
        } else {
            None
        };
        let (s, b) = app.call(method.clone(), &path, Some(&mallory), body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path} leaked: {b}");
        assert_eq!(b["error"]["code"], "not_found");
    }
    // Alice's things are untouched (her session too), and mallory's listings do not show them.
    assert_eq!(app.get("/api/v1/me", Some(&alice)).await.0, StatusCode::OK);
    for (kind, id) in &ids[..6] {
        let (s, b) = app.get(&format!("/api/v1/{kind}/{id}"), Some(&alice)).await;
        assert_eq!(s, StatusCode::OK, "{kind}: {b}");
        assert_ne!(b["name"], "pwned");
        assert_ne!(b["status"], "cancelled");
    }
    let (s, b) = app
        .get(&format!("/api/v1/webhooks/{hook}"), Some(&alice))
        .await;
    assert_eq!(
        (s, b["enabled"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{b}"
    );
    for list in [
        "/api/v1/webhooks",
        "/api/v1/projects",
        "/api/v1/api-keys",
        "/api/v1/qr-codes",
        "/api/v1/products",
    ] {
        assert_eq!(app.get(list, Some(&mallory)).await.1["total"], 0, "{list}");
    }
    // Referencing another tenant's project, logo or product in a body is refused too.
    let (s, b) = app
        .post(
            "/api/v1/qr-codes",
            Some(&mallory),
            json!({"name": "x", "qr_type": "url", "dynamic": true, "target_url": "https://example.com",
                   "project_id": ids[0].1, "design": {"logo_upload_id": ids[4].1}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["error"]["fields"]["project_id"], "no such project");
    assert_eq!(
        b["error"]["fields"]["design.logo_upload_id"],
        "no such upload"
    );
    app.stop().await.unwrap();
}
