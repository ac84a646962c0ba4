//! A code's image: from the cache, or drawn on the render pool, with an ETag over everything
//! it is drawn from.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::cache::{CachedImage, ImageKey};
use super::*;
use crate::accounts::Principal;
use crate::db;
use crate::db::qr_codes::QrRow;
use crate::domain::design::Design;
use crate::error::{ApiError, ApiResult};
use crate::render::actor::{Fits, Render};
use crate::render::{Format, RenderError, Spec};
use crate::state::AppState;

/// Refuses a payload that does not fit in a code (checked on the render pool).
pub(super) async fn check_fits(
    state: &AppState,
    payload: &str,
    design: &Design,
    field: &str,
) -> ApiResult<()> {
    match state
        .renderer
        .send(Fits(payload.to_owned(), design.effective_ec()))
        .await
    {
        Ok(()) => Ok(()),
        Err(e @ RenderError::TooLong(_)) => Err(ApiError::field(field, e.to_string())),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// A rendered image, or "not modified" when the client's ETag still matches.
pub enum Image {
    Fresh {
        bytes: Bytes,
        etag: String,
        format: Format,
    },
    NotModified {
        etag: String,
    },
}

/// Renders a code, or serves it from the image cache. The ETag hashes everything the image
/// depends on (payload, design, caption, format, size). Cached entries are dropped on every
/// replica when the code changes, or when the owner's merchant profile or products change.
pub async fn image(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    format: Format,
    size: u32,
    if_none_match: Option<&str>,
) -> ApiResult<Image> {
    let key = ImageKey {
        qr_id: id,
        format,
        size,
    };
    let matches = |etag: &str| {
        if_none_match.is_some_and(|inm| inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    };
    let epoch = state.images.epoch();
    // Hot path: no database work at all. The owner check keeps the shared cache tenant-safe.
    if let Some(hit) = state.images.get(&key)
        && hit.owner == p.user.id
    {
        metrics::counter!("image_cache_hits_total").increment(1);
        if matches(&hit.etag) {
            return Ok(Image::NotModified {
                etag: hit.etag.clone(),
            });
        }
        return Ok(Image::Fresh {
            bytes: hit.bytes.clone(),
            etag: hit.etag.clone(),
            format,
        });
    }
    let row = db::qr_codes::get(&state.db, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let spec = image_spec(state, &row, format, size).await?;
    let etag = etag(&spec);
    if matches(&etag) {
        return Ok(Image::NotModified { etag });
    }
    let bytes = draw(state, p.user.id, spec).await?;
    let cached = CachedImage {
        owner: p.user.id,
        etag: etag.clone(),
        bytes: bytes.clone(),
    };
    state.images.insert(epoch, key, cached);
    Ok(Image::Fresh {
        bytes,
        etag,
        format,
    })
}

/// Everything an image of `row` is drawn from but the logo's bytes (read by `draw`, so a
/// 304 never touches the store).
pub async fn image_spec(
    state: &AppState,
    row: &QrRow,
    format: Format,
    size: u32,
) -> ApiResult<Spec> {
    // Postgres only when the payload or the frame needs it: an export renders thousands.
    let payload = match payload_at_hand(&state.settings, row)? {
        Some(p) => p,
        None => payload(&mut *state.db.acquire().await?, &state.settings, row).await?,
    };
    let design = design(row);
    let (caption, caption_on_top) = match &design.frame {
        None => (None, false),
        Some(f) => {
            let template = match f.template_id {
                Some(tid) => db::templates::get(&state.db, tid).await?,
                None => None,
            };
            let (default, top) = template
                .as_ref()
                .map(templates::frame_caption)
                .unwrap_or((None, false));
            (
                f.text.clone().or(default).or_else(|| Some(String::new())),
                top,
            )
        }
    };
    Ok(Spec {
        payload,
        design,
        caption,
        caption_on_top,
        logo: None,
        format,
        size,
    })
}

/// The image's ETag: a hash of everything it is drawn from.
pub fn etag(spec: &Spec) -> String {
    let mut h = Sha256::new();
    for part in [
        spec.payload.as_str(),
        &serde_json::to_string(&spec.design).unwrap_or_default(),
        spec.caption.as_deref().unwrap_or("-"),
        spec.format.extension(),
        &spec.size.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    format!("\"{}\"", hex::encode(&h.finalize()[..16]))
}

/// Reads the design's logo (one of `owner`'s uploads) and renders on the render pool (never on
/// the calling thread).
pub async fn draw(state: &AppState, owner: Uuid, mut spec: Spec) -> ApiResult<Bytes> {
    if let Some(upload) = spec.design.logo_upload_id {
        spec.logo = Some(crate::codes::uploads::read(state, owner, upload).await?.1);
    }
    match state.renderer.send(Render(spec)).await {
        Ok(b) => Ok(b),
        Err(e @ RenderError::TooLong(_)) => Err(ApiError::field("data", e.to_string())),
        Err(e) => Err(ApiError::internal(e)),
    }
}
