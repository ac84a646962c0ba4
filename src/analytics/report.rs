//! Scan reports from ClickHouse: totals, unique scanners, a time series in the viewer's time
//! zone with empty buckets filled, and top values per dimension. Bots are excluded unless asked.
//!
//! Reads raw `scan_events` (filtered by the primary key for per-code reports). The daily rollups
//! (`daily_aggregates`) are filled by the rollup job of the jobs issue; long ranges should read
//! them once it exists.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
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
    pub total: u64,
    pub unique: u64,
    pub series: Vec<Point>,
    pub countries: Vec<Count>,
    pub cities: Vec<Count>,
    pub devices: Vec<Count>,
    pub os: Vec<Count>,
    pub browsers: Vec<Count>,
    pub referrers: Vec<Count>,
}

#[derive(clickhouse::Row, Deserialize)]
struct Totals {
    total: u64,
    unique: u64,
}

#[derive(clickhouse::Row, Deserialize)]
struct KeyCount {
    key: String,
    scans: u64,
}

/// The WHERE clause and its bound values (ClickHouse client-side `?` binding).
fn filter(scope: &Scope, q: &Query) -> (String, Vec<String>) {
    let mut sql = String::from("scanned_at >= toDateTime(?) AND scanned_at < toDateTime(?)");
    let mut args = vec![q.from.timestamp().to_string(), q.to.timestamp().to_string()];
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
    if !q.include_bots {
        sql.push_str(" AND is_bot = 0");
    }
    (sql, args)
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

pub async fn report(ch: &clickhouse::Client, scope: &Scope, q: &Query) -> ApiResult<Report> {
    let unavailable = |e: clickhouse::error::Error| {
        tracing::warn!(error = %e, "analytics query failed");
        ApiError::Unavailable("analytics")
    };
    let (cond, args) = filter(scope, q);
    let totals = bind(ch.query(&format!("SELECT count() AS total, uniqExact(visitor_hash) AS unique FROM scan_events WHERE {cond}")), &args)
        .fetch_one::<Totals>()
        .await
        .map_err(unavailable)?;
    let tz = q.tz.name();
    // Bucket labels as local wall-clock text, converted back to instants below.
    let bucket_sql = match q.interval {
        Interval::Hour => format!("toString(toStartOfHour(scanned_at, '{tz}'))"),
        Interval::Day => format!("toString(toDate(scanned_at, '{tz}'))"),
        Interval::Month => format!("toString(toStartOfMonth(toDate(scanned_at, '{tz}')))"),
    };
    let raw = bind(ch.query(&format!("SELECT {bucket_sql} AS key, count() AS scans FROM scan_events WHERE {cond} GROUP BY key")), &args)
        .fetch_all::<KeyCount>()
        .await
        .map_err(unavailable)?;
    let mut counts = std::collections::HashMap::new();
    for r in raw {
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
    let series = buckets(q)
        .into_iter()
        .map(|t| Point {
            scans: counts.get(&t).copied().unwrap_or(0),
            t: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .collect();
    let top = |expr: &'static str| {
        let sql = format!(
            "SELECT {expr} AS key, count() AS scans FROM scan_events WHERE {cond} GROUP BY key ORDER BY scans DESC, key LIMIT 10"
        );
        let query = bind(ch.query(&sql), &args);
        async move {
            query.fetch_all::<KeyCount>().await.map(|v| {
                v.into_iter()
                    .map(|k| Count {
                        key: k.key,
                        scans: k.scans,
                    })
                    .collect::<Vec<_>>()
            })
        }
    };
    let (countries, cities, devices, os, browsers, referrers) = tokio::try_join!(
        top("if(country = '', 'unknown', toString(country))"),
        top("if(city = '', 'unknown', city)"),
        top("toString(device_type)"),
        top("toString(os)"),
        top("toString(browser)"),
        top("if(referer = '', 'direct', domain(referer))"),
    )
    .map_err(unavailable)?;
    Ok(Report {
        total: totals.total,
        unique: totals.unique,
        series,
        countries,
        cities,
        devices,
        os,
        browsers,
        referrers,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: &str, to: &str, interval: Interval, tz: &str) -> Query {
        Query::parse(Some(from), Some(to), Some(interval), Some(tz), None, "UTC").unwrap()
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
