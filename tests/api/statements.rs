//! Monthly usage statements: figures per account and month, one e-mail each for active accounts
//! that did not opt out, nothing written or sent twice however often or concurrently it runs.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use qrsaas_jobs::MaintenanceTask;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, eventually};
use crate::jobs::scheduler;

async fn url_code(app: &TestApp, token: &str, name: &str) -> Value {
    let (s, code) = app
        .post(
            "/api/v1/qr-codes",
            Some(token),
            json!({"name": name, "qr_type": "url", "dynamic": true, "target_url": "https://example.com/x"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{code}");
    code
}

fn statement_mails(app: &TestApp, to: &str) -> Vec<crate::common::smtp::Received> {
    app.smtp
        .to(to)
        .into_iter()
        .filter(|m| m.subject().contains("usage statement"))
        .collect()
}

#[tokio::test]
async fn monthly_statements_count_the_month_and_are_mailed_once() {
    let app = TestApp::spawn().await;
    let (busy, busy_id) = app.register("busy@example.com").await;
    let (quiet, _) = app.register("quiet@example.com").await;
    let (idle, _) = app.register("idle@example.com").await;
    let (s, b) = app
        .put(
            "/api/v1/settings",
            Some(&quiet),
            json!({"locale": "en", "timezone": "UTC", "notifications": {"monthly_statement": false}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let now = Utc::now();
    let month_start = now
        .date_naive()
        .with_day(1)
        .unwrap()
        .and_time(NaiveTime::MIN)
        .and_utc();
    // busy: three codes (one of them dated last month), one export, three scans.
    let a = url_code(&app, &busy, "a").await;
    let b = url_code(&app, &busy, "b").await;
    let old = url_code(&app, &busy, "old").await;
    sqlx::query("UPDATE qr_codes SET created_at = $2 WHERE id = $1::uuid")
        .bind(old["id"].as_str().unwrap())
        .bind(month_start - Duration::seconds(1))
        .execute(&app.db)
        .await
        .unwrap();
    let (s, job) = app
        .post(
            "/api/v1/exports",
            Some(&busy),
            json!({"qr_ids": [a["id"], b["id"]], "format": "svg"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let job = job["job_id"].as_str().unwrap().to_owned();
    eventually("the export to succeed", || async {
        let (_, j) = app.get(&format!("/api/v1/jobs/{job}"), Some(&busy)).await;
        (j["status"] == "succeeded").then_some(())
    })
    .await;
    for code in [&a, &a, &b] {
        let path = format!("/r/{}", code["short_code"].as_str().unwrap());
        let res = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
    }
    let metered = |user: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT sum(scans_used)::bigint FROM billing_usage WHERE user_id = $1::uuid",
            )
            .bind(user)
            .fetch_one(&db)
            .await
            .unwrap()
            .unwrap_or(0)
        }
    };
    eventually("three scans metered", || async {
        (metered(busy_id.clone()).await == 3).then_some(())
    })
    .await;
    // Last month's usage belongs to last month's statement.
    sqlx::query("INSERT INTO billing_usage (user_id, date, scans_used) VALUES ($1::uuid, $2, 100)")
        .bind(&busy_id)
        .bind((month_start - Duration::days(1)).date_naive())
        .execute(&app.db)
        .await
        .unwrap();
    // quiet: one code, but statements turned off.
    url_code(&app, &quiet, "q").await;

    // The run for this month fires early next month; two schedulers, one run.
    let next_month: DateTime<Utc> = (month_start + Duration::days(32))
        .date_naive()
        .with_day(1)
        .unwrap()
        .and_hms_opt(1, 30, 0)
        .unwrap()
        .and_utc();
    let (s1, s2) = (scheduler(&app).await, scheduler(&app).await);
    assert!(
        s1.fire(MaintenanceTask::Statements, next_month)
            .await
            .unwrap()
    );
    assert!(
        !s2.fire(MaintenanceTask::Statements, next_month)
            .await
            .unwrap()
    );
    eventually("busy's statement e-mail", || async {
        (!statement_mails(&app, "busy@example.com").is_empty()).then_some(())
    })
    .await;

    let (s, list) = app.get("/api/v1/billing/statements", Some(&busy)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 1, "{list}");
    let st = &list["items"][0];
    assert_eq!(st["month"], month_start.date_naive().to_string());
    assert_eq!(
        (
            st["scans"].as_i64(),
            st["codes_created"].as_i64(),
            st["exports"].as_i64()
        ),
        (Some(3), Some(2), Some(1)),
        "{st}"
    );
    assert_eq!(st["emailed"], true);
    let mail = &statement_mails(&app, "busy@example.com")[0];
    for line in ["Scans: 3", "QR codes created: 2", "Exports: 1"] {
        assert!(mail.text().contains(line), "{line} in {}", mail.text());
    }

    let (_, list) = app.get("/api/v1/billing/statements", Some(&quiet)).await;
    assert_eq!(list["total"], 1, "quiet sees only its own: {list}");
    assert_eq!(list["items"][0]["codes_created"], 1);
    assert_eq!(list["items"][0]["emailed"], false, "opted out");
    let (_, list) = app.get("/api/v1/billing/statements", Some(&idle)).await;
    assert_eq!(list["items"][0]["scans"], 0);
    assert_eq!(
        list["items"][0]["emailed"], false,
        "idle months are not mailed"
    );

    // Re-runs — a catch-up on start, two at once — write and send nothing more.
    let settings = Arc::new(app.settings.clone());
    let again = tokio::task::spawn_blocking(move || {
        actix_web::rt::System::new().block_on(async move {
            let (state, _) = qrsaas::startup::build_state(settings).await.unwrap();
            let m = qrsaas::billing::statements::previous_month(next_month);
            let (x, y) = tokio::join!(
                qrsaas::billing::statements::run(&state, &m),
                qrsaas::billing::statements::run(&state, &m)
            );
            (x.unwrap(), y.unwrap())
        })
    })
    .await
    .unwrap();
    assert_eq!(again.0.written + again.1.written, 0);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_statements")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 3);
    let outbox: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbound_emails WHERE kind = 'usage_statement'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(outbox, 1);
    assert_eq!(statement_mails(&app, "busy@example.com").len(), 1);
    assert!(statement_mails(&app, "quiet@example.com").is_empty());
    app.stop().await.unwrap();
}
