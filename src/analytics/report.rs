//! Scan reports from ClickHouse: totals, unique scanners, a time series in the viewer's time
//! zone with empty buckets filled, and top values per dimension. Bots are excluded unless asked.
//!
//! Short ranges read raw `scan_events`. Long ranges read the whole UTC days that the daily rollup
//! has aggregated (`daily_aggregates` per code, `owner_daily_aggregates` per owner and project;
//! see `crate::rollups`) and only the partial days at either
//! end, and days not yet rolled up, from raw events. Whole months inside the rolled-up days that
//! the monthly rollup has summed are read from `monthly_aggregates` / `owner_monthly_aggregates`
//! instead of their days. All give the same numbers (tests hold them to it): visitor hashes are
//! salted per day, so unique counts add up across days. The series reads the aggregates only
//! when its buckets are whole UTC days or months (days from the daily tables, months from
//! either); in other zones it reads raw events, which keeps it exact in every zone.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use futures::TryFutureExt;

use super::dimensions::{day_start, fan_out};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, FieldErrors};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Hour,
    Day,
    Month,
}

/// What to report on.
pub enum Scope {
    Code {
        owner: Uuid,
        qr_id: Uuid,
    },
    Account {
        owner: Uuid,
        project_id: Option<Uuid>,
    },
}

pub struct Query {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub interval: Interval,
    pub tz: Tz,
    pub include_bots: bool,
}

/// Hour buckets beyond this many would make an unreadable (and slow) chart.
const MAX_BUCKETS: i64 = 2000;

impl Query {
    /// Validates a request; defaults: the last 30 days, daily, in `default_tz`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        interval: Option<Interval>,
        tz: Option<&str>,
        include_bots: Option<bool>,
        default_tz: &str,
    ) -> ApiResult<Query> {
        let mut e = FieldErrors::new();
        let parse = |v: Option<&str>, field: &str, e: &mut FieldErrors| {
            v.map(|s| {
                DateTime::parse_from_rfc3339(s)
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|_| e.insert(field.into(), "must be an RFC 3339 time".into()))
                    .ok()
            })
            .unwrap_or(None)
        };
        let to_t = parse(to, "to", &mut e).unwrap_or_else(Utc::now);
        let from_t = parse(from, "from", &mut e).unwrap_or(to_t - Duration::days(30));
        let tz = match tz.unwrap_or(default_tz).parse::<Tz>() {
            Ok(t) => t,
            Err(_) => {
                e.insert(
                    "tz".into(),
                    "must be an IANA time zone like Asia/Kolkata".into(),
                );
                Tz::UTC
            }
        };
        let interval = interval.unwrap_or(Interval::Day);
        if from_t >= to_t {
            e.insert("from".into(), "must be before to".into());
        } else {
            let buckets = match interval {
                Interval::Hour => (to_t - from_t).num_hours(),
                Interval::Day => (to_t - from_t).num_days(),
                Interval::Month => (to_t - from_t).num_days() / 28,
            };
            if buckets > MAX_BUCKETS {
                e.insert(
                    "interval".into(),
                    format!(
                        "gives more than {MAX_BUCKETS} buckets for this range; use a coarser one"
                    ),
                );
            }
        }
        if !e.is_empty() {
            return Err(ApiError::Validation(e));
        }
        Ok(Query {
            from: from_t,
            to: to_t,
            interval,
            tz,
            include_bots: include_bots.unwrap_or(false),
        })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Point {
    /// Bucket start, RFC 3339 in UTC.
    pub t: String,
    pub scans: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Count {
    pub key: String,
    pub scans: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// `raw` or `rollups` (whole days from the daily aggregates, the rest raw).
    pub source: &'static str,
    pub total: u64,
    pub unique: u64,
    pub series: Vec<Point>,
    pub countries: Vec<Count>,
    pub cities: Vec<Count>,
    pub devices: Vec<Count>,
    pub os: Vec<Count>,
    pub browsers: Vec<Count>,
    pub referrers: Vec<Count>,
    /// A code's report only: when its versions in the range were made (a change of target,
    /// rules, UTM, data or status), so a change in scans can be tied to a change of the code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<Marker>,
    /// An A/B code's report only: scans per variant (`key` is the 1-based position in its
    /// `targets`), counted from raw events over the whole range.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Count>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Marker {
    /// When the version was made, RFC 3339 in UTC.
    pub t: String,
    /// The version (see `GET /api/v1/qr-codes/{id}/versions`).
    pub version: i32,
}

/// The markers of `scope`'s versions made in the query's range (none for account reports).
/// Without Postgres the report goes out without them.
pub async fn markers(db: &sqlx::PgPool, scope: &Scope, q: &Query) -> Vec<Marker> {
    let Scope::Code { qr_id, .. } = scope else {
        return Vec::new();
    };
    crate::db::versions::made_between(db, *qr_id, q.from, q.to)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(version, at)| Marker {
            t: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            version,
        })
        .collect()
}

/// Ranges of at least this many days read the daily aggregates.
pub const LONG_RANGE_DAYS: i64 = 3;

/// Rolled-up days [first, end) a report may read from the aggregates: the longest run of
/// consecutive rolled-up days among the whole UTC days of the range (`rolled` sorted).
pub fn plan(q: &Query, rolled: &[NaiveDate]) -> Option<(NaiveDate, NaiveDate)> {
    if (q.to - q.from).num_days() < LONG_RANGE_DAYS {
        return None;
    }
    let first = if q.from == day_start(q.from.date_naive()) {
        q.from.date_naive()
    } else {
        q.from.date_naive().succ_opt()?
    };
    let end = q.to.date_naive(); // days before this one end before `to`
    let mut best: Option<(NaiveDate, NaiveDate)> = None;
    let mut run: Option<(NaiveDate, NaiveDate)> = None;
    for d in rolled.iter().copied().filter(|d| *d >= first && *d < end) {
        let next = d.succ_opt()?;
        run = match run {
            Some((a, b)) if b == d => Some((a, next)),
            _ => Some((d, next)),
        };
        if let (Some((a, b)), longest) = (run, best)
            && longest.is_none_or(|(x, y)| (b - a) > (y - x))
        {
            best = Some((a, b));
        }
    }
    best
}

/// What a report reads from the aggregates: the run of rolled-up days [start, end) and the
/// whole months inside it that the monthly rollup has summed (first days, ascending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rolled {
    pub days: (NaiveDate, NaiveDate),
    pub months: Vec<NaiveDate>,
}

/// Plans the report's sources from Postgres' record of rolled-up days and months. Without
/// Postgres it falls back to raw events: slower, never wrong.
pub async fn plan_sources(db: &sqlx::PgPool, q: &Query) -> Option<Rolled> {
    let (from, to) = (q.from.date_naive(), q.to.date_naive());
    let days = crate::db::rollups::days_between(db, from, to)
        .await
        .unwrap_or_default();
    let (a, b) = plan(q, &days)?;
    let months = crate::db::rollups::months_within(db, a, b)
        .await
        .unwrap_or_default();
    Some(Rolled {
        days: (a, b),
        months,
    })
}

/// `FROM` over the aggregates for `rolled`: the code's own rows or the owner's summed ones,
/// the months read whole where summed (unless `days_only`), the other days from the daily
/// table; `extra` is added to every part's `WHERE`. Appends its bound values to `args`.
fn aggregates(
    scope: &Scope,
    rolled: &Rolled,
    days_only: bool,
    extra: &str,
    args: &mut Vec<String>,
) -> String {
    let (daily, monthly) = match scope {
        Scope::Code { .. } => ("daily_aggregates", "monthly_aggregates"),
        Scope::Account { .. } => ("owner_daily_aggregates", "owner_monthly_aggregates"),
    };
    let (a, b) = rolled.days;
    args.extend([a.to_string(), b.to_string()]);
    let mut days = format!(
        "SELECT date, dimension, value, scans, bot_scans, visitors, bot_visitors FROM {daily} \
         WHERE date >= toDate(?) AND date < toDate(?){}{extra}",
        scope_sql(scope, args)
    );
    if days_only || rolled.months.is_empty() {
        return format!("({days})");
    }
    // Dates formatted here, not user input.
    let months = rolled
        .months
        .iter()
        .map(|m| format!("toDate('{m}')"))
        .collect::<Vec<_>>()
        .join(", ");
    days.push_str(&format!(" AND toStartOfMonth(date) NOT IN ({months})"));
    format!(
        "({days} UNION ALL \
         SELECT month AS date, dimension, value, scans, bot_scans, visitors, bot_visitors \
         FROM {monthly} WHERE month IN ({months}){}{extra})",
        scope_sql(scope, args)
    )
}

/// The time windows to read from raw events: the whole range, or what the aggregated days
/// leave at either end.
fn raw_windows(q: &Query, rolled: Option<&Rolled>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    match rolled.map(|r| r.days) {
        None => vec![(q.from, q.to)],
        Some((a, b)) => [(q.from, day_start(a)), (day_start(b), q.to)]
            .into_iter()
            .filter(|(x, y)| x < y)
            .collect(),
    }
}

#[derive(clickhouse::Row, Deserialize)]
struct DimCount {
    dimension: String,
    key: String,
    scans: u64,
    /// Unique scanners, on the `total` row only.
    unique: u64,
}

#[derive(clickhouse::Row, Deserialize)]
struct KeyCount {
    key: String,
    scans: u64,
}

/// The WHERE clause over raw events in the time windows, and its bound values (ClickHouse
/// client-side `?` binding).
fn filter(
    scope: &Scope,
    q: &Query,
    windows: &[(DateTime<Utc>, DateTime<Utc>)],
) -> (String, Vec<String>) {
    let mut args = Vec::new();
    let times: Vec<String> = windows
        .iter()
        .map(|(a, b)| {
            args.extend([a.timestamp().to_string(), b.timestamp().to_string()]);
            "(scanned_at >= toDateTime(?) AND scanned_at < toDateTime(?))".to_owned()
        })
        .collect();
    let mut sql = if times.is_empty() {
        "0".to_owned()
    } else {
        format!("({})", times.join(" OR "))
    };
    sql.push_str(&scope_sql(scope, &mut args));
    if !q.include_bots {
        sql.push_str(" AND is_bot = 0");
    }
    (sql, args)
}

/// The scope's conditions (shared by raw events and aggregates: both carry these columns).
fn scope_sql(scope: &Scope, args: &mut Vec<String>) -> String {
    let mut sql = String::new();
    match scope {
        Scope::Code { owner, qr_id } => {
            sql.push_str(" AND qr_id = toUUID(?) AND user_id = toUUID(?)");
            args.extend([qr_id.to_string(), owner.to_string()]);
        }
        Scope::Account { owner, project_id } => {
            sql.push_str(" AND user_id = toUUID(?)");
            args.push(owner.to_string());
            if let Some(p) = project_id {
                sql.push_str(" AND project_id = toUUID(?)");
                args.push(p.to_string());
            }
        }
    }
    sql
}

fn bind(mut query: clickhouse::query::Query, args: &[String]) -> clickhouse::query::Query {
    for a in args {
        query = query.bind(a.as_str());
    }
    query
}

/// Bucket starts from `from` to `to` in the viewer's zone, as UTC instants.
fn buckets(q: &Query) -> Vec<DateTime<Utc>> {
    let local = |t: NaiveDateTime| {
        q.tz.from_local_datetime(&t)
            .earliest()
            .map(|d| d.with_timezone(&Utc))
    };
    let start = q.from.with_timezone(&q.tz).naive_local();
    let mut cur = match q.interval {
        Interval::Hour => start.date().and_hms_opt(start.hour(), 0, 0),
        Interval::Day => start.date().and_hms_opt(0, 0, 0),
        Interval::Month => NaiveDate::from_ymd_opt(start.year(), start.month(), 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0)),
    };
    let mut out = Vec::new();
    while let Some(c) = cur {
        match local(c) {
            Some(u) if u >= q.to => break,
            Some(u) => out.push(u),
            None => {} // a DST gap swallowed this local hour
        }
        cur = match q.interval {
            Interval::Hour => Some(c + Duration::hours(1)),
            Interval::Day => Some(c + Duration::days(1)),
            Interval::Month => {
                let (y, m) = if c.month() == 12 {
                    (c.year() + 1, 1)
                } else {
                    (c.year(), c.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1).and_then(|d| d.and_hms_opt(0, 0, 0))
            }
        };
        if out.len() as i64 > MAX_BUCKETS {
            break;
        }
    }
    out
}

/// Top values shown per dimension.
const TOP: usize = 10;
/// Values fetched per source before merging raw and aggregated counts.
const MERGE_LIMIT: usize = 1000;

fn unavailable(e: clickhouse::error::Error) -> ApiError {
    tracing::warn!(error = %e, "analytics query failed");
    ApiError::Unavailable("analytics")
}

/// The report for `scope`; `rolled` are the days [first, end) to read from the aggregates
/// (see [`plan`]), `None` for raw events only.
pub async fn report(
    ch: &clickhouse::Client,
    scope: &Scope,
    q: &Query,
    rolled: Option<&Rolled>,
) -> ApiResult<Report> {
    let (cond, args) = filter(scope, q, &raw_windows(q, rolled));
    let (scans, visitors) = if q.include_bots {
        (
            "sum(scans + bot_scans)",
            "uniqMerge(visitors) + uniqMerge(bot_visitors)",
        )
    } else {
        ("sum(scans)", "uniqMerge(visitors)")
    };

    // Totals and every dimension's top values in one pass over the raw events (each event fans
    // out to one row per dimension, as in the rollup) and one over the aggregates (plus their
    // unique count): a dashboard scans its data a few times, not fourteen. All go out at once,
    // with the series.
    let fan_out = fan_out();
    let limit = if rolled.is_some() { MERGE_LIMIT } else { TOP };
    let raw = bind(
        ch.query(&format!(
            "SELECT dim.1 AS dimension, dim.2 AS key, count() AS scans, \
                uniqExactIf(visitor_hash, dim.1 = 'total') AS unique \
         FROM (SELECT country, city, device_type, os, browser, referer, visitor_hash \
               FROM scan_events WHERE {cond}) \
         ARRAY JOIN {fan_out} AS dim \
         GROUP BY dimension, key ORDER BY dimension, scans DESC, key LIMIT {limit} BY dimension"
        )),
        &args,
    );
    // The aggregates' visitor states are read for the totals only: they are the heavy column
    // (an owner's day merges every code's), and no report shows uniques per dimension value.
    let agg = rolled.map(|r| {
        let mut args = Vec::new();
        let from = aggregates(scope, r, false, "", &mut args);
        bind(ch.query(&format!(
            "SELECT toString(dimension) AS dimension, value AS key, toUInt64({scans}) AS scans, \
                    toUInt64(0) AS unique \
             FROM {from} GROUP BY dimension, key HAVING scans > 0 \
             ORDER BY dimension, scans DESC, key LIMIT {MERGE_LIMIT} BY dimension"
        )), &args)
    });
    let agg_unique = rolled.map(|r| {
        let mut args = Vec::new();
        let from = aggregates(scope, r, false, " AND dimension = 'total'", &mut args);
        bind(ch.query(&format!(
            "SELECT 'total' AS dimension, '' AS key, toUInt64(0) AS scans, toUInt64({visitors}) AS unique \
             FROM {from}"
        )), &args)
    });
    let dimensions = async move {
        let (mut rows, agg, agg_unique) = tokio::try_join!(
            raw.fetch_all::<DimCount>(),
            rows_of(agg),
            rows_of(agg_unique)
        )?;
        rows.extend(agg);
        rows.extend(agg_unique);
        Ok::<_, clickhouse::error::Error>(rows)
    };
    let (rows, series) = tokio::try_join!(
        dimensions.map_err(unavailable),
        series(ch, q, rolled, scope, scans),
    )?;
    let (mut total, mut unique) = (0, 0);
    let mut by_dimension: HashMap<String, Vec<KeyCount>> = HashMap::new();
    for r in rows {
        if r.dimension == "total" {
            total += r.scans;
            unique += r.unique;
        } else {
            by_dimension.entry(r.dimension).or_default().push(KeyCount {
                key: r.key,
                scans: r.scans,
            });
        }
    }
    let mut top = |dimension: &str| merge_top(by_dimension.remove(dimension).unwrap_or_default());
    let (countries, cities, devices, os, browsers, referrers) = (
        top("country"),
        top("city"),
        top("device"),
        top("os"),
        top("browser"),
        top("referer"),
    );
    Ok(Report {
        source: if rolled.is_some() { "rollups" } else { "raw" },
        total,
        unique,
        series,
        countries,
        cities,
        devices,
        os,
        browsers,
        referrers,
        markers: Vec::new(),
        variants: Vec::new(),
    })
}

/// Scans per variant of an A/B code in the query's range (none for account reports or codes
/// with one target).
pub async fn variants(ch: &clickhouse::Client, scope: &Scope, q: &Query) -> ApiResult<Vec<Count>> {
    if !matches!(scope, Scope::Code { .. }) {
        return Ok(Vec::new());
    }
    let (cond, args) = filter(scope, q, &[(q.from, q.to)]);
    let rows = bind(
        ch.query(&format!(
            "SELECT toString(variant) AS key, count() AS scans FROM scan_events \
             WHERE {cond} AND variant > 0 GROUP BY key ORDER BY key"
        )),
        &args,
    )
    .fetch_all::<KeyCount>()
    .await
    .map_err(unavailable)?;
    Ok(rows
        .into_iter()
        .map(|r| Count {
            key: r.key,
            scans: r.scans,
        })
        .collect())
}

/// The rows of an optional query (the aggregates' half, when the range has rolled-up days).
async fn rows_of<T: clickhouse::RowOwned + clickhouse::RowRead>(
    q: Option<clickhouse::query::Query>,
) -> Result<Vec<T>, clickhouse::error::Error> {
    match q {
        Some(q) => q.fetch_all().await,
        None => Ok(Vec::new()),
    }
}

/// Sums counts per key (raw and aggregated parts) and keeps the top ones, ordered by count,
/// then key — the order the raw-only query gives.
fn merge_top(counts: Vec<KeyCount>) -> Vec<Count> {
    let mut sums: HashMap<String, u64> = HashMap::new();
    for c in counts {
        *sums.entry(c.key).or_default() += c.scans;
    }
    let mut v: Vec<Count> = sums
        .into_iter()
        .map(|(key, scans)| Count { key, scans })
        .collect();
    v.sort_by(|a, b| b.scans.cmp(&a.scans).then_with(|| a.key.cmp(&b.key)));
    v.truncate(TOP);
    v
}

/// The time series, every bucket filled. Buckets that are whole UTC days or months take the
/// aggregated days from the rollups; any other zone or interval counts raw events.
async fn series(
    ch: &clickhouse::Client,
    q: &Query,
    rolled: Option<&Rolled>,
    scope: &Scope,
    scans: &str,
) -> ApiResult<Vec<Point>> {
    let utc_days = q.tz == Tz::UTC && q.interval != Interval::Hour;
    let tz = q.tz.name();
    // Bucket labels as local wall-clock text, converted back to instants below.
    let bucket_sql = match q.interval {
        Interval::Hour => format!("toString(toStartOfHour(scanned_at, '{tz}'))"),
        Interval::Day => format!("toString(toDate(scanned_at, '{tz}'))"),
        Interval::Month => format!("toString(toStartOfMonth(toDate(scanned_at, '{tz}')))"),
    };
    let raw_rolled = if utc_days { rolled } else { None };
    let (cond, args) = filter(scope, q, &raw_windows(q, raw_rolled));
    let raw = bind(ch.query(&format!("SELECT {bucket_sql} AS key, count() AS scans FROM scan_events WHERE {cond} GROUP BY key")), &args);
    let agg = match (utc_days, rolled) {
        (true, Some(r)) => {
            // Day buckets need the days; month buckets may read the months whole.
            let by_day = q.interval != Interval::Month;
            let key = if by_day {
                "toString(date)"
            } else {
                "toString(toStartOfMonth(date))"
            };
            let mut args = Vec::new();
            let from = aggregates(scope, r, by_day, " AND dimension = 'total'", &mut args);
            Some(bind(
                ch.query(&format!(
                    "SELECT {key} AS key, toUInt64({scans}) AS scans FROM {from} GROUP BY key"
                )),
                &args,
            ))
        }
        _ => None,
    };
    let (mut rows, agg) =
        tokio::try_join!(raw.fetch_all::<KeyCount>(), rows_of(agg)).map_err(unavailable)?;
    rows.extend(agg);
    let mut counts = HashMap::new();
    for r in rows {
        let naive = NaiveDateTime::parse_from_str(&r.key, "%Y-%m-%d %H:%M:%S").or_else(|_| {
            NaiveDate::parse_from_str(&r.key, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        });
        if let Some(t) = naive
            .ok()
            .and_then(|n| q.tz.from_local_datetime(&n).earliest())
        {
            *counts.entry(t.with_timezone(&Utc)).or_insert(0) += r.scans;
        }
    }
    Ok(buckets(q)
        .into_iter()
        .map(|t| Point {
            scans: counts.get(&t).copied().unwrap_or(0),
            t: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .collect())
}

/// A cell safe to open in a spreadsheet: values starting with = + - @ (or a tab/CR) are
/// prefixed with ' so they are not run as formulas; quotes are doubled.
pub fn csv_cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The report as CSV rows `section,key,scans`.
pub fn to_csv(r: &Report) -> String {
    let mut out = String::from("section,key,scans\n");
    out.push_str(&format!("total,,{}\nunique,,{}\n", r.total, r.unique));
    for p in &r.series {
        out.push_str(&format!("series,{},{}\n", p.t, p.scans));
    }
    for (section, rows) in [
        ("country", &r.countries),
        ("city", &r.cities),
        ("device", &r.devices),
        ("os", &r.os),
        ("browser", &r.browsers),
        ("referrer", &r.referrers),
    ] {
        for c in rows {
            out.push_str(&format!("{section},{},{}\n", csv_cell(&c.key), c.scans));
        }
    }
    out
}

/// An owner's human scans in `[from, to)`, with the `n` codes scanned most.
pub struct TopCodes {
    pub total: u64,
    pub codes: Vec<(Uuid, u64)>,
}

pub async fn top_codes(
    ch: &clickhouse::Client,
    owner: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    n: usize,
) -> clickhouse::error::Result<TopCodes> {
    let rows = ch
        .query(
            "SELECT toString(qr_id) AS key, count() AS scans FROM scan_events \
             WHERE user_id = toUUID(?) AND scanned_at >= toDateTime(?) AND scanned_at < toDateTime(?) \
               AND is_bot = 0 GROUP BY qr_id ORDER BY scans DESC",
        )
        .bind(owner.to_string())
        .bind(from.timestamp())
        .bind(to.timestamp())
        .fetch_all::<KeyCount>()
        .await?;
    Ok(TopCodes {
        total: rows.iter().map(|r| r.scans).sum(),
        codes: rows
            .iter()
            .take(n)
            .filter_map(|r| r.key.parse().ok().map(|id| (id, r.scans)))
            .collect(),
    })
}

/// An owner's human scans in `[from, to)`.
pub async fn scans_between(
    ch: &clickhouse::Client,
    owner: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> clickhouse::error::Result<u64> {
    ch.query(
        "SELECT count() FROM scan_events WHERE user_id = toUUID(?) \
         AND scanned_at >= toDateTime(?) AND scanned_at < toDateTime(?) AND is_bot = 0",
    )
    .bind(owner.to_string())
    .bind(from.timestamp())
    .bind(to.timestamp())
    .fetch_one::<u64>()
    .await
}

/// Every tenant's scans (bots included) since the start of today (UTC) and in the last 30
/// days, for the operator's console.
pub async fn platform_scans(ch: &clickhouse::Client) -> clickhouse::error::Result<(u64, u64)> {
    #[derive(clickhouse::Row, Deserialize)]
    struct Counts {
        today: u64,
        month: u64,
    }
    let c = ch
        .query(
            "SELECT countIf(scanned_at >= toStartOfDay(now())) AS today, count() AS month \
             FROM scan_events WHERE scanned_at >= now() - INTERVAL 30 DAY",
        )
        .fetch_one::<Counts>()
        .await?;
    Ok((c.today, c.month))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: &str, to: &str, interval: Interval, tz: &str) -> Query {
        Query::parse(Some(from), Some(to), Some(interval), Some(tz), None, "UTC").unwrap()
    }

    #[test]
    fn plan_takes_the_run_of_rolled_whole_days() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let rolled: Vec<NaiveDate> = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05"]
            .map(d)
            .to_vec();
        // From mid-day: the first whole day is the 2nd; the run stops at the missing 4th.
        let r = q(
            "2026-11-01T12:00:00Z",
            "2026-11-20T00:00:00Z",
            Interval::Day,
            "UTC",
        );
        assert_eq!(plan(&r, &rolled), Some((d("2026-11-02"), d("2026-11-04"))));
        let r = q(
            "2026-10-20T00:00:00Z",
            "2026-11-20T00:00:00Z",
            Interval::Day,
            "UTC",
        );
        assert_eq!(
            plan(&r, &rolled),
            Some((d("2026-11-01"), d("2026-11-04"))),
            "longest run"
        );
        // A day that ends after `to` is not whole.
        let r = q(
            "2026-11-01T00:00:00Z",
            "2026-11-03T12:00:00Z",
            Interval::Day,
            "UTC",
        );
        assert_eq!(plan(&r, &rolled), None, "under three days: raw");
        let r = q(
            "2026-10-27T00:00:00Z",
            "2026-10-31T12:00:00Z",
            Interval::Day,
            "UTC",
        );
        assert_eq!(plan(&r, &rolled), None, "nothing rolled up in the range");
        let r = q(
            "2026-11-01T00:00:00Z",
            "2026-11-04T06:00:00Z",
            Interval::Day,
            "UTC",
        );
        assert_eq!(plan(&r, &rolled), Some((d("2026-11-01"), d("2026-11-04"))));
    }

    #[test]
    fn buckets_follow_the_time_zone() {
        let b = buckets(&q(
            "2026-11-01T00:00:00Z",
            "2026-11-03T00:00:00Z",
            Interval::Day,
            "Asia/Kolkata",
        ));
        // Kolkata midnights are 18:30 UTC the day before.
        assert_eq!(b.first().unwrap().to_rfc3339(), "2026-10-31T18:30:00+00:00");
        assert_eq!(b.len(), 3);
        let h = buckets(&q(
            "2026-11-01T00:00:00Z",
            "2026-11-01T05:00:00Z",
            Interval::Hour,
            "UTC",
        ));
        assert_eq!(h.len(), 5);
        let m = buckets(&q(
            "2026-01-15T00:00:00Z",
            "2026-04-01T00:00:00Z",
            Interval::Month,
            "UTC",
        ));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn validation_and_csv() {
        assert!(Query::parse(Some("x"), None, None, None, None, "UTC").is_err());
        assert!(
            Query::parse(
                Some("2026-02-01T00:00:00Z"),
                Some("2026-01-01T00:00:00Z"),
                None,
                None,
                None,
                "UTC"
            )
            .is_err()
        );
        assert!(
            Query::parse(
                Some("2024-01-01T00:00:00Z"),
                Some("2026-01-01T00:00:00Z"),
                Some(Interval::Hour),
                None,
                None,
                "UTC"
            )
            .is_err()
        );
        assert!(Query::parse(None, None, None, Some("Mars/Base"), None, "UTC").is_err());
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
