//! Reads QR codes back out of rendered images, with two independent decoders: rqrr, and rxing
//! (a ZXing port) whose run-length finder detection reads round and rounded eyes as phones do.

use rxing::BarcodeFormat;

/// Decodes the one QR code in a PNG (or any raster format `image` reads).
pub fn decode_image(bytes: &[u8]) -> String {
    let img = image::load_from_memory(bytes).expect("image").to_luma8();
    let (w, h) = img.dimensions();
    let mut prepared = rqrr::PreparedImage::prepare(img.clone());
    if let Some(Ok((_, text))) = prepared.detect_grids().first().map(|g| g.decode()) {
        return text;
    }
    rxing::helpers::detect_in_luma(img.into_raw(), w, h, Some(BarcodeFormat::QR_CODE))
        .unwrap_or_else(|e| panic!("no decoder could read the code: {e}"))
        .getText()
        .to_owned()
}

/// Rasterises an SVG (as a browser would) and decodes it.
pub fn decode_svg(svg: &[u8]) -> String {
    let opts = resvg::usvg::Options::default();
    let mut opts = opts;
    opts.fontdb_mut()
        .load_font_data(include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf").to_vec());
    let tree = resvg::usvg::Tree::from_data(svg, &opts).expect("svg parses");
    let size = tree.size();
    let scale = 800.0 / size.width();
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(800, (size.height() * scale) as u32).expect("pixmap");
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let png = pixmap.encode_png().expect("png");
    decode_image(&png)
}
