//! Request extractors: who is calling (`Caller`, `AdminCaller`), from where (`Origin`), which page.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{AUTHORIZATION, USER_AGENT};
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::{self, Origin, Principal};
use crate::client::client_ip;
use crate::db::{Paged, Window};
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// The request id assigned by the `observe` middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing")))
}

pub fn origin(req: &HttpRequest, trusted: &[IpNet]) -> Origin {
    Origin {
        ip: client_ip(req, trusted).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map_or_else(String::new, |r| r.0.clone()),
        user_agent: req
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    }
}

impl FromRequest for Origin {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(state(req).map(|s| origin(req, &s.settings.trusted_proxies)))
    }
}

/// An authenticated request: the principal and where the request came from.
pub struct Caller {
    pub principal: std::sync::Arc<Principal>,
    pub origin: Origin,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let bearer = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 256)
                .ok_or(ApiError::Unauthorized)?;
            // Already authenticated (and its scope checked) by `scopes::enforce` for API keys.
            let known = req.extensions().get::<std::sync::Arc<Principal>>().cloned();
            let principal = match known {
                Some(p) => p,
                None => accounts::authenticate(&state, bearer).await?,
            };
            let origin = origin(&req, &state.settings.trusted_proxies);
            Ok(Caller { principal, origin })
        })
    }
}

/// A caller with role `admin`; anyone else gets 403.
pub struct AdminCaller(pub Caller);

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let caller = caller.await?;
            if !caller.principal.is_admin() {
                return Err(ApiError::Forbidden("this route is for administrators"));
            }
            Ok(AdminCaller(caller))
        })
    }
}

/// `page` (from 1) and `per_page` (1–100, default 20).
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
}

impl PageQuery {
    pub fn window(&self) -> Result<Window, ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(20);
        let mut errors = FieldErrors::new();
        if !(1..=1_000_000).contains(&page) {
            errors.insert("page".into(), "must be 1 or more".into());
        }
        if !(1..=100).contains(&per_page) {
            errors.insert("per_page".into(), "must be between 1 and 100".into());
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(Window {
            limit: per_page,
            offset: (page - 1) * per_page,
        })
    }
}

/// The list envelope of API.md.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl<T> ListResponse<T> {
    /// One page of a short list held whole in memory (an account's keys, the template
    /// library): paged and validated like every other list.
    pub fn slice(items: Vec<T>, w: Window) -> Self {
        let total = items.len() as i64;
        ListResponse {
            items: items
                .into_iter()
                .skip(usize::try_from(w.offset).unwrap_or(usize::MAX))
                .take(usize::try_from(w.limit).unwrap_or(0))
                .collect(),
            total,
            page: w.offset / w.limit + 1,
            per_page: w.limit,
        }
    }

    pub fn new<R>(paged: Paged<R>, w: Window, f: impl FnMut(R) -> T) -> Self {
        ListResponse {
            items: paged.items.into_iter().map(f).collect(),
            total: paged.total,
            page: w.offset / w.limit + 1,
            per_page: w.limit,
        }
    }
}
