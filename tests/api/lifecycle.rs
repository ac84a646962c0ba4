//! Account lifecycle through the API and the fake SMTP server: verification, sessions,
//! password change, forgotten passwords, address change, and the operator's verified-address
//! requirement.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, eventually};

const PW: &str = "correct horse battery";

/// The token of the newest link in e-mails to `to` whose subject contains `subject`, waiting
/// for the `n`th such e-mail.
async fn link_token(app: &TestApp, to: &str, subject: &str, n: usize) -> String {
    let mail = eventually(&format!("e-mail {n} '{subject}' to {to}"), || async {
        let m: Vec<_> = app
            .smtp
            .to(to)
            .into_iter()
            .filter(|m| m.subject().contains(subject))
            .collect();
        (m.len() >= n).then(|| m[n - 1].clone())
    })
    .await;
    let text = mail.text();
    let at = text
        .find("token=")
        .unwrap_or_else(|| panic!("no link in {text}"))
        + 6;
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn login(app: &TestApp, email: &str, pw: &str, ua: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("user-agent", ua)
        .json(&json!({"email": email, "password": pw}))
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

fn token(b: &Value) -> String {
    b["token"].as_str().unwrap().to_owned()
}

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

#[tokio::test]
async fn verify_sessions_and_password_change() {
    let app = TestApp::spawn().await;
    let (a, _) = app.register("life@example.com").await;
    assert_eq!(
        app.get("/api/v1/me", Some(&a)).await.1["email_verified"],
        false
    );
    // The sign-up sends a verification link; it works once.
    let t = link_token(&app, "life@example.com", "Confirm your e-mail", 1).await;
    let (s, u) = app
        .post("/api/v1/auth/verify-email", None, json!({"token": t}))
        .await;
    assert_eq!(
        (s, u["email_verified"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{u}"
    );
    let (s, b) = app
        .post("/api/v1/auth/verify-email", None, json!({"token": t}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["error"]["fields"]["token"], "is invalid, used or expired");
    let (s, b) = app
        .post("/api/v1/auth/verify-email/resend", Some(&a), json!({}))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_verified"))
    );

    // Sessions: the phone's shows its device; it can be signed out from here.
    let (_, phone) = login(&app, "life@example.com", PW, IPHONE).await;
    let phone = token(&phone);
    let (s, list) = app.get("/api/v1/auth/sessions", Some(&a)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 2, "{list}");
    let items = list["items"].as_array().unwrap();
    let mine = items.iter().find(|i| i["current"] == true).unwrap();
    let theirs = items.iter().find(|i| i["current"] == false).unwrap();
    assert_eq!(theirs["device"], "Safari on iOS", "{theirs}");
    assert_eq!(theirs["ip"], "127.0.0.1");
    assert!(mine["last_used_at"].is_string(), "{mine}");
    let (s, _) = app
        .delete(
            &format!("/api/v1/auth/sessions/{}", theirs["id"].as_str().unwrap()),
            Some(&a),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", Some(&phone)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/api/v1/me", Some(&a)).await.0, StatusCode::OK);

    // Password change: the current one is required; other sessions end, this one stays.
    let (_, other) = login(&app, "life@example.com", PW, "curl/8").await;
    let other = token(&other);
    let (s, b) = app
        .post(
            "/api/v1/auth/password/change",
            Some(&a),
            json!({"current_password": "not it at all", "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b["error"]["fields"]["current_password"],
        "is not your password"
    );
    let (s, b) = app
        .post(
            "/api/v1/auth/password/change",
            Some(&a),
            json!({"current_password": PW, "new_password": "short"}),
        )
        .await;
    assert!(b["error"]["fields"]["new_password"].is_string(), "{s} {b}");
    let (s, _) = app
        .post(
            "/api/v1/auth/password/change",
            Some(&a),
            json!({"current_password": PW, "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", Some(&other)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/api/v1/me", Some(&a)).await.0, StatusCode::OK);
    assert_eq!(
        login(&app, "life@example.com", PW, "x").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "life@example.com", "a brand new secret", "x")
            .await
            .0,
        StatusCode::OK
    );
    // Audited.
    let actions = app.audit_actions("/api/v1/audit-logs", &a).await;
    for a in [
        "user.email_verified",
        "session.revoke",
        "user.password_change",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn forgotten_passwords_and_address_changes_go_through_the_mailbox() {
    let app = TestApp::spawn().await;
    let (a, _) = app.register("forgetful@example.com").await;
    // The same answer whether or not the address has an account.
    let (s1, b1) = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": "nobody@example.com"}),
        )
        .await;
    let (s2, b2) = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": "Forgetful@Example.com"}),
        )
        .await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(s1, StatusCode::ACCEPTED);
    let t = link_token(&app, "forgetful@example.com", "Reset your", 1).await;
    assert!(app.smtp.to("nobody@example.com").is_empty());
    // Only the hash is stored.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM account_tokens")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 32 && !h.windows(8).any(|w| t.as_bytes().starts_with(w)))
    );
    let (s, _) = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"token": t, "password": "reset and renewed"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Every session ended; the token works once; the new password works.
    assert_eq!(
        app.get("/api/v1/me", Some(&a)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, b) = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"token": t, "password": "and again, twice"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["token"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let (s, b) = login(&app, "forgetful@example.com", "reset and renewed", "x").await;
    assert_eq!(s, StatusCode::OK);
    let a = token(&b);
    // Following the reset link proved the address.
    assert_eq!(
        app.get("/api/v1/me", Some(&a)).await.1["email_verified"],
        true
    );

    // Address change: confirmed from the new address, then it is the login.
    let (s, b) = app
        .post(
            "/api/v1/auth/email/change",
            Some(&a),
            json!({"new_email": "renamed@example.com", "password": "wrong password"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["password"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let (s, _) = app
        .post(
            "/api/v1/auth/email/change",
            Some(&a),
            json!({"new_email": "renamed@example.com", "password": "reset and renewed"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(
        app.get("/api/v1/me", Some(&a)).await.1["email"],
        "forgetful@example.com"
    );
    let t = link_token(&app, "renamed@example.com", "Confirm your e-mail", 1).await;
    let (s, u) = app
        .post("/api/v1/auth/verify-email", None, json!({"token": t}))
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(
        (u["email"].as_str(), u["email_verified"].as_bool()),
        (Some("renamed@example.com"), Some(true))
    );
    assert_eq!(
        login(&app, "renamed@example.com", "reset and renewed", "x")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        login(&app, "forgetful@example.com", "reset and renewed", "x")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_operator_can_hold_back_webhooks_and_checkout_until_the_address_is_verified() {
    let app = TestApp::spawn_with(|s| {
        s.accounts.require_verified_email = true;
        s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (a, _) = app.register("pending@example.com").await;
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["qr_code.created"]});
    let (s, b) = app.post("/api/v1/webhooks", Some(&a), hook.clone()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("email_unverified"))
    );
    let (s, b) = app
        .post(
            "/api/v1/billing/checkout",
            Some(&a),
            json!({"plan_id": "pro", "interval": "month"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("email_unverified"))
    );
    // Everything else works meanwhile.
    let (s, _) = app
        .post(
            "/api/v1/qr-codes",
            Some(&a),
            json!({"name": "n", "qr_type": "text", "dynamic": false, "data": {"text": "x"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let t = link_token(&app, "pending@example.com", "Confirm your e-mail", 1).await;
    assert_eq!(
        app.post("/api/v1/auth/verify-email", None, json!({"token": t}))
            .await
            .0,
        StatusCode::OK
    );
    let (s, b) = app.post("/api/v1/webhooks", Some(&a), hook).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn deleting_an_account_erases_it_and_its_codes_stop() {
    let app =
        TestApp::spawn_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let (t, id) = app.register("leaving@example.com").await;
    let (_, qr) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "Card", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/me"}),
        )
        .await;
    let short = format!("/r/{}", qr["short_code"].as_str().unwrap());
    let scan = || async {
        app.http
            .get(app.url(&short))
            .header("user-agent", IPHONE)
            .header("x-forwarded-for", "198.51.100.23")
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(scan().await, StatusCode::FOUND);
    let ch = qrsaas::analytics::client(&app.settings);
    let scans = || {
        let ch = ch.clone();
        let id = id.clone();
        async move {
            ch.query("SELECT ip, user_agent FROM scan_events WHERE user_id = toUUID(?)")
                .bind(id)
                .fetch_all::<(String, String)>()
                .await
                .unwrap()
        }
    };
    eventually("the scan stored", || async {
        (scans().await.len() == 1).then_some(())
    })
    .await;
    assert_eq!(scans().await[0].0, "198.51.100.0");

    // The password is required.
    let (s, b) = app
        .call(
            reqwest::Method::DELETE,
            "/api/v1/me",
            Some(&t),
            Some(json!({"password": "guess guess"})),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["password"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let (s, _) = app
        .call(
            reqwest::Method::DELETE,
            "/api/v1/me",
            Some(&t),
            Some(json!({"password": PW})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Gone: the session, the login, the code (404 page, no scan), the personal data.
    assert_eq!(
        app.get("/api/v1/me", Some(&t)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "leaving@example.com", PW, "x").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(scan().await, StatusCode::NOT_FOUND);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 0);
    let (name, target, status): (Option<String>, Option<String>, String) =
        sqlx::query_as("SELECT name, target_url, status FROM qr_codes WHERE id = $1::uuid")
            .bind(qr["id"].as_str().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((name, target, status.as_str()), (None, None, "deleted"));
    let mails: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbound_emails WHERE to_address = 'leaving@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(mails, 0, "no copy of the address in the outbox");
    // Kept for the operator: that it happened (audited, by id) and the Stripe customer slot.
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deleted_accounts WHERE user_id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(kept, 1);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_logs WHERE action = 'user.delete' AND entity_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    // Scans stay counted but carry nothing that identifies the visitor.
    eventually("scans anonymised", || async {
        let rows = scans().await;
        (rows.len() == 1 && rows[0] == (String::new(), String::new())).then_some(())
    })
    .await;
    // The address is free again.
    app.register("leaving@example.com").await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn two_factor_sign_in_with_codes_and_recovery_codes() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("twofa@example.com").await;
    let (s, setup) = app
        .post("/api/v1/auth/totp/setup", Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{setup}");
    let url = setup["otpauth_url"].as_str().unwrap();
    assert!(
        url.starts_with("otpauth://totp/qrsaas:twofa%40example.com?"),
        "{url}"
    );
    // The authenticator app's side, from the URL alone.
    let app_totp = totp_rs::TOTP::from_url(url).unwrap();
    let now = chrono::Utc::now().timestamp() as u64;
    let (s, b) = app
        .post(
            "/api/v1/auth/totp/enable",
            Some(&t),
            json!({"code": "12345x"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["code"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let first = app_totp.generate(now);
    let (s, b) = app
        .post("/api/v1/auth/totp/enable", Some(&t), json!({"code": first}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let recovery: Vec<String> = serde_json::from_value(b["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);
    // The secret is stored sealed with the server key, not as the app received it.
    let stored: String =
        sqlx::query_scalar("SELECT totp_secret FROM users WHERE email = 'twofa@example.com'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let secret = setup["secret"].as_str().unwrap();
    assert!(
        stored.starts_with("v1:") && !stored.contains(secret),
        "{stored}"
    );

    let login = |extra: Value| {
        let mut body = json!({"email": "twofa@example.com", "password": PW});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        app.post("/api/v1/auth/login", None, body)
    };
    // The password alone is not enough now.
    let (s, b) = login(json!({})).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("totp_required"))
    );
    // A code works once: the one that enabled it cannot be replayed.
    let (s, b) = login(json!({"totp_code": first})).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let next = app_totp.generate(now + 30);
    assert_eq!(login(json!({"totp_code": next})).await.0, StatusCode::OK);
    // A recovery code works once.
    assert_eq!(
        login(json!({"recovery_code": recovery[3]})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        login(json!({"recovery_code": recovery[3]})).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Off again, with the password; then the password alone signs in.
    let (s, _) = app
        .post(
            "/api/v1/auth/totp/disable",
            Some(&t),
            json!({"password": "nope nope nope"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app
        .post(
            "/api/v1/auth/totp/disable",
            Some(&t),
            json!({"password": PW}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(login(json!({})).await.0, StatusCode::OK);
    let actions = app.audit_actions("/api/v1/audit-logs", &t).await;
    assert!(
        actions.iter().any(|a| a == "user.totp_enable")
            && actions.iter().any(|a| a == "user.totp_disable"),
        "{actions:?}"
    );
    app.stop().await.unwrap();
}

/// Every entry of a ZIP, by name.
fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut out = Vec::new();
            f.read_to_end(&mut out).unwrap();
            (f.name().to_owned(), out)
        })
        .collect()
}

#[tokio::test]
async fn downloading_all_ones_data_gives_every_record_and_no_secret() {
    let http_only = qrsaas::startup::Parts {
        http: true,
        workers: false,
        scheduler: false,
        migrate: true,
    };
    let app = TestApp::spawn_parts(http_only, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (t, id) = app.register("mine@example.com").await;
    let (s, _) = app
        .put(
            "/api/v1/settings",
            Some(&t),
            json!({"locale": "en-IN", "timezone": "Asia/Kolkata"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, project) = app
        .post("/api/v1/projects", Some(&t), json!({"name": "Shop"}))
        .await;
    let (s, qr) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "=HYPERLINK(1)", "qr_type": "url", "dynamic": true,
                   "target_url": "https://example.com/menu", "project_id": project["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{qr}");
    let (_, note) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "Note", "qr_type": "text", "dynamic": false, "data": {"text": "hi"}}),
        )
        .await;
    let mut png = Vec::new();
    image::RgbaImage::from_pixel(64, 64, image::Rgba([200, 10, 10, 255]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let res = app
        .http
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&t)
        .multipart(
            reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(png)
                    .file_name("logo.png")
                    .mime_str("image/png")
                    .unwrap(),
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let upload: Value = res.json().await.unwrap();
    let (s, key) = app
        .post(
            "/api/v1/api-keys",
            Some(&t),
            json!({"name": "reader", "scopes": ["exports:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let narrow = key["key"].as_str().unwrap().to_owned();
    let (s, hook) = app
        .post(
            "/api/v1/webhooks",
            Some(&t),
            json!({"url": "http://127.0.0.1:9/hook", "events": ["job.failed"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    let hook_secret = hook["secret"].as_str().unwrap().to_owned();
    let short = format!("/r/{}", qr["short_code"].as_str().unwrap());
    for _ in 0..2 {
        let s = app
            .http
            .get(app.url(&short))
            .header("user-agent", IPHONE)
            .header("x-forwarded-for", "198.51.100.23")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, StatusCode::FOUND);
    }

    // One export at a time: asked twice while queued, the same job; once it is cancelled, a
    // new one.
    let ask = || async {
        let (s, b) = app.post("/api/v1/me/export", Some(&t), json!({})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        b["job_id"].as_str().unwrap().to_owned()
    };
    let first = ask().await;
    assert_eq!(ask().await, first);
    let (s, _) = app
        .post(&format!("/api/v1/jobs/{first}/cancel"), Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .post("/api/v1/me/export", Some(&narrow), json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a narrow key cannot ask for it");

    // Workers come up: the scans are stored, then the export runs.
    let worker = app.replica_with_workers().await;
    let ch = app.clickhouse();
    eventually("the scans stored", || async {
        let n: u64 = ch
            .query("SELECT count() FROM scan_events WHERE user_id = toUUID(?)")
            .bind(&id)
            .fetch_one()
            .await
            .unwrap();
        (n == 2).then_some(())
    })
    .await;
    let job = ask().await;
    assert_ne!(job, first);
    let done = eventually("the export to finish", || async {
        let (_, j) = app.get(&format!("/api/v1/jobs/{job}"), Some(&t)).await;
        (j["status"] != "queued" && j["status"] != "running").then_some(j)
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["kind"], "account_export");
    assert_eq!(
        (
            done["result"]["codes"].as_i64(),
            done["result"]["scans"].as_i64()
        ),
        (Some(2), Some(2))
    );
    let url = format!("/api/v1/exports/{job}/download");
    assert_eq!(done["result_url"], url.as_str());
    let mail = eventually("the ready e-mail", || async {
        app.smtp
            .to("mine@example.com")
            .into_iter()
            .find(|m| m.subject() == "Your qrsaas data export is ready")
    })
    .await;
    assert!(mail.text().contains(&url), "{}", mail.text());

    // Only its owner, with a credential that could have asked for it, downloads it.
    let fetch = |token: String| {
        let req = app.http.get(app.url(&url)).bearer_auth(token);
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.bytes().await.unwrap().to_vec())
        }
    };
    let (other, _) = app.register("nosy@example.com").await;
    assert_eq!(fetch(other).await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch(narrow.clone()).await.0, StatusCode::FORBIDDEN);
    let (s, zip) = fetch(t.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let files = unzip(&zip);
    let json = |name: &str| -> Vec<Value> {
        serde_json::from_slice(files.get(name).unwrap_or_else(|| panic!("{name} missing")))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };

    // The values the user holds.
    let account = json("account.json");
    assert_eq!(account.len(), 1);
    assert_eq!(account[0]["email"], "mine@example.com");
    assert!(account[0].get("password_hash").is_none());
    let settings = json("settings.json");
    assert_eq!(
        (
            settings[0]["locale"].as_str(),
            settings[0]["timezone"].as_str()
        ),
        (Some("en-IN"), Some("Asia/Kolkata"))
    );
    let codes = json("qr_codes.json");
    let names: Vec<&str> = codes.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["=HYPERLINK(1)", "Note"]);
    assert_eq!(codes[1]["type_data"]["text"], "hi", "{}", codes[1]);
    assert_eq!(codes[0]["target_url"], "https://example.com/menu");
    // Each code's history, version 1 as created.
    let versions = json("qr_code_versions.json");
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions.iter().all(|v| v["version"] == 1));
    assert!(
        versions
            .iter()
            .any(|v| v["state"]["target_url"] == "https://example.com/menu")
    );
    assert_eq!(json("projects.json")[0]["name"], "Shop");
    assert_eq!(json("uploads.json")[0]["id"], upload["id"]);
    let logo = &files[&format!("uploads/{}.png", upload["id"].as_str().unwrap())];
    assert_eq!(image::load_from_memory(logo).unwrap().width(), 64);
    let keys = json("api_keys.json");
    assert_eq!(keys[0]["scopes"], json!(["exports:read"]));
    assert_eq!(
        json("webhook_endpoints.json")[0]["url"],
        "http://127.0.0.1:9/hook"
    );
    assert!(!json("sessions.json").is_empty());
    let actions: Vec<String> = json("audit_log.json")
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(actions.iter().any(|a| a == "account.export"), "{actions:?}");
    for billing in [
        "account",
        "subscriptions",
        "daily_usage",
        "statements",
        "credits",
    ] {
        json(&format!("billing/{billing}.json")); // present and valid, if empty on a new account
    }
    assert_eq!(
        json("products.json"),
        Vec::<Value>::new(),
        "empty sections are []"
    );

    let text = |name: &str| String::from_utf8(files[name].clone()).unwrap();
    let codes_csv = text("qr_codes.csv");
    let lines: Vec<&str> = codes_csv.lines().collect();
    assert_eq!(lines.len(), 3, "{codes_csv}");
    assert!(
        lines[1].starts_with(&format!(
            "{},'=HYPERLINK(1),url,true,",
            qr["id"].as_str().unwrap()
        )),
        "neutralised: {}",
        lines[1]
    );
    assert!(lines[1].contains(&format!("/r/{}", qr["short_code"].as_str().unwrap())));
    assert!(
        lines[1].contains(",Shop,2,"),
        "project and scans: {}",
        lines[1]
    );
    assert!(lines[2].starts_with(&format!(
        "{},Note,text,false,",
        note["id"].as_str().unwrap()
    )));
    let scans_csv = text("scans.csv");
    let scans: Vec<Vec<&str>> = scans_csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(scans.len(), 2, "{scans_csv}");
    for s in &scans {
        assert_eq!(s[1], qr["id"].as_str().unwrap());
        assert_eq!((s[8], s[9], s[10]), ("iOS", "17.0", "Safari"), "{s:?}");
        assert_eq!((s[13], s[14]), ("false", "198.51.100.0"), "{s:?}");
    }
    assert!(text("README.txt").contains("scans.csv"));

    // No secret leaves: password and key hashes, the TOTP secret, the webhook secret, the
    // session token and its hash.
    let everything: String = files
        .values()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    let (pw_hash, key_hash, token_hash): (String, String, String) = sqlx::query_as(
        "SELECT u.password_hash, encode(k.key_hash, 'hex'), \
                (SELECT encode(token_hash, 'hex') FROM sessions WHERE user_id = u.id LIMIT 1) \
         FROM users u JOIN api_keys k ON k.user_id = u.id WHERE u.id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    for secret in [&pw_hash, &key_hash, &token_hash, &hook_secret, &narrow, &t] {
        assert!(!everything.contains(secret.as_str()), "a secret leaked");
    }
    assert!(!everything.contains("$argon2"));

    // The cancelled request never ran.
    let (_, j) = app.get(&format!("/api/v1/jobs/{first}"), Some(&t)).await;
    assert_eq!(
        (j["status"].as_str(), j["attempts"].as_i64()),
        (Some("cancelled"), Some(0))
    );
    worker.stop().await.unwrap();
    app.stop().await.unwrap();
}
