//! Pure domain types. Request bodies are parsed into these once at the edge; past that point a
//! value of one of these types is valid by construction ("parse, don't validate").
//!
//! Parsers return a short human reason; the HTTP layer attaches it to the offending field.

mod account;
pub mod design;
pub mod ip;
mod money;
pub mod plan;
mod project;
pub mod qr;
pub mod rules;
mod settings;
mod shortcode;
pub mod strict;
mod target_url;
pub mod utm;

pub use account::{ApiKeyName, Email, Password, PersonName, Role};
pub use design::Design;
pub use money::Money;
pub use project::{HexColor, ProjectName};
pub use qr::{QrData, QrType};
pub use settings::{Branding, Locale, NotificationPrefs, SmsPrefs, TimeZoneName};
pub use shortcode::ShortCode;
pub use target_url::{
    MAX_TARGETS, TargetPolicy, TargetUrl, WeightedTarget, parse_targets, pick_variant,
};

/// Field path → what is wrong with it: how every check of user input reports (and what a 422
/// carries).
pub type FieldErrors = std::collections::BTreeMap<String, String>;

/// Trim and bound a free-text value.
pub fn bounded_text(raw: &str, max_chars: usize) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    if t.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(t.to_owned())
}
