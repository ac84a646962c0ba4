//! Export benchmark: 10,000 URL codes as 512 px PNG into one ZIP, end to end through the export
//! job (code rows → payloads → render pool → ZIP streamed to the store), against the baseline
//! of the same run: 10,000 × one plain render, divided over the cores. Peak memory (VmHWM, reset
//! before each export) is compared with a 1,000-code export. Needs the stores of
//! `scripts/services`; run with `scripts/bench export` (release build).

// A test or bench fails by panicking; the workspace lints deny it in the service only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use qrsaas::accounts::{Origin, Principal};
use qrsaas::config::Settings;
use qrsaas::domain::Design;
use qrsaas::render::{Format, Spec, render};
use qrsaas::startup;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const CODES: usize = 10_000;

/// Peak resident memory since the last reset, in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn reset_peak() {
    // Linux: writing 5 to clear_refs resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let id = Uuid::new_v4().simple().to_string()[..10].to_owned();
    let db_name = format!("qrsaas_bench_export_{id}");
    let admin = PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{db_name}\""
    )))
    .execute(&admin)
    .await?;
    let uploads = std::env::temp_dir().join(&db_name);
    let settings = Settings {
        database_url: format!("postgres://postgres@127.0.0.1:5432/{db_name}").into(),
        clickhouse_database: db_name.clone(),
        redis_namespace: format!("bench_{id}"),
        uploads_dir: uploads.clone(),
        ..Settings::default()
    };
    startup::migrate(&settings).await?;
    let (state, _) = startup::build_state(Arc::new(settings)).await?;
    state.renderer.start();
    let origin = Origin {
        ip: "127.0.0.1".into(),
        request_id: "bench".into(),
        user_agent: None,
    };
    let (user, _) = qrsaas::accounts::register(
        &state,
        &origin,
        qrsaas::accounts::Registration {
            email: qrsaas::domain::Email::parse("bench@example.com").map_err(anyhow::Error::msg)?,
            password: qrsaas::domain::Password::parse("correct horse battery")
                .map_err(anyhow::Error::msg)?,
            name: qrsaas::domain::PersonName::parse("Bench").map_err(anyhow::Error::msg)?,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let p = Principal {
        user,
        session_id: None,
        api_key_id: None,
        scopes: None,
        expires_at: None,
    };
    // 10,000 dynamic URL codes, made by the bulk-create job (run here, in process).
    let rows: Vec<_> = (0..CODES)
        .map(|i| json!({"name": format!("Table {i}"), "qr_type": "url", "dynamic": true, "target_url": format!("https://example.com/t/{i}")}))
        .collect();
    let t0 = Instant::now();
    let job = qrsaas::batch::bulk::create(&state, &origin, &p, rows)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    qrsaas::batch::bulk::run(&state, job.id).await?;
    println!(
        "export benchmark — {CODES} URL codes (created in {:.1} s by bulk create), PNG 512 px, release build, {} cores",
        t0.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Baseline: one plain 512 px render of such a code's payload, on this thread.
    let spec = Spec {
        payload: "http://127.0.0.1:8080/r/Ab3dE9x".into(),
        design: Design::default(),
        caption: None,
        caption_on_top: false,
        logo: None,
        format: Format::Png,
        size: 512,
    };
    let n = 300;
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(render(&spec)?);
    }
    let one = t0.elapsed().as_secs_f64() / n as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let baseline = CODES as f64 * one / cores;
    println!(
        "single render {:.0} µs → baseline {CODES} × render / {cores} cores = {baseline:.2} s",
        one * 1e6
    );

    let ids: Vec<Uuid> =
        qrsaas::db::qr_codes::for_export(&state.db, p.user.id, None, None, CODES as i64)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
    let mut peaks = Vec::new();
    for count in [1_000usize, CODES] {
        let params = qrsaas::batch::exports::ExportParams {
            qr_ids: Some(ids[..count].to_vec()),
            project_id: None,
            format: Format::Png,
            size: 512,
        };
        let job = qrsaas::batch::exports::create(&state, &origin, &p, params)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        reset_peak();
        let t0 = Instant::now();
        qrsaas::batch::exports::run(&state, job.id).await?;
        let took = t0.elapsed().as_secs_f64();
        let peak = peak_mib();
        peaks.push(peak);
        let row = qrsaas::db::jobs::get(&state.db, None, job.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("job gone"))?;
        anyhow::ensure!(
            row.status == "succeeded",
            "export {}: {:?}",
            row.status,
            row.error
        );
        let bytes = row
            .result
            .map(|r| r["bytes"].as_u64().unwrap_or(0))
            .unwrap_or(0);
        println!(
            "export of {count:>6} codes: {took:6.2} s ({:.0} codes/s), ZIP {:.1} MiB, peak RSS {peak:.0} MiB",
            count as f64 / took,
            bytes as f64 / 1048576.0
        );
        if count == CODES {
            println!(
                "10,000-code export / baseline: {:.2}x (goal ≤ 1.5x); {} the 4 s goal",
                took / baseline,
                if took <= 4.0 { "meets" } else { "misses" }
            );
        }
    }
    println!(
        "peak RSS 10,000 / 1,000 codes: {:.2}x (goal ≤ 1.5x); 10,000-code peak {:.0} MiB (goal ≤ 150 MiB)",
        peaks[1] / peaks[0],
        peaks[1]
    );
    let _ = std::fs::remove_dir_all(&uploads);
    let _ = state
        .clickhouse
        .query(&format!("DROP DATABASE IF EXISTS {db_name}"))
        .execute()
        .await;
    state.db.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    Ok(())
}
