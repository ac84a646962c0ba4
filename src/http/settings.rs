//! `/api/v1/settings`: the caller's preferences.

use actix_web::{get, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Caller;
use super::json::Json;
use crate::accounts::preferences::{self, NewPreferences, NotificationPrefs, Preferences};
use crate::domain::{Branding, Locale, TimeZoneName};
use crate::error::{ApiError, ApiResult};
use crate::parse_fields;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    locale: String,
    timezone: String,
    /// Design applied to new QR codes when the request names none.
    #[schema(value_type = Object)]
    default_design: serde_json::Value,
    notifications: NotificationPrefs,
    branding: Branding,
    /// Store scanner IPs shortened to /24 (IPv4) or /48 (IPv6).
    anonymize_ip: bool,
}

impl From<Preferences> for SettingsView {
    fn from(p: Preferences) -> Self {
        SettingsView {
            locale: p.locale,
            timezone: p.timezone,
            default_design: p.default_design,
            notifications: p.notifications,
            branding: p.branding,
            anonymize_ip: p.anonymize_ip,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct SettingsBody {
    /// BCP 47, e.g. `en-IN`
    locale: String,
    /// IANA, e.g. `Asia/Kolkata`
    timezone: String,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    default_design: serde_json::Value,
    #[serde(default)]
    notifications: NotificationPrefs,
    /// White-label look of the landing pages.
    #[serde(default = "empty_object")]
    #[schema(value_type = Branding)]
    branding: serde_json::Value,
    /// Default true: scanner IPs are stored as /24 or /48 only.
    #[serde(default = "yes")]
    anonymize_ip: bool,
}

fn yes() -> bool {
    true
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// The caller's settings (defaults until first saved).
#[utoipa::path(get, path = "/api/v1/settings", tag = "accounts", security(("bearer" = [])), responses((status = 200, body = SettingsView)))]
#[get("/settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    caller: Caller,
) -> ApiResult<web::Json<SettingsView>> {
    Ok(web::Json(
        preferences::get(&state, &caller.principal).await?.into(),
    ))
}

/// Replace the caller's settings.
#[utoipa::path(put, path = "/api/v1/settings", tag = "accounts", security(("bearer" = [])), request_body = SettingsBody,
    responses((status = 200, body = SettingsView), (status = 422, description = "Invalid fields")))]
#[put("/settings")]
pub async fn put_settings(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<SettingsBody>,
) -> ApiResult<web::Json<SettingsView>> {
    let b = body.0;
    parse_fields!(
        locale: "locale" => Locale::parse(&b.locale),
        timezone: "timezone" => TimeZoneName::parse(&b.timezone),
        default_design: "default_design" => NewPreferences::check_design(b.default_design),
    );
    let branding = Branding::parse(&b.branding).map_err(ApiError::Validation)?;
    let new = NewPreferences {
        locale,
        timezone,
        default_design,
        notifications: b.notifications,
        branding,
        anonymize_ip: b.anonymize_ip,
    };
    Ok(web::Json(
        preferences::put(&state, &caller.origin, &caller.principal, new)
            .await?
            .into(),
    ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_settings).service(put_settings);
}
