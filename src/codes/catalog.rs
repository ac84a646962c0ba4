//! The merchant profile and products (with variants) behind payment QR codes (seed 001).

use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::cache::Invalidate;
use crate::db::catalog::{MerchantRow, ProductRow};
use crate::db::{self, Paged, Window};
use crate::domain::Money;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::state::AppState;

/// A validated merchant profile.
pub struct MerchantInput {
    pub display_name: String,
    pub upi_vpa: String,
    pub mcc: Option<String>,
    pub city: Option<String>,
}

impl MerchantInput {
    pub fn parse(
        display_name: &str,
        upi_vpa: &str,
        mcc: Option<&str>,
        city: Option<&str>,
    ) -> Result<MerchantInput, FieldErrors> {
        let mut e = FieldErrors::new();
        let name = crate::domain::bounded_text(display_name, 99)
            .map_err(|w| e.insert("display_name".into(), w))
            .ok();
        // NPCI: handle@psp, handle of letters, digits, '.', '-', '_'.
        let vpa = upi_vpa.trim();
        let ok = vpa.split_once('@').is_some_and(|(h, psp)| {
            (2..=256).contains(&h.len())
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
                && (2..=64).contains(&psp.len())
                && psp.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !ok {
            e.insert(
                "upi_vpa".into(),
                "must be a UPI address like shop@okbank".into(),
            );
        }
        let mcc = mcc.map(str::trim).filter(|m| !m.is_empty());
        if mcc.is_some_and(|m| m.len() != 4 || !m.bytes().all(|b| b.is_ascii_digit())) {
            e.insert(
                "mcc".into(),
                "must be a 4-digit merchant category code".into(),
            );
        }
        let city = city
            .map(|c| {
                crate::domain::bounded_text(c, 50)
                    .map_err(|w| e.insert("city".into(), w))
                    .ok()
            })
            .unwrap_or(None);
        match name {
            Some(display_name) if e.is_empty() => Ok(MerchantInput {
                display_name,
                upi_vpa: vpa.to_owned(),
                mcc: mcc.map(str::to_owned),
                city,
            }),
            _ => Err(e),
        }
    }
}

pub async fn merchant(state: &AppState, p: &Principal) -> ApiResult<MerchantRow> {
    db::catalog::merchant(&state.db, p.user.id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn put_merchant(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    m: MerchantInput,
) -> ApiResult<MerchantRow> {
    let mut tx = state.db.begin().await?;
    let before = db::catalog::merchant(&mut *tx, p.user.id).await?;
    let after = db::catalog::put_merchant(
        &mut *tx,
        p.user.id,
        &m.display_name,
        &m.upi_vpa,
        m.mcc.as_deref(),
        m.city.as_deref(),
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change {
            action: "merchant.update",
            entity_type: "merchant",
            entity_id: Some(p.user.id.to_string()),
            before: before.as_ref(),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::Owner { id: p.user.id }).await;
    Ok(after)
}

pub struct NewProduct {
    pub name: String,
    pub price: Money,
    pub parent_id: Option<Uuid>,
}

/// A variant's parent must be the caller's own top-level product (variants are one level deep).
async fn check_parent(conn: &mut sqlx::PgConnection, p: &Principal, parent: Uuid) -> ApiResult<()> {
    match db::catalog::product(&mut *conn, p.user.id, parent).await? {
        None => Err(ApiError::field("parent_id", "no such product")),
        Some(pp) if pp.parent_id.is_some() => Err(ApiError::field(
            "parent_id",
            "is itself a variant; variants are one level deep",
        )),
        Some(_) => Ok(()),
    }
}

pub async fn create_product(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    n: NewProduct,
) -> ApiResult<ProductRow> {
    let mut tx = state.db.begin().await?;
    if let Some(parent) = n.parent_id {
        check_parent(&mut tx, p, parent).await?;
    }
    let row = db::catalog::insert_product(
        &mut *tx,
        Uuid::now_v7(),
        p.user.id,
        n.parent_id,
        &n.name,
        n.price.decimal(),
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created("product.create", "product", row.id, &row),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn list_products(
    state: &AppState,
    p: &Principal,
    parent: Option<Uuid>,
    w: Window,
) -> ApiResult<Paged<ProductRow>> {
    Ok(db::catalog::products(&state.db, p.user.id, parent, w).await?)
}

pub async fn get_product(state: &AppState, p: &Principal, id: Uuid) -> ApiResult<ProductRow> {
    db::catalog::product(&state.db, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn update_product(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
    name: Option<String>,
    price: Option<Money>,
) -> ApiResult<ProductRow> {
    let mut tx = state.db.begin().await?;
    let before = db::catalog::product(&mut *tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let after = db::catalog::update_product(
        &mut *tx,
        id,
        name.as_deref().unwrap_or(&before.name),
        price.map_or(before.price, |m| m.decimal()),
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::updated("product.update", "product", id, &before, &after),
    )
    .await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::Owner { id: p.user.id }).await;
    Ok(after)
}

#[derive(Serialize)]
struct Deleted<'a> {
    product: &'a ProductRow,
    qr_codes_deleted: i64,
}

/// Deletes a product with its variants and, as seed 001 requires, the QR codes linked to them.
pub async fn delete_product(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
) -> ApiResult<i64> {
    let mut tx = state.db.begin().await?;
    let before = db::catalog::product(&mut *tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let codes = db::catalog::delete_product(&mut tx, id).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::<_, ()> {
            action: "product.delete",
            entity_type: "product",
            entity_id: Some(id.to_string()),
            before: Some(&Deleted {
                product: &before,
                qr_codes_deleted: codes,
            }),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    state.bus.publish(Invalidate::Owner { id: p.user.id }).await;
    Ok(codes)
}

/// Money as stored (NUMERIC(15,2)) to its API form.
pub fn price(d: Decimal) -> String {
    Money::from_decimal(d).to_string_2dp()
}
