//! SMS, the optional channel: a provider trait with one HTTP implementation (the shape of
//! Twilio's Messages API, base URL configurable), a phone number verified by a code sent by
//! SMS, and alerts for owners who opted in. Off when no provider is configured: alerts then go
//! by e-mail and webhook only, and `PUT /api/v1/me/phone` answers 503.

use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Pending;
use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::config::SmsSettings;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Limit;
use crate::state::AppState;

/// A verification code lasts this long.
const CODE_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Wrong codes tried before the code is void.
const MAX_TRIES: i32 = 5;
/// Attempts at sending one SMS before it is marked failed.
const GIVE_UP_AFTER: i32 = 5;

/// Sends text messages; answers the provider's id of the message.
pub trait SmsProvider: Send + Sync {
    fn send<'a>(&'a self, to: &'a str, body: &'a str) -> BoxFuture<'a, anyhow::Result<String>>;
}

/// Twilio's Messages API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, form
/// `To`, `From`, `Body`, HTTP basic auth with the account SID and auth token.
pub struct Twilio {
    client: reqwest::Client,
    base: String,
    sid: String,
    token: SecretString,
    from: String,
}

impl Twilio {
    /// `None` unless account, token and sender are all set.
    pub fn from_settings(s: &SmsSettings) -> anyhow::Result<Option<Twilio>> {
        let (Some(sid), Some(token), Some(from)) = (&s.account_sid, &s.auth_token, &s.from) else {
            return Ok(None);
        };
        Ok(Some(Twilio {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()?,
            base: s.api_base.trim_end_matches('/').to_owned(),
            sid: sid.clone(),
            token: token.clone(),
            from: from.clone(),
        }))
    }
}

impl SmsProvider for Twilio {
    fn send<'a>(&'a self, to: &'a str, body: &'a str) -> BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(async move {
            let url = format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.base, self.sid
            );
            let res = self
                .client
                .post(url)
                .basic_auth(&self.sid, Some(self.token.expose_secret()))
                .form(&[("To", to), ("From", self.from.as_str()), ("Body", body)])
                .send()
                .await?;
            let status = res.status();
            let answer: serde_json::Value = res.json().await.unwrap_or_default();
            if !status.is_success() {
                anyhow::bail!("sms provider answered {status}: {}", answer["message"]);
            }
            Ok(answer["sid"].as_str().unwrap_or_default().to_owned())
        })
    }
}

/// An E.164 number: `+`, then 8 to 15 digits (spaces, dots and dashes dropped).
pub fn phone(raw: &str) -> Result<String, String> {
    let kept: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = kept.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(kept)
    } else {
        Err("must be an international number like +919876543210".into())
    }
}

fn provider(state: &AppState) -> ApiResult<&dyn SmsProvider> {
    state
        .sms
        .as_deref()
        .ok_or(ApiError::Unavailable("SMS (not configured on this server)"))
}

/// `PUT /api/v1/me/phone`: texts a 6-digit code to the number (5 codes an hour at most).
pub async fn start(state: &AppState, origin: &Origin, p: &Principal, raw: &str) -> ApiResult<()> {
    provider(state)?;
    let number = phone(raw).map_err(|why| ApiError::field("phone", why))?;
    let limit = Limit {
        bucket: "phone-code",
        limit: 5,
        window_secs: 3600,
    };
    state
        .limiter
        .hit_or_refuse(&limit, &p.user.id.to_string())
        .await?;
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
    let mut tx = state.db.begin().await?;
    db::notifications::set_phone(
        &mut tx,
        p.user.id,
        &number,
        &Sha256::digest(code.as_bytes()),
        Utc::now() + CODE_TTL,
    )
    .await?;
    let body = format!("Your qrsaas verification code is {code}. It expires in 10 minutes.");
    let sms =
        db::notifications::insert_sms(&mut tx, p.user.id, "phone_code", &number, &body).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created(
            "phone.set",
            "user_phone",
            p.user.id,
            &serde_json::json!({ "phone": number }),
        ),
    )
    .await?;
    tx.commit().await?;
    Pending {
        sms: vec![sms],
        ..Pending::default()
    }
    .dispatch(state)
    .await;
    Ok(())
}

/// `POST /api/v1/me/phone/verify`: the code that was texted.
pub async fn verify(state: &AppState, origin: &Origin, p: &Principal, code: &str) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let row = db::notifications::phone(&mut *tx, p.user.id)
        .await?
        .ok_or_else(|| ApiError::field("code", "no number is waiting for a code"))?;
    let live = row.code_expires_at.is_some_and(|t| t > Utc::now()) && row.code_attempts < MAX_TRIES;
    let matches = row
        .code_hash
        .as_deref()
        .is_some_and(|h| h == Sha256::digest(code.trim().as_bytes()).as_slice());
    if !(live && matches) {
        db::notifications::count_attempt(&mut tx, p.user.id).await?;
        tx.commit().await?;
        return Err(ApiError::field("code", "wrong or expired code"));
    }
    db::notifications::verify_phone(&mut tx, p.user.id).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created(
            "phone.verify",
            "user_phone",
            p.user.id,
            &serde_json::json!({ "phone": row.phone }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The caller's number and whether it is verified.
pub async fn get(state: &AppState, p: &Principal) -> ApiResult<db::notifications::PhoneRow> {
    db::notifications::phone(&state.db, p.user.id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn remove(state: &AppState, origin: &Origin, p: &Principal) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    if !db::notifications::delete_phone(&mut tx, p.user.id).await? {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::<(), ()> {
            action: "phone.delete",
            entity_type: "user_phone",
            entity_id: Some(p.user.id.to_string()),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An alert by SMS to the owner's verified number (nothing when SMS is off or the number is
/// not verified), in the transaction of the alert's cause.
pub async fn alert(
    tx: &mut PgConnection,
    app: &AppState,
    owner: Uuid,
    kind: &str,
    text: &str,
) -> anyhow::Result<Pending> {
    if app.sms.is_none() {
        return Ok(Pending::default());
    }
    let Some(phone) = db::notifications::phone(&mut *tx, owner)
        .await?
        .filter(|p| p.verified_at.is_some())
    else {
        return Ok(Pending::default());
    };
    let id = db::notifications::insert_sms(tx, owner, kind, &phone.phone, text).await?;
    Ok(Pending {
        sms: vec![id],
        ..Pending::default()
    })
}

/// Sends one outbox SMS (the notifier's `Text` handler). Idempotent: a sent one is skipped.
pub async fn send(app: &AppState, id: Uuid) -> anyhow::Result<()> {
    let Some(sms) = db::notifications::sms(&app.db, id).await? else {
        return Ok(());
    };
    if sms.status != "pending" {
        return Ok(());
    }
    let Some(provider) = app.sms.as_deref() else {
        db::notifications::sms_failed(&app.db, id, "SMS is not configured", 1).await?;
        return Ok(());
    };
    match provider.send(&sms.to_number, &sms.body).await {
        Ok(provider_id) => {
            db::notifications::sms_sent(&app.db, id, &provider_id).await?;
            metrics::counter!("sms_sent_total").increment(1);
            Ok(())
        }
        Err(e) => {
            db::notifications::sms_failed(&app.db, id, &e.to_string(), GIVE_UP_AFTER).await?;
            Err(e)
        }
    }
}

/// Queues again the SMS whose job was lost; answers how many.
pub async fn requeue_stranded(app: &AppState) -> anyhow::Result<usize> {
    let lost =
        db::notifications::stranded_sms(&app.db, Utc::now() - chrono::Duration::minutes(5)).await?;
    for sms_id in &lost {
        app.queues
            .enqueue(qrsaas_jobs::SendSms { sms_id: *sms_id })
            .await?;
    }
    Ok(lost.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_e164() {
        assert_eq!(phone(" +91 98765-43210 ").unwrap(), "+919876543210");
        assert!(phone("9876543210").is_err(), "a country code is needed");
        assert!(phone("+12").is_err());
        assert!(phone("+1 555 CALL NOW").is_err());
    }
}
