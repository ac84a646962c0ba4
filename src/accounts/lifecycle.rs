//! An account over its life: password change and reset, e-mail verification and change, the
//! caller's sessions. Links sent by e-mail carry single-use tokens kept only as hashes.

use chrono::{Duration, Utc};
use uuid::Uuid;

use super::{Origin, Principal, secrets};
use crate::accounts::audit::{self, Change};
use crate::cache::Invalidate;
use crate::db::{self, account_tokens::NewToken, sessions::SessionRow, users::UserRow};
use crate::domain::{Email, Password};
use crate::error::{ApiError, ApiResult};
use crate::notify;
use crate::ratelimit::Limit;
use crate::state::AppState;

/// How long a password-reset link works.
pub const RESET_HOURS: i64 = 1;
/// How long an address-verification link works.
pub const VERIFY_HOURS: i64 = 48;

const INVALID_TOKEN: &str = "is invalid, used or expired";

fn limit(bucket: &'static str, limit: u64, window_secs: u64) -> Limit {
    Limit {
        bucket,
        limit,
        window_secs,
    }
}

/// A new link token and its hash.
fn new_token() -> (String, Vec<u8>) {
    let token = secrets::random_token();
    let hash = secrets::sha256(&token);
    (token, hash)
}

async fn audit_user(
    tx: &mut sqlx::PgConnection,
    origin: &Origin,
    user: &UserRow,
    action: &'static str,
) -> ApiResult<()> {
    let actor = audit::Actor {
        user_id: Some(user.id),
        ..origin.actor(None)
    };
    audit::record(tx, &actor, Change::event(action, "user", user.id)).await
}

/// Changes the caller's password (the current one required); every other session ends.
pub async fn change_password(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    current: String,
    new: Password,
) -> ApiResult<()> {
    // Guessing the current password here is a login by another door: the same budget.
    let per_user = limit(
        "password-change",
        state.settings.auth_limits.failures_per_email_and_ip,
        state.settings.auth_limits.window_secs,
    );
    let key = p.user.id.to_string();
    state.limiter.check(&per_user, &key).await?;
    let user = db::users::by_id(&state.db, p.user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !secrets::verify_password(current, user.password_hash.clone()).await? {
        state.limiter.hit(&per_user, &key).await;
        return Err(ApiError::field("current_password", "is not your password"));
    }
    let hash = secrets::hash_password(new.expose().to_owned()).await?;
    let mut tx = state.db.begin().await?;
    db::users::set_password_hash(&mut *tx, user.id, &hash).await?;
    db::sessions::revoke_others(&mut *tx, user.id, p.session_id).await?;
    db::account_tokens::retire(&mut *tx, user.id, "password_reset").await?;
    audit_user(&mut tx, origin, &user, "user.password_change").await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::User { id: user.id }).await;
    Ok(())
}

/// Sends a reset link if `email` names an account with a password. The caller answers the same
/// whatever happened here, so the answer tells nobody whether an address has an account.
pub async fn forgot_password(state: &AppState, origin: &Origin, email: &str) -> ApiResult<()> {
    state
        .limiter
        .hit_or_refuse(&limit("forgot-ip", 10, 3600), &origin.ip)
        .await?;
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    // Per address: a few links an hour at most (quietly: the answer must not differ).
    let per_email = limit("forgot-email", 3, 3600);
    let email_key = hex::encode(secrets::sha256(email.as_str()));
    if state.limiter.hit(&per_email, &email_key).await > per_email.limit {
        return Ok(());
    }
    let Some(user) = db::users::by_email(&state.db, email.as_str()).await? else {
        return Ok(());
    };
    if user.suspended_at.is_some() {
        return Ok(());
    }
    let (token, hash) = new_token();
    let url = state
        .settings
        .public_url(&format!("/reset-password?token={token}"));
    let mut tx = state.db.begin().await?;
    db::account_tokens::retire(&mut *tx, user.id, "password_reset").await?;
    db::account_tokens::insert(
        &mut *tx,
        &NewToken {
            user_id: user.id,
            purpose: "password_reset",
            token_hash: &hash,
            new_email: None,
            expires_at: Utc::now() + Duration::hours(RESET_HOURS),
        },
    )
    .await?;
    let mail = notify::emails::password_reset(&mut tx, state, &user, &url).await?;
    audit_user(&mut tx, origin, &user, "user.password_reset_requested").await?;
    tx.commit().await?;
    notify::emails::dispatch(state, mail).await;
    Ok(())
}

/// Sets a new password from a reset link; the link works once, and every session ends.
pub async fn reset_password(
    state: &AppState,
    origin: &Origin,
    token: &str,
    new: Password,
) -> ApiResult<()> {
    state
        .limiter
        .hit_or_refuse(&limit("reset-ip", 20, 3600), &origin.ip)
        .await?;
    let hash = secrets::hash_password(new.expose().to_owned()).await?;
    let mut tx = state.db.begin().await?;
    let taken = db::account_tokens::take(&mut *tx, &secrets::sha256(token), &["password_reset"])
        .await?
        .ok_or_else(|| ApiError::field("token", INVALID_TOKEN))?;
    let user = db::users::by_id(&mut *tx, taken.user_id)
        .await?
        .ok_or_else(|| ApiError::field("token", INVALID_TOKEN))?;
    db::users::set_password_hash(&mut *tx, user.id, &hash).await?;
    // Following a link sent to the address proves the address.
    db::users::mark_verified(&mut *tx, user.id).await?;
    db::sessions::revoke_others(&mut *tx, user.id, None).await?;
    audit_user(&mut tx, origin, &user, "user.password_reset").await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::User { id: user.id }).await;
    Ok(())
}

/// Writes a verification link for `address` (the account's, or a new one to change to) into
/// the outbox inside `tx`; returns the e-mail's id.
pub async fn send_verification(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    user: &UserRow,
    address: &str,
) -> ApiResult<Uuid> {
    let change = address != user.email;
    let purpose = if change {
        "change_email"
    } else {
        "verify_email"
    };
    let (token, hash) = new_token();
    db::account_tokens::retire(&mut *tx, user.id, purpose).await?;
    db::account_tokens::insert(
        &mut *tx,
        &NewToken {
            user_id: user.id,
            purpose,
            token_hash: &hash,
            new_email: change.then_some(address),
            expires_at: Utc::now() + Duration::hours(VERIFY_HOURS),
        },
    )
    .await?;
    let url = state
        .settings
        .public_url(&format!("/verify-email?token={token}"));
    notify::emails::verify_email(tx, state, user, address, &url, VERIFY_HOURS).await
}

/// Sends the caller a new verification link.
pub async fn resend_verification(state: &AppState, p: &Principal) -> ApiResult<()> {
    if p.user.email_verified_at.is_some() {
        return Err(ApiError::Conflict {
            code: "already_verified",
            message: "this e-mail address is already verified".into(),
        });
    }
    state
        .limiter
        .hit_or_refuse(&limit("verify-resend", 5, 3600), &p.user.id.to_string())
        .await?;
    let mut tx = state.db.begin().await?;
    let mail = send_verification(&mut tx, state, &p.user, &p.user.email).await?;
    tx.commit().await?;
    notify::emails::dispatch(state, mail).await;
    Ok(())
}

/// Asks to move the account to `new_email` (the password required); the change happens when
/// the link sent to the new address is followed.
pub async fn change_email(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    password: String,
    new_email: Email,
) -> ApiResult<()> {
    if !secrets::verify_password(password, p.user.password_hash.clone()).await? {
        return Err(ApiError::field("password", "is not your password"));
    }
    if new_email.as_str() == p.user.email {
        return Err(ApiError::field("new_email", "is already your address"));
    }
    state
        .limiter
        .hit_or_refuse(&limit("email-change", 5, 3600), &p.user.id.to_string())
        .await?;
    let mut tx = state.db.begin().await?;
    let mail = send_verification(&mut tx, state, &p.user, new_email.as_str()).await?;
    audit_user(&mut tx, origin, &p.user, "user.email_change_requested").await?;
    tx.commit().await?;
    notify::emails::dispatch(state, mail).await;
    Ok(())
}

/// Follows a verification link: the address is verified, or the account moves to the new one.
pub async fn verify_email(state: &AppState, origin: &Origin, token: &str) -> ApiResult<UserRow> {
    state
        .limiter
        .hit_or_refuse(&limit("verify-ip", 30, 3600), &origin.ip)
        .await?;
    let mut tx = state.db.begin().await?;
    let taken = db::account_tokens::take(
        &mut *tx,
        &secrets::sha256(token),
        &["verify_email", "change_email"],
    )
    .await?
    .ok_or_else(|| ApiError::field("token", INVALID_TOKEN))?;
    match (taken.purpose.as_str(), taken.new_email.as_deref()) {
        ("change_email", Some(address)) => db::users::set_email(&mut *tx, taken.user_id, address)
            .await
            .map_err(super::email_taken)?,
        _ => db::users::mark_verified(&mut *tx, taken.user_id).await?,
    }
    let user = db::users::by_id(&mut *tx, taken.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let action = match taken.purpose.as_str() {
        "change_email" => "user.email_change",
        _ => "user.email_verified",
    };
    audit_user(&mut tx, origin, &user, action).await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::User { id: user.id }).await;
    Ok(user)
}

/// Refuses what the operator holds back until the address is verified
/// (`QRSAAS_ACCOUNTS__REQUIRE_VERIFIED_EMAIL`): webhooks and checkout.
pub fn require_verified(state: &AppState, p: &Principal) -> ApiResult<()> {
    if state.settings.accounts.require_verified_email && p.user.email_verified_at.is_none() {
        return Err(ApiError::EmailUnverified);
    }
    Ok(())
}

pub async fn sessions(state: &AppState, p: &Principal) -> ApiResult<Vec<SessionRow>> {
    Ok(db::sessions::list_live(&state.db, p.user.id).await?)
}

/// Ends one of the caller's sessions (another device, or this one).
pub async fn revoke_session(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    if !db::sessions::revoke_own(&mut *tx, p.user.id, id).await? {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::event("session.revoke", "session", id),
    )
    .await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::User { id: p.user.id }).await;
    Ok(())
}

/// Deletes the caller's account (its password required, when it has one): personal data
/// erased, codes answer the 404 page on every replica, scans kept for nobody's reports but
/// anonymised (address, agent, city), the Stripe customer left for the operator's records.
pub async fn delete_account(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    password: Option<String>,
) -> ApiResult<()> {
    let user = db::users::by_id(&state.db, p.user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if user.password_hash.is_some()
        && !secrets::verify_password(password.unwrap_or_default(), user.password_hash.clone())
            .await?
    {
        return Err(ApiError::field("password", "is not your password"));
    }
    let files = db::users::stored_files(&state.db, user.id).await?;
    let mut tx = state.db.begin().await?;
    // Recorded before the row goes: the audit row keeps the id, never the address.
    audit_user(&mut tx, origin, &user, "user.delete").await?;
    db::users::erase(&mut tx, user.id).await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::User { id: user.id }).await;
    state.bus.publish(Invalidate::Owner { id: user.id }).await;
    for key in files {
        if let Err(e) = state.store.delete(&key).await {
            tracing::warn!(error = %e, key, "account deletion: could not remove a stored file");
        }
    }
    if let Err(e) = crate::analytics::anonymise_owner(&state.clickhouse, user.id).await {
        // The rows still carry only anonymised addresses (unless the owner kept full IPs);
        // the operator can re-run the mutation.
        tracing::error!(error = %e, user = %user.id, "account deletion: scans not anonymised");
    }
    Ok(())
}
