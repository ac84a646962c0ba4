//! Applies the ordered DDL files of `clickhouse/` once each, recording them in
//! `schema_migrations`. Files are embedded in the binary so a deployed image needs no source tree.
//!
//! A file may use `{{lc_string}}`: `LowCardinality(String)` where the server supports it without an
//! experimental flag (19.x and later), plain `String` on 18.x. That keeps one set of files valid on
//! Debian's 18.16 and on current releases.

use anyhow::{Context, bail};
use include_dir::{Dir, include_dir};
use serde::Deserialize;

use crate::config::Settings;

static FILES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/clickhouse");

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Applied {
    version: u32,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Version {
    v: String,
}

#[derive(Debug, clickhouse::Row, serde::Serialize)]
struct Record {
    version: u32,
    name: String,
}

/// Creates the database if needed and applies pending files in order. Returns how many ran.
pub async fn migrate(settings: &Settings) -> anyhow::Result<usize> {
    let db = &settings.clickhouse_database;
    if db.is_empty() || !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("clickhouse_database must be letters, digits and underscores");
    }
    super::server_client(settings)
        .query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .execute()
        .await
        .context("creating the ClickHouse database")?;

    let client = super::client(settings);
    client
        .query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version UInt32, name String, applied_at DateTime DEFAULT now()) \
             ENGINE = MergeTree ORDER BY version",
        )
        .execute()
        .await?;
    let applied: Vec<u32> = client
        .query("SELECT DISTINCT version FROM schema_migrations")
        .fetch_all::<Applied>()
        .await?
        .into_iter()
        .map(|a| a.version)
        .collect();
    let server = client
        .query("SELECT version() AS v")
        .fetch_one::<Version>()
        .await?
        .v;
    let lc_string = if major_version(&server) >= 19 {
        "LowCardinality(String)"
    } else {
        "String"
    };

    let mut ran = 0;
    for (version, name, sql) in ordered_files()? {
        if applied.contains(&version) {
            continue;
        }
        let sql = sql.replace("{{lc_string}}", lc_string);
        for statement in statements(&sql) {
            client
                .query(&statement)
                .execute()
                .await
                .with_context(|| format!("ClickHouse migration {name}"))?;
        }
        let mut insert = client.insert::<Record>("schema_migrations").await?;
        insert
            .write(&Record {
                version,
                name: name.clone(),
            })
            .await?;
        insert.end().await?;
        tracing::info!(%name, "applied ClickHouse migration");
        ran += 1;
    }
    Ok(ran)
}

fn major_version(v: &str) -> u32 {
    v.split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// `NNNN_name.sql` files sorted by their number.
fn ordered_files() -> anyhow::Result<Vec<(u32, String, &'static str)>> {
    let mut out = Vec::new();
    for file in FILES.files() {
        let name = file.path().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let version = stem
            .split('_')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .with_context(|| format!("ClickHouse migration {name} must start with a number"))?;
        let sql = file
            .contents_utf8()
            .with_context(|| format!("{name} is not UTF-8"))?;
        out.push((version, name, sql));
    }
    out.sort_by_key(|(v, _, _)| *v);
    Ok(out)
}

/// Splits a file into statements (the HTTP interface takes one per request). Whole-line `--`
/// comments are dropped first, so a `;` in a comment does not split a statement.
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_numbered_and_split() {
        let files = ordered_files().unwrap();
        assert!(files.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            statements("-- c; d\nSELECT 1;\n\n-- only; a comment\n;SELECT 2;"),
            ["SELECT 1", "SELECT 2"]
        );
        assert_eq!(major_version("18.16.1"), 18);
        assert_eq!(major_version("25.3.2.1"), 25);
    }
}
