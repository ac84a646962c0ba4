//! Registration, login, sessions, rate limits, API keys, the welcome e-mail.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestApp, eventually};

#[tokio::test]
async fn register_login_logout_and_welcome_email() {
    let app = TestApp::spawn().await;
    let (s, body) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "Ann@Example.com", "password": "correct horse battery", "name": "Ann"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["user"]["role"], "user");
    assert_eq!(body["user"]["name"], "Ann");
    let token = body["token"].as_str().unwrap().to_owned();

    // The token works; the password is stored as argon2id, the token only as a hash.
    let (s, me) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(
        (s, me["email"].as_str()),
        (StatusCode::OK, Some("ann@example.com"))
    );
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    let hashed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE token_hash = sha256($1::bytea)")
            .bind(token.as_bytes())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        hashed, 1,
        "the session is stored as the SHA-256 of its token"
    );

    // The welcome e-mail goes through the queue, the worker and the notifier actor to SMTP.
    let mail = eventually("welcome e-mail", || async {
        app.smtp
            .to("ann@example.com")
            .into_iter()
            .find(|m| m.subject() == "Welcome to qrsaas")
    })
    .await;
    assert_eq!(mail.subject(), "Welcome to qrsaas");
    assert_eq!(mail.from, "<no-reply@qrsaas.local>");
    assert!(mail.text().contains("Hi Ann,"), "{}", mail.text());
    assert!(mail.text().contains("ann@example.com"));
    assert!(mail.html().contains("<b>ann@example.com</b>"));
    // The outbox row is marked sent once SMTP has accepted the message (just after delivery).
    eventually("outbox rows marked sent", || async {
        let status: Vec<String> = sqlx::query_scalar("SELECT status FROM outbound_emails")
            .fetch_all(&app.db)
            .await
            .ok()?;
        // The welcome and the address verification.
        (status == ["sent", "sent"]).then_some(())
    })
    .await;

    // Same e-mail again: 409. Weak password / bad e-mail: 422 with both fields.
    let (s, b) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "ann@example.com", "password": "correct horse battery", "name": "A"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
    let (s, b) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "nope", "password": "short", "name": "A"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]["fields"]["email"].is_string() && b["error"]["fields"]["password"].is_string(),
        "{b}"
    );

    // Login with the right and wrong password.
    let (s, b) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ANN@example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let second = b["token"].as_str().unwrap().to_owned();
    assert_ne!(second, token);
    let (s, b) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ann@example.com", "password": "wrong horse battery"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let (s, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "whatever123"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Logout revokes only the presented session.
    let (s, _) = app
        .post("/api/v1/auth/logout", Some(&token), json!({}))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/api/v1/me", Some(&second)).await.0, StatusCode::OK);

    // Profile update.
    let (s, b) = app
        .patch("/api/v1/me", Some(&second), json!({"name": "Ann B."}))
        .await;
    assert_eq!((s, b["name"].as_str()), (StatusCode::OK, Some("Ann B.")));
    let (s, b) = app
        .patch("/api/v1/me", Some(&second), json!({"name": ""}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn repeated_login_failures_are_rate_limited() {
    let app = TestApp::spawn_with(|s| {
        s.auth_limits.failures_per_email_and_ip = 3;
        s.auth_limits.failures_per_ip = 6;
    })
    .await;
    app.register("victim@example.com").await;
    app.register("other@example.com").await;
    let login = |email: &'static str, pw: &'static str| {
        app.post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": pw}),
        )
    };
    for _ in 0..3 {
        assert_eq!(
            login("victim@example.com", "guess guess guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Per (e-mail, address): the account is locked from here even for the right password,
    // with Retry-After.
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "victim@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!(b["error"]["code"], "rate_limited");
    // Another account from the same IP still works until the per-IP budget is spent.
    assert_eq!(
        login("other@example.com", "correct horse battery").await.0,
        StatusCode::OK
    );
    for _ in 0..3 {
        assert_eq!(
            login("other@example.com", "guess guess guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Six failures from this IP: every login from it is refused now.
    assert_eq!(
        login("other@example.com", "correct horse battery").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_stranger_cannot_lock_an_owner_out_but_a_spread_out_guesser_is_stopped() {
    let app = TestApp::spawn_with(|s| {
        s.auth_limits.failures_per_email_and_ip = 3;
        s.auth_limits.failures_per_email = 7;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.register("owner@example.com").await;
    let login = |ip: String, pw: &'static str| {
        let req = app
            .http
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": "owner@example.com", "password": pw}));
        async move { req.send().await.unwrap().status() }
    };
    // A stranger's wrong passwords lock only the stranger's address.
    for _ in 0..3 {
        assert_eq!(
            login("198.51.100.66".into(), "wrong guess!").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login("198.51.100.66".into(), "correct horse battery").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login("203.0.113.10".into(), "correct horse battery").await,
        StatusCode::OK,
        "the owner, elsewhere, signs in"
    );
    // Guesses spread over addresses add up to the slower account-wide budget (7 in all).
    for i in 0..4 {
        assert_eq!(
            login(format!("192.0.2.{i}"), "wrong guess!").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login("203.0.113.10".into(), "correct horse battery").await,
        StatusCode::TOO_MANY_REQUESTS,
        "locked everywhere once the account-wide budget is spent"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn api_keys_are_shown_once_hashed_and_revocable() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("keys@example.com").await;
    let (s, created) = app
        .post("/api/v1/api-keys", Some(&token), json!({"name": "CI"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let prefix = created["prefix"].as_str().unwrap();
    assert!(key.starts_with("qrk_") && key.starts_with(prefix));
    let id = created["id"].as_str().unwrap();

    // Listed without the key; stored only as a hash.
    let (_, list) = app.get("/api/v1/api-keys", Some(&token)).await;
    assert_eq!(list["total"], 1);
    assert!(list["items"][0].get("key").is_none());
    assert_eq!(list["items"][0]["prefix"], prefix);
    let (s, one) = app
        .get(&format!("/api/v1/api-keys/{id}"), Some(&token))
        .await;
    assert_eq!((s, one["name"].as_str()), (StatusCode::OK, Some("CI")));
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE key_hash = sha256($1::bytea)")
            .bind(key.as_bytes())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, 1);

    // The key authenticates as its owner; last use is recorded.
    let (s, me) = app.get("/api/v1/me", Some(&key)).await;
    assert_eq!(
        (s, me["email"].as_str()),
        (StatusCode::OK, Some("keys@example.com"))
    );
    let used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_keys")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(used.is_some());
    // A key cannot log out (it is not a session).
    assert_eq!(
        app.post("/api/v1/auth/logout", Some(&key), json!({}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    // Revoked: stops working at once, gone from the list; a second revoke is 404.
    let (s, _) = app
        .delete(&format!("/api/v1/api-keys/{id}"), Some(&token))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", Some(&key)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/api-keys", Some(&token)).await.1["total"],
        0
    );
    let (s, _) = app
        .delete(&format!("/api/v1/api-keys/{id}"), Some(&token))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Nonsense keys are refused.
    assert_eq!(
        app.get("/api/v1/me", Some("qrk_nothing_here")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, b) = app
        .post("/api/v1/api-keys", Some(&token), json!({"name": ""}))
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["name"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("must not be empty"))
    );
    app.stop().await.unwrap();
}
