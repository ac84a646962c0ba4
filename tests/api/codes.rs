//! QR codes through the API: every type, static and dynamic, rendered as PNG and SVG and decoded
//! back to the exact payload; designs; caching; validation; lifecycle.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::decode::{decode_image, decode_svg};

/// Uploads a generated PNG logo; returns its id.
pub async fn upload_logo(app: &TestApp, token: &str) -> String {
    let png = crate::rendering::test_logo().to_vec();
    let (s, b) = upload(app, token, png, "logo.png", "image/png").await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

pub async fn upload(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    name: &str,
    mime: &str,
) -> (StatusCode, Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap();
    let res = app
        .http
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn image(
    app: &TestApp,
    token: &str,
    id: &str,
    query: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let res = app
        .http
        .get(app.url(&format!("/api/v1/qr-codes/{id}/image{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        res.status(),
        res.headers().clone(),
        res.bytes().await.unwrap().to_vec(),
    )
}

/// Creates a code and checks its PNG and SVG decode to `payload` (and to `expected` when given).
async fn create_and_scan(app: &TestApp, token: &str, body: Value, expected: Option<&str>) -> Value {
    let (s, qr) = app
        .post("/api/v1/qr-codes", Some(token), body.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body} → {qr}");
    let payload = qr["payload"].as_str().unwrap();
    if qr["dynamic"] == true {
        assert_eq!(payload, qr["short_url"].as_str().unwrap());
        assert!(payload.ends_with(&format!("/r/{}", qr["short_code"].as_str().unwrap())));
    }
    if let Some(e) = expected {
        assert_eq!(payload, e, "payload of {body}");
    }
    let id = qr["id"].as_str().unwrap();
    let (s, h, png) = image(app, token, id, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(decode_image(&png), payload, "PNG of {body}");
    let (_, h, svg) = image(app, token, id, "?format=svg").await;
    assert_eq!(h["content-type"], "image/svg+xml");
    assert_eq!(decode_svg(&svg), payload, "SVG of {body}");
    qr
}

#[tokio::test]
async fn every_type_static_and_dynamic_scans_back_to_its_payload() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("types@example.com").await;
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        (
            "url",
            json!({"target_url": "https://Example.com/menu?x=1"}),
            Some("https://example.com/menu?x=1"),
        ),
        (
            "text",
            json!({"data": {"text": "Hello, QR!"}}),
            Some("Hello, QR!"),
        ),
        (
            "email",
            json!({"data": {"to": "hi@example.com", "subject": "Hi & bye", "body": "L1\nL2"}}),
            Some("mailto:hi@example.com?subject=Hi%20%26%20bye&body=L1%0AL2"),
        ),
        (
            "phone",
            json!({"data": {"number": "+91 98765 43210"}}),
            Some("tel:+919876543210"),
        ),
        (
            "sms",
            json!({"data": {"number": "+15550100", "message": "STOP"}}),
            Some("SMSTO:+15550100:STOP"),
        ),
        (
            "wifi",
            json!({"data": {"ssid": "Cafe;Guest", "password": "pa:ss,word", "encryption": "WPA"}}),
            Some(r"WIFI:T:WPA;S:Cafe\;Guest;P:pa\:ss\,word;;"),
        ),
        (
            "vcard",
            json!({"data": {"first_name": "Ann", "last_name": "Lee", "organization": "Acme, Inc.", "phones": ["+1 555 0100"], "emails": ["ann@acme.io"], "website": "https://acme.io"}}),
            None,
        ),
        (
            "event",
            json!({"data": {"summary": "Launch", "start": "2026-12-01T18:00:00", "end": "2026-12-01T20:00:00", "tz": "Asia/Kolkata", "location": "Hall 1"}}),
            None,
        ),
        (
            "geo",
            json!({"data": {"lat": 12.9716, "lng": 77.5946, "query": "MG Road"}}),
            Some("geo:12.9716,77.5946?q=MG%20Road"),
        ),
    ];
    for (qr_type, extra, expected) in cases {
        for dynamic in [false, true] {
            let mut body =
                json!({"name": format!("{qr_type} code"), "qr_type": qr_type, "dynamic": dynamic});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let qr = create_and_scan(&app, &t, body, if dynamic { None } else { expected }).await;
            if !dynamic && qr_type == "vcard" {
                let p = qr["payload"].as_str().unwrap();
                assert!(
                    p.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lee;Ann;;;\r\n")
                        && p.contains("ORG:Acme\\, Inc.\r\n"),
                    "{p}"
                );
            }
            if !dynamic && qr_type == "event" {
                let p = qr["payload"].as_str().unwrap();
                assert!(
                    p.contains("BEGIN:VEVENT\r\n")
                        && p.contains("DTSTART;TZID=Asia/Kolkata:20261201T180000\r\n"),
                    "{p}"
                );
            }
        }
    }
    let (_, list) = app.get("/api/v1/qr-codes?per_page=100", Some(&t)).await;
    assert_eq!(list["total"], 18);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn payment_codes_for_merchant_product_and_variant() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("shop@example.com").await;
    // No merchant profile yet: a clear 422.
    let (s, b) = app.post("/api/v1/qr-codes", Some(&t), json!({"name": "Till", "qr_type": "payment", "dynamic": false, "data": {"journey_type": "basic"}})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]["fields"]["data"]
            .as_str()
            .unwrap()
            .contains("merchant profile")
    );
    assert_eq!(
        app.get("/api/v1/merchant", Some(&t)).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, b) = app
        .put(
            "/api/v1/merchant",
            Some(&t),
            json!({"display_name": "Chai & Co", "upi_vpa": "not-a-vpa", "mcc": "12"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["error"]["fields"]["upi_vpa"].is_string() && b["error"]["fields"]["mcc"].is_string());
    let (s, m) = app.put("/api/v1/merchant", Some(&t), json!({"display_name": "Chai & Co", "upi_vpa": "chai@okbank", "mcc": "5812", "city": "Mumbai"})).await;
    assert_eq!(
        (s, m["upi_vpa"].as_str()),
        (StatusCode::OK, Some("chai@okbank"))
    );

    let (s, tea) = app
        .post(
            "/api/v1/products",
            Some(&t),
            json!({"name": "Masala chai", "price": 20}),
        )
        .await;
    assert_eq!(
        (s, tea["price"].as_str()),
        (StatusCode::CREATED, Some("20.00"))
    );
    let tea_id = tea["id"].as_str().unwrap();
    let (_, large) = app
        .post(
            "/api/v1/products",
            Some(&t),
            json!({"name": "Large", "price": "35.50", "parent_id": tea_id}),
        )
        .await;
    let large_id = large["id"].as_str().unwrap();
    assert_eq!(large["parent_id"], tea_id);
    let (s, b) = app
        .post(
            "/api/v1/products",
            Some(&t),
            json!({"name": "XL", "price": "1.234", "parent_id": large_id}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["error"]["fields"]["price"].is_string(), "{b}");
    let (s, b) = app
        .post(
            "/api/v1/products",
            Some(&t),
            json!({"name": "XL", "price": "1.00", "parent_id": large_id}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["parent_id"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    assert_eq!(
        app.get(&format!("/api/v1/products?parent_id={tea_id}"), Some(&t))
            .await
            .1["total"],
        1
    );

    // Basic: payer enters the amount.
    let basic = create_and_scan(&app, &t, json!({"name": "Counter", "qr_type": "payment", "dynamic": false, "data": {"journey_type": "basic", "label": "Counter 1"}}), None).await;
    let p = basic["payload"].as_str().unwrap();
    assert!(
        p.starts_with("upi://pay?pa=chai%40okbank&pn=Chai%20%26%20Co&mc=5812&cu=INR&tr=QR"),
        "{p}"
    );
    assert!(p.ends_with("&tn=Counter%201") && !p.contains("am="), "{p}");
    // Fixed amount, product.
    let prod = create_and_scan(
        &app,
        &t,
        json!({"name": "Chai", "qr_type": "payment", "dynamic": false, "data": {"journey_type": "productBased", "product_id": tea_id, "amount": "20"}}),
        None,
    )
    .await;
    let p = prod["payload"].as_str().unwrap();
    assert!(
        p.contains("&am=20.00&cu=INR&tr=P") && p.ends_with("&tn=Masala%20chai"),
        "{p}"
    );
    assert_eq!(prod["data"]["amount"], "20.00");
    // Variant: tr names the variant, tn the product and variant.
    let var = create_and_scan(
        &app,
        &t,
        json!({"name": "Large chai", "qr_type": "payment", "dynamic": false, "data": {"journey_type": "variantBased", "variant_id": large_id, "amount": 35.5}}),
        None,
    )
    .await;
    let p = var["payload"].as_str().unwrap();
    assert!(
        p.contains("&am=35.50&")
            && p.contains("&tr=V")
            && p.ends_with("&tn=Masala%20chai%20%2F%20Large"),
        "{p}"
    );
    // Dynamic payment codes encode the short URL (the landing page shows the UPI button).
    create_and_scan(&app, &t, json!({"name": "Dyn", "qr_type": "payment", "dynamic": true, "data": {"journey_type": "basic"}}), None).await;
    // Journey rules.
    let (s, b) = app.post("/api/v1/qr-codes", Some(&t), json!({"name": "x", "qr_type": "payment", "dynamic": false, "data": {"journey_type": "variantBased", "variant_id": tea_id}})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["error"]["fields"]["data.variant_id"].is_string(), "{b}");
    let (s, _) = app.post("/api/v1/qr-codes", Some(&t), json!({"name": "x", "qr_type": "payment", "dynamic": false, "data": {"journey_type": "productBased"}})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Deleting the product deletes its variant and every code linked to either (seed 001).
    assert_eq!(
        app.get("/api/v1/qr-codes?qr_type=payment", Some(&t))
            .await
            .1["total"],
        4
    );
    assert_eq!(
        app.delete(&format!("/api/v1/products/{tea_id}"), Some(&t))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/products/{large_id}"), Some(&t))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/qr-codes/{}", prod["id"].as_str().unwrap()),
            Some(&t)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/qr-codes/{}", var["id"].as_str().unwrap()),
            Some(&t)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/qr-codes?qr_type=payment", Some(&t))
            .await
            .1["total"],
        2
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn styled_codes_with_logo_and_frame_scan_and_images_are_cached() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("design@example.com").await;
    let logo = upload_logo(&app, &t).await;
    let (_, frames) = app.get("/api/v1/templates?category=frame", Some(&t)).await;
    let frame = frames["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Scan me")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let design = json!({"fg_color": "#0d47a1", "bg_color": "#ffffff", "error_correction": "M", "module_style": "dots",
                        "eye_style": "circle", "logo_upload_id": logo, "logo_size": 0.25});
    let qr = create_and_scan(
        &app,
        &t,
        json!({"name": "Styled", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/p", "design": design, "template_id": frame}),
        None,
    )
    .await;
    assert_eq!(qr["design"]["frame"]["template_id"], frame.as_str());
    assert_eq!(qr["template_id"], frame.as_str());
    let id = qr["id"].as_str().unwrap();
    let (_, _, svg) = image(&app, &t, id, "?format=svg").await;
    let svg = String::from_utf8(svg).unwrap();
    assert!(
        svg.contains(">SCAN ME</text>"),
        "the frame template's caption is drawn"
    );
    assert!(
        svg.contains("data:image/png;base64,"),
        "the logo is embedded"
    );
    let (_, h, pdf) = image(&app, &t, id, "?format=pdf").await;
    assert_eq!(h["content-type"], "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    // Sizes: framed codes are taller than wide; bounds enforced.
    let (_, _, big) = image(&app, &t, id, "?size=1024").await;
    let img = image::load_from_memory(&big).unwrap();
    assert_eq!(img.width(), 1024);
    assert!(img.height() > 1024);
    assert_eq!(decode_image(&big), qr["payload"].as_str().unwrap());
    for bad in ["?size=64", "?size=5000", "?format=gif"] {
        assert_eq!(
            image(&app, &t, id, bad).await.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }

    // ETag + 304; a design change yields a new ETag and image.
    let (_, h1, png1) = image(&app, &t, id, "").await;
    let etag = h1["etag"].to_str().unwrap().to_owned();
    assert!(h1["cache-control"].to_str().unwrap().contains("private"));
    let res = app
        .http
        .get(app.url(&format!("/api/v1/qr-codes/{id}/image")))
        .bearer_auth(&t)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let (_, h2, png2) = image(&app, &t, id, "").await;
    assert_eq!(
        (h2["etag"].to_str().unwrap(), png2.len()),
        (etag.as_str(), png1.len()),
        "served from the cache"
    );
    let (s, _) = app
        .patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&t),
            json!({"design": {"fg_color": "#b71c1c"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, h3, png3) = image(&app, &t, id, "").await;
    assert_ne!(h3["etag"].to_str().unwrap(), etag);
    assert_ne!(png3, png1);
    let rgb = image::load_from_memory(&png3).unwrap().to_rgb8();
    assert!(
        rgb.pixels().any(|p| p.0 == [0xb7, 0x1c, 0x1c]),
        "the new colour is used"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn invalid_codes_answer_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("invalid@example.com").await;
    let post = |body: Value| app.post("/api/v1/qr-codes", Some(&t), body);
    let fields = |b: &Value| {
        b["error"]["fields"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"name": "x", "qr_type": "url", "dynamic": true, "target_url": "javascript:alert(1)"}),
            "target_url",
        ),
        (
            json!({"name": "x", "qr_type": "url", "dynamic": true, "target_url": "ftp://files.example.com"}),
            "target_url",
        ),
        (
            json!({"name": "x", "qr_type": "url", "dynamic": true, "target_url": "http://127.0.0.1:8080/r/abc"}),
            "target_url",
        ),
        (
            json!({"name": "x", "qr_type": "url", "dynamic": true}),
            "target_url",
        ),
        (
            json!({"name": "x", "qr_type": "text", "dynamic": false, "target_url": "https://a.io", "data": {"text": "a"}}),
            "target_url",
        ),
        (
            json!({"name": "x", "qr_type": "nope", "dynamic": false}),
            "qr_type",
        ),
        (
            json!({"name": "", "qr_type": "text", "dynamic": false, "data": {"text": "a"}}),
            "name",
        ),
        (
            json!({"name": "x", "qr_type": "email", "dynamic": false, "data": {"to": "bad"}}),
            "data.to",
        ),
        (
            json!({"name": "x", "qr_type": "wifi", "dynamic": false, "data": {"ssid": "a", "encryption": "WPA", "password": "short"}}),
            "data.password",
        ),
        (
            json!({"name": "x", "qr_type": "event", "dynamic": false, "data": {"summary": "a", "start": "tomorrow", "end": "2026-01-01T00:00:00Z"}}),
            "data.start",
        ),
        (
            json!({"name": "x", "qr_type": "geo", "dynamic": false, "data": {"lat": 100, "lng": 0}}),
            "data.lat",
        ),
        (
            json!({"name": "x", "qr_type": "text", "dynamic": false, "data": {"text": "a"}, "design": {"fg_color": "#ffffff", "bg_color": "#000000"}}),
            "design.fg_color",
        ),
        (
            json!({"name": "x", "qr_type": "text", "dynamic": false, "data": {"text": "a"}, "design": {"fg_color": "#888888", "bg_color": "#999999"}}),
            "design.fg_color",
        ),
        (
            json!({"name": "x", "qr_type": "text", "dynamic": false, "data": {"text": "a"}, "design": {"logo_size": 0.6}}),
            "design.logo_size",
        ),
        (
            json!({"name": "x", "qr_type": "text", "dynamic": false, "data": {"text": "a"}, "design": {"error_correction": "Z"}}),
            "design.error_correction",
        ),
        (
            json!({"name": "x", "qr_type": "text", "dynamic": true, "data": {"text": "a"}, "alias": "admin"}),
            "alias",
        ),
        (
            json!({"name": "x", "qr_type": "text", "dynamic": false, "data": {"text": "a"}, "alias": "my-alias"}),
            "alias",
        ),
        (
            json!({"name": "x", "qr_type": "text", "dynamic": false, "data": {"text": "a"}, "template_id": uuid::Uuid::new_v4()}),
            "template_id",
        ),
    ];
    for (body, field) in cases {
        let (s, b) = post(body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {b}");
        assert!(
            fields(&b).contains_key(field),
            "{body}: expected {field} in {b}"
        );
    }
    // Too long for a code at H (a logo forces H): refused with the reason.
    let logo = upload_logo(&app, &t).await;
    let long = "x".repeat(1500);
    let (s, b) = post(json!({"name": "x", "qr_type": "text", "dynamic": false, "data": {"text": long}, "design": {"logo_upload_id": logo}})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b["error"]["fields"]["data"]
            .as_str()
            .unwrap()
            .contains("too long")
    );
    // Alias taken: 409. Nothing half-created by any of the above.
    let (s, _) = post(json!({"name": "x", "qr_type": "text", "dynamic": true, "data": {"text": "a"}, "alias": "spring-sale"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = post(json!({"name": "y", "qr_type": "text", "dynamic": true, "data": {"text": "b"}, "alias": "spring-sale"})).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("alias_taken"))
    );
    assert_eq!(app.get("/api/v1/qr-codes", Some(&t)).await.1["total"], 1);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn lifecycle_retarget_pause_filter_and_delete() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("life@example.com").await;
    let (_, project) = app
        .post("/api/v1/projects", Some(&t), json!({"name": "Spring"}))
        .await;
    let pid = project["id"].as_str().unwrap();
    let (_, dynamic) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "Menu", "qr_type": "url", "dynamic": true, "target_url": "https://a.example.com", "project_id": pid}))
        .await;
    let (_, fixed) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "Hello", "qr_type": "text", "dynamic": false, "data": {"text": "v1"}}),
        )
        .await;
    let (did, sid) = (
        dynamic["id"].as_str().unwrap(),
        fixed["id"].as_str().unwrap(),
    );
    assert_eq!(dynamic["short_code"].as_str().unwrap().len(), 7);

    // A dynamic code's target changes without changing its image.
    let (_, _, before) = image(&app, &t, did, "").await;
    let (s, up) = app
        .patch(
            &format!("/api/v1/qr-codes/{did}"),
            Some(&t),
            json!({"target_url": "https://b.example.com/new"}),
        )
        .await;
    assert_eq!(
        (s, up["target_url"].as_str()),
        (StatusCode::OK, Some("https://b.example.com/new"))
    );
    assert_eq!(up["payload"], dynamic["payload"]);
    let (_, _, after) = image(&app, &t, did, "").await;
    assert_eq!(decode_image(&before), decode_image(&after));
    // A static code's data change changes what it encodes.
    let (_, up) = app
        .patch(
            &format!("/api/v1/qr-codes/{sid}"),
            Some(&t),
            json!({"data": {"text": "v2"}}),
        )
        .await;
    assert_eq!(up["payload"], "v2");
    assert_eq!(decode_image(&image(&app, &t, sid, "").await.2), "v2");
    let (s, b) = app
        .patch(
            &format!("/api/v1/qr-codes/{sid}"),
            Some(&t),
            json!({"data": {"text": ""}}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["data.text"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("is required"))
    );
    let (s, _) = app
        .patch(
            &format!("/api/v1/qr-codes/{sid}"),
            Some(&t),
            json!({"target_url": "https://x.io"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Pause, filters.
    let (_, paused) = app
        .patch(
            &format!("/api/v1/qr-codes/{did}"),
            Some(&t),
            json!({"status": "paused"}),
        )
        .await;
    assert_eq!(paused["status"], "paused");
    let (s, _) = app
        .patch(
            &format!("/api/v1/qr-codes/{did}"),
            Some(&t),
            json!({"status": "deleted"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get("/api/v1/qr-codes?status=paused", Some(&t)).await.1["total"],
        1
    );
    assert_eq!(
        app.get(&format!("/api/v1/qr-codes?project_id={pid}"), Some(&t))
            .await
            .1["total"],
        1
    );
    assert_eq!(
        app.get("/api/v1/qr-codes?qr_type=text", Some(&t)).await.1["total"],
        1
    );
    assert_eq!(
        app.get("/api/v1/qr-codes?q=men", Some(&t)).await.1["total"],
        1
    );
    let (_, moved) = app
        .patch(
            &format!("/api/v1/qr-codes/{did}"),
            Some(&t),
            json!({"project_id": null}),
        )
        .await;
    assert!(moved["project_id"].is_null());

    // Soft delete: gone from the API, row kept, audited.
    assert_eq!(
        app.delete(&format!("/api/v1/qr-codes/{sid}"), Some(&t))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/qr-codes/{sid}"), Some(&t))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/api/v1/qr-codes", Some(&t)).await.1["total"], 1);
    let status: String = sqlx::query_scalar("SELECT status FROM qr_codes WHERE id = $1::uuid")
        .bind(sid)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "deleted");
    let (_, log) = app
        .get("/api/v1/audit-logs?entity_type=qr_code", Some(&t))
        .await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "qr_code.update").count(),
        4
    );
    assert_eq!(actions.first(), Some(&"qr_code.delete"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn uploads_accept_images_and_refuse_the_rest() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("uploads@example.com").await;
    let encode = |fmt: image::ImageFormat, w: u32, h: u32| {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, fmt).unwrap();
        out.into_inner()
    };
    for (fmt, mime) in [
        (image::ImageFormat::Png, "image/png"),
        (image::ImageFormat::Jpeg, "image/jpeg"),
        (image::ImageFormat::WebP, "image/webp"),
    ] {
        let (s, b) = upload(&app, &t, encode(fmt, 300, 200), "logo", mime).await;
        assert_eq!(s, StatusCode::CREATED, "{mime}: {b}");
        assert_eq!(
            (
                b["width"].as_i64(),
                b["height"].as_i64(),
                b["content_type"].as_str()
            ),
            (Some(300), Some(200), Some(mime))
        );
        let res = app
            .http
            .get(app.url(b["url"].as_str().unwrap()))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["content-type"], "image/png");
        let back = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
        assert_eq!((back.width(), back.height()), (300, 200));
    }
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    assert_eq!(
        upload(&app, &t, svg, "x.svg", "image/svg+xml").await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        upload(&app, &t, b"%PDF-1.4".to_vec(), "x.pdf", "application/pdf")
            .await
            .0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    // Over 2 MiB.
    let mut noise = encode(image::ImageFormat::Png, 10, 10);
    noise.resize(2 * 1024 * 1024 + 10, 7);
    assert_eq!(
        upload(&app, &t, noise, "big.png", "image/png").await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // A small file claiming 5000×5000 pixels (decompression bomb): refused before decoding.
    let bomb = {
        let img = image::GrayImage::new(5000, 5000);
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    assert!(bomb.len() < 2 * 1024 * 1024);
    assert_eq!(
        upload(&app, &t, bomb, "bomb.png", "image/png").await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Truncated: 422.
    let mut cut = encode(image::ImageFormat::Png, 300, 300);
    cut.truncate(cut.len() / 2);
    let (s, b) = upload(&app, &t, cut, "cut.png", "image/png").await;
    assert_eq!(
        (s, b["error"]["fields"]["file"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true),
        "{b}"
    );
    // No file field.
    let res = app
        .http
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&t)
        .multipart(reqwest::multipart::Form::new().text("other", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!(b["error"]["fields"]["other"], "is not a known field", "{b}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM uploads")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 3);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn templates_library_previews_and_landing_pages() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("tpl@example.com").await;
    let (s, all) = app.get("/api/v1/templates", Some(&t)).await;
    assert_eq!(s, StatusCode::OK);
    let items = all["items"].as_array().unwrap();
    assert!(items.iter().filter(|i| i["category"] == "frame").count() >= 3);
    let landing = items.iter().find(|i| i["name"] == "Announcement").unwrap();
    let res = app
        .http
        .get(app.url(landing["image_url"].as_str().unwrap()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    let lid = landing["id"].as_str().unwrap();

    let (s, b) = app
        .post(
            &format!("/api/v1/templates/{lid}/data"),
            Some(&t),
            json!({"data": {"body": "x", "evil": 1}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]["fields"]["data.title"].is_string()
            && b["error"]["fields"]["data.evil"].is_string(),
        "{b}"
    );
    let (s, b) = app
        .post(
            &format!("/api/v1/templates/{lid}/data"),
            Some(&t),
            json!({"data": {"title": "x", "body": "y", "button_url": "javascript:alert(1)"}}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["data.button_url"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let (s, filled) = app
        .post(
            &format!("/api/v1/templates/{lid}/data"),
            Some(&t),
            json!({"data": {"title": "Grand <opening>", "body": "Doors at 9", "button_text": "Directions", "button_url": "https://maps.example.com/x"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{filled}");
    let url_id = filled["url_id"].as_str().unwrap();
    let res = app
        .http
        .get(app.url(&format!("/p/{url_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1>Grand &lt;opening&gt;</h1>"), "{html}");
    assert!(html.contains("href=\"https://maps.example.com/x\""));
    assert!(!html.contains("<opening>"));
    assert_eq!(
        app.http
            .get(app.url("/p/nope404"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let frame = items.iter().find(|i| i["category"] == "frame").unwrap()["id"]
        .as_str()
        .unwrap();
    let (s, _) = app
        .post(
            &format!("/api/v1/templates/{frame}/data"),
            Some(&t),
            json!({"data": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await.unwrap();
}

/// Peak resident memory of this process (nextest runs each test in a process of its own).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

#[tokio::test]
async fn parallel_uploads_of_huge_images_share_one_memory_budget() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("bombs@example.com").await;
    // 4096×4096 RGBA: a few hundred KB of PNG (well under the 2 MiB limit), 64 MiB decoded.
    let png = {
        let img = image::RgbaImage::from_pixel(4096, 4096, image::Rgba([20, 40, 60, 255]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    assert!(png.len() < 1024 * 1024, "{}", png.len());
    // Forget the encoding's own peak: measure from here.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_rss_mib();
    let uploads = (0..16).map(|_| upload(&app, &t, png.clone(), "big.png", "image/png"));
    for (s, b) in futures::future::join_all(uploads).await {
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(
            (b["width"].as_i64(), b["height"].as_i64()),
            (Some(4096), Some(4096))
        );
    }
    let peak = peak_rss_mib();
    eprintln!("16 parallel 4096² uploads: peak RSS {peak} MiB (from {before} MiB)");
    assert!(
        peak < 300,
        "16 parallel uploads peaked at {peak} MiB (from {before} MiB); 16 unbounded decodes \
         hold over a gigabyte"
    );
    // The budgets are visible, and nothing is held once the uploads are done.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("upload_decode_budget_bytes 167772160"),
        "{metrics}"
    );
    assert!(metrics.contains("upload_decode_bytes 0"), "{metrics}");
    assert!(
        metrics.contains("image_cache_budget_bytes 268435456"),
        "{metrics}"
    );
    assert!(metrics.contains("image_cache_bytes "), "{metrics}");
    app.stop().await.unwrap();
}

/// Parses an EMVCo payload with an independent decoder (npm `emvco-merchant-parse`, installed
/// by scripts/test into target/node-tools) and checks its CRC with Python's `binascii.crc_hqx`
/// (CRC-CCITT; initial value 0xFFFF makes it CCITT-FALSE). Answers the decoded tags.
fn decode_emvco(payload: &str) -> Value {
    let modules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/node-tools/node_modules/emvco-merchant-parse");
    let out = std::process::Command::new("node")
        .arg("-e")
        .arg("const { Parse } = require(process.argv[1]); process.stdout.write(JSON.stringify(Parse(process.argv[2])))")
        .arg(&modules)
        .arg(payload)
        .output()
        .expect("node (scripts/test installs the decoder)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crc = std::process::Command::new("python3")
        .arg("-c")
        .arg("import binascii, sys; p = sys.argv[1]; print('%04X' % binascii.crc_hqx(p[:-4].encode(), 0xFFFF))")
        .arg(payload)
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&crc.stdout).trim(),
        &payload[payload.len() - 4..],
        "CRC of {payload}"
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn emvco_payment_codes_decode_with_an_independent_parser() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("bharatqr@example.com").await;
    app.put("/api/v1/merchant", Some(&t), json!({"display_name": "Chai & Co", "upi_vpa": "chai@okbank", "mcc": "5812", "city": "Mumbai"})).await;
    let (_, tea) = app
        .post(
            "/api/v1/products",
            Some(&t),
            json!({"name": "Masala chai", "price": "20"}),
        )
        .await;
    let tea_id = tea["id"].as_str().unwrap();
    let (_, large) = app
        .post(
            "/api/v1/products",
            Some(&t),
            json!({"name": "Large", "price": "35.50", "parent_id": tea_id}),
        )
        .await;
    let large_id = large["id"].as_str().unwrap();

    // Basic: payer enters the amount (static point of initiation, no tag 54); the seed's
    // qrCodeData fields become the additional data's labels.
    let basic = create_and_scan(&app, &t, json!({"name": "Counter", "qr_type": "payment", "dynamic": false,
        "data": {"journey_type": "basic", "format": "emvco", "label": "Store Counter 1", "location": "Mumbai Store"}}), None).await;
    assert_eq!(basic["data"]["format"], "emvco");
    let d = decode_emvco(basic["payload"].as_str().unwrap());
    assert_eq!(d["00"], "01");
    assert_eq!(d["01"], "11");
    assert_eq!(d["26"]["00"], "A000000524");
    assert_eq!(d["26"]["01"], "chai@okbank");
    assert_eq!(d["52"], "5812");
    assert_eq!(d["53"], "356");
    assert_eq!(d.get("54"), None);
    assert_eq!(d["58"], "IN");
    assert_eq!(d["59"], "Chai & Co");
    assert_eq!(d["60"], "Mumbai");
    assert_eq!(d["62"]["07"], "Store Counter 1");
    assert_eq!(d["62"]["03"], "Mumbai Store");
    assert!(d["62"]["05"].as_str().unwrap().starts_with("QR"), "{d}");

    // Product without an amount: the product's price is the amount (both formats).
    let prod = create_and_scan(
        &app,
        &t,
        json!({"name": "Chai", "qr_type": "payment", "dynamic": false,
        "data": {"journey_type": "productBased", "product_id": tea_id, "format": "emvco"}}),
        None,
    )
    .await;
    let d = decode_emvco(prod["payload"].as_str().unwrap());
    assert_eq!(
        (d["01"].as_str(), d["54"].as_str()),
        (Some("12"), Some("20.00"))
    );
    assert!(d["62"]["05"].as_str().unwrap().starts_with('P'), "{d}");
    let upi = create_and_scan(
        &app,
        &t,
        json!({"name": "Chai UPI", "qr_type": "payment", "dynamic": false,
        "data": {"journey_type": "productBased", "product_id": tea_id}}),
        None,
    )
    .await;
    assert!(
        upi["payload"].as_str().unwrap().contains("&am=20.00&"),
        "{upi}"
    );
    assert_eq!(upi["data"].get("format"), None, "the default is not stored");
    // Variant with its own fixed amount: the code's amount wins over the price.
    let var = create_and_scan(&app, &t, json!({"name": "Large", "qr_type": "payment", "dynamic": false,
        "data": {"journey_type": "variantBased", "variant_id": large_id, "amount": 30, "format": "emvco"}}), None).await;
    let d = decode_emvco(var["payload"].as_str().unwrap());
    assert_eq!(d["54"], "30.00");
    assert!(d["62"]["05"].as_str().unwrap().starts_with('V'), "{d}");
    // The journey rules hold for EMVCo as for UPI; an unknown format is refused by name.
    let (s, b) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "x", "qr_type": "payment", "dynamic": false,
        "data": {"journey_type": "productBased", "format": "emvco"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["error"]["fields"]["data.product_id"].is_string(), "{b}");
    let (s, _) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "x", "qr_type": "payment", "dynamic": false,
        "data": {"journey_type": "basic", "format": "sepa"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // A dynamic EMVCo code's landing page still offers a UPI link (a link, not a scanner payload).
    let (_, dynamic) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "Dyn", "qr_type": "payment", "dynamic": true,
        "data": {"journey_type": "basic", "format": "emvco"}}),
        )
        .await;
    let page = app
        .http
        .get(app.url(&format!("/r/{}", dynamic["short_code"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("upi://pay?pa=chai%40okbank"), "{page}");
    app.stop().await.unwrap();
}
