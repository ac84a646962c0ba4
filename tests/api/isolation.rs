//! Tenant isolation: every route that takes an id answers 404 for another tenant's id, and the
//! other tenant's data is unchanged afterwards.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::TestApp;
use crate::platform::ROUTES;

/// The id routes walked below; `admin` routes are guarded by role instead (tested separately).
const WALKED: &[(&str, &str)] = &[
    ("get", "/api/v1/projects/{id}"),
    ("patch", "/api/v1/projects/{id}"),
    ("delete", "/api/v1/projects/{id}"),
    ("get", "/api/v1/api-keys/{id}"),
    ("delete", "/api/v1/api-keys/{id}"),
];

#[tokio::test]
async fn other_tenants_ids_answer_404_on_every_id_route() {
    // A new id route must be added to the walk.
    for (m, p) in ROUTES
        .iter()
        .filter(|(_, p)| p.contains("{id}") && !p.contains("/admin/"))
    {
        assert!(
            WALKED.contains(&(m, p)),
            "{m} {p} is not walked for tenant isolation"
        );
    }
    let app = TestApp::spawn().await;
    let (alice, _) = app.register("alice@example.com").await;
    let (mallory, _) = app.register("mallory@example.com").await;
    let (_, project) = app
        .post("/api/v1/projects", Some(&alice), json!({"name": "Secret"}))
        .await;
    let (_, key) = app
        .post("/api/v1/api-keys", Some(&alice), json!({"name": "prod"}))
        .await;
    let ids = [
        ("projects", project["id"].as_str().unwrap()),
        ("api-keys", key["id"].as_str().unwrap()),
    ];

    for (method, pattern) in WALKED {
        let id = ids
            .iter()
            .find(|(kind, _)| pattern.contains(kind))
            .unwrap()
            .1;
        let path = pattern.replace("{id}", id);
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (method == Method::PATCH).then(|| json!({"name": "pwned"}));
        let (s, b) = app.call(method.clone(), &path, Some(&mallory), body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path} leaked: {b}");
        assert_eq!(b["error"]["code"], "not_found");
    }
    // Alice's things are untouched, and mallory's listings do not show them.
    let (s, p) = app
        .get(&format!("/api/v1/projects/{}", ids[0].1), Some(&alice))
        .await;
    assert_eq!((s, p["name"].as_str()), (StatusCode::OK, Some("Secret")));
    assert_eq!(
        app.get(&format!("/api/v1/api-keys/{}", ids[1].1), Some(&alice))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/projects", Some(&mallory)).await.1["total"],
        0
    );
    assert_eq!(
        app.get("/api/v1/api-keys", Some(&mallory)).await.1["total"],
        0
    );
    assert_eq!(
        app.get("/api/v1/me", Some(key["key"].as_str().unwrap()))
            .await
            .1["email"],
        "alice@example.com"
    );
    app.stop().await.unwrap();
}
