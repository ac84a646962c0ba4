//! The calls billing makes to Stripe, through async-stripe. Requests whose repetition would
//! create something twice carry an idempotency key derived from what they are for, so a retry
//! (ours, or the client's after a lost reply) has one effect.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;
use uuid::Uuid;

/// Stripe answers slowly at worst; a webhook waiting on it must still answer within Stripe's
/// own delivery timeout.
const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum StripeFailure {
    #[error("stripe: {0}")]
    Api(#[from] stripe::StripeError),
    #[error("stripe answered without {0}")]
    Missing(&'static str),
}

/// A subscription as Stripe describes it now (re-read, never taken from an event).
#[derive(Debug, Clone)]
pub struct SubscriptionSnapshot {
    pub id: String,
    pub customer: String,
    pub status: String,
    /// Prices of its items (the plan's base price and, when metered, its overage price).
    pub prices: Vec<String>,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub created: DateTime<Utc>,
    pub metadata: HashMap<String, String>,
}

/// One price of a checkout: `quantity` for licensed prices, none for metered ones.
pub struct LineItem<'a> {
    pub price: &'a str,
    pub quantity: Option<u64>,
}

pub struct Checkout<'a> {
    pub customer: &'a str,
    pub account: Uuid,
    pub items: Vec<LineItem<'a>>,
    /// What the session buys, copied to its metadata (and the subscription's).
    pub metadata: HashMap<String, String>,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub subscription: bool,
}

pub struct StripeApi {
    client: stripe::Client,
}

fn key(k: String) -> Result<RequestStrategy, StripeFailure> {
    IdempotencyKey::new(k)
        .map(RequestStrategy::Idempotent)
        .map_err(|_| StripeFailure::Missing("a valid idempotency key"))
}

fn time(ts: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ts, 0)
}

impl StripeApi {
    pub fn new(secret: &SecretString, api_base: &str) -> anyhow::Result<StripeApi> {
        let client = stripe::ClientBuilder::new(secret.expose_secret())
            .url(api_base)
            .timeout(TIMEOUT)
            .app_info("qrsaas", Some(env!("CARGO_PKG_VERSION").to_owned()), None)
            .build()
            .map_err(|e| anyhow::anyhow!("stripe client: {e}"))?;
        Ok(StripeApi { client })
    }

    /// The account's Stripe customer; the key makes a repeated call (a lost reply, two
    /// checkouts at once) return the same customer instead of a second one.
    pub async fn create_customer(
        &self,
        account: Uuid,
        email: &str,
        name: Option<&str>,
    ) -> Result<String, StripeFailure> {
        let mut req = CreateCustomer::new().email(email).metadata(HashMap::from([(
            "account_id".to_owned(),
            account.to_string(),
        )]));
        if let Some(n) = name {
            req = req.name(n);
        }
        let customer = req
            .customize()
            .request_strategy(key(format!("qrsaas-customer-{account}"))?)
            .send(&self.client)
            .await?;
        Ok(customer.id.to_string())
    }

    /// A Checkout Session; answers its URL.
    pub async fn checkout(&self, c: Checkout<'_>) -> Result<String, StripeFailure> {
        let items: Vec<CreateCheckoutSessionLineItems> = c
            .items
            .iter()
            .map(|i| CreateCheckoutSessionLineItems {
                price: Some(i.price.to_owned()),
                quantity: i.quantity,
                ..Default::default()
            })
            .collect();
        let mut req = CreateCheckoutSession::new()
            .customer(c.customer)
            .client_reference_id(c.account.to_string())
            .line_items(items)
            .metadata(c.metadata.clone())
            .success_url(c.success_url)
            .cancel_url(c.cancel_url);
        if c.subscription {
            req = req
                .mode(stripe_checkout::CheckoutSessionMode::Subscription)
                .subscription_data(CreateCheckoutSessionSubscriptionData {
                    metadata: Some(c.metadata),
                    ..Default::default()
                });
        } else {
            req = req.mode(stripe_checkout::CheckoutSessionMode::Payment);
        }
        let session = req.send(&self.client).await?;
        session.url.ok_or(StripeFailure::Missing("a checkout URL"))
    }

    /// A Customer Portal session; answers its URL.
    pub async fn portal(&self, customer: &str, return_url: &str) -> Result<String, StripeFailure> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .send(&self.client)
            .await?;
        Ok(session.url)
    }

    pub async fn subscription(&self, id: &str) -> Result<SubscriptionSnapshot, StripeFailure> {
        let s = RetrieveSubscription::new(id).send(&self.client).await?;
        // Periods live on the items since Stripe's 2025 API; they share them.
        let first = s.items.data.first();
        Ok(SubscriptionSnapshot {
            id: s.id.to_string(),
            customer: s.customer.id().to_string(),
            status: s.status.as_str().to_owned(),
            prices: s
                .items
                .data
                .iter()
                .map(|i| i.price.id.to_string())
                .collect(),
            current_period_start: first.and_then(|i| time(i.current_period_start)),
            current_period_end: first.and_then(|i| time(i.current_period_end)),
            cancel_at_period_end: s.cancel_at_period_end || s.cancel_at.is_some(),
            created: time(s.created).ok_or(StripeFailure::Missing("a creation time"))?,
            metadata: s.metadata,
        })
    }

    /// Reports `value` units to a Billing Meter. Stripe drops a second event with the same
    /// identifier, so re-sending an hour's report after a failure bills it once.
    pub async fn meter_event(
        &self,
        event_name: &str,
        customer: &str,
        value: i64,
        identifier: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StripeFailure> {
        let payload = HashMap::from([
            ("stripe_customer_id".to_owned(), customer.to_owned()),
            ("value".to_owned(), value.to_string()),
        ]);
        CreateBillingMeterEvent::new(event_name, payload)
            .identifier(identifier)
            .timestamp(at.timestamp())
            .customize()
            .request_strategy(key(format!("qrsaas-meter-{identifier}"))?)
            .send(&self.client)
            .await?;
        Ok(())
    }
}
