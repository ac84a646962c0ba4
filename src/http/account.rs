//! Account lifecycle routes: password change and reset, e-mail verification and change, and
//! the caller's sessions.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Caller, ListResponse, PageQuery};
use super::json::Json;
use super::views::UserView;
use crate::accounts::{Origin, lifecycle};
use crate::db::sessions::SessionRow;
use crate::domain::{Email, Password};
use crate::error::ApiResult;
use crate::parse_fields;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

/// Change the caller's password; every other session ends.
#[utoipa::path(post, path = "/api/v1/auth/password/change", tag = "accounts", security(("bearer" = [])),
    request_body = ChangePasswordBody, responses((status = 204, description = "Changed"),
    (status = 422, description = "Wrong current password or a weak new one"), (status = 429, description = "Too many wrong passwords")))]
#[post("/auth/password/change")]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ChangePasswordBody>,
) -> ApiResult<HttpResponse> {
    let b = body.0;
    parse_fields!(new: "new_password" => Password::parse(&b.new_password));
    lifecycle::change_password(
        &state,
        &caller.origin,
        &caller.principal,
        b.current_password,
        new,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct ForgotBody {
    email: String,
}

/// A request taken; what happens next. (Named apart from the jobs' `Accepted`: OpenAPI
/// components share one namespace.)
#[derive(Serialize, ToSchema)]
pub struct Notice {
    message: &'static str,
}

/// Ask for a password-reset link. The answer is the same whether or not the address has an
/// account; the link works once, for an hour.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "accounts", request_body = ForgotBody,
    responses((status = 202, body = Notice), (status = 429, description = "Too many requests from this address")))]
#[post("/auth/password/forgot")]
pub async fn forgot_password(
    state: web::Data<AppState>,
    origin: Origin,
    body: Json<ForgotBody>,
) -> ApiResult<HttpResponse> {
    lifecycle::forgot_password(&state, &origin, &body.0.email).await?;
    Ok(HttpResponse::Accepted().json(Notice {
        message: "if an account has this address, a reset link is on its way",
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ResetBody {
    token: String,
    password: String,
}

/// Set a new password with the token from a reset link; every session ends.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "accounts", request_body = ResetBody,
    responses((status = 204, description = "Password set"), (status = 422, description = "Invalid, used or expired token, or a weak password")))]
#[post("/auth/password/reset")]
pub async fn reset_password(
    state: web::Data<AppState>,
    origin: Origin,
    body: Json<ResetBody>,
) -> ApiResult<HttpResponse> {
    let b = body.0;
    parse_fields!(password: "password" => Password::parse(&b.password));
    lifecycle::reset_password(&state, &origin, &b.token, password).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct TokenBody {
    token: String,
}

/// Confirm an address with the token from a verification link (sign-up, or a change of
/// address, which takes effect now).
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "accounts", request_body = TokenBody,
    responses((status = 200, body = UserView), (status = 409, description = "The new address was taken meanwhile"),
    (status = 422, description = "Invalid, used or expired token")))]
#[post("/auth/verify-email")]
pub async fn verify_email(
    state: web::Data<AppState>,
    origin: Origin,
    body: Json<TokenBody>,
) -> ApiResult<web::Json<UserView>> {
    let user = lifecycle::verify_email(&state, &origin, &body.0.token).await?;
    Ok(web::Json(user.into()))
}

/// Send the caller a new verification link.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "accounts", security(("bearer" = [])),
    responses((status = 202, body = Notice), (status = 409, description = "Already verified"),
    (status = 429, description = "Too many links asked for")))]
#[post("/auth/verify-email/resend")]
pub async fn resend_verification(
    state: web::Data<AppState>,
    caller: Caller,
) -> ApiResult<HttpResponse> {
    lifecycle::resend_verification(&state, &caller.principal).await?;
    Ok(HttpResponse::Accepted().json(Notice {
        message: "a new link is on its way",
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangeEmailBody {
    new_email: String,
    password: String,
}

/// Move the account to another address: a link goes to the new address, and the change takes
/// effect when it is followed.
#[utoipa::path(post, path = "/api/v1/auth/email/change", tag = "accounts", security(("bearer" = [])),
    request_body = ChangeEmailBody, responses((status = 202, body = Notice), (status = 422, description = "Wrong password or invalid address")))]
#[post("/auth/email/change")]
pub async fn change_email(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ChangeEmailBody>,
) -> ApiResult<HttpResponse> {
    let b = body.0;
    parse_fields!(email: "new_email" => Email::parse(&b.new_email));
    lifecycle::change_email(&state, &caller.origin, &caller.principal, b.password, email).await?;
    Ok(HttpResponse::Accepted().json(Notice {
        message: "a confirmation link is on its way to the new address",
    }))
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    id: Uuid,
    /// "Safari on iOS", from the user agent that signed in.
    device: String,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: DateTime<Utc>,
    /// The session this request is made with.
    current: bool,
}

fn device(ua: Option<&str>) -> String {
    match ua.and_then(|ua| woothee::parser::Parser::new().parse(ua)) {
        Some(r) if r.name != "UNKNOWN" && r.os != "UNKNOWN" => {
            let (os, _) = crate::analytics::ingest::os_family(r.os, "");
            format!("{} on {os}", r.name)
        }
        Some(r) if r.name != "UNKNOWN" => r.name.to_owned(),
        _ => "unknown device".to_owned(),
    }
}

/// The caller's live sessions, most recently used first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "accounts", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListResponse<SessionView>)))]
#[get("/auth/sessions")]
pub async fn sessions(
    state: web::Data<AppState>,
    caller: Caller,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<SessionView>>> {
    let window = page.window()?;
    let current = caller.principal.session_id;
    let items = lifecycle::sessions(&state, &caller.principal)
        .await?
        .into_iter()
        .map(|s: SessionRow| SessionView {
            device: device(s.user_agent.as_deref()),
            current: Some(s.id) == current,
            id: s.id,
            ip: s.ip,
            user_agent: s.user_agent,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
        })
        .collect();
    Ok(web::Json(ListResponse::slice(items, window)))
}

/// End one of the caller's sessions (signs that device out).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "Revoked"), (status = 404, description = "Not yours or not live")))]
#[delete("/auth/sessions/{id}")]
pub async fn revoke_session(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    lifecycle::revoke_session(&state, &caller.origin, &caller.principal, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct TotpSetup {
    /// Base32, for typing into an authenticator app.
    secret: String,
    /// `otpauth://totp/…`, for showing as a QR code.
    otpauth_url: String,
}

/// Start two-factor set-up: a secret for the authenticator app, pending until confirmed.
#[utoipa::path(post, path = "/api/v1/auth/totp/setup", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = TotpSetup), (status = 409, description = "Already on")))]
#[post("/auth/totp/setup")]
pub async fn totp_setup(
    state: web::Data<AppState>,
    caller: Caller,
) -> ApiResult<web::Json<TotpSetup>> {
    let (secret, otpauth_url) = crate::accounts::totp::setup(&state, &caller.principal).await?;
    Ok(web::Json(TotpSetup {
        secret,
        otpauth_url,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct TotpCode {
    code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Each signs in once instead of a code; shown only now.
    recovery_codes: Vec<String>,
}

/// Turn two-factor sign-in on with the app's current code; answers the recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/totp/enable", tag = "accounts", security(("bearer" = [])),
    request_body = TotpCode, responses((status = 200, body = RecoveryCodes),
    (status = 409, description = "Already on"), (status = 422, description = "Wrong code or no set-up")))]
#[post("/auth/totp/enable")]
pub async fn totp_enable(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<TotpCode>,
) -> ApiResult<web::Json<RecoveryCodes>> {
    let recovery_codes =
        crate::accounts::totp::enable(&state, &caller.origin, &caller.principal, &body.0.code)
            .await?;
    Ok(web::Json(RecoveryCodes { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordBody {
    password: String,
}

/// Turn two-factor sign-in off (the password required).
#[utoipa::path(post, path = "/api/v1/auth/totp/disable", tag = "accounts", security(("bearer" = [])),
    request_body = PasswordBody, responses((status = 204, description = "Off"), (status = 422, description = "Wrong password")))]
#[post("/auth/totp/disable")]
pub async fn totp_disable(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<PasswordBody>,
) -> ApiResult<HttpResponse> {
    crate::accounts::totp::disable(&state, &caller.origin, &caller.principal, body.0.password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct DeleteAccountBody {
    /// Required when the account has a password.
    password: Option<String>,
}

/// Delete the caller's account: personal data erased, codes answer 404, scans anonymised.
#[utoipa::path(delete, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    request_body = DeleteAccountBody, responses((status = 204, description = "Deleted"),
    (status = 422, description = "Wrong password")))]
#[delete("/me")]
pub async fn delete_account(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<DeleteAccountBody>,
) -> ApiResult<HttpResponse> {
    lifecycle::delete_account(&state, &caller.origin, &caller.principal, body.0.password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Download all one's data: queues a ZIP of the account's records (JSON and CSV), its uploads
/// and its scans; an e-mail says when it is ready. Asked again while one is under way, it
/// answers that job.
#[utoipa::path(post, path = "/api/v1/me/export", tag = "accounts", security(("bearer" = [])),
    responses((status = 202, body = super::jobs::Accepted, description = "Queued; follow it at /api/v1/jobs/{job_id}, download from its result_url"),
    (status = 503, description = "The job queue is unavailable")))]
#[post("/me/export")]
pub async fn export_account(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let job = crate::accounts::export::request(&state, &caller.origin, &caller.principal).await?;
    Ok(HttpResponse::Accepted().json(super::jobs::Accepted { job_id: job.id }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(change_password)
        .service(forgot_password)
        .service(reset_password)
        .service(verify_email)
        .service(resend_verification)
        .service(change_email)
        .service(sessions)
        .service(revoke_session)
        .service(delete_account)
        .service(export_account)
        .service(totp_setup)
        .service(totp_enable)
        .service(totp_disable);
}
