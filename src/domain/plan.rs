//! The plan catalogue: what each plan costs, what it allows and which features it has. Parsed
//! from TOML (`config/plans.toml`, or the file `QRSAAS_BILLING__PLANS_FILE` names) and checked
//! as a whole, so a catalogue that cannot work stops the process at start, not a request later.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Money;

/// A limit of a plan: the caps (`dynamic_codes`, `projects`, …) and the monthly quotas
/// (`codes_per_month`, `scans_per_month`, `exports_per_month`). Its snake_case name is what
/// clients see in a 402's `fields.limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitName {
    DynamicCodes,
    CodesPerMonth,
    ScansPerMonth,
    ExportsPerMonth,
    Projects,
    ApiKeys,
    WebhookEndpoints,
    Domains,
    RetentionDays,
}

impl LimitName {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitName::DynamicCodes => "dynamic_codes",
            LimitName::CodesPerMonth => "codes_per_month",
            LimitName::ScansPerMonth => "scans_per_month",
            LimitName::ExportsPerMonth => "exports_per_month",
            LimitName::Projects => "projects",
            LimitName::ApiKeys => "api_keys",
            LimitName::WebhookEndpoints => "webhook_endpoints",
            LimitName::Domains => "domains",
            LimitName::RetentionDays => "retention_days",
        }
    }

    /// The quotas that renew each period (and that the owner is told about at 80 % and 100 %).
    pub const QUOTAS: [LimitName; 3] = [
        LimitName::CodesPerMonth,
        LimitName::ScansPerMonth,
        LimitName::ExportsPerMonth,
    ];
}

/// A plan's limits; `None` (absent in the file, `null` in the API) is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Dynamic codes that are active at once (paused, blocked and deleted ones do not count).
    pub dynamic_codes: Option<u64>,
    /// Codes created per period (static and dynamic; deleting one does not give it back).
    pub codes_per_month: Option<u64>,
    /// Scans tracked per period. Scans beyond it are still served and stored, and counted as
    /// over quota: a scan is never refused for billing reasons.
    pub scans_per_month: Option<u64>,
    pub exports_per_month: Option<u64>,
    pub projects: Option<u64>,
    pub api_keys: Option<u64>,
    pub webhook_endpoints: Option<u64>,
    pub domains: Option<u64>,
    /// How far back analytics reach, in days.
    pub retention_days: Option<u64>,
}

impl Limits {
    pub fn get(&self, name: LimitName) -> Option<u64> {
        match name {
            LimitName::DynamicCodes => self.dynamic_codes,
            LimitName::CodesPerMonth => self.codes_per_month,
            LimitName::ScansPerMonth => self.scans_per_month,
            LimitName::ExportsPerMonth => self.exports_per_month,
            LimitName::Projects => self.projects,
            LimitName::ApiKeys => self.api_keys,
            LimitName::WebhookEndpoints => self.webhook_endpoints,
            LimitName::Domains => self.domains,
            LimitName::RetentionDays => self.retention_days,
        }
    }
}

/// Features a plan may lack; using one the plan lacks answers 402 `plan_feature_missing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Own name, logo and colours on landing pages (`branding` in settings).
    WhiteLabel,
    /// Password-protected codes (a `password` rule).
    PasswordProtection,
    /// Redirect rules by device, country, time, scan count or date.
    RedirectRules,
    /// Short links on the customer's own domain.
    CustomDomains,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::WhiteLabel => "white_label",
            Feature::PasswordProtection => "password_protection",
            Feature::RedirectRules => "redirect_rules",
            Feature::CustomDomains => "custom_domains",
        }
    }
}

/// Credits spent instead of a 402 when a quota is reached and the account holds credits.
/// Absent = that overage cannot be paid with credits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CreditRates {
    /// Per code created beyond `codes_per_month` or `dynamic_codes`.
    pub code: Option<u32>,
    /// Per started 1,000 scans beyond `scans_per_month`.
    pub scans_1000: Option<u32>,
    /// Per export beyond `exports_per_month`.
    pub export: Option<u32>,
}

/// The plan's prices in Stripe. A plan without them cannot be bought through checkout (it is
/// given by default or by an operator).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripePrices {
    pub price_monthly: Option<String>,
    pub price_yearly: Option<String>,
    /// A metered price (usage-based, attached to a Stripe Billing Meter) added to the
    /// subscription: scans over quota are reported to it hourly.
    pub overage_price: Option<String>,
    /// The Billing Meter's `event_name` that `overage_price` aggregates.
    pub meter_event: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub id: String,
    pub name: String,
    #[serde(deserialize_with = "money")]
    pub price_monthly: Money,
    #[serde(deserialize_with = "money")]
    pub price_yearly: Money,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub features: BTreeSet<Feature>,
    #[serde(default)]
    pub credit_rates: CreditRates,
    #[serde(default)]
    pub stripe: StripePrices,
}

impl Plan {
    pub fn has(&self, f: Feature) -> bool {
        self.features.contains(&f)
    }

    /// The Stripe price of `interval`, if the plan is sold that way.
    pub fn price_id(&self, interval: Interval) -> Option<&str> {
        match interval {
            Interval::Month => self.stripe.price_monthly.as_deref(),
            Interval::Year => self.stripe.price_yearly.as_deref(),
        }
    }

    /// Whether scans over quota are billed through a Stripe meter.
    pub fn meter_event(&self) -> Option<&str> {
        self.stripe
            .overage_price
            .as_ref()
            .and(self.stripe.meter_event.as_deref())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }
}

/// Credits sold in a one-time Checkout.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditPack {
    pub id: String,
    pub credits: u32,
    #[serde(deserialize_with = "money")]
    pub price: Money,
    pub stripe_price: Option<String>,
}

fn money<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
    let s = String::deserialize(d)?;
    Money::parse(&serde_json::Value::String(s)).map_err(serde::de::Error::custom)
}

/// The whole catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    /// ISO 4217 code of every price (API.md: INR).
    pub currency: String,
    plans: Vec<Plan>,
    by_id: BTreeMap<String, usize>,
    pub credit_packs: Vec<CreditPack>,
    /// The plan of accounts without a subscription or an operator's choice.
    default: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    currency: String,
    plans: Vec<Plan>,
    #[serde(default)]
    credit_packs: Vec<CreditPack>,
}

impl Catalogue {
    /// Parses and checks a catalogue; `default_plan` must be one of its plans.
    pub fn parse(toml_text: &str, default_plan: &str) -> Result<Catalogue, String> {
        let f: File = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        let mut by_id = BTreeMap::new();
        let mut prices = BTreeSet::new();
        for (i, p) in f.plans.iter().enumerate() {
            let id_ok = !p.id.is_empty()
                && p.id.len() <= 64
                && p.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !id_ok {
                return Err(format!("plan id {:?}: use a-z, 0-9 and _", p.id));
            }
            if by_id.insert(p.id.clone(), i).is_some() {
                return Err(format!("plan {:?} is listed twice", p.id));
            }
            let s = &p.stripe;
            for price in [&s.price_monthly, &s.price_yearly, &s.overage_price]
                .into_iter()
                .flatten()
            {
                if !prices.insert(price.clone()) {
                    return Err(format!(
                        "Stripe price {price:?} belongs to two plans: a subscription could not tell which"
                    ));
                }
            }
            if s.overage_price.is_some() != s.meter_event.is_some() {
                return Err(format!(
                    "plan {:?}: overage_price and meter_event go together",
                    p.id
                ));
            }
        }
        let mut packs = BTreeSet::new();
        for pack in &f.credit_packs {
            if !packs.insert(pack.id.clone()) || pack.credits == 0 {
                return Err(format!(
                    "credit pack {:?}: ids must be unique and credits positive",
                    pack.id
                ));
            }
        }
        let default = *by_id
            .get(default_plan)
            .ok_or_else(|| format!("the default plan {default_plan:?} is not in the catalogue"))?;
        Ok(Catalogue {
            currency: f.currency,
            plans: f.plans,
            by_id,
            credit_packs: f.credit_packs,
            default,
        })
    }

    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    pub fn get(&self, id: &str) -> Option<&Plan> {
        self.by_id.get(id).map(|i| &self.plans[*i])
    }

    pub fn default_plan(&self) -> &Plan {
        &self.plans[self.default]
    }

    /// The plan id, or the default plan when the id names no plan any more (a plan removed
    /// from the file must not lock its accounts out).
    pub fn resolve(&self, id: Option<&str>) -> &Plan {
        id.and_then(|id| self.get(id))
            .unwrap_or_else(|| self.default_plan())
    }

    /// The plan and interval a Stripe price belongs to.
    pub fn by_price(&self, price: &str) -> Option<(&Plan, Interval)> {
        self.plans.iter().find_map(|p| {
            if p.stripe.price_monthly.as_deref() == Some(price) {
                Some((p, Interval::Month))
            } else if p.stripe.price_yearly.as_deref() == Some(price) {
                Some((p, Interval::Year))
            } else {
                None
            }
        })
    }

    pub fn pack(&self, id: &str) -> Option<&CreditPack> {
        self.credit_packs.iter().find(|p| p.id == id)
    }
}

/// The monthly price as a decimal (for MRR: yearly prices count a twelfth).
pub fn monthly_value(plan: &Plan, interval: Interval) -> Decimal {
    match interval {
        Interval::Month => plan.price_monthly.decimal(),
        Interval::Year => plan.price_yearly.decimal() / Decimal::from(12),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../config/plans.toml");

    #[test]
    fn the_shipped_catalogue_parses_and_self_hosted_is_unlimited() {
        let c = Catalogue::parse(SHIPPED, "self_hosted").unwrap();
        let ids: Vec<&str> = c.plans().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["free", "pro", "business", "self_hosted"]);
        let sh = c.default_plan();
        assert_eq!(sh.limits, Limits::default(), "self_hosted has no limits");
        assert_eq!(sh.features.len(), 4, "and every feature");
        let free = c.get("free").unwrap();
        assert!(free.limits.scans_per_month.is_some() && !free.has(Feature::WhiteLabel));
        assert_eq!(c.currency, "INR");
        let pro_monthly = c.get("pro").unwrap().stripe.price_monthly.clone().unwrap();
        assert_eq!(
            c.by_price(&pro_monthly).map(|(p, i)| (p.id.as_str(), i)),
            Some(("pro", Interval::Month))
        );
    }

    #[test]
    fn a_catalogue_that_cannot_work_is_refused() {
        assert!(
            Catalogue::parse(SHIPPED, "gold").is_err(),
            "unknown default"
        );
        let twice = "currency = \"INR\"\n[[plans]]\nid = \"a\"\nname = \"A\"\nprice_monthly = \"0\"\nprice_yearly = \"0\"\n[[plans]]\nid = \"a\"\nname = \"B\"\nprice_monthly = \"0\"\nprice_yearly = \"0\"\n";
        assert!(Catalogue::parse(twice, "a").unwrap_err().contains("twice"));
        let typo = "currency = \"INR\"\n[[plans]]\nid = \"a\"\nname = \"A\"\nprice_monthly = \"0\"\nprice_yearly = \"0\"\n[plans.limits]\nscans_per_mnth = 5\n";
        assert!(
            Catalogue::parse(typo, "a")
                .unwrap_err()
                .contains("scans_per_mnth")
        );
        let bad_price = "currency = \"INR\"\n[[plans]]\nid = \"a\"\nname = \"A\"\nprice_monthly = \"-1\"\nprice_yearly = \"0\"\n";
        assert!(Catalogue::parse(bad_price, "a").is_err());
    }
}
