//! The one error type at the HTTP edge.
//!
//! Every failure a client can see becomes `{"error":{"code","message","fields"}}` with a stable
//! snake_case code and the status API.md fixes. Internal errors are logged with their cause and
//! answered with a generic message, so nothing about our internals leaks to clients.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use crate::domain::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    /// 401 `totp_required`: the password was right; the account also needs a code.
    #[error("two-factor sign-in is on: send totp_code (or a recovery_code) with the password")]
    TotpRequired,
    #[error("{0}")]
    Forbidden(&'static str),
    /// 403 `email_unverified`: the operator requires a verified address for this.
    #[error("verify your e-mail address first (see the link we sent, or resend it)")]
    EmailUnverified,
    /// 403 `insufficient_scope`: the API key lacks the scope the route needs.
    #[error("this API key lacks the scope {0}")]
    InsufficientScope(&'static str),
    #[error("not found")]
    NotFound,
    /// 405: the path exists, under the methods `allow` lists.
    #[error("method not allowed here; allowed: {allow}")]
    MethodNotAllowed { allow: String },
    #[error("request URI too long")]
    UriTooLong,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Existed, but no longer (an expired export file).
    #[error("{0}")]
    Gone(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported media type; send {0}")]
    UnsupportedMediaType(&'static str),
    #[error("some fields are invalid")]
    Validation(FieldErrors),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// 402 `plan_limit_reached`; `fields` name the limit, its value, the usage and the plan.
    #[error("{message}")]
    PlanLimit {
        message: String,
        fields: FieldErrors,
    },
    /// 402 `plan_feature_missing`; `fields` name the feature and the plan.
    #[error("{message}")]
    PlanFeature {
        message: String,
        fields: FieldErrors,
    },
    /// 503 `billing_disabled`: no Stripe key is configured.
    #[error("billing through Stripe is not configured on this server")]
    BillingDisabled,
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// Whether the same request may succeed later (a dependency was down or busy), as opposed
    /// to a refusal that will stand.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::Unavailable(_) | ApiError::Internal(_) | ApiError::RateLimited { .. }
        )
    }
}

impl ApiError {
    pub fn field(name: &str, why: impl Into<String>) -> ApiError {
        ApiError::Validation(FieldErrors::from([(name.to_owned(), why.into())]))
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> ApiError {
        ApiError::Internal(e.into())
    }

    /// A 402's fields with its code and message added under `error` (how a bulk-create row
    /// reports it); any other error is given back.
    pub fn plan_refusal(self) -> Result<FieldErrors, ApiError> {
        let (code, message) = (self.code(), self.to_string());
        match self {
            ApiError::PlanLimit { mut fields, .. } | ApiError::PlanFeature { mut fields, .. } => {
                fields.insert("error".to_owned(), format!("{code}: {message}"));
                Ok(fields)
            }
            other => Err(other),
        }
    }

    /// The stable snake_case code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::TotpRequired => "totp_required",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::InsufficientScope(_) => "insufficient_scope",
            ApiError::EmailUnverified => "email_unverified",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::UriTooLong => "uri_too_long",
            ApiError::Conflict { code, .. } => code,
            ApiError::Gone(_) => "gone",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Validation(_) => "validation_failed",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::PlanLimit { .. } => "plan_limit_reached",
            ApiError::PlanFeature { .. } => "plan_feature_missing",
            ApiError::BillingDisabled => "billing_disabled",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => ApiError::Unavailable("database"),
            e => ApiError::Internal(e.into()),
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        tracing::warn!(error = %e, "redis call failed");
        ApiError::Unavailable("cache")
    }
}

/// The error body every failure answers with.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: clients branch on this.
    code: String,
    /// Human text; may change.
    message: String,
    /// Field name → why it was refused (422); what limit or feature is missing (402).
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<FieldErrors>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::InvalidCredentials | ApiError::TotpRequired => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden(_) | ApiError::InsufficientScope(_) | ApiError::EmailUnverified => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UriTooLong => StatusCode::URI_TOO_LONG,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PlanLimit { .. } | ApiError::PlanFeature { .. } => {
                StatusCode::PAYMENT_REQUIRED
            }
            ApiError::BillingDisabled => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(e) = self {
            tracing::error!(error = ?e, "internal error");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                fields: match self {
                    ApiError::Validation(f)
                    | ApiError::PlanLimit { fields: f, .. }
                    | ApiError::PlanFeature { fields: f, .. } => Some(f.clone()),
                    ApiError::InsufficientScope(scope) => Some(FieldErrors::from([(
                        "scope".to_owned(),
                        (*scope).to_owned(),
                    )])),
                    _ => None,
                },
            },
        };
        let mut res = HttpResponse::build(self.status_code()).json(body);
        match self {
            ApiError::RateLimited { retry_after_secs } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::Unauthorized => {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    res.headers_mut().insert(header::ALLOW, v);
                }
            }
            _ => {}
        }
        res
    }
}

/// Parses several fields at once and answers one 422 naming every invalid field:
/// `parse_fields!(email: "email" => Email::parse(&b.email), …);` binds `email` on success.
#[macro_export]
macro_rules! parse_fields {
    ($($name:ident : $field:literal => $parse:expr),+ $(,)?) => {
        let mut errors = $crate::error::FieldErrors::new();
        $(
            let $name = match $parse {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.insert($field.to_owned(), e.to_string());
                    None
                }
            };
        )+
        $(
            let Some($name) = $name else {
                return Err($crate::error::ApiError::Validation(errors));
            };
        )+
    };
}
