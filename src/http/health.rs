//! Liveness, readiness and metrics.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;
use crate::{analytics, db, telemetry};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 whenever the process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "The process is up")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    status: &'static str,
    postgres: &'static str,
    redis: &'static str,
    clickhouse: &'static str,
}

fn up<E>(r: Result<Result<(), E>, tokio::time::error::Elapsed>) -> &'static str {
    match r {
        Ok(Ok(())) => "up",
        _ => "down",
    }
}

/// 200 only when Postgres, Redis and ClickHouse all answer; otherwise 503 naming what is down.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut redis = state.redis.clone();
    let (pg, rd, ch) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, db::ping(&state.db)),
        tokio::time::timeout(PROBE_TIMEOUT, async {
            redis::cmd("PING")
                .query_async::<String>(&mut redis)
                .await
                .map(|_| ())
        }),
        tokio::time::timeout(PROBE_TIMEOUT, analytics::ping(&state.clickhouse)),
    );
    let body = Readiness {
        status: "ok",
        postgres: up(pg),
        redis: up(rd),
        clickhouse: up(ch),
    };
    if [body.postgres, body.redis, body.clickhouse].contains(&"down") {
        HttpResponse::ServiceUnavailable().json(Readiness {
            status: "degraded",
            ..body
        })
    } else {
        HttpResponse::Ok().json(body)
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain", body = String)))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // Memory budgets, as they stand at the scrape.
    ::metrics::gauge!("image_cache_bytes").set(state.images.weighted_size() as f64);
    ::metrics::gauge!("image_cache_budget_bytes")
        .set(state.settings.image_cache_mb as f64 * 1048576.0);
    let (used, total) = state.decode_budget.usage();
    ::metrics::gauge!("upload_decode_bytes").set(used as f64);
    ::metrics::gauge!("upload_decode_budget_bytes").set(total as f64);
    ::metrics::gauge!("custom_domains_served").set(state.hosts.count() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(telemetry::render_metrics())
}
