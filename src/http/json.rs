//! A JSON body extractor that answers in the error model: wrong content type 415, too large 413,
//! not JSON 400, JSON of the wrong shape 422 with the offending field named.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(256 * 1024, |s| s.settings.json_body_limit);
        let is_json = {
            let m = media_type(req);
            m == "application/json" || m.ends_with("+json")
        };
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType("application/json"));
            }
            if declared.is_some_and(|n| n > limit) {
                return Err(ApiError::PayloadTooLarge);
            }
            let body = read_limited(&mut payload, limit).await?;
            parse(&body).map(Json)
        })
    }
}

/// The request's media type, lower-cased and without parameters ("" when absent).
pub fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The whole body, refused with 413 as soon as it passes `limit` bytes.
pub async fn read_limited<S, E>(payload: &mut S, limit: usize) -> Result<web::BytesMut, ApiError>
where
    S: futures::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Syntax errors are 400; well-formed JSON that does not fit `T` is 422 with the field's path.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    from_value(value).map_err(ApiError::Validation)
}

/// Parsed JSON into `T`, naming the offending field (also used for bulk-create rows).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, FieldErrors> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| field_error(&e.path().to_string(), &e.inner().to_string()))
}

/// Names the field serde complained about: the path for a bad value, the missing field's name
/// (joined to its parent's path) for an absent one.
fn field_error(path: &str, message: &str) -> FieldErrors {
    // serde_path_to_error names the root "." (or "?" when it cannot tell).
    let parent = if path == "." || path == "?" { "" } else { path };
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some(name) = rest.split('`').next()
    {
        let field = if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        };
        return FieldErrors::from([(field, "is required".to_owned())]);
    }
    let field = if parent.is_empty() {
        "body".to_owned()
    } else {
        parent.to_owned()
    };
    FieldErrors::from([(field, message.to_owned())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        age: u8,
    }

    fn fields(body: &str) -> FieldErrors {
        match parse::<Body>(body.as_bytes()) {
            Err(ApiError::Validation(f)) => f,
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert!(matches!(
            parse::<Body>(b"{not json"),
            Err(ApiError::BadRequest(_))
        ));
        assert_eq!(
            fields(r#"{"age":3}"#).get("email").map(String::as_str),
            Some("is required")
        );
        assert!(fields(r#"{"email":"a","age":"x"}"#).contains_key("age"));
        let f = fields(r#""a string""#);
        assert!(f.contains_key("body"), "{f:?}");
    }
}
