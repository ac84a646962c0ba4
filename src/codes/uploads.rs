//! Image uploads (logos): PNG, JPEG or WebP up to 2 MiB and 4096×4096, decoded under limits so a
//! decompression bomb fails fast, then normalised to a PNG of at most 1024 px for rendering.
//! SVG is refused: rendering a user's SVG safely needs a sanitiser we do not ship.

use std::io::Cursor;

use bytes::Bytes;
use image::{ImageFormat, ImageReader, Limits};
use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::db;
use crate::db::uploads::{NewUpload, UploadRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const MAX_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_DIMENSION: u32 = 4096;
/// Normalised logos are at most this wide or tall: a logo covers at most 30% of a 4096 px code.
const NORMALISED_MAX: u32 = 1024;

struct Normalised {
    png: Vec<u8>,
    width: u32,
    height: u32,
    format: &'static str,
}

/// Decoded pixels held at once, across every upload in this process. A 4096×4096 PNG is
/// 65 KB on the wire and 64 MiB decoded: without a shared budget, 16 parallel uploads held a
/// gigabyte. Each decode takes its exact decoded size (from the image header) plus its
/// thumbnail from the budget before it starts, and waits while the budget is spent; one
/// image bigger than the budget runs alone. With 2 cores, more parallel decodes would not
/// finish sooner anyway.
pub struct DecodeBudget {
    permits: tokio::sync::Semaphore,
    total_mib: u32,
}

impl DecodeBudget {
    pub fn new(total_mib: u32) -> DecodeBudget {
        let total_mib = total_mib.max(1);
        DecodeBudget {
            permits: tokio::sync::Semaphore::new(total_mib as usize),
            total_mib,
        }
    }

    /// Bytes of the budget in use now, and the budget (for /metrics).
    pub fn usage(&self) -> (u64, u64) {
        let total = u64::from(self.total_mib);
        let free = self.permits.available_permits() as u64;
        (total.saturating_sub(free) << 20, total << 20)
    }
}

fn format_of(bytes: &[u8]) -> Result<ImageFormat, ApiError> {
    match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP)) => Ok(f),
        _ => Err(ApiError::UnsupportedMediaType(
            "image/png, image/jpeg or image/webp",
        )),
    }
}

/// The memory a decode of `bytes` will hold at its peak, in MiB, read from the header alone:
/// the decoded buffer plus the normalised copy.
fn decode_cost_mib(bytes: &[u8]) -> Result<u32, ApiError> {
    use image::ImageDecoder;
    let unreadable = || ApiError::field("file", "is not a readable image (corrupt or truncated)");
    let decoder = ImageReader::with_format(Cursor::new(bytes), format_of(bytes)?)
        .into_decoder()
        .map_err(|_| unreadable())?;
    let (w, h) = decoder.dimensions();
    if w > MAX_DIMENSION || h > MAX_DIMENSION {
        return Err(ApiError::PayloadTooLarge);
    }
    let thumb = u64::from(w.min(NORMALISED_MAX)) * u64::from(h.min(NORMALISED_MAX)) * 4;
    let total = decoder.total_bytes().saturating_add(thumb);
    Ok(u32::try_from(total.div_ceil(1 << 20))
        .unwrap_or(u32::MAX)
        .max(1))
}

fn normalise(bytes: &[u8]) -> Result<Normalised, ApiError> {
    let format = format_of(bytes)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(80 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => ApiError::PayloadTooLarge,
        _ => ApiError::field("file", "is not a readable image (corrupt or truncated)"),
    })?;
    let (width, height) = (img.width(), img.height());
    let img = if width > NORMALISED_MAX || height > NORMALISED_MAX {
        img.thumbnail(NORMALISED_MAX, NORMALISED_MAX)
    } else {
        img
    };
    let mut png = Cursor::new(Vec::new());
    img.write_to(&mut png, ImageFormat::Png)
        .map_err(ApiError::internal)?;
    Ok(Normalised {
        png: png.into_inner(),
        width,
        height,
        format: match format {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            _ => "image/webp",
        },
    })
}

pub async fn upload(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    bytes: Bytes,
) -> ApiResult<UploadRow> {
    if bytes.len() > MAX_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if bytes.is_empty() {
        return Err(ApiError::field("file", "is empty"));
    }
    let budget = &state.decode_budget;
    let cost = decode_cost_mib(&bytes)?.min(budget.total_mib);
    let permit = budget
        .permits
        .acquire_many(cost)
        .await
        .map_err(ApiError::internal)?;
    // Decoding is CPU work: off the async threads.
    let n = tokio::task::spawn_blocking(move || normalise(&bytes))
        .await
        .map_err(ApiError::internal)??;
    drop(permit);
    let id = Uuid::now_v7();
    let key = format!("{}/{}.png", p.user.id, id);
    state
        .store
        .put(&key, Bytes::from(n.png.clone()))
        .await
        .map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    let row = db::uploads::insert(
        &mut *tx,
        &NewUpload {
            id,
            user_id: p.user.id,
            original_type: n.format,
            width: n.width as i32,
            height: n.height as i32,
            bytes: n.png.len() as i32,
            storage_key: &key,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::<(), _> {
            action: "upload.create",
            entity_type: "upload",
            entity_id: Some(id.to_string()),
            before: None,
            after: Some(
                &serde_json::json!({"type": n.format, "width": n.width, "height": n.height}),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The owner's upload and its (normalised PNG) bytes.
pub async fn read(state: &AppState, owner: Uuid, id: Uuid) -> ApiResult<(UploadRow, Bytes)> {
    let row = db::uploads::get(&state.db, owner, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let bytes = state
        .store
        .get(&row.storage_key)
        .await
        .map_err(ApiError::internal)?;
    Ok((row, bytes))
}
