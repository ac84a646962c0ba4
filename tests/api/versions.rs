//! Destination history: every change of what a scan does is a numbered version, listed with who
//! made it and what changed, restorable (as a new version, audited, on every replica), and
//! marked on the code's analytics.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, eventually};

async fn location(app: &TestApp, code: &str) -> String {
    let res = app
        .http
        .get(app.url(&format!("/r/{code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    res.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_change_is_a_version_and_any_version_can_be_restored() {
    let app = TestApp::spawn().await;
    let other = app.replica().await;
    let (t, owner) = app.register("history@example.com").await;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            Some(&t),
            json!({"name": "ci", "scopes": ["codes:write"]}),
        )
        .await;
    let (key_id, key) = (
        key["id"].as_str().unwrap().to_owned(),
        key["key"].as_str().unwrap().to_owned(),
    );
    let (s, qr) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "Poster", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/spring"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{qr}");
    let id = qr["id"].as_str().unwrap().to_owned();
    let code = qr["short_code"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/qr-codes/{id}");

    // v2: a new target, through the API key. A rename and a new design change no scan: no version.
    let (s, _) = app
        .patch(
            &path,
            Some(&key),
            json!({"target_url": "https://example.com/summer"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .patch(
            &path,
            Some(&t),
            json!({"name": "Poster 2", "design": {"fg_color": "#112233"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // v3: rules and status in one change.
    let rules =
        json!([{"if": {"device": ["ios"]}, "then": {"redirect": "https://apps.apple.com/app/x"}}]);
    let (s, b) = app
        .patch(&path, Some(&t), json!({"rules": rules, "status": "paused"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let (s, list) = app.get(&format!("{path}/versions"), Some(&t)).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 3);
    let items = list["items"].as_array().unwrap();
    let numbers: Vec<i64> = items
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1], "newest first");
    // v3: what changed, from and to, and nothing else.
    assert_eq!(
        items[0]["changes"],
        json!({"rules": {"from": [], "to": rules}, "status": {"from": "active", "to": "paused"}})
    );
    assert_eq!(
        items[0]["actor"],
        json!({"user_id": owner, "api_key_id": null, "via": "session"})
    );
    // v2: through the key.
    assert_eq!(
        items[1]["changes"],
        json!({"target_url": {"from": "https://example.com/spring", "to": "https://example.com/summer"}})
    );
    assert_eq!(
        items[1]["actor"],
        json!({"user_id": owner, "api_key_id": key_id, "via": "api_key"})
    );
    // v1: the code as created.
    assert_eq!(
        items[2]["changes"]["target_url"],
        json!({"from": null, "to": "https://example.com/spring"})
    );
    assert_eq!(items[2]["changes"]["status"]["to"], "active");
    // Paged like every list.
    let (_, page) = app
        .get(&format!("{path}/versions?per_page=1&page=2"), Some(&t))
        .await;
    assert_eq!(page["items"][0]["version"], 2);
    assert_eq!(page["total"], 3);

    // The other replica has cached the paused code's answer; a restore of v1 reaches it.
    let res = other
        .http
        .get(other.url(&format!("/r/{code}")))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), StatusCode::FOUND, "paused");
    let (s, restored) = app
        .post(&format!("{path}/versions/1/restore"), Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{restored}");
    assert_eq!(restored["target_url"], "https://example.com/spring");
    assert_eq!(restored["status"], "active");
    assert_eq!(restored["rules"], json!([]));
    assert_eq!(
        restored["name"], "Poster 2",
        "a restore changes what a scan does, not the name"
    );
    assert_eq!(location(&app, &code).await, "https://example.com/spring");
    eventually("the other replica to follow the restore", || async {
        let res = other
            .http
            .get(other.url(&format!("/r/{code}")))
            .send()
            .await
            .ok()?;
        (res.status() == StatusCode::FOUND
            && res.headers()["location"] == "https://example.com/spring")
            .then_some(())
    })
    .await;
    let (_, list) = app.get(&format!("{path}/versions"), Some(&t)).await;
    assert_eq!(list["total"], 4);
    assert_eq!(
        list["items"][0]["changes"],
        json!({
            "restored_from": 1,
            "target_url": {"from": "https://example.com/summer", "to": "https://example.com/spring"},
            "rules": {"from": rules, "to": []},
            "status": {"from": "paused", "to": "active"},
        })
    );
    // Restoring the current state again is still a version (the restore is what happened).
    let (s, _) = app
        .post(&format!("{path}/versions/4/restore"), Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = app
        .get(&format!("{path}/versions?per_page=1"), Some(&t))
        .await;
    assert_eq!(list["items"][0]["changes"], json!({"restored_from": 4}));

    // Audited as a restore.
    let (_, audit) = app.get("/api/v1/audit-logs?per_page=100", Some(&t)).await;
    let restores = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "qr_code.restore")
        .count();
    assert_eq!(restores, 2, "{audit}");

    // No such version, a version of nothing, a version number out of range: 404, nothing changed.
    for bad in ["99", "0", "-1", "2147483647"] {
        let (s, b) = app
            .post(
                &format!("{path}/versions/{bad}/restore"),
                Some(&t),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{bad}: {b}");
    }
    let (s, _) = app
        .post(
            &format!("{path}/versions/99999999999/restore"),
            Some(&t),
            json!({}),
        )
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST,
        "{s}"
    );
    let (_, list) = app.get(&format!("{path}/versions"), Some(&t)).await;
    assert_eq!(list["total"], 5);

    // A reader key may list but not restore.
    let (_, reader) = app
        .post(
            "/api/v1/api-keys",
            Some(&t),
            json!({"name": "ro", "scopes": ["codes:read"]}),
        )
        .await;
    let reader = reader["key"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("{path}/versions"), Some(reader)).await.0,
        StatusCode::OK
    );
    let (s, _) = app
        .post(
            &format!("{path}/versions/1/restore"),
            Some(reader),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The code's analytics mark when each version was made.
    let (s, report) = app
        .get(
            &format!("{path}/analytics?from=2026-01-01T00:00:00Z"),
            Some(&t),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    let marked: Vec<i64> = report["markers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(marked, [1, 2, 3, 4, 5]);
    assert!(report["markers"][0]["t"].as_str().unwrap().ends_with('Z'));
    // An account report has none.
    let (_, account) = app
        .get("/api/v1/analytics?from=2026-01-01T00:00:00Z", Some(&t))
        .await;
    assert_eq!(account.get("markers"), None::<&Value>);
    other.stop().await.unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_restore_is_checked_as_a_change_would_be_today() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("recheck@example.com").await;
    let (_, qr) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "Old", "qr_type": "url", "dynamic": true, "target_url": "https://bad.example/landing"}))
        .await;
    let id = qr["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/qr-codes/{id}");
    app.patch(
        &path,
        Some(&t),
        json!({"target_url": "https://good.example/"}),
    )
    .await;
    // An operator blocks the old destination since: restoring it is refused, nothing changes.
    let (ops, _) = app.register("ops@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "ops@example.com")
        .await
        .unwrap();
    crate::admin_audit::became_admin(&app, &ops).await;
    let (s, b) = app
        .post(
            "/api/v1/admin/blocklist",
            Some(&ops),
            json!({"pattern": "bad.example", "reason": "phishing"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app
        .post(&format!("{path}/versions/1/restore"), Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (_, now) = app.get(&path, Some(&t)).await;
    assert_eq!(now["target_url"], "https://good.example/");
    let (_, list) = app.get(&format!("{path}/versions"), Some(&t)).await;
    assert_eq!(list["total"], 2);
    app.stop().await.unwrap();
}
