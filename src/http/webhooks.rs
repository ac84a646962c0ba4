//! `/api/v1/webhooks`: endpoints, secrets, test pings, the delivery log and replays.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Caller, ListResponse, PageQuery};
use super::json::Json;
use crate::db::webhooks::{AttemptRow, DeliveryRow, EndpointRow};
use crate::error::ApiResult;
use crate::notify::webhooks::{self, EndpointInput};
use crate::state::AppState;

/// A webhook endpoint (its secret is shown only when created or rotated).
#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    id: Uuid,
    url: String,
    /// Event types it receives (see the `*Data` schemas for each payload).
    events: Vec<String>,
    description: Option<String>,
    enabled: bool,
    /// Why we turned it off: `gone` (it answered 410) or `failing` (days of failures).
    disabled_reason: Option<String>,
    /// Since when every attempt has failed.
    failing_since: Option<DateTime<Utc>>,
    /// The previous secret still signs beside the new one until then.
    previous_secret_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EndpointRow> for EndpointView {
    fn from(e: EndpointRow) -> Self {
        EndpointView {
            id: e.id,
            url: e.url,
            events: e.events,
            description: e.description,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            previous_secret_until: e.previous_until.filter(|t| *t > Utc::now()),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    endpoint: EndpointView,
    /// `whsec_…`: verify deliveries with any Standard Webhooks library.
    secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointBody {
    /// http(s), public (private addresses are refused unless the operator allows them).
    url: Option<String>,
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::domain::strict::double_option")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    enabled: Option<bool>,
}

impl From<EndpointBody> for EndpointInput {
    fn from(b: EndpointBody) -> Self {
        EndpointInput {
            url: b.url,
            events: b.events,
            description: b.description,
            enabled: b.enabled,
        }
    }
}

/// Add an endpoint; the answer carries its secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = EndpointBody,
    responses((status = 201, body = EndpointWithSecret), (status = 402, description = "Plan limit on endpoints"),
        (status = 422, description = "Bad URL (not public, not http(s)) or events")))]
#[post("/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<EndpointBody>,
) -> ApiResult<HttpResponse> {
    let (row, secret) =
        webhooks::create(&state, &caller.origin, &caller.principal, body.0.into()).await?;
    Ok(HttpResponse::Created().json(EndpointWithSecret {
        endpoint: row.into(),
        secret,
    }))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListResponse<EndpointView>)))]
#[get("/webhooks")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<EndpointView>>> {
    let w = q.window()?;
    let paged = webhooks::list(&state, &caller.principal, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, EndpointView::from)))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = EndpointView), (status = 404, description = "Not found")))]
#[get("/webhooks/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<EndpointView>> {
    Ok(web::Json(
        webhooks::get(&state, &caller.principal, *id).await?.into(),
    ))
}

/// Change an endpoint; `{"enabled": true}` turns one we disabled back on.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), request_body = EndpointBody,
    responses((status = 200, body = EndpointView), (status = 404, description = "Not found"), (status = 422, description = "Invalid fields")))]
#[patch("/webhooks/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<EndpointBody>,
) -> ApiResult<web::Json<EndpointView>> {
    let row = webhooks::update(
        &state,
        &caller.origin,
        &caller.principal,
        *id,
        body.0.into(),
    )
    .await?;
    Ok(web::Json(row.into()))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    responses((status = 204, description = "Deleted with its deliveries"), (status = 404, description = "Not found")))]
#[delete("/webhooks/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    webhooks::delete(&state, &caller.origin, &caller.principal, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new secret (shown this once); the old one keeps signing beside it for 24 hours.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = EndpointWithSecret), (status = 404, description = "Not found")))]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<EndpointWithSecret>> {
    let (row, secret) = webhooks::rotate(&state, &caller.origin, &caller.principal, *id).await?;
    Ok(web::Json(EndpointWithSecret {
        endpoint: row.into(),
        secret,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TestSent {
    /// Follow it in the delivery log.
    delivery_id: Uuid,
}

/// Send a `ping` to the endpoint.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", security(("bearer" = [])),
    responses((status = 202, body = TestSent), (status = 404, description = "Not found")))]
#[post("/webhooks/{id}/test")]
pub async fn test(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let delivery_id = webhooks::test(&state, &caller.origin, &caller.principal, *id).await?;
    Ok(HttpResponse::Accepted().json(TestSent { delivery_id }))
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    id: Uuid,
    /// The `webhook-id` receivers saw (`msg_` + this, without dashes).
    event_id: Uuid,
    event: String,
    /// `pending`, `succeeded`, `failed` (no attempts left) or `cancelled`.
    status: String,
    attempts: i32,
    /// Of the last attempt: HTTP status (none when no answer came), latency, the start of the
    /// answer's body (1 KB), or why it failed.
    last_status: Option<i32>,
    last_latency_ms: Option<i32>,
    last_response: Option<String>,
    last_error: Option<String>,
    last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due, while pending.
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(d: DeliveryRow) -> Self {
        DeliveryView {
            id: d.id,
            event_id: d.event_id,
            event: d.event_type,
            status: d.status,
            attempts: d.attempts,
            last_status: d.last_status,
            last_latency_ms: d.last_latency_ms,
            last_response: d.last_response,
            last_error: d.last_error,
            last_attempt_at: d.last_attempt_at,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    attempt: i32,
    at: DateTime<Utc>,
    status: Option<i32>,
    latency_ms: i32,
    response: Option<String>,
    error: Option<String>,
}

impl From<AttemptRow> for AttemptView {
    fn from(a: AttemptRow) -> Self {
        AttemptView {
            attempt: a.attempt,
            at: a.at,
            status: a.status,
            latency_ms: a.latency_ms,
            response: a.response,
            error: a.error,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    delivery: DeliveryView,
    attempts_log: Vec<AttemptView>,
}

/// The endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListResponse<DeliveryView>), (status = 404, description = "Not found")))]
#[get("/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<DeliveryView>>> {
    let w = q.window()?;
    let paged = webhooks::deliveries(&state, &caller.principal, *id, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, DeliveryView::from)))
}

/// One delivery with every attempt.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = DeliveryDetail), (status = 404, description = "Not found")))]
#[get("/webhooks/{id}/deliveries/{delivery_id}")]
pub async fn delivery(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<web::Json<DeliveryDetail>> {
    let (endpoint, id) = path.into_inner();
    let (d, attempts) = webhooks::delivery(&state, &caller.principal, id).await?;
    if d.endpoint_id != endpoint {
        return Err(crate::error::ApiError::NotFound);
    }
    Ok(web::Json(DeliveryDetail {
        delivery: d.into(),
        attempts_log: attempts.into_iter().map(AttemptView::from).collect(),
    }))
}

/// Send a delivery again: same `webhook-id`, the retry schedule from the start.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "webhooks", security(("bearer" = [])),
    responses((status = 202, body = DeliveryView), (status = 404, description = "Not found"), (status = 409, description = "Being attempted right now")))]
#[post("/webhooks/{id}/deliveries/{delivery_id}/replay")]
pub async fn replay(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (endpoint, id) = path.into_inner();
    let d = webhooks::replay(&state, &caller.origin, &caller.principal, endpoint, id).await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(d)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(update)
        .service(remove)
        .service(rotate)
        .service(test)
        .service(deliveries)
        .service(delivery)
        .service(replay);
}
