//! What every request meets before routing, and what answers when routing finds nothing:
//! HEAD served as GET (the HTTP layer drops the body and keeps the length), URIs too long
//! for any route (414) and NUL characters in the query (400) refused in the error model, and
//! a path that exists under other methods answered 405 with `Allow` instead of 404.
//!
//! Link checkers and chat unfurlers send HEAD; a route that only knows GET would tell them a
//! live code is dead. Pages meant for people (`/r/…`, `/p/…`) answer HTML, everything else the
//! JSON error shape.

use std::sync::OnceLock;

use actix_web::dev::ServiceRequest;
use actix_web::http::{Method, Uri};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use utoipa::OpenApi;

use crate::domains::hosts::Site;
use crate::error::ApiError;
use crate::state::AppState;

/// Longer request targets are refused with 414: no route needs them, and every layer that
/// logs or forwards a URI would otherwise carry it. (Past ~64 KiB the HTTP parser refuses the
/// request itself with an empty 400, before any of this code runs.)
pub const MAX_URI: usize = 8 * 1024;

/// Whether `path` is a page for people (HTML errors) rather than the API (JSON errors).
pub fn is_page(path: &str) -> bool {
    path.starts_with("/r/") || path.starts_with("/p/")
}

/// Prepares `req` for routing, or says why it is refused (answer with `refuse`). The redirect layer (`/r/…`) handles
/// HEAD itself — it must know not to count a scan — and passes query strings through to
/// targets untouched, so only its URI length is checked here.
///
/// On a customer's domain (see `domains::hosts`) only codes are served: `/{code}…` is taken as
/// `/r/{code}…` (the token check's `/.well-known/qrsaas/` aside), and the request carries the
/// domain's [`Site`] so the redirect answers only the domain owner's codes.
pub fn admit(req: &mut ServiceRequest) -> Result<(), ApiError> {
    let uri_len = req.uri().path().len() + req.uri().query().map_or(0, |q| q.len() + 1);
    if uri_len > MAX_URI {
        return Err(ApiError::UriTooLong);
    }
    if let Some(state) = req.app_data::<web::Data<AppState>>()
        && let site @ Site::Custom(_) = state.hosts.site(req.request(), &state.db)
    {
        req.extensions_mut().insert(site);
        if !req.path().starts_with("/r/") && !req.path().starts_with("/.well-known/") {
            to_code_path(req)?;
        }
    }
    if req.path().starts_with("/r/") {
        return Ok(());
    }
    if req.query_string().contains("%00") {
        return Err(ApiError::BadRequest(
            "the query string contains a NUL character (%00)".into(),
        ));
    }
    if req.method() == Method::HEAD {
        // The response encoder decided "no body" when it parsed the HEAD; the GET route
        // answers with the same status and headers.
        req.head_mut().method = Method::GET;
    }
    Ok(())
}

/// `/{rest}` → `/r/{rest}`, query kept, before routing.
fn to_code_path(req: &mut ServiceRequest) -> Result<(), ApiError> {
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(
        format!("/r{pq}")
            .parse()
            .map_err(|_| ApiError::BadRequest("the request target is not valid".into()))?,
    );
    let uri = Uri::from_parts(parts)
        .map_err(|_| ApiError::BadRequest("the request target is not valid".into()))?;
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
    Ok(())
}

/// The error in the form the path's clients read: an HTML page or the JSON error shape.
pub fn refuse(path: &str, e: ApiError) -> HttpResponse {
    if is_page(path) {
        let mut res = crate::redirect::pages::error(e.status_code(), &e.to_string());
        if let ApiError::MethodNotAllowed { allow } = &e
            && let Ok(v) = allow.parse()
        {
            res.headers_mut().insert(actix_web::http::header::ALLOW, v);
        }
        res
    } else {
        e.error_response()
    }
}

/// The default service: 405 with `Allow` when the path is a route under other methods,
/// else 404.
pub async fn unmatched(req: HttpRequest) -> HttpResponse {
    let e = match allowed(req.path()) {
        Some(allow) => ApiError::MethodNotAllowed { allow },
        None => ApiError::NotFound,
    };
    refuse(req.path(), e)
}

/// One route of the OpenAPI document: its path split into segments (`None` = a parameter)
/// and its methods.
struct Route {
    segments: Vec<Option<String>>,
    methods: Vec<&'static str>,
}

/// The routes, from the OpenAPI document: the one list of what is served (the tests check
/// that every operation in it answers), so 405s cannot drift from the router.
fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let doc = super::docs::ApiDoc::openapi();
        let mut routes: Vec<Route> = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let ops = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                Route {
                    segments: segments(path),
                    methods: ops.iter().filter(|(_, on)| *on).map(|(m, _)| *m).collect(),
                }
            })
            .collect();
        // Served but not API operations.
        for path in ["/api/openapi.json", "/docs", "/docs/"] {
            routes.push(Route {
                segments: segments(path),
                methods: vec!["GET"],
            });
        }
        routes
    })
}

fn segments(template: &str) -> Vec<Option<String>> {
    template
        .split('/')
        .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
        .collect()
}

/// The `Allow` value for `path` (`GET, HEAD, POST` …), or `None` when no route has this path.
/// A route written out literally is the one a path names (`/qr-codes/bulk` is not an id of
/// `/qr-codes/{id}`), so its methods alone are allowed.
pub fn allowed(path: &str) -> Option<String> {
    literal_allowed(path).or_else(|| {
        methods_of(path, |segment, part| match segment {
            Some(literal) => literal == part,
            None => !part.is_empty(),
        })
    })
}

/// The `Allow` value of a route whose path is all literal and equal to `path`
/// (`/api/v1/qr-codes/bulk`), if there is one.
pub fn literal_allowed(path: &str) -> Option<String> {
    methods_of(path, |segment, part| segment == Some(part))
}

/// The `Allow` value of the routes whose every segment `fits` the path's.
fn methods_of(path: &str, fits: impl Fn(Option<&str>, &str) -> bool) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    let mut methods: Vec<&str> = routes()
        .iter()
        .filter(|r| {
            r.segments.len() == parts.len()
                && r.segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| fits(s.as_deref(), p))
        })
        .flat_map(|r| r.methods.iter().copied())
        .collect();
    if methods.is_empty() {
        return None;
    }
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    methods.sort_unstable();
    methods.dedup();
    Some(methods.join(", "))
}

#[cfg(test)]
mod tests {
    use super::{allowed, literal_allowed};

    #[test]
    fn a_literal_route_is_told_from_a_parameter() {
        assert_eq!(
            literal_allowed("/api/v1/qr-codes/bulk").as_deref(),
            Some("POST")
        );
        assert_eq!(allowed("/api/v1/qr-codes/bulk").as_deref(), Some("POST"));
        assert_eq!(
            literal_allowed("/api/v1/qr-codes/0191f3c4-0000-7000-8000-000000000000"),
            None
        );
    }

    #[test]
    fn allow_lists_the_methods_of_the_path() {
        assert_eq!(allowed("/healthz").as_deref(), Some("GET, HEAD"));
        assert_eq!(
            allowed("/api/v1/qr-codes/0191f3c4-0000-7000-8000-000000000000").as_deref(),
            Some("DELETE, GET, HEAD, PATCH")
        );
        assert_eq!(
            allowed("/api/v1/qr-codes").as_deref(),
            Some("GET, HEAD, POST")
        );
        assert_eq!(allowed("/api/v1/nothing-here"), None);
        assert_eq!(allowed("/api/v1/qr-codes/"), None);
    }
}
