//! Redirect rules of a dynamic code: conditions on the scan (device, country, time, scan count)
//! and what to do when they all hold. Evaluated in order; the first matching rule wins; no match
//! means the code's own target.

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::TargetUrl;
use crate::domain::FieldErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Ios,
    Android,
    Desktop,
}

impl Device {
    /// Cheap classification for the hot path (full parsing happens at ingestion).
    pub fn of(user_agent: &str) -> Device {
        if user_agent.contains("iPhone")
            || user_agent.contains("iPad")
            || user_agent.contains("iPod")
        {
            Device::Ios
        } else if user_agent.contains("Android") {
            Device::Android
        } else {
            Device::Desktop
        }
    }
}

/// Local hours [from, to) in the owner's time zone; wraps past midnight when from > to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    pub from: u32,
    pub to: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Vec<Device>>,
    /// ISO 3166 alpha-2 codes (from trusted proxy headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<Hours>,
    /// Holds once the code has been scanned at least this many times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scans_at_least: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send the scanner here instead.
    Redirect(String),
    /// Split the scanners between weighted targets (2–10), each visitor keeping theirs all day,
    /// as a code's own `targets` do.
    Split(Vec<super::WeightedTarget>),
    /// Show the "expired" page.
    Expired,
    /// Show the "scan limit reached" page.
    LimitReached,
    /// Ask for a password on a form page before going on with the next rules. Given in plain
    /// text; stored and returned as its argon2id hash (a hash given back is kept as is, so a
    /// read-modify-write of `rules` does not change the password).
    Password(String),
}

impl Action {
    pub fn password_hash(&self) -> Option<&str> {
        match self {
            Action::Password(h) => Some(h),
            _ => None,
        }
    }
}

/// Hashes of stored passwords start with this (PHC string format).
const HASH_PREFIX: &str = "$argon2id$";

pub fn is_password_hash(s: &str) -> bool {
    s.starts_with(HASH_PREFIX) && argon2::password_hash::PasswordHash::new(s).is_ok()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(rename = "if")]
    pub when: Condition,
    pub then: Action,
}

pub const MAX_RULES: usize = 20;

/// What the scan looks like to the rules.
pub struct Scan {
    pub device: Device,
    pub country: Option<String>,
    pub now: DateTime<Utc>,
    pub tz: chrono_tz::Tz,
    pub scans: u64,
    /// The scanner has already given this code's password (signed cookie).
    pub unlocked: bool,
}

impl Condition {
    fn holds(&self, s: &Scan) -> bool {
        self.device.as_ref().is_none_or(|d| d.contains(&s.device))
            && self.country.as_ref().is_none_or(|c| {
                s.country
                    .as_deref()
                    .is_some_and(|sc| c.iter().any(|x| x.eq_ignore_ascii_case(sc)))
            })
            && self.after.is_none_or(|a| s.now >= a)
            && self.before.is_none_or(|b| s.now < b)
            && self.hours.is_none_or(|h| {
                let hour = s.now.with_timezone(&s.tz).hour();
                if h.from <= h.to {
                    (h.from..h.to).contains(&hour)
                } else {
                    hour >= h.from || hour < h.to
                }
            })
            && self.scans_at_least.is_none_or(|n| s.scans >= n)
    }
}

/// The action of the first rule that matches.
/// Password rules are passed over once the scanner has unlocked the code.
pub fn evaluate<'r>(rules: &'r [Rule], scan: &Scan) -> Option<&'r Action> {
    rules
        .iter()
        .filter(|r| !(scan.unlocked && matches!(r.then, Action::Password(_))))
        .find(|r| r.when.holds(scan))
        .map(|r| &r.then)
}

/// Parses and validates `rules`; redirect targets follow the same policy as a code's target.
pub fn parse(
    v: &serde_json::Value,
    policy: &super::TargetPolicy,
) -> Result<Vec<Rule>, FieldErrors> {
    let mut rules: Vec<Rule> = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "rules".to_owned()
        } else {
            format!(
                "rules{}",
                if path.starts_with('[') {
                    path
                } else {
                    format!(".{path}")
                }
            )
        };
        FieldErrors::from([(field, e.inner().to_string())])
    })?;
    let mut errors = FieldErrors::new();
    if rules.len() > MAX_RULES {
        errors.insert("rules".into(), format!("at most {MAX_RULES} rules"));
    }
    for (i, r) in rules.iter_mut().enumerate() {
        // "Always ask for a password" is the common case, so a password rule may have no
        // condition; any other unconditional rule would make the code's own target unreachable.
        if r.when == Condition::default() && !matches!(r.then, Action::Password(_)) {
            errors.insert(
                format!("rules[{i}].if"),
                "needs at least one condition".into(),
            );
        }
        if let Some(h) = r.when.hours
            && (h.from > 23 || h.to > 24 || h.from == h.to)
        {
            errors.insert(
                format!("rules[{i}].if.hours"),
                "from 0–23, to 1–24, and different".into(),
            );
        }
        if let Some(c) = &mut r.when.country {
            if c.iter()
                .any(|x| x.len() != 2 || !x.chars().all(|ch| ch.is_ascii_alphabetic()))
            {
                errors.insert(
                    format!("rules[{i}].if.country"),
                    "must be ISO 3166 alpha-2 codes like IN".into(),
                );
            }
            c.iter_mut().for_each(|x| *x = x.to_ascii_uppercase());
        }
        match &mut r.then {
            Action::Redirect(url) => match TargetUrl::parse(url, policy) {
                Ok(t) => *url = t.as_str().to_owned(),
                Err(why) => {
                    errors.insert(format!("rules[{i}].then.redirect"), why);
                }
            },
            Action::Split(list) => super::target_url::check_weighted(
                list,
                policy,
                &format!("rules[{i}].then.split"),
                "",
                &mut errors,
            ),
            Action::Password(pw) if !is_password_hash(pw) => {
                let n = pw.chars().count();
                if !(4..=128).contains(&n) {
                    errors.insert(
                        format!("rules[{i}].then.password"),
                        "must be 4 to 128 characters".into(),
                    );
                }
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scan(device: Device, country: Option<&str>, now: &str, scans: u64) -> Scan {
        Scan {
            device,
            country: country.map(str::to_owned),
            now: now.parse().unwrap(),
            tz: chrono_tz::Asia::Kolkata,
            scans,
            unlocked: false,
        }
    }

    #[test]
    fn first_match_wins() {
        let rules = parse(
            &json!([
                {"if": {"after": "2027-01-01T00:00:00Z"}, "then": "expired"},
                {"if": {"scans_at_least": 100}, "then": "limit_reached"},
                {"if": {"device": ["ios"]}, "then": {"redirect": "https://apps.apple.com/app"}},
                {"if": {"country": ["in"], "hours": {"from": 22, "to": 6}}, "then": {"redirect": "https://example.in/night"}}
            ]),
            &Default::default(),
        )
        .unwrap();
        let at = |d, c, now, n| evaluate(&rules, &scan(d, c, now, n)).cloned();
        assert_eq!(
            at(Device::Ios, None, "2027-02-01T00:00:00Z", 0),
            Some(Action::Expired)
        );
        assert_eq!(
            at(Device::Ios, None, "2026-12-01T00:00:00Z", 100),
            Some(Action::LimitReached)
        );
        assert_eq!(
            at(Device::Ios, None, "2026-12-01T00:00:00Z", 5),
            Some(Action::Redirect("https://apps.apple.com/app".into()))
        );
        // 17:00 UTC = 22:30 in Kolkata: inside the night window.
        assert_eq!(
            at(Device::Android, Some("IN"), "2026-12-01T17:00:00Z", 5),
            Some(Action::Redirect("https://example.in/night".into()))
        );
        assert_eq!(
            at(Device::Android, Some("IN"), "2026-12-01T06:00:00Z", 5),
            None
        );
        assert_eq!(
            at(Device::Android, Some("US"), "2026-12-01T17:00:00Z", 5),
            None
        );
        assert_eq!(
            Device::of("Mozilla/5.0 (Linux; Android 14)"),
            Device::Android
        );
    }

    #[test]
    fn validation() {
        let e = parse(&json!([{"if": {}, "then": "expired"}]), &Default::default()).unwrap_err();
        assert!(e.contains_key("rules[0].if"));
        let e = parse(
            &json!([{"if": {"device": ["ios"]}, "then": {"redirect": "javascript:x"}}]),
            &Default::default(),
        )
        .unwrap_err();
        assert!(e.contains_key("rules[0].then.redirect"));
        let e = parse(
            &json!([{"if": {"country": ["India"]}, "then": "expired"}]),
            &Default::default(),
        )
        .unwrap_err();
        assert!(e.contains_key("rules[0].if.country"));
        assert!(parse(&json!({"x": 1}), &Default::default()).is_err());
        let e = parse(
            &json!([{"if": {}, "then": {"password": "ab"}}]),
            &Default::default(),
        )
        .unwrap_err();
        assert!(e.contains_key("rules[0].then.password"));
    }

    #[test]
    fn password_rules_step_aside_once_unlocked() {
        let rules = parse(
            &json!([
                {"if": {}, "then": {"password": "open sesame"}},
                {"if": {"device": ["ios"]}, "then": {"redirect": "https://apps.apple.com/app"}}
            ]),
            &Default::default(),
        )
        .unwrap();
        let mut s = scan(Device::Ios, None, "2026-12-01T00:00:00Z", 0);
        assert_eq!(
            evaluate(&rules, &s),
            Some(&Action::Password("open sesame".into()))
        );
        s.unlocked = true;
        assert_eq!(
            evaluate(&rules, &s),
            Some(&Action::Redirect("https://apps.apple.com/app".into()))
        );
    }
}
