//! Projects CRUD with pagination, and user settings.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn projects_crud_and_pagination() {
    let app = TestApp::spawn().await;
    let (token, user_id) = app.register("projects@example.com").await;
    let (s, p) = app
        .post(
            "/api/v1/projects",
            Some(&token),
            json!({"name": "  Launch  ", "color": "#AABBCC"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(
        (p["name"].as_str(), p["color"].as_str()),
        (Some("Launch"), Some("#aabbcc"))
    );
    let id = p["id"].as_str().unwrap().to_owned();
    let owner: uuid::Uuid = sqlx::query_scalar("SELECT user_id FROM projects WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(owner.to_string(), user_id);

    let (s, got) = app
        .get(&format!("/api/v1/projects/{id}"), Some(&token))
        .await;
    assert_eq!((s, got["name"].as_str()), (StatusCode::OK, Some("Launch")));

    // PATCH: rename keeps the colour; explicit null clears it.
    let (s, up) = app
        .patch(
            &format!("/api/v1/projects/{id}"),
            Some(&token),
            json!({"name": "Spring"}),
        )
        .await;
    assert_eq!(
        (s, up["name"].as_str(), up["color"].as_str()),
        (StatusCode::OK, Some("Spring"), Some("#aabbcc"))
    );
    let (_, up) = app
        .patch(
            &format!("/api/v1/projects/{id}"),
            Some(&token),
            json!({"color": null}),
        )
        .await;
    assert!(up["color"].is_null());
    assert_eq!(up["name"], "Spring");
    let (s, b) = app
        .patch(
            &format!("/api/v1/projects/{id}"),
            Some(&token),
            json!({"color": "blue"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    // Pagination over 25 projects.
    for i in 0..24 {
        app.post(
            "/api/v1/projects",
            Some(&token),
            json!({"name": format!("P{i}")}),
        )
        .await;
    }
    let (_, page1) = app.get("/api/v1/projects", Some(&token)).await;
    assert_eq!(
        (
            page1["total"].as_i64(),
            page1["page"].as_i64(),
            page1["per_page"].as_i64()
        ),
        (Some(25), Some(1), Some(20))
    );
    assert_eq!(page1["items"].as_array().unwrap().len(), 20);
    let (_, page2) = app
        .get("/api/v1/projects?page=2&per_page=20", Some(&token))
        .await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 5);
    let mut ids: Vec<String> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["items"].as_array().unwrap())
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25, "pages overlap or miss items");

    let (s, _) = app
        .delete(&format!("/api/v1/projects/{id}"), Some(&token))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/projects/{id}"), Some(&token))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/v1/projects/{id}"), Some(&token))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn settings_default_then_saved_and_validated() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("settings@example.com").await;
    let (s, d) = app.get("/api/v1/settings", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["locale"], "en");
    assert_eq!(d["timezone"], "UTC");
    assert_eq!(d["notifications"]["monthly_statement"], true);

    let body = json!({
        "locale": "en-IN", "timezone": "Asia/Kolkata",
        "default_design": {"fg_color": "#112233", "error_correction": "Q"},
        "notifications": {"scan_alerts": false, "weekly_summary": true, "monthly_statement": false, "job_failures": true}
    });
    let (s, saved) = app
        .put("/api/v1/settings", Some(&token), body.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{saved}");
    let (_, got) = app.get("/api/v1/settings", Some(&token)).await;
    assert_eq!(got["timezone"], "Asia/Kolkata");
    assert_eq!(got["default_design"]["error_correction"], "Q");
    assert_eq!(got["notifications"]["weekly_summary"], true);
    assert_eq!(got["notifications"]["scan_alerts"], false);

    // New codes without a design take the default; a design given wins.
    let (s, plain) = app
        .post(
            "/api/v1/qr-codes",
            Some(&token),
            json!({"name": "d", "qr_type": "text", "dynamic": false, "data": {"text": "hi"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plain}");
    assert_eq!(
        (
            plain["design"]["fg_color"].as_str(),
            plain["design"]["error_correction"].as_str()
        ),
        (Some("#112233"), Some("Q")),
        "{plain}"
    );
    let (_, own) = app
        .post(
            "/api/v1/qr-codes",
            Some(&token),
            json!({"name": "o", "qr_type": "text", "dynamic": false, "data": {"text": "hi"},
                   "design": {"fg_color": "#445566"}}),
        )
        .await;
    assert_eq!(own["design"]["fg_color"], "#445566");
    assert_ne!(own["design"]["error_correction"], "Q");
    // The rendered image uses it: the SVG carries the default's colour.
    let svg = app
        .http
        .get(app.url(&format!(
            "/api/v1/qr-codes/{}/image?format=svg",
            plain["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(svg.to_lowercase().contains("#112233"), "{svg}");

    let (s, b) = app
        .put(
            "/api/v1/settings",
            Some(&token),
            json!({"locale": "english", "timezone": "Mars/Base", "default_design": []}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["locale", "timezone", "default_design"] {
        assert!(b["error"]["fields"][f].is_string(), "{f}: {b}");
    }
    let (s, b) = app
        .put(
            "/api/v1/settings",
            Some(&token),
            json!({"locale": "en", "timezone": "UTC", "notifications": {"spam": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    // The refused writes changed nothing.
    assert_eq!(
        app.get("/api/v1/settings", Some(&token)).await.1["timezone"],
        "Asia/Kolkata"
    );
    app.stop().await.unwrap();
}
