//! `/api/v1/auth/*`: register, login, logout, Google sign-in.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::Caller;
use super::json::Json;
use super::views::AuthResponse;
use crate::accounts::google::STATE_COOKIE;
use crate::accounts::{self, Origin, Registration};
use crate::domain::{Email, Password, PersonName};
use crate::error::{ApiError, ApiResult};
use crate::parse_fields;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    email: String,
    password: String,
    name: String,
}

/// Create an account and a first session; a welcome e-mail follows.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = RegisterBody, responses(
    (status = 201, body = AuthResponse), (status = 409, description = "E-mail taken"),
    (status = 422, description = "Invalid fields"), (status = 429, description = "Too many registrations")))]
#[post("/auth/register")]
pub async fn register(
    state: web::Data<AppState>,
    origin: Origin,
    body: Json<RegisterBody>,
) -> ApiResult<HttpResponse> {
    let b = body.0;
    parse_fields!(
        email: "email" => Email::parse(&b.email),
        password: "password" => Password::parse(&b.password),
        name: "name" => PersonName::parse(&b.name),
    );
    let (user, token) = accounts::register(
        &state,
        &origin,
        Registration {
            email,
            password,
            name,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(AuthResponse {
        user: user.into(),
        token,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    email: String,
    password: String,
    /// The authenticator app's current code, when two-factor sign-in is on.
    totp_code: Option<String>,
    /// Or one of the recovery codes (each works once).
    recovery_code: Option<String>,
}

/// Exchange e-mail and password for a session token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginBody, responses(
    (status = 200, body = AuthResponse), (status = 401, description = "Wrong e-mail or password"),
    (status = 403, description = "Suspended"), (status = 429, description = "Too many failures; see Retry-After")))]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    origin: Origin,
    body: Json<LoginBody>,
) -> ApiResult<HttpResponse> {
    let b = body.0;
    let second = accounts::SecondFactor {
        code: b.totp_code.as_deref(),
        recovery: b.recovery_code.as_deref(),
    };
    let (user, token) = accounts::login(&state, &origin, &b.email, b.password, second).await?;
    Ok(HttpResponse::Ok().json(AuthResponse {
        user: user.into(),
        token,
    }))
}

/// Revoke the session token presented with this request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])), responses(
    (status = 204, description = "Session revoked"), (status = 401, description = "Not signed in")))]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    accounts::logout(&state, &caller.origin, &caller.principal).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn google(state: &AppState) -> ApiResult<&accounts::google::GoogleSignIn> {
    state.google.as_deref().ok_or(ApiError::NotFound)
}

/// Start Google sign-in: redirects to the provider (404 when Google sign-in is not configured).
#[utoipa::path(get, path = "/api/v1/auth/google/start", tag = "accounts", responses(
    (status = 302, description = "Redirect to the provider"), (status = 404, description = "Not configured")))]
#[get("/auth/google/start")]
pub async fn google_start(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let g = google(&state)?;
    let mut redis = state.redis.clone();
    let (url, csrf) = g.start(&mut redis).await?;
    let secure = state.settings.public_base_url.starts_with("https://");
    let cookie = Cookie::build(STATE_COOKIE, csrf)
        .path("/api/v1/auth/google")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::minutes(10))
        .finish();
    Ok(HttpResponse::Found()
        .insert_header(("Location", url))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(cookie)
        .finish())
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The provider redirects here; answers a session like login.
#[utoipa::path(get, path = "/api/v1/auth/google/callback", tag = "accounts", params(CallbackQuery), responses(
    (status = 200, body = AuthResponse), (status = 400, description = "Bad or replayed state"),
    (status = 401, description = "The provider refused"), (status = 403, description = "Unverified e-mail or suspended"),
    (status = 404, description = "Google sign-in is not configured on this server")))]
#[get("/auth/google/callback")]
pub async fn google_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    origin: Origin,
    q: web::Query<CallbackQuery>,
) -> ApiResult<HttpResponse> {
    let g = google(&state)?;
    if let Some(err) = &q.error {
        return Err(ApiError::BadRequest(format!(
            "sign-in was not completed: {err}"
        )));
    }
    let (Some(code), Some(st)) = (&q.code, &q.state) else {
        return Err(ApiError::BadRequest("code and state are required".into()));
    };
    let cookie = req.cookie(STATE_COOKIE);
    let mut redis = state.redis.clone();
    let identity = g
        .finish(&mut redis, code, st, cookie.as_ref().map(|c| c.value()))
        .await?;
    let (user, token) = accounts::sign_in_with_google(&state, &origin, identity).await?;
    let mut gone = Cookie::build(STATE_COOKIE, "")
        .path("/api/v1/auth/google")
        .finish();
    gone.make_removal();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .cookie(gone)
        .json(AuthResponse {
            user: user.into(),
            token,
        }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(register)
        .service(login)
        .service(logout)
        .service(google_start)
        .service(google_callback);
}
