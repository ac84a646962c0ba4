//! The analytics API over scans that went through the real pipeline.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, eventually};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const WHATSAPP: &str = "WhatsApp/2.23.20.0 A";

fn keys(v: &Value) -> Vec<(String, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_owned(),
                c["scans"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn reports_per_code_and_per_account() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("analytics@example.com").await;
    let (_, project) = app
        .post("/api/v1/projects", Some(&t), json!({"name": "Launch"}))
        .await;
    let pid = project["id"].as_str().unwrap();
    let mk = |name: &'static str, project: Option<&str>| {
        let body = json!({"name": name, "qr_type": "url", "dynamic": true, "target_url": "https://example.com/", "project_id": project});
        app.post("/api/v1/qr-codes", Some(&t), body)
    };
    let (_, a) = mk("A", Some(pid)).await;
    let (_, b) = mk("B", None).await;
    for (code, ua, n) in [
        (&a, IPHONE, 3),
        (&a, WINDOWS, 2),
        (&a, WHATSAPP, 1),
        (&b, IPHONE, 2),
    ] {
        for _ in 0..n {
            let path = format!("/r/{}", code["short_code"].as_str().unwrap());
            let res = app
                .http
                .get(app.url(&path))
                .header("user-agent", ua)
                .header("referer", "https://t.co/x")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::FOUND);
        }
    }
    let aid = a["id"].as_str().unwrap();
    eventually("8 scans ingested", || async {
        let (_, r) = app
            .get("/api/v1/analytics?include_bots=true", Some(&t))
            .await;
        (r["total"] == 8).then_some(())
    })
    .await;

    let (s, r) = app
        .get(&format!("/api/v1/qr-codes/{aid}/analytics"), Some(&t))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["total"].as_u64(), r["unique"].as_u64()),
        (Some(5), Some(2)),
        "bots excluded; one visitor per agent+IP"
    );
    assert_eq!(
        keys(&r["devices"]),
        [("mobile".to_owned(), 3), ("desktop".to_owned(), 2)]
    );
    assert_eq!(
        keys(&r["browsers"]),
        [("Safari".to_owned(), 3), ("Chrome".to_owned(), 2)]
    );
    assert_eq!(keys(&r["referrers"]), [("t.co".to_owned(), 5)]);
    assert_eq!(keys(&r["countries"]), [("unknown".to_owned(), 5)]);
    let series = r["series"].as_array().unwrap();
    assert_eq!(
        series.len(),
        31,
        "30 days ending now, daily, empty days filled"
    );
    assert_eq!(
        series
            .iter()
            .map(|p| p["scans"].as_u64().unwrap())
            .sum::<u64>(),
        5
    );
    let (_, with_bots) = app
        .get(
            &format!("/api/v1/qr-codes/{aid}/analytics?include_bots=true"),
            Some(&t),
        )
        .await;
    assert_eq!(with_bots["total"], 6);
    assert!(keys(&with_bots["devices"]).contains(&("bot".to_owned(), 1)));

    // Hourly buckets in a time zone: three hours around now, all scans in one of them.
    let from = (Utc::now() - Duration::hours(2)).to_rfc3339();
    let to = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let q = format!(
        "from={}&to={}&interval=hour&tz=Asia/Kolkata",
        urlencode(&from),
        urlencode(&to)
    );
    let (_, hourly) = app
        .get(&format!("/api/v1/qr-codes/{aid}/analytics?{q}"), Some(&t))
        .await;
    let points = hourly["series"].as_array().unwrap();
    assert!((3..=4).contains(&points.len()), "{hourly}");
    assert_eq!(
        points
            .iter()
            .filter(|p| p["scans"].as_u64() == Some(5))
            .count(),
        1
    );
    assert!(
        points
            .iter()
            .all(|p| p["t"].as_str().unwrap().ends_with(":30:00Z")),
        "Kolkata hours start at :30 UTC"
    );

    // Account-wide, and per project.
    assert_eq!(app.get("/api/v1/analytics", Some(&t)).await.1["total"], 7);
    assert_eq!(
        app.get(&format!("/api/v1/analytics?project_id={pid}"), Some(&t))
            .await
            .1["total"],
        5
    );

    // CSV with the same figures.
    let res = app
        .http
        .get(app.url(&format!("/api/v1/qr-codes/{aid}/analytics.csv")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let text = res.text().await.unwrap();
    assert!(
        text.starts_with("section,key,scans\ntotal,,5\nunique,,2\n"),
        "{text}"
    );
    assert!(text.contains("device,mobile,3\n"));

    // Bad input and other tenants.
    for bad in [
        "interval=week",
        "tz=Mars/Base",
        "from=yesterday",
        "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
    ] {
        let (s, b) = app
            .get(&format!("/api/v1/qr-codes/{aid}/analytics?{bad}"), Some(&t))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
    }
    let (other, _) = app.register("peeker@example.com").await;
    assert_eq!(
        app.get(&format!("/api/v1/qr-codes/{aid}/analytics"), Some(&other))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/analytics?project_id={pid}"), Some(&other))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.get("/api/v1/analytics?include_bots=true", Some(&other))
            .await
            .1["total"],
        0
    );
    app.stop().await.unwrap();
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn code_metadata_is_copied_to_clickhouse_on_every_change() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("meta@example.com").await;
    let (_, project) = app
        .post("/api/v1/projects", Some(&t), json!({"name": "P"}))
        .await;
    let (_, qr) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "First", "qr_type": "text", "dynamic": true, "data": {"text": "a"}, "project_id": project["id"]}))
        .await;
    let id = qr["id"].as_str().unwrap().to_owned();
    let ch = qrsaas::analytics::client(&app.settings);
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Meta {
        name: String,
        status: String,
        kind: String,
        project: String,
    }
    let latest = || {
        let (ch, id) = (ch.clone(), id.clone());
        async move {
            ch.query(
                "SELECT argMax(name, version) AS name, argMax(status, version) AS status, argMax(type, version) AS kind, \
                 toString(argMax(project_id, version)) AS project FROM qr_codes WHERE id = toUUID(?) GROUP BY id",
            )
            .bind(&id)
            .fetch_optional::<Meta>()
            .await
            .unwrap()
        }
    };
    eventually("the new code in ClickHouse", || async {
        latest().await.filter(|m| m.name == "First")
    })
    .await;
    let m = latest().await.unwrap();
    assert_eq!(
        (m.kind.as_str(), m.project.as_str()),
        ("text", project["id"].as_str().unwrap())
    );
    app.patch(
        &format!("/api/v1/qr-codes/{id}"),
        Some(&t),
        json!({"name": "Renamed", "status": "paused"}),
    )
    .await;
    eventually("the change in ClickHouse", || async {
        latest()
            .await
            .filter(|m| m.name == "Renamed" && m.status == "paused")
    })
    .await;
    app.delete(&format!("/api/v1/qr-codes/{id}"), Some(&t))
        .await;
    eventually("the deletion in ClickHouse", || async {
        latest().await.filter(|m| m.status == "deleted")
    })
    .await;
    app.stop().await.unwrap();
}
