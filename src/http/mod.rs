//! The HTTP edge: thin handlers per resource, each module with its own `configure`.

pub mod account;
mod admin;
mod analytics;
mod audit;
mod auth;
mod billing;
mod catalog;
mod codes;
pub mod docs;
mod domains;
pub mod edge;
pub mod extract;
mod health;
mod jobs;
pub mod json;
mod me;
mod notifications;
mod observe;
mod projects;
pub mod scopes;
mod settings;
mod templates;
mod uploads;
mod views;
mod webhooks;

use actix_cors::Cors;
use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::state::AppState;

/// Everything the server serves. Also used by tests, so it is exactly what production runs.
pub fn configure(cfg: &mut web::ServiceConfig, state: &AppState) {
    cfg.app_data(web::Data::new(state.clone()))
        // A path id that is not a UUID cannot name anything: same answer as an unknown id.
        .app_data(web::PathConfig::default().error_handler(|_, req| {
            // `/qr-codes/bulk` reached `/qr-codes/{id}` under a method only the other has: the
            // literal route is the one meant, so this is a wrong method, not an unknown id.
            match edge::literal_allowed(req.path()) {
                Some(allow) => ApiError::MethodNotAllowed { allow }.into(),
                None => ApiError::NotFound.into(),
            }
        }))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::field("query", e.to_string()).into()),
        )
        .service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(crate::redirect::routes())
        .service(
            // Most-requested first: the router tries resources in order.
            web::scope("/api/v1")
                .wrap(actix_web::middleware::from_fn(scopes::enforce))
                .configure(codes::configure)
                .configure(auth::configure)
                .configure(account::configure)
                .configure(me::configure)
                .configure(projects::configure)
                .configure(settings::configure)
                .configure(audit::configure)
                .configure(admin::configure)
                .configure(catalog::configure)
                .configure(jobs::configure)
                .configure(uploads::configure)
                .configure(templates::configure)
                .service(analytics::account)
                .service(analytics::account_csv)
                .configure(billing::configure)
                .configure(webhooks::configure)
                .configure(notifications::configure)
                .configure(domains::configure),
        )
        .service(domains::tls_allowed)
        .service(domains::token)
        .service(templates::page)
        .service(web::redirect("/docs", "/docs/"))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api/openapi.json", docs::ApiDoc::openapi()));
}

/// JSON 404 (for handlers that route by hand).
pub async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::NotFound)
}

pub use edge::unmatched;

pub fn cors(origins: &[String]) -> Cors {
    let cors = Cors::default()
        .allow_any_method()
        .allow_any_header()
        .expose_headers(["x-request-id", "retry-after", "etag"])
        .max_age(3600);
    origins.iter().fold(cors, |c, o| c.allowed_origin(o))
}

pub use observe::observe;
