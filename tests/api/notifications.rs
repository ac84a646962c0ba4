//! Notifications: webhook endpoints and Standard Webhooks deliveries verified by an independent
//! library (`standardwebhooks`), retries, 410 and Retry-After, SSRF refusals, every event type,
//! alerts that follow the settings with one-click unsubscribe, the weekly summary on a frozen
//! clock, SMS through a fake provider, and the live scan stream.

use std::time::Duration;

use chrono::{DateTime, Utc};
use qrsaas_jobs::MaintenanceTask;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::receiver::{Answer, Receiver};
use crate::common::{TestApp, eventually};
use crate::jobs::scheduler;

/// Receivers run on this machine's loopback: the operator's allow-list admits it; retries come
/// after a second instead of minutes.
async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

async fn spawn_with(tweak: impl FnOnce(&mut qrsaas::config::Settings) + Send + 'static) -> TestApp {
    TestApp::spawn_with(|s| {
        s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap()];
        s.webhooks.retry_schedule_secs = vec![1, 1, 1, 1];
        s.webhooks.timeout_secs = 3;
        tweak(s);
    })
    .await
}

async fn endpoint(app: &TestApp, token: &str, url: &str, events: &[&str]) -> (String, String) {
    let (s, b) = app
        .post(
            "/api/v1/webhooks",
            Some(token),
            json!({"url": url, "events": events, "description": "test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    (
        b["id"].as_str().unwrap().to_owned(),
        b["secret"].as_str().unwrap().to_owned(),
    )
}

/// Verifies a delivery with the Standard Webhooks reference library, not our own code.
fn verify(r: &crate::common::receiver::Received, secret: &str) {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&r.body, &r.headers)
        .unwrap_or_else(|e| panic!("signature does not verify: {e:?}"));
}

async fn url_code(app: &TestApp, token: &str) -> Value {
    let (s, b) = app
        .post(
            "/api/v1/qr-codes",
            Some(token),
            json!({"name": "Menu", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/menu"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

async fn received(rx: &Receiver, n: usize) -> Vec<crate::common::receiver::Received> {
    eventually(&format!("{n} requests at the receiver"), || async {
        let got = rx.received();
        (got.len() >= n).then_some(got)
    })
    .await
}

#[tokio::test]
async fn endpoints_are_managed_their_secret_shown_once_and_other_tenants_see_nothing() {
    let app = spawn().await;
    let (t, _) = app.register("hooks@example.com").await;
    let (other, _) = app.register("other@example.com").await;
    let rx = Receiver::start().await;
    let (id, secret) = endpoint(&app, &t, &rx.url, &["qr_code.created", "scans.batch"]).await;
    assert!(secret.starts_with("whsec_"));
    let key =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &secret[6..]).unwrap();
    assert_eq!(key.len(), 32);
    let (s, e) = app.get(&format!("/api/v1/webhooks/{id}"), Some(&t)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(e.get("secret").is_none(), "the secret is shown once: {e}");
    assert_eq!(e["events"], json!(["qr_code.created", "scans.batch"]));
    assert_eq!(
        (e["enabled"].as_bool(), e["description"].as_str()),
        (Some(true), Some("test"))
    );
    // Stored sealed, never in clear.
    let stored: String = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!stored.contains(&secret[6..]));
    let (_, list) = app.get("/api/v1/webhooks", Some(&t)).await;
    assert_eq!(list["total"], 1);
    let (s, e) = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            Some(&t),
            json!({"events": ["qr_code.updated"], "enabled": false, "description": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(
        (
            e["events"].clone(),
            e["enabled"].as_bool(),
            e["description"].is_null()
        ),
        (json!(["qr_code.updated"]), Some(false), true)
    );
    // Bad input: named fields.
    for (body, field) in [
        (
            json!({"url": "ftp://x.example", "events": ["qr_code.created"]}),
            "url",
        ),
        (json!({"url": rx.url, "events": []}), "events"),
        (
            json!({"url": rx.url, "events": ["qr_code.exploded"]}),
            "events",
        ),
        (json!({"url": rx.url, "events": ["ping"]}), "events"),
        (json!({"events": ["qr_code.created"]}), "url"),
    ] {
        let (s, b) = app.post("/api/v1/webhooks", Some(&t), body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(b["error"]["fields"][field].is_string(), "{b}");
    }
    let (s, b) = app
        .post(
            "/api/v1/webhooks",
            Some(&t),
            json!({"url": rx.url, "events": ["qr_code.created"], "secret": "mine"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["secret"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true),
        "{b}"
    );
    // Another tenant: every route answers 404.
    for path in [
        format!("/api/v1/webhooks/{id}"),
        format!("/api/v1/webhooks/{id}/deliveries"),
    ] {
        assert_eq!(app.get(&path, Some(&other)).await.0, StatusCode::NOT_FOUND);
    }
    for path in ["rotate-secret", "test"] {
        let (s, _) = app
            .post(
                &format!("/api/v1/webhooks/{id}/{path}"),
                Some(&other),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        app.patch(
            &format!("/api/v1/webhooks/{id}"),
            Some(&other),
            json!({"enabled": true})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/{id}"), Some(&other))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/{id}"), Some(&t))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get("/api/v1/webhooks", Some(&t)).await.1["total"], 0);
}

#[tokio::test]
async fn deliveries_follow_the_standard_and_a_failing_receiver_gets_the_same_id_until_it_answers() {
    let app = spawn().await;
    let (t, _) = app.register("signed@example.com").await;
    let rx = Receiver::start().await;
    rx.then([
        Answer::status(500),
        Answer {
            body: "try later",
            ..Answer::status(502)
        },
    ]);
    let (id, secret) = endpoint(&app, &t, &rx.url, &["qr_code.created"]).await;
    let qr = url_code(&app, &t).await;
    let got = received(&rx, 3).await;
    let ids: Vec<String> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids[0].starts_with("msg_"), "{ids:?}");
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "the same webhook-id on every attempt: {ids:?}"
    );
    for r in &got {
        verify(r, &secret);
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.body.len() < 20 * 1024);
    }
    let body = got[2].json();
    assert_eq!(body["type"], "qr_code.created");
    assert!(DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(body["data"]["id"], qr["id"]);
    assert_eq!(body["data"]["short_url"], qr["short_url"]);
    assert_eq!(body["data"]["target_url"], "https://example.com/menu");
    assert_eq!(body["data"]["status"], "active");
    // A tampered body or a wrong secret does not verify.
    let mut tampered = got[2].clone();
    tampered.body = tampered
        .body
        .iter()
        .map(|b| if *b == b'M' { b'N' } else { *b })
        .collect();
    assert!(
        standardwebhooks::Webhook::new(&secret)
            .unwrap()
            .verify(&tampered.body, &tampered.headers)
            .is_err()
    );
    // The delivery log: succeeded at the third attempt, each attempt logged.
    let (_, log) = eventually("the delivery to succeed", || async {
        let (s, l) = app
            .get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&t))
            .await;
        (s == StatusCode::OK && l["items"][0]["status"] == "succeeded").then_some((s, l))
    })
    .await;
    let d = &log["items"][0];
    assert_eq!(
        (
            d["attempts"].as_i64(),
            d["last_status"].as_i64(),
            d["event"].as_str()
        ),
        (Some(3), Some(200), Some("qr_code.created"))
    );
    assert!(d["last_latency_ms"].as_i64().is_some() && d["next_attempt_at"].is_null());
    let delivery = d["id"].as_str().unwrap();
    let (_, detail) = app
        .get(
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery}"),
            Some(&t),
        )
        .await;
    let statuses: Vec<i64> = detail["attempts_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 502, 200]);
    assert_eq!(detail["attempts_log"][1]["response"], "try later");
    // A replay sends it once more, same id.
    let (s, _) = app
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery}/replay"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let again = received(&rx, 4).await;
    assert_eq!(again[3].header("webhook-id"), ids[0]);
    verify(&again[3], &secret);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_and_test_sends_a_ping() {
    let app = spawn().await;
    let (t, _) = app.register("rotate@example.com").await;
    let rx = Receiver::start().await;
    let (id, old) = endpoint(&app, &t, &rx.url, &["qr_code.deleted"]).await;
    let (s, b) = app
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let new = b["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(b["previous_secret_until"].is_string());
    let (s, b) = app
        .post(&format!("/api/v1/webhooks/{id}/test"), Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let got = received(&rx, 1).await;
    assert_eq!(got[0].json()["type"], "ping");
    assert_eq!(got[0].json()["data"]["endpoint_id"], id);
    assert_eq!(
        got[0].header("webhook-signature").split(' ').count(),
        2,
        "two signatures while rotating"
    );
    verify(&got[0], &new);
    verify(&got[0], &old);
    // After the overlap, only the new secret signs.
    sqlx::query("UPDATE webhook_endpoints SET previous_until = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    app.post(&format!("/api/v1/webhooks/{id}/test"), Some(&t), json!({}))
        .await;
    let got = received(&rx, 2).await;
    verify(&got[1], &new);
    assert!(
        standardwebhooks::Webhook::new(&old)
            .unwrap()
            .verify(&got[1].body, &got[1].headers)
            .is_err()
    );
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_retry_after_is_honoured() {
    let app = spawn().await;
    let (t, _) = app.register("gone@example.com").await;
    let gone = Receiver::start().await;
    gone.otherwise(Answer::status(410));
    let busy = Receiver::start().await;
    busy.then([Answer {
        headers: vec![("retry-after", "3".into())],
        ..Answer::status(429)
    }]);
    let (gid, _) = endpoint(&app, &t, &gone.url, &["qr_code.created"]).await;
    let (bid, _) = endpoint(&app, &t, &busy.url, &["qr_code.created"]).await;
    url_code(&app, &t).await;
    let e = eventually("the 410 to disable the endpoint", || async {
        let (_, e) = app.get(&format!("/api/v1/webhooks/{gid}"), Some(&t)).await;
        (e["enabled"] == false).then_some(e)
    })
    .await;
    assert_eq!(e["disabled_reason"], "gone");
    eventually("its owner told", || async {
        app.smtp
            .to("gone@example.com")
            .iter()
            .any(|m| m.subject().contains("webhook endpoint was turned off"))
            .then_some(())
    })
    .await;
    // Disabled: new events are not sent to it.
    url_code(&app, &t).await;
    let got = received(&busy, 3).await;
    assert_eq!(gone.received().len(), 1, "one attempt, then nothing");
    // The busy receiver asked for 3 s: the second attempt waited that long.
    let (_, log) = app
        .get(&format!("/api/v1/webhooks/{bid}/deliveries"), Some(&t))
        .await;
    let first = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["attempts"] == 2)
        .cloned()
        .unwrap_or_default();
    let did = first["id"].as_str().expect("the delivery that was retried");
    let (_, detail) = app
        .get(
            &format!("/api/v1/webhooks/{bid}/deliveries/{did}"),
            Some(&t),
        )
        .await;
    let at = |i: usize| {
        DateTime::parse_from_rfc3339(detail["attempts_log"][i]["at"].as_str().unwrap()).unwrap()
    };
    assert!((at(1) - at(0)).num_milliseconds() >= 2900, "{detail}");
    assert_eq!(detail["attempts_log"][0]["status"], 429);
    assert!(got.len() >= 3);
}

#[tokio::test]
async fn hostile_targets_are_refused_and_nothing_connects_to_them() {
    // No allow-list: the operator admits no private range.
    let app = TestApp::spawn().await;
    let (t, _) = app.register("ssrf@example.com").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = connections.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let hostile = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://LOCALHOST.:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
        format!("http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/"),
        "http://0.0.0.0/".into(),
        "http://[::]/".into(),
        "http://10.0.0.1/".into(),
        "http://172.16.0.1/".into(),
        "http://172.31.255.254/".into(),
        "http://192.168.1.1/".into(),
        "http://100.64.0.1/".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://[::ffff:169.254.169.254]/".into(),
        "http://[fe80::1]/".into(),
        "http://[fc00::1]/".into(),
        "http://[fd00:ec2::254]/".into(),
        "http://[64:ff9b::7f00:1]/".into(),
        "http://[2002:7f00:1::1]/".into(),
        "http://198.18.0.1/".into(),
        "http://192.0.0.170/".into(),
        "http://224.0.0.1/".into(),
        "http://255.255.255.255/".into(),
        "http://240.0.0.1/".into(),
        "http://user:pass@example.com/".into(),
        "ftp://example.com/".into(),
        "file:///etc/passwd".into(),
        "gopher://127.0.0.1:70/".into(),
    ];
    assert!(hostile.len() >= 30);
    for url in &hostile {
        let (s, b) = app
            .post(
                "/api/v1/webhooks",
                Some(&t),
                json!({"url": url, "events": ["qr_code.created"]}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {b}");
        assert!(b["error"]["fields"]["url"].is_string(), "{url}: {b}");
    }
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection was made"
    );
}

/// A name that resolves to loopback got past the check when the endpoint was made (here: an API
/// process allowed it, as a rebinding name would pass a check at create time); the workers,
/// allowed nothing private, refuse it at the connection.
#[tokio::test]
async fn names_are_checked_again_on_the_addresses_actually_connected() {
    let api_only = qrsaas::startup::Parts {
        http: true,
        workers: false,
        scheduler: false,
        migrate: true,
    };
    let app = TestApp::spawn_parts(api_only, |s| {
        s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    })
    .await;
    let _workers = app.workers_with(|s| s.webhooks.allowed_cidrs.clear()).await;
    let (t, _) = app.register("rebind@example.com").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = connections.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    for url in [
        format!("http://localhost:{port}/"),
        format!("http://127.0.0.1:{port}/"),
    ] {
        let (id, _) = endpoint(&app, &t, &url, &["qr_code.created"]).await;
        let (s, b) = app
            .post(&format!("/api/v1/webhooks/{id}/test"), Some(&t), json!({}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        let d = eventually("the attempt refused", || async {
            let (_, l) = app
                .get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&t))
                .await;
            (l["items"][0]["attempts"].as_i64() >= Some(1)).then_some(l["items"][0].clone())
        })
        .await;
        assert!(d["last_status"].is_null(), "{d}");
        let error = d["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("public"), "{url}: {error}");
    }
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection was made"
    );
}

#[tokio::test]
async fn every_event_type_reaches_its_subscribers_with_its_data() {
    let app = spawn().await;
    let (t, uid) = app.register("events@example.com").await;
    let rx = Receiver::start().await;
    let all = [
        "qr_code.created",
        "qr_code.updated",
        "qr_code.deleted",
        "qr_code.blocked",
        "scans.batch",
        "scan.milestone",
        "export.completed",
        "bulk.completed",
        "job.failed",
    ];
    let (_, secret) = endpoint(&app, &t, &rx.url, &all).await;
    let qr = url_code(&app, &t).await;
    let id = qr["id"].as_str().unwrap().to_owned();
    app.patch(
        &format!("/api/v1/qr-codes/{id}"),
        Some(&t),
        json!({"target_url": "https://example.com/new"}),
    )
    .await;
    // 99 scans so far; the next ones pass 100.
    sqlx::query("UPDATE qr_codes SET scans_total = 98 WHERE id = $1::uuid")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    for _ in 0..3 {
        let res = app
            .http
            .get(app.url(&format!("/r/{}", qr["short_code"].as_str().unwrap())))
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
    }
    let (_, job) = app
        .post(
            "/api/v1/exports",
            Some(&t),
            json!({"qr_ids": [id], "format": "svg"}),
        )
        .await;
    let rows = json!([{"name": "a", "qr_type": "text", "dynamic": false, "data": {"text": "x"}}]);
    let (_, bulk) = app.post("/api/v1/qr-codes/bulk", Some(&t), rows).await;
    // A job that fails for good (its last attempt).
    let dead = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO jobs (id, user_id, kind, params, attempts) VALUES ($1, $2::uuid, 'bulk_create', '{\"rows\": 7}', 7)")
        .bind(dead)
        .bind(&uid)
        .execute(&app.db)
        .await
        .unwrap();
    app.queues()
        .await
        .enqueue(qrsaas_jobs::BulkCreate {
            job_id: dead,
            run: 0,
        })
        .await
        .unwrap();
    qrsaas::accounts::admin::promote(&app.settings, "events@example.com")
        .await
        .unwrap();
    eventually("admin", || async {
        (app.get("/api/v1/me", Some(&t)).await.1["role"] == "admin").then_some(())
    })
    .await;
    let (_, second) = app.post("/api/v1/qr-codes", Some(&t), json!({"name": "Spam", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/s"})).await;
    let sid = second["id"].as_str().unwrap();
    assert_eq!(
        app.post(
            &format!("/api/v1/admin/qr-codes/{sid}/block"),
            Some(&t),
            json!({})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/api/v1/qr-codes/{id}"), Some(&t))
            .await
            .0,
        StatusCode::NO_CONTENT
    );

    let by_type = eventually("every event type", || async {
        let got = rx.received();
        let types: std::collections::BTreeMap<String, Value> = got
            .iter()
            .map(|r| {
                let j = r.json();
                (j["type"].as_str().unwrap().to_owned(), j)
            })
            .collect();
        all.iter().all(|t| types.contains_key(*t)).then_some(types)
    })
    .await;
    for r in rx.received() {
        verify(&r, &secret);
    }
    let data = |t: &str| by_type[t]["data"].clone();
    assert_eq!(
        data("qr_code.updated")["target_url"],
        "https://example.com/new"
    );
    assert_eq!(data("qr_code.deleted")["status"], "deleted");
    assert_eq!(
        (
            data("qr_code.blocked")["status"].as_str(),
            data("qr_code.blocked")["id"].as_str()
        ),
        (Some("blocked"), Some(sid))
    );
    let m = data("scan.milestone");
    assert_eq!(
        (m["milestone"].as_i64(), m["qr_id"].as_str()),
        (Some(100), Some(id.as_str()))
    );
    assert!(m["scans_total"].as_i64() >= Some(100), "{m}");
    let batch = data("scans.batch");
    assert_eq!(batch["count"], 3, "{batch}");
    let scan = &batch["scans"][0];
    assert_eq!(
        (
            scan["qr_id"].as_str(),
            scan["device"].as_str(),
            scan["os"].as_str()
        ),
        (Some(id.as_str()), Some("desktop"), Some("Linux"))
    );
    assert_eq!(data("export.completed")["job_id"], job["job_id"]);
    assert!(
        data("export.completed")["download_url"]
            .as_str()
            .unwrap()
            .ends_with("/download")
    );
    assert_eq!(
        (
            data("bulk.completed")["job_id"].clone(),
            data("bulk.completed")["created"].as_i64()
        ),
        (bulk["job_id"].clone(), Some(1))
    );
    let failed = data("job.failed");
    assert_eq!(
        (
            failed["job_id"].as_str(),
            failed["kind"].as_str(),
            failed["attempts"].as_i64()
        ),
        (
            Some(dead.to_string().as_str()),
            Some("bulk_create"),
            Some(8)
        )
    );
    // One milestone, however many scans pass it afterwards.
    let milestones = rx
        .received()
        .iter()
        .filter(|r| r.json()["type"] == "scan.milestone")
        .count();
    assert_eq!(milestones, 1);
    // The job's owner was e-mailed too (job_failures is on by default).
    eventually("the job-failure e-mail", || async {
        app.smtp
            .to("events@example.com")
            .iter()
            .any(|m| m.subject().contains("bulk create job failed"))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn alerts_follow_the_settings_and_unsubscribe_takes_one_click() {
    let app = spawn().await;
    let (t, _) = app.register("alerts@example.com").await;
    let qr = url_code(&app, &t).await;
    let id = qr["id"].as_str().unwrap().to_owned();
    sqlx::query("UPDATE qr_codes SET scans_total = 99 WHERE id = $1::uuid")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    let scan = || async {
        app.http
            .get(app.url(&format!("/r/{}", qr["short_code"].as_str().unwrap())))
            .send()
            .await
            .unwrap();
    };
    scan().await;
    let mail = eventually("the milestone e-mail", || async {
        app.smtp
            .to("alerts@example.com")
            .into_iter()
            .find(|m| m.subject().contains("reached 100 scans"))
    })
    .await;
    assert!(
        mail.text().contains("has been scanned 100 times"),
        "{}",
        mail.text()
    );
    let raw = String::from_utf8_lossy(&mail.data).to_string();
    assert!(
        raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{raw}"
    );
    let link = raw
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: <"))
        .map(|l| l.trim_end_matches('>').to_owned())
        .expect("a List-Unsubscribe header");
    assert!(mail.text().contains(&link));
    // The public URL is the configured one; this test's server listens elsewhere.
    let link = link.replace(&app.settings.public_base_url, &app.base);
    // A forged link does nothing; a GET (a scanner following links) does nothing.
    let forged = link.replace("&t=", "&t=00");
    let res = app
        .http
        .post(&forged)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let page = app.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("method=\"post\""));
    assert_eq!(
        app.get("/api/v1/settings", Some(&t)).await.1["notifications"]["scan_alerts"],
        true
    );
    // One click (RFC 8058): the preference is off.
    let res = app
        .http
        .post(&link)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_, settings) = app.get("/api/v1/settings", Some(&t)).await;
    assert_eq!(
        settings["notifications"]["scan_alerts"], false,
        "{settings}"
    );
    assert_eq!(
        settings["notifications"]["job_failures"], true,
        "only that one"
    );
    // Off means off: the next milestone sends no e-mail.
    sqlx::query("UPDATE qr_codes SET scans_total = 999 WHERE id = $1::uuid")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    scan().await;
    // The milestone is claimed in the transaction that would have written its e-mail: once the
    // claim is there, so would the e-mail be.
    eventually("the 1,000th scan recorded", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM scan_milestones")
            .fetch_one(&app.db)
            .await
            .unwrap();
        (n == 2).then_some(())
    })
    .await;
    let mails: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbound_emails WHERE kind = 'scan_milestone'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(mails, 1);
}

#[tokio::test]
async fn the_weekly_summary_goes_out_monday_eight_local_time_once() {
    let app = spawn().await;
    let (t, uid) = app.register("weekly@example.com").await;
    let (s, b) = app
        .put("/api/v1/settings", Some(&t), json!({"locale": "en", "timezone": "Asia/Kolkata", "notifications": {"weekly_summary": true}}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let a = url_code(&app, &t).await;
    let b = url_code(&app, &t).await;
    // The clock the scheduler gives: Monday 2026-12-07 02:00 UTC, i.e. 07:30 in Kolkata, in
    // whose hour 08:00 falls. Last week there: Nov 30 – Dec 6 (local).
    let slot: DateTime<Utc> = "2026-12-07T02:00:00Z".parse().unwrap();
    let ch = app.clickhouse();
    let owner: uuid::Uuid = uid.parse().unwrap();
    let mut insert = ch
        .insert::<qrsaas::analytics::ingest::ScanRow>("scan_events")
        .await
        .unwrap();
    let row = |code: &Value, at: &str| {
        let e = qrsaas_jobs::ScanEvent {
            event_id: uuid::Uuid::now_v7(),
            qr_id: code["id"].as_str().unwrap().parse().unwrap(),
            owner_id: owner,
            project_id: None,
            short_code: code["short_code"].as_str().unwrap().into(),
            at: at.parse().unwrap(),
            ip: Some([203, 0, 113, 1].into()),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0".into(),
            referer: String::new(),
            country: None,
            city: None,
            keep_ip: false,
            variant: 0,
        };
        qrsaas::analytics::ingest::enrich(&e, "s", None)
    };
    // Last week: 3 scans of a, 1 of b (one of a at Sunday 23:00 local = 17:30 UTC); the week
    // before: 2; this week (after Monday 00:00 local): 1, not counted.
    for (code, at) in [
        (&a, "2026-11-30T05:00:00Z"),
        (&a, "2026-12-03T10:00:00Z"),
        (&a, "2026-12-06T17:30:00Z"),
        (&b, "2026-12-02T12:00:00Z"),
        (&a, "2026-11-25T10:00:00Z"),
        (&b, "2026-11-26T10:00:00Z"),
        (&a, "2026-12-06T18:45:00Z"),
    ] {
        insert.write(&row(code, at)).await.unwrap();
    }
    insert.end().await.unwrap();
    let sched = scheduler(&app).await;
    let done = crate::billing::done_jobs::<qrsaas_jobs::Maintenance>(&app).await;
    // An hour too early: nothing.
    assert!(
        sched
            .fire(
                MaintenanceTask::WeeklySummaries,
                slot - chrono::Duration::hours(1)
            )
            .await
            .unwrap()
    );
    assert!(
        sched
            .fire(MaintenanceTask::WeeklySummaries, slot)
            .await
            .unwrap()
    );
    let mail = eventually("the weekly summary", || async {
        app.smtp
            .to("weekly@example.com")
            .into_iter()
            .find(|m| m.subject().contains("Your week"))
    })
    .await;
    assert_eq!(mail.subject(), "Your week: 4 scans (+100%)");
    let text = mail.text();
    assert!(text.contains("2026-11-30 to 2026-12-06"), "{text}");
    assert!(
        text.contains("Menu: 3") && text.contains("Menu: 1"),
        "{text}"
    );
    // The same hour again (another scheduler, a retry): not twice.
    assert!(
        sched
            .fire(
                MaintenanceTask::WeeklySummaries,
                slot + chrono::Duration::seconds(30)
            )
            .await
            .unwrap()
    );
    eventually("the three runs done", || async {
        (crate::billing::done_jobs::<qrsaas_jobs::Maintenance>(&app).await >= done + 3)
            .then_some(())
    })
    .await;
    let mails: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbound_emails WHERE kind = 'weekly_summary'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(mails, 1);
}

#[tokio::test]
async fn the_live_stream_shows_scans_and_resumes_after_a_reconnect() {
    let app = spawn().await;
    let (t, _) = app.register("live@example.com").await;
    let a = url_code(&app, &t).await;
    let b = url_code(&app, &t).await;
    let open = |last: Option<String>, qr: Option<&str>| {
        let mut req = app
            .http
            .get(app.url(&format!(
                "/api/v1/scans/stream{}",
                qr.map(|q| format!("?qr_id={q}")).unwrap_or_default()
            )))
            .bearer_auth(&t);
        if let Some(l) = last {
            req = req.header("last-event-id", l);
        }
        req.send()
    };
    let mut stream = open(None, None).await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("retry:"));
    let scan = |code: &Value| {
        let url = app.url(&format!("/r/{}", code["short_code"].as_str().unwrap()));
        let http = app.http.clone();
        async move {
            http.get(url).header("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1").send().await.unwrap();
        }
    };
    scan(&a).await;
    scan(&b).await;
    let mut events: Vec<(String, Value)> = Vec::new();
    let mut buf = String::new();
    while events.len() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(20), stream.chunk())
            .await
            .expect("a scan within 20 s")
            .unwrap()
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let ev: String = buf.drain(..end + 2).collect();
            if let (Some(id), Some(data)) = (
                ev.lines().find_map(|l| l.strip_prefix("id: ")),
                ev.lines().find_map(|l| l.strip_prefix("data: ")),
            ) {
                events.push((id.to_owned(), serde_json::from_str(data).unwrap()));
            }
        }
    }
    let qr_ids: Vec<&str> = events
        .iter()
        .map(|(_, e)| e["qr_id"].as_str().unwrap())
        .collect();
    assert!(
        qr_ids.contains(&a["id"].as_str().unwrap()) && qr_ids.contains(&b["id"].as_str().unwrap())
    );
    assert_eq!(events[0].1["device"], "mobile");
    let last = events.last().unwrap().0.clone();
    drop(stream);
    // While disconnected, two more scans; a reconnect with Last-Event-ID gets exactly those.
    scan(&a).await;
    scan(&a).await;
    eventually("the two scans ingested", || async {
        let n: i64 =
            sqlx::query_scalar("SELECT COALESCE(sum(scans_total), 0)::bigint FROM qr_codes")
                .fetch_one(&app.db)
                .await
                .unwrap();
        (n == 4).then_some(())
    })
    .await;
    let mut resumed = open(Some(last), Some(a["id"].as_str().unwrap()))
        .await
        .unwrap();
    let mut text = String::new();
    while text.matches("event: scan").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(20), resumed.chunk())
            .await
            .expect("the missed scans")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(text.matches("event: scan").count(), 2, "{text}");
    assert!(
        !text.contains(b["id"].as_str().unwrap()),
        "the filter holds"
    );
    // Another tenant's code: 404.
    let (other, _) = app.register("peeker@example.com").await;
    let res = app
        .http
        .get(app.url(&format!(
            "/api/v1/scans/stream?qr_id={}",
            a["id"].as_str().unwrap()
        )))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sms_alerts_go_to_a_number_verified_by_a_texted_code() {
    let sms = Receiver::start().await;
    sms.otherwise(Answer {
        body: r#"{"sid":"SM123"}"#,
        ..Answer::status(201)
    });
    let base = format!("http://127.0.0.1:{}", sms.port);
    let app = spawn_with(move |s| {
        s.sms.api_base = base;
        s.sms.account_sid = Some("AC123".into());
        s.sms.auth_token = Some("token".into());
        s.sms.from = Some("+15550001111".into());
    })
    .await;
    let (t, _) = app.register("sms@example.com").await;
    let (s, b) = app
        .put("/api/v1/me/phone", Some(&t), json!({"phone": "98765"}))
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["phone"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let (s, _) = app
        .put(
            "/api/v1/me/phone",
            Some(&t),
            json!({"phone": "+91 98765 43210"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let got = received(&sms, 1).await;
    assert_eq!(got[0].path, "/2010-04-01/Accounts/AC123/Messages.json");
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&got[0].body)
        .into_owned()
        .collect();
    assert_eq!(
        (form["To"].as_str(), form["From"].as_str()),
        ("+919876543210", "+15550001111")
    );
    let code: String = form["Body"]
        .split_whitespace()
        .map(|w| w.trim_end_matches('.'))
        .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_default()
        .to_owned();
    assert_eq!(code.len(), 6, "{}", form["Body"]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (s, _) = app
        .post("/api/v1/me/phone/verify", Some(&t), json!({"code": wrong}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, p) = app
        .post("/api/v1/me/phone/verify", Some(&t), json!({"code": code}))
        .await;
    assert_eq!(
        (s, p["verified"].as_bool(), p["phone"].as_str()),
        (StatusCode::OK, Some(true), Some("+919876543210")),
        "{p}"
    );
    let (s, _) = app
        .put("/api/v1/settings", Some(&t), json!({"locale": "en", "timezone": "UTC", "notifications": {"sms": {"scan_alerts": true}}}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let qr = url_code(&app, &t).await;
    sqlx::query("UPDATE qr_codes SET scans_total = 99")
        .execute(&app.db)
        .await
        .unwrap();
    app.http
        .get(app.url(&format!("/r/{}", qr["short_code"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    let got = received(&sms, 2).await;
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&got[1].body)
        .into_owned()
        .collect();
    assert_eq!(form["To"], "+919876543210");
    assert!(
        form["Body"].contains("reached 100 scans"),
        "{}",
        form["Body"]
    );
    let auth = got[1].header("authorization");
    assert!(auth.starts_with("Basic "), "{auth}");
}

#[tokio::test]
async fn an_endpoint_failing_for_days_is_turned_off_and_its_owner_told() {
    let app = spawn().await;
    let (t, _) = app.register("failing@example.com").await;
    let down = Receiver::start().await;
    down.otherwise(Answer::status(500));
    let (id, _) = endpoint(&app, &t, &down.url, &["qr_code.created"]).await;
    url_code(&app, &t).await;
    received(&down, 1).await;
    // It has failed since six days ago (as if every attempt since then had failed).
    sqlx::query("UPDATE webhook_endpoints SET failing_since = now() - interval '6 days'")
        .execute(&app.db)
        .await
        .unwrap();
    let e = eventually("the endpoint turned off", || async {
        let (_, e) = app.get(&format!("/api/v1/webhooks/{id}"), Some(&t)).await;
        (e["enabled"] == false).then_some(e)
    })
    .await;
    assert_eq!(e["disabled_reason"], "failing");
    assert!(e["failing_since"].is_string());
    let mail = eventually("the owner told", || async {
        app.smtp
            .to("failing@example.com")
            .into_iter()
            .find(|m| m.subject().contains("turned off"))
    })
    .await;
    assert!(
        mail.text().contains("failed every delivery for days"),
        "{}",
        mail.text()
    );
    assert!(mail.text().contains(&down.url));
    // Turned back on by its owner: deliveries flow again, and the failure clock restarts.
    let (s, e) = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            Some(&t),
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        e["disabled_reason"].is_null() && e["failing_since"].is_null(),
        "{e}"
    );
}
