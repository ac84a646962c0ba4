use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::HexColor;
use crate::domain::FieldErrors;

/// A BCP 47 language tag in its common shape (`en`, `en-IN`, `pt-BR`, `zh-Hant-TW`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Locale, String> {
        let t = raw.trim();
        let mut parts = t.split('-');
        let lang_ok = parts.next().is_some_and(|l| {
            (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic())
        });
        let rest_ok = parts
            .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if lang_ok && rest_ok && t.len() <= 35 {
            Ok(Locale(t.to_owned()))
        } else {
            Err("must be a language tag like en or en-IN".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time-zone name known to the tz database (`Asia/Kolkata`, `UTC`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(raw: &str) -> Result<TimeZoneName, String> {
        raw.trim()
            .parse::<chrono_tz::Tz>()
            .map(|tz| TimeZoneName(tz.name().to_owned()))
            .map_err(|_| "must be an IANA time zone like Asia/Kolkata".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// White-label look of the owner's landing pages. Every part is optional; unset parts fall
/// back to the neutral look.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Branding {
    /// Shown at the top of the pages (the owner's business name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Buttons and links, `#rrggbb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<String>,
    /// Page background, `#rrggbb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    /// An image from `/api/v1/uploads`, shown beside the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_upload_id: Option<Uuid>,
}

impl Branding {
    pub const MAX_NAME: usize = 80;

    /// Normalises colours and the name; errors are keyed `branding.<field>`.
    pub fn parse(v: &serde_json::Value) -> Result<Branding, FieldErrors> {
        let mut b: Branding = serde_json::from_value(v.clone())
            .map_err(|e| FieldErrors::from([("branding".to_owned(), e.to_string())]))?;
        let mut errors = FieldErrors::new();
        b.name = b
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if b.name
            .as_ref()
            .is_some_and(|n| n.chars().count() > Self::MAX_NAME)
        {
            errors.insert(
                "branding.name".into(),
                format!("at most {} characters", Self::MAX_NAME),
            );
        }
        for (field, colour) in [
            ("branding.primary_color", &mut b.primary_color),
            ("branding.background_color", &mut b.background_color),
        ] {
            if let Some(c) = colour {
                match HexColor::parse(c) {
                    Ok(h) => *c = h.as_str().to_owned(),
                    Err(why) => {
                        errors.insert(field.into(), why);
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(b)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_and_zones() {
        assert!(Locale::parse("en-IN").is_ok());
        assert!(Locale::parse("zh-Hant-TW").is_ok());
        assert!(Locale::parse("english").is_err());
        assert!(Locale::parse("").is_err());
        assert_eq!(
            TimeZoneName::parse("Asia/Kolkata").unwrap().as_str(),
            "Asia/Kolkata"
        );
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn branding() {
        let b = Branding::parse(&serde_json::json!({"name": " Cafe ", "primary_color": "#AA0000"}))
            .unwrap();
        assert_eq!(b.name.as_deref(), Some("Cafe"));
        assert_eq!(b.primary_color.as_deref(), Some("#aa0000"));
        let e = Branding::parse(&serde_json::json!({"background_color": "red"})).unwrap_err();
        assert!(e.contains_key("branding.background_color"));
        assert!(Branding::parse(&serde_json::json!({"font": "x"})).is_err());
    }
}

/// Which alerts the user wants, by e-mail and (opted into per alert) by SMS. Missing keys take
/// their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationPrefs {
    /// E-mail when a code reaches a scan milestone (100, 1,000, 10,000 … scans).
    pub scan_alerts: bool,
    /// Monday 08:00 (your time zone): last week's scans against the week before, top codes.
    pub weekly_summary: bool,
    /// Monthly usage statement.
    pub monthly_statement: bool,
    /// E-mail when an export or bulk create fails for good.
    pub job_failures: bool,
    /// E-mail at 80 % and 100 % of a monthly quota.
    pub usage_alerts: bool,
    /// The same alerts by SMS, to the verified phone number (`PUT /api/v1/me/phone`).
    pub sms: SmsPrefs,
}

impl Default for NotificationPrefs {
    fn default() -> Self {
        NotificationPrefs {
            scan_alerts: true,
            weekly_summary: false,
            monthly_statement: true,
            job_failures: true,
            usage_alerts: true,
            sms: SmsPrefs::default(),
        }
    }
}

/// SMS opt-ins, per alert (off until chosen).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SmsPrefs {
    pub scan_alerts: bool,
    pub job_failures: bool,
    pub usage_alerts: bool,
}
