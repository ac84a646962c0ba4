//! Scope enforcement for API keys, before any extractor or handler runs (so a key without the
//! scope learns nothing from the body's validation either). The table is
//! `accounts::scopes::required`; the OpenAPI document shows the same table per operation.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};

use crate::accounts::{self, Principal, scopes};
use crate::error::ApiError;
use crate::state::AppState;

/// The bearer credential of a request, if it is an API key.
fn api_key(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?
        .trim();
    (t.starts_with(accounts::secrets::API_KEY_PREFIX) && t.len() <= 256).then(|| t.to_owned())
}

pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let (Some(key), Some(state)) = (
        api_key(&req),
        req.app_data::<web::Data<AppState>>().cloned(),
    ) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    // A key that does not authenticate is answered by the extractor as usual (401/403).
    if let Ok(principal) = accounts::authenticate(&state, &key).await {
        let route = req.match_pattern().unwrap_or_else(|| req.path().to_owned());
        let need = scopes::required(req.method().as_str(), &route);
        if !principal.allows(need) {
            let res = ApiError::InsufficientScope(need).error_response();
            return Ok(req.into_response(res).map_into_right_body());
        }
        req.extensions_mut().insert::<Arc<Principal>>(principal);
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
