//! PNG (fast 1-bit path and resvg) and PDF (svg2pdf) output.

use bytes::Bytes;
use resvg::tiny_skia;

use super::{Matrix, RenderError, usvg_options};
use crate::domain::Design;

fn rgb(hex: &str) -> [u8; 3] {
    let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
    [c(1), c(3), c(5)]
}

fn failed(e: impl std::fmt::Display) -> RenderError {
    RenderError::Failed(e.to_string())
}

/// A plain code as a 1-bit palette PNG (index 0 = background, 1 = foreground): an eighth of the
/// bytes of RGB and no anti-aliasing to compute. Rows of one module row are built once and copied.
pub fn plain_png(m: &Matrix, d: &Design, size: u32) -> Result<Bytes, RenderError> {
    let total = m.size + 2 * d.margin as usize;
    let size_px = size as usize;
    let stride = size_px.div_ceil(8);
    // Pixel column → module column (or None in the quiet zone).
    let col: Vec<Option<usize>> = (0..size_px)
        .map(|px| {
            (px * total / size_px)
                .checked_sub(d.margin as usize)
                .filter(|&c| c < m.size)
        })
        .collect();
    let mut data = vec![0u8; stride * size_px];
    let mut last: Option<(usize, usize)> = None; // (module row, byte offset of its first pixel row)
    for py in 0..size_px {
        let row = (py * total / size_px)
            .checked_sub(d.margin as usize)
            .filter(|&r| r < m.size);
        let off = py * stride;
        let Some(r) = row else { continue };
        if let Some((lr, loff)) = last
            && lr == r
        {
            data.copy_within(loff..loff + stride, off);
            continue;
        }
        for (px, c) in col.iter().enumerate() {
            if let Some(c) = c
                && m.get(*c, r)
            {
                data[off + px / 8] |= 0x80 >> (px % 8);
            }
        }
        last = Some((r, off));
    }
    let mut out = Vec::with_capacity(data.len() / 4);
    {
        let mut enc = png::Encoder::new(&mut out, size, size);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::One);
        let (bg, fg) = (rgb(&d.bg_color), rgb(&d.fg_color));
        enc.set_palette(vec![bg[0], bg[1], bg[2], fg[0], fg[1], fg[2]]);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc.write_header().map_err(failed)?;
        w.write_image_data(&data).map_err(failed)?;
    }
    Ok(Bytes::from(out))
}

/// Rasterises the SVG at `size` pixels wide.
pub fn png(svg: &str, size: u32) -> Result<Bytes, RenderError> {
    let tree = resvg::usvg::Tree::from_str(svg, usvg_options()).map_err(failed)?;
    let (w, h) = (tree.size().width(), tree.size().height());
    let height = (size as f32 * h / w).round() as u32;
    let mut pixmap = tiny_skia::Pixmap::new(size, height).ok_or_else(|| failed("empty image"))?;
    let scale = size as f32 / w;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    // The drawing is opaque (it starts with a background rectangle), so premultiplied RGBA equals
    // straight RGBA and can be written as is; drop alpha to save a quarter of the bytes.
    let rgb: Vec<u8> = pixmap
        .data()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, size, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc.write_header().map_err(failed)?;
        w.write_image_data(&rgb).map_err(failed)?;
    }
    Ok(Bytes::from(out))
}

/// Vector PDF of the SVG (text embedded as a subset of the caption font).
pub fn pdf(svg: &str) -> Result<Bytes, RenderError> {
    let tree = resvg::usvg::Tree::from_str(svg, usvg_options()).map_err(failed)?;
    svg2pdf::to_pdf(
        &tree,
        svg2pdf::ConversionOptions::default(),
        svg2pdf::PageOptions::default(),
    )
    .map(Bytes::from)
    .map_err(failed)
}
