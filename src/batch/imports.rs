//! Importers: the links of a Shlink, YOURLS or Bitly account brought over as dynamic URL codes,
//! from each tool's CSV export. Short codes are kept when they are free here (else the code gets
//! a new one and the report says so), a link's first tag becomes its project (made when
//! missing), and every row is reported.
//!
//! An import runs as a bulk-create job (the same worker, checks and report). Each link's code id
//! is derived from the account, the source and the link's short code, so importing the same
//! export again — or a newer export with more links — skips what is already here instead of
//! making it twice.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::projects::{self, NewProject};
use crate::accounts::{Origin, Principal};
use crate::db::{self, jobs::JobRow};
use crate::domain::ProjectName;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::state::AppState;

pub const KIND: &str = "import";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Shlink,
    Yourls,
    Bitly,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Shlink => "shlink",
            Source::Yourls => "yourls",
            Source::Bitly => "bitly",
        }
    }

    /// The export's column names for (short code or short URL, long URL, title, tags), lower
    /// case, most specific first.
    fn columns(self) -> [&'static [&'static str]; 4] {
        match self {
            Source::Shlink => [
                &["shortcode", "short_code", "shorturl", "short_url"],
                &["longurl", "long_url", "originalurl"],
                &["title"],
                &["tags"],
            ],
            Source::Yourls => [
                &["keyword", "shorturl", "short_url"],
                &["url", "longurl", "long_url"],
                &["title"],
                &["tags"],
            ],
            Source::Bitly => [
                &[
                    "custom bitlink",
                    "bitlink",
                    "link",
                    "short link",
                    "short_url",
                ],
                &["long url", "long_url", "destination url", "destination"],
                &["title"],
                &["tags"],
            ],
        }
    }
}

/// One link of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub short_code: String,
    pub long_url: String,
    pub title: Option<String>,
    pub tags: Vec<String>,
}

/// The short code of a cell holding a code or a short URL (`https://s.example/abc` → `abc`).
fn short_code_of(cell: &str) -> String {
    let c = cell.trim().trim_end_matches('/');
    c.rsplit('/').next().unwrap_or(c).to_owned()
}

/// The links of `csv`, an export of `source`; each row's faults are named by row.
pub fn links(source: Source, csv: &str) -> ApiResult<Vec<Link>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(csv.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::field("csv", format!("unreadable header: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    // Every column a field may be in, most specific first (Bitly leaves "Custom Bitlink" empty
    // when the link has none).
    let find = |names: &[&str]| -> Vec<usize> {
        names
            .iter()
            .filter_map(|n| headers.iter().position(|h| h == n))
            .collect()
    };
    let [short, long, title, tags] = source.columns().map(find);
    if short.is_empty() || long.is_empty() {
        return Err(ApiError::field(
            "csv",
            format!(
                "not a {} export: it needs a short code and a long URL column (found {})",
                source.as_str(),
                headers.join(", ")
            ),
        ));
    };
    let mut out = Vec::new();
    let mut errors = FieldErrors::new();
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.insert(format!("csv.row{}", i + 1), e.to_string());
                continue;
            }
        };
        let cell = |ks: &[usize]| {
            ks.iter()
                .filter_map(|k| record.get(*k))
                .map(str::trim)
                .find(|s| !s.is_empty())
        };
        let (Some(code), Some(url)) = (cell(&short), cell(&long)) else {
            errors.insert(
                format!("csv.row{}", i + 1),
                "needs a short code and a long URL".into(),
            );
            continue;
        };
        out.push(Link {
            short_code: short_code_of(code),
            long_url: url.to_owned(),
            title: cell(&title).map(str::to_owned),
            tags: cell(&tags)
                .map(|t| {
                    t.split([',', '|', ';'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if out.is_empty() {
        return Err(ApiError::field("csv", "has no links"));
    }
    if out.len() > super::bulk::MAX_ROWS {
        return Err(ApiError::field(
            "csv",
            format!("at most {} links per import", super::bulk::MAX_ROWS),
        ));
    }
    Ok(out)
}

/// Most pages read from a Shlink server (100 links each: the import's row limit).
const SHLINK_PAGES: u32 = super::bulk::MAX_ROWS as u32 / 100;

#[derive(Deserialize)]
struct ShlinkPage {
    #[serde(rename = "shortUrls")]
    short_urls: ShlinkList,
}

#[derive(Deserialize)]
struct ShlinkList {
    data: Vec<ShlinkUrl>,
    pagination: ShlinkPagination,
}

#[derive(Deserialize)]
struct ShlinkUrl {
    #[serde(rename = "shortCode")]
    short_code: String,
    #[serde(rename = "longUrl")]
    long_url: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct ShlinkPagination {
    #[serde(rename = "pagesCount")]
    pages_count: u32,
}

/// The links of a Shlink server, read page by page from its REST API (`GET
/// /rest/v3/short-urls`, `X-Api-Key`) through the guarded client: the address must be public
/// unless the operator admits its range (`QRSAAS_WEBHOOKS__ALLOWED_CIDRS`). The key is used
/// for this request only and never stored.
pub async fn shlink_links(state: &AppState, base_url: &str, api_key: &str) -> ApiResult<Vec<Link>> {
    let field = |why: String| ApiError::field("api.base_url", why);
    let base = url::Url::parse(base_url.trim_end_matches('/'))
        .map_err(|e| field(format!("not a URL: {e}")))?;
    let client =
        crate::outbound::Outbound::configured(&state.settings, std::time::Duration::from_secs(10))
            .map_err(ApiError::internal)?;
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let mut url = base.clone();
        url.set_path(&format!(
            "{}/rest/v3/short-urls",
            base.path().trim_end_matches('/')
        ));
        url.query_pairs_mut()
            .append_pair("page", &page.to_string())
            .append_pair("itemsPerPage", "100");
        let res = client
            .get(&url)
            .map_err(field)?
            .header("X-Api-Key", api_key)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| field(format!("the Shlink server did not answer: {e}")))?;
        match res.status().as_u16() {
            200 => {}
            401 | 403 => {
                return Err(ApiError::field(
                    "api.api_key",
                    "the Shlink server refused the key",
                ));
            }
            s => return Err(field(format!("the Shlink server answered {s}"))),
        }
        let body: ShlinkPage = res
            .json()
            .await
            .map_err(|e| field(format!("not a Shlink answer: {e}")))?;
        out.extend(body.short_urls.data.into_iter().map(|u| Link {
            short_code: u.short_code,
            long_url: u.long_url,
            title: u.title.filter(|t| !t.is_empty()),
            tags: u.tags,
        }));
        if out.len() > super::bulk::MAX_ROWS {
            return Err(field(format!(
                "at most {} links per import",
                super::bulk::MAX_ROWS
            )));
        }
        if page >= body.short_urls.pagination.pages_count.min(SHLINK_PAGES) {
            break;
        }
        page += 1;
    }
    if out.is_empty() {
        return Err(field("the Shlink server has no links".into()));
    }
    Ok(out)
}

/// The id of the code a link becomes in this account: the same on every import of it.
pub fn code_id(owner: Uuid, source: Source, short_code: &str) -> Uuid {
    Uuid::new_v5(
        &owner,
        format!("import:{}:{short_code}", source.as_str()).as_bytes(),
    )
}

/// Starts an import of `links` (from [`links`] or [`shlink_links`]); answers the job.
pub async fn create(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    source: Source,
    links: Vec<Link>,
) -> ApiResult<JobRow> {
    // Tags → projects: the first tag of each link, matched by name, made when missing.
    let mut projects: BTreeMap<String, String> = db::projects::names(&state.db, p.user.id)
        .await?
        .into_iter()
        .map(|(_, name)| (name.to_lowercase(), name))
        .collect();
    let wanted: BTreeSet<&str> = links
        .iter()
        .filter_map(|l| l.tags.first().map(String::as_str))
        .collect();
    for tag in wanted {
        if projects.contains_key(&tag.to_lowercase()) {
            continue;
        }
        let Ok(name) = ProjectName::parse(tag) else {
            continue; // reported per row below as an unknown project
        };
        // Over the plan's project limit: the links keep no project (the row says why).
        if let Ok(made) = projects::create(state, origin, p, NewProject { name, color: None }).await
        {
            projects.insert(made.name.to_lowercase(), made.name);
        }
    }
    let rows: Vec<Value> = links
        .iter()
        .map(|l| {
            let mut row = json!({
                "name": l.title.clone().unwrap_or_else(|| l.short_code.clone()),
                "qr_type": "url",
                "dynamic": true,
                "target_url": l.long_url,
                "alias": l.short_code,
                "_import": {"id": code_id(p.user.id, source, &l.short_code)},
            });
            if let Some(tag) = l.tags.first() {
                row["project"] = json!(tag);
            }
            row
        })
        .collect();
    let id = Uuid::now_v7();
    let mut tx = state.db.begin().await?;
    let job = db::jobs::insert(
        &mut *tx,
        id,
        p.user.id,
        KIND,
        &json!({"source": source.as_str(), "rows": rows}),
        rows.len() as i32,
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created(
            "import.create",
            "job",
            id,
            &json!({"source": source.as_str(), "links": rows.len()}),
        ),
    )
    .await?;
    tx.commit().await?;
    super::tasks::enqueue(state, &job).await?;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tools_export_reads_as_links() {
        let shlink = "createdAt,shortCode,shortUrl,longUrl,title,tags,visits\n\
            2026-01-02T10:00:00+00:00,menu,https://s.example/menu,https://cafe.example/menu,Menu,food|print,12\n";
        assert_eq!(
            links(Source::Shlink, shlink).unwrap(),
            [Link {
                short_code: "menu".into(),
                long_url: "https://cafe.example/menu".into(),
                title: Some("Menu".into()),
                tags: vec!["food".into(), "print".into()],
            }]
        );
        let yourls = "keyword,url,title,timestamp,ip,clicks\nspring,https://shop.example/s,Spring sale,2026-01-01 00:00:00,127.0.0.1,3\n";
        assert_eq!(
            links(Source::Yourls, yourls).unwrap()[0].short_code,
            "spring"
        );
        let bitly = "\u{feff}Created,Title,Long URL,Bitlink,Custom Bitlink,Tags,Total engagements\n\
            2026-01-01,Docs,https://docs.example/,bit.ly/3xYz,,docs,5\n";
        let l = &links(Source::Bitly, bitly).unwrap()[0];
        assert_eq!((l.short_code.as_str(), l.tags.len()), ("3xYz", 1));
        assert!(links(Source::Bitly, "a,b\n1,2\n").is_err());
        assert!(links(Source::Shlink, "shortCode,longUrl\nx,\n").is_err());
    }
}
