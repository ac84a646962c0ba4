//! Per-request observability: a request id (kept from `X-Request-Id` when sane, else a new
//! UUIDv7) echoed in the response, a tracing span, an access log line, and Prometheus metrics
//! labelled by route *pattern* — never by raw path, so short codes do not explode cardinality.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

use super::extract::RequestId;
use crate::telemetry::RouteLabel;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn observe(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let span = tracing::info_span!("http", request_id = %id, %method, path = %req.path());
    let started = Instant::now();

    // The edge's checks run here rather than in a middleware of their own: one layer less on
    // every redirect.
    let res = match super::edge::admit(&mut req) {
        Ok(()) => next
            .call(req)
            .instrument(span.clone())
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(e) => {
            let refusal = super::edge::refuse(req.path(), e);
            Ok(req.into_response(refusal).map_into_right_body())
        }
    };
    let elapsed = started.elapsed();
    // The route pattern is known only once routing has happened, i.e. on the response.
    let (status, route) = match &res {
        Ok(r) => (r.status().as_u16(), route_label(r.request())),
        Err(e) => (
            e.as_response_error().status_code().as_u16(),
            "unmatched".to_owned(),
        ),
    };
    let labels = [
        ("method", method),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    span.in_scope(
        || tracing::info!(status, %route, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request"),
    );

    let mut res = res?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    Ok(res)
}

/// The route pattern of a routed request, for metric labels. With path parameters it is rebuilt
/// from the matched values (`/api/v1/qr-codes/{id}/image`) — `match_pattern()` would walk the
/// resource map's regexes a second time, which profiling showed to cost a quarter of a cached
/// image request. Without parameters the path is static, so `match_pattern()` is exact and
/// unmatched paths (scanners) collapse into one label.
fn route_label(req: &actix_web::HttpRequest) -> String {
    if let Some(RouteLabel(label)) = req.extensions().get::<RouteLabel>() {
        return (*label).to_owned();
    }
    let info = req.match_info();
    if info.iter().next().is_none() {
        return req
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
    }
    // One pass, one allocation: each value is replaced by its `{name}`, in path order.
    let mut rest = req.path();
    let mut label = String::with_capacity(rest.len() + 16);
    for (name, value) in info.iter() {
        if let Some(at) = rest.find(value).filter(|_| !value.is_empty()) {
            label.push_str(&rest[..at]);
            label.push('{');
            label.push_str(name);
            label.push('}');
            rest = &rest[at + value.len()..];
        }
    }
    label.push_str(rest);
    label
}
