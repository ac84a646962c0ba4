//! Scheduled changes: applied at their time by the locked scheduler, once even with two
//! schedulers, as a version, announced as `qr_code.updated`; cancellable; a change that can no
//! longer be made is marked failed with the reason.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, eventually_within};

fn soon(secs: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn schedule_status(app: &TestApp, t: &str, path: &str, id: &str) -> Value {
    let (_, list) = app
        .get(&format!("{path}/schedules?per_page=100"), Some(t))
        .await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_scheduled_change_applies_once_with_two_schedulers() {
    let app =
        TestApp::spawn_with(|s| s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap()])
            .await;
    let second = app.replica_with_scheduler().await;
    let (t, owner) = app.register("campaign@example.com").await;
    let (s, _) = app
        .post(
            "/api/v1/webhooks",
            Some(&t),
            json!({"url": "http://127.0.0.1:9/hook", "events": ["qr_code.updated"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, qr) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "Sale", "qr_type": "url", "dynamic": true, "target_url": "https://shop.example/autumn"}))
        .await;
    let id = qr["id"].as_str().unwrap().to_owned();
    let code = qr["short_code"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/qr-codes/{id}");

    // Refused as a PATCH would be, field by field under `changes`, and in time.
    for (body, field) in [
        (
            json!({"at": "2020-01-01T00:00:00Z", "changes": {"name": "x"}}),
            "at",
        ),
        (
            json!({"at": "2099-01-01T00:00:00Z", "changes": {"name": "x"}}),
            "at",
        ),
        (json!({"at": soon(60), "changes": {}}), "changes"),
        (
            json!({"at": soon(60), "changes": {"target_url": "javascript:alert(1)"}}),
            "changes.target_url",
        ),
        (
            json!({"at": soon(60), "changes": {"colour": "red"}}),
            "changes.colour",
        ),
        (
            json!({"at": soon(60), "changes": {"data": {"text": "x"}}}),
            "changes.data",
        ),
    ] {
        let (s, b) = app
            .post(&format!("{path}/schedules"), Some(&t), body.clone())
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {b}");
        assert!(b["error"]["fields"][field].is_string(), "{body}: {b}");
    }

    // The campaign's new page, in a moment.
    let (s, made) = app
        .post(
            &format!("{path}/schedules"),
            Some(&t),
            json!({"at": soon(1), "changes": {"target_url": "https://shop.example/winter"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    assert_eq!(made["status"], "pending");
    assert_eq!(
        made["changes"],
        json!({"target_url": "https://shop.example/winter"})
    );
    let sid = made["id"].as_str().unwrap().to_owned();
    // Another, cancelled before its time: it never happens.
    let (_, dropped) = app
        .post(
            &format!("{path}/schedules"),
            Some(&t),
            json!({"at": soon(2), "changes": {"status": "paused"}}),
        )
        .await;
    let dropped = dropped["id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .delete(&format!("{path}/schedules/{dropped}"), Some(&t))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = app
        .delete(&format!("{path}/schedules/{dropped}"), Some(&t))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    let applied = eventually_within("the change applied", Duration::from_secs(60), || async {
        let s = schedule_status(&app, &t, &path, &sid).await;
        (s["status"] != "pending").then_some(s)
    })
    .await;
    assert_eq!(applied["status"], "applied", "{applied}");
    assert_eq!(applied["version"], 2);
    // Both replicas redirect to the new page.
    let location = |app: &TestApp| {
        let url = app.url(&format!("/r/{code}"));
        let http = app.http.clone();
        async move {
            let res = http.get(url).send().await.ok()?;
            res.headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned())
        }
    };
    assert_eq!(
        location(&app).await.as_deref(),
        Some("https://shop.example/winter")
    );
    eventually_within(
        "the second replica to follow",
        Duration::from_secs(30),
        || async {
            (location(&second).await.as_deref() == Some("https://shop.example/winter"))
                .then_some(())
        },
    )
    .await;

    // A later change applies too, so both schedulers have had their turns past the first.
    let (_, later) = app
        .post(
            &format!("{path}/schedules"),
            Some(&t),
            json!({"at": soon(1), "changes": {"name": "Sale (winter)"}}),
        )
        .await;
    let later = later["id"].as_str().unwrap().to_owned();
    eventually_within(
        "the later change applied",
        Duration::from_secs(60),
        || async {
            (schedule_status(&app, &t, &path, &later).await["status"] == "applied").then_some(())
        },
    )
    .await;
    // Exactly once each: v1 created, v2 the new page, v3 the rename (a scheduled change is
    // always a version); the cancelled one never happened; one qr_code.updated per change.
    let (_, versions) = app.get(&format!("{path}/versions"), Some(&t)).await;
    assert_eq!(versions["total"], 3, "{versions}");
    assert_eq!(versions["items"][1]["changes"]["schedule_id"], sid);
    assert_eq!(
        versions["items"][1]["changes"]["target_url"],
        json!({"from": "https://shop.example/autumn", "to": "https://shop.example/winter"})
    );
    assert_eq!(versions["items"][1]["actor"]["user_id"], owner);
    assert_eq!(
        schedule_status(&app, &t, &path, &dropped).await["status"],
        "cancelled"
    );
    let (_, now) = app.get(&path, Some(&t)).await;
    assert_eq!(now["status"], "active");
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_events WHERE type = 'qr_code.updated' AND data->>'id' = $1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(events, 2);
    let (_, audit) = app.get("/api/v1/audit-logs?per_page=100", Some(&t)).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in [
        "qr_code.schedule",
        "qr_code.schedule_cancel",
        "qr_code.scheduled_change",
    ] {
        assert!(actions.contains(&a), "{a} missing: {actions:?}");
    }

    // A change that can no longer be made when it comes due is marked failed, with why.
    let (_, doomed) = app
        .post(
            &format!("{path}/schedules"),
            Some(&t),
            json!({"at": soon(1), "changes": {"name": "never"}}),
        )
        .await;
    let doomed = doomed["id"].as_str().unwrap().to_owned();
    let (s, _) = app.delete(&path, Some(&t)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let failed: String = eventually_within(
        "the change marked failed",
        Duration::from_secs(60),
        || async {
            sqlx::query_scalar::<_, String>(
                "SELECT status FROM qr_code_schedules WHERE id = $1::uuid AND status <> 'pending'",
            )
            .bind(&doomed)
            .fetch_optional(&app.db)
            .await
            .unwrap()
        },
    )
    .await;
    assert_eq!(failed, "failed");
    let error: Option<String> =
        sqlx::query_scalar("SELECT error FROM qr_code_schedules WHERE id = $1::uuid")
            .bind(&doomed)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(error.unwrap().contains("not found"));
    second.stop().await.unwrap();
    app.stop().await.unwrap();
}
