//! Google sign-in against a fake OIDC provider (discovery, JWKS, token endpoint, PKCE).

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::oidc::{CLIENT_ID, CLIENT_SECRET, FakeOidc, Grant};
use crate::common::{TestApp, eventually};

struct Started {
    state: String,
    nonce: String,
    challenge: String,
}

/// Follows `start` the way a browser would and reads what it sends to the provider.
async fn start(app: &TestApp, client: &reqwest::Client, oidc: &FakeOidc) -> Started {
    let res = client
        .get(app.url("/api/v1/auth/google/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        location
            .as_str()
            .starts_with(&format!("{}/authorize", oidc.issuer)),
        "{location}"
    );
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["scope"].contains("openid") && q["scope"].contains("email"));
    assert_eq!(
        q["redirect_uri"],
        format!(
            "{}/api/v1/auth/google/callback",
            app.settings.public_base_url
        )
    );
    Started {
        state: q["state"].clone(),
        nonce: q["nonce"].clone(),
        challenge: q["code_challenge"].clone(),
    }
}

async fn callback(
    app: &TestApp,
    client: &reqwest::Client,
    code: &str,
    state: &str,
) -> (StatusCode, Value) {
    let res = client
        .get(app.url(&format!(
            "/api/v1/auth/google/callback?code={code}&state={state}"
        )))
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

fn grant(s: &Started, sub: &str, email: &str, verified: bool) -> Grant {
    Grant {
        subject: sub.into(),
        email: email.into(),
        email_verified: verified,
        name: "Gina Google".into(),
        nonce: s.nonce.clone(),
        code_challenge: s.challenge.clone(),
    }
}

#[tokio::test]
async fn google_sign_in_creates_links_and_refuses_forgeries() {
    let oidc = FakeOidc::start().await;
    let issuer = oidc.issuer.clone();
    let app = TestApp::spawn_with(move |s| {
        s.google.client_id = Some(CLIENT_ID.into());
        s.google.client_secret = Some(CLIENT_SECRET.into());
        s.google.issuer_url = issuer;
    })
    .await;

    // A local user signs in with Google for the first time: linked, not duplicated.
    let (_, local_id) = app.register("gina@example.com").await;
    let b = browser();
    let st = start(&app, &b, &oidc).await;
    oidc.grant(
        "code-1",
        grant(&st, "google-sub-1", "gina@example.com", true),
    );
    let (s, body) = callback(&app, &b, "code-1", &st.state).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], local_id.as_str());
    let token = body["token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/me", Some(token)).await.1["email"],
        "gina@example.com"
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 1);

    // The state is single-use: replaying the callback fails.
    oidc.grant(
        "code-2",
        grant(&st, "google-sub-1", "gina@example.com", true),
    );
    assert_eq!(
        callback(&app, &b, "code-2", &st.state).await.0,
        StatusCode::BAD_REQUEST
    );

    // A new Google user gets an account (provider google) and a welcome e-mail.
    let b2 = browser();
    let st2 = start(&app, &b2, &oidc).await;
    oidc.grant(
        "code-3",
        grant(&st2, "google-sub-2", "newbie@example.com", true),
    );
    let (s, body) = callback(&app, &b2, "code-3", &st2.state).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["provider"], "google");
    assert_eq!(body["user"]["name"], "Gina Google");
    eventually("welcome for google user", || async {
        app.smtp.to("newbie@example.com").into_iter().next()
    })
    .await;
    // Signing in again finds the same user by its Google subject.
    let st3 = start(&app, &b2, &oidc).await;
    oidc.grant(
        "code-4",
        grant(&st3, "google-sub-2", "newbie@example.com", true),
    );
    let (_, again) = callback(&app, &b2, "code-4", &st3.state).await;
    assert_eq!(again["user"]["id"], body["user"]["id"], "{again}");

    // A callback from a browser that did not start the flow (no state cookie) is refused.
    let st4 = start(&app, &b2, &oidc).await;
    oidc.grant(
        "code-5",
        grant(&st4, "google-sub-2", "newbie@example.com", true),
    );
    assert_eq!(
        callback(&app, &browser(), "code-5", &st4.state).await.0,
        StatusCode::BAD_REQUEST
    );

    // An ID token with the wrong nonce is refused.
    let st5 = start(&app, &b2, &oidc).await;
    let mut g = grant(&st5, "google-sub-2", "newbie@example.com", true);
    g.nonce = "forged".into();
    oidc.grant("code-6", g);
    assert_eq!(
        callback(&app, &b2, "code-6", &st5.state).await.0,
        StatusCode::UNAUTHORIZED
    );

    // An unverified e-mail cannot be linked to an account.
    let st6 = start(&app, &b2, &oidc).await;
    oidc.grant(
        "code-7",
        grant(&st6, "google-sub-3", "gina@example.com", false),
    );
    let (s, body) = callback(&app, &b2, "code-7", &st6.state).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 2);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn google_routes_are_absent_when_not_configured() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.get("/api/v1/auth/google/start", None).await.0,
        StatusCode::NOT_FOUND
    );
    app.stop().await.unwrap();
}
