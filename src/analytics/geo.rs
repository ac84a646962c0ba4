//! Scan geography from a MaxMind-format database (.mmdb: GeoIP2/GeoLite2 City or Country, or
//! any database with the same record shape), used when no trusted proxy sent geo headers.
//! Looked up with the whole IP at ingestion, before the address is anonymised.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Place {
    pub country: String,
    pub region: String,
    pub city: String,
}

/// The parts of a GeoIP2 City/Country record we use.
#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    country: Option<Named>,
    #[serde(default)]
    subdivisions: Vec<Named>,
    #[serde(default)]
    city: Option<Named>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    iso_code: Option<String>,
    #[serde(default)]
    names: BTreeMap<String, String>,
}

impl Named {
    fn english(&self) -> Option<&str> {
        self.names.get("en").map(String::as_str)
    }
}

pub struct GeoDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl GeoDb {
    pub fn open(path: &Path) -> anyhow::Result<GeoDb> {
        let reader = maxminddb::Reader::open_readfile(path)
            .map_err(|e| anyhow::anyhow!("opening GeoIP database {}: {e}", path.display()))?;
        Ok(GeoDb { reader })
    }

    /// The place of `ip`, if the database knows it; a broken record counts as unknown.
    pub fn lookup(&self, ip: IpAddr) -> Option<Place> {
        let rec: Record = self.reader.lookup(ip).ok()?.decode().ok()??;
        Some(Place {
            country: rec
                .country
                .and_then(|c| c.iso_code)
                .unwrap_or_default()
                .to_uppercase(),
            region: rec
                .subdivisions
                .first()
                .and_then(|s| s.english().map(str::to_owned).or(s.iso_code.clone()))
                .unwrap_or_default(),
            city: rec
                .city
                .as_ref()
                .and_then(|c| c.english())
                .unwrap_or_default()
                .to_owned(),
        })
    }
}
