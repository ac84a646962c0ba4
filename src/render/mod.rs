//! Payload → module matrix → SVG / PNG / PDF.
//!
//! The SVG is the one description of a styled code: PNG rasterises it (resvg) and PDF converts
//! it to vector PDF (svg2pdf), so every format shows the same thing. Plain codes (square modules,
//! no logo, no frame) skip the vector step and are painted straight into a 1-bit palette PNG,
//! which is several times cheaper and what most codes are.
//!
//! Rendering is CPU work: it runs on the render actor pool (`actor`), never on HTTP threads.

pub mod actor;
mod raster;
mod svg;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use qrcode::{Color, EcLevel, QrCode};

use crate::domain::Design;
use crate::domain::design::Ec;

/// The embedded caption font (DejaVu Sans Bold, see assets/fonts/DejaVu-LICENSE.txt), so frames
/// render the same everywhere and nothing is read from the host's font directories.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");
pub const FONT_FAMILY: &str = "DejaVu Sans";

pub const MIN_SIZE: u32 = 128;
pub const MAX_SIZE: u32 = 4096;
pub const DEFAULT_SIZE: u32 = 512;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Png,
    Svg,
    Pdf,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Svg => "image/svg+xml",
            Format::Pdf => "application/pdf",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
            Format::Pdf => "pdf",
        }
    }
}

/// Everything needed to draw one code.
#[derive(Debug, Clone)]
pub struct Spec {
    pub payload: String,
    pub design: Design,
    /// Frame caption, resolved from the design's frame and its template.
    pub caption: Option<String>,
    /// Caption band above (`banner`) rather than below the code.
    pub caption_on_top: bool,
    /// The logo as PNG bytes.
    pub logo: Option<Bytes>,
    pub format: Format,
    /// Width in pixels (PNG; also the nominal size of SVG/PDF).
    pub size: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the content is too long for a QR code at error correction {0:?}")]
    TooLong(Ec),
    #[error("render failed: {0}")]
    Failed(String),
}

/// The modules of a code: `size`×`size`, row-major, `true` = dark.
pub struct Matrix {
    pub size: usize,
    pub dark: Vec<bool>,
}

impl Matrix {
    pub fn encode(payload: &str, ec: Ec) -> Result<Matrix, RenderError> {
        let level = match ec {
            Ec::L => EcLevel::L,
            Ec::M => EcLevel::M,
            Ec::Q => EcLevel::Q,
            Ec::H => EcLevel::H,
        };
        let code =
            QrCode::with_error_correction_level(payload.as_bytes(), level).map_err(
                |e| match e {
                    qrcode::types::QrError::DataTooLong => RenderError::TooLong(ec),
                    other => RenderError::Failed(other.to_string()),
                },
            )?;
        Ok(Matrix {
            size: code.width(),
            dark: code
                .to_colors()
                .into_iter()
                .map(|c| c == Color::Dark)
                .collect(),
        })
    }

    pub fn get(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.size + x]
    }

    /// True for modules of the three finder patterns ("eyes"), which are drawn as shapes.
    pub fn in_eye(&self, x: usize, y: usize) -> bool {
        let n = self.size;
        (y < 7 && (x < 7 || x >= n - 7)) || (x < 7 && y >= n - 7)
    }
}

/// Renders `spec` to bytes of its format.
pub fn render(spec: &Spec) -> Result<Bytes, RenderError> {
    let matrix = Matrix::encode(&spec.payload, spec.design.effective_ec())?;
    match spec.format {
        Format::Png if spec.design.is_plain() => {
            raster::plain_png(&matrix, &spec.design, spec.size)
        }
        Format::Png => raster::png(&svg::build(&matrix, spec), spec.size),
        Format::Svg => Ok(Bytes::from(svg::build(&matrix, spec))),
        Format::Pdf => raster::pdf(&svg::build(&matrix, spec)),
    }
}

/// usvg options with the embedded font only; external files are never loaded.
fn usvg_options() -> &'static resvg::usvg::Options<'static> {
    static OPTIONS: OnceLock<resvg::usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_font_data(FONT.to_vec());
        let mut o = resvg::usvg::Options {
            font_family: FONT_FAMILY.into(),
            fontdb: Arc::new(db),
            ..Default::default()
        };
        // Only the data: URIs we generate ourselves may be resolved.
        o.image_href_resolver.resolve_string = Box::new(|_, _| None);
        o
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_long_is_reported() {
        let long = "x".repeat(3000);
        assert!(matches!(
            Matrix::encode(&long, Ec::H),
            Err(RenderError::TooLong(Ec::H))
        ));
        assert!(Matrix::encode(&"x".repeat(2900), Ec::L).is_ok());
    }
}
