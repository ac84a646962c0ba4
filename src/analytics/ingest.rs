//! The ingestion actor: enriches scan batches (device/OS/browser, bot flag, anonymised IP,
//! daily visitor hash), writes them to ClickHouse, then counts them in Postgres usage.
//!
//! Delivery is at-least-once, so a batch is idempotent twice over: a batch already recorded in
//! `ingested_batches` is skipped, and before inserting, events already in ClickHouse (a crash
//! between the insert and the record) are filtered out. Follows the pattern in `crate::actors`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use actix::{
    Actor, ActorFutureExt, Context, Handler, Message, ResponseActFuture, ResponseFuture,
    Supervised, WrapFuture,
};
use chrono::{DateTime, Utc};
use qrsaas_jobs::{IngestScans, ScanEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::geo::{GeoDb, Place};
use crate::actors::{MAILBOX_CAPACITY, stop_on_lost_connection};
use crate::config::Settings;
use crate::db::scans::BatchCounts;
use crate::notify::{self, events::ScanData};
use crate::state::AppState;

/// A row of `scan_events` (the ALIAS columns are computed by ClickHouse).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct ScanRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    pub qr_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    pub user_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    pub project_id: Uuid,
    pub short_code: String,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub scanned_at: DateTime<Utc>,
    pub ip: String,
    pub country: String,
    pub region: String,
    pub city: String,
    pub user_agent: String,
    pub device_type: String,
    pub os: String,
    pub os_version: String,
    pub browser: String,
    pub browser_version: String,
    pub referer: String,
    pub is_bot: u8,
    pub visitor_hash: String,
    /// Which weighted target the scan was sent to (1-based; 0: the code has one target).
    pub variant: u8,
}

/// Link-preview fetchers and crawlers that woothee does not classify as crawlers.
const BOT_TOKENS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "facebookexternalhit",
    "whatsapp",
    "slack",
    "telegram",
    "discord",
    "skypeuripreview",
    "linkedin",
    "embedly",
    "preview",
    "headless",
    "curl/",
    "wget/",
    "python-requests",
    "go-http-client",
    "okhttp",
    "scanner",
    "urlscan",
    "safebrowsing",
    "proofpoint",
    "mimecast",
];

pub fn is_bot(ua: &str, woothee_category: Option<&str>) -> bool {
    let lower = ua.to_ascii_lowercase();
    ua.is_empty()
        || woothee_category == Some("crawler")
        || BOT_TOKENS.iter().any(|t| lower.contains(t))
}

/// IPv4 to its /24, IPv6 to its /48.
pub fn anonymise(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.0", o[0], o[1], o[2])
        }
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::", s[0], s[1], s[2])
        }
        None => String::new(),
    }
}

/// Who scanned, without keeping who: IP + user agent hashed with a salt that changes daily, so
/// "unique scanners" count within a day and cannot be linked across days.
pub fn visitor_hash(secret: &str, at: DateTime<Utc>, ip: &str, ua: &str) -> String {
    let day = at.format("%Y-%m-%d").to_string();
    let h = Sha256::new()
        .chain_update(secret)
        .chain_update(day)
        .chain_update([0])
        .chain_update(ip)
        .chain_update([0])
        .chain_update(ua);
    hex::encode(&h.finalize()[..12])
}

/// Why an event cannot be stored, if it cannot. Such an event is set aside (dead-lettered) so
/// the rest of its batch goes in: a batch that fails whole would be retried, fail again, and
/// take every good scan in it down with it.
pub fn reject_reason(e: &ScanEvent, now: DateTime<Utc>) -> Option<String> {
    // ClickHouse's DateTime ends in 2106, and a scan from the future would corrupt rollups;
    // nothing was scanned before this product existed.
    let earliest = DateTime::from_timestamp(946_684_800, 0).unwrap_or_default(); // 2000-01-01
    if e.at < earliest || e.at > now + chrono::Duration::days(1) {
        return Some(format!("scan time {} is out of range", e.at.to_rfc3339()));
    }
    if e.qr_id.is_nil() || e.owner_id.is_nil() {
        return Some("scan names no code or owner".into());
    }
    None
}

/// What a user agent tells about the scanner. Parsing is most of the enrichment's cost and scans
/// repeat agents heavily, so a batch parses each distinct agent once (`enrich_batch`).
#[derive(Debug, Clone)]
pub struct Agent {
    device: &'static str,
    os: String,
    os_version: String,
    browser: String,
    browser_version: String,
    bot: bool,
}

impl Agent {
    pub fn parse(ua: &str) -> Agent {
        let parsed = woothee::parser::Parser::new().parse(ua);
        let category = parsed.as_ref().map(|p| p.category);
        let bot = is_bot(ua, category);
        let device = match category {
            _ if bot => "bot",
            Some("smartphone") | Some("mobilephone") => "mobile",
            Some("pc") => "desktop",
            Some("appliance") => "other",
            _ => "unknown",
        };
        let known = |s: Option<&str>| match s {
            None | Some("") | Some("UNKNOWN") => "unknown".to_owned(),
            Some(s) => s.to_owned(),
        };
        let version = |s: Option<&str>| match s {
            None | Some("UNKNOWN") => String::new(),
            Some(s) => s.to_owned(),
        };
        let (os, os_version) = os_family(
            parsed.as_ref().map_or("", |p| p.os),
            parsed.as_ref().map_or("", |p| p.os_version.as_ref()),
        );
        Agent {
            device,
            os: known(Some(os)),
            os_version,
            browser: known(parsed.as_ref().map(|p| p.name)),
            browser_version: version(parsed.as_ref().map(|p| p.version)),
            bot,
        }
    }
}

/// woothee names an OS by device or release ("iPhone", "Windows 10", "Mac OSX"); people and
/// dashboards think in families with a version beside them ("iOS" 17.0, "Windows" 10,
/// "macOS" 14.1). The version is woothee's when it has one, else the release in the name.
pub fn os_family<'a>(os: &'a str, version: &str) -> (&'a str, String) {
    let version = match version {
        "UNKNOWN" => "",
        v => v,
    };
    let with = |family: &'a str, v: &str| (family, v.to_owned());
    match os {
        "iPhone" | "iPad" | "iPod" | "iOS" => with("iOS", version),
        "Mac OSX" | "Mac OS X" | "macOS" => with("macOS", version),
        "Mac OS Classic" => with("Mac OS", version),
        // woothee keeps the platform in front: "x86_64 14541.0.0".
        "ChromeOS" => with("ChromeOS", version.rsplit(' ').next().unwrap_or("")),
        "Android" => with("Android", version),
        "Linux" => with("Linux", version),
        w if w.starts_with("Windows Phone") => with("Windows Phone", version),
        w if w.starts_with("Windows") => {
            // "Windows 10", "Windows 8.1", "Windows XP"; woothee's own version is the NT one.
            let release = w.trim_start_matches("Windows").trim();
            match release {
                "" | "UNKNOWN Ver" => with("Windows", ""),
                r => with("Windows", r),
            }
        }
        other => with(other, version),
    }
}

pub fn enrich(e: &ScanEvent, secret: &str, geo: Option<&GeoDb>) -> ScanRow {
    enrich_with(e, secret, geo, &Agent::parse(&e.user_agent))
}

fn enrich_with(e: &ScanEvent, secret: &str, geo: Option<&GeoDb>, agent: &Agent) -> ScanRow {
    // A trusted proxy's headers win (the CDN saw the client); else the .mmdb, if configured.
    let place = match (&e.country, geo) {
        (None, Some(db)) => e.ip.and_then(|ip| db.lookup(ip)).unwrap_or_default(),
        _ => Place {
            country: e.country.clone().unwrap_or_default().to_uppercase(),
            region: String::new(),
            city: e.city.clone().unwrap_or_default(),
        },
    };
    // As text (none: ""), the form stored and hashed since the first version.
    let ip = e.ip.map(|ip| ip.to_string()).unwrap_or_default();
    let visitor_hash = visitor_hash(secret, e.at, &ip, &e.user_agent);
    ScanRow {
        event_id: e.event_id,
        qr_id: e.qr_id,
        user_id: e.owner_id,
        project_id: e.project_id.unwrap_or(Uuid::nil()),
        short_code: e.short_code.clone(),
        scanned_at: e.at,
        ip: if e.keep_ip { ip } else { anonymise(e.ip) },
        country: place.country,
        region: place.region,
        city: place.city,
        user_agent: e.user_agent.clone(),
        device_type: agent.device.to_owned(),
        os: agent.os.clone(),
        os_version: agent.os_version.clone(),
        browser: agent.browser.clone(),
        browser_version: agent.browser_version.clone(),
        referer: e.referer.clone(),
        is_bot: agent.bot as u8,
        visitor_hash,
        variant: e.variant,
    }
}

/// A scan set aside: its id, why, and the event as it came.
type Rejected = (Uuid, String, serde_json::Value);

/// Enriches a batch, each distinct user agent parsed once; events that cannot be stored are
/// set aside with their reason.
pub fn enrich_batch(
    events: &[ScanEvent],
    secret: &str,
    geo: Option<&GeoDb>,
    now: DateTime<Utc>,
) -> serde_json::Result<(Vec<ScanRow>, Vec<Rejected>)> {
    let mut agents: HashMap<&str, Agent> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    let mut rejected = Vec::new();
    for e in events {
        match reject_reason(e, now) {
            None => {
                let agent = agents
                    .entry(e.user_agent.as_str())
                    .or_insert_with(|| Agent::parse(&e.user_agent));
                rows.push(enrich_with(e, secret, geo, agent));
            }
            Some(why) => {
                tracing::warn!(event_id = %e.event_id, reason = %why, "scan event set aside");
                rejected.push((e.event_id, why, serde_json::to_value(e)?));
            }
        }
    }
    Ok((rows, rejected))
}

pub struct Ingestor {
    app: AppState,
    settings: Settings,
    ch: clickhouse::Client,
    db: PgPool,
    geo: Option<Arc<GeoDb>>,
}

impl Ingestor {
    /// Fails when a configured GeoIP database cannot be opened: silently ingesting scans
    /// without geography would be worse than refusing to start.
    pub fn new(app: AppState) -> anyhow::Result<Ingestor> {
        let settings = (*app.settings).clone();
        let geo = match &settings.geoip_db {
            Some(path) => Some(Arc::new(GeoDb::open(path)?)),
            None => None,
        };
        Ok(Ingestor {
            ch: super::client(&settings),
            db: app.db.clone(),
            app,
            settings,
            geo,
        })
    }
}

/// A stored scan as notifications show it.
fn scan_data(r: &ScanRow) -> ScanData {
    ScanData {
        id: r.event_id,
        qr_id: r.qr_id,
        project_id: (!r.project_id.is_nil()).then_some(r.project_id),
        short_code: r.short_code.clone(),
        at: r.scanned_at,
        country: r.country.clone(),
        city: r.city.clone(),
        device: r.device_type.clone(),
        os: r.os.clone(),
        browser: r.browser.clone(),
        referer: r.referer.clone(),
        bot: r.is_bot == 1,
    }
}

impl Actor for Ingestor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Supervised for Ingestor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        metrics::counter!("actor_restarts_total", "actor" => "ingestor").increment(1);
        tracing::warn!(
            actor = "ingestor",
            "restarting with a new ClickHouse client"
        );
        self.ch = super::client(&self.settings);
    }
}

/// Ingest one batch; answers how many new events were written.
#[derive(Message)]
#[rtype(result = "Result<usize, anyhow::Error>")]
pub struct Ingest(pub IngestScans);

#[derive(clickhouse::Row, Deserialize)]
struct Id {
    id: String,
}

/// Event ids of `rows` that ClickHouse already holds (a crash between insert and record).
async fn already_stored(
    ch: &clickhouse::Client,
    rows: &[ScanRow],
) -> clickhouse::error::Result<HashSet<String>> {
    let (Some(lo), Some(hi)) = (
        rows.iter().map(|r| r.scanned_at.timestamp()).min(),
        rows.iter().map(|r| r.scanned_at.timestamp()).max(),
    ) else {
        return Ok(HashSet::new());
    };
    let mut present = HashSet::new();
    // In chunks: the ids are bound into the query text, which ClickHouse caps (256 KiB).
    for chunk in rows.chunks(2000) {
        let ids: Vec<String> = chunk.iter().map(|r| r.event_id.to_string()).collect();
        present.extend(
            ch.query("SELECT toString(event_id) AS id FROM scan_events WHERE scanned_at >= toDateTime(?) AND scanned_at <= toDateTime(?) AND has(?, toString(event_id))")
                .bind(lo)
                .bind(hi)
                .bind(&ids)
                .fetch_all::<Id>()
                .await?
                .into_iter()
                .map(|i| i.id),
        );
    }
    Ok(present)
}

impl Handler<Ingest> for Ingestor {
    type Result = ResponseActFuture<Self, Result<usize, anyhow::Error>>;

    fn handle(&mut self, Ingest(batch): Ingest, _: &mut Context<Self>) -> Self::Result {
        let (ch, db, geo) = (self.ch.clone(), self.db.clone(), self.geo.clone());
        let app = self.app.clone();
        let secret = secrecy::ExposeSecret::expose_secret(&self.settings.secret_key).to_owned();
        let work = async move {
            if batch.events.is_empty() {
                return Ok(0);
            }
            let state = crate::db::scans::batch_state(&db, batch.batch_id).await?;
            match state {
                Some(true) => return Ok(0),
                Some(false) => {} // an earlier attempt may have inserted some: checked below
                None => {
                    crate::db::scans::begin_batch(&db, batch.batch_id, batch.events.len() as i32)
                        .await?
                }
            }
            // CPU work: off the actor's thread, and batches enrich in parallel on both cores.
            let events = batch.events;
            let (rows, rejected) = tokio::task::spawn_blocking(move || {
                enrich_batch(&events, &secret, geo.as_deref(), Utc::now())
            })
            .await??;
            let n_rejected = rejected.len();
            let present = if state == Some(false) {
                already_stored(&ch, &rows).await?
            } else {
                HashSet::new()
            };
            let fresh: Vec<&ScanRow> = rows
                .iter()
                .filter(|r| !present.contains(&r.event_id.to_string()))
                .collect();
            if !fresh.is_empty() {
                let mut insert = ch.insert::<ScanRow>("scan_events").await?;
                for r in &fresh {
                    insert.write(r).await?;
                }
                insert.end().await?;
            }
            let mut per_owner_day: BTreeMap<(Uuid, chrono::NaiveDate), i64> = BTreeMap::new();
            let mut per_code: BTreeMap<Uuid, i64> = BTreeMap::new();
            for r in &rows {
                *per_owner_day
                    .entry((r.user_id, r.scanned_at.date_naive()))
                    .or_default() += 1;
                *per_code.entry(r.qr_id).or_default() += 1;
            }
            // The batch's counts, usage and notifications commit together, once.
            let mut tx = db.begin().await?;
            let counts = BatchCounts {
                batch_id: batch.batch_id,
                events: rows.len() as i32,
                per_owner_day: per_owner_day
                    .into_iter()
                    .map(|((o, d), n)| (o, d, n))
                    .collect(),
                per_code: per_code.into_iter().collect(),
                rejected,
            };
            if let Some(totals) = crate::db::scans::record_batch(&mut tx, &counts).await? {
                // Scans as notifications only for owners who want them (most owners: no cost).
                let owners: Vec<Uuid> = counts.per_owner_day.iter().map(|(o, _, _)| *o).collect();
                let ns = &app.settings.redis_namespace;
                let wanted = notify::scans::wanted(&mut tx, &app.redis, ns, &owners).await?;
                let scans: Vec<(Uuid, ScanData)> = rows
                    .iter()
                    .filter(|r| wanted.any(r.user_id))
                    .map(|r| (r.user_id, scan_data(r)))
                    .collect();
                notify::scans::buffer(&mut tx, &wanted, &scans).await?;
                let pending = notify::alerts::milestones(&mut tx, &app, &totals).await?;
                tx.commit().await?;
                pending.dispatch(&app).await;
                // The live view is best effort: a Redis outage loses it, never a scan.
                if let Err(e) = notify::scans::publish(&app.redis, ns, &wanted, &scans).await {
                    tracing::warn!(error = %e, "live scans not published");
                }
            }
            metrics::counter!("scans_ingested_total").increment(fresh.len() as u64);
            metrics::counter!("scans_rejected_total").increment(n_rejected as u64);
            Ok(fresh.len())
        };
        Box::pin(work.into_actor(self).map(|result, _, ctx| {
            stop_on_lost_connection(ctx, &result);
            result
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_named_by_family_with_versions_apart() {
        let cases = [
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                ("mobile", "iOS", "17.0", "Safari", "17.0"),
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
                ("mobile", "iOS", "16.6", "Safari", "16.6"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
                ("mobile", "Android", "14", "Chrome", "120.0.0.0"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                ("desktop", "Windows", "10", "Chrome", "120.0.0.0"),
            ),
            (
                "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0",
                ("desktop", "Windows", "7", "Firefox", "115.0"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                ("desktop", "macOS", "10.15.7", "Safari", "17.1"),
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                ("desktop", "ChromeOS", "14541.0.0", "Chrome", "120.0.0.0"),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
                ("desktop", "Linux", "", "Firefox", "120.0"),
            ),
        ];
        for (ua, want) in cases {
            let a = Agent::parse(ua);
            let got = (
                a.device,
                a.os.as_str(),
                a.os_version.as_str(),
                a.browser.as_str(),
                a.browser_version.as_str(),
            );
            assert_eq!(got, want, "{ua}");
        }
    }

    #[test]
    fn anonymise_and_bots() {
        assert_eq!(anonymise("203.0.113.77".parse().ok()), "203.0.113.0");
        assert_eq!(
            anonymise("2001:db8:abcd:12::1".parse().ok()),
            "2001:db8:abcd::"
        );
        assert_eq!(anonymise(None), "");
        assert!(is_bot("WhatsApp/2.23.20.0", None));
        assert!(is_bot("facebookexternalhit/1.1", None));
        assert!(is_bot("", None));
        assert!(!is_bot(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1",
            Some("smartphone")
        ));
        let t = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = t + chrono::Duration::days(1);
        assert_eq!(
            visitor_hash("s", t, "1.2.3.4", "ua"),
            visitor_hash("s", t, "1.2.3.4", "ua")
        );
        assert_ne!(
            visitor_hash("s", t, "1.2.3.4", "ua"),
            visitor_hash("s", next, "1.2.3.4", "ua"),
            "salt rotates daily"
        );
    }
}

/// A row of ClickHouse's `qr_codes` (ReplacingMergeTree by `updated_at`).
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
pub struct QrMetaRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    pub user_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    pub project_id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    pub qr_type: String,
    pub is_dynamic: u8,
    pub short_code: String,
    pub status: String,
    pub static_data: String,
    pub dynamic_data: String,
    pub design: String,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// Copy one code's current metadata to ClickHouse. Idempotent: writing the same version twice
/// leaves one row after merges, and readers take `argMax(…, version)`.
#[derive(Message)]
#[rtype(result = "Result<(), anyhow::Error>")]
pub struct SyncCode(pub Uuid);

impl Handler<SyncCode> for Ingestor {
    type Result = ResponseFuture<Result<(), anyhow::Error>>;

    fn handle(&mut self, SyncCode(id): SyncCode, _: &mut Context<Self>) -> Self::Result {
        let (ch, db) = (self.ch.clone(), self.db.clone());
        Box::pin(async move {
            let Some(r) = crate::db::qr_codes::any(&db, id).await? else {
                return Ok(());
            };
            let data = r
                .type_data
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_default();
            let row = QrMetaRow {
                id: r.id,
                user_id: r.user_id.unwrap_or(Uuid::nil()),
                project_id: r.project_id.unwrap_or(Uuid::nil()),
                name: r.name.clone().unwrap_or_default(),
                qr_type: r.qr_type.clone(),
                is_dynamic: r.dynamic as u8,
                short_code: r.short_code.clone(),
                status: r.status.clone(),
                static_data: if r.dynamic {
                    String::new()
                } else {
                    data.clone()
                },
                dynamic_data: if r.dynamic {
                    serde_json::json!({"target_url": r.target_url, "data": r.type_data.as_ref()})
                        .to_string()
                } else {
                    String::new()
                },
                design: r
                    .design_json
                    .as_ref()
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                created_at: r.created_at,
                updated_at: r.updated_at,
                version: r.updated_at.timestamp_micros().max(0) as u64,
            };
            let mut insert = ch.insert::<QrMetaRow>("qr_codes").await?;
            insert.write(&row).await?;
            insert.end().await?;
            Ok(())
        })
    }
}
