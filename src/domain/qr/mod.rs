//! QR types and their `data` payloads, checked field by field; `encode` writes each to its
//! standard (mailto:, WIFI:, vCard, iCalendar, geo:, UPI).

mod encode;

use encode::*;
pub use encode::{EmvMerchant, Payee, emvco_mpm, event_time, upi_uri};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Email, Money};
use crate::domain::FieldErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QrType {
    Url,
    Text,
    Email,
    Phone,
    Sms,
    Wifi,
    Vcard,
    Event,
    Geo,
    Payment,
}

impl QrType {
    pub fn as_str(self) -> &'static str {
        match self {
            QrType::Url => "url",
            QrType::Text => "text",
            QrType::Email => "email",
            QrType::Phone => "phone",
            QrType::Sms => "sms",
            QrType::Wifi => "wifi",
            QrType::Vcard => "vcard",
            QrType::Event => "event",
            QrType::Geo => "geo",
            QrType::Payment => "payment",
        }
    }

    pub fn parse(s: &str) -> Option<QrType> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (RFC 6068, UPI).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn pct(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

fn text(raw: &str, field: &str, max: usize, errors: &mut FieldErrors) -> String {
    let t = raw.trim();
    if t.chars().count() > max {
        errors.insert(
            format!("data.{field}"),
            format!("must be at most {max} characters"),
        );
    }
    t.to_owned()
}

fn required(raw: &str, field: &str, max: usize, errors: &mut FieldErrors) -> String {
    let t = text(raw, field, max, errors);
    if t.is_empty() {
        errors.insert(format!("data.{field}"), "is required".into());
    }
    t
}

/// Deserialises `data` into a type's shape, naming the offending `data.` field on failure.
fn shape<T: DeserializeOwned>(data: &serde_json::Value) -> Result<T, FieldErrors> {
    let data = if data.is_null() {
        &serde_json::Value::Object(Default::default())
    } else {
        data
    };
    serde_path_to_error::deserialize(data).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        let field = match msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            Some(name) if path == "." => format!("data.{name}"),
            Some(name) => format!("data.{path}.{name}"),
            None if path == "." => "data".to_owned(),
            None => format!("data.{path}"),
        };
        let why = if msg.starts_with("missing field") {
            "is required".to_owned()
        } else {
            msg
        };
        FieldErrors::from([(field, why)])
    })
}

/// A phone number as dialled: an optional leading `+` and 3–15 digits; spaces, dots, dashes and
/// parentheses are dropped.
pub fn phone_number(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    let (plus, rest) = match t.strip_prefix('+') {
        Some(r) => ("+", r),
        None => ("", t),
    };
    let digits: String = rest
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    if !(3..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err("must be a phone number of 3 to 15 digits, optionally starting with +".into());
    }
    Ok(format!("{plus}{digits}"))
}

// ---- per-type shapes (as the API accepts them) -------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextData {
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailData {
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneData {
    pub number: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsData {
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WifiEncryption {
    #[serde(rename = "WPA")]
    Wpa,
    #[serde(rename = "WEP")]
    Wep,
    #[serde(rename = "nopass")]
    NoPass,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WifiData {
    pub ssid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub encryption: WifiEncryption,
    #[serde(default)]
    pub hidden: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VcardData {
    pub first_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventData {
    pub summary: String,
    /// RFC 3339 (`2026-12-01T10:00:00+05:30`), or local time (`2026-12-01T10:00:00`) with `tz`.
    pub start: String,
    pub end: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// IANA zone the event is shown in (`Asia/Kolkata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoData {
    pub lat: f64,
    pub lng: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JourneyType {
    #[serde(rename = "basic")]
    Basic,
    #[serde(rename = "productBased")]
    ProductBased,
    #[serde(rename = "variantBased")]
    VariantBased,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    pub journey_type: JourneyType,
    #[serde(default)]
    pub amount: Option<serde_json::Value>,
    #[serde(default)]
    pub product_id: Option<Uuid>,
    #[serde(default)]
    pub variant_id: Option<Uuid>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `upi` (default: a `upi://pay` URI) or `emvco` (an EMVCo merchant-presented payload).
    #[serde(default)]
    pub format: Option<PayFormat>,
}

/// The payload format of a payment code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayFormat {
    /// `upi://pay?pa=…` (NPCI's UPI linking specification).
    #[default]
    Upi,
    /// EMVCo merchant-presented mode (BharatQR): what banking apps' scanners read.
    Emvco,
}

/// A payment QR as stored: amount normalised (`None` = the payer enters it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaymentData {
    pub journey_type: JourneyType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Stored only when not the default (`upi`), so codes made before the choice read alike.
    #[serde(default, skip_serializing_if = "is_upi")]
    pub format: PayFormat,
}

fn is_upi(f: &PayFormat) -> bool {
    *f == PayFormat::Upi
}

/// The validated `data` of a non-URL code, as stored in `qr_type_details`.
#[derive(Debug, Clone)]
pub enum QrData {
    Url,
    Text(TextData),
    Email(EmailData),
    Phone(PhoneData),
    Sms(SmsData),
    Wifi(WifiData),
    Vcard(VcardData),
    Event(EventData),
    Geo(GeoData),
    Payment(PaymentData),
}

impl QrData {
    /// Parses and validates `data` for `qr_type`; every problem is reported as `data.<field>`.
    pub fn parse(qr_type: QrType, data: &serde_json::Value) -> Result<QrData, FieldErrors> {
        let mut e = FieldErrors::new();
        let parsed = match qr_type {
            QrType::Url => QrData::Url,
            QrType::Text => {
                let mut d: TextData = shape(data)?;
                d.text = required(&d.text, "text", 2000, &mut e);
                QrData::Text(d)
            }
            QrType::Email => {
                let mut d: EmailData = shape(data)?;
                match Email::parse(&d.to) {
                    Ok(m) => d.to = m.as_str().to_owned(),
                    Err(why) => {
                        e.insert("data.to".into(), why);
                    }
                }
                d.subject = d
                    .subject
                    .map(|s| text(&s, "subject", 200, &mut e))
                    .filter(|s| !s.is_empty());
                d.body = d
                    .body
                    .map(|s| text(&s, "body", 1500, &mut e))
                    .filter(|s| !s.is_empty());
                QrData::Email(d)
            }
            QrType::Phone => {
                let mut d: PhoneData = shape(data)?;
                match phone_number(&d.number) {
                    Ok(n) => d.number = n,
                    Err(why) => {
                        e.insert("data.number".into(), why);
                    }
                }
                QrData::Phone(d)
            }
            QrType::Sms => {
                let mut d: SmsData = shape(data)?;
                match phone_number(&d.number) {
                    Ok(n) => d.number = n,
                    Err(why) => {
                        e.insert("data.number".into(), why);
                    }
                }
                d.message = d
                    .message
                    .map(|s| text(&s, "message", 1000, &mut e))
                    .filter(|s| !s.is_empty());
                QrData::Sms(d)
            }
            QrType::Wifi => {
                let d: WifiData = shape(data)?;
                if d.ssid.is_empty() || d.ssid.len() > 32 {
                    e.insert("data.ssid".into(), "must be 1 to 32 bytes".into());
                }
                let pw_len = d.password.as_deref().map_or(0, str::len);
                match d.encryption {
                    WifiEncryption::Wpa if !(8..=63).contains(&pw_len) => {
                        e.insert(
                            "data.password".into(),
                            "WPA needs a password of 8 to 63 characters".into(),
                        );
                    }
                    WifiEncryption::Wep if ![5, 10, 13, 26].contains(&pw_len) => {
                        e.insert(
                            "data.password".into(),
                            "WEP needs a key of 5, 10, 13 or 26 characters".into(),
                        );
                    }
                    WifiEncryption::NoPass if pw_len > 0 => {
                        e.insert(
                            "data.password".into(),
                            "must be empty for an open network".into(),
                        );
                    }
                    _ => {}
                }
                QrData::Wifi(d)
            }
            QrType::Vcard => {
                let mut d: VcardData = shape(data)?;
                d.first_name = required(&d.first_name, "first_name", 100, &mut e);
                for (field, v, max) in [
                    ("last_name", &mut d.last_name, 100),
                    ("organization", &mut d.organization, 200),
                    ("title", &mut d.title, 100),
                    ("address", &mut d.address, 300),
                    ("note", &mut d.note, 500),
                ] {
                    *v = v
                        .take()
                        .map(|s| text(&s, field, max, &mut e))
                        .filter(|s| !s.is_empty());
                }
                for (i, p) in d.phones.iter_mut().enumerate() {
                    match phone_number(p) {
                        Ok(n) => *p = n,
                        Err(why) => {
                            e.insert(format!("data.phones[{i}]"), why);
                        }
                    }
                }
                for (i, m) in d.emails.iter_mut().enumerate() {
                    match Email::parse(m) {
                        Ok(ok) => *m = ok.as_str().to_owned(),
                        Err(why) => {
                            e.insert(format!("data.emails[{i}]"), why);
                        }
                    }
                }
                if d.phones.len() > 5 || d.emails.len() > 5 {
                    e.insert("data".into(), "at most 5 phones and 5 e-mails".into());
                }
                if let Some(w) = &d.website {
                    match super::TargetUrl::parse(w, &Default::default()) {
                        Ok(u) => d.website = Some(u.as_str().to_owned()),
                        Err(why) => {
                            e.insert("data.website".into(), why);
                        }
                    }
                }
                QrData::Vcard(d)
            }
            QrType::Event => {
                let mut d: EventData = shape(data)?;
                d.summary = required(&d.summary, "summary", 200, &mut e);
                d.location = d
                    .location
                    .map(|s| text(&s, "location", 200, &mut e))
                    .filter(|s| !s.is_empty());
                d.description = d
                    .description
                    .map(|s| text(&s, "description", 1000, &mut e))
                    .filter(|s| !s.is_empty());
                if let Some(tz) = &d.tz
                    && tz.parse::<chrono_tz::Tz>().is_err()
                {
                    e.insert(
                        "data.tz".into(),
                        "must be an IANA time zone like Asia/Kolkata".into(),
                    );
                }
                let tz =
                    d.tz.as_deref()
                        .and_then(|t| t.parse::<chrono_tz::Tz>().ok());
                let start = event_time(&d.start, tz)
                    .map_err(|w| e.insert("data.start".into(), w))
                    .ok();
                let end = event_time(&d.end, tz)
                    .map_err(|w| e.insert("data.end".into(), w))
                    .ok();
                if let (Some(s), Some(en)) = (start, end)
                    && en <= s
                {
                    e.insert("data.end".into(), "must be after start".into());
                }
                QrData::Event(d)
            }
            QrType::Geo => {
                let mut d: GeoData = shape(data)?;
                if !(-90.0..=90.0).contains(&d.lat) {
                    e.insert("data.lat".into(), "must be between -90 and 90".into());
                }
                if !(-180.0..=180.0).contains(&d.lng) {
                    e.insert("data.lng".into(), "must be between -180 and 180".into());
                }
                d.query = d
                    .query
                    .map(|s| text(&s, "query", 200, &mut e))
                    .filter(|s| !s.is_empty());
                QrData::Geo(d)
            }
            QrType::Payment => {
                let p: PaymentInput = shape(data)?;
                let amount = match &p.amount {
                    None | Some(serde_json::Value::Null) => None,
                    Some(v) => match Money::parse(v) {
                        Ok(m) if m.is_zero() => None,
                        Ok(m) => Some(m.to_string_2dp()),
                        Err(why) => {
                            e.insert("data.amount".into(), why);
                            None
                        }
                    },
                };
                match p.journey_type {
                    JourneyType::ProductBased if p.product_id.is_none() => {
                        e.insert(
                            "data.product_id".into(),
                            "is required for productBased".into(),
                        );
                    }
                    JourneyType::VariantBased if p.variant_id.is_none() => {
                        e.insert(
                            "data.variant_id".into(),
                            "is required for variantBased".into(),
                        );
                    }
                    JourneyType::Basic if p.product_id.is_some() || p.variant_id.is_some() => {
                        e.insert(
                            "data.journey_type".into(),
                            "basic codes are not linked to a product".into(),
                        );
                    }
                    _ => {}
                }
                let mut opt = |v: Option<String>, field: &str, max| {
                    v.map(|s| text(&s, field, max, &mut e))
                        .filter(|s| !s.is_empty())
                };
                QrData::Payment(PaymentData {
                    journey_type: p.journey_type,
                    amount,
                    product_id: p.product_id,
                    variant_id: p.variant_id,
                    label: opt(p.label, "label", 100),
                    location: opt(p.location, "location", 100),
                    description: opt(p.description, "description", 200),
                    format: p.format.unwrap_or_default(),
                })
            }
        };
        if e.is_empty() { Ok(parsed) } else { Err(e) }
    }

    /// The JSON stored in `qr_type_details` (and returned as `data`).
    pub fn to_json(&self) -> serde_json::Value {
        let v = match self {
            QrData::Url => return serde_json::json!({}),
            QrData::Text(d) => serde_json::to_value(d),
            QrData::Email(d) => serde_json::to_value(d),
            QrData::Phone(d) => serde_json::to_value(d),
            QrData::Sms(d) => serde_json::to_value(d),
            QrData::Wifi(d) => serde_json::to_value(d),
            QrData::Vcard(d) => serde_json::to_value(d),
            QrData::Event(d) => serde_json::to_value(d),
            QrData::Geo(d) => serde_json::to_value(d),
            QrData::Payment(d) => serde_json::to_value(d),
        };
        v.unwrap_or(serde_json::Value::Null)
    }

    /// The encoded payload of every type except payment (which needs the merchant, see
    /// [`upi_uri`]) and url (the target itself).
    pub fn encode(&self) -> Option<String> {
        Some(match self {
            QrData::Url | QrData::Payment(_) => return None,
            QrData::Text(d) => d.text.clone(),
            QrData::Email(d) => mailto(d),
            QrData::Phone(d) => format!("tel:{}", d.number),
            QrData::Sms(d) => format!("SMSTO:{}:{}", d.number, d.message.as_deref().unwrap_or("")),
            QrData::Wifi(d) => wifi(d),
            QrData::Vcard(d) => vcard(d),
            QrData::Event(d) => vevent(d)?,
            QrData::Geo(d) => geo(d),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(t: QrType, data: serde_json::Value) -> String {
        QrData::parse(t, &data).unwrap().encode().unwrap()
    }

    fn errs(t: QrType, data: serde_json::Value) -> FieldErrors {
        QrData::parse(t, &data).unwrap_err()
    }

    #[test]
    fn each_type_encodes_to_its_standard() {
        assert_eq!(enc(QrType::Text, json!({"text": " hi "})), "hi");
        assert_eq!(
            enc(
                QrType::Email,
                json!({"to": "A@B.co", "subject": "Hi there & more", "body": "Line1\nLine2"})
            ),
            "mailto:a@b.co?subject=Hi%20there%20%26%20more&body=Line1%0ALine2"
        );
        assert_eq!(
            enc(QrType::Phone, json!({"number": "+91 (98) 765-43210"})),
            "tel:+919876543210"
        );
        assert_eq!(
            enc(
                QrType::Sms,
                json!({"number": "12345", "message": "Yes: go"})
            ),
            "SMSTO:12345:Yes: go"
        );
        assert_eq!(
            enc(
                QrType::Wifi,
                json!({"ssid": "My;Net", "password": "p:a\\ss,\"w\"", "encryption": "WPA", "hidden": true})
            ),
            r#"WIFI:T:WPA;S:My\;Net;P:p\:a\\ss\,\"w\";H:true;;"#
        );
        assert_eq!(
            enc(
                QrType::Wifi,
                json!({"ssid": "Cafe", "encryption": "nopass"})
            ),
            "WIFI:T:nopass;S:Cafe;;"
        );
        assert_eq!(
            enc(
                QrType::Geo,
                json!({"lat": 12.9716, "lng": 77.5946, "query": "MG Road"})
            ),
            "geo:12.9716,77.5946?q=MG%20Road"
        );
    }

    #[test]
    fn vcard_is_escaped_and_folded() {
        let v = enc(
            QrType::Vcard,
            json!({"first_name": "Ann", "last_name": "Lee", "organization": "A, B; C", "phones": ["+1 555 0100"],
                   "emails": ["ann@x.io"], "note": "x".repeat(100)}),
        );
        assert!(
            v.starts_with(
                "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lee;Ann;;;\r\nFN:Ann Lee\r\nORG:A\\, B\\; C\r\n"
            ),
            "{v}"
        );
        assert!(v.contains("TEL;TYPE=CELL:+15550100\r\n"));
        assert!(v.contains("EMAIL;TYPE=INTERNET:ann@x.io\r\n"));
        assert!(v.lines().all(|l| l.len() <= 75), "{v}");
        assert!(v.contains("\r\n x"), "long lines are folded");
        assert!(v.ends_with("END:VCARD\r\n"));
    }

    #[test]
    fn event_with_time_zone_and_utc() {
        let ics = enc(
            QrType::Event,
            json!({"summary": "Launch, party", "start": "2026-12-01T18:00:00", "end": "2026-12-01T21:30:00", "tz": "Asia/Kolkata", "location": "Hall 1"}),
        );
        assert!(
            ics.contains("DTSTART;TZID=Asia/Kolkata:20261201T180000\r\n"),
            "{ics}"
        );
        assert!(ics.contains("DTEND;TZID=Asia/Kolkata:20261201T213000\r\n"));
        assert!(ics.contains("DTSTAMP:20261201T123000Z\r\n"));
        assert!(ics.contains("SUMMARY:Launch\\, party\r\n"));
        let utc = enc(
            QrType::Event,
            json!({"summary": "X", "start": "2026-12-01T18:00:00+05:30", "end": "2026-12-01T19:00:00+05:30"}),
        );
        assert!(utc.contains("DTSTART:20261201T123000Z\r\n"), "{utc}");
        assert!(errs(QrType::Event, json!({"summary": "X", "start": "2026-12-01T18:00:00", "end": "2026-12-01T19:00:00"})).contains_key("data.start"));
        assert!(errs(QrType::Event, json!({"summary": "X", "start": "2026-12-01T18:00:00Z", "end": "2026-12-01T17:00:00Z"})).contains_key("data.end"));
    }

    #[test]
    fn upi() {
        let p = Payee {
            vpa: "shop@okbank",
            name: "Tea & Co",
            mcc: Some("5812"),
            reference: "P-1a2b",
            note: "Masala chai / Large",
        };
        assert_eq!(
            upi_uri(&p, Some("500.00")),
            "upi://pay?pa=shop%40okbank&pn=Tea%20%26%20Co&mc=5812&am=500.00&cu=INR&tr=P-1a2b&tn=Masala%20chai%20%2F%20Large"
        );
        assert!(!upi_uri(&p, None).contains("am="));
    }

    #[test]
    fn field_errors_name_the_data_field() {
        assert!(errs(QrType::Email, json!({"to": "nope"})).contains_key("data.to"));
        assert_eq!(
            errs(QrType::Text, json!({}))
                .get("data.text")
                .map(String::as_str),
            Some("is required")
        );
        assert!(
            errs(
                QrType::Wifi,
                json!({"ssid": "x", "encryption": "WPA", "password": "short"})
            )
            .contains_key("data.password")
        );
        assert!(
            errs(QrType::Wifi, json!({"ssid": "x", "encryption": "WPA3"}))
                .contains_key("data.encryption")
        );
        assert!(errs(QrType::Geo, json!({"lat": 91, "lng": 0})).contains_key("data.lat"));
        assert!(
            errs(QrType::Payment, json!({"journey_type": "productBased"}))
                .contains_key("data.product_id")
        );
        assert!(
            errs(QrType::Payment, json!({"journey_type": "variantBased"}))
                .contains_key("data.variant_id")
        );
        assert!(
            errs(
                QrType::Payment,
                json!({"journey_type": "basic", "amount": "1.234"})
            )
            .contains_key("data.amount")
        );
        assert!(
            errs(QrType::Vcard, json!({"first_name": "A", "phones": ["x"]}))
                .contains_key("data.phones[0]")
        );
        assert!(errs(QrType::Text, json!({"text": "a", "extra": 1})).contains_key("data.extra"));
    }
}
