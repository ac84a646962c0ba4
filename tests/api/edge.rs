//! The HTTP edge as odd clients meet it: HEAD, wrong methods, NUL characters, very long URIs,
//! and posts that are not the form a page expects. Every answer is the documented shape: JSON
//! errors on the API, HTML pages on `/r/…`, never actix's plain text.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, eventually};

async fn raw(app: &TestApp, method: Method, path: &str) -> reqwest::Response {
    app.http
        .request(method, app.url(path))
        .send()
        .await
        .unwrap()
}

fn json_error(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    assert!(v["error"]["code"].is_string(), "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    v
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = TestApp::spawn().await;
    for path in [
        "/healthz",
        "/readyz",
        "/api/openapi.json",
        "/api/v1/billing/plans",
    ] {
        let get = raw(&app, Method::GET, path).await;
        let head = raw(&app, Method::HEAD, path).await;
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        assert_eq!(
            head.headers()["content-type"],
            get.headers()["content-type"],
            "HEAD {path}"
        );
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    // A HEAD on a secured route is refused like a GET would be.
    let head = raw(&app, Method::HEAD, "/api/v1/qr-codes").await;
    assert_eq!(head.status(), StatusCode::UNAUTHORIZED);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn head_on_a_live_short_link_redirects_and_counts_no_scan() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("head@example.com").await;
    let (s, qr) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "H", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/h"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{qr}");
    let (id, code) = (
        qr["id"].as_str().unwrap(),
        qr["short_code"].as_str().unwrap(),
    );
    for _ in 0..3 {
        let res = raw(&app, Method::HEAD, &format!("/r/{code}")).await;
        assert_eq!(
            res.status(),
            StatusCode::FOUND,
            "a link checker sees a live link"
        );
        assert_eq!(res.headers()["location"], "https://example.com/h");
    }
    // An unknown code is still dead for HEAD.
    let res = raw(&app, Method::HEAD, "/r/zzzzzzzz").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // One real scan after the three HEADs: exactly one is counted.
    assert_eq!(
        raw(&app, Method::GET, &format!("/r/{code}")).await.status(),
        StatusCode::FOUND
    );
    eventually("the GET is counted", || async {
        let (_, q) = app.get(&format!("/api/v1/qr-codes/{id}"), Some(&t)).await;
        (q["scans_total"] == 1).then_some(())
    })
    .await;
    let ch = qrsaas::analytics::client(&app.settings);
    let n: u64 = ch
        .query("SELECT count() FROM scan_events WHERE qr_id = toUUID(?)")
        .bind(id)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 1, "HEADs are not scans");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn wrong_methods_answer_405_with_allow() {
    let app = TestApp::spawn().await;
    for (method, path, allow) in [
        (Method::POST, "/healthz", "GET, HEAD"),
        (Method::DELETE, "/api/v1/qr-codes", "GET, HEAD, POST"),
        (Method::PUT, "/api/v1/auth/login", "POST"),
        (
            Method::POST,
            "/api/v1/qr-codes/0191f3c4-0000-7000-8000-000000000000",
            "DELETE, GET, HEAD, PATCH",
        ),
    ] {
        let res = raw(&app, method.clone(), path).await;
        assert_eq!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        let body = json_error(&res.text().await.unwrap());
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
    // Paths that exist under no method stay 404, in the JSON shape.
    let res = raw(&app, Method::GET, "/api/v1/nothing-here").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json_error(&res.text().await.unwrap())["error"]["code"],
        "not_found"
    );
    // Short links: HTML pages, with Allow.
    let res = raw(&app, Method::DELETE, "/r/abcdefgh").await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD, POST");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let res = raw(&app, Method::POST, "/r/abcdefgh/download").await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn long_uris_nul_queries_and_bad_forms_get_the_documented_shape() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("edge@example.com").await;
    // 100k characters: refused by the parser or by us, never a 500; 9k: 414 in JSON.
    let long = format!("/api/v1/qr-codes?q={}", "a".repeat(9_000));
    let res = app
        .http
        .get(app.url(&long))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::URI_TOO_LONG);
    assert_eq!(
        json_error(&res.text().await.unwrap())["error"]["code"],
        "uri_too_long"
    );
    let res = raw(&app, Method::GET, &format!("/r/{}", "a".repeat(9_000))).await;
    assert_eq!(res.status(), StatusCode::URI_TOO_LONG);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let huge = format!("/api/v1/qr-codes?q={}", "a".repeat(100_000));
    let res = app.http.get(app.url(&huge)).bearer_auth(&t).send().await;
    if let Ok(res) = res {
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    // NUL in a query parameter: 400 in the JSON shape, not a database error.
    let (s, b) = app.get("/api/v1/qr-codes?q=a%00b", Some(&t)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["code"], "bad_request");
    // The service still answers normally after all of it.
    assert_eq!(
        app.get("/api/v1/qr-codes?q=ab", Some(&t)).await.0,
        StatusCode::OK
    );

    // Unlock posts that are not the password form: HTML pages with the right status.
    let (_, qr) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "P", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/p",
                   "rules": [{"if": {}, "then": {"password": "open sesame"}}]}),
        )
        .await;
    let path = format!("/r/{}", qr["short_code"].as_str().unwrap());
    let res = app
        .http
        .post(app.url(&path))
        .header("content-type", "text/plain")
        .body("password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let res = app
        .http
        .post(app.url(&path))
        .form(&[("nothing", "here")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(res.text().await.unwrap().contains("could not be read"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn targets_that_loop_back_or_reach_inside_are_refused() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("loops@example.com").await;
    let port = url::Url::parse(&app.base).unwrap().port().unwrap();
    let own = url::Url::parse(&app.settings.public_base_url).unwrap();
    let own_host = own.host_str().unwrap();
    let create = |target: String| {
        let app = &app;
        let t = &t;
        async move {
            app.post(
                "/api/v1/qr-codes",
                Some(t),
                json!({"name": "L", "qr_type": "url", "dynamic": true, "target_url": target}),
            )
            .await
        }
    };
    for target in [
        format!("http://localhost:{port}/r/x"),
        format!("http://localhost.:{port}/r/x"),
        format!("http://[::1]:{port}/r/x"),
        format!("http://0.0.0.0:{port}/r/x"),
        format!("http://0:{port}/r/x"),
        format!("http://127.0.0.2:{port}/r/x"),
        format!("http://[::ffff:127.0.0.1]:{port}/r/x"),
        format!("https://{own_host}./r/x"),
        "http://example..com/".into(),
        "http://-example.com/".into(),
        "http://*.example.com/".into(),
        "http://example.com:0/".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://10.1.2.3/".into(),
    ] {
        let (s, b) = create(target.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{target}: {b}");
        assert!(
            b["error"]["fields"]["target_url"].is_string(),
            "{target}: {b}"
        );
    }
    // Redirect rules and retargeting follow the same policy.
    let (s, qr) = create("https://example.com/ok".into()).await;
    assert_eq!(s, StatusCode::CREATED, "{qr}");
    let id = qr["id"].as_str().unwrap();
    let (s, b) = app
        .patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&t),
            json!({"target_url": format!("http://127.0.0.1:{port}/r/x")}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = app
        .patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&t),
            json!({"rules": [{"if": {}, "then": {"redirect": "http://[::]/"}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b["error"]["fields"]["rules[0].then.redirect"].is_string(),
        "{b}"
    );
    app.stop().await.unwrap();

    // An operator on a private network may allow private targets — but never loops.
    let app = TestApp::spawn_with(|s| s.targets.allow_private = true).await;
    let (t, _) = app.register("onprem@example.com").await;
    let (s, b) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "L", "qr_type": "url", "dynamic": true, "target_url": "http://10.1.2.3/wiki"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, _) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "L", "qr_type": "url", "dynamic": true, "target_url": "http://127.0.0.1/"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn made_up_short_codes_spend_a_per_address_budget_live_ones_never_do() {
    let app = TestApp::spawn_with(|s| {
        s.redirect_lookups_per_minute = 5;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let (t, _) = app.register("budget@example.com").await;
    let (_, qr) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "B", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/b"}),
        )
        .await;
    let live = format!("/r/{}", qr["short_code"].as_str().unwrap());
    let from = |ip: &'static str, path: String| {
        let req = app.http.get(app.url(&path)).header("x-forwarded-for", ip);
        async move { req.send().await.unwrap() }
    };
    // Live codes never spend the budget, however many an address looks up.
    assert_eq!(
        from("198.51.100.7", live.clone()).await.status(),
        StatusCode::FOUND
    );
    for i in 0..5 {
        let res = from("198.51.100.7", format!("/r/madeup{i:02}")).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    // Budget spent: a new made-up code is refused without a query, as a page with Retry-After;
    // a code already looked up (missing or live) is still answered from the cache.
    let res = from("198.51.100.7", "/r/madeup99".into()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "60");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(
        from("198.51.100.7", "/r/madeup00".into()).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        from("198.51.100.7", live.clone()).await.status(),
        StatusCode::FOUND
    );
    // Another address has its own budget.
    assert_eq!(
        from("198.51.100.8", "/r/madeup99".into()).await.status(),
        StatusCode::NOT_FOUND
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("redirect_lookups_refused_total 1"),
        "{metrics}"
    );
    app.stop().await.unwrap();
}
