//! Billing: the plan catalogue and which plan an account holds, limits and features, Stripe
//! checkout/portal/webhooks, the usage meter, credits.
//!
//! Which plan applies: a live Stripe subscription (active, trialing, or past due within the
//! grace period), else the plan an operator set, else the configured default (`self_hosted`:
//! unlimited). The state of a subscription is always Stripe's own, re-read on every event.

pub mod credits;
pub mod limits;
pub mod meter;
pub mod statements;
pub mod stripe;
pub mod webhook;

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use self::stripe::{Checkout, LineItem, StripeApi};
use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::config::Settings;
use crate::db::billing::{AccountRow, DayUsage, SubscriptionRow};
use crate::db::{self, users::UserRow};
use crate::domain::plan::{Catalogue, Interval, LimitName, Limits, Plan};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The catalogue shipped with the binary (`config/plans.toml`).
pub const SHIPPED_PLANS: &str = include_str!("../../config/plans.toml");

/// Billing's configuration and clients, shared by every part of a process.
pub struct Billing {
    pub catalogue: Catalogue,
    /// `None` without a secret key: checkout and portal answer 503 `billing_disabled`.
    stripe: Option<StripeApi>,
    webhook_secrets: Vec<SecretString>,
    grace: Duration,
    success_url: String,
    cancel_url: String,
    return_url: String,
}

impl Billing {
    /// Reads the plan catalogue (failing on one that cannot work) and builds the Stripe client.
    pub fn from_settings(s: &Settings) -> anyhow::Result<Billing> {
        let text = match &s.billing.plans_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("plans file {}: {e}", path.display()))?,
            None => SHIPPED_PLANS.to_owned(),
        };
        let catalogue = Catalogue::parse(&text, &s.billing.default_plan)
            .map_err(|e| anyhow::anyhow!("plan catalogue: {e}"))?;
        // async-stripe appends `v1/…` to the base as given.
        let api_base = format!("{}/", s.stripe.api_base.trim_end_matches('/'));
        let stripe = match &s.stripe.secret_key {
            Some(k) if !k.expose_secret().is_empty() => Some(StripeApi::new(k, &api_base)?),
            _ => None,
        };
        let home = s.public_url("/");
        Ok(Billing {
            catalogue,
            stripe,
            webhook_secrets: s.stripe.webhook_secrets.clone(),
            grace: Duration::days(s.billing.grace_days.max(0)),
            success_url: s
                .stripe
                .success_url
                .clone()
                .unwrap_or_else(|| s.public_url("/?checkout=success")),
            cancel_url: s
                .stripe
                .cancel_url
                .clone()
                .unwrap_or_else(|| s.public_url("/?checkout=cancelled")),
            return_url: home,
        })
    }

    pub fn stripe(&self) -> ApiResult<&StripeApi> {
        self.stripe.as_ref().ok_or(ApiError::BillingDisabled)
    }

    /// Which plan applies to an account with this billing row and these subscriptions.
    pub fn standing(
        &self,
        account: Option<&AccountRow>,
        mut subscriptions: Vec<SubscriptionRow>,
        now: DateTime<Utc>,
    ) -> Standing<'_> {
        let live = subscriptions
            .iter()
            .position(|s| self.live(s, now))
            .map(|i| subscriptions.swap_remove(i));
        let (plan, source) = match (&live, account.and_then(|a| a.plan_id.as_deref())) {
            (Some(s), _) => (
                self.catalogue.resolve(Some(&s.plan_id)),
                PlanSource::Subscription,
            ),
            (None, Some(p)) => (self.catalogue.resolve(Some(p)), PlanSource::Operator),
            (None, None) => (self.catalogue.default_plan(), PlanSource::Default),
        };
        let period = live
            .as_ref()
            .and_then(|s| Period::of_subscription(s, now))
            .unwrap_or_else(|| Period::calendar_month(now));
        let grace_ends_at = live
            .as_ref()
            .filter(|s| s.status == "past_due")
            .and_then(|s| s.past_due_since)
            .map(|t| t + self.grace);
        Standing {
            plan,
            source,
            // The live one, else the newest (a cancelled one still tells its story).
            subscription: live.or_else(|| subscriptions.into_iter().next()),
            period,
            grace_ends_at,
        }
    }

    fn live(&self, s: &SubscriptionRow, now: DateTime<Utc>) -> bool {
        match s.status.as_str() {
            "active" | "trialing" => true,
            "past_due" => s.past_due_since.is_none_or(|t| now < t + self.grace),
            _ => false,
        }
    }

    pub async fn standing_of(
        &self,
        conn: &mut PgConnection,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Standing<'_>, sqlx::Error> {
        let account = db::billing::account(&mut *conn, user).await?;
        let subs = db::billing::subscriptions(&mut *conn, user).await?;
        Ok(self.standing(account.as_ref(), subs, now))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanSource {
    Subscription,
    Operator,
    Default,
}

/// The plan an account holds now, and why.
#[derive(Debug, Clone)]
pub struct Standing<'a> {
    pub plan: &'a Plan,
    pub source: PlanSource,
    pub subscription: Option<SubscriptionRow>,
    /// The period monthly quotas count in.
    pub period: Period,
    /// Set while a past-due subscription keeps its plan.
    pub grace_ends_at: Option<DateTime<Utc>>,
}

/// The days `[start, end)` a monthly quota counts in: the subscription's current billing
/// period, or the calendar month (UTC) without one. Whole days: usage is counted per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    pub fn calendar_month(now: DateTime<Utc>) -> Period {
        let start = now.date_naive() - chrono::Days::new(u64::from(now.day0()));
        let end = start + chrono::Months::new(1);
        Period { start, end }
    }

    /// The subscription's period, unless Stripe's last word on it is already over (a renewal
    /// whose event has not arrived): then the calendar month stands in.
    fn of_subscription(s: &SubscriptionRow, now: DateTime<Utc>) -> Option<Period> {
        let (from, to) = (s.current_period_start?, s.renew_at?);
        if now >= to || now < from {
            return None;
        }
        let start = from.date_naive();
        let end = to.date_naive().max(start + chrono::Days::new(1));
        Some(Period { start, end })
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day < self.end
    }

    pub fn start_at(&self) -> DateTime<Utc> {
        self.start.and_time(NaiveTime::MIN).and_utc()
    }

    pub fn end_at(&self) -> DateTime<Utc> {
        self.end.and_time(NaiveTime::MIN).and_utc()
    }
}

/// Use of each limit now; monthly quotas count in the current period.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Usage {
    pub dynamic_codes: i64,
    pub codes_per_month: i64,
    pub scans_per_month: i64,
    /// Scans of this period beyond the quota (served and stored all the same).
    pub scans_over_quota: i64,
    pub exports_per_month: i64,
    pub projects: i64,
    pub api_keys: i64,
}

/// What `GET /api/v1/billing/subscription` shows.
pub struct Overview<'a> {
    pub standing: Standing<'a>,
    pub usage: Usage,
    pub credits: i64,
}

/// An account's plan, subscription, limits and usage in this period.
pub async fn overview(state: &AppState, user: Uuid) -> ApiResult<Overview<'_>> {
    let mut conn = state.db.acquire().await?;
    let standing = state
        .billing
        .standing_of(&mut conn, user, Utc::now())
        .await?;
    let period = standing.period;
    let totals: i64 = db::billing::daily_usage(&mut *conn, user, period.start, period.end)
        .await?
        .iter()
        .map(|(d, _)| d.scans)
        .sum();
    let folded = db::billing::folded_totals(&mut *conn, user, period.start, period.end).await?;
    let (from, to) = (period.start_at(), period.end_at());
    let usage = Usage {
        dynamic_codes: db::billing::active_dynamic_codes(&mut conn, user).await?,
        codes_per_month: db::billing::codes_created(&mut conn, user, period.start, period.end)
            .await?,
        scans_per_month: totals,
        scans_over_quota: folded.scans_over_quota,
        exports_per_month: db::billing::exports_requested(&mut conn, user, from, to).await?,
        projects: db::billing::projects(&mut conn, user).await?,
        api_keys: db::billing::live_api_keys(&mut conn, user).await?,
    };
    let credits = db::billing::credit_balance(&mut *conn, user).await?;
    Ok(Overview {
        standing,
        usage,
        credits,
    })
}

/// `GET /api/v1/billing/usage`: daily series of `[from, to]` and this period's totals.
pub struct UsageReport<'a> {
    pub days: Vec<(DayUsage, i64)>,
    pub overview: Overview<'a>,
}

/// Longest series one request may ask for.
pub const MAX_USAGE_DAYS: i64 = 400;

pub async fn usage<'a>(
    state: &'a AppState,
    p: &Principal,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<UsageReport<'a>> {
    if to < from || (to - from).num_days() >= MAX_USAGE_DAYS {
        return Err(ApiError::field(
            "to",
            format!("must be on or after from, at most {MAX_USAGE_DAYS} days later"),
        ));
    }
    let days =
        db::billing::daily_usage(&state.db, p.user.id, from, to + chrono::Days::new(1)).await?;
    Ok(UsageReport {
        days,
        overview: overview(state, p.user.id).await?,
    })
}

/// The plan of `plan_id` if it can be bought for `interval`.
fn sellable<'a>(billing: &'a Billing, plan_id: &str, interval: Interval) -> ApiResult<&'a Plan> {
    let plan = billing
        .catalogue
        .get(plan_id)
        .ok_or_else(|| ApiError::field("plan_id", "no such plan"))?;
    if plan.price_id(interval).is_none() {
        return Err(ApiError::field(
            "plan_id",
            format!(
                "the {} plan cannot be bought by the {}",
                plan.name,
                interval.as_str()
            ),
        ));
    }
    Ok(plan)
}

/// The account's Stripe customer, created on first use (once: the row lock serialises two
/// checkouts, and Stripe's idempotency key covers a reply lost after creation).
async fn customer(state: &AppState, origin: &Origin, p: &Principal) -> ApiResult<String> {
    let stripe = state.billing.stripe()?;
    let mut tx = state.db.begin().await?;
    let account = db::billing::lock_account(&mut tx, p.user.id).await?;
    if let Some(c) = account.stripe_customer_id {
        return Ok(c);
    }
    let id = stripe
        .create_customer(p.user.id, &p.user.email, p.user.name.as_deref())
        .await
        .map_err(stripe_down)?;
    db::billing::set_customer(&mut tx, p.user.id, &id).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created(
            "billing.customer_create",
            "billing_account",
            p.user.id,
            &serde_json::json!({ "stripe_customer_id": id }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

fn stripe_down(e: stripe::StripeFailure) -> ApiError {
    tracing::warn!(error = %e, "stripe call failed");
    ApiError::Unavailable("payments provider")
}

/// A Checkout Session for a subscription to `plan_id`; answers its URL.
pub async fn checkout(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    plan_id: &str,
    interval: Interval,
) -> ApiResult<String> {
    crate::accounts::lifecycle::require_verified(state, p)?;
    let billing = &state.billing;
    let stripe = billing.stripe()?;
    let plan = sellable(billing, plan_id, interval)?;
    {
        let mut conn = state.db.acquire().await?;
        let s = billing
            .standing_of(&mut conn, p.user.id, Utc::now())
            .await?;
        if s.source == PlanSource::Subscription {
            return Err(ApiError::Conflict {
                code: "subscription_exists",
                message: "this account has a subscription; change it in the billing portal \
                          (POST /api/v1/billing/portal)"
                    .into(),
            });
        }
    }
    let customer = customer(state, origin, p).await?;
    let mut items = vec![LineItem {
        price: plan.price_id(interval).unwrap_or_default(),
        quantity: Some(1),
    }];
    if let Some(overage) = plan.stripe.overage_price.as_deref() {
        items.push(LineItem {
            price: overage,
            quantity: None,
        });
    }
    let url = stripe
        .checkout(Checkout {
            customer: &customer,
            account: p.user.id,
            items,
            metadata: HashMap::from([
                ("account_id".to_owned(), p.user.id.to_string()),
                ("plan_id".to_owned(), plan.id.clone()),
                ("interval".to_owned(), interval.as_str().to_owned()),
            ]),
            success_url: &billing.success_url,
            cancel_url: &billing.cancel_url,
            subscription: true,
        })
        .await
        .map_err(stripe_down)?;
    Ok(url)
}

/// A Checkout Session (payment mode) for a pack of credits; the credits are added when
/// Stripe's webhook confirms the payment.
pub async fn buy_credits(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    pack_id: &str,
) -> ApiResult<String> {
    crate::accounts::lifecycle::require_verified(state, p)?;
    let billing = &state.billing;
    let stripe = billing.stripe()?;
    let pack = billing
        .catalogue
        .pack(pack_id)
        .ok_or_else(|| ApiError::field("pack_id", "no such credit pack"))?;
    let price = pack
        .stripe_price
        .as_deref()
        .ok_or_else(|| ApiError::field("pack_id", "this pack is not sold online"))?;
    let customer = customer(state, origin, p).await?;
    stripe
        .checkout(Checkout {
            customer: &customer,
            account: p.user.id,
            items: vec![LineItem {
                price,
                quantity: Some(1),
            }],
            metadata: HashMap::from([
                ("account_id".to_owned(), p.user.id.to_string()),
                ("credit_pack".to_owned(), pack.id.clone()),
            ]),
            success_url: &billing.success_url,
            cancel_url: &billing.cancel_url,
            subscription: false,
        })
        .await
        .map_err(stripe_down)
}

/// A Customer Portal session (payment methods, invoices, plan changes, cancellation).
pub async fn portal(state: &AppState, origin: &Origin, p: &Principal) -> ApiResult<String> {
    let stripe = state.billing.stripe()?;
    let customer = customer(state, origin, p).await?;
    stripe
        .portal(&customer, &state.billing.return_url)
        .await
        .map_err(stripe_down)
}

/// `PATCH /api/v1/admin/users/{id} {plan_id}`: an operator's plan (`None`: the default).
pub async fn set_plan(
    conn: &mut PgConnection,
    billing: &Billing,
    actor: &audit::Actor,
    user: Uuid,
    plan_id: Option<&str>,
) -> ApiResult<()> {
    if let Some(id) = plan_id
        && billing.catalogue.get(id).is_none()
    {
        return Err(ApiError::field("plan_id", "no such plan"));
    }
    let before = db::billing::lock_account(conn, user).await?;
    db::billing::set_plan(conn, user, plan_id).await?;
    audit::record(
        conn,
        actor,
        Change::updated(
            "billing.plan_set",
            "billing_account",
            user,
            &serde_json::json!({ "plan_id": before.plan_id }),
            &serde_json::json!({ "plan_id": plan_id }),
        ),
    )
    .await
}

/// `POST /api/v1/admin/users/{id}/credits`: an operator's grant.
pub async fn grant_credits(
    state: &AppState,
    origin: &Origin,
    admin: &Principal,
    user: &UserRow,
    amount: u32,
    reason: &str,
    expires_at: Option<DateTime<Utc>>,
) -> ApiResult<db::billing::CreditRow> {
    let mut tx = state.db.begin().await?;
    let key = format!("grant:{}", Uuid::now_v7());
    let lot = credits::add_lot(
        &mut tx,
        user.id,
        &credits::Lot {
            amount,
            kind: "grant",
            reason,
            key: &key,
            expires_at,
            actor: Some(admin.user.id),
        },
    )
    .await?
    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("fresh grant key collided")))?;
    audit::record(
        &mut tx,
        &origin.actor(Some(admin)),
        Change::created(
            "billing.credits_grant",
            "credit_ledger",
            lot.id,
            &serde_json::json!({ "user_id": user.id, "amount": amount, "reason": reason, "expires_at": expires_at }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(lot)
}

/// What billing's daily round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Daily {
    pub credits_expired: i64,
    pub plans_ended: usize,
    pub usage_rows_pruned: u64,
}

/// Folded usage records are kept this long for de-duplication: far longer than any
/// redelivery of their cause can come (queue retries end within the hour).
const KEEP_FOLDED_USAGE: Duration = Duration::days(7);

/// Billing's daily round (idempotent): takes back expired credits, tells owners whose grace
/// period ended that they are on the default plan now (once per lapse), prunes old usage
/// records.
pub async fn daily(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<Daily> {
    let mut done = Daily::default();
    for user in db::billing::accounts_with_expired_lots(&state.db, now).await? {
        let mut tx = state.db.begin().await?;
        done.credits_expired += credits::expire(&mut tx, user, now)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tx.commit().await?;
    }
    let billing = &state.billing;
    for sub in db::billing::grace_ended(&state.db, now - billing.grace).await? {
        let mut tx = state.db.begin().await?;
        let standing = billing.standing_of(&mut tx, sub.user_id, now).await?;
        let lapse = format!(
            "{}:{}",
            sub.stripe_id.as_deref().unwrap_or_default(),
            sub.past_due_since
                .map(|t| t.timestamp())
                .unwrap_or_default()
        );
        if standing.source == PlanSource::Subscription
            || !db::billing::claim_notice(&mut tx, sub.user_id, "plan_ended", &lapse).await?
        {
            continue;
        }
        let Some(owner) = db::users::by_id(&mut *tx, sub.user_id).await? else {
            continue;
        };
        let old = billing.catalogue.resolve(Some(&sub.plan_id));
        let email = crate::notify::emails::plan_ended(
            &mut tx,
            state,
            &owner,
            &old.name,
            &standing.plan.name,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        db::billing::set_notice_email(&mut tx, sub.user_id, "plan_ended", &lapse, email).await?;
        tx.commit().await?;
        crate::notify::emails::dispatch(state, email).await;
        done.plans_ended += 1;
    }
    done.usage_rows_pruned =
        db::billing::prune_folded_usage(&state.db, now - KEEP_FOLDED_USAGE).await?;
    Ok(done)
}

/// Alert thresholds, in percent of a quota.
const THRESHOLDS: [i32; 2] = [80, 100];

/// Claims the 80 %/100 % alerts of `quota` that `used` of `limit` has reached this period
/// (once each: the claim is keyed by account, period, quota and threshold) and has them sent
/// (e-mail, SMS, webhook — what the owner's settings ask for); answers them, for dispatch after
/// commit.
pub async fn announce(
    tx: &mut PgConnection,
    state: &AppState,
    user: Uuid,
    s: &Standing<'_>,
    quota: LimitName,
    limit: u64,
    used: i64,
) -> ApiResult<crate::notify::Pending> {
    let mut pending = crate::notify::Pending::default();
    if limit == 0 {
        return Ok(pending);
    }
    for threshold in THRESHOLDS {
        if used * 100 < i64::from(threshold) * limit as i64 {
            continue;
        }
        let q = quota.as_str();
        if !db::billing::claim_alert(tx, user, s.period.start, q, threshold).await? {
            continue;
        }
        let alert = crate::notify::emails::UsageAlert {
            quota: q,
            threshold,
            used,
            limit,
            plan: &s.plan.name,
            period_start: s.period.start,
            period_end: s.period.end,
        };
        let sent = crate::notify::alerts::usage_threshold(tx, state, user, &alert)
            .await
            .map_err(ApiError::internal)?;
        if let Some(email) = sent.emails.first() {
            db::billing::set_alert_email(tx, user, s.period.start, q, threshold, *email).await?;
        }
        pending.merge(sent);
    }
    Ok(pending)
}

/// The limits of a plan as a name → value map (for statements).
pub fn limits_json(limits: &Limits) -> serde_json::Value {
    serde_json::to_value(limits).unwrap_or_default()
}

/// Quotas with a limit, with their use, for alerts: (quota, limit, used).
pub fn quota_use(plan: &Plan, t: &db::billing::Totals) -> Vec<(LimitName, u64, i64)> {
    LimitName::QUOTAS
        .into_iter()
        .filter_map(|q| {
            let used = match q {
                LimitName::CodesPerMonth => t.codes,
                LimitName::ScansPerMonth => t.scans,
                LimitName::ExportsPerMonth => t.exports,
                _ => return None,
            };
            plan.limits.get(q).map(|max| (q, max, used))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(status: &str, past_due_days: Option<i64>) -> SubscriptionRow {
        let now = Utc::now();
        SubscriptionRow {
            id: Uuid::now_v7(),
            user_id: Uuid::nil(),
            stripe_id: Some("sub_1".into()),
            plan_id: "pro".into(),
            status: status.into(),
            renew_at: Some(now + Duration::days(20)),
            interval: Some("month".into()),
            current_period_start: Some(now - Duration::days(10)),
            cancel_at_period_end: false,
            past_due_since: past_due_days.map(|d| now - Duration::days(d)),
            stripe_customer_id: Some("cus_1".into()),
            stripe_price_id: None,
            stripe_created: Some(now - Duration::days(40)),
            created_at: now,
            updated_at: now,
        }
    }

    fn billing(default: &str) -> Billing {
        let mut s = Settings::default();
        s.billing.default_plan = default.into();
        Billing::from_settings(&s).unwrap()
    }

    #[test]
    fn which_plan_applies() {
        let b = billing("free");
        let now = Utc::now();
        let none = b.standing(None, vec![], now);
        assert_eq!(
            (none.plan.id.as_str(), none.source),
            ("free", PlanSource::Default)
        );
        assert_eq!(none.period, Period::calendar_month(now));
        let op = AccountRow {
            user_id: Uuid::nil(),
            plan_id: Some("business".into()),
            stripe_customer_id: None,
            active_dynamic_codes: 0,
        };
        let s = b.standing(Some(&op), vec![], now);
        assert_eq!(
            (s.plan.id.as_str(), s.source),
            ("business", PlanSource::Operator)
        );
        let s = b.standing(Some(&op), vec![sub("active", None)], now);
        assert_eq!(
            (s.plan.id.as_str(), s.source),
            ("pro", PlanSource::Subscription)
        );
        assert_eq!(s.period.start, (now - Duration::days(10)).date_naive());
        // Past due: the plan holds through the grace period, then falls back.
        let s = b.standing(None, vec![sub("past_due", Some(3))], now);
        assert_eq!(s.plan.id, "pro");
        assert!(s.grace_ends_at.is_some_and(|t| t > now));
        let s = b.standing(None, vec![sub("past_due", Some(8))], now);
        assert_eq!(
            (s.plan.id.as_str(), s.source),
            ("free", PlanSource::Default)
        );
        assert_eq!(s.subscription.map(|s| s.status), Some("past_due".into()));
        for dead in [
            "canceled",
            "unpaid",
            "incomplete",
            "incomplete_expired",
            "paused",
        ] {
            assert_eq!(b.standing(None, vec![sub(dead, None)], now).plan.id, "free");
        }
    }

    #[test]
    fn periods() {
        let t = DateTime::parse_from_rfc3339("2026-02-14T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let p = Period::calendar_month(t);
        assert_eq!(
            (p.start.to_string(), p.end.to_string()),
            ("2026-02-01".into(), "2026-03-01".into())
        );
        assert!(p.contains(t.date_naive()) && !p.contains(p.end));
        let mut s = sub("active", None);
        s.current_period_start = Some(t - Duration::days(40));
        s.renew_at = Some(t - Duration::days(10));
        assert_eq!(
            Period::of_subscription(&s, t),
            None,
            "a stale period is not used"
        );
    }
}
