//! Webhook delivery throughput: 10,000 events to each of 10 endpoints (100,000 deliveries) on a
//! local receiver, through the real `webhooks` queue (Redis), the workers, the notifier and the
//! SSRF-guarded client, each delivery signed, leased and logged in Postgres. Baseline in the same
//! run: the same number of plain POSTs straight from a client to the same receiver, as many in
//! flight as the workers use — the floor any sender pays. Needs the stores of
//! `scripts/services`; run with `scripts/bench webhooks` (release build).

// A test or bench fails by panicking; the workspace lints deny it in the service only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use common::BenchApp;
use futures::StreamExt;
use qrsaas::startup::Parts;
use qrsaas_jobs::DeliverWebhook;
use serde_json::{Value, json};

const EVENTS: i64 = 10_000;
const ENDPOINTS: usize = 10;
const IN_FLIGHT: usize = 64;

fn process_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A receiver answering 200 at once, counting what it got.
async fn receiver(count: Arc<AtomicU64>) -> u16 {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let c = web::Data::new(count);
            let server = HttpServer::new(move || {
                App::new().app_data(c.clone()).default_service(web::to(
                    |c: web::Data<Arc<AtomicU64>>, _body: web::Bytes| async move {
                        c.fetch_add(1, Ordering::Relaxed);
                        HttpResponse::Ok().finish()
                    },
                ))
            })
            .workers(1)
            .listen(listener)
            .expect("listen")
            .run();
            let _ = tx.send(port);
            let _ = server.await;
        });
    });
    rx.await.expect("receiver")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let received = Arc::new(AtomicU64::new(0));
    let port = receiver(received.clone()).await;
    let app = BenchApp::start("webhooks", Parts::ALL, |s| {
        s.http_addr = "127.0.0.1:0".parse().expect("address");
        s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().expect("cidr")];
        s.database_max_connections = 20;
    })
    .await?;
    let base = format!(
        "http://{}",
        app.addr.ok_or_else(|| anyhow::anyhow!("no HTTP"))?
    );
    let http = reqwest::Client::new();
    let reg: Value = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "hooks@example.com", "password": "correct horse battery", "name": "Bench"}))
        .send()
        .await?
        .json()
        .await?;
    let token = reg["token"].as_str().unwrap_or_default().to_owned();
    let user: uuid::Uuid = reg["user"]["id"].as_str().unwrap_or_default().parse()?;
    for i in 0..ENDPOINTS {
        let res = http
            .post(format!("{base}/api/v1/webhooks"))
            .bearer_auth(&token)
            .json(&json!({"url": format!("http://127.0.0.1:{port}/hook/{i}"), "events": ["qr_code.created"]}))
            .send()
            .await?;
        anyhow::ensure!(res.status() == 201, "endpoint: {}", res.status());
    }
    let total = EVENTS as usize * ENDPOINTS;
    println!(
        "webhook benchmark — {EVENTS} events × {ENDPOINTS} endpoints = {total} deliveries to a local \
         receiver, release build"
    );

    // Baseline: plain POSTs of the same size, IN_FLIGHT at a time.
    let body = json!({"type": "qr_code.created", "timestamp": "2026-12-01T00:00:00Z",
        "data": {"id": uuid::Uuid::now_v7(), "name": "Menu", "qr_type": "url", "dynamic": true,
                 "short_code": "Ab3dE9x", "short_url": "http://127.0.0.1:8080/r/Ab3dE9x",
                 "target_url": "https://example.com/menu", "status": "active", "project_id": null,
                 "updated_at": "2026-12-01T00:00:00Z"}})
    .to_string();
    let url = format!("http://127.0.0.1:{port}/baseline");
    let (t0, c0) = (Instant::now(), process_cpu_secs());
    futures::stream::iter(0..total)
        .map(|_| {
            http.post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        })
        .buffer_unordered(IN_FLIGHT)
        .for_each(|_| async {})
        .await;
    let base_s = t0.elapsed().as_secs_f64();
    let base_cpu = process_cpu_secs() - c0;
    let base_rate = total as f64 / base_s;
    println!(
        "{:<44} {:>9.0} req/s  {:>7.1} µs CPU each",
        "plain POSTs to the receiver (baseline)",
        base_rate,
        base_cpu * 1e6 / total as f64
    );

    // The real thing: events in the outbox, one delivery job per event and endpoint.
    let db = app.db().await?;
    sqlx::query(
        "INSERT INTO webhook_events (id, user_id, type, data) \
         SELECT gen_random_uuid(), $1, 'qr_code.created', \
                jsonb_build_object('id', gen_random_uuid(), 'name', 'Menu ' || g, 'qr_type', 'url', \
                  'dynamic', true, 'short_code', 'c' || g, 'status', 'active') \
         FROM generate_series(1, $2) g",
    )
    .bind(user)
    .bind(EVENTS)
    .execute(&db)
    .await?;
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, user_id) \
         SELECT gen_random_uuid(), e.id, p.id, $1 FROM webhook_events e CROSS JOIN webhook_endpoints p \
         RETURNING id",
    )
    .bind(user)
    .fetch_all(&db)
    .await?;
    let redis = redis::Client::open("redis://127.0.0.1:6379")?
        .get_connection_manager()
        .await?;
    let queues = qrsaas::queue::Queues::new(redis, &app.settings.redis_namespace);
    let before = received.load(Ordering::Relaxed);
    let (t0, c0) = (Instant::now(), process_cpu_secs());
    futures::stream::iter(ids)
        .map(|delivery_id| {
            let q = queues.clone();
            async move {
                q.enqueue(DeliverWebhook {
                    delivery_id,
                    run: 0,
                    attempt: 1,
                })
                .await
            }
        })
        .buffer_unordered(32)
        .for_each(|r| async move {
            if let Err(e) = r {
                eprintln!("enqueue: {e}");
            }
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'",
        )
        .fetch_one(&db)
        .await?;
        if done as usize >= total || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = t0.elapsed().as_secs_f64();
    let cpu = process_cpu_secs() - c0;
    let delivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")
            .fetch_one(&db)
            .await?;
    let rate = delivered as f64 / took;
    println!(
        "{:<44} {:>9.0} deliveries/s  {:>7.1} µs CPU each",
        "enqueue → worker → signed, logged delivery",
        rate,
        cpu * 1e6 / delivered.max(1) as f64
    );
    println!(
        "deliveries / plain POSTs: {:.2}x; delivered {delivered} of {total}, the receiver got {} \
         (goal ≥ 2,000 deliveries/s)",
        rate / base_rate,
        received.load(Ordering::Relaxed) - before
    );
    db.close().await;
    app.stop().await?;
    anyhow::ensure!(delivered as usize == total, "deliveries lost");
    Ok(())
}
