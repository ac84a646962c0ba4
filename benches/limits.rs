//! What the plan-limit check costs a create: `POST /api/v1/qr-codes` latency for an account on a
//! plan with limits (the check locks the account and counts its codes) against an account on
//! the unlimited default (no check), both with 10,000 codes already made this month — the
//! counted rows a busy account has. Interleaved rounds, so the machine's drift hits both alike.
//! Needs the stores of `scripts/services`; run with `scripts/bench limits` (release build).

// A test or bench fails by panicking; the workspace lints deny it in the service only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

mod common;

use common::BenchApp;
use qrsaas::startup::Parts;
use serde_json::{Value, json};
use uuid::Uuid;

const PREFILL: i64 = 10_000;
const ROUNDS: usize = 5;
const PER_ROUND: usize = 200;

async fn register(
    http: &reqwest::Client,
    base: &str,
    email: &str,
) -> anyhow::Result<(String, Uuid)> {
    let b: Value = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": email, "password": "correct horse battery", "name": "Bench"}))
        .send()
        .await?
        .json()
        .await?;
    let token = b["token"].as_str().unwrap_or_default().to_owned();
    let id = b["user"]["id"].as_str().unwrap_or_default().parse()?;
    Ok((token, id))
}

async fn create(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let res = http
        .post(format!("{base}/api/v1/qr-codes"))
        .bearer_auth(token)
        .json(&json!({"name": "bench", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/x"}))
        .send()
        .await?;
    anyhow::ensure!(res.status() == 201, "create answered {}", res.status());
    Ok(t0.elapsed())
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = BenchApp::start("limits", Parts::ALL, |s| {
        s.http_addr = "127.0.0.1:0".parse().expect("address");
        s.http_workers = 1;
        s.auth_limits.registrations_per_ip = 100;
    })
    .await?;
    let addr = app.addr.ok_or_else(|| anyhow::anyhow!("no HTTP address"))?;
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let db = app.db().await?;

    // `open`: the unlimited default. `limited`: the shipped business plan (limits, so checked).
    let (open, open_id) = register(&http, &base, "open@example.com").await?;
    let (limited, limited_id) = register(&http, &base, "limited@example.com").await?;
    sqlx::query("INSERT INTO billing_accounts (user_id, plan_id) VALUES ($1, 'business')")
        .bind(limited_id)
        .execute(&db)
        .await?;
    for user in [open_id, limited_id] {
        // 3,000 dynamic (the business plan allows 5,000 active) and the rest static: both
        // counts the check makes have thousands of rows to count.
        sqlx::query(
            "INSERT INTO qr_codes (id, user_id, name, qr_type, short_code, target_url, dynamic) \
             SELECT gen_random_uuid(), $1, 'prefill', 'url', 'p' || md5($1::text || g::text), \
                    'https://example.com', g <= 3000 FROM generate_series(1, $2) g",
        )
        .bind(user)
        .bind(PREFILL)
        .execute(&db)
        .await?;
    }
    sqlx::query("ANALYZE qr_codes").execute(&db).await?;
    println!(
        "limit check benchmark — POST /api/v1/qr-codes, {ROUNDS} interleaved rounds of {PER_ROUND} \
         per account, {PREFILL} codes each already this month, release build"
    );
    for _ in 0..50 {
        create(&http, &base, &open).await?;
        create(&http, &base, &limited).await?;
    }
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for _ in 0..PER_ROUND {
            without.push(create(&http, &base, &open).await?);
        }
        for _ in 0..PER_ROUND {
            with.push(create(&http, &base, &limited).await?);
        }
    }
    let (p50a, p99a) = (pct(&mut without, 0.50), pct(&mut without, 0.99));
    let (p50b, p99b) = (pct(&mut with, 0.50), pct(&mut with, 0.99));
    println!(
        "{:<40} p50 {p50a:6.2} ms  p99 {p99a:6.2} ms",
        "unlimited plan (no check)"
    );
    println!(
        "{:<40} p50 {p50b:6.2} ms  p99 {p99b:6.2} ms",
        "business plan (lock + counts)"
    );
    println!(
        "limit check adds p50 {:+.2} ms, p99 {:+.2} ms (goal: ≤ 1 ms at p99); ratio p50 {:.2}x",
        p50b - p50a,
        p99b - p99a,
        p50b / p50a
    );
    db.close().await;
    app.stop().await?;
    Ok(())
}
