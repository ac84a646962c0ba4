//! The renderer on its own: every module and eye style, with and without logo and frame, in PNG
//! and SVG, decodes back to the payload; PDF is vector.

use bytes::Bytes;
use qrsaas::domain::Design;
use qrsaas::domain::design::{EyeStyle, Frame, ModuleStyle};
use qrsaas::render::{Format, Spec, render};

use crate::common::decode::{decode_image, decode_svg};

pub fn test_logo() -> Bytes {
    let img = image::RgbImage::from_fn(120, 80, |x, y| {
        image::Rgb([(x * 2) as u8, 90, (y * 3) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("logo");
    Bytes::from(out.into_inner())
}

fn spec(payload: &str, design: Design, format: Format) -> Spec {
    Spec {
        payload: payload.into(),
        design,
        caption: None,
        caption_on_top: false,
        logo: None,
        format,
        size: 512,
    }
}

const URL: &str = "https://example.com/spring?utm_source=qr";

#[test]
fn plain_png_is_small_exact_size_and_decodes() {
    let png = render(&spec(URL, Design::default(), Format::Png)).unwrap();
    assert_eq!(decode_image(&png), URL);
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (512, 512));
    assert!(
        png.len() < 8_000,
        "a 1-bit PNG should be small, got {}",
        png.len()
    );
}

#[test]
fn every_style_decodes_in_png_and_svg() {
    for module_style in [ModuleStyle::Square, ModuleStyle::Dots, ModuleStyle::Rounded] {
        for eye_style in [EyeStyle::Square, EyeStyle::Rounded, EyeStyle::Circle] {
            for with_logo in [false, true] {
                let design = Design {
                    fg_color: "#1a237e".into(),
                    bg_color: "#fffde7".into(),
                    module_style,
                    eye_style,
                    logo_upload_id: with_logo.then(uuid::Uuid::nil),
                    logo_size: 0.25,
                    frame: Some(Frame {
                        template_id: None,
                        text: Some("SCAN ME".into()),
                    }),
                    ..Design::default()
                };
                let what = format!("{module_style:?}/{eye_style:?}/logo={with_logo}");
                let mut s = spec(URL, design, Format::Png);
                s.caption = Some("SCAN ME".into());
                s.logo = with_logo.then(test_logo);
                assert_eq!(decode_image(&render(&s).unwrap()), URL, "PNG {what}");
                s.format = Format::Svg;
                let svg = render(&s).unwrap();
                assert!(std::str::from_utf8(&svg).unwrap().contains("SCAN ME"));
                assert_eq!(decode_svg(&svg), URL, "SVG {what}");
            }
        }
    }
}

#[test]
fn framed_png_is_taller_and_pdf_is_vector() {
    let mut s = spec(
        URL,
        Design {
            frame: Some(Frame {
                template_id: None,
                text: None,
            }),
            ..Design::default()
        },
        Format::Png,
    );
    s.caption = Some("PAY HERE".into());
    let img = image::load_from_memory(&render(&s).unwrap()).unwrap();
    assert_eq!(img.width(), 512);
    assert!(img.height() > 512);
    s.format = Format::Pdf;
    let pdf = render(&s).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(
        pdf.len() < 60_000,
        "vector PDF with a font subset, got {} bytes",
        pdf.len()
    );
    // No embedded raster: the modules are path operators.
    assert!(
        !pdf.windows(8).any(|w| w == b"/DCTDecode"),
        "PDF should not embed a JPEG of the code"
    );
}
