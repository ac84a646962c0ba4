//! The queue wiring: scheduler lock, maintenance jobs, the e-mail outbox recovery.

use chrono::{Duration, Utc};
use qrsaas::queue::Queues;
use qrsaas::scheduler::Scheduler;
use qrsaas_jobs::MaintenanceTask;
use uuid::Uuid;

use crate::common::{TestApp, eventually};

/// Fires `task` now through a new scheduler and asserts that it was fired (not taken for a
/// duplicate of another scheduler's slot).
pub async fn fire_now(app: &TestApp, task: MaintenanceTask) {
    let fired = scheduler(app).await.fire(task, Utc::now()).await.unwrap();
    assert!(fired, "{task:?} was not fired");
}

pub async fn scheduler(app: &TestApp) -> Scheduler {
    let redis = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    Scheduler {
        queues: Queues::new(redis.clone(), &app.settings.redis_namespace),
        redis,
        namespace: app.settings.redis_namespace.clone(),
    }
}

#[tokio::test]
async fn lost_email_enqueue_is_recovered_once_by_the_scheduled_sweep() {
    let app = TestApp::spawn().await;
    // An outbox row whose enqueue was lost (Redis was down when it committed).
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO outbound_emails (id, kind, to_address, subject, body_text, created_at) \
         VALUES ($1, 'test', 'lost@example.com', 'Recovered', 'hello again', $2)",
    )
    .bind(id)
    .bind(Utc::now() - Duration::hours(1))
    .execute(&app.db)
    .await
    .unwrap();

    // Two schedulers fire for the same slot: exactly one enqueues.
    let (a, b) = (scheduler(&app).await, scheduler(&app).await);
    let slot = Utc::now();
    assert!(a.fire(MaintenanceTask::RequeueEmails, slot).await.unwrap());
    assert!(!b.fire(MaintenanceTask::RequeueEmails, slot).await.unwrap());

    eventually("recovered e-mail sent", || async {
        let s: String = sqlx::query_scalar("SELECT status FROM outbound_emails WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .ok()?;
        (s == "sent").then_some(())
    })
    .await;
    let got = app.smtp.to("lost@example.com");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].subject(), "Recovered");
    assert!(got[0].text().contains("hello again"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn scheduled_purge_removes_dead_sessions_only() {
    let app = TestApp::spawn().await;
    let (live, user_id) = app.register("sessions@example.com").await;
    sqlx::query("INSERT INTO sessions (id, user_id, token_hash, expires_at) VALUES ($1, $2::uuid, $3, now() - interval '1 hour')")
        .bind(Uuid::now_v7())
        .bind(&user_id)
        .bind(vec![1u8; 32])
        .execute(&app.db)
        .await
        .unwrap();
    fire_now(&app, MaintenanceTask::PurgeSessions).await;
    eventually("expired session purged", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
            .fetch_one(&app.db)
            .await
            .ok()?;
        (n == 1).then_some(())
    })
    .await;
    assert_eq!(
        app.get("/api/v1/me", Some(&live)).await.0,
        reqwest::StatusCode::OK
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn retention_drops_old_raw_scan_partitions_and_keeps_the_rollups() {
    let app = TestApp::spawn().await;
    let ch = app.clickhouse();
    let old = Utc::now() - Duration::days(800); // ~26 months: past the 25-month default
    let recent = Utc::now() - Duration::days(40);
    let rows: Vec<qrsaas::analytics::ingest::ScanRow> = [old, old, recent]
        .iter()
        .map(|at| {
            let e = qrsaas_jobs::ScanEvent {
                event_id: Uuid::now_v7(),
                qr_id: Uuid::now_v7(),
                owner_id: Uuid::now_v7(),
                project_id: None,
                short_code: "x".into(),
                at: *at,
                ip: "198.51.100.1".parse().ok(),
                user_agent: "Mozilla/5.0 (iPhone)".into(),
                referer: String::new(),
                country: None,
                city: None,
                keep_ip: false,
                variant: 0,
            };
            qrsaas::analytics::ingest::enrich(&e, "s", None)
        })
        .collect();
    let mut insert = ch
        .insert::<qrsaas::analytics::ingest::ScanRow>("scan_events")
        .await
        .unwrap();
    for r in &rows {
        insert.write(r).await.unwrap();
    }
    insert.end().await.unwrap();
    // The old day is rolled up first: its aggregates must survive the raw data.
    let queues = app.queues().await;
    queues
        .enqueue(qrsaas_jobs::RollupDay {
            date: old.date_naive(),
            slot: Utc::now(),
        })
        .await
        .unwrap();
    let aggregated = || async {
        ch.query("SELECT toUInt64(sum(scans)) FROM daily_aggregates WHERE date = toDate(?) AND dimension = 'total'")
            .bind(old.date_naive().to_string())
            .fetch_one::<u64>()
            .await
            .unwrap()
    };
    eventually("the old day rolled up", || async {
        (aggregated().await == 2).then_some(())
    })
    .await;

    fire_now(&app, MaintenanceTask::Retention).await;
    let raw = || async {
        ch.query("SELECT count() FROM scan_events")
            .fetch_one::<u64>()
            .await
            .unwrap()
    };
    eventually("old raw scans dropped", || async {
        (raw().await == 1).then_some(())
    })
    .await;
    assert_eq!(aggregated().await, 2, "rollups are kept");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_vacuum_deletes_finished_jobs_payloads_from_redis() {
    let app = TestApp::spawn_with(|s| s.queue_vacuum_after_secs = 0).await;
    // Registering sends the welcome e-mail through the `email` queue.
    app.register("vacuum@example.com").await;
    eventually("the welcome e-mail", || async {
        app.smtp.to("vacuum@example.com").into_iter().next()
    })
    .await;
    let redis = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!(
        "{}:data",
        qrsaas_jobs::queue_name::<qrsaas_jobs::SendEmail>(&app.settings.redis_namespace)
    );
    let stored = |mut redis: redis::aio::MultiplexedConnection| {
        let key = key.clone();
        async move {
            redis::cmd("HLEN")
                .arg(&key)
                .query_async::<i64>(&mut redis)
                .await
                .unwrap()
        }
    };
    // The job's result is recorded just after it runs: wait until it is marked done (the
    // vacuum leaves unfinished jobs alone), then vacuum.
    let meta = key.replace(":data", ":meta");
    eventually("the e-mail job recorded as done in Redis", || async {
        let mut r = redis.clone();
        let ids: Vec<String> = redis::cmd("HKEYS")
            .arg(&key)
            .query_async(&mut r)
            .await
            .ok()?;
        for id in &ids {
            let status: Option<String> = redis::cmd("HGET")
                .arg(format!("{meta}:{id}"))
                .arg("status")
                .query_async(&mut r)
                .await
                .ok()?;
            if status.as_deref() != Some("Done") {
                return None;
            }
        }
        (!ids.is_empty()).then_some(())
    })
    .await;
    fire_now(&app, MaintenanceTask::VacuumQueues).await;
    eventually("the payload vacuumed", || async {
        (stored(redis.clone()).await == 0).then_some(())
    })
    .await;
    app.stop().await.unwrap();
}
