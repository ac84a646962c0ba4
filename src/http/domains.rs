//! `/api/v1/domains` and the reverse proxy's `GET /internal/tls-allowed`.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{Caller, ListResponse, PageQuery};
use super::json::Json;
use crate::db::domains::DomainRow;
use crate::domains;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How to prove control of the domain: either is enough.
#[derive(Serialize, ToSchema)]
pub struct Verification {
    /// A TXT record of this name …
    txt_name: String,
    /// … holding this value.
    txt_value: String,
    /// Or this path on the domain (http), answering `http_token`.
    http_path: String,
    http_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct DomainView {
    id: Uuid,
    domain: String,
    /// `pending` (not verified yet), `verified`, or `failing` (verified once, not any more).
    status: String,
    default: bool,
    verification: Verification,
    /// Why the last check failed.
    error: Option<String>,
    verified_at: Option<DateTime<Utc>>,
    checked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// Where the domain's root redirects; null: the 404 page.
    root_url: Option<String>,
    /// Where unknown codes on the domain redirect; null: the 404 page.
    not_found_url: Option<String>,
}

fn view(d: DomainRow) -> DomainView {
    DomainView {
        verification: Verification {
            txt_name: domains::txt_name(&d.domain),
            txt_value: domains::txt_value(&d.token),
            http_path: domains::http_path(&d.token),
            http_token: d.token,
        },
        id: d.id,
        domain: d.domain,
        status: d.status,
        default: d.is_default,
        error: d.error,
        verified_at: d.verified_at,
        checked_at: d.checked_at,
        created_at: d.created_at,
        root_url: d.root_url,
        not_found_url: d.not_found_url,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainBody {
    /// e.g. `go.example.com`
    domain: String,
}

/// Add a custom short domain; verify it with the record or token in `verification`.
#[utoipa::path(post, path = "/api/v1/domains", tag = "domains", security(("bearer" = [])), request_body = DomainBody,
    responses((status = 201, body = DomainView), (status = 402, description = "Over the plan's domains"),
        (status = 409, description = "Already added"), (status = 422, description = "Not a domain name")))]
#[post("")]
pub async fn add(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<DomainBody>,
) -> ApiResult<HttpResponse> {
    let d = domains::add(&state, &caller.origin, &caller.principal, &body.0.domain).await?;
    Ok(HttpResponse::Created().json(view(d)))
}

/// The account's domains.
#[utoipa::path(get, path = "/api/v1/domains", tag = "domains", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListResponse<DomainView>)))]
#[get("")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<DomainView>>> {
    let w = page.window()?;
    let all: Vec<DomainView> = domains::list(&state, &caller.principal)
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(web::Json(ListResponse::slice(all, w)))
}

/// One domain.
#[utoipa::path(get, path = "/api/v1/domains/{id}", tag = "domains", security(("bearer" = [])),
    responses((status = 200, body = DomainView), (status = 404, description = "Not found")))]
#[get("/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<DomainView>> {
    Ok(web::Json(view(
        domains::get(&state, &caller.principal, *id).await?,
    )))
}

/// Remove a domain.
#[utoipa::path(delete, path = "/api/v1/domains/{id}", tag = "domains", security(("bearer" = [])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not found"),
        (status = 409, description = "Codes use it (`domain_in_use`): move them first")))]
#[delete("/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    domains::remove(&state, &caller.origin, &caller.principal, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Check the domain now: the TXT record, else the HTTP token.
#[utoipa::path(post, path = "/api/v1/domains/{id}/verify", tag = "domains", security(("bearer" = [])),
    responses((status = 200, body = DomainView, description = "The outcome: `status` and `error`"),
        (status = 404, description = "Not found"), (status = 409, description = "Another account verified it")))]
#[post("/{id}/verify")]
pub async fn verify(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<DomainView>> {
    Ok(web::Json(view(
        domains::verify(&state, &caller.principal, *id).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainPatch {
    /// `true`: the account's default domain (new dynamic codes use it).
    default: Option<bool>,
    /// Where the domain's root (`https://<domain>/`) redirects; null: the 404 page.
    #[serde(default, deserialize_with = "crate::domain::strict::double_option")]
    #[schema(value_type = Option<String>)]
    root_url: Option<Option<String>>,
    /// Where unknown codes on the domain redirect; null: the 404 page.
    #[serde(default, deserialize_with = "crate::domain::strict::double_option")]
    #[schema(value_type = Option<String>)]
    not_found_url: Option<Option<String>>,
}

/// Make a verified domain the account's default, and/or set where its root and unknown codes
/// send visitors.
#[utoipa::path(patch, path = "/api/v1/domains/{id}", tag = "domains", security(("bearer" = [])), request_body = DomainPatch,
    responses((status = 200, body = DomainView), (status = 404, description = "Not found"),
        (status = 409, description = "Not verified (to be the default)"),
        (status = 422, description = "`default: false`, nothing to change, or a URL that is not an allowed redirect target")))]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<DomainPatch>,
) -> ApiResult<web::Json<DomainView>> {
    let b = body.0;
    if b.default == Some(false) {
        return Err(ApiError::field(
            "default",
            "only true: make another domain the default instead",
        ));
    }
    if b.default.is_none() && b.root_url.is_none() && b.not_found_url.is_none() {
        return Err(ApiError::field(
            "default",
            "nothing to change: give default, root_url or not_found_url",
        ));
    }
    let change = domains::DomainChange {
        default: b.default == Some(true),
        root_url: b.root_url,
        not_found_url: b.not_found_url,
    };
    Ok(web::Json(view(
        domains::update(&state, &caller.origin, &caller.principal, *id, change).await?,
    )))
}

#[derive(Deserialize, IntoParams)]
pub struct TlsQuery {
    /// The domain the proxy is asked a certificate for.
    domain: String,
}

/// For the reverse proxy's on-demand TLS (Caddy's `ask`): 200 only for verified domains.
#[utoipa::path(get, path = "/internal/tls-allowed", tag = "ops", params(TlsQuery),
    responses((status = 200, description = "A verified domain"), (status = 404, description = "Not one")))]
#[get("/internal/tls-allowed")]
pub async fn tls_allowed(
    state: web::Data<AppState>,
    q: web::Query<TlsQuery>,
) -> ApiResult<HttpResponse> {
    if domains::tls_allowed(&state, &q.domain).await? {
        Ok(HttpResponse::Ok().finish())
    } else {
        Err(ApiError::NotFound)
    }
}

/// The HTTP check's token, answered on the domain's own host: a domain pointed at this service
/// proves it by the token the check asks for (pending domains included: that is how they verify).
#[utoipa::path(get, path = "/.well-known/qrsaas/{token}", tag = "public",
    params(("token" = String, Path, description = "The domain's `http_token`")),
    responses((status = 200, content_type = "text/plain", description = "The token, when the request's host was given it"),
        (status = 404, description = "Not this host's token")))]
#[get("/.well-known/qrsaas/{token}")]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let Some(host) = crate::domains::hosts::request_host(&req) else {
        return Err(ApiError::NotFound);
    };
    if domains::answers_token(&state, &host, &token).await? {
        Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(token.into_inner()))
    } else {
        Err(ApiError::NotFound)
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/domains")
            .service(add)
            .service(list)
            .service(get_one)
            .service(remove)
            .service(verify)
            .service(update),
    );
}
