//! A fake OpenID Connect provider on a real socket: discovery, JWKS and a token endpoint that
//! signs RS256 ID tokens and enforces PKCE, for grants the test registers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const KEY_PEM: &str = include_str!("oidc_test_key.pem");
pub const CLIENT_ID: &str = "qrsaas-test-client";
pub const CLIENT_SECRET: &str = "qrsaas-test-secret";

/// What the provider will say about the user when `code` is redeemed.
#[derive(Clone)]
pub struct Grant {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub nonce: String,
    pub code_challenge: String,
}

#[derive(Clone)]
pub struct FakeOidc {
    pub issuer: String,
    grants: Arc<Mutex<HashMap<String, Grant>>>,
}

struct Shared {
    issuer: String,
    grants: Arc<Mutex<HashMap<String, Grant>>>,
}

impl FakeOidc {
    pub async fn start() -> FakeOidc {
        let grants = Arc::new(Mutex::new(HashMap::new()));
        let g = grants.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                let issuer = format!("http://{addr}");
                let shared = web::Data::new(Shared {
                    issuer: issuer.clone(),
                    grants: g,
                });
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .route(
                            "/.well-known/openid-configuration",
                            web::get().to(discovery),
                        )
                        .route("/jwks", web::get().to(jwks))
                        .route("/token", web::post().to(token))
                })
                .workers(1)
                .listen(listener)
                .expect("listen")
                .run();
                let _ = tx.send(issuer);
                let _ = server.await;
            });
        });
        let issuer = rx.await.expect("oidc started");
        FakeOidc { issuer, grants }
    }

    pub fn grant(&self, code: &str, grant: Grant) {
        self.grants
            .lock()
            .expect("lock")
            .insert(code.to_owned(), grant);
    }
}

async fn discovery(s: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": format!("{}/authorize", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "jwks_uri": format!("{}/jwks", s.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile"],
    }))
}

async fn jwks() -> HttpResponse {
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(KEY_PEM).expect("key");
    HttpResponse::Ok().json(json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "test-key",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    }]}))
}

async fn token(
    s: web::Data<Shared>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let refuse = |why: &str| {
        HttpResponse::BadRequest().json(json!({"error": "invalid_grant", "error_description": why}))
    };
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let authed = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(basic.as_str())
        || (form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET));
    if !authed {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let Some(code) = form.get("code") else {
        return refuse("no code");
    };
    // Codes are single-use.
    let Some(grant) = s.grants.lock().expect("lock").remove(code) else {
        return refuse("unknown code");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.code_challenge {
        return refuse("PKCE verifier does not match");
    }
    let now = chrono::Utc::now().timestamp();
    let claims: Value = json!({
        "iss": s.issuer, "aud": CLIENT_ID, "sub": grant.subject, "email": grant.email,
        "email_verified": grant.email_verified, "name": grant.name, "nonce": grant.nonce,
        "iat": now, "exp": now + 300,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("test-key".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(KEY_PEM.as_bytes()).expect("encoding key");
    let id_token = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
    HttpResponse::Ok().json(json!({"access_token": "fake-access", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
}
