//! The SVG of a code, in module units (one unit = one module), scaled by width/height.

use std::fmt::Write;

use base64::Engine;

use super::{FONT_FAMILY, Matrix, Spec};
use crate::domain::design::{EyeStyle, ModuleStyle};
use crate::html::escape as html_escape;

/// Module units of the frame border and the caption band, relative to the framed area.
const FRAME_BORDER: f64 = 1.0;
const CAPTION_RATIO: f64 = 0.2;

/// Geometry of the drawing in module units.
pub struct Layout {
    pub width: f64,
    pub height: f64,
    /// Top-left of module (0,0).
    pub origin: (f64, f64),
    /// Caption band (x, y, w, h) when framed.
    pub caption: Option<(f64, f64, f64, f64)>,
}

pub fn layout(matrix: &Matrix, spec: &Spec) -> Layout {
    let m = spec.design.margin as f64;
    let inner = matrix.size as f64 + 2.0 * m;
    if spec.caption.is_none() {
        return Layout {
            width: inner,
            height: inner,
            origin: (m, m),
            caption: None,
        };
    }
    let width = inner + 2.0 * FRAME_BORDER;
    let band = (width * CAPTION_RATIO).max(4.0);
    let (code_top, band_top) = if spec.caption_on_top {
        (band, 0.0)
    } else {
        (FRAME_BORDER, width - FRAME_BORDER)
    };
    Layout {
        width,
        height: width + band - FRAME_BORDER,
        origin: (FRAME_BORDER + m, code_top + m),
        caption: Some((0.0, band_top, width, band)),
    }
}

/// The modules hidden under the logo: a centred square of `logo_size` of the code's width.
fn logo_box(matrix: &Matrix, spec: &Spec) -> Option<(f64, f64)> {
    spec.logo.as_ref()?;
    let n = matrix.size as f64;
    let side = (n * spec.design.logo_size as f64).round();
    Some(((n - side) / 2.0, side))
}

pub fn build(matrix: &Matrix, spec: &Spec) -> String {
    let d = &spec.design;
    let l = layout(matrix, spec);
    let px_w = spec.size as f64;
    let px_h = (px_w * l.height / l.width).round();
    let (ox, oy) = l.origin;
    let mut s = String::with_capacity(16 * matrix.size * matrix.size);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{px_w}" height="{px_h}" viewBox="0 0 {w} {h}" shape-rendering="{render}">"#,
        w = l.width,
        h = l.height,
        render = if d.module_style == ModuleStyle::Square {
            "crispEdges"
        } else {
            "geometricPrecision"
        },
    );
    // Frame: the whole drawing in the foreground colour, the code area and caption cut out of it.
    if let Some((cx, cy, cw, ch)) = l.caption {
        let _ = write!(
            s,
            r#"<rect width="{w}" height="{h}" fill="{fg}"/>"#,
            w = l.width,
            h = l.height,
            fg = d.fg_color
        );
        let inner = matrix.size as f64 + 2.0 * d.margin as f64;
        let _ = write!(
            s,
            r#"<rect x="{x}" y="{y}" width="{inner}" height="{inner}" fill="{bg}"/>"#,
            x = ox - d.margin as f64,
            y = oy - d.margin as f64,
            bg = d.bg_color
        );
        let font = ch * 0.5;
        let _ = write!(
            s,
            r#"<text x="{x}" y="{y}" font-family="{FONT_FAMILY}" font-weight="bold" font-size="{font}" fill="{bg}" text-anchor="middle" dominant-baseline="central">{t}</text>"#,
            x = cx + cw / 2.0,
            y = cy + ch / 2.0,
            bg = d.bg_color,
            t = html_escape(spec.caption.as_deref().unwrap_or("")),
        );
    } else {
        let _ = write!(
            s,
            r#"<rect width="{w}" height="{h}" fill="{bg}"/>"#,
            w = l.width,
            h = l.height,
            bg = d.bg_color
        );
    }

    let hidden = logo_box(matrix, spec);
    let under_logo = |x: usize, y: usize| {
        hidden.is_some_and(|(start, side)| {
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            fx >= start - 0.5
                && fx <= start + side + 0.5
                && fy >= start - 0.5
                && fy <= start + side + 0.5
        })
    };

    // Data modules.
    let _ = write!(s, r#"<g fill="{}">"#, d.fg_color);
    match d.module_style {
        ModuleStyle::Square => {
            // One path; horizontal runs merged.
            s.push_str(r#"<path d=""#);
            for y in 0..matrix.size {
                let mut x = 0;
                while x < matrix.size {
                    if matrix.get(x, y) && !matrix.in_eye(x, y) && !under_logo(x, y) {
                        let start = x;
                        while x < matrix.size
                            && matrix.get(x, y)
                            && !matrix.in_eye(x, y)
                            && !under_logo(x, y)
                        {
                            x += 1;
                        }
                        let _ = write!(
                            s,
                            "M{} {}h{}v1h-{}z",
                            ox + start as f64,
                            oy + y as f64,
                            x - start,
                            x - start
                        );
                    } else {
                        x += 1;
                    }
                }
            }
            s.push_str(r#""/>"#);
        }
        ModuleStyle::Dots | ModuleStyle::Rounded => {
            for y in 0..matrix.size {
                for x in 0..matrix.size {
                    if matrix.get(x, y) && !matrix.in_eye(x, y) && !under_logo(x, y) {
                        let (fx, fy) = (ox + x as f64, oy + y as f64);
                        if d.module_style == ModuleStyle::Dots {
                            let _ = write!(
                                s,
                                r#"<circle cx="{}" cy="{}" r="0.46"/>"#,
                                fx + 0.5,
                                fy + 0.5
                            );
                        } else {
                            let _ = write!(
                                s,
                                r#"<rect x="{fx}" y="{fy}" width="1" height="1" rx="0.3"/>"#
                            );
                        }
                    }
                }
            }
        }
    }
    // Eyes.
    let n = matrix.size as f64;
    for (ex, ey) in [(0.0, 0.0), (n - 7.0, 0.0), (0.0, n - 7.0)] {
        eye(&mut s, ox + ex, oy + ey, d.eye_style);
    }
    s.push_str("</g>");

    // Logo on a background pad, aspect ratio kept.
    if let (Some((start, side)), Some(logo)) = (hidden, &spec.logo) {
        let (x, y) = (ox + start, oy + start);
        let _ = write!(
            s,
            r#"<rect x="{x}" y="{y}" width="{side}" height="{side}" fill="{bg}"/><image x="{ix}" y="{iy}" width="{iw}" height="{iw}" preserveAspectRatio="xMidYMid meet" href="data:image/png;base64,{b64}"/>"#,
            bg = d.bg_color,
            ix = x + 0.5,
            iy = y + 0.5,
            iw = side - 1.0,
            b64 = base64::engine::general_purpose::STANDARD.encode(logo),
        );
    }
    s.push_str("</svg>");
    s
}

/// A rounded square path; with even-odd filling, nested paths cut holes whatever their direction.
fn rounded_rect(s: &mut String, x: f64, y: f64, w: f64, r: f64) {
    let e = w - 2.0 * r;
    let _ = write!(
        s,
        "M{} {y}h{e}a{r} {r} 0 0 1 {r} {r}v{e}a{r} {r} 0 0 1 -{r} {r}h-{e}a{r} {r} 0 0 1 -{r} -{r}v-{e}a{r} {r} 0 0 1 {r} -{r}z",
        x + r
    );
}

fn circle(s: &mut String, cx: f64, cy: f64, r: f64) {
    let _ = write!(
        s,
        "M{} {cy}a{r} {r} 0 1 0 {} 0a{r} {r} 0 1 0 -{} 0z",
        cx - r,
        2.0 * r,
        2.0 * r
    );
}

/// A finder pattern: a 7×7 ring and a 3×3 centre, in the chosen shape (even-odd fill).
fn eye(s: &mut String, x: f64, y: f64, style: EyeStyle) {
    s.push_str(r#"<path fill-rule="evenodd" d=""#);
    match style {
        EyeStyle::Square => {
            let _ = write!(
                s,
                "M{x} {y}h7v7h-7zM{} {}h5v5h-5zM{} {}h3v3h-3z",
                x + 1.0,
                y + 1.0,
                x + 2.0,
                y + 2.0
            );
        }
        EyeStyle::Rounded => {
            rounded_rect(s, x, y, 7.0, 2.0);
            rounded_rect(s, x + 1.0, y + 1.0, 5.0, 1.4);
            rounded_rect(s, x + 2.0, y + 2.0, 3.0, 0.9);
        }
        EyeStyle::Circle => {
            circle(s, x + 3.5, y + 3.5, 3.5);
            circle(s, x + 3.5, y + 3.5, 2.5);
            circle(s, x + 3.5, y + 3.5, 1.5);
        }
    }
    s.push_str(r#""/>"#);
}
