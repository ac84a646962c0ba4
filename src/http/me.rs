//! `/api/v1/me` and `/api/v1/api-keys`.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Caller, ListResponse, PageQuery};
use super::json::Json;
use super::views::UserView;
use crate::accounts;
use crate::db::api_keys::ApiKeyRow;
use crate::domain::{ApiKeyName, PersonName};
use crate::error::ApiResult;
use crate::parse_fields;
use crate::state::AppState;

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])), responses((status = 200, body = UserView)))]
#[get("/me")]
pub async fn get_me(caller: Caller) -> web::Json<UserView> {
    web::Json(caller.principal.user.clone().into())
}

#[derive(Deserialize, ToSchema)]
pub struct MePatch {
    name: Option<String>,
}

/// Update the caller's profile.
#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])), request_body = MePatch,
    responses((status = 200, body = UserView), (status = 422, description = "Invalid fields")))]
#[patch("/me")]
pub async fn patch_me(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<MePatch>,
) -> ApiResult<web::Json<UserView>> {
    let Some(name) = body.0.name else {
        return Ok(web::Json(caller.principal.user.clone().into()));
    };
    parse_fields!(name: "name" => PersonName::parse(&name));
    let user = accounts::update_profile(&state, &caller.origin, &caller.principal, name).await?;
    Ok(web::Json(user.into()))
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    id: Uuid,
    name: String,
    /// The visible start of the key, to recognise it.
    prefix: String,
    created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    last_used_at: Option<DateTime<Utc>>,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKeyView {
    fn from(k: ApiKeyRow) -> Self {
        ApiKeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            scopes: k.scopes,
            expires_at: k.expires_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    id: Uuid,
    name: String,
    prefix: String,
    /// The key itself: shown only in this response.
    key: String,
    created_at: DateTime<Utc>,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, ToSchema)]
pub struct NewApiKeyBody {
    name: String,
    /// What the key may do (`codes:read`, `codes:write`, `analytics:read`, `exports:read`,
    /// `exports:write`, `webhooks:read`, `webhooks:write`, `billing:read`, `billing:write`,
    /// `account:read`, `account:admin`); a `…:write` includes its `…:read`. Omitted: every
    /// scope the caller has. A key can grant only scopes it holds itself.
    scopes: Option<Vec<String>>,
    /// When the key stops working; omitted: never.
    expires_at: Option<DateTime<Utc>>,
}

/// Create an API key; the key is shown once.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "accounts", security(("bearer" = [])), request_body = NewApiKeyBody,
    responses((status = 201, body = CreatedApiKey), (status = 422, description = "Invalid fields: an unknown scope, a scope the caller does not hold, an expiry in the past")))]
#[post("/api-keys")]
pub async fn create_key(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<NewApiKeyBody>,
) -> ApiResult<HttpResponse> {
    let NewApiKeyBody {
        name,
        scopes,
        expires_at,
    } = body.0;
    parse_fields!(name: "name" => ApiKeyName::parse(&name));
    let grant = accounts::KeyGrant { scopes, expires_at };
    let (row, key) =
        accounts::create_api_key(&state, &caller.origin, &caller.principal, name, grant).await?;
    Ok(HttpResponse::Created().json(CreatedApiKey {
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        key,
        created_at: row.created_at,
        scopes: row.scopes,
        expires_at: row.expires_at,
    }))
}

/// The caller's live API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "accounts", security(("bearer" = [])), params(PageQuery), responses((status = 200, body = ListResponse<ApiKeyView>)))]
#[get("/api-keys")]
pub async fn list_keys(
    state: web::Data<AppState>,
    caller: Caller,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<ApiKeyView>>> {
    let window = page.window()?;
    let items: Vec<ApiKeyView> = accounts::list_api_keys(&state, &caller.principal)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(web::Json(ListResponse::slice(items, window)))
}

/// One of the caller's API keys.
#[utoipa::path(get, path = "/api/v1/api-keys/{id}", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = ApiKeyView), (status = 404, description = "Not yours or revoked")))]
#[get("/api-keys/{id}")]
pub async fn get_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ApiKeyView>> {
    Ok(web::Json(
        accounts::get_api_key(&state, &caller.principal, *id)
            .await?
            .into(),
    ))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "Revoked"), (status = 404, description = "Not yours or already revoked")))]
#[delete("/api-keys/{id}")]
pub async fn revoke_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    accounts::revoke_api_key(&state, &caller.origin, &caller.principal, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_me)
        .service(patch_me)
        .service(create_key)
        .service(list_keys)
        .service(get_key)
        .service(revoke_key);
}
