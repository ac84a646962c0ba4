//! Operator actions on users.

use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{self, Origin, Principal};
use crate::cache::Invalidate;
use crate::db::users::UserRow;
use crate::db::{self, Paged, Window};
use crate::domain::Role;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn list_users(state: &AppState, q: Option<&str>, w: Window) -> ApiResult<Paged<UserRow>> {
    Ok(db::users::search(&state.db, q, w).await?)
}

pub struct UserPatch {
    pub role: Option<Role>,
    pub suspended: Option<bool>,
    /// `Some(None)`: back to the default plan.
    pub plan_id: Option<Option<String>>,
}

/// Changes a user's role or suspension. Suspending revokes the user's sessions at once (API keys
/// are refused while suspended). Admins cannot demote or suspend themselves, so an installation
/// cannot lose its last operator by accident.
pub async fn update_user(
    state: &AppState,
    origin: &Origin,
    admin: &Principal,
    id: Uuid,
    patch: UserPatch,
) -> ApiResult<UserRow> {
    if id == admin.user.id && (patch.role == Some(Role::User) || patch.suspended == Some(true)) {
        return Err(ApiError::Conflict {
            code: "cannot_change_self",
            message: "admins cannot demote or suspend themselves".into(),
        });
    }
    let mut tx = state.db.begin().await?;
    let before = db::users::by_id_for_update(&mut *tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let after = db::users::set_admin_fields(&mut *tx, id, patch.role, patch.suspended).await?;
    if let Some(plan) = &patch.plan_id {
        let actor = origin.actor(Some(admin));
        crate::billing::set_plan(&mut tx, &state.billing, &actor, id, plan.as_deref()).await?;
    }
    if patch.suspended == Some(true) {
        db::sessions::revoke_all_for_user(&mut *tx, id).await?;
    }
    let action = match (patch.suspended, before.suspended_at.is_some()) {
        (Some(true), false) => "user.suspend",
        (Some(false), true) => "user.unsuspend",
        _ => "user.admin_update",
    };
    audit::record(
        &mut tx,
        &origin.actor(Some(admin)),
        Change {
            action,
            entity_type: "user",
            entity_id: Some(id.to_string()),
            before: Some(&accounts::snapshot(&before)),
            after: Some(&accounts::snapshot(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::User { id }).await;
    if patch.suspended.is_some() {
        // The owner's codes serve or stop with the account.
        state.bus.publish(Invalidate::Owner { id }).await;
    }
    Ok(after)
}

pub async fn user(state: &AppState, id: Uuid) -> ApiResult<UserRow> {
    db::users::by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Grants credits to a user (audited).
pub async fn grant_credits(
    state: &AppState,
    origin: &Origin,
    admin: &Principal,
    id: Uuid,
    amount: u32,
    reason: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> ApiResult<db::billing::CreditRow> {
    let user = user(state, id).await?;
    crate::billing::grant_credits(state, origin, admin, &user, amount, reason, expires_at).await
}

/// `qrsaas admin promote EMAIL`: makes a user an admin (audited as a system action) and tells
/// the running replicas, so the user's existing sessions see the new role at once.
pub async fn promote(settings: &crate::config::Settings, email: &str) -> anyhow::Result<UserRow> {
    let db_pool = &db::connect(settings).await?;
    let email = crate::domain::Email::parse(email).map_err(|e| anyhow::anyhow!("e-mail {e}"))?;
    let mut tx = db_pool.begin().await?;
    let before = db::users::by_email(&mut *tx, email.as_str())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user with e-mail {email}"))?;
    let after = db::users::promote(&mut *tx, email.as_str())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user with e-mail {email}"))?;
    let actor = audit::Actor {
        user_id: None,
        api_key_id: None,
        ip: "cli".into(),
        request_id: format!("cli-{}", Uuid::now_v7()),
    };
    audit::record(
        &mut tx,
        &actor,
        Change::updated(
            "user.promote",
            "user",
            after.id,
            &accounts::snapshot(&before),
            &accounts::snapshot(&after),
        ),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    let mut redis = redis::Client::open(secrecy::ExposeSecret::expose_secret(&settings.redis_url))?
        .get_multiplexed_async_connection()
        .await?;
    crate::cache::announce(
        &mut redis,
        &crate::cache::channel(&settings.redis_namespace),
        &Invalidate::User { id: after.id },
    )
    .await?;
    Ok(after)
}

/// Blocks a code (abuse, phishing) or lifts the block: blocked, its scans answer 410 on every
/// replica at once and its owner can no longer change it; unblocked, it serves again as it was.
pub async fn set_code_blocked(
    state: &AppState,
    origin: &Origin,
    admin: &Principal,
    id: Uuid,
    blocked: bool,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let before = db::qr_codes::set_blocked(&mut tx, id, blocked)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !blocked && before.status != "blocked" {
        return Err(ApiError::Conflict {
            code: "not_blocked",
            message: "this code is not blocked".into(),
        });
    }
    let (action, status) = if blocked {
        ("qr_code.block", "blocked")
    } else {
        ("qr_code.unblock", "active")
    };
    audit::record(
        &mut tx,
        &origin.actor(Some(admin)),
        Change::updated(
            action,
            "qr_code",
            id,
            &serde_json::json!({"status": before.status, "owner": before.user_id}),
            &serde_json::json!({"status": status}),
        ),
    )
    .await?;
    let pending = match (blocked, before.user_id) {
        (true, Some(owner)) => {
            let mut event = crate::codes::event_data(&state.settings, &before);
            event.status = "blocked".into();
            crate::notify::events::emit(
                &mut tx,
                owner,
                crate::notify::events::EventType::QrCodeBlocked,
                &event,
            )
            .await?
        }
        _ => crate::notify::Pending::default(),
    };
    tx.commit().await?;
    pending.dispatch(state).await;
    crate::codes::code_changed(state, id, &before.short_code).await;
    Ok(())
}

/// What the operator's console shows at a glance.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub accounts: i64,
    /// Signed in within 30 days.
    pub active_accounts_30d: i64,
    /// With a live subscription (active, trialing or past due).
    pub paying_accounts: i64,
    pub suspended_accounts: i64,
    pub codes: i64,
    pub dynamic_codes: i64,
    pub blocked_codes: i64,
    /// `null` while ClickHouse is unreachable.
    pub scans_today: Option<u64>,
    pub scans_30d: Option<u64>,
    /// Monthly recurring revenue of live subscriptions (yearly ones count a twelfth), as a
    /// decimal string in `currency`.
    pub mrr: String,
    pub currency: String,
    /// Jobs waiting per queue (`null` while Redis is unreachable).
    pub queue_depths: std::collections::BTreeMap<String, Option<u64>>,
    /// Jobs that failed for good (retry them from `/api/v1/admin/jobs`).
    pub dead_jobs: i64,
}

pub async fn stats(state: &AppState) -> ApiResult<Stats> {
    let counts = db::platform::counts(&state.db).await?;
    let subs = db::platform::subscriptions(&state.db).await?;
    let catalogue = &state.billing.catalogue;
    let mut mrr = rust_decimal::Decimal::ZERO;
    for (plan_id, interval, n) in subs {
        let Some(plan) = catalogue.get(&plan_id) else {
            continue;
        };
        let monthly = match interval.as_deref() {
            Some("year") => plan.price_yearly.decimal() / rust_decimal::Decimal::from(12),
            _ => plan.price_monthly.decimal(),
        };
        mrr += monthly * rust_decimal::Decimal::from(n);
    }
    let scans = crate::analytics::report::platform_scans(&state.clickhouse)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "admin stats: ClickHouse unavailable"))
        .ok();
    Ok(Stats {
        accounts: counts.accounts,
        active_accounts_30d: counts.active_30d,
        paying_accounts: counts.paying,
        suspended_accounts: counts.suspended,
        codes: counts.codes,
        dynamic_codes: counts.dynamic_codes,
        blocked_codes: counts.blocked_codes,
        scans_today: scans.map(|s| s.0),
        scans_30d: scans.map(|s| s.1),
        mrr: mrr.round_dp(2).to_string(),
        currency: catalogue.currency.clone(),
        queue_depths: state.queues.depths().await,
        dead_jobs: counts.dead_jobs,
    })
}

/// Codes of every tenant, by name, short code or target host.
pub async fn search_codes(
    state: &AppState,
    q: Option<&str>,
    w: Window,
) -> ApiResult<Paged<db::platform::CodeHit>> {
    let (items, total) = db::platform::search_codes(&state.db, q, w.limit, w.offset).await?;
    Ok(Paged { items, total })
}
