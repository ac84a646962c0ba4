//! `/r/{code}`: redirects, statuses, landing pages, caching across replicas, and scans flowing
//! through the queue into ClickHouse and usage.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, eventually};

async fn scan(app: &TestApp, path: &str, ua: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .header("user-agent", ua)
        .send()
        .await
        .unwrap()
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, qr) = app.post("/api/v1/qr-codes", Some(token), body).await;
    assert_eq!(s, StatusCode::CREATED, "{qr}");
    qr
}

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const WHATSAPP: &str = "WhatsApp/2.23.20.0 A";

#[tokio::test]
async fn redirects_statuses_and_landing_pages() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("redirect@example.com").await;
    let qr = create(&app, &t, json!({"name": "Menu", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/menu?x=1"})).await;
    let (id, code) = (
        qr["id"].as_str().unwrap(),
        qr["short_code"].as_str().unwrap(),
    );
    let path = format!("/r/{code}");

    let res = scan(&app, &format!("{path}?src=poster"), IPHONE).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        res.headers()["location"],
        "https://example.com/menu?x=1&src=poster"
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    // Retargeted: the next scan goes to the new place.
    app.patch(
        &format!("/api/v1/qr-codes/{id}"),
        Some(&t),
        json!({"target_url": "https://example.org/new"}),
    )
    .await;
    assert_eq!(
        scan(&app, &path, IPHONE).await.headers()["location"],
        "https://example.org/new"
    );
    // Paused: a page, not a redirect; and back.
    app.patch(
        &format!("/api/v1/qr-codes/{id}"),
        Some(&t),
        json!({"status": "paused"}),
    )
    .await;
    let res = scan(&app, &path, IPHONE).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("is paused"));
    app.patch(
        &format!("/api/v1/qr-codes/{id}"),
        Some(&t),
        json!({"status": "active"}),
    )
    .await;
    assert_eq!(scan(&app, &path, IPHONE).await.status(), StatusCode::FOUND);

    // Unknown codes: 404 page (then negatively cached); creating that alias makes it resolve.
    let res = scan(&app, "/r/later-code", IPHONE).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    create(&app, &t, json!({"name": "Later", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/later", "alias": "later-code"})).await;
    assert_eq!(
        scan(&app, "/r/later-code", IPHONE).await.headers()["location"],
        "https://example.com/later"
    );
    assert_eq!(
        scan(&app, "/r/..%2Fetc", IPHONE).await.status(),
        StatusCode::NOT_FOUND
    );

    // Deleted: 404. Blocked by an admin: 410, and its owner cannot change it.
    let gone = create(&app, &t, json!({"name": "Gone", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/gone"})).await;
    app.delete(
        &format!("/api/v1/qr-codes/{}", gone["id"].as_str().unwrap()),
        Some(&t),
    )
    .await;
    assert_eq!(
        scan(
            &app,
            &format!("/r/{}", gone["short_code"].as_str().unwrap()),
            IPHONE
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let (admin, _) = app.register("ops@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "ops@example.com")
        .await
        .unwrap();
    eventually("promotion", || async {
        (app.get("/api/v1/me", Some(&admin)).await.1["role"] == "admin").then_some(())
    })
    .await;
    assert_eq!(
        app.post(&format!("/api/v1/qr-codes/{id}/block"), Some(&t), json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/admin/qr-codes/{id}/block"),
            Some(&t),
            json!({})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/admin/qr-codes/{id}/block"),
            Some(&admin),
            json!({})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(scan(&app, &path, IPHONE).await.status(), StatusCode::GONE);
    assert_eq!(
        app.patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&t),
            json!({"name": "x"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn landing_pages_and_downloads_for_every_non_url_type() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("landing@example.com").await;
    app.put(
        "/api/v1/merchant",
        Some(&t),
        json!({"display_name": "Chai & Co", "upi_vpa": "chai@okbank"}),
    )
    .await;
    let cases = [
        (
            json!({"qr_type": "vcard", "data": {"first_name": "Ann", "last_name": "Lee", "phones": ["+15550100"], "emails": ["ann@acme.io"]}}),
            vec!["Ann Lee", "tel:+15550100", "Save contact"],
        ),
        (
            json!({"qr_type": "event", "data": {"summary": "Launch <party>", "start": "2026-12-01T18:00:00Z", "end": "2026-12-01T20:00:00Z"}}),
            vec!["Launch &lt;party&gt;", "Add to calendar"],
        ),
        (
            json!({"qr_type": "wifi", "data": {"ssid": "CafeNet", "password": "s3cret-pass", "encryption": "WPA"}}),
            vec!["CafeNet", "s3cret-pass", "Copy password"],
        ),
        (
            json!({"qr_type": "payment", "data": {"journey_type": "basic", "amount": "99", "label": "Table 4"}}),
            vec![
                "Pay Chai &amp; Co",
                "upi://pay?pa=chai%40okbank",
                "₹99.00",
                "Table 4",
            ],
        ),
        (
            json!({"qr_type": "text", "data": {"text": "Hello there"}}),
            vec!["Hello there"],
        ),
        (
            json!({"qr_type": "email", "data": {"to": "hi@example.com"}}),
            vec!["mailto:hi@example.com"],
        ),
        (
            json!({"qr_type": "phone", "data": {"number": "+15550100"}}),
            vec!["tel:+15550100"],
        ),
        (
            json!({"qr_type": "sms", "data": {"number": "+15550100", "message": "hi"}}),
            vec!["sms:+15550100"],
        ),
        (
            json!({"qr_type": "geo", "data": {"lat": 12.5, "lng": 77.25}}),
            vec!["geo:12.5,77.25"],
        ),
    ];
    for (body, expected) in cases {
        let mut b = body.clone();
        b["name"] = json!("Landing");
        b["dynamic"] = json!(true);
        let qr = create(&app, &t, b).await;
        let res = scan(
            &app,
            &format!("/r/{}", qr["short_code"].as_str().unwrap()),
            IPHONE,
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{body}");
        assert!(
            res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        let html = res.text().await.unwrap();
        for e in expected {
            assert!(html.contains(e), "{body}: {e} not in {html}");
        }
        assert!(
            !html.contains("https://cdn") && !html.contains("<script src"),
            "no external assets"
        );
    }
    // The download buttons serve the same content a static code would encode.
    let vcard = create(&app, &t, json!({"name": "V", "qr_type": "vcard", "dynamic": true, "data": {"first_name": "Ann", "organization": "A, B"}})).await;
    let twin = create(&app, &t, json!({"name": "V", "qr_type": "vcard", "dynamic": false, "data": {"first_name": "Ann", "organization": "A, B"}})).await;
    let res = scan(
        &app,
        &format!("/r/{}/download", vcard["short_code"].as_str().unwrap()),
        IPHONE,
    )
    .await;
    assert_eq!(res.headers()["content-type"], "text/vcard; charset=utf-8");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".vcf")
    );
    assert_eq!(res.text().await.unwrap(), twin["payload"].as_str().unwrap());
    let event = create(&app, &t, json!({"name": "E", "qr_type": "event", "dynamic": true, "data": {"summary": "S", "start": "2026-12-01T18:00:00Z", "end": "2026-12-01T19:00:00Z"}})).await;
    let res = scan(
        &app,
        &format!("/r/{}/download", event["short_code"].as_str().unwrap()),
        IPHONE,
    )
    .await;
    assert_eq!(
        res.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    assert!(res.text().await.unwrap().starts_with("BEGIN:VCALENDAR\r\n"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_retarget_on_one_replica_redirects_on_the_other() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    let (t, _) = a.register("replica-redirect@example.com").await;
    let qr = create(&a, &t, json!({"name": "R", "qr_type": "url", "dynamic": true, "target_url": "https://one.example.com/"})).await;
    let path = format!("/r/{}", qr["short_code"].as_str().unwrap());
    assert_eq!(
        scan(&b, &path, IPHONE).await.headers()["location"],
        "https://one.example.com/"
    );
    a.patch(
        &format!("/api/v1/qr-codes/{}", qr["id"].as_str().unwrap()),
        Some(&t),
        json!({"target_url": "https://two.example.com/"}),
    )
    .await;
    let started = std::time::Instant::now();
    eventually("replica B to follow the new target", || async {
        (scan(&b, &path, IPHONE).await.headers()["location"] == "https://two.example.com/")
            .then_some(())
    })
    .await;
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(1),
        "took {waited:?}"
    );
    b.stop().await.unwrap();
    a.stop().await.unwrap();
}

#[tokio::test]
async fn scans_reach_clickhouse_enriched_and_are_counted() {
    let app =
        TestApp::spawn_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let (t, user_id) = app.register("scans@example.com").await;
    let qr = create(&app, &t, json!({"name": "S", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/"})).await;
    let (id, code) = (
        qr["id"].as_str().unwrap().to_owned(),
        qr["short_code"].as_str().unwrap().to_owned(),
    );
    for (ua, n) in [(IPHONE, 10), (ANDROID, 6), (WINDOWS, 4), (WHATSAPP, 5)] {
        for _ in 0..n {
            let res = app
                .http
                .get(app.url(&format!("/r/{code}")))
                .header("user-agent", ua)
                .header("x-forwarded-for", "203.0.113.77")
                .header("cf-ipcountry", "in")
                .header("referer", "https://news.example.com/")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::FOUND);
        }
    }
    let ch = qrsaas::analytics::client(&app.settings);
    #[derive(clickhouse::Row, serde::Deserialize, Debug)]
    struct Dim {
        key: String,
        n: u64,
    }
    let by = |dim: &'static str| {
        let ch = ch.clone();
        let id = id.clone();
        async move {
            let mut v = ch
                .query(&format!("SELECT toString({dim}) AS key, count() AS n FROM scan_events WHERE qr_id = toUUID(?) GROUP BY key ORDER BY key"))
                .bind(&id)
                .fetch_all::<Dim>()
                .await
                .unwrap();
            v.sort_by(|a, b| a.key.cmp(&b.key));
            v.into_iter().map(|d| (d.key, d.n)).collect::<Vec<_>>()
        }
    };
    eventually("25 scans in ClickHouse", || async {
        let total: u64 = by("short_code").await.iter().map(|(_, n)| n).sum();
        (total == 25).then_some(())
    })
    .await;
    let s = |v: &[(&str, u64)]| {
        v.iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        by("device_type").await,
        s(&[("bot", 5), ("desktop", 4), ("mobile", 16)])
    );
    assert_eq!(by("is_bot").await, s(&[("0", 20), ("1", 5)]));
    assert_eq!(by("country").await, s(&[("IN", 25)]));
    assert_eq!(
        by("ip").await,
        s(&[("203.0.113.0", 25)]),
        "client IP from the trusted proxy, anonymised"
    );
    assert_eq!(
        by("referrer").await,
        s(&[("https://news.example.com/", 25)]),
        "the seed's alias column works"
    );
    let browsers = by("browser").await;
    assert!(
        browsers.iter().any(|(b, n)| b == "Safari" && *n == 10),
        "{browsers:?}"
    );
    // Families people recognise, versions apart (an iPhone scan is iOS 17.0, not "iPhone").
    assert_eq!(
        by("os").await,
        s(&[("Android", 6), ("Windows", 4), ("iOS", 10), ("unknown", 5)])
    );
    assert_eq!(
        by("concat(os, ' ', os_version)").await,
        s(&[
            ("Android 14", 6),
            ("Windows 10", 4),
            ("iOS 17.0", 10),
            ("unknown ", 5)
        ])
    );
    assert_eq!(
        by("concat(browser, ' ', browser_version)").await,
        s(&[
            ("Chrome 120.0.0.0", 10),
            ("Safari 17.0", 10),
            ("unknown ", 5)
        ])
    );
    // Same IP and agent on the same day = one visitor: four agents here.
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Uniq {
        u: u64,
    }
    let uniq = ch
        .query("SELECT uniqExact(visitor_hash) AS u FROM scan_events WHERE qr_id = toUUID(?)")
        .bind(&id)
        .fetch_one::<Uniq>()
        .await
        .unwrap();
    assert_eq!(uniq.u, 4);
    // Usage and scans_total are counted once per scan.
    eventually("usage counted", || async {
        let used: Option<i64> =
            sqlx::query_scalar("SELECT scans_used FROM billing_usage WHERE user_id = $1::uuid")
                .bind(&user_id)
                .fetch_optional(&app.db)
                .await
                .unwrap();
        (used == Some(25)).then_some(())
    })
    .await;
    assert_eq!(
        app.get(&format!("/api/v1/qr-codes/{id}"), Some(&t)).await.1["scans_total"],
        25
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn rules_route_by_device_country_expiry_and_scan_limit() {
    let app =
        TestApp::spawn_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let (t, _) = app.register("rules@example.com").await;
    let rules = json!([
        {"if": {"device": ["ios"]}, "then": {"redirect": "https://apps.apple.com/app/x"}},
        {"if": {"country": ["in"]}, "then": {"redirect": "https://example.in/"}},
        {"if": {"scans_at_least": 3}, "then": "limit_reached"}
    ]);
    let qr = create(&app, &t, json!({"name": "Rules", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/", "rules": rules})).await;
    assert_eq!(qr["rules"].as_array().unwrap().len(), 3);
    assert_eq!(qr["rules"][1]["if"]["country"][0], "IN", "normalised");
    let (id, path) = (
        qr["id"].as_str().unwrap().to_owned(),
        format!("/r/{}", qr["short_code"].as_str().unwrap()),
    );
    let loc = |r: &reqwest::Response| {
        r.headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    assert_eq!(
        loc(&scan(&app, &path, IPHONE).await).as_deref(),
        Some("https://apps.apple.com/app/x")
    );
    let from_india = app
        .http
        .get(app.url(&path))
        .header("user-agent", ANDROID)
        .header("cf-ipcountry", "IN")
        .send()
        .await
        .unwrap();
    assert_eq!(loc(&from_india).as_deref(), Some("https://example.in/"));
    // Two scans so far; the third scan still passes, the fourth hits the limit.
    assert_eq!(
        loc(&scan(&app, &path, ANDROID).await).as_deref(),
        Some("https://example.com/")
    );
    let limited = scan(&app, &path, ANDROID).await;
    assert_eq!(limited.status(), StatusCode::GONE);
    assert!(limited.text().await.unwrap().contains("scan limit"));

    // Expiry, replacing the rules.
    let (s, _) = app
        .patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&t),
            json!({"rules": [{"if": {"after": "2020-01-01T00:00:00Z"}, "then": "expired"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let expired = scan(&app, &path, ANDROID).await;
    assert_eq!(expired.status(), StatusCode::GONE);
    assert!(expired.text().await.unwrap().contains("has expired"));
    // No rules: back to the target.
    app.patch(
        &format!("/api/v1/qr-codes/{id}"),
        Some(&t),
        json!({"rules": []}),
    )
    .await;
    assert_eq!(
        loc(&scan(&app, &path, ANDROID).await).as_deref(),
        Some("https://example.com/")
    );

    // Validation.
    let (s, b) = app
        .patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&t),
            json!({"rules": [{"if": {"device": ["ios"]}, "then": {"redirect": "javascript:x"}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]["fields"]["rules[0].then.redirect"].is_string(),
        "{b}"
    );
    let (s, b) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "x", "qr_type": "text", "dynamic": false, "data": {"text": "a"}, "rules": [{"if": {"device": ["ios"]}, "then": "expired"}]}))
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["rules"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("rules apply to dynamic codes")
        )
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn utm_parameters_are_added_to_redirects() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("utm@example.com").await;
    let qr = create(
        &app,
        &t,
        json!({"name": "U", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/menu?utm_source=own",
               "utm": {"source": "poster", "medium": "qr", "campaign": "spring sale"}}),
    )
    .await;
    assert_eq!(qr["utm"]["medium"], "qr");
    let path = format!("/r/{}", qr["short_code"].as_str().unwrap());
    let res = scan(&app, &format!("{path}?ref=door"), IPHONE).await;
    assert_eq!(
        res.headers()["location"],
        "https://example.com/menu?utm_source=own&utm_medium=qr&utm_campaign=spring+sale&ref=door",
        "the target's own utm_source wins; the scan's query comes last"
    );
    let id = qr["id"].as_str().unwrap();
    let (s, _) = app
        .patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&t),
            json!({"utm": {"campaign": "summer"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        scan(&app, &path, IPHONE).await.headers()["location"],
        "https://example.com/menu?utm_source=own&utm_campaign=summer"
    );
    let (s, b) = app
        .patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&t),
            json!({"utm": {"source": ""}}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["utm.source"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let (s, b) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "x", "qr_type": "text", "dynamic": true, "data": {"text": "a"}, "utm": {"source": "x"}}))
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["utm"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn password_protected_codes_ask_once_check_server_side_and_rate_limit() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("locked@example.com").await;
    let qr = create(
        &app,
        &t,
        json!({"name": "Secret card", "qr_type": "vcard", "dynamic": true,
               "data": {"first_name": "Asha", "last_name": "Rao", "phones": ["+911234567890"]},
               "rules": [{"if": {}, "then": {"password": "open sesame"}}]}),
    )
    .await;
    let stored = qr["rules"][0]["then"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!qr.to_string().contains("open sesame"));
    let (id, code) = (
        qr["id"].as_str().unwrap().to_owned(),
        qr["short_code"].as_str().unwrap().to_owned(),
    );
    let path = format!("/r/{code}");
    let browser = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap()
    };
    let phone = browser();
    let get = |c: &reqwest::Client, p: String| {
        let req = c.get(app.url(&p)).header("user-agent", IPHONE);
        async move { req.send().await.unwrap() }
    };
    let submit = |c: &reqwest::Client, pw: &str| {
        let req = c
            .post(app.url(&path))
            .header("user-agent", IPHONE)
            .form(&[("password", pw)]);
        async move { req.send().await.unwrap() }
    };

    // The form, not the card; the file is guarded too.
    let form = get(&phone, path.clone()).await;
    assert_eq!(form.status(), StatusCode::OK);
    let html = form.text().await.unwrap();
    assert!(
        html.contains("name=\"password\"") && !html.contains("Asha"),
        "{html}"
    );
    let file = get(&phone, format!("{path}/download")).await;
    assert!(!file.text().await.unwrap().contains("BEGIN:VCARD"));

    let wrong = submit(&phone, "guess").await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(wrong.text().await.unwrap().contains("Wrong password"));
    let right = submit(&phone, "open sesame").await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()["location"].to_str().unwrap(), path);
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && !cookie.contains("sesame"),
        "{cookie}"
    );
    let card = get(&phone, path.clone()).await;
    assert!(card.text().await.unwrap().contains("Asha"));
    let file = get(&phone, format!("{path}/download")).await;
    assert!(file.text().await.unwrap().contains("BEGIN:VCARD"));
    // A forged cookie does not open it.
    let forged = app
        .http
        .get(app.url(&path))
        .header("cookie", "qr_unlock=99999999999.00ff")
        .send()
        .await
        .unwrap();
    assert!(forged.text().await.unwrap().contains("name=\"password\""));

    // Writing the rules back as read keeps the password (and the unlock) ...
    let (s, kept) = app
        .patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&t),
            json!({"rules": qr["rules"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(kept["rules"][0]["then"]["password"], stored);
    eventually("the card after writing the rules back", || async {
        get(&phone, path.clone())
            .await
            .text()
            .await
            .unwrap()
            .contains("Asha")
            .then_some(())
    })
    .await;
    // Only the unlocked views were scans (two landing views; form views and files are not).
    eventually("two scans counted", || async {
        let (_, q) = app.get(&format!("/api/v1/qr-codes/{id}"), Some(&t)).await;
        (q["scans_total"] == 2).then_some(())
    })
    .await;
    // ... a new password locks earlier unlocks out.
    app.patch(
        &format!("/api/v1/qr-codes/{id}"),
        Some(&t),
        json!({"rules": [{"if": {}, "then": {"password": "new secret"}}]}),
    )
    .await;
    eventually("the form after the password change", || async {
        get(&phone, path.clone())
            .await
            .text()
            .await
            .unwrap()
            .contains("name=\"password\"")
            .then_some(())
    })
    .await;

    // Guessing is rate-limited per code and address: after 10 wrong answers (one above, nine
    // here) even the right one is refused for the window.
    let guesser = browser();
    for _ in 0..9 {
        assert_eq!(
            submit(&guesser, "nope").await.status(),
            StatusCode::FORBIDDEN
        );
    }
    let refused = submit(&guesser, "new secret").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.text().await.unwrap().contains("Too many attempts"));
    app.stop().await.unwrap();
}

/// The owner's `locale` picks the language of their codes' pages and of their e-mails; pages
/// that belong to no account follow the visitor's Accept-Language.
#[tokio::test]
async fn pages_and_emails_speak_the_owners_language() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("dukaan@example.com").await;
    app.put(
        "/api/v1/merchant",
        Some(&t),
        json!({"display_name": "Chai Wala", "upi_vpa": "chai@okbank"}),
    )
    .await;
    let pay = create(&app, &t, json!({"name": "Counter", "qr_type": "payment", "dynamic": true, "data": {"journey_type": "basic", "label": "Table 4"}})).await;
    let paused = create(&app, &t, json!({"name": "Menu", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/menu"})).await;
    let (s, _) = app
        .patch(
            &format!("/api/v1/qr-codes/{}", paused["id"].as_str().unwrap()),
            Some(&t),
            json!({"status": "paused"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let page = |code: &Value, accept: &'static str| {
        let req = app
            .http
            .get(app.url(&format!("/r/{}", code["short_code"].as_str().unwrap())))
            .header("user-agent", IPHONE)
            .header("accept-language", accept);
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    // English by default, whatever the visitor prefers.
    let html = page(&pay, "hi-IN").await;
    assert!(
        html.contains("<html lang=\"en\">")
            && html.contains("Pay with UPI")
            && html.contains("Enter the amount in your UPI app"),
        "{html}"
    );
    assert!(page(&paused, "hi").await.contains("Menu is paused"));

    let (s, b) = app
        .put(
            "/api/v1/settings",
            Some(&t),
            json!({"locale": "hi-IN", "timezone": "Asia/Kolkata"}),
        )
        .await;
    assert_eq!(
        (s, b["locale"].as_str()),
        (StatusCode::OK, Some("hi-IN")),
        "{b}"
    );
    // The owner's language on every replica's next request (the cached entries are dropped).
    let html = page(&pay, "en-US").await;
    assert!(html.contains("<html lang=\"hi\">"), "{html}");
    for text in [
        "Chai Wala को भुगतान करें",
        "UPI से भुगतान करें",
        "अपने UPI ऐप में राशि डालें",
        "Table 4",
        "इस कोड की शिकायत करें",
    ] {
        assert!(html.contains(text), "{text} not in {html}");
    }
    let html = page(&paused, "en-US").await;
    assert!(
        html.contains("Menu रोका गया है") && html.contains("मालिक ने इस कोड को रोक दिया है"),
        "{html}"
    );

    // A page of no account: the visitor's language.
    let missing = json!({"short_code": "nosuchcode"});
    assert!(
        page(&missing, "hi-IN,hi;q=0.9,en;q=0.5")
            .await
            .contains("यह कोड मौजूद नहीं है")
    );
    assert!(
        page(&missing, "de-DE,en;q=0.5")
            .await
            .contains("This code does not exist")
    );

    // E-mails in the owner's language: subject and body.
    let (s, _) = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": "dukaan@example.com"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let mail = eventually("the reset e-mail", || async {
        app.smtp
            .to("dukaan@example.com")
            .into_iter()
            .find(|m| m.subject() == "अपना qrsaas पासवर्ड रीसेट करें")
    })
    .await;
    let text = mail.text();
    assert!(
        text.contains("नमस्ते") && text.contains("नया पासवर्ड चुनने के लिए खोलें"),
        "{text}"
    );
    assert!(mail.html().contains("<html lang=\"hi\">"));
    assert!(
        mail.html().contains("<b>dukaan@example.com</b>"),
        "{}",
        mail.html()
    );
    app.stop().await.unwrap();
}

/// A/B codes: visitors are split by weight, each visitor keeps their variant all day, the
/// scans record it, and the code's analytics split by it.
#[tokio::test]
async fn weighted_targets_split_visitors_stickily_and_analytics_split_by_variant() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("ab@example.com").await;
    for (body, field) in [
        (
            json!({"targets": [{"url": "https://a.example/", "weight": 1}]}),
            "targets",
        ),
        (
            json!({"targets": [{"url": "https://a.example/", "weight": 0}, {"url": "https://b.example/", "weight": 1}]}),
            "targets[0].weight",
        ),
        (
            json!({"targets": [{"url": "https://a.example/", "weight": 1}, {"url": "ftp://b.example/", "weight": 1}]}),
            "targets[1].url",
        ),
        (
            json!({"target_url": "https://a.example/", "targets": [{"url": "https://a.example/", "weight": 1}, {"url": "https://b.example/", "weight": 1}]}),
            "targets",
        ),
    ] {
        let mut b = json!({"name": "ab", "qr_type": "url", "dynamic": true});
        b.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        let (s, r) = app.post("/api/v1/qr-codes", Some(&t), b.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {r}");
        assert!(r["error"]["fields"][field].is_string(), "{b}: {r}");
    }
    let (s, r) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "static", "qr_type": "url", "dynamic": false,
            "targets": [{"url": "https://a.example/", "weight": 1}, {"url": "https://b.example/", "weight": 1}]}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");

    let qr = create(&app, &t, json!({"name": "Landing test", "qr_type": "url", "dynamic": true,
        "targets": [{"url": "https://a.example/", "weight": 1}, {"url": "https://b.example/", "weight": 3}],
        "utm": {"source": "poster"}})).await;
    assert_eq!(qr["target_url"], "https://a.example/");
    assert_eq!(
        qr["targets"][1],
        json!({"url": "https://b.example/", "weight": 3})
    );
    let (id, code) = (
        qr["id"].as_str().unwrap().to_owned(),
        qr["short_code"].as_str().unwrap().to_owned(),
    );

    // 400 visitors (one agent each): about a quarter to A, the rest to B; a visitor who comes
    // back is sent where they went before.
    let mut seen = std::collections::HashMap::new();
    for i in 0..400 {
        let ua = format!("Mozilla/5.0 (visitor {i})");
        let res = scan(&app, &format!("/r/{code}"), &ua).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(to.ends_with("utm_source=poster"), "{to}");
        *seen
            .entry(to.split('?').next().unwrap().to_owned())
            .or_insert(0u64) += 1;
        if i % 50 == 0 {
            let again = scan(&app, &format!("/r/{code}"), &ua).await;
            assert_eq!(
                again.headers()["location"].to_str().unwrap(),
                to,
                "sticky for {ua}"
            );
            *seen.get_mut(to.split('?').next().unwrap()).unwrap() += 1;
        }
    }
    let a = seen["https://a.example/"];
    let b = seen["https://b.example/"];
    assert_eq!(a + b, 408);
    assert!((60..=150).contains(&a), "A got {a} of 408, B {b}");

    // Every scan recorded with its variant; the code's analytics split by it.
    let path =
        format!("/api/v1/qr-codes/{id}/analytics?include_bots=true&from=2026-01-01T00:00:00Z");
    let report = eventually("the 408 scans stored", || async {
        let (_, r) = app.get(&path, Some(&t)).await;
        (r["total"] == 408).then_some(r)
    })
    .await;
    assert_eq!(
        report["variants"],
        json!([{"key": "1", "scans": a}, {"key": "2", "scans": b}]),
        "{report}"
    );

    // One target again: the split ends, and the history keeps both.
    let (s, r) = app
        .patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&t),
            json!({"target_url": "https://c.example/"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r.get("targets"), None);
    let res = scan(&app, &format!("/r/{code}"), "Mozilla/5.0 (visitor 3)").await;
    assert_eq!(
        res.headers()["location"],
        "https://c.example/?utm_source=poster"
    );
    let (_, versions) = app
        .get(&format!("/api/v1/qr-codes/{id}/versions"), Some(&t))
        .await;
    assert_eq!(
        versions["items"][0]["changes"]["targets"]["to"],
        Value::Null
    );
    assert_eq!(
        versions["items"][0]["changes"]["targets"]["from"][1]["weight"],
        3
    );
    app.stop().await.unwrap();
}

/// A rule can split too: iPhones between two app-store pages, everyone else to the target.
#[tokio::test]
async fn a_rule_can_split_its_scanners_between_weighted_targets() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("splitrule@example.com").await;
    let (s, r) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "x", "qr_type": "url", "dynamic": true, "target_url": "https://site.example/",
            "rules": [{"if": {"device": ["ios"]}, "then": {"split": [{"url": "https://a.example/", "weight": 1}, {"url": "javascript:x", "weight": 1}]}}]}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert!(
        r["error"]["fields"]["rules[0].then.split[1].url"].is_string(),
        "{r}"
    );
    let qr = create(&app, &t, json!({"name": "App", "qr_type": "url", "dynamic": true, "target_url": "https://site.example/",
        "rules": [{"if": {"device": ["ios"]}, "then": {"split": [{"url": "https://apps.example/a", "weight": 1}, {"url": "https://apps.example/b", "weight": 1}]}}]})).await;
    let code = qr["short_code"].as_str().unwrap().to_owned();
    let mut seen = std::collections::BTreeMap::new();
    for i in 0..100 {
        let ua = format!("{IPHONE} v{i}");
        let to = scan(&app, &format!("/r/{code}"), &ua).await.headers()["location"]
            .to_str()
            .unwrap()
            .to_owned();
        *seen.entry(to).or_insert(0) += 1;
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["https://apps.example/a", "https://apps.example/b"],
        "{seen:?}"
    );
    assert!(seen.values().all(|n| *n >= 25), "{seen:?}");
    assert_eq!(
        scan(&app, &format!("/r/{code}"), WINDOWS).await.headers()["location"],
        "https://site.example/"
    );
    // The scans record the rule's variant; the report splits by it.
    let path = format!(
        "/api/v1/qr-codes/{}/analytics?include_bots=true&from=2026-01-01T00:00:00Z",
        qr["id"].as_str().unwrap()
    );
    let report = eventually("the 101 scans stored", || async {
        let (_, r) = app.get(&path, Some(&t)).await;
        (r["total"] == 101).then_some(r)
    })
    .await;
    assert_eq!(
        report["variants"],
        json!([{"key": "1", "scans": seen["https://apps.example/a"]}, {"key": "2", "scans": seen["https://apps.example/b"]}]),
        "{report}"
    );
    app.stop().await.unwrap();
}
