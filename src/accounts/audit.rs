//! Audit trail: who did what to which entity, from where, with before/after images.
//!
//! Capabilities call [`record`] inside the transaction of the change itself, so an audited change
//! and its audit row commit or roll back together.

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::audit::{AuditFilter, AuditRow, NewAudit};
use crate::db::{self, Paged, Window};
use crate::error::ApiResult;

/// The author of a change and where the request came from.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub ip: String,
    pub request_id: String,
}

/// What changed; `before`/`after` are snapshots of the entity (never secrets).
pub struct Change<'a, B: Serialize, A: Serialize> {
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Option<String>,
    pub before: Option<&'a B>,
    pub after: Option<&'a A>,
}

impl<'a> Change<'a, (), ()> {
    /// Something happened to an entity that has no images to keep (a sign-in, a revoked
    /// session, a password change: never the secret itself).
    pub fn event(action: &'a str, entity_type: &'a str, id: impl ToString) -> Self {
        Change {
            action,
            entity_type,
            entity_id: Some(id.to_string()),
            before: None,
            after: None,
        }
    }
}

impl<'a, A: Serialize> Change<'a, (), A> {
    /// An entity came into being.
    pub fn created(action: &'a str, entity_type: &'a str, id: impl ToString, after: &'a A) -> Self {
        Change {
            action,
            entity_type,
            entity_id: Some(id.to_string()),
            before: None,
            after: Some(after),
        }
    }
}

impl<'a, B: Serialize> Change<'a, B, ()> {
    /// An entity went away.
    pub fn deleted(
        action: &'a str,
        entity_type: &'a str,
        id: impl ToString,
        before: &'a B,
    ) -> Self {
        Change {
            action,
            entity_type,
            entity_id: Some(id.to_string()),
            before: Some(before),
            after: None,
        }
    }
}

impl<'a, T: Serialize> Change<'a, T, T> {
    /// An entity changed from `before` to `after`.
    pub fn updated(
        action: &'a str,
        entity_type: &'a str,
        id: impl ToString,
        before: &'a T,
        after: &'a T,
    ) -> Self {
        Change {
            action,
            entity_type,
            entity_id: Some(id.to_string()),
            before: Some(before),
            after: Some(after),
        }
    }
}

pub async fn record<B: Serialize, A: Serialize>(
    conn: &mut PgConnection,
    actor: &Actor,
    change: Change<'_, B, A>,
) -> ApiResult<()> {
    db::audit::insert(
        conn,
        NewAudit {
            actor_user_id: actor.user_id,
            api_key_id: actor.api_key_id,
            action: change.action,
            entity_type: change.entity_type,
            entity_id: change.entity_id,
            ip: Some(&actor.ip),
            request_id: Some(&actor.request_id),
            before: change.before.map(snapshot),
            after: change.after.map(snapshot),
        },
    )
    .await?;
    Ok(())
}

fn snapshot<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

pub async fn list(
    db: &sqlx::PgPool,
    filter: &AuditFilter<'_>,
    w: Window,
) -> ApiResult<Paged<AuditRow>> {
    Ok(db::audit::list(db, filter, w).await?)
}
