//! User settings (`/api/v1/settings`): locale, time zone, default QR design, notification
//! preferences. Named "preferences" in code to keep "settings" for the service configuration.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::{Origin, Principal};
use crate::audit::{self, Change};
use crate::db;
use crate::db::settings::SettingsRow;
use crate::domain::{Branding, Locale, TimeZoneName};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Largest default design document accepted, in bytes of JSON.
const MAX_DESIGN_BYTES: usize = 16 * 1024;

/// Which e-mails the user wants. Missing keys take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationPrefs {
    /// E-mail when a code reaches a scan milestone.
    pub scan_alerts: bool,
    /// Weekly summary of scans.
    pub weekly_summary: bool,
    /// Monthly usage statement.
    pub monthly_statement: bool,
    /// Webhook/e-mail on failed exports or jobs.
    pub job_failures: bool,
}

impl Default for NotificationPrefs {
    fn default() -> Self {
        NotificationPrefs {
            scan_alerts: true,
            weekly_summary: false,
            monthly_statement: true,
            job_failures: true,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Preferences {
    pub locale: String,
    pub timezone: String,
    pub default_design: serde_json::Value,
    pub notifications: NotificationPrefs,
    pub branding: Branding,
    pub anonymize_ip: bool,
}

pub struct NewPreferences {
    pub locale: Locale,
    pub timezone: TimeZoneName,
    pub default_design: serde_json::Value,
    pub notifications: NotificationPrefs,
    pub branding: Branding,
    pub anonymize_ip: bool,
}

impl NewPreferences {
    /// Checks the free-form default design: an object of bounded size.
    pub fn check_design(v: serde_json::Value) -> Result<serde_json::Value, String> {
        if !v.is_object() {
            return Err("must be an object".into());
        }
        if v.to_string().len() > MAX_DESIGN_BYTES {
            return Err(format!("must be at most {MAX_DESIGN_BYTES} bytes"));
        }
        Ok(v)
    }
}

fn from_row(r: SettingsRow) -> Preferences {
    Preferences {
        locale: r.locale,
        timezone: r.timezone,
        default_design: r.default_design.0,
        // Stored rows were validated on write; a row from an older shape falls back to defaults.
        notifications: serde_json::from_value(r.notifications.0).unwrap_or_default(),
        branding: serde_json::from_value(r.branding.0).unwrap_or_default(),
        anonymize_ip: r.anonymize_ip,
    }
}

pub async fn get(state: &AppState, p: &Principal) -> ApiResult<Preferences> {
    Ok(from_row(db::settings::get(&state.db, p.user.id).await?))
}

pub async fn put(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    new: NewPreferences,
) -> ApiResult<Preferences> {
    let notifications = serde_json::to_value(&new.notifications).map_err(ApiError::internal)?;
    let branding = serde_json::to_value(&new.branding).map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    if let Some(logo) = new.branding.logo_upload_id
        && db::uploads::get(&mut *tx, p.user.id, logo).await?.is_none()
    {
        return Err(ApiError::field(
            "branding.logo_upload_id",
            "no such upload of yours",
        ));
    }
    let before = from_row(db::settings::get(&mut *tx, p.user.id).await?);
    // Branding kept as it was stays, whatever the plan now; new branding needs white label.
    if new.branding != before.branding && new.branding != Branding::default() {
        let white_label = crate::domain::plan::Feature::WhiteLabel;
        crate::billing::limits::require(&mut tx, &state.billing, p.user.id, white_label).await?;
    }
    let after = from_row(
        db::settings::put(
            &mut *tx,
            p.user.id,
            &db::settings::NewSettings {
                locale: new.locale.as_str(),
                timezone: new.timezone.as_str(),
                default_design: &new.default_design,
                notifications: &notifications,
                branding: &branding,
                anonymize_ip: new.anonymize_ip,
            },
        )
        .await?,
    );
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::updated("settings.update", "settings", p.user.id, &before, &after),
    )
    .await?;
    tx.commit().await?;
    // Landing pages and the ingestor read these through caches of the owner's codes.
    state
        .bus
        .publish(crate::cache::Invalidate::Owner { id: p.user.id })
        .await;
    Ok(after)
}
