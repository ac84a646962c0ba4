//! The wire form of a block of scans: one base64 string of MessagePack instead of a JSON array of
//! objects.
//!
//! The scan shipper encodes on the redirect process, so this is paid per redirect: the JSON
//! form (field names, hyphenated UUIDs, RFC 3339 times) cost a sixth of a cached redirect's
//! instructions. MessagePack writes each event as an array of its fields in declaration order
//! (so fields may only be appended, with `#[serde(default)]`), UUIDs as 16 bytes, times as
//! microseconds. Blocks queued as a JSON array by an earlier version still decode.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::ScanEvent;

/// Written as a raw JSON value: serde_json's string writer checks every byte for escapes (a
/// thousand instructions per scan here), its raw-value check skips 8 bytes at a time, and base64
/// never needs escaping. With any serializer but serde_json's this would not be a string, and
/// the queue codec is serde_json's.
pub fn serialize<S: Serializer>(events: &[ScanEvent], s: S) -> Result<S::Ok, S::Error> {
    let bytes = rmp_serde::to_vec(events).map_err(serde::ser::Error::custom)?;
    let mut text = String::with_capacity(bytes.len() * 4 / 3 + 8);
    text.push('"');
    STANDARD.encode_string(bytes, &mut text);
    text.push('"');
    RawValue::from_string(text)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ScanEvent>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Packed(String),
        /// What versions before the packed form queued.
        Json(Vec<ScanEvent>),
    }
    match Wire::deserialize(d)? {
        Wire::Packed(text) => {
            let bytes = STANDARD.decode(text).map_err(de::Error::custom)?;
            rmp_serde::from_slice(&bytes).map_err(de::Error::custom)
        }
        Wire::Json(events) => Ok(events),
    }
}

/// A scan's time: written as microseconds since the epoch; read from that or from RFC 3339 (the
/// JSON form of earlier versions).
pub mod micros {
    use chrono::{DateTime, Utc};

    use super::*;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        at.timestamp_micros().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        struct At;
        impl Visitor<'_> for At {
            type Value = DateTime<Utc>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("microseconds since the epoch or an RFC 3339 time")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                DateTime::from_timestamp_micros(v).ok_or_else(|| E::custom("time out of range"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_i64(i64::try_from(v).map_err(E::custom)?)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(E::custom)
            }
        }
        d.deserialize_any(At)
    }
}
