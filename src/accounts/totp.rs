//! Optional two-factor sign-in: TOTP (RFC 6238: SHA-1, 6 digits, 30 s, one step of skew, as
//! every authenticator app expects) and ten single-use recovery codes.

use totp_rs::{Algorithm, Secret, TOTP};

use super::{Origin, Principal, secrets};
use crate::accounts::audit::{self, Change};
use crate::cache::Invalidate;
use crate::config::Settings;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::notify::seal::Sealer;
use crate::state::AppState;

const STEP: u64 = 30;
const RECOVERY_CODES: usize = 10;

fn totp(secret_b32: &str, account: &str) -> ApiResult<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored TOTP secret: {e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        bytes,
        Some("qrsaas".into()),
        account.to_owned(),
    )
    .map_err(|e| ApiError::internal(anyhow::anyhow!("TOTP: {e:?}")))
}

/// The time step a code is valid for, if it is valid now (±1 step) and newer than `last`.
fn accepted_step(t: &TOTP, code: &str, last: Option<i64>) -> Option<i64> {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let code = code.trim();
    [now.saturating_sub(STEP), now, now + STEP]
        .into_iter()
        .filter(|at| t.generate(*at).as_bytes() == code.as_bytes())
        .map(|at| (at / STEP) as i64)
        .find(|step| last.is_none_or(|l| *step > l))
}

/// TOTP secrets are stored sealed with the server key (a leaked database gives no one the
/// second factor).
fn sealer(settings: &Settings) -> Sealer {
    Sealer::for_purpose(
        "totp secrets",
        secrecy::ExposeSecret::expose_secret(&settings.secret_key),
    )
}

/// The stored secret in the clear. Secrets stored before sealing was introduced are base32,
/// which never looks sealed, and are used as they are.
fn open(settings: &Settings, stored: &str) -> ApiResult<String> {
    if !stored.starts_with("v1:") {
        return Ok(stored.to_owned());
    }
    sealer(settings).open(stored).map_err(ApiError::internal)
}

/// Starts set-up: a new secret (pending until a code confirms it) and its `otpauth://` URL for
/// the authenticator app's QR code.
pub async fn setup(state: &AppState, p: &Principal) -> ApiResult<(String, String)> {
    let mut tx = state.db.begin().await?;
    let current = db::totp::get(&mut *tx, p.user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if current.totp_enabled_at.is_some() {
        return Err(ApiError::Conflict {
            code: "totp_enabled",
            message: "two-factor sign-in is already on; turn it off first".into(),
        });
    }
    let Secret::Encoded(secret) = Secret::generate_secret().to_encoded() else {
        return Err(ApiError::internal(anyhow::anyhow!("secret encoding")));
    };
    db::totp::set_pending(&mut *tx, p.user.id, &sealer(&state.settings).seal(&secret)).await?;
    tx.commit().await?;
    let url = totp(&secret, &p.user.email)?.get_url();
    Ok((secret, url))
}

/// Confirms set-up with a first code; answers the recovery codes (shown once).
pub async fn enable(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    code: &str,
) -> ApiResult<Vec<String>> {
    let mut tx = state.db.begin().await?;
    let row = db::totp::get(&mut *tx, p.user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if row.totp_enabled_at.is_some() {
        return Err(ApiError::Conflict {
            code: "totp_enabled",
            message: "two-factor sign-in is already on".into(),
        });
    }
    let secret = row
        .totp_secret
        .ok_or_else(|| ApiError::field("code", "start with POST /api/v1/auth/totp/setup"))?;
    let secret = open(&state.settings, &secret)?;
    let step = accepted_step(&totp(&secret, &p.user.email)?, code, None)
        .ok_or_else(|| ApiError::field("code", "is not the current code"))?;
    db::totp::enable(&mut *tx, p.user.id, step).await?;
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| secrets::random_token()[..12].to_owned())
        .collect();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| secrets::sha256(c)).collect();
    db::totp::replace_recovery_codes(&mut tx, p.user.id, &hashes).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::event("user.totp_enable", "user", p.user.id),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Turns two-factor sign-in off (the password required).
pub async fn disable(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    password: String,
) -> ApiResult<()> {
    let user = db::users::by_id(&state.db, p.user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !secrets::verify_password(password, user.password_hash).await? {
        return Err(ApiError::field("password", "is not your password"));
    }
    let mut tx = state.db.begin().await?;
    db::totp::disable(&mut tx, p.user.id).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::event("user.totp_disable", "user", p.user.id),
    )
    .await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::User { id: p.user.id }).await;
    Ok(())
}

/// The second factor of a password login, inside the login's transaction: nothing to do when
/// two-factor sign-in is off; else a current code (each accepted once) or an unused recovery
/// code. `Ok(false)`: wrong; `Err(TotpRequired)`: none given.
pub async fn second_factor(
    conn: &mut sqlx::PgConnection,
    settings: &Settings,
    user: &db::users::UserRow,
    code: Option<&str>,
    recovery: Option<&str>,
) -> ApiResult<bool> {
    let Some(row) = db::totp::get(&mut *conn, user.id).await? else {
        return Ok(false);
    };
    let (Some(secret), Some(_)) = (row.totp_secret, row.totp_enabled_at) else {
        return Ok(true);
    };
    match (code, recovery) {
        (Some(code), _) => {
            // A secret sealed under another server key (the key was changed) accepts no code;
            // the recovery codes, stored as hashes, still work.
            let Ok(secret) = open(settings, &secret) else {
                tracing::error!(user = %user.id, "TOTP secret does not open with this server key");
                return Ok(false);
            };
            match accepted_step(&totp(&secret, &user.email)?, code, row.totp_last_step) {
                Some(step) => {
                    db::totp::accept_step(&mut *conn, user.id, step).await?;
                    Ok(true)
                }
                None => Ok(false),
            }
        }
        (None, Some(rc)) => {
            Ok(
                db::totp::use_recovery_code(&mut *conn, user.id, &secrets::sha256(rc.trim()))
                    .await?,
            )
        }
        (None, None) => Err(ApiError::TotpRequired),
    }
}
