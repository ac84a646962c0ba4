//! `/api/v1/merchant` and `/api/v1/products`.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{Caller, ListResponse, PageQuery};
use super::json::Json;
use crate::codes::catalog::{self, MerchantInput, NewProduct};
use crate::db::catalog::{MerchantRow, ProductRow};
use crate::domain::{Money, bounded_text};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct MerchantView {
    display_name: String,
    upi_vpa: String,
    mcc: Option<String>,
    city: Option<String>,
    updated_at: DateTime<Utc>,
}

impl From<MerchantRow> for MerchantView {
    fn from(m: MerchantRow) -> Self {
        MerchantView {
            display_name: m.display_name,
            upi_vpa: m.upi_vpa,
            mcc: m.mcc,
            city: m.city,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantBody {
    display_name: String,
    /// UPI address payments go to, e.g. `shop@okbank`.
    upi_vpa: String,
    /// 4-digit merchant category code.
    mcc: Option<String>,
    city: Option<String>,
}

/// The caller's merchant profile (404 until set).
#[utoipa::path(get, path = "/api/v1/merchant", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = MerchantView), (status = 404, description = "Not set up yet")))]
#[get("/merchant")]
pub async fn get_merchant(
    state: web::Data<AppState>,
    caller: Caller,
) -> ApiResult<web::Json<MerchantView>> {
    Ok(web::Json(
        catalog::merchant(&state, &caller.principal).await?.into(),
    ))
}

/// Set the merchant profile: the payee of payment QR codes.
#[utoipa::path(put, path = "/api/v1/merchant", tag = "payments", security(("bearer" = [])), request_body = MerchantBody,
    responses((status = 200, body = MerchantView), (status = 422, description = "Invalid fields")))]
#[put("/merchant")]
pub async fn put_merchant(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<MerchantBody>,
) -> ApiResult<web::Json<MerchantView>> {
    let b = body.0;
    let m = MerchantInput::parse(
        &b.display_name,
        &b.upi_vpa,
        b.mcc.as_deref(),
        b.city.as_deref(),
    )
    .map_err(ApiError::Validation)?;
    Ok(web::Json(
        catalog::put_merchant(&state, &caller.origin, &caller.principal, m)
            .await?
            .into(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ProductView {
    id: Uuid,
    name: String,
    /// Decimal string with two places, INR.
    price: String,
    /// Set for a variant: its product.
    parent_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ProductRow> for ProductView {
    fn from(p: ProductRow) -> Self {
        ProductView {
            id: p.id,
            name: p.name,
            price: catalog::price(p.price),
            parent_id: p.parent_id,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductBody {
    name: String,
    /// `"500.00"` or 500
    #[schema(value_type = String)]
    price: serde_json::Value,
    /// Makes this product a variant of `parent_id`.
    parent_id: Option<Uuid>,
}

/// Create a product, or a variant with `parent_id`.
#[utoipa::path(post, path = "/api/v1/products", tag = "payments", security(("bearer" = [])), request_body = ProductBody,
    responses((status = 201, body = ProductView), (status = 422, description = "Invalid fields")))]
#[post("/products")]
pub async fn create_product(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<ProductBody>,
) -> ApiResult<HttpResponse> {
    let b = body.0;
    let mut e = FieldErrors::new();
    let name = bounded_text(&b.name, 200)
        .map_err(|w| e.insert("name".into(), w))
        .ok();
    let price = Money::parse(&b.price)
        .map_err(|w| e.insert("price".into(), w))
        .ok();
    let (Some(name), Some(price)) = (name, price) else {
        return Err(ApiError::Validation(e));
    };
    let row = catalog::create_product(
        &state,
        &caller.origin,
        &caller.principal,
        NewProduct {
            name,
            price,
            parent_id: b.parent_id,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(ProductView::from(row)))
}

#[derive(Deserialize, IntoParams)]
pub struct ProductQuery {
    /// Only the variants of this product.
    parent_id: Option<Uuid>,
}

/// The caller's products and variants.
#[utoipa::path(get, path = "/api/v1/products", tag = "payments", security(("bearer" = [])), params(ProductQuery, PageQuery),
    responses((status = 200, body = ListResponse<ProductView>)))]
#[get("/products")]
pub async fn list_products(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ProductQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<ListResponse<ProductView>>> {
    let w = page.window()?;
    let paged = catalog::list_products(&state, &caller.principal, q.parent_id, w).await?;
    Ok(web::Json(ListResponse::new(paged, w, ProductView::from)))
}

/// One product or variant.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "payments", security(("bearer" = [])),
    responses((status = 200, body = ProductView), (status = 404, description = "Not found")))]
#[get("/products/{id}")]
pub async fn get_product(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ProductView>> {
    Ok(web::Json(
        catalog::get_product(&state, &caller.principal, *id)
            .await?
            .into(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatchBody {
    name: Option<String>,
    #[schema(value_type = Option<String>)]
    price: Option<serde_json::Value>,
}

/// Rename or re-price a product.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "payments", security(("bearer" = [])), request_body = ProductPatchBody,
    responses((status = 200, body = ProductView), (status = 404, description = "Not found"), (status = 422, description = "Invalid fields")))]
#[patch("/products/{id}")]
pub async fn update_product(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<ProductPatchBody>,
) -> ApiResult<web::Json<ProductView>> {
    let b = body.0;
    let mut e = FieldErrors::new();
    let name = b
        .name
        .map(|n| {
            bounded_text(&n, 200)
                .map_err(|w| e.insert("name".into(), w))
                .ok()
        })
        .unwrap_or(None);
    let price = b
        .price
        .map(|p| {
            Money::parse(&p)
                .map_err(|w| e.insert("price".into(), w))
                .ok()
        })
        .unwrap_or(None);
    if !e.is_empty() {
        return Err(ApiError::Validation(e));
    }
    Ok(web::Json(
        catalog::update_product(&state, &caller.origin, &caller.principal, *id, name, price)
            .await?
            .into(),
    ))
}

/// Delete a product, its variants and every QR code linked to them (seed 001).
#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "payments", security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 404, description = "Not found")))]
#[delete("/products/{id}")]
pub async fn delete_product(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    catalog::delete_product(&state, &caller.origin, &caller.principal, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_merchant)
        .service(put_merchant)
        .service(create_product)
        .service(list_products)
        .service(get_product)
        .service(update_product)
        .service(delete_product);
}
