//! User settings (`/api/v1/settings`): locale, time zone, default QR design, notification
//! preferences. Named "preferences" in code to keep "settings" for the service configuration.

use serde::Serialize;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::db;
use crate::db::settings::SettingsRow;
use crate::domain::{Branding, Locale, TimeZoneName};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Largest default design document accepted, in bytes of JSON.
const MAX_DESIGN_BYTES: usize = 16 * 1024;

pub use crate::domain::NotificationPrefs;

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
        default_design: r.default_design,
        // Stored rows were validated on write; a row from an older shape falls back to defaults.
        notifications: serde_json::from_value(r.notifications).unwrap_or_default(),
        branding: serde_json::from_value(r.branding).unwrap_or_default(),
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

/// One-click unsubscribe: turns `pref` off for `user` (audited as the user's own change, from
/// the signed link).
pub async fn unsubscribe(
    state: &AppState,
    user: uuid::Uuid,
    pref: crate::notify::emails::Pref,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    if db::users::by_id(&mut *tx, user).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    db::notifications::turn_off(&mut tx, user, pref.as_str()).await?;
    audit::record(
        &mut tx,
        &crate::accounts::audit::Actor {
            user_id: Some(user),
            api_key_id: None,
            ip: "unsubscribe-link".into(),
            request_id: String::new(),
        },
        Change::<(), _> {
            action: "settings.unsubscribe",
            entity_type: "settings",
            entity_id: Some(user.to_string()),
            before: None,
            after: Some(&serde_json::json!({ pref.as_str(): false })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
