//! A JSON body extractor that answers in the error model: wrong content type 415, too large 413,
//! not JSON 400, JSON of the wrong shape 422 with the offending field named.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures::StreamExt;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::domain::FieldErrors;
use crate::domain::strict::{from_value, join};
use crate::error::ApiError;
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
/// An object that names a key twice is refused (422): parsers disagree on which one wins, so a
/// proxy that checked the first and a service that used the last would see different requests.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let duplicate = std::cell::RefCell::new(None);
    let parsed = Node {
        path: String::new(),
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    if let Some(field) = duplicate.into_inner() {
        return Err(ApiError::Validation(FieldErrors::from([(
            field,
            "appears more than once".to_owned(),
        )])));
    }
    let value = parsed.map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    from_value(value).map_err(ApiError::Validation)
}

/// Builds a `serde_json::Value` as `serde_json::from_slice` would, noting the first key an
/// object repeats (serde_json itself keeps the last silently).
struct Node<'a> {
    path: String,
    duplicate: &'a std::cell::RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = serde_json::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Node {
            path: format!("{}[{}]", self.path, items.len()),
            duplicate: self.duplicate,
        })? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = join(&self.path, &key);
            if out.contains_key(&key) {
                self.duplicate.borrow_mut().get_or_insert(path);
                return Err(serde::de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(Node {
                path,
                duplicate: self.duplicate,
            })?;
            out.insert(key, value);
        }
        Ok(serde_json::Value::Object(out))
    }
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
        // serde's array form of a struct is not a body this API takes.
        let f = fields(r#"["a@example.com", 3]"#);
        assert!(f.contains_key("body"), "{f:?}");
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        #[serde(default)]
        items: Vec<Body>,
        #[serde(default)]
        data: Option<serde_json::Value>,
    }

    #[test]
    fn unknown_fields_duplicates_and_nul_are_refused_by_name() {
        let f = |body: &str| match parse::<Outer>(body.as_bytes()) {
            Err(ApiError::Validation(f)) => f,
            other => panic!("expected 422 for {body}, got {other:?}"),
        };
        assert_eq!(
            f(r#"{"name":"a","role":"admin"}"#)
                .get("role")
                .map(String::as_str),
            Some("is not a known field")
        );
        assert!(
            f(r#"{"name":"a","items":[{"email":"e","age":1,"x":2}]}"#).contains_key("items[0].x")
        );
        assert_eq!(
            f(r#"{"name":"a","name":"b"}"#)
                .get("name")
                .map(String::as_str),
            Some("appears more than once")
        );
        assert!(f(r#"{"name":"a","data":{"k":1,"k":2}}"#).contains_key("data.k"));
        assert_eq!(
            f(r#"{"name":"a\u0000b"}"#).get("name").map(String::as_str),
            Some("must not contain NUL characters")
        );
        assert!(f(r#"{"name":"a","data":{"list":["ok","\u0000"]}}"#).contains_key("data.list[1]"));
        // Free-form values keep any keys; numbers survive the strict reader as serde_json reads them.
        let ok: Outer =
            parse(br#"{"name":"a","data":{"any":1.5,"big":18446744073709551615,"n":-3,"z":null}}"#)
                .unwrap();
        assert_eq!(
            ok.data.unwrap()["big"],
            serde_json::json!(18446744073709551615u64)
        );
        assert!(matches!(
            parse::<Outer>(br#"{"name":"a"} x"#),
            Err(ApiError::BadRequest(_))
        ));
    }
}
