//! Billing: the plan catalogue, limits that hold (also under concurrency) and never lose data,
//! credits, the usage meter, and Stripe — checkout, portal, webhooks (verified, replayed,
//! shuffled), grace periods and metered overage — against a fake Stripe on a real socket.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use futures::future::join_all;
use qrsaas_jobs::{IngestScans, MaintenanceTask, ScanEvent};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::stripe::{self, FakeStripe, WEBHOOK_SECRET, deliver, event};
use crate::common::{TestApp, eventually};
use crate::jobs::scheduler;

/// A catalogue with small limits, so tests reach them.
const PLANS: &str = r#"
currency = "INR"

[[plans]]
id = "free"
name = "Free"
price_monthly = "0.00"
price_yearly = "0.00"
[plans.limits]
dynamic_codes = 2
codes_per_month = 4
scans_per_month = 10
exports_per_month = 1
projects = 1
api_keys = 1
webhook_endpoints = 1
retention_days = 30
[plans.credit_rates]
code = 1
scans_1000 = 1
export = 1

[[plans]]
id = "pro"
name = "Pro"
price_monthly = "999.00"
price_yearly = "9990.00"
features = ["white_label", "password_protection", "redirect_rules"]
[plans.limits]
dynamic_codes = 50
codes_per_month = 50
scans_per_month = 3
exports_per_month = 10
projects = 10
api_keys = 10
[plans.stripe]
price_monthly = "price_pro_month"
price_yearly = "price_pro_year"
overage_price = "price_pro_over"
meter_event = "qrsaas_scans_overage"

[[plans]]
id = "business"
name = "Business"
price_monthly = "4999.00"
price_yearly = "49990.00"
features = ["white_label", "password_protection", "redirect_rules", "custom_domains"]
[plans.stripe]
price_monthly = "price_business_month"
price_yearly = "price_business_year"

[[plans]]
id = "self_hosted"
name = "Self-hosted"
price_monthly = "0.00"
price_yearly = "0.00"
features = ["white_label", "password_protection", "redirect_rules", "custom_domains"]

[[credit_packs]]
id = "credits_10"
credits = 10
price = "99.00"
stripe_price = "price_credits_10"
"#;

/// An app selling the test catalogue (default plan `free`), with Stripe when `fake` is given.
async fn spawn(fake: Option<&FakeStripe>) -> TestApp {
    spawn_tweaked(fake, |_| {}).await
}

async fn spawn_tweaked(
    fake: Option<&FakeStripe>,
    tweak: impl FnOnce(&mut qrsaas::config::Settings) + Send + 'static,
) -> TestApp {
    let path = std::env::temp_dir().join(format!("qrsaas-plans-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, PLANS).unwrap();
    let base = fake.map(|f| f.base.clone());
    TestApp::spawn_with(move |s| {
        s.billing.plans_file = Some(path);
        s.billing.default_plan = "free".into();
        if let Some(base) = base {
            s.stripe.secret_key = Some(stripe::SECRET_KEY.into());
            s.stripe.api_base = base;
            // The old secret is still accepted while it is rolled.
            s.stripe.webhook_secrets = vec!["whsec_test_old".into(), WEBHOOK_SECRET.into()];
            s.stripe.success_url = Some("https://app.example.com/billing/done".into());
        }
        tweak(s);
    })
    .await
}

async fn code(app: &TestApp, token: &str, dynamic: bool) -> (StatusCode, Value) {
    app.post(
        "/api/v1/qr-codes",
        Some(token),
        if dynamic {
            json!({"name": "d", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/d"})
        } else {
            json!({"name": "s", "qr_type": "text", "dynamic": false, "data": {"text": "hello"}})
        },
    )
    .await
}

/// `fields` of a 402, as (limit, value, usage, plan).
fn refusal(body: &Value) -> (String, String, String, String) {
    assert_eq!(body["error"]["code"], "plan_limit_reached", "{body}");
    let f = &body["error"]["fields"];
    let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
    (s("limit"), s("value"), s("usage"), s("plan"))
}

fn feature_missing(body: &Value) -> String {
    assert_eq!(body["error"]["code"], "plan_feature_missing", "{body}");
    body["error"]["fields"]["feature"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn admin(app: &TestApp) -> String {
    let (t, _) = app.register("operator@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "operator@example.com")
        .await
        .unwrap();
    eventually("the operator's new role", || async {
        (app.get("/api/v1/me", Some(&t)).await.1["role"] == "admin").then_some(())
    })
    .await;
    t
}

async fn subscription(app: &TestApp, token: &str) -> Value {
    let (s, b) = app.get("/api/v1/billing/subscription", Some(token)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

fn mails(app: &TestApp, to: &str, subject: &str) -> usize {
    app.smtp
        .to(to)
        .iter()
        .filter(|m| m.subject().contains(subject))
        .count()
}

fn session_id(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// Checkout → the customer pays → Stripe's three events. Answers the subscription id.
async fn subscribe(
    app: &TestApp,
    fake: &FakeStripe,
    token: &str,
    plan: &str,
    interval: &str,
) -> String {
    let (s, b) = app
        .post(
            "/api/v1/billing/checkout",
            Some(token),
            json!({"plan_id": plan, "interval": interval}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let session = session_id(b["url"].as_str().unwrap());
    let sub = fake.complete_checkout(&session).unwrap();
    for body in [
        event("checkout.session.completed", fake.session_object(&session)),
        event("customer.subscription.created", fake.sub_object(&sub)),
        event("invoice.paid", fake.invoice_object(&sub, true)),
    ] {
        assert_eq!(
            deliver(&app.http, &app.base, &body, WEBHOOK_SECRET).await,
            StatusCode::OK
        );
    }
    sub
}

#[tokio::test]
async fn plans_are_public_and_a_self_hosted_install_has_no_limits_and_no_billing() {
    let app = TestApp::spawn().await;
    let (s, plans) = app.get("/api/v1/billing/plans", None).await;
    assert_eq!(s, StatusCode::OK, "{plans}");
    let ids: Vec<&str> = plans["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["free", "pro", "business", "self_hosted"]);
    assert_eq!(plans["default_plan"], "self_hosted");
    let (free, pro, sh) = (&plans["items"][0], &plans["items"][1], &plans["items"][3]);
    assert_eq!(
        (
            free["price_monthly"].as_str(),
            pro["price_monthly"].as_str(),
            pro["currency"].as_str()
        ),
        (Some("0.00"), Some("999.00"), Some("INR"))
    );
    assert_eq!(free["limits"]["scans_per_month"], 1000);
    assert_eq!(
        (free["purchasable"].as_bool(), pro["purchasable"].as_bool()),
        (Some(false), Some(true))
    );
    for limit in [
        "dynamic_codes",
        "codes_per_month",
        "scans_per_month",
        "exports_per_month",
        "projects",
        "api_keys",
        "webhook_endpoints",
        "domains",
        "retention_days",
    ] {
        assert!(
            sh["limits"][limit].is_null(),
            "self_hosted {limit} is unlimited: {sh}"
        );
        assert!(
            free["limits"][limit].is_number(),
            "free {limit} is limited: {free}"
        );
    }
    assert_eq!(sh["features"].as_array().unwrap().len(), 4);

    let (t, _) = app.register("selfhost@example.com").await;
    let sub = subscription(&app, &t).await;
    assert_eq!(
        (
            sub["plan"].as_str(),
            sub["source"].as_str(),
            sub["status"].as_str()
        ),
        (Some("self_hosted"), Some("default"), Some("none"))
    );
    // No limits: more projects and keys than any sold plan's free tier allows.
    for i in 0..3 {
        let (s, b) = app
            .post(
                "/api/v1/projects",
                Some(&t),
                json!({"name": format!("p{i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, b) = app
            .post(
                "/api/v1/api-keys",
                Some(&t),
                json!({"name": format!("k{i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    // Without a Stripe key: 503 billing_disabled, and webhooks are refused unsigned.
    for (path, body) in [
        (
            "/api/v1/billing/checkout",
            json!({"plan_id": "pro", "interval": "month"}),
        ),
        ("/api/v1/billing/portal", json!({})),
        (
            "/api/v1/billing/credits/checkout",
            json!({"pack_id": "credits_100"}),
        ),
    ] {
        let (s, b) = app.post(path, Some(&t), body).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{path}: {b}");
        assert_eq!(b["error"]["code"], "billing_disabled");
    }
    let body = event("invoice.paid", json!({"id": "in_1"}));
    assert_eq!(
        deliver(&app.http, &app.base, &body, WEBHOOK_SECRET).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn limits_answer_402_naming_the_limit_and_a_downgrade_deletes_nothing() {
    let app = spawn_tweaked(None, |s| {
        s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (t, uid) = app.register("limits@example.com").await;
    let sub = subscription(&app, &t).await;
    assert_eq!(
        (
            sub["plan"].as_str(),
            sub["limits"]["dynamic_codes"].as_i64()
        ),
        (Some("free"), Some(2))
    );

    let mut dynamic = Vec::new();
    for _ in 0..2 {
        let (s, b) = code(&app, &t, true).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        dynamic.push(b);
    }
    let (s, b) = code(&app, &t, true).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        refusal(&b),
        (
            "dynamic_codes".into(),
            "2".into(),
            "2".into(),
            "free".into()
        )
    );
    // Static codes count only against codes_per_month (4).
    let mut statics = Vec::new();
    for _ in 0..2 {
        let (s, b) = code(&app, &t, false).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        statics.push(b);
    }
    let (s, b) = code(&app, &t, false).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        refusal(&b),
        (
            "codes_per_month".into(),
            "4".into(),
            "4".into(),
            "free".into()
        )
    );
    // Deleting a code does not give its creation back.
    let id = statics[0]["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/qr-codes/{id}"), Some(&t))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(code(&app, &t, false).await.0, StatusCode::PAYMENT_REQUIRED);
    // Projects (1) and API keys (1).
    assert_eq!(
        app.post("/api/v1/projects", Some(&t), json!({"name": "a"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (s, b) = app
        .post("/api/v1/projects", Some(&t), json!({"name": "b"}))
        .await;
    assert_eq!(
        (s, refusal(&b).0.as_str()),
        (StatusCode::PAYMENT_REQUIRED, "projects")
    );
    assert_eq!(
        app.post("/api/v1/api-keys", Some(&t), json!({"name": "a"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (s, b) = app
        .post("/api/v1/api-keys", Some(&t), json!({"name": "b"}))
        .await;
    assert_eq!(
        (s, refusal(&b).0.as_str()),
        (StatusCode::PAYMENT_REQUIRED, "api_keys")
    );
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["qr_code.created"]});
    let (s, b) = app.post("/api/v1/webhooks", Some(&t), hook.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/webhooks", Some(&t), hook).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        refusal(&b),
        (
            "webhook_endpoints".into(),
            "1".into(),
            "1".into(),
            "free".into()
        )
    );
    // Features the free plan lacks.
    let settings = json!({"locale": "en", "timezone": "UTC", "branding": {"name": "Cafe", "primary_color": "#112233"}});
    let (s, b) = app
        .put("/api/v1/settings", Some(&t), settings.clone())
        .await;
    assert_eq!(
        (s, feature_missing(&b).as_str()),
        (StatusCode::PAYMENT_REQUIRED, "white_label")
    );
    let d0 = dynamic[0]["id"].as_str().unwrap().to_owned();
    let rules = json!({"rules": [{"if": {"device": ["ios"]}, "then": {"redirect": "https://apps.example.com/ios"}}]});
    let (s, b) = app
        .patch(&format!("/api/v1/qr-codes/{d0}"), Some(&t), rules.clone())
        .await;
    assert_eq!(
        (s, feature_missing(&b).as_str()),
        (StatusCode::PAYMENT_REQUIRED, "redirect_rules")
    );
    let lock = json!({"rules": [{"if": {}, "then": {"password": "open sesame"}}]});
    let (s, b) = app
        .patch(&format!("/api/v1/qr-codes/{d0}"), Some(&t), lock.clone())
        .await;
    assert_eq!(
        (s, feature_missing(&b).as_str()),
        (StatusCode::PAYMENT_REQUIRED, "password_protection")
    );

    // An operator moves the account to pro (no Stripe involved).
    let op = admin(&app).await;
    let (s, u) = app
        .patch(
            &format!("/api/v1/admin/users/{uid}"),
            Some(&op),
            json!({"plan_id": "pro"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(
        (
            u["billing"]["plan"].as_str(),
            u["billing"]["source"].as_str()
        ),
        (Some("pro"), Some("operator"))
    );
    let (s, b) = app
        .patch(
            &format!("/api/v1/admin/users/{uid}"),
            Some(&op),
            json!({"plan_id": "gold"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["plan_id"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no such plan"))
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_logs WHERE action = 'billing.plan_set' AND entity_id = $1",
    )
    .bind(&uid)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 1, "the refused change is not audited");
    let (s, extra) = code(&app, &t, true).await;
    assert_eq!(s, StatusCode::CREATED, "{extra}");
    assert_eq!(
        app.put("/api/v1/settings", Some(&t), settings).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.patch(&format!("/api/v1/qr-codes/{d0}"), Some(&t), rules)
            .await
            .0,
        StatusCode::OK
    );
    let d1 = dynamic[1]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.patch(&format!("/api/v1/qr-codes/{d1}"), Some(&t), lock)
            .await
            .0,
        StatusCode::OK
    );

    // Back to the default plan: nothing is deleted, and everything keeps working.
    let (s, u) = app
        .patch(
            &format!("/api/v1/admin/users/{uid}"),
            Some(&op),
            json!({"plan_id": null}),
        )
        .await;
    assert_eq!(
        (
            s,
            u["billing"]["plan"].as_str(),
            u["billing"]["source"].as_str()
        ),
        (StatusCode::OK, Some("free"), Some("default"))
    );
    let short = |c: &Value| format!("/r/{}", c["short_code"].as_str().unwrap());
    for c in [&dynamic[0], &extra] {
        let res = app
            .http
            .get(app.url(&short(c)))
            .header("user-agent", "Mozilla/5.0")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "{c}");
    }
    let res = app
        .http
        .get(app.url(&short(&dynamic[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the password form still guards its code"
    );
    assert!(res.text().await.unwrap().contains("password"));
    let (_, prefs) = app.get("/api/v1/settings", Some(&t)).await;
    assert_eq!(prefs["branding"]["name"], "Cafe", "branding is kept");
    let (s, me) = app.get(&format!("/api/v1/qr-codes/{d0}"), Some(&t)).await;
    assert_eq!(
        (s, me["rules"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1)),
        "rules are kept"
    );
    // Changing other things of a code above the limit is fine; new codes are refused.
    let (s, b) = app
        .patch(
            &format!("/api/v1/qr-codes/{d0}"),
            Some(&t),
            json!({"name": "renamed"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = code(&app, &t, true).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(refusal(&b).0, "codes_per_month");
    // Pausing frees nothing for reactivation while over the limit (3 active > 2).
    let path = format!("/api/v1/qr-codes/{d0}");
    assert_eq!(
        app.patch(&path, Some(&t), json!({"status": "paused"}))
            .await
            .0,
        StatusCode::OK
    );
    let (s, b) = app
        .patch(&path, Some(&t), json!({"status": "active"}))
        .await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        refusal(&b),
        (
            "dynamic_codes".into(),
            "2".into(),
            "2".into(),
            "free".into()
        )
    );
}

#[tokio::test]
async fn limits_hold_under_concurrency_and_credits_never_overdraw() {
    let app = spawn(None).await;
    let (t, uid) = app.register("busy@example.com").await;
    for _ in 0..3 {
        assert_eq!(code(&app, &t, false).await.0, StatusCode::CREATED);
    }
    // One below the limit, 50 at once: exactly one is made.
    let results = join_all((0..50).map(|_| code(&app, &t, false))).await;
    let made = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let refused = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::PAYMENT_REQUIRED)
        .count();
    assert_eq!(
        (made, refused),
        (1, 49),
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM qr_codes WHERE user_id = $1::uuid")
        .bind(&uid)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 4);

    // 10 credits: 50 over-limit creates at once, exactly 10 are paid for.
    let op = admin(&app).await;
    let (s, g) = app
        .post(
            &format!("/api/v1/admin/users/{uid}/credits"),
            Some(&op),
            json!({"amount": 10, "reason": "launch promo"}),
        )
        .await;
    assert_eq!(
        (s, g["amount"].as_i64(), g["kind"].as_str()),
        (StatusCode::CREATED, Some(10), Some("grant"))
    );
    let (s, b) = app
        .post(
            &format!("/api/v1/admin/users/{uid}/credits"),
            Some(&op),
            json!({"amount": 0, "reason": ""}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b["error"]["fields"]["amount"].is_string() && b["error"]["fields"]["reason"].is_string()
    );
    let results = join_all((0..50).map(|_| code(&app, &t, false))).await;
    let made = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(made, 10);
    let (_, c) = app
        .get("/api/v1/billing/credits?per_page=100", Some(&t))
        .await;
    assert_eq!(c["balance"], 0, "{c}");
    let spends: Vec<&Value> = c["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "spend")
        .collect();
    assert_eq!(spends.len(), 10);
    assert!(
        spends
            .iter()
            .all(|e| e["amount"] == -1 && e["quota"] == "codes_per_month")
    );
    assert_eq!(code(&app, &t, false).await.0, StatusCode::PAYMENT_REQUIRED);

    // A lot that expires: what is left of it is taken back, and it no longer pays.
    let soon = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let (s, lot) = app
        .post(
            &format!("/api/v1/admin/users/{uid}/credits"),
            Some(&op),
            json!({"amount": 5, "reason": "trial", "expires_at": soon}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{lot}");
    for _ in 0..2 {
        assert_eq!(code(&app, &t, false).await.0, StatusCode::CREATED);
    }
    sqlx::query(
        "UPDATE credit_ledger SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid",
    )
    .bind(lot["id"].as_str().unwrap())
    .execute(&app.db)
    .await
    .unwrap();
    assert_eq!(
        code(&app, &t, false).await.0,
        StatusCode::PAYMENT_REQUIRED,
        "expired credits do not pay"
    );
    let (_, c) = app.get("/api/v1/billing/credits", Some(&t)).await;
    assert_eq!(c["balance"], 0, "{c}");
    assert_eq!(c["items"][0]["kind"], "expiry");
    assert_eq!(
        c["items"][0]["amount"], -3,
        "the three credits left of the lot expired"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_logs WHERE action = 'billing.credits_grant'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn bulk_create_reports_the_rows_over_the_limit_and_keeps_the_rest() {
    let app = spawn(None).await;
    let (t, _) = app.register("bulk-limits@example.com").await;
    let rows: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("row {i}"), "qr_type": "text", "dynamic": false, "data": {"text": format!("t{i}")}}))
        .collect();
    let (s, b) = app
        .post("/api/v1/qr-codes/bulk", Some(&t), json!(rows))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let job = b["job_id"].as_str().unwrap().to_owned();
    let result = eventually("the bulk create to finish", || async {
        let (_, j) = app.get(&format!("/api/v1/jobs/{job}"), Some(&t)).await;
        (j["status"] == "succeeded").then_some(j["result"].clone())
    })
    .await;
    assert_eq!(
        (result["created"].as_i64(), result["failed"].as_i64()),
        (Some(4), Some(2)),
        "{result}"
    );
    for r in &result["rows"].as_array().unwrap()[4..] {
        assert_eq!(r["errors"]["limit"], "codes_per_month", "{r}");
        assert!(
            r["errors"]["error"]
                .as_str()
                .unwrap()
                .starts_with("plan_limit_reached")
        );
    }
}

/// Scans with a browser's agent: counted like any other.
async fn scan(app: &TestApp, path: &str) -> StatusCode {
    app.http
        .get(app.url(path))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        )
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn scans_over_quota_are_served_stored_counted_and_announced_once() {
    let app = spawn_tweaked(None, |s| {
        s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (t, uid) = app.register("scans@example.com").await;
    let rx = crate::common::receiver::Receiver::start().await;
    let (s, b) = app
        .post(
            "/api/v1/webhooks",
            Some(&t),
            json!({"url": rx.url, "events": ["usage.threshold"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let op = admin(&app).await;
    app.post(
        &format!("/api/v1/admin/users/{uid}/credits"),
        Some(&op),
        json!({"amount": 3, "reason": "r"}),
    )
    .await;
    let (_, qr) = code(&app, &t, true).await;
    let path = format!("/r/{}", qr["short_code"].as_str().unwrap());
    for _ in 0..12 {
        assert_eq!(
            scan(&app, &path).await,
            StatusCode::FOUND,
            "over quota, scans are still served"
        );
    }
    let usage = eventually("12 scans metered, 2 over quota", || async {
        let s = subscription(&app, &t).await;
        (s["usage"]["scans_per_month"] == 12 && s["usage"]["scans_over_quota"] == 2).then_some(s)
    })
    .await;
    assert_eq!(usage["limits"]["scans_per_month"], 10);
    let (s, u) = app.get("/api/v1/billing/usage", Some(&t)).await;
    assert_eq!(s, StatusCode::OK, "{u}");
    let today = &u["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            today["scans"].as_i64(),
            today["scans_over_quota"].as_i64(),
            today["codes_created"].as_i64()
        ),
        (Some(12), Some(2), Some(1))
    );
    assert_eq!(u["totals"]["scans_per_month"], 12);
    // Analytics stay readable over quota, as far back as the plan keeps them (30 days).
    let id = qr["id"].as_str().unwrap();
    let far = (Utc::now() - Duration::days(45))
        .to_rfc3339()
        .replace('+', "%2B");
    let (s, b) = app
        .get(
            &format!("/api/v1/qr-codes/{id}/analytics?from={far}"),
            Some(&t),
        )
        .await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{b}");
    assert_eq!(
        refusal(&b),
        (
            "retention_days".into(),
            "30".into(),
            "45".into(),
            "free".into()
        )
    );
    eventually("analytics to show every scan", || async {
        let (s, a) = app
            .get(&format!("/api/v1/qr-codes/{id}/analytics"), Some(&t))
            .await;
        (s == StatusCode::OK && a["total"] == 12).then_some(())
    })
    .await;
    // The started block of 1,000 over-quota scans was paid with a credit.
    let (_, c) = app.get("/api/v1/billing/credits", Some(&t)).await;
    assert_eq!(c["balance"], 2, "{c}");
    assert_eq!(
        (
            c["items"][0]["kind"].as_str(),
            c["items"][0]["quota"].as_str()
        ),
        (Some("spend"), Some("scans_per_month"))
    );
    // Told at 80 % and at 100 %, once each, however many scans and folds follow.
    let to = "scans@example.com";
    eventually("the two alerts", || async {
        (mails(&app, to, "80% of your scans per month") == 1
            && mails(&app, to, "reached your scans per month") == 1)
            .then_some(())
    })
    .await;
    for _ in 0..3 {
        scan(&app, &path).await;
    }
    eventually("15 scans metered", || async {
        (subscription(&app, &t).await["usage"]["scans_over_quota"] == 5).then_some(())
    })
    .await;
    assert_eq!(mails(&app, to, "80% of your scans per month"), 1);
    assert_eq!(mails(&app, to, "reached your scans per month"), 1);
    // And by webhook, once each.
    let got = eventually("the two usage.threshold events", || async {
        let got = rx.received();
        (got.len() >= 2).then_some(got)
    })
    .await;
    let thresholds: Vec<(i64, String)> = got
        .iter()
        .map(|r| {
            let d = r.json()["data"].clone();
            (
                d["threshold"].as_i64().unwrap(),
                d["quota"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        thresholds.contains(&(80, "scans_per_month".into()))
            && thresholds.contains(&(100, "scans_per_month".into())),
        "{thresholds:?}"
    );
    assert_eq!(got.len(), 2);

    // A redelivered batch (the same batch id, queued again as another job) counts once.
    let queues = app.queues().await;
    let owner: uuid::Uuid = uid.parse().unwrap();
    let events: Vec<ScanEvent> = (0..4)
        .map(|i| ScanEvent {
            event_id: uuid::Uuid::now_v7(),
            qr_id: id.parse().unwrap(),
            owner_id: owner,
            project_id: None,
            short_code: qr["short_code"].as_str().unwrap().into(),
            at: Utc::now() - Duration::seconds(i),
            ip: Some([203, 0, 113, 9].into()),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0".into(),
            referer: String::new(),
            country: None,
            city: None,
            keep_ip: false,
            variant: 0,
        })
        .collect();
    let batch = IngestScans {
        batch_id: uuid::Uuid::now_v7(),
        events,
    };
    let push = |key: &'static str| {
        let (queues, batch) = (queues.clone(), batch.clone());
        async move {
            use apalis_core::backend::TaskSink;
            let task = apalis_core::task::builder::TaskBuilder::new(batch)
                .idempotency_key(format!("redelivery-{key}"))
                .build();
            queues
                .storage::<IngestScans>()
                .push_task(task)
                .await
                .unwrap();
        }
    };
    push("first").await;
    eventually("the batch counted", || async {
        (subscription(&app, &t).await["usage"]["scans_per_month"] == 19).then_some(())
    })
    .await;
    let done_before = done_jobs::<IngestScans>(&app).await;
    push("again").await;
    eventually("the redelivery handled", || async {
        (done_jobs::<IngestScans>(&app).await == done_before + 1).then_some(())
    })
    .await;
    let folded: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_events WHERE key LIKE $1")
        .bind(format!("scans:{}%", batch.batch_id))
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(folded, 1, "one usage record for the batch");
    eventually("nothing left to fold", || async {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM usage_events WHERE folded_at IS NULL")
                .fetch_one(&app.db)
                .await
                .unwrap();
        (pending == 0).then_some(())
    })
    .await;
    assert_eq!(
        subscription(&app, &t).await["usage"]["scans_per_month"],
        19,
        "counted once"
    );
}

/// Jobs of `J`'s queue that have finished, read straight from Redis.
pub async fn done_jobs<J: qrsaas_jobs::Job>(app: &TestApp) -> usize {
    let queue = qrsaas_jobs::queue_name::<J>(&app.settings.redis_namespace);
    let done = apalis_redis::Config::default().queue(queue).done_jobs_set();
    let mut redis = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("SCARD")
        .arg(done)
        .query_async(&mut redis)
        .await
        .unwrap()
}

#[tokio::test]
async fn checkout_webhooks_activate_the_plan_and_replays_change_nothing() {
    let fake = FakeStripe::start().await;
    let app = spawn_tweaked(Some(&fake), |s| {
        s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (t, uid) = app.register("payer@example.com").await;
    let rx = crate::common::receiver::Receiver::start().await;
    let (s, b) = app
        .post(
            "/api/v1/webhooks",
            Some(&t),
            json!({"url": rx.url, "events": ["subscription.updated"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    for _ in 0..4 {
        code(&app, &t, false).await;
    }
    assert_eq!(code(&app, &t, false).await.0, StatusCode::PAYMENT_REQUIRED);
    let (s, b) = app
        .post(
            "/api/v1/billing/checkout",
            Some(&t),
            json!({"plan_id": "pro", "interval": "month"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let session = session_id(b["url"].as_str().unwrap());
    let sent = fake.session(&session);
    assert_eq!(sent["mode"], "subscription");
    assert_eq!(sent["client_reference_id"], uid);
    assert_eq!(sent["line_items[0][price]"], "price_pro_month");
    assert_eq!(sent["line_items[0][quantity]"], "1");
    assert_eq!(sent["line_items[1][price]"], "price_pro_over");
    assert!(
        !sent.contains_key("line_items[1][quantity]"),
        "metered prices take no quantity"
    );
    assert_eq!(sent["success_url"], "https://app.example.com/billing/done");
    assert_eq!(sent["subscription_data[metadata][account_id]"], uid);
    // One Stripe customer per account, however many checkouts.
    let (s, _) = app
        .post(
            "/api/v1/billing/checkout",
            Some(&t),
            json!({"plan_id": "business", "interval": "year"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(fake.customers().len(), 1);
    let creations = fake.calls("/v1/customers");
    assert!(creations.iter().all(|c| c.method == "POST"
        && c.idempotency_key.as_deref() == Some(format!("qrsaas-customer-{uid}").as_str())));
    assert_eq!(fake.customers()[0]["metadata"]["account_id"], uid);
    assert_eq!(fake.customers()[0]["email"], "payer@example.com");
    let (s, b) = app
        .post(
            "/api/v1/billing/checkout",
            Some(&t),
            json!({"plan_id": "free", "interval": "month"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["plan_id"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true),
        "{b}"
    );

    // The customer pays; Stripe sends its events, each delivered five times.
    let sub = fake.complete_checkout(&session).unwrap();
    let events = [
        event("checkout.session.completed", fake.session_object(&session)),
        event("customer.subscription.created", fake.sub_object(&sub)),
        event("invoice.paid", fake.invoice_object(&sub, true)),
    ];
    for body in &events {
        for _ in 0..5 {
            assert_eq!(
                deliver(&app.http, &app.base, body, WEBHOOK_SECRET).await,
                StatusCode::OK
            );
        }
    }
    let s = subscription(&app, &t).await;
    assert_eq!(
        (
            s["plan"].as_str(),
            s["source"].as_str(),
            s["status"].as_str(),
            s["interval"].as_str()
        ),
        (
            Some("pro"),
            Some("subscription"),
            Some("active"),
            Some("month")
        ),
        "{s}"
    );
    assert_eq!(
        s["current_period_end"].as_str().unwrap()[..16],
        chrono::DateTime::from_timestamp(fake.sub(&sub).period_end, 0)
            .unwrap()
            .to_rfc3339()[..16]
    );
    assert_eq!(s["limits"]["codes_per_month"], 50);
    assert_eq!(
        code(&app, &t, false).await.0,
        StatusCode::CREATED,
        "limits raised"
    );
    let count = |sql: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT count(*) FROM stripe_events").await, 3);
    assert_eq!(
        count("SELECT count(*) FROM audit_logs WHERE action = 'billing.subscription_sync'").await,
        3
    );
    assert_eq!(count("SELECT count(*) FROM billing_subscriptions").await, 1);
    // The owner's receiver heard of it: one event per Stripe event handled, not per delivery.
    let got = eventually("subscription.updated at the receiver", || async {
        let got = rx.received();
        (got.len() >= 3).then_some(got)
    })
    .await;
    let last = got.last().unwrap().json();
    assert_eq!(last["type"], "subscription.updated");
    assert_eq!(
        (
            last["data"]["plan"].as_str(),
            last["data"]["status"].as_str()
        ),
        (Some("pro"), Some("active"))
    );
    assert_eq!(
        count("SELECT count(*) FROM webhook_events WHERE type = 'subscription.updated'").await,
        3
    );
    // Subscribed: another checkout is refused; the portal is the way to change.
    let (s, b) = app
        .post(
            "/api/v1/billing/checkout",
            Some(&t),
            json!({"plan_id": "business", "interval": "month"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("subscription_exists"))
    );
    let (s, p) = app
        .post("/api/v1/billing/portal", Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert!(
        p["url"]
            .as_str()
            .unwrap()
            .starts_with("https://billing.stripe.test/p/session/")
    );
    let portal = fake.calls("/v1/billing_portal/sessions");
    assert_eq!(portal[0].form["customer"], fake.sub(&sub).customer);
    assert_eq!(portal[0].form["return_url"], app.settings.public_url("/"));
}

#[tokio::test]
async fn the_same_events_in_every_order_end_in_stripes_state() {
    let fake = FakeStripe::start().await;
    // 24 sign-ups from one address.
    let app = spawn_tweaked(Some(&fake), |s| s.auth_limits.registrations_per_ip = 100).await;
    let orders = permutations(4);
    assert_eq!(orders.len(), 24);
    for (n, order) in orders.iter().enumerate() {
        let (t, _) = app.register(&format!("order{n}@example.com")).await;
        let (_, b) = app
            .post(
                "/api/v1/billing/checkout",
                Some(&t),
                json!({"plan_id": "business", "interval": "year"}),
            )
            .await;
        let session = session_id(b["url"].as_str().unwrap());
        let sub = fake.complete_checkout(&session).unwrap();
        // The events carry the subscription as it was at each step …
        fake.update_sub(&sub, |s| s.status = "incomplete".into());
        let e_created = event("customer.subscription.created", fake.sub_object(&sub));
        fake.update_sub(&sub, |s| s.status = "active".into());
        let e_paid = event("invoice.paid", fake.invoice_object(&sub, true));
        let e_active = event("customer.subscription.updated", fake.sub_object(&sub));
        fake.update_sub(&sub, |s| s.cancel_at_period_end = true);
        let e_cancel = event("customer.subscription.updated", fake.sub_object(&sub));
        // … and arrive in this order; Stripe's state is the last step's.
        let all = [e_created, e_paid, e_active, e_cancel];
        for i in order {
            assert_eq!(
                deliver(&app.http, &app.base, &all[*i], WEBHOOK_SECRET).await,
                StatusCode::OK
            );
        }
        let s = subscription(&app, &t).await;
        let want = fake.sub(&sub);
        assert_eq!(
            (
                s["plan"].as_str(),
                s["status"].as_str(),
                s["interval"].as_str(),
                s["cancel_at_period_end"].as_bool()
            ),
            (
                Some("business"),
                Some(want.status.as_str()),
                Some("year"),
                Some(true)
            ),
            "order {order:?}: {s}"
        );
    }
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

#[tokio::test]
async fn unsigned_wrongly_signed_and_stale_webhooks_are_refused_and_store_nothing() {
    let fake = FakeStripe::start().await;
    let app = spawn(Some(&fake)).await;
    let (t, _) = app.register("sig@example.com").await;
    let (_, b) = app
        .post(
            "/api/v1/billing/checkout",
            Some(&t),
            json!({"plan_id": "pro", "interval": "month"}),
        )
        .await;
    let session = session_id(b["url"].as_str().unwrap());
    let sub = fake.complete_checkout(&session).unwrap();
    let body = event("customer.subscription.created", fake.sub_object(&sub));
    let now = Utc::now().timestamp();
    let good = stripe::signature(WEBHOOK_SECRET, now, &body);
    let v1 = |sig: &str| sig.split(",v1=").nth(1).unwrap().to_owned();
    let wrong = stripe::signature("whsec_someone_else", now, &body);
    let stale = stripe::signature(WEBHOOK_SECRET, now - 400, &body);
    let tampered = body.replace("\"livemode\":false", "\"livemode\":true ");
    for (what, b, sig) in [
        ("unsigned", body.as_str(), None),
        ("wrong secret", body.as_str(), Some(wrong.clone())),
        ("stale", body.as_str(), Some(stale)),
        ("tampered body", tampered.as_str(), Some(good.clone())),
        ("garbage header", body.as_str(), Some("v1=abc".to_owned())),
    ] {
        let s = stripe::deliver_signed(&app.http, &app.base, b, sig.as_deref()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{what}");
    }
    let count = |sql: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT count(*) FROM stripe_events").await, 0);
    assert_eq!(count("SELECT count(*) FROM billing_subscriptions").await, 0);
    assert_eq!(subscription(&app, &t).await["plan"], "free");
    // Several v1 signatures, one of them right; and the secret being rolled out still works.
    let several = format!("t={now},v1={},v1={}", v1(&wrong), v1(&good));
    assert_eq!(
        stripe::deliver_signed(&app.http, &app.base, &body, Some(&several)).await,
        StatusCode::OK
    );
    let other = event("invoice.paid", fake.invoice_object(&sub, true));
    assert_eq!(
        deliver(&app.http, &app.base, &other, "whsec_test_old").await,
        StatusCode::OK
    );
    assert_eq!(count("SELECT count(*) FROM stripe_events").await, 2);
    assert_eq!(subscription(&app, &t).await["plan"], "pro");
}

#[tokio::test]
async fn a_failed_payment_keeps_the_plan_through_the_grace_period_then_falls_back() {
    let fake = FakeStripe::start().await;
    let app = spawn(Some(&fake)).await;
    let (t, uid) = app.register("late@example.com").await;
    let sub = subscribe(&app, &fake, &t, "pro", "month").await;
    assert_eq!(subscription(&app, &t).await["plan"], "pro");

    fake.update_sub(&sub, |s| s.status = "past_due".into());
    let failed = event("invoice.payment_failed", fake.invoice_object(&sub, false));
    for _ in 0..5 {
        assert_eq!(
            deliver(&app.http, &app.base, &failed, WEBHOOK_SECRET).await,
            StatusCode::OK
        );
    }
    // Stripe retries the charge and fails again: a new event for the same invoice.
    let again = event("invoice.payment_failed", fake.invoice_object(&sub, false));
    assert_eq!(
        deliver(&app.http, &app.base, &again, WEBHOOK_SECRET).await,
        StatusCode::OK
    );
    let s = subscription(&app, &t).await;
    assert_eq!(
        (s["plan"].as_str(), s["status"].as_str()),
        (Some("pro"), Some("past_due")),
        "{s}"
    );
    let grace = chrono::DateTime::parse_from_rfc3339(s["grace_ends_at"].as_str().unwrap()).unwrap();
    let days = (grace.with_timezone(&Utc) - Utc::now()).num_hours();
    assert!((167..=168).contains(&days), "seven days of grace: {days} h");
    eventually("the notice", || async {
        (mails(&app, "late@example.com", "did not go through") == 1).then_some(())
    })
    .await;

    // The grace period runs out: the default plan applies, and the owner is told once.
    sqlx::query("UPDATE billing_subscriptions SET past_due_since = now() - interval '8 days' WHERE stripe_id = $1")
        .bind(&sub)
        .execute(&app.db)
        .await
        .unwrap();
    let s = subscription(&app, &t).await;
    assert_eq!(
        (
            s["plan"].as_str(),
            s["source"].as_str(),
            s["status"].as_str()
        ),
        (Some("free"), Some("default"), Some("past_due"))
    );
    let sched = scheduler(&app).await;
    for minute in 0..2 {
        let slot = Utc::now() + Duration::minutes(minute);
        assert!(
            sched
                .fire(MaintenanceTask::BillingDaily, slot)
                .await
                .unwrap()
        );
    }
    eventually("the plan-ended notice", || async {
        (mails(&app, "late@example.com", "Your plan has ended") == 1).then_some(())
    })
    .await;
    let notices: i64 =
        sqlx::query_scalar("SELECT count(*) FROM billing_notices WHERE user_id = $1::uuid")
            .bind(&uid)
            .fetch_one(&app.db)
            .await
            .unwrap();
    eventually("both daily runs done", || async {
        let runs: i64 =
            sqlx::query_scalar("SELECT count(*) FROM billing_notices WHERE kind = 'plan_ended'")
                .fetch_one(&app.db)
                .await
                .unwrap();
        (runs == 1).then_some(())
    })
    .await;
    assert_eq!(notices, 2, "payment_failed + plan_ended");

    // Paid at last: the plan is back and the grace clock is cleared.
    fake.update_sub(&sub, |s| s.status = "active".into());
    let paid = event("invoice.paid", fake.invoice_object(&sub, true));
    assert_eq!(
        deliver(&app.http, &app.base, &paid, WEBHOOK_SECRET).await,
        StatusCode::OK
    );
    let s = subscription(&app, &t).await;
    assert_eq!(
        (
            s["plan"].as_str(),
            s["status"].as_str(),
            s["grace_ends_at"].is_null()
        ),
        (Some("pro"), Some("active"), true)
    );
    assert_eq!(mails(&app, "late@example.com", "did not go through"), 1);
}

#[tokio::test]
async fn cancelling_at_period_end_keeps_the_plan_until_the_subscription_ends() {
    let fake = FakeStripe::start().await;
    let app = spawn(Some(&fake)).await;
    let (t, _) = app.register("leaving@example.com").await;
    let sub = subscribe(&app, &fake, &t, "pro", "year").await;
    assert_eq!(subscription(&app, &t).await["interval"], "year");
    fake.update_sub(&sub, |s| s.cancel_at_period_end = true);
    let body = event("customer.subscription.updated", fake.sub_object(&sub));
    assert_eq!(
        deliver(&app.http, &app.base, &body, WEBHOOK_SECRET).await,
        StatusCode::OK
    );
    let s = subscription(&app, &t).await;
    assert_eq!(
        (s["plan"].as_str(), s["cancel_at_period_end"].as_bool()),
        (Some("pro"), Some(true))
    );
    fake.update_sub(&sub, |s| s.status = "canceled".into());
    let body = event("customer.subscription.deleted", fake.sub_object(&sub));
    assert_eq!(
        deliver(&app.http, &app.base, &body, WEBHOOK_SECRET).await,
        StatusCode::OK
    );
    let s = subscription(&app, &t).await;
    assert_eq!(
        (
            s["plan"].as_str(),
            s["status"].as_str(),
            s["source"].as_str()
        ),
        (Some("free"), Some("canceled"), Some("default"))
    );
}

#[tokio::test]
async fn credits_bought_through_checkout_are_added_once() {
    let fake = FakeStripe::start().await;
    let app = spawn(Some(&fake)).await;
    let (t, uid) = app.register("buyer@example.com").await;
    let (s, b) = app
        .post(
            "/api/v1/billing/credits/checkout",
            Some(&t),
            json!({"pack_id": "credits_10"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let session = session_id(b["url"].as_str().unwrap());
    let sent = fake.session(&session);
    assert_eq!(
        (sent["mode"].as_str(), sent["line_items[0][price]"].as_str()),
        ("payment", "price_credits_10")
    );
    assert_eq!(sent["client_reference_id"], uid);
    let (s, b) = app
        .post(
            "/api/v1/billing/credits/checkout",
            Some(&t),
            json!({"pack_id": "credits_9000"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["pack_id"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    // Not paid yet: nothing added.
    let unpaid = event("checkout.session.completed", fake.session_object(&session));
    assert_eq!(
        deliver(&app.http, &app.base, &unpaid, WEBHOOK_SECRET).await,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/billing/credits", Some(&t)).await.1["balance"],
        0
    );
    assert!(fake.complete_checkout(&session).is_none());
    let paid = event(
        "checkout.session.async_payment_succeeded",
        fake.session_object(&session),
    );
    let completed = event("checkout.session.completed", fake.session_object(&session));
    for body in [&paid, &completed, &paid, &completed] {
        assert_eq!(
            deliver(&app.http, &app.base, body, WEBHOOK_SECRET).await,
            StatusCode::OK
        );
    }
    let (_, c) = app.get("/api/v1/billing/credits", Some(&t)).await;
    assert_eq!(
        (c["balance"].as_i64(), c["total"].as_i64()),
        (Some(10), Some(1)),
        "{c}"
    );
    assert_eq!(c["items"][0]["kind"], "purchase");
    eventually("the receipt", || async {
        (mails(&app, "buyer@example.com", "Credits added") == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn overage_is_reported_to_stripe_meters_once_per_hour_and_retried() {
    let fake = FakeStripe::start().await;
    let app = spawn(Some(&fake)).await;
    let (t, _) = app.register("metered@example.com").await;
    let sub = subscribe(&app, &fake, &t, "pro", "month").await;
    let customer = fake.sub(&sub).customer;
    let (_, qr) = code(&app, &t, true).await;
    let path = format!("/r/{}", qr["short_code"].as_str().unwrap());
    for _ in 0..8 {
        assert_eq!(scan(&app, &path).await, StatusCode::FOUND);
    }
    eventually("5 scans over the quota of 3", || async {
        (subscription(&app, &t).await["usage"]["scans_over_quota"] == 5).then_some(())
    })
    .await;
    let sched = scheduler(&app).await;
    // Each run is waited for: the queue has finished one more maintenance job.
    let report = |slot: chrono::DateTime<Utc>| {
        let (app, sched) = (&app, &sched);
        async move {
            let before = done_jobs::<qrsaas_jobs::Maintenance>(app).await;
            assert!(
                sched
                    .fire(MaintenanceTask::ReportUsage, slot)
                    .await
                    .unwrap()
            );
            eventually("the report run", || async {
                (done_jobs::<qrsaas_jobs::Maintenance>(app).await > before).then_some(())
            })
            .await;
        }
    };
    use chrono::DurationRound;
    let hour = Utc::now()
        .duration_trunc(chrono::TimeDelta::hours(1))
        .unwrap();
    report(hour).await;
    let first = fake.meter_events();
    assert_eq!(first.len(), 1, "{first:?}");
    let (_, (name, cust, value)) = first.iter().next().unwrap();
    assert_eq!(
        (name.as_str(), cust.as_str(), *value),
        ("qrsaas_scans_overage", customer.as_str(), 5)
    );
    // The same hour again (a second scheduler's slot, a retry): nothing more is billed.
    report(hour + Duration::seconds(61)).await;
    assert_eq!(fake.meter_events().len(), 1);
    // Two more over quota; Stripe is down for the next hour's report, then back.
    for _ in 0..2 {
        scan(&app, &path).await;
    }
    eventually("7 over quota", || async {
        (subscription(&app, &t).await["usage"]["scans_over_quota"] == 7).then_some(())
    })
    .await;
    fake.fail_meter_events(1);
    let next = hour + Duration::hours(1);
    report(next).await;
    let unsent: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT quantity, last_error FROM meter_reports WHERE reported_at IS NULL")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(matches!(unsent.as_slice(), [(2, Some(_))]), "{unsent:?}");
    report(next + Duration::seconds(61)).await;
    let all = fake.meter_events();
    let total: i64 = all.values().map(|(_, _, v)| v).sum();
    assert_eq!(
        (all.len(), total),
        (2, 7),
        "every over-quota scan billed once: {all:?}"
    );
    let rows: Vec<(i64, bool)> =
        sqlx::query_as("SELECT quantity, reported_at IS NOT NULL FROM meter_reports ORDER BY hour")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(rows, [(5, true), (2, true)]);
    let keys: BTreeMap<String, usize> = fake
        .calls("/v1/billing/meter_events")
        .iter()
        .map(|c| (c.form["identifier"].clone(), 1))
        .collect();
    assert_eq!(keys.len(), 2, "one identifier per account and hour");
}

#[tokio::test]
async fn monthly_statements_show_the_plan_usage_against_its_limits_and_credits_spent() {
    let app = spawn(None).await;
    let (t, uid) = app.register("statement@example.com").await;
    let op = admin(&app).await;
    let grant = |n: i64| {
        let (app, op, uid) = (&app, &op, &uid);
        async move {
            let (s, b) = app
                .post(
                    &format!("/api/v1/admin/users/{uid}/credits"),
                    Some(op),
                    json!({"amount": n, "reason": "r"}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
        }
    };
    // Four codes within the quota, two paid with credits, then the credits are gone.
    grant(2).await;
    for _ in 0..6 {
        assert_eq!(code(&app, &t, false).await.0, StatusCode::CREATED);
    }
    assert_eq!(code(&app, &t, true).await.0, StatusCode::PAYMENT_REQUIRED);
    grant(2).await;
    let (s, qr) = code(&app, &t, true).await;
    assert_eq!(s, StatusCode::CREATED, "{qr}");
    let path = format!("/r/{}", qr["short_code"].as_str().unwrap());
    for _ in 0..12 {
        scan(&app, &path).await;
    }
    eventually("the scans metered and their overage paid", || async {
        let s = subscription(&app, &t).await;
        (s["usage"]["scans_over_quota"] == 2 && s["credits"] == 0).then_some(())
    })
    .await;
    let month_start = {
        use chrono::Datelike;
        Utc::now().date_naive().with_day(1).unwrap()
    };
    let next_month = (month_start + chrono::Months::new(1))
        .and_hms_opt(1, 30, 0)
        .unwrap()
        .and_utc();
    assert!(
        scheduler(&app)
            .await
            .fire(MaintenanceTask::Statements, next_month)
            .await
            .unwrap()
    );
    let mail = eventually("the statement e-mail", || async {
        app.smtp
            .to("statement@example.com")
            .into_iter()
            .find(|m| m.subject().contains("usage statement"))
    })
    .await;
    let (_, list) = app.get("/api/v1/billing/statements", Some(&t)).await;
    let st = &list["items"][0];
    assert_eq!(st["month"], month_start.to_string());
    assert_eq!(
        (
            st["plan"].as_str(),
            st["limits"]["codes_per_month"].as_i64(),
            st["codes_created"].as_i64()
        ),
        (Some("free"), Some(4), Some(7)),
        "{st}"
    );
    assert_eq!(
        (
            st["scans"].as_i64(),
            st["scans_over_quota"].as_i64(),
            st["credits_spent"].as_i64()
        ),
        (Some(12), Some(2), Some(4)),
        "{st}"
    );
    let text = mail.text();
    for line in [
        "Plan: Free",
        "QR codes created: 7 of 4",
        "Scans: 12 of 10 (2 over quota)",
        "Credits spent: 4",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
}
