//! Ingestion benchmark: scan events from enqueue to queryable in ClickHouse, through the real
//! `scans` queue (Redis), the apalis worker and the ingestion actor (enrichment, ClickHouse
//! insert, usage records), and the usage meter folding them into the account's daily counters,
//! in blocks of 10,000 (one ClickHouse insert each).
//! Baseline in the same run: the same number of already-enriched rows inserted straight into
//! ClickHouse in 10,000-row inserts — the floor any pipeline pays. Needs the stores of
//! `scripts/services`; run with `scripts/bench ingest` (release build).

// A test or bench fails by panicking; the workspace lints deny it in the service only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use chrono::Utc;
use qrsaas::analytics::ingest::{ScanRow, enrich};
mod common;

use common::BenchApp;
use qrsaas::startup::Parts;
use qrsaas_jobs::{IngestScans, ScanEvent};
use sqlx::PgPool;
use uuid::Uuid;

const EVENTS: usize = 300_000;
const BLOCK: usize = 10_000;
const UAS: &[&str] = &[
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "WhatsApp/2.23.20.0 A",
];

fn events(owner: Uuid, codes: &[Uuid]) -> Vec<ScanEvent> {
    let now = Utc::now();
    (0..EVENTS)
        .map(|i| ScanEvent {
            event_id: Uuid::now_v7(),
            qr_id: codes[i % codes.len()],
            owner_id: owner,
            project_id: None,
            short_code: format!("c{}", i % codes.len()),
            at: now - chrono::Duration::milliseconds(i as i64),
            ip: Some([198, 51, (i % 200) as u8, (i % 250) as u8].into()),
            user_agent: UAS[i % UAS.len()].to_owned(),
            referer: if i % 3 == 0 {
                "https://t.co/x".into()
            } else {
                String::new()
            },
            country: None,
            city: None,
            keep_ip: false,
            variant: 0,
        })
        .collect()
}

fn process_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based) of /proc/self/stat, 11 and 12 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

async fn count(ch: &clickhouse::Client) -> u64 {
    ch.query("SELECT count() FROM scan_events")
        .fetch_one::<u64>()
        .await
        .unwrap_or(0)
}

/// Scans the usage meter has folded into the owner's daily counters.
async fn metered(db: &PgPool, owner: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(scans_used), 0)::bigint FROM billing_usage WHERE user_id = $1",
    )
    .bind(owner)
    .fetch_one(db)
    .await
    .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let parts = Parts {
        http: false,
        workers: true,
        scheduler: false,
        migrate: true,
    };
    let app = BenchApp::start("ingest", parts, |_| {}).await?;
    let settings = app.settings.clone();
    let ch = qrsaas::analytics::client(&settings);
    // A real account on a plan with a scan quota, so the usage meter does its whole work
    // (daily counters, over-quota scans, alerts) for every batch.
    let owner = Uuid::now_v7();
    let db = app.db().await?;
    sqlx::query("INSERT INTO users (id, email, name) VALUES ($1, 'bench@example.com', 'Bench')")
        .bind(owner)
        .execute(&db)
        .await?;
    sqlx::query("INSERT INTO billing_accounts (user_id, plan_id) VALUES ($1, 'free')")
        .bind(owner)
        .execute(&db)
        .await?;
    let codes: Vec<Uuid> = (0..1000).map(|_| Uuid::now_v7()).collect();
    println!(
        "ingestion benchmark — {EVENTS} events over 1,000 codes, blocks of {BLOCK}, release build"
    );

    // Baseline: enriched rows straight into ClickHouse.
    let rows: Vec<ScanRow> = events(owner, &codes)
        .iter()
        .map(|e| enrich(e, "bench", None))
        .collect();
    let (t0, c0) = (Instant::now(), process_cpu_secs());
    for block in rows.chunks(BLOCK) {
        let mut insert = ch.insert::<ScanRow>("scan_events").await?;
        for r in block {
            insert.write(r).await?;
        }
        insert.end().await?;
    }
    let base = t0.elapsed().as_secs_f64();
    let base_cpu = process_cpu_secs() - c0;
    let base_rate = EVENTS as f64 / base;
    println!(
        "{:<46} {:>10.0} events/s  {:>6.2} µs CPU/event",
        "direct ClickHouse insert (baseline)",
        base_rate,
        base_cpu * 1e6 / EVENTS as f64
    );

    // The pipeline: enqueue → worker → ingestion actor → ClickHouse (+ Postgres counts).
    let redis = redis::Client::open(secrecy::ExposeSecret::expose_secret(&settings.redis_url))?
        .get_connection_manager()
        .await?;
    let queues = qrsaas::queue::Queues::new(redis, &settings.redis_namespace);
    let events = events(owner, &codes);
    let (t0, c0) = (Instant::now(), process_cpu_secs());
    for block in events.chunks(BLOCK) {
        queues
            .enqueue(IngestScans {
                batch_id: Uuid::now_v7(),
                events: block.to_vec(),
            })
            .await?;
    }
    let target = 2 * EVENTS as u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while (count(&ch).await < target || metered(&db, owner).await < EVENTS as i64)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t0.elapsed().as_secs_f64();
    let cpu = process_cpu_secs() - c0;
    let stored = count(&ch).await - EVENTS as u64;
    let rate = EVENTS as f64 / took;
    println!(
        "{:<46} {:>10.0} events/s  {:>6.2} µs CPU/event",
        "enqueue → queryable and metered",
        rate,
        cpu * 1e6 / EVENTS as f64
    );
    println!(
        "pipeline / direct insert: {:.2}x; events stored {stored} of {EVENTS} (lost {}, doubled {})",
        rate / base_rate,
        EVENTS as u64 - stored.min(EVENTS as u64),
        stored.saturating_sub(EVENTS as u64)
    );
    let over: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(scans_over_quota), 0)::bigint FROM billing_usage WHERE user_id = $1",
    )
    .bind(owner)
    .fetch_one(&db)
    .await?;
    println!(
        "metered {} scans, {over} over the free plan's quota",
        metered(&db, owner).await
    );
    db.close().await;
    app.stop().await?;
    anyhow::ensure!(stored == EVENTS as u64, "events lost or doubled");
    Ok(())
}
