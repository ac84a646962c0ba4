//! Stripe's webhooks: `POST /api/v1/billing/stripe/webhook`.
//!
//! - **Verified.** `Stripe-Signature` is checked by async-stripe's webhook crate (HMAC-SHA256 of
//!   `t.body`, any `v1` signature, 300 s tolerance) against every configured secret, so a secret
//!   can be rolled. Unsigned, wrongly signed or stale deliveries answer 400 and store nothing.
//! - **Once.** The event id is recorded in the transaction of its effect: a redelivery finds it
//!   and does nothing (one audit row, one e-mail, however many deliveries).
//! - **Order-free.** A subscription's state is never taken from the event: it is re-read from
//!   Stripe while the account's billing row is locked, so whichever event is handled last
//!   writes the newest state, and any shuffle of the same events ends in Stripe's state.
//! - **Lenient payloads.** After verification, only the fields needed are read (ids, types),
//!   so an event rendered in another API version than the SDK's still works.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgConnection;
use stripe_webhook::{Webhook, WebhookError};
use uuid::Uuid;

use super::credits;
use super::stripe::SubscriptionSnapshot;
use crate::accounts::audit::{self, Actor, Change};
use crate::db::billing::{SubscriptionRow, SubscriptionState};
use crate::db::{self};
use crate::error::{ApiError, ApiResult};
use crate::notify::emails;
use crate::notify::events::{EventType, SubscriptionUpdatedData, emit};
use crate::state::AppState;

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Handled,
    /// Seen before: nothing done.
    Duplicate,
    /// Verified, but of no concern (another type, an unknown customer).
    Ignored,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Unsigned,
    BadSignature,
    Stale,
}

impl Refused {
    fn message(&self) -> &'static str {
        match self {
            Refused::Unsigned => "missing Stripe-Signature header",
            Refused::BadSignature => "the Stripe-Signature does not match any webhook secret",
            Refused::Stale => "the Stripe-Signature timestamp is outside the 300 s tolerance",
        }
    }
}

/// Checks `header` against every secret. The crate checks the signature before the timestamp
/// and only then parses, so a parse failure still means a verified delivery (the payload is
/// read leniently below) and a stale one means the right secret signed an old delivery.
pub fn verify(secrets: &[SecretString], payload: &str, header: &str) -> Result<(), Refused> {
    for secret in secrets {
        match Webhook::construct_event(payload, header, secret.expose_secret()) {
            Ok(_) | Err(WebhookError::BadParse(_)) => return Ok(()),
            Err(WebhookError::BadTimestamp(_)) => return Err(Refused::Stale),
            Err(_) => continue,
        }
    }
    Err(Refused::BadSignature)
}

#[derive(Debug, Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: Data,
}

#[derive(Debug, Deserialize)]
struct Data {
    object: Value,
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Handles one delivery.
pub async fn receive(state: &AppState, header: Option<&str>, body: &[u8]) -> ApiResult<Received> {
    let refuse = |r: Refused| {
        metrics::counter!("stripe_webhooks_refused_total").increment(1);
        ApiError::BadRequest(r.message().to_owned())
    };
    let header = header.ok_or_else(|| refuse(Refused::Unsigned))?;
    let payload = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    verify(&state.billing.webhook_secrets, payload, header).map_err(refuse)?;
    let env: Envelope = serde_json::from_str(payload)
        .map_err(|e| ApiError::BadRequest(format!("not a Stripe event: {e}")))?;
    if db::billing::event_seen(&state.db, &env.id).await? {
        return Ok(Received::Duplicate);
    }
    let obj = &env.data.object;
    let outcome = match env.kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            checkout_completed(state, &env).await?
        }
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "customer.subscription.paused"
        | "customer.subscription.resumed" => {
            let sub = text(obj, &["id"]).unwrap_or_default();
            let user = account_of(state, obj).await?;
            sync(state, &env, user, sub).await?
        }
        "invoice.paid" | "invoice.payment_succeeded" | "invoice.payment_failed" => {
            // The subscription is named at the top (older API versions) or under `parent`.
            let sub = text(obj, &["subscription"])
                .or_else(|| text(obj, &["parent", "subscription_details", "subscription"]));
            match sub {
                Some(sub) => {
                    let user = account_of(state, obj).await?;
                    sync(state, &env, user, sub).await?
                }
                None => record_only(state, &env, None).await?,
            }
        }
        _ => record_only(state, &env, None).await?,
    };
    metrics::counter!("stripe_webhooks_total", "type" => env.kind.clone()).increment(1);
    Ok(outcome)
}

fn created(env: &Envelope) -> DateTime<Utc> {
    DateTime::from_timestamp(env.created, 0).unwrap_or_else(Utc::now)
}

fn stripe_actor(env: &Envelope) -> Actor {
    Actor {
        user_id: None,
        api_key_id: None,
        ip: "stripe".into(),
        request_id: env.id.clone(),
    }
}

/// The account an object belongs to: by its Stripe customer, else by the account id our
/// checkout put in its metadata.
async fn account_of(state: &AppState, obj: &Value) -> ApiResult<Option<Uuid>> {
    if let Some(c) = text(obj, &["customer"])
        && let Some(user) = db::billing::user_by_customer(&state.db, c).await?
    {
        return Ok(Some(user));
    }
    let claimed = text(obj, &["metadata", "account_id"])
        .or_else(|| text(obj, &["client_reference_id"]))
        .and_then(|s| s.parse::<Uuid>().ok());
    match claimed {
        Some(id) if db::users::by_id(&state.db, id).await?.is_some() => Ok(Some(id)),
        _ => Ok(None),
    }
}

async fn record_only(state: &AppState, env: &Envelope, user: Option<Uuid>) -> ApiResult<Received> {
    let mut tx = state.db.begin().await?;
    let fresh = db::billing::record_event(&mut tx, &env.id, &env.kind, user, created(env)).await?;
    tx.commit().await?;
    Ok(if fresh {
        Received::Ignored
    } else {
        Received::Duplicate
    })
}

/// Brings the subscription `sub` of `user` to Stripe's current state, in the transaction that
/// records the event, with the event's own follow-ups (a failed payment's notice).
async fn sync(
    state: &AppState,
    env: &Envelope,
    user: Option<Uuid>,
    sub: &str,
) -> ApiResult<Received> {
    let Some(user) = user else {
        tracing::warn!(event = %env.id, kind = %env.kind, "stripe event for an unknown customer");
        return record_only(state, env, None).await;
    };
    let stripe = state.billing.stripe()?;
    let mut tx = state.db.begin().await?;
    if !db::billing::record_event(&mut tx, &env.id, &env.kind, Some(user), created(env)).await? {
        return Ok(Received::Duplicate);
    }
    let account = db::billing::lock_account(&mut tx, user).await?;
    // Read under the lock: a later event's handler reads later, so the newest state wins.
    let snap = stripe.subscription(sub).await.map_err(|e| {
        tracing::warn!(event = %env.id, error = %e, "could not re-read the subscription; Stripe will redeliver");
        ApiError::Unavailable("payments provider")
    })?;
    match &account.stripe_customer_id {
        Some(c) if *c != snap.customer => {
            tracing::warn!(event = %env.id, "subscription of another customer than the account's; ignored");
            tx.commit().await?;
            return Ok(Received::Ignored);
        }
        Some(_) => {}
        None => db::billing::set_customer(&mut tx, user, &snap.customer).await?,
    }
    let Some(after) = apply(&mut tx, state, env, user, &snap).await? else {
        tx.commit().await?;
        return Ok(Received::Ignored);
    };
    let data = SubscriptionUpdatedData {
        plan: after.plan_id.clone(),
        status: after.status.clone(),
        interval: after.interval.clone(),
        current_period_end: after.renew_at,
        cancel_at_period_end: after.cancel_at_period_end,
    };
    let mut pending = emit(&mut tx, user, EventType::SubscriptionUpdated, &data).await?;
    if env.kind == "invoice.payment_failed" && after.status == "past_due" {
        pending
            .emails
            .extend(payment_failed_notice(&mut tx, state, env, user, &after).await?);
    }
    tx.commit().await?;
    pending.dispatch(state).await;
    Ok(Received::Handled)
}

/// Writes the snapshot as the subscription's state (with its audit row); `None` when its prices
/// belong to no plan of the catalogue.
async fn apply(
    tx: &mut PgConnection,
    state: &AppState,
    env: &Envelope,
    user: Uuid,
    snap: &SubscriptionSnapshot,
) -> ApiResult<Option<SubscriptionRow>> {
    let Some((plan, interval, price)) = snap.prices.iter().find_map(|p| {
        state
            .billing
            .catalogue
            .by_price(p)
            .map(|(plan, i)| (plan, i, p))
    }) else {
        tracing::warn!(event = %env.id, prices = ?snap.prices, "subscription with no price of the plan catalogue");
        return Ok(None);
    };
    let before = db::billing::subscription_by_stripe_id(&mut *tx, &snap.id).await?;
    let after = db::billing::upsert_subscription(
        tx,
        &SubscriptionState {
            user_id: user,
            stripe_id: &snap.id,
            stripe_customer_id: &snap.customer,
            plan_id: &plan.id,
            status: &snap.status,
            stripe_price_id: price,
            interval: interval.as_str(),
            current_period_start: snap.current_period_start,
            current_period_end: snap.current_period_end,
            cancel_at_period_end: snap.cancel_at_period_end,
            stripe_created: snap.created,
        },
    )
    .await?;
    let image = |s: &SubscriptionRow| {
        serde_json::json!({
            "plan_id": s.plan_id, "status": s.status, "interval": s.interval,
            "current_period_end": s.renew_at, "cancel_at_period_end": s.cancel_at_period_end,
        })
    };
    audit::record(
        tx,
        &stripe_actor(env),
        Change {
            action: "billing.subscription_sync",
            entity_type: "billing_subscription",
            entity_id: Some(snap.id.clone()),
            before: before.as_ref().map(image).as_ref(),
            after: Some(&image(&after)),
        },
    )
    .await?;
    Ok(Some(after))
}

/// The "payment failed" e-mail: once per invoice, however many attempts Stripe makes.
async fn payment_failed_notice(
    tx: &mut PgConnection,
    state: &AppState,
    env: &Envelope,
    user: Uuid,
    sub: &SubscriptionRow,
) -> ApiResult<Option<Uuid>> {
    let invoice = text(&env.data.object, &["id"]).unwrap_or(&env.id);
    if !db::billing::claim_notice(tx, user, "payment_failed", invoice).await? {
        return Ok(None);
    }
    let Some(owner) = db::users::by_id(&mut *tx, user).await? else {
        return Ok(None);
    };
    let plan = state.billing.catalogue.resolve(Some(&sub.plan_id));
    let since = sub.past_due_since.unwrap_or_else(Utc::now);
    let hint = "POST /api/v1/billing/portal";
    let email = emails::payment_failed(
        tx,
        state,
        &owner,
        &plan.name,
        since + state.billing.grace,
        hint,
    )
    .await?;
    db::billing::set_notice_email(tx, user, "payment_failed", invoice, email).await?;
    Ok(Some(email))
}

/// A finished Checkout: a subscription's (synced from Stripe) or a credit pack's (credits added
/// once the payment is in).
async fn checkout_completed(state: &AppState, env: &Envelope) -> ApiResult<Received> {
    let obj = &env.data.object;
    let user = account_of(state, obj).await?;
    match text(obj, &["mode"]) {
        Some("subscription") => match text(obj, &["subscription"]) {
            Some(sub) => sync(state, env, user, sub).await,
            None => record_only(state, env, user).await,
        },
        Some("payment") if text(obj, &["payment_status"]) == Some("paid") => match user {
            Some(user) => credits_paid(state, env, user).await,
            None => record_only(state, env, None).await,
        },
        _ => record_only(state, env, user).await,
    }
}

async fn credits_paid(state: &AppState, env: &Envelope, user: Uuid) -> ApiResult<Received> {
    let obj = &env.data.object;
    let session = text(obj, &["id"]).unwrap_or(&env.id);
    let Some(pack) =
        text(obj, &["metadata", "credit_pack"]).and_then(|id| state.billing.catalogue.pack(id))
    else {
        tracing::warn!(event = %env.id, "paid checkout without a known credit pack");
        return record_only(state, env, Some(user)).await;
    };
    let mut tx = state.db.begin().await?;
    if !db::billing::record_event(&mut tx, &env.id, &env.kind, Some(user), created(env)).await? {
        return Ok(Received::Duplicate);
    }
    // Keyed by the session: `completed` and `async_payment_succeeded` of one payment add once.
    let key = format!("stripe:{session}");
    let reason = format!("bought {} credits", pack.credits);
    let lot = credits::add_lot(
        &mut tx,
        user,
        &credits::Lot {
            amount: pack.credits,
            kind: "purchase",
            reason: &reason,
            key: &key,
            expires_at: None,
            actor: None,
        },
    )
    .await?;
    let mut mail = None;
    if let Some(lot) = lot {
        audit::record(
            &mut tx,
            &stripe_actor(env),
            Change::created(
                "billing.credits_purchase",
                "credit_ledger",
                lot.id,
                &serde_json::json!({ "user_id": user, "amount": pack.credits, "session": session }),
            ),
        )
        .await?;
        let balance = db::billing::credit_balance(&mut *tx, user).await?;
        if let Some(owner) = db::users::by_id(&mut *tx, user).await? {
            mail =
                Some(emails::credits_added(&mut tx, state, &owner, pack.credits, balance).await?);
        }
    }
    tx.commit().await?;
    if let Some(m) = mail {
        emails::dispatch(state, m).await;
    }
    Ok(Received::Handled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    /// Stripe's scheme as its documentation gives it, written here independently of the crate.
    fn sign(secret: &str, t: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signatures_of_any_secret_and_any_v1_verify_and_nothing_else_does() {
        let body = r#"{"id":"evt_1","type":"ping","created":1,"data":{"object":{}}}"#;
        let now = Utc::now().timestamp();
        let secrets: Vec<SecretString> = vec!["whsec_old".into(), "whsec_new".into()];
        let good = sign("whsec_new", now, body);
        let other = sign("whsec_elsewhere", now, body);
        assert_eq!(
            verify(&secrets, body, &format!("t={now},v1={good}")),
            Ok(())
        );
        assert_eq!(
            verify(&secrets, body, &format!("t={now},v1={other},v1={good}")),
            Ok(()),
            "any of several v1 signatures"
        );
        assert_eq!(
            verify(&secrets, body, &format!("t={now},v1={other}")),
            Err(Refused::BadSignature)
        );
        let tampered = body.replace("evt_1", "evt_2");
        assert_eq!(
            verify(&secrets, &tampered, &format!("t={now},v1={good}")),
            Err(Refused::BadSignature)
        );
        let old = now - 301;
        let stale = sign("whsec_old", old, body);
        assert_eq!(
            verify(&secrets, body, &format!("t={old},v1={stale}")),
            Err(Refused::Stale)
        );
        assert_eq!(
            verify(&[], body, &format!("t={now},v1={good}")),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            verify(&secrets, body, "garbage"),
            Err(Refused::BadSignature)
        );
    }
}
