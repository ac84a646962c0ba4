use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Paged, Window};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct MerchantRow {
    pub display_name: String,
    pub upi_vpa: String,
    pub mcc: Option<String>,
    pub city: Option<String>,
    pub updated_at: DateTime<Utc>,
}

pub async fn merchant(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Option<MerchantRow>, sqlx::Error> {
    sqlx::query_as!(
        MerchantRow,
        "SELECT display_name, upi_vpa, mcc, city, updated_at FROM merchants WHERE user_id = $1",
        user_id
    )
    .fetch_optional(db)
    .await
}

pub async fn put_merchant(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    display_name: &str,
    upi_vpa: &str,
    mcc: Option<&str>,
    city: Option<&str>,
) -> Result<MerchantRow, sqlx::Error> {
    sqlx::query_as!(MerchantRow, "INSERT INTO merchants (user_id, display_name, upi_vpa, mcc, city) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET display_name = EXCLUDED.display_name, upi_vpa = EXCLUDED.upi_vpa, \
           mcc = EXCLUDED.mcc, city = EXCLUDED.city \
         RETURNING display_name, upi_vpa, mcc, city, updated_at", user_id, display_name, upi_vpa, mcc, city)
    .fetch_one(db)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ProductRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub price: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert_product(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
    parent_id: Option<Uuid>,
    name: &str,
    price: Decimal,
) -> Result<ProductRow, sqlx::Error> {
    sqlx::query_as!(
        ProductRow,
        "INSERT INTO products (id, user_id, parent_id, name, price) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, user_id, parent_id, name, price, created_at, updated_at",
        id,
        user_id,
        parent_id,
        name,
        price
    )
    .fetch_one(db)
    .await
}

pub async fn product(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<ProductRow>, sqlx::Error> {
    sqlx::query_as!(ProductRow, "SELECT id, user_id, parent_id, name, price, created_at, updated_at FROM products WHERE user_id = $1 AND id = $2", user_id, id)
    .fetch_optional(db)
    .await
}

/// The owner's products; `parent` = Some lists one product's variants.
pub async fn products(
    db: &sqlx::PgPool,
    user_id: Uuid,
    parent: Option<Uuid>,
    w: Window,
) -> Result<Paged<ProductRow>, sqlx::Error> {
    let items = sqlx::query_as!(ProductRow, "SELECT id, user_id, parent_id, name, price, created_at, updated_at FROM products \
         WHERE user_id = $1 AND ($2::uuid IS NULL OR parent_id = $2) ORDER BY created_at, id LIMIT $3 OFFSET $4", user_id, parent, w.limit, w.offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!("SELECT count(*) AS \"v!\" FROM products WHERE user_id = $1 AND ($2::uuid IS NULL OR parent_id = $2)", user_id, parent)
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}

pub async fn update_product(
    db: impl PgExecutor<'_>,
    id: Uuid,
    name: &str,
    price: Decimal,
) -> Result<ProductRow, sqlx::Error> {
    sqlx::query_as!(
        ProductRow,
        "UPDATE products SET name = $2, price = $3 WHERE id = $1 \
         RETURNING id, user_id, parent_id, name, price, created_at, updated_at",
        id,
        name,
        price
    )
    .fetch_one(db)
    .await
}

/// Deletes a product, its variants and (by the foreign keys) every QR code linked to them.
/// Returns how many codes went with it.
pub async fn delete_product(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<i64, sqlx::Error> {
    let codes: i64 = sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM qr_codes WHERE product_id = $1 OR variant_id = $1 \
           OR variant_id IN (SELECT id FROM products WHERE parent_id = $1)",
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM products WHERE id = $1", id)
        .execute(&mut *conn)
        .await?;
    Ok(codes)
}
