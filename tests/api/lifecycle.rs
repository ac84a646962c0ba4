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
