//! How a scan event fans out into report dimensions: shared by the reports, which count raw
//! events, and the rollups, which count them once a day into the aggregates; both must name the
//! values alike for a report to read either.

use chrono::NaiveDate;

/// Dimension values exactly as reports show them, so reading an aggregate needs no mapping.
pub const DIMENSIONS: &[(&str, &str)] = &[
    ("total", "''"),
    ("country", "if(country = '', 'unknown', toString(country))"),
    ("city", "if(city = '', 'unknown', city)"),
    ("device", "toString(device_type)"),
    ("os", "toString(os)"),
    ("browser", "toString(browser)"),
    ("referer", "if(referer = '', 'direct', domain(referer))"),
];

/// The `ARRAY JOIN` array that fans a scan event out into one (dimension, value) per dimension.
pub fn fan_out() -> String {
    let (names, values): (Vec<&str>, Vec<&str>) = DIMENSIONS.iter().copied().unzip();
    let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!(
        "arrayMap((n, v) -> (n, v), [{}], [{}])",
        names.join(", "),
        values.join(", ")
    )
}

/// 00:00 UTC on `day`.
pub fn day_start(day: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}
