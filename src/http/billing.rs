//! `/api/v1/billing/…`: plans, the caller's subscription, usage and credits, Stripe checkout
//! and portal, Stripe's webhook, and monthly usage statements.

use actix_web::{HttpRequest, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{Caller, ListResponse, PageQuery};
use super::json::Json;
use crate::billing::statements;
use crate::billing::{self, Overview, Period, PlanSource, Usage, webhook};
use crate::db::billing::CreditRow;
use crate::db::statements::StatementRow;
use crate::domain::plan::{CreditRates, Feature, Interval, Limits, Plan};
use crate::error::ApiResult;
use crate::state::AppState;

/// A plan of the catalogue.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    id: String,
    name: String,
    /// Decimal string, two places, in `currency`.
    price_monthly: String,
    price_yearly: String,
    currency: String,
    /// `null` = unlimited.
    limits: Limits,
    features: Vec<Feature>,
    /// Credits spent per unit over a quota (`null`: that overage cannot be paid with credits).
    credit_rates: CreditRates,
    /// Can be bought through `POST /api/v1/billing/checkout`.
    purchasable: bool,
}

fn plan_view(p: &Plan, currency: &str) -> PlanView {
    PlanView {
        id: p.id.clone(),
        name: p.name.clone(),
        price_monthly: p.price_monthly.to_string_2dp(),
        price_yearly: p.price_yearly.to_string_2dp(),
        currency: currency.to_owned(),
        limits: p.limits.clone(),
        features: p.features.iter().copied().collect(),
        credit_rates: p.credit_rates.clone(),
        purchasable: p.price_id(Interval::Month).is_some() || p.price_id(Interval::Year).is_some(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct PlansResponse {
    items: Vec<PlanView>,
    /// The plan of accounts without a subscription.
    default_plan: String,
}

/// The plan catalogue (public).
#[utoipa::path(get, path = "/api/v1/billing/plans", tag = "billing",
    responses((status = 200, body = PlansResponse)))]
#[get("/billing/plans")]
pub async fn plans(state: web::Data<AppState>) -> web::Json<PlansResponse> {
    let c = &state.billing.catalogue;
    web::Json(PlansResponse {
        items: c
            .plans()
            .iter()
            .map(|p| plan_view(p, &c.currency))
            .collect(),
        default_plan: c.default_plan().id.clone(),
    })
}

/// The caller's plan and subscription, limits and use in this period.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    /// The plan that applies now.
    plan: String,
    plan_name: String,
    /// Why: a Stripe `subscription`, an `operator`'s choice, or the `default` plan.
    source: PlanSource,
    /// The Stripe subscription's status (`active`, `past_due`, `canceled` …), or `none`.
    status: String,
    interval: Option<String>,
    current_period_start: Option<DateTime<Utc>>,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    /// While past due: when the plan falls back to the default plan.
    grace_ends_at: Option<DateTime<Utc>>,
    /// The days monthly quotas count in.
    period: Period,
    limits: Limits,
    features: Vec<Feature>,
    usage: Usage,
    /// Credit balance.
    credits: i64,
}

pub fn subscription_view(o: Overview<'_>) -> SubscriptionView {
    let s = o.standing;
    let sub = s.subscription.as_ref();
    SubscriptionView {
        plan: s.plan.id.clone(),
        plan_name: s.plan.name.clone(),
        source: s.source,
        status: sub.map_or_else(|| "none".to_owned(), |s| s.status.clone()),
        interval: sub.and_then(|s| s.interval.clone()),
        current_period_start: sub.and_then(|s| s.current_period_start),
        current_period_end: sub.and_then(|s| s.renew_at),
        cancel_at_period_end: sub.is_some_and(|s| s.cancel_at_period_end),
        grace_ends_at: s.grace_ends_at,
        period: s.period,
        limits: s.plan.limits.clone(),
        features: s.plan.features.iter().copied().collect(),
        usage: o.usage,
        credits: o.credits,
    }
}

#[utoipa::path(get, path = "/api/v1/billing/subscription", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = SubscriptionView)))]
#[get("/billing/subscription")]
pub async fn subscription(
    state: web::Data<AppState>,
    caller: Caller,
) -> ApiResult<web::Json<SubscriptionView>> {
    let o = billing::overview(&state, caller.principal.user.id).await?;
    Ok(web::Json(subscription_view(o)))
}

#[derive(Deserialize, IntoParams)]
pub struct UsageQuery {
    /// First day (UTC), default: the start of the current period.
    from: Option<NaiveDate>,
    /// Last day, included; default: today.
    to: Option<NaiveDate>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageDay {
    date: NaiveDate,
    scans: i64,
    scans_over_quota: i64,
    codes_created: i64,
    exports: i64,
}

#[derive(Serialize, ToSchema)]
pub struct UsageResponse {
    from: NaiveDate,
    to: NaiveDate,
    /// Days with any use, oldest first.
    days: Vec<UsageDay>,
    /// This period's use against the plan's limits.
    period: Period,
    totals: Usage,
    limits: Limits,
    plan: String,
}

/// Daily use and this period's totals against the limits.
#[utoipa::path(get, path = "/api/v1/billing/usage", tag = "billing", security(("bearer" = [])), params(UsageQuery),
    responses((status = 200, body = UsageResponse), (status = 422, description = "Bad range")))]
#[get("/billing/usage")]
pub async fn usage(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<UsageQuery>,
) -> ApiResult<web::Json<UsageResponse>> {
    let current = billing::overview(&state, caller.principal.user.id).await?;
    let from = q.from.unwrap_or(current.standing.period.start);
    let to = q.to.unwrap_or_else(|| Utc::now().date_naive());
    let r = billing::usage(&state, &caller.principal, from, to).await?;
    let o = r.overview;
    Ok(web::Json(UsageResponse {
        from,
        to,
        days: r
            .days
            .into_iter()
            .map(|(d, over)| UsageDay {
                date: d.day,
                scans: d.scans,
                scans_over_quota: over,
                codes_created: d.codes,
                exports: d.exports,
            })
            .collect(),
        period: o.standing.period,
        plan: o.standing.plan.id.clone(),
        limits: o.standing.plan.limits.clone(),
        totals: o.usage,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CreditEntry {
    id: Uuid,
    /// Positive for `grant` and `purchase`, negative for `spend` and `expiry`.
    amount: i32,
    kind: String,
    reason: String,
    /// Spends: the quota paid for.
    quota: Option<String>,
    /// Lots: when what is left of them expires.
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<CreditRow> for CreditEntry {
    fn from(c: CreditRow) -> Self {
        CreditEntry {
            id: c.id,
            amount: c.amount,
            kind: c.kind,
            reason: c.reason,
            quota: c.quota,
            expires_at: c.expires_at,
            created_at: c.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreditsResponse {
    balance: i64,
    /// The ledger, newest first.
    items: Vec<CreditEntry>,
    total: i64,
    page: i64,
    per_page: i64,
}

/// Credit balance and ledger.
#[utoipa::path(get, path = "/api/v1/billing/credits", tag = "billing", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = CreditsResponse)))]
#[get("/billing/credits")]
pub async fn credits(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<CreditsResponse>> {
    let w = q.window()?;
    let (balance, paged) = billing::credits::page(&state.db, caller.principal.user.id, w).await?;
    let list = ListResponse::new(paged, w, CreditEntry::from);
    Ok(web::Json(CreditsResponse {
        balance,
        items: list.items,
        total: list.total,
        page: list.page,
        per_page: list.per_page,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    plan_id: String,
    interval: Interval,
}

#[derive(Serialize, ToSchema)]
pub struct UrlResponse {
    /// Send the customer's browser here.
    url: String,
}

/// A Stripe Checkout Session for a subscription.
#[utoipa::path(post, path = "/api/v1/billing/checkout", tag = "billing", security(("bearer" = [])), request_body = CheckoutBody,
    responses((status = 200, body = UrlResponse), (status = 409, description = "Already subscribed: use the portal"),
        (status = 422, description = "Unknown plan or not sold by that interval"), (status = 503, description = "billing_disabled: no Stripe key")))]
#[post("/billing/checkout")]
pub async fn checkout(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CheckoutBody>,
) -> ApiResult<web::Json<UrlResponse>> {
    let b = body.0;
    let url = billing::checkout(
        &state,
        &caller.origin,
        &caller.principal,
        &b.plan_id,
        b.interval,
    )
    .await?;
    Ok(web::Json(UrlResponse { url }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditsCheckoutBody {
    /// A `credit_packs` id of the plan file.
    pack_id: String,
}

/// A Stripe Checkout Session (one-time payment) for a pack of credits; they are added when
/// Stripe confirms the payment.
#[utoipa::path(post, path = "/api/v1/billing/credits/checkout", tag = "billing", security(("bearer" = [])), request_body = CreditsCheckoutBody,
    responses((status = 200, body = UrlResponse), (status = 422, description = "Unknown pack"), (status = 503, description = "billing_disabled")))]
#[post("/billing/credits/checkout")]
pub async fn credits_checkout(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CreditsCheckoutBody>,
) -> ApiResult<web::Json<UrlResponse>> {
    let url =
        billing::buy_credits(&state, &caller.origin, &caller.principal, &body.0.pack_id).await?;
    Ok(web::Json(UrlResponse { url }))
}

/// A Stripe Customer Portal session (payment methods, invoices, plan changes, cancellation).
#[utoipa::path(post, path = "/api/v1/billing/portal", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = UrlResponse), (status = 503, description = "billing_disabled")))]
#[post("/billing/portal")]
pub async fn portal(
    state: web::Data<AppState>,
    caller: Caller,
) -> ApiResult<web::Json<UrlResponse>> {
    let url = billing::portal(&state, &caller.origin, &caller.principal).await?;
    Ok(web::Json(UrlResponse { url }))
}

/// Stripe events are far smaller; anything bigger is not from Stripe.
const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Serialize, ToSchema)]
pub struct WebhookAck {
    received: bool,
    /// The event was handled before: nothing was done.
    duplicate: bool,
}

/// Stripe's webhook endpoint (configure it in Stripe's dashboard with the events in the
/// README). Verified with `Stripe-Signature`; a redelivered event is a no-op.
#[utoipa::path(post, path = "/api/v1/billing/stripe/webhook", tag = "billing",
    responses((status = 200, body = WebhookAck), (status = 400, description = "Unsigned, wrongly signed or stale"),
        (status = 503, description = "Stripe could not be asked for the subscription; Stripe redelivers")))]
#[post("/billing/stripe/webhook")]
pub async fn stripe_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> ApiResult<web::Json<WebhookAck>> {
    let body = super::json::read_limited(&mut payload, WEBHOOK_BODY_LIMIT).await?;
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = webhook::receive(&state, header, &body).await?;
    Ok(web::Json(WebhookAck {
        received: true,
        duplicate: outcome == webhook::Received::Duplicate,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct StatementView {
    /// The first day of the calendar month (UTC) covered.
    month: NaiveDate,
    /// Scans metered in the month.
    scans: i64,
    /// Of them, beyond the plan's quota.
    scans_over_quota: i64,
    codes_created: i32,
    /// Exports that completed in the month.
    exports: i32,
    /// The plan that applied when the statement was written.
    plan: Option<String>,
    /// Its limits (`null` = unlimited).
    #[schema(value_type = Option<Object>)]
    limits: Option<serde_json::Value>,
    credits_spent: i32,
    /// Whether it was e-mailed (not for idle months or when statements are turned off).
    emailed: bool,
    created_at: DateTime<Utc>,
}

impl From<StatementRow> for StatementView {
    fn from(s: StatementRow) -> Self {
        StatementView {
            month: s.month,
            scans: s.scans,
            scans_over_quota: s.scans_over_quota,
            codes_created: s.codes_created,
            exports: s.exports,
            plan: s.plan_id,
            limits: s.limits,
            credits_spent: s.credits_spent,
            emailed: s.email_id.is_some(),
            created_at: s.created_at,
        }
    }
}

/// The caller's monthly usage statements, newest month first.
#[utoipa::path(get, path = "/api/v1/billing/statements", tag = "billing", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListResponse<StatementView>)))]
#[get("/billing/statements")]
pub async fn list_statements(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<StatementView>>> {
    let w = q.window()?;
    let paged = statements::list(&state, &caller.principal, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, StatementView::from)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(plans)
        .service(subscription)
        .service(usage)
        .service(credits)
        .service(checkout)
        .service(credits_checkout)
        .service(portal)
        .service(stripe_webhook)
        .service(list_statements);
}
