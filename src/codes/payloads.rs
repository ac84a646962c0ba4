//! What a code's image encodes: its short URL when dynamic, else its content in its standard
//! form (URL, mailto:, vCard, UPI URI …), built from the row and, for payments, the merchant
//! profile and products.

use uuid::Uuid;

use super::*;
use crate::config::Settings;
use crate::db;
use crate::db::qr_codes::QrRow;
use crate::domain::qr::{
    EmvMerchant, JourneyType, PayFormat, Payee, PaymentData, emvco_mpm, upi_uri,
};
use crate::domain::{QrData, QrType};
use crate::error::{ApiError, ApiResult};

/// The payload of a payment code — a UPI URI or an EMVCo merchant-presented payload: payee
/// from the merchant profile, the reference and note naming the code, product or variant, and
/// the amount the code fixes, else the variant's or product's price, else none (the payer
/// enters it).
pub(super) async fn payment_payload(
    conn: &mut sqlx::PgConnection,
    owner: Uuid,
    short_code: &str,
    pd: &PaymentData,
) -> ApiResult<String> {
    let m = db::catalog::merchant(&mut *conn, owner)
        .await?
        .ok_or_else(|| {
            ApiError::field(
                "data",
                "payment codes need a merchant profile: PUT /api/v1/merchant first",
            )
        })?;
    let product = match pd.product_id {
        Some(id) => db::catalog::product(&mut *conn, owner, id).await?,
        None => None,
    };
    let variant = match pd.variant_id {
        Some(id) => db::catalog::product(&mut *conn, owner, id).await?,
        None => None,
    };
    let parent = match (&variant, &product) {
        (Some(v), None) => match v.parent_id {
            Some(pid) => db::catalog::product(&mut *conn, owner, pid).await?,
            None => None,
        },
        _ => None,
    };
    let short = |id: Uuid| id.simple().to_string()[..12].to_owned();
    let (reference, note) = match (
        pd.journey_type,
        &variant,
        product.as_ref().or(parent.as_ref()),
    ) {
        (JourneyType::VariantBased, Some(v), Some(p)) => (
            format!("V{}", short(v.id)),
            format!("{} / {}", p.name, v.name),
        ),
        (JourneyType::VariantBased, Some(v), None) => (format!("V{}", short(v.id)), v.name.clone()),
        (JourneyType::ProductBased, _, Some(p)) => (format!("P{}", short(p.id)), p.name.clone()),
        _ => (
            format!("QR{short_code}"),
            pd.label
                .clone()
                .or_else(|| pd.description.clone())
                .unwrap_or_else(|| format!("Payment to {}", m.display_name)),
        ),
    };
    let note: String = note.chars().take(80).collect();
    let price = match pd.journey_type {
        JourneyType::VariantBased => variant.as_ref().map(|v| v.price),
        JourneyType::ProductBased => product.as_ref().map(|p| p.price),
        JourneyType::Basic => None,
    }
    .filter(|p| !p.is_zero())
    .map(|p| format!("{p:.2}"));
    let amount = pd.amount.clone().or(price);
    Ok(match pd.format {
        PayFormat::Upi => upi_uri(
            &Payee {
                vpa: &m.upi_vpa,
                name: &m.display_name,
                mcc: m.mcc.as_deref(),
                reference: &reference,
                note: &note,
            },
            amount.as_deref(),
        ),
        PayFormat::Emvco => emvco_mpm(
            &EmvMerchant {
                vpa: &m.upi_vpa,
                name: &m.display_name,
                mcc: m.mcc.as_deref(),
                city: m.city.as_deref(),
                reference: &reference,
                store: pd.location.as_deref(),
                terminal: pd.label.as_deref(),
                purpose: pd.description.as_deref(),
            },
            amount.as_deref(),
        ),
    })
}

/// What the code's image encodes: its short URL when dynamic, else its content.
pub async fn payload(
    conn: &mut sqlx::PgConnection,
    settings: &Settings,
    row: &QrRow,
) -> ApiResult<String> {
    match payload_at_hand(settings, row)? {
        Some(p) => Ok(p),
        None => content(conn, row).await,
    }
}

/// The payload when it is made from the row alone — every code but a static payment code,
/// whose UPI URI needs the merchant profile and product from Postgres. Lets bulk renders skip
/// a connection checkout per code.
pub(super) fn payload_at_hand(settings: &Settings, row: &QrRow) -> ApiResult<Option<String>> {
    if row.dynamic {
        return Ok(Some(short_url(
            settings,
            row.domain_host.as_deref(),
            &row.short_code,
        )));
    }
    content_at_hand(row)
}

/// What a dynamic code's landing page offers: its content, with a payment always as a UPI URI
/// (a link the phone opens in a UPI app; an EMVCo payload is for scanners, not links).
pub async fn landing_content(conn: &mut sqlx::PgConnection, row: &QrRow) -> ApiResult<String> {
    match (&stored_data(row)?, row.user_id) {
        (QrData::Payment(pd), Some(owner)) => {
            let upi = PaymentData {
                format: PayFormat::Upi,
                ..pd.clone()
            };
            payment_payload(conn, owner, &row.short_code, &upi).await
        }
        _ => content(conn, row).await,
    }
}

/// The code's content in its standard form (URL, mailto:, vCard, UPI URI or EMVCo payload …),
/// whether static or dynamic.
pub async fn content(conn: &mut sqlx::PgConnection, row: &QrRow) -> ApiResult<String> {
    if let Some(c) = content_at_hand(row)? {
        return Ok(c);
    }
    let owner = row.user_id.ok_or(ApiError::NotFound)?;
    match &stored_data(row)? {
        QrData::Payment(pd) => payment_payload(conn, owner, &row.short_code, pd).await,
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "no encoder for {}",
            row.qr_type
        ))),
    }
}

/// `content` when no Postgres read is needed (all types but payment); `None` for payments.
pub(super) fn content_at_hand(row: &QrRow) -> ApiResult<Option<String>> {
    if qr_type(row)? == QrType::Url {
        return row
            .target_url
            .clone()
            .map(Some)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("url code without target")));
    }
    match &stored_data(row)? {
        QrData::Payment(_) => Ok(None),
        d => d
            .encode()
            .map(Some)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no encoder for {}", row.qr_type))),
    }
}

/// The validated data stored with a code.
pub fn stored_data(row: &QrRow) -> ApiResult<QrData> {
    let t = qr_type(row)?;
    let data = row.type_data.clone().unwrap_or_default();
    QrData::parse(t, &data)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored data invalid: {e:?}")))
}
