//! Property tests: payloads survive encode → render → decode unchanged, and every parser of
//! user input answers (Ok or a refusal) for any input — it never panics.

// A test or bench fails by panicking; the workspace lints deny it in the service only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use qrsaas::domain::design::Design;
use qrsaas::domain::qr::{QrData, QrType};
use qrsaas::render::{Format, Spec, render};

fn decode_png(bytes: &[u8]) -> String {
    let img = image::load_from_memory(bytes).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one code in the image");
    grids[0].decode().unwrap().1
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Text and Wi-Fi payloads (with the characters Wi-Fi escapes) come back from the image
    /// exactly as encoded.
    #[test]
    fn payloads_round_trip_through_the_image(
        text in "[ -~äöü€₹]{1,120}",
        ssid in "[ -~]{1,32}",
        password in "[ -~]{8,40}",
    ) {
        for (t, data) in [
            (QrType::Text, serde_json::json!({"text": text})),
            (QrType::Wifi, serde_json::json!({"ssid": ssid, "password": password, "encryption": "WPA"})),
        ] {
            let Ok(d) = QrData::parse(t, &data) else { continue };
            let payload = d.encode().unwrap();
            let png = render(&Spec {
                payload: payload.clone(),
                design: Design::default(),
                caption: None,
                caption_on_top: false,
                logo: None,
                format: Format::Png,
                size: 512,
            })
            .unwrap();
            prop_assert_eq!(decode_png(&png), payload);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn parsers_of_user_input_never_panic(s in "\\PC{0,80}", j in any::<Vec<u8>>()) {
        let policy = qrsaas::domain::TargetPolicy::default();
        let _ = qrsaas::domain::TargetUrl::parse(&s, &policy);
        let _ = qrsaas::domain::TargetUrl::parse(&format!("http://{s}/"), &policy);
        let _ = qrsaas::domain::ShortCode::from_path(&s);
        let _ = qrsaas::domain::ShortCode::alias(&s);
        let _ = qrsaas::abuse::blocklist::parse_pattern(&s);
        let _ = qrsaas::abuse::blocklist::matches("*a*b*", &s);
        let _ = qrsaas::domain::qr::phone_number(&s);
        let _ = qrsaas::domain::qr::event_time(&s, None);
        let _ = qrsaas::http::json::parse::<serde_json::Value>(&j);
        let v = serde_json::Value::String(s.clone());
        let _ = Design::parse(&serde_json::json!({"fg_color": s, "error_correction": s}));
        let _ = qrsaas::domain::utm::Utm::parse(&serde_json::json!({"source": s}));
        let _ = qrsaas::domain::rules::parse(&serde_json::json!([{"if": {"country": [s]}, "then": {"redirect": s}}]), &policy);
        for t in ["url", "text", "email", "phone", "sms", "wifi", "vcard", "event", "geo", "payment"] {
            let t = QrType::parse(t).unwrap();
            let _ = QrData::parse(t, &v);
            let _ = QrData::parse(t, &serde_json::json!({"text": s, "ssid": s, "first_name": s, "to": s, "phone": s, "title": s, "start": s, "lat": s}));
        }
    }
}
