//! `/api/v1/uploads`: multipart image upload and download.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::Caller;
use crate::codes::uploads::{self, MAX_BYTES};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct UploadView {
    id: Uuid,
    /// Where the (normalised PNG) image can be fetched by its owner.
    url: String,
    width: i32,
    height: i32,
    /// The type that was uploaded.
    content_type: String,
    created_at: DateTime<Utc>,
}

#[derive(ToSchema)]
#[allow(dead_code)] // documents the multipart body for OpenAPI
pub struct UploadForm {
    /// PNG, JPEG or WebP; at most 2 MiB and 4096×4096.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Upload an image (a logo) as multipart field `file`.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "qr-codes", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = UploadView), (status = 400, description = "Not a multipart form with a `file` part"),
        (status = 413, description = "Over 2 MiB or 4096×4096"),
        (status = 415, description = "Not PNG, JPEG or WebP"), (status = 422, description = "Corrupt image")))]
#[post("")]
pub async fn upload(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    mut form: Multipart,
) -> ApiResult<HttpResponse> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // Multipart framing adds a little; anything far above the limit is refused unread.
    if declared.is_some_and(|n| n > MAX_BYTES + 16 * 1024) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut file = None;
    while let Some(field) = form.next().await {
        let mut field =
            field.map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
        // As with JSON bodies, a part this route does not take is named, not ignored.
        match field.name() {
            Some("file") => {}
            Some(other) => return Err(ApiError::field(other, "is not a known field")),
            None => return Err(ApiError::field("body", "has a part without a name")),
        }
        let mut buf = web::BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
            if buf.len() + chunk.len() > MAX_BYTES {
                return Err(ApiError::PayloadTooLarge);
            }
            buf.extend_from_slice(&chunk);
        }
        file = Some(buf.freeze());
    }
    let file =
        file.ok_or_else(|| ApiError::field("file", "is required (multipart field \"file\")"))?;
    let row = uploads::upload(&state, &caller.origin, &caller.principal, file).await?;
    Ok(HttpResponse::Created().json(UploadView {
        url: format!("/api/v1/uploads/{}", row.id),
        id: row.id,
        width: row.width,
        height: row.height,
        content_type: row.original_type,
        created_at: row.created_at,
    }))
}

/// An uploaded image (normalised to PNG), for its owner.
#[utoipa::path(get, path = "/api/v1/uploads/{id}", tag = "qr-codes", security(("bearer" = [])),
    responses((status = 200, content_type = "image/png", description = "The image"), (status = 404, description = "Not found")))]
#[get("/{id}")]
pub async fn download(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (_, bytes) = uploads::read(&state, caller.principal.user.id, *id).await?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400, immutable"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/uploads").service(upload).service(download));
}
