//! Response shapes shared by several resources.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::users::UserRow;
use crate::domain::Role;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub avatar_url: Option<String>,
    /// `local` or `google`: how the account was created.
    pub provider: String,
    pub suspended: bool,
    /// The address was confirmed by following a link sent to it.
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role,
            avatar_url: u.avatar_url,
            provider: u.provider,
            email_verified: u.email_verified_at.is_some(),
            suspended: u.suspended_at.is_some(),
            created_at: u.created_at,
        }
    }
}

/// The answer of register, login and Google sign-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: UserView,
    /// Session token: send as `Authorization: Bearer <token>`.
    pub token: String,
}
