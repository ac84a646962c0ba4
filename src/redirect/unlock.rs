//! Password-protected codes: the form's POST, checked server-side under a rate limit, and the
//! signed cookie that proves the scanner gave the password (so the password never travels in a
//! URL and the landing page's download link works without asking again).

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{Entry, EntryStatus, Resolved, pages, resolve};
use crate::client::client_ip;
use crate::domain::ShortCode;
use crate::domain::rules::{self, Action};
use crate::ratelimit::Limit;
use crate::state::AppState;

const COOKIE: &str = "qr_unlock";
/// How long one correct password keeps a code open on that device.
const UNLOCK_SECS: i64 = 12 * 3600;
/// Wrong guesses per code and client address (argon2 makes each one cost ~20 ms besides).
const LIMIT: Limit = Limit {
    bucket: "code-password",
    limit: 10,
    window_secs: 900,
};

/// Identifies the code's current passwords: changing a password invalidates earlier unlocks.
pub fn fingerprint(rules: &[rules::Rule]) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    let mut any = false;
    for hash in rules.iter().filter_map(|r| r.then.password_hash()) {
        h.update(hash.as_bytes());
        h.update([0]);
        any = true;
    }
    any.then(|| h.finalize().into())
}

fn mac(secret: &str, e: &Entry, fingerprint: &[u8; 32], expires: i64) -> Hmac<Sha256> {
    // HMAC accepts keys of any length (long ones are hashed), so this cannot fail; the
    // fallback only keeps the hot path free of panics.
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
    m.update(e.short_code.as_bytes());
    m.update(b"|");
    m.update(expires.to_string().as_bytes());
    m.update(b"|");
    m.update(fingerprint);
    m
}

fn secret(state: &AppState) -> &str {
    secrecy::ExposeSecret::expose_secret(&state.settings.secret_key)
}

/// Whether the request carries a valid, unexpired unlock cookie for this code.
pub fn unlocked(state: &AppState, req: &HttpRequest, e: &Entry) -> bool {
    let Some(fp) = &e.password_fingerprint else {
        return false;
    };
    let Some(c) = req.cookie(COOKIE) else {
        return false;
    };
    let Some((exp, sig)) = c.value().split_once('.') else {
        return false;
    };
    let Ok(exp) = exp.parse::<i64>() else {
        return false;
    };
    exp > Utc::now().timestamp()
        && hex::decode(sig)
            .is_ok_and(|sig| mac(secret(state), e, fp, exp).verify_slice(&sig).is_ok())
}

fn unlock_cookie(state: &AppState, e: &Entry, fp: &[u8; 32]) -> Cookie<'static> {
    let exp = Utc::now().timestamp() + UNLOCK_SECS;
    let sig = hex::encode(mac(secret(state), e, fp, exp).finalize().into_bytes());
    Cookie::build(COOKIE, format!("{exp}.{sig}"))
        .path(format!("/r/{}", e.short_code))
        .http_only(true)
        .secure(state.settings.public_base_url.starts_with("https://"))
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(UNLOCK_SECS))
        .finish()
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct PasswordForm {
    password: String,
}

/// The password form's submission. On success: the unlock cookie and a 303 back to the code,
/// whose GET then counts the scan and goes on with the remaining rules.
#[utoipa::path(post, path = "/r/{short_code}", tag = "public", params(super::ShortCodeParam),
    request_body(content = PasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses(
    (status = 400, content_type = "text/html", description = "The form has no password"),
    (status = 415, content_type = "text/html", description = "Not a form"),
    (status = 303, description = "Correct: unlock cookie set, back to /r/{short_code}"),
    (status = 403, content_type = "text/html", description = "Wrong password: the form again"),
    (status = 429, content_type = "text/html", description = "Too many wrong passwords"),
    (status = 404, description = "Unknown code")))]
pub async fn submit(
    state: &AppState,
    req: &HttpRequest,
    code: ShortCode,
    form: PasswordForm,
) -> HttpResponse {
    let e = match resolve(state, req, code.as_str()).await {
        Err(why) => return why.page(req),
        Ok(Resolved::Missing) => return pages::not_found(pages::visitor_lang(req)),
        Ok(Resolved::Found(e)) => e,
    };
    let back = || {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/r/{}", e.short_code)))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    };
    let (EntryStatus::Active, Some(fp)) = (e.status, e.password_fingerprint) else {
        return back();
    };
    // The password of the rule this scan would meet now (rules may depend on device, time …).
    let scan = super::rule_scan(state, req, &e, false);
    let Some(Action::Password(hash)) = rules::evaluate(&e.rules, &scan) else {
        return back();
    };
    let key = format!(
        "{}:{}",
        e.short_code,
        client_ip(req, &state.settings.trusted_proxies).map_or("unknown".into(), |i| i.to_string())
    );
    if state.limiter.check(&LIMIT, &key).await.is_err() {
        return pages::password(&e, pages::PasswordProblem::TooMany);
    }
    let ok = crate::accounts::secrets::verify_password(form.password, Some(hash.clone()))
        .await
        .unwrap_or(false);
    if !ok {
        state.limiter.hit(&LIMIT, &key).await;
        return pages::password(&e, pages::PasswordProblem::Wrong);
    }
    let mut r = back();
    let _ = r.add_cookie(&unlock_cookie(state, &e, &fp));
    r
}
