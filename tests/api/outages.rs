//! Dependency outages: redirects keep working and scans are neither lost nor doubled.

use qrsaas::startup::Parts;
use qrsaas_jobs::{IngestScans, queue_name};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::proxy::Proxy;
use crate::common::{TestApp, eventually};

#[derive(clickhouse::Row, serde::Deserialize)]
struct Counts {
    n: u64,
    distinct: u64,
}

/// The app's Prometheus counter `name` (None until it is first counted).
async fn counter(app: &TestApp, name: &str) -> Option<u64> {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Some when the app's Prometheus counter `name` is above zero.
async fn counter_above_zero(app: &TestApp, name: &str) -> Option<()> {
    (counter(app, name).await? > 0).then_some(())
}

/// Some when exactly `expected` scans of the code are stored; panics on any duplicate.
async fn exactly(ch: &clickhouse::Client, qr_id: &str, expected: u64) -> Option<()> {
    let c = ch
        .query("SELECT count() AS n, uniqExact(event_id) AS distinct FROM scan_events WHERE qr_id = toUUID(?)")
        .bind(qr_id)
        .fetch_one::<Counts>()
        .await
        .ok()?;
    assert_eq!(c.n, c.distinct, "no event may be written twice");
    (c.n == expected).then_some(())
}

/// A new account with one dynamic URL code, as each test here starts.
struct Account {
    token: String,
    owner: String,
    /// The code's id and short code.
    id: String,
    code: String,
}

async fn account_with_code(app: &TestApp, email: &str) -> Account {
    let (token, owner) = app.register(email).await;
    let (_, qr) = app
        .post("/api/v1/qr-codes", Some(&token), json!({"name": "Outage", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/"}))
        .await;
    Account {
        id: qr["id"].as_str().unwrap().to_owned(),
        code: qr["short_code"].as_str().unwrap().to_owned(),
        token,
        owner,
    }
}

#[tokio::test]
async fn clickhouse_outage_during_traffic_loses_and_doubles_nothing() {
    let ch_proxy = Proxy::start("127.0.0.1:8123").await;
    let port = ch_proxy.port;
    let app =
        TestApp::spawn_with(move |s| s.clickhouse_url = format!("http://127.0.0.1:{port}")).await;
    let Account {
        token: t, id, code, ..
    } = account_with_code(&app, "outage@example.com").await;

    ch_proxy.down().await;
    assert_eq!(app.get("/readyz", None).await.1["clickhouse"], "down");
    for _ in 0..30 {
        let res = app
            .http
            .get(app.url(&format!("/r/{code}")))
            .header("user-agent", "Mozilla/5.0 (iPhone)")
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::FOUND,
            "redirects do not depend on ClickHouse"
        );
    }
    // The outage is seen by ingestion (so the scans really wait for ClickHouse to return).
    eventually("a failed ingestion attempt", || {
        counter_above_zero(&app, "scan_ingest_failures_total")
    })
    .await;
    // A lost connection stops the ingestor; its supervisor restarts it with a new client, and the
    // same address keeps taking work (the 30 scans below arrive through the restarted actor).
    eventually("the ingestor restarted by its supervisor", || {
        counter_above_zero(&app, "actor_restarts_total{actor=\"ingestor\"}")
    })
    .await;
    ch_proxy.up();

    // Direct to ClickHouse (not through the proxy): every scan, once.
    let ch = app.clickhouse();
    eventually("30 scans after recovery", || exactly(&ch, &id, 30)).await;
    eventually("usage counted once", || async {
        let (_, q) = app.get(&format!("/api/v1/qr-codes/{id}"), Some(&t)).await;
        (q["scans_total"] == 30).then_some(())
    })
    .await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn redis_outage_keeps_cached_codes_redirecting_and_holds_scans() {
    let redis_proxy = Proxy::start("127.0.0.1:6379").await;
    let port = redis_proxy.port;
    let app =
        TestApp::spawn_with(move |s| s.redis_url = format!("redis://127.0.0.1:{port}").into())
            .await;
    let Account { id, code, .. } = account_with_code(&app, "redis-outage@example.com").await;
    let scan = || {
        app.http
            .get(app.url(&format!("/r/{code}")))
            .header("user-agent", "Mozilla/5.0 (iPhone)")
            .send()
    };
    assert_eq!(scan().await.unwrap().status(), StatusCode::FOUND); // warms the cache

    redis_proxy.down().await;
    for _ in 0..20 {
        assert_eq!(
            scan().await.unwrap().status(),
            StatusCode::FOUND,
            "cached codes redirect without Redis"
        );
    }
    eventually("the shipper to notice the outage", || {
        counter_above_zero(&app, "scan_ship_failures_total")
    })
    .await;
    redis_proxy.up();

    let ch = qrsaas::analytics::client(&app.settings);
    eventually("21 scans after Redis returns", || exactly(&ch, &id, 21)).await;
    app.stop().await.unwrap();
}

/// Blocks of scans ever queued on the `scans` queue (apalis keeps each job's payload in one
/// hash, whatever its state), read straight from Redis.
async fn queued_blocks(app: &TestApp) -> usize {
    let queue = queue_name::<IngestScans>(&app.settings.redis_namespace);
    let payloads = apalis_redis::Config::default().queue(queue).job_data_hash();
    let mut redis = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("HLEN")
        .arg(payloads)
        .query_async(&mut redis)
        .await
        .unwrap()
}

/// The ambiguous failure: Redis runs the enqueue of a block but the reply is lost, so the
/// shipper cannot know the block is queued. It sends the same batch again; the queue's
/// idempotency key keeps one job, and every scan is stored once.
#[tokio::test]
async fn an_enqueue_whose_reply_is_lost_queues_its_scans_once() {
    let redis_proxy = Proxy::start("127.0.0.1:6379").await;
    let port = redis_proxy.port;
    // `serve` alone, through the proxy; the worker comes later, on Redis directly.
    let serve = Parts {
        http: true,
        workers: false,
        scheduler: false,
        migrate: true,
    };
    let app = TestApp::spawn_parts(serve, move |s| {
        s.redis_url = format!("redis://127.0.0.1:{port}").into()
    })
    .await;
    let Account { id, code, .. } = account_with_code(&app, "ambiguous@example.com").await;

    let scan = |n: usize| {
        let (app, code) = (&app, &code);
        async move {
            for _ in 0..n {
                let res = app.http.get(app.url(&format!("/r/{code}"))).send().await;
                assert_eq!(res.unwrap().status(), StatusCode::FOUND);
            }
        }
    };
    // One block shipped normally first (Redis then holds the enqueue script: a lost reply to
    // loading it would make every later attempt fail before the enqueue runs at all).
    scan(1).await;
    eventually("the first block to be queued", || async {
        (counter(&app, "scans_shipped_total").await? == 1).then_some(())
    })
    .await;

    assert_eq!(queued_blocks(&app).await, 1);
    redis_proxy.lose_replies();
    scan(10).await;
    eventually("the block's enqueue to fail", || {
        counter_above_zero(&app, "scan_ship_failures_total")
    })
    .await;
    eventually("the block to be in the queue all the same", || async {
        (queued_blocks(&app).await == 2).then_some(())
    })
    .await;
    assert!(redis_proxy.lost() > 0);
    assert_eq!(
        counter(&app, "scans_shipped_total").await,
        Some(1),
        "not confirmed"
    );

    redis_proxy.deliver_replies();
    eventually(
        "the shipper to send the block again and be answered",
        || async { (counter(&app, "scans_shipped_total").await? == 11).then_some(()) },
    )
    .await;
    assert_eq!(
        queued_blocks(&app).await,
        2,
        "the second send queued nothing"
    );

    let worker = app
        .workers_with(|s| s.redis_url = "redis://127.0.0.1:6379".to_owned().into())
        .await;
    let ch = app.clickhouse();
    eventually("11 scans, once each", || exactly(&ch, &id, 11)).await;
    worker.stop().await.unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_poison_event_is_set_aside_and_never_blocks_its_batch_or_the_next() {
    let app = TestApp::spawn().await;
    let Account {
        token: t,
        owner,
        id,
        code,
    } = account_with_code(&app, "poison@example.com").await;
    let event = |at: chrono::DateTime<chrono::Utc>| qrsaas_jobs::ScanEvent {
        event_id: uuid::Uuid::now_v7(),
        qr_id: id.parse().unwrap(),
        owner_id: owner.parse().unwrap(),
        project_id: None,
        short_code: code.clone(),
        at,
        ip: "203.0.113.9".parse().ok(),
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)".into(),
        referer: String::new(),
        country: None,
        city: None,
        keep_ip: false,
        variant: 0,
    };
    let now = chrono::Utc::now();
    // Year 2150: ClickHouse's DateTime cannot hold it, so inserting it would fail the batch.
    let poison = event("2150-01-01T00:00:00Z".parse().unwrap());
    let queues = app.queues().await;
    queues
        .enqueue(qrsaas_jobs::IngestScans {
            batch_id: uuid::Uuid::now_v7(),
            events: vec![event(now), poison.clone(), event(now)],
        })
        .await
        .unwrap();
    // A scan through the front door after the poisoned batch.
    assert_eq!(
        app.http
            .get(app.url(&format!("/r/{code}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FOUND
    );

    let ch = app.clickhouse();
    eventually("the three good scans stored", || exactly(&ch, &id, 3)).await;
    eventually("scans_total counts only good scans", || async {
        let (_, q) = app.get(&format!("/api/v1/qr-codes/{id}"), Some(&t)).await;
        (q["scans_total"] == 3).then_some(())
    })
    .await;
    let (reason, stored): (String, serde_json::Value) =
        sqlx::query_as("SELECT reason, event FROM scan_dead_letters WHERE event_id = $1")
            .bind(poison.event_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(reason.contains("out of range"), "{reason}");
    assert_eq!(stored["short_code"], code.as_str());
    eventually("the rejection is counted", || {
        counter_above_zero(&app, "scans_rejected_total")
    })
    .await;
    app.stop().await.unwrap();
}
