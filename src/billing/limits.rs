//! Plan limits and features, checked inside the transaction of the change they guard.
//!
//! A check that finds a limit locks the account's billing row first, then counts from the
//! tables themselves (codes, jobs, projects, keys — not the meter's counters, which lag), so
//! concurrent requests of one account are admitted one at a time and a limit holds exactly.
//! Accounts whose plan has no such limit (the self-hosted default) take no lock at all.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Billing, Period, Standing, credits};
use crate::db;
use crate::domain::plan::{Feature, LimitName, Plan};
use crate::domain::rules::{Action, Rule};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::notify::Pending;
use crate::state::AppState;

/// What a change asks of the plan.
#[derive(Debug, Clone, Copy)]
pub enum Ask {
    /// A new code (its id keys a credit spend, so a re-run bulk row pays once).
    Code {
        id: Uuid,
        dynamic: bool,
    },
    /// A paused dynamic code made active again.
    Reactivate,
    Project,
    ApiKey,
    WebhookEndpoint,
    /// A new custom short domain.
    Domain,
    /// A new export job.
    Export {
        job_id: Uuid,
    },
}

impl Ask {
    fn limits(self) -> &'static [LimitName] {
        match self {
            Ask::Code { dynamic: true, .. } => &[LimitName::CodesPerMonth, LimitName::DynamicCodes],
            Ask::Code { dynamic: false, .. } => &[LimitName::CodesPerMonth],
            Ask::Reactivate => &[LimitName::DynamicCodes],
            Ask::Project => &[LimitName::Projects],
            Ask::ApiKey => &[LimitName::ApiKeys],
            Ask::WebhookEndpoint => &[LimitName::WebhookEndpoints],
            Ask::Domain => &[LimitName::Domains],
            Ask::Export { .. } => &[LimitName::ExportsPerMonth],
        }
    }

    /// What paying with credits would cost, under which key and for which quota.
    fn price(self, plan: &Plan) -> Option<(u32, String, LimitName)> {
        match self {
            Ask::Code { id, .. } => plan
                .credit_rates
                .code
                .map(|r| (r, format!("code:{id}"), LimitName::CodesPerMonth)),
            Ask::Export { job_id } => plan
                .credit_rates
                .export
                .map(|r| (r, format!("export:{job_id}"), LimitName::ExportsPerMonth)),
            Ask::Reactivate | Ask::Project | Ask::ApiKey | Ask::WebhookEndpoint | Ask::Domain => {
                None
            }
        }
    }
}

/// How much of `limit` is in use now.
async fn usage(
    conn: &mut PgConnection,
    user: Uuid,
    limit: LimitName,
    period: &Period,
) -> Result<i64, sqlx::Error> {
    match limit {
        LimitName::DynamicCodes => db::billing::active_dynamic_codes(conn, user).await,
        LimitName::CodesPerMonth => {
            db::billing::codes_created(conn, user, period.start, period.end).await
        }
        LimitName::ExportsPerMonth => {
            let (from, to) = (period.start_at(), period.end_at());
            db::billing::exports_requested(conn, user, from, to).await
        }
        LimitName::Projects => db::billing::projects(conn, user).await,
        LimitName::ApiKeys => db::billing::live_api_keys(conn, user).await,
        LimitName::WebhookEndpoints => db::webhooks::count_endpoints(conn, user).await,
        LimitName::Domains => db::domains::count(conn, user).await,
        // Scans are never refused; retention is a window, not a count.
        LimitName::ScansPerMonth | LimitName::RetentionDays => Ok(0),
    }
}

fn refusal(limit: LimitName, max: u64, used: i64, plan: &Plan) -> ApiError {
    ApiError::PlanLimit {
        message: format!(
            "the {} plan allows {max} {}; upgrade, buy credits, or wait for the next period",
            plan.name,
            limit.as_str().replace('_', " ")
        ),
        fields: FieldErrors::from([
            ("limit".to_owned(), limit.as_str().to_owned()),
            ("value".to_owned(), max.to_string()),
            ("usage".to_owned(), used.to_string()),
            ("plan".to_owned(), plan.id.clone()),
        ]),
    }
}

/// Admits the change or answers 402 `plan_limit_reached`. Over a quota, an account holding
/// credits pays for the change with them instead (once per change: the spend is keyed by it).
/// A code that takes the month's creations to 80 % or 100 % of the quota sets off its alert
/// (answered, to dispatch after commit). Call inside the change's transaction: the account stays locked until it ends.
pub async fn admit(
    conn: &mut PgConnection,
    state: &AppState,
    user: Uuid,
    ask: Ask,
    now: DateTime<Utc>,
) -> ApiResult<Pending> {
    let billing = &state.billing;
    let first = billing.standing_of(conn, user, now).await?;
    if ask
        .limits()
        .iter()
        .all(|l| first.plan.limits.get(*l).is_none())
    {
        return Ok(Pending::default());
    }
    let account = db::billing::lock_account(conn, user).await?;
    // Read again under the lock: the plan may have changed since.
    let subscriptions = db::billing::subscriptions(&mut *conn, user).await?;
    let s = billing.standing(Some(&account), subscriptions, now);
    let mut exceeded = None;
    let mut notices = Pending::default();
    for limit in ask.limits() {
        let Some(max) = s.plan.limits.get(*limit) else {
            continue;
        };
        let used = match limit {
            LimitName::DynamicCodes => i64::from(account.active_dynamic_codes),
            _ => usage(conn, user, *limit, &s.period).await?,
        };
        if used >= max as i64 {
            exceeded = Some((*limit, max, used));
            break;
        }
        if *limit == LimitName::CodesPerMonth {
            notices = super::announce(conn, state, user, &s, *limit, max, used + 1).await?;
        }
    }
    let Some((limit, max, used)) = exceeded else {
        return Ok(notices);
    };
    if let Some((cost, key, quota)) = ask.price(s.plan)
        && credits::spend(conn, user, cost, &key, quota, &s, "over quota").await?
    {
        return Ok(notices);
    }
    Err(refusal(limit, max, used, s.plan))
}

/// Answers 402 `plan_limit_reached` (`retention_days`) for a report reaching further back than
/// the plan keeps analytics (whole UTC days; today counts as the first).
pub async fn within_retention(
    db: &sqlx::PgPool,
    billing: &Billing,
    user: Uuid,
    from: DateTime<Utc>,
) -> ApiResult<()> {
    let now = Utc::now();
    let mut conn = db.acquire().await?;
    let s = billing.standing_of(&mut conn, user, now).await?;
    let Some(days) = s.plan.limits.retention_days else {
        return Ok(());
    };
    let oldest = now.date_naive() - chrono::Days::new(days);
    if from.date_naive() >= oldest {
        return Ok(());
    }
    let asked = (now.date_naive() - from.date_naive()).num_days();
    Err(refusal(LimitName::RetentionDays, days, asked, s.plan))
}

/// The features a set of redirect rules uses.
pub fn rule_features(rules: &[Rule]) -> BTreeSet<Feature> {
    rules
        .iter()
        .map(|r| match r.then {
            Action::Password(_) => Feature::PasswordProtection,
            _ => Feature::RedirectRules,
        })
        .collect()
}

/// Answers 402 `plan_feature_missing` unless the account's plan has `feature`.
pub async fn require(
    conn: &mut PgConnection,
    billing: &Billing,
    user: Uuid,
    feature: Feature,
) -> ApiResult<()> {
    let s: Standing<'_> = billing.standing_of(conn, user, Utc::now()).await?;
    if s.plan.has(feature) {
        return Ok(());
    }
    Err(ApiError::PlanFeature {
        message: format!(
            "the {} plan does not include {}",
            s.plan.name,
            feature.as_str().replace('_', " ")
        ),
        fields: FieldErrors::from([
            ("feature".to_owned(), feature.as_str().to_owned()),
            ("plan".to_owned(), s.plan.id.clone()),
        ]),
    })
}
