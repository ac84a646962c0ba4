//! The live scan stream (`/api/v1/scans/stream`), the SMS phone number (`/api/v1/me/phone`) and
//! one-click unsubscribe (`/api/v1/unsubscribe`).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::Caller;
use super::json::Json;
use crate::error::{ApiError, ApiResult};
use crate::notify::emails::Pref;
use crate::notify::{live, sms};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
pub struct StreamQuery {
    /// Only this code's scans.
    qr_id: Option<Uuid>,
    /// Only this project's.
    project_id: Option<Uuid>,
}

/// Server-Sent Events: one `scan` event (`data:` the scan as JSON, enriched) per scan of the
/// caller's codes, within seconds of its ingestion; `id:` lets a reconnect resume with
/// `Last-Event-ID` (scans are kept a minute); a comment every 15 s keeps the line open.
#[utoipa::path(get, path = "/api/v1/scans/stream", tag = "analytics", security(("bearer" = [])), params(StreamQuery),
    responses((status = 200, content_type = "text/event-stream", description = "The stream"), (status = 404, description = "Not your code or project")))]
#[get("/scans/stream")]
pub async fn stream(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    q: web::Query<StreamQuery>,
) -> ApiResult<HttpResponse> {
    let owner = caller.principal.user.id;
    if let Some(id) = q.qr_id {
        crate::codes::get(&state, &caller.principal, id).await?;
    }
    if let Some(pid) = q.project_id
        && crate::db::projects::get(&state.db, owner, pid)
            .await?
            .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let last = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = live::stream(
        state.redis.clone(),
        &state.settings.redis_namespace,
        &state.live,
        owner,
        live::Filter {
            qr_id: q.qr_id,
            project_id: q.project_id,
        },
        last,
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        // Proxies (nginx) must pass events through as they come.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

#[derive(Serialize, ToSchema)]
pub struct PhoneView {
    phone: String,
    verified: bool,
    verified_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneBody {
    /// E.164, e.g. `+919876543210`.
    phone: String,
}

/// Set the number SMS alerts go to; a 6-digit code is texted to it (verify it next).
#[utoipa::path(put, path = "/api/v1/me/phone", tag = "accounts", security(("bearer" = [])), request_body = PhoneBody,
    responses((status = 202, description = "Code sent"), (status = 422, description = "Not an E.164 number"),
        (status = 429, description = "Too many codes"), (status = 503, description = "SMS not configured")))]
#[put("/me/phone")]
pub async fn set_phone(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<PhoneBody>,
) -> ApiResult<HttpResponse> {
    sms::start(&state, &caller.origin, &caller.principal, &body.0.phone).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    code: String,
}

/// Confirm the number with the texted code.
#[utoipa::path(post, path = "/api/v1/me/phone/verify", tag = "accounts", security(("bearer" = [])), request_body = CodeBody,
    responses((status = 200, body = PhoneView), (status = 422, description = "Wrong or expired code")))]
#[post("/me/phone/verify")]
pub async fn verify_phone(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CodeBody>,
) -> ApiResult<web::Json<PhoneView>> {
    sms::verify(&state, &caller.origin, &caller.principal, &body.0.code).await?;
    phone_view(&state, &caller).await
}

async fn phone_view(state: &AppState, caller: &Caller) -> ApiResult<web::Json<PhoneView>> {
    let p = sms::get(state, &caller.principal).await?;
    Ok(web::Json(PhoneView {
        phone: p.phone,
        verified: p.verified_at.is_some(),
        verified_at: p.verified_at,
    }))
}

#[utoipa::path(get, path = "/api/v1/me/phone", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = PhoneView), (status = 404, description = "No number set")))]
#[get("/me/phone")]
pub async fn get_phone(
    state: web::Data<AppState>,
    caller: Caller,
) -> ApiResult<web::Json<PhoneView>> {
    phone_view(&state, &caller).await
}

#[utoipa::path(delete, path = "/api/v1/me/phone", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "Removed"), (status = 404, description = "No number set")))]
#[delete("/me/phone")]
pub async fn delete_phone(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    sms::remove(&state, &caller.origin, &caller.principal).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
pub struct UnsubscribeQuery {
    /// The account.
    u: Uuid,
    /// The preference: `scan_alerts`, `weekly_summary`, `monthly_statement`, `job_failures`,
    /// `usage_alerts`.
    p: String,
    /// The link's signature.
    t: String,
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
             content=\"width=device-width\"><title>{title}</title></head><body style=\"font-family:\
             system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem\"><h1>{title}</h1>{body}\
             </body></html>"
        ))
}

fn checked(state: &AppState, q: &UnsubscribeQuery) -> ApiResult<Pref> {
    let pref = Pref::parse(&q.p).ok_or(ApiError::NotFound)?;
    if !state.mail.verify_unsubscribe(q.u, pref, &q.t) {
        return Err(ApiError::NotFound);
    }
    Ok(pref)
}

/// The unsubscribe link's page: a button (mail scanners follow links; only the POST acts).
#[utoipa::path(get, path = "/api/v1/unsubscribe", tag = "accounts", params(UnsubscribeQuery),
    responses((status = 200, content_type = "text/html", description = "Confirmation page"), (status = 404, description = "Bad link")))]
#[get("/unsubscribe")]
pub async fn unsubscribe_page(
    state: web::Data<AppState>,
    q: web::Query<UnsubscribeQuery>,
) -> ApiResult<HttpResponse> {
    let pref = checked(&state, &q)?;
    let what = pref.as_str().replace('_', " ");
    let action = format!("?u={}&p={}&t={}", q.u, pref.as_str(), q.t);
    Ok(page(
        "Unsubscribe",
        &format!(
            "<p>Stop the <b>{what}</b> e-mails?</p><form method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Unsubscribe</button></form>"
        ),
    ))
}

/// One-click unsubscribe (RFC 8058: mail clients POST `List-Unsubscribe=One-Click` here).
#[utoipa::path(post, path = "/api/v1/unsubscribe", tag = "accounts", params(UnsubscribeQuery),
    responses((status = 200, content_type = "text/html", description = "Done"), (status = 404, description = "Bad link")))]
#[post("/unsubscribe")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    q: web::Query<UnsubscribeQuery>,
) -> ApiResult<HttpResponse> {
    let pref = checked(&state, &q)?;
    crate::accounts::preferences::unsubscribe(&state, q.u, pref).await?;
    let what = pref.as_str().replace('_', " ");
    Ok(page(
        "Unsubscribed",
        &format!(
            "<p>You will not get <b>{what}</b> e-mails any more. Turn them back on in your settings.</p>"
        ),
    ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(stream)
        .service(set_phone)
        .service(verify_phone)
        .service(get_phone)
        .service(delete_phone)
        .service(unsubscribe_page)
        .service(unsubscribe);
}
