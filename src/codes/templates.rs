//! The templates library: frames (caption bands around a code) and landing pages that users fill
//! in (`template_data`) and publish at `/p/{url_id}`.

use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::db;
use crate::db::templates::{FilledRow, TemplateRow};
use crate::domain::{ShortCode, TargetUrl};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::html::escape as html_escape;
use crate::state::AppState;

pub async fn list(state: &AppState, category: Option<&str>) -> ApiResult<Vec<TemplateRow>> {
    Ok(db::templates::list(&state.db, category).await?)
}

pub async fn get(state: &AppState, id: Uuid) -> ApiResult<TemplateRow> {
    db::templates::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)
}

fn meta(t: &TemplateRow) -> &serde_json::Value {
    static EMPTY: serde_json::Value = serde_json::Value::Null;
    t.metadata.as_ref().unwrap_or(&EMPTY)
}

/// A frame template's default caption and placement (`banner` = above the code).
pub fn frame_caption(t: &TemplateRow) -> (Option<String>, bool) {
    let m = meta(t);
    (
        m["caption"].as_str().map(str::to_owned),
        m["style"].as_str() == Some("banner"),
    )
}

/// Validates `data` against the template's declared fields: required ones present, lengths
/// bounded, URL fields http(s), nothing undeclared.
fn check_data(t: &TemplateRow, data: &serde_json::Value) -> Result<serde_json::Value, FieldErrors> {
    let mut e = FieldErrors::new();
    let fields = meta(t)["fields"].as_object().cloned().unwrap_or_default();
    let Some(given) = data.as_object() else {
        return Err(FieldErrors::from([(
            "data".into(),
            "must be an object".into(),
        )]));
    };
    for k in given.keys().filter(|k| !fields.contains_key(*k)) {
        e.insert(
            format!("data.{k}"),
            "is not a field of this template".into(),
        );
    }
    let mut out = serde_json::Map::new();
    for (name, spec) in &fields {
        let v = given
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        match v {
            None if spec["required"].as_bool() == Some(true) => {
                e.insert(format!("data.{name}"), "is required".into());
            }
            None => {}
            Some(v) => {
                let max = spec["max"].as_u64().unwrap_or(500) as usize;
                if v.chars().count() > max {
                    e.insert(
                        format!("data.{name}"),
                        format!("must be at most {max} characters"),
                    );
                } else if spec["url"].as_bool() == Some(true) {
                    match TargetUrl::parse(v, &Default::default()) {
                        Ok(u) => {
                            out.insert(name.clone(), u.as_str().into());
                        }
                        Err(why) => {
                            e.insert(format!("data.{name}"), why);
                        }
                    }
                } else {
                    out.insert(name.clone(), v.into());
                }
            }
        }
    }
    if e.is_empty() { Ok(out.into()) } else { Err(e) }
}

pub async fn fill(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    template_id: Uuid,
    data: &serde_json::Value,
) -> ApiResult<FilledRow> {
    let t = get(state, template_id).await?;
    if t.category.as_deref() != Some("landing") {
        return Err(ApiError::field(
            "template_id",
            "only landing-page templates take data",
        ));
    }
    let data = check_data(&t, data).map_err(ApiError::Validation)?;
    let mut tx = state.db.begin().await?;
    let mut attempt = 0;
    let row = loop {
        let url_id = ShortCode::generate();
        let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
        match db::templates::insert_data(
            &mut *sp,
            Uuid::now_v7(),
            p.user.id,
            template_id,
            &data,
            url_id.as_str(),
        )
        .await
        {
            Ok(row) => {
                sp.commit().await?;
                break row;
            }
            Err(e) if db::is_unique_violation(&e) && attempt < 5 => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    };
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created("template_data.create", "template_data", row.id, &data),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The public landing page of filled template data: server-rendered, no external assets.
pub async fn page(state: &AppState, url_id: &str) -> ApiResult<String> {
    let filled = db::templates::data_by_url_id(&state.db, url_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let t = match filled.template_id {
        Some(id) => get(state, id).await?,
        None => return Err(ApiError::NotFound),
    };
    let data = filled.data.unwrap_or_default();
    let field = |k: &str| data[k].as_str().map(html_escape);
    let accent = meta(&t)["accent"]
        .as_str()
        .filter(|a| crate::domain::HexColor::parse(a).is_ok())
        .unwrap_or("#1f6feb")
        .to_owned();
    let title = field("title").unwrap_or_default();
    let mut body = String::new();
    for key in ["body", "terms"] {
        if let Some(v) = field(key) {
            body.push_str(&format!("<p>{}</p>", v.replace('\n', "<br>")));
        }
    }
    if let Some(code) = field("code") {
        body.push_str(&format!("<p class=\"code\">{code}</p>"));
    }
    if let (Some(text), Some(url)) = (field("button_text"), field("button_url")) {
        body.push_str(&format!(
            "<a class=\"btn\" href=\"{url}\" rel=\"noopener nofollow\">{text}</a>"
        ));
    }
    Ok(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{title}</title>\
<style>body{{margin:0;font-family:system-ui,-apple-system,sans-serif;background:#f6f8fa;color:#1f2328}}\
main{{max-width:32rem;margin:0 auto;padding:2rem 1.25rem}}h1{{color:{accent};font-size:1.75rem}}\
.code{{font:700 1.5rem monospace;border:2px dashed {accent};padding:.75rem;text-align:center}}\
.btn{{display:block;text-align:center;background:{accent};color:#fff;padding:.9rem;border-radius:.5rem;text-decoration:none;font-weight:600}}\
</style></head><body><main><h1>{title}</h1>{body}</main></body></html>"
    ))
}

/// A preview image of a template, drawn on the fly: a sample code in the frame, or a sketch of
/// the landing page. Keeps the library free of binary assets that could drift from the code.
pub fn preview_svg(t: &TemplateRow) -> String {
    let (caption, _) = frame_caption(t);
    let accent = meta(t)["accent"].as_str().unwrap_or("#1f2328");
    match t.category.as_deref() {
        Some("frame") => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 120 144\" width=\"240\" height=\"288\">\
<rect width=\"120\" height=\"144\" fill=\"#000\"/><rect x=\"6\" y=\"6\" width=\"108\" height=\"108\" fill=\"#fff\"/>\
<rect x=\"18\" y=\"18\" width=\"24\" height=\"24\" fill=\"#000\"/><rect x=\"78\" y=\"18\" width=\"24\" height=\"24\" fill=\"#000\"/>\
<rect x=\"18\" y=\"78\" width=\"24\" height=\"24\" fill=\"#000\"/><rect x=\"54\" y=\"54\" width=\"12\" height=\"12\" fill=\"#000\"/>\
<text x=\"60\" y=\"132\" fill=\"#fff\" font-family=\"sans-serif\" font-weight=\"bold\" font-size=\"12\" text-anchor=\"middle\">{}</text></svg>",
            html_escape(caption.as_deref().unwrap_or(""))
        ),
        _ => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 120 200\" width=\"240\" height=\"400\">\
<rect width=\"120\" height=\"200\" rx=\"10\" fill=\"#f6f8fa\" stroke=\"#d0d7de\"/>\
<rect x=\"12\" y=\"20\" width=\"80\" height=\"12\" rx=\"3\" fill=\"{accent}\"/>\
<rect x=\"12\" y=\"44\" width=\"96\" height=\"6\" rx=\"3\" fill=\"#afb8c1\"/><rect x=\"12\" y=\"56\" width=\"84\" height=\"6\" rx=\"3\" fill=\"#afb8c1\"/>\
<rect x=\"12\" y=\"150\" width=\"96\" height=\"20\" rx=\"5\" fill=\"{accent}\"/></svg>"
        ),
    }
}
