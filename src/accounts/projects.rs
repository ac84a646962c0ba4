//! Projects: folders that group a user's QR codes.

use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::db::projects::ProjectRow;
use crate::db::{self, Paged, Window};
use crate::domain::{HexColor, ProjectName};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub struct NewProject {
    pub name: ProjectName,
    pub color: Option<HexColor>,
}

/// A partial update; `color: Some(None)` clears the colour.
pub struct ProjectPatch {
    pub name: Option<ProjectName>,
    pub color: Option<Option<HexColor>>,
}

pub async fn create(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    new: NewProject,
) -> ApiResult<ProjectRow> {
    let mut tx = state.db.begin().await?;
    let ask = crate::billing::limits::Ask::Project;
    // Caps have no notices.
    let _ =
        crate::billing::limits::admit(&mut tx, state, p.user.id, ask, chrono::Utc::now()).await?;
    let row = db::projects::insert(
        &mut *tx,
        Uuid::now_v7(),
        p.user.id,
        new.name.as_str(),
        new.color.as_ref().map(HexColor::as_str),
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created("project.create", "project", row.id, &row),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn list(state: &AppState, p: &Principal, w: Window) -> ApiResult<Paged<ProjectRow>> {
    Ok(db::projects::list(&state.db, p.user.id, w).await?)
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> ApiResult<ProjectRow> {
    db::projects::get(&state.db, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn update(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
    patch: ProjectPatch,
) -> ApiResult<ProjectRow> {
    let mut tx = state.db.begin().await?;
    let before = db::projects::get_for_update(&mut *tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let name = patch
        .name
        .as_ref()
        .map_or(before.name.as_str(), ProjectName::as_str);
    let color = match &patch.color {
        Some(c) => c.as_ref().map(HexColor::as_str),
        None => before.color.as_deref(),
    };
    let after = db::projects::update(&mut *tx, id, name, color).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::updated("project.update", "project", id, &before, &after),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a project; its QR codes stay, moved out of any project.
pub async fn delete(state: &AppState, origin: &Origin, p: &Principal, id: Uuid) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let before = db::projects::get_for_update(&mut *tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    db::projects::delete(&mut *tx, id).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::deleted("project.delete", "project", id, &before),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
