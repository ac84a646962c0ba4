//! The wire form of a block of scans: one base64 string of MessagePack instead of a JSON array of
//! objects.
//!
//! The redirect process encodes each scan as it serves it (into a [`ScanBlock`], borrowing the
//! request's strings), so this is paid per redirect: the JSON form (field names, hyphenated
//! UUIDs, RFC 3339 times) cost a sixth of a cached redirect's instructions. MessagePack writes
//! each event as an array of its fields in declaration order (so fields may only be appended,
//! with `#[serde(default)]`), UUIDs as 16 bytes, times as microseconds. Blocks queued as a JSON
//! array by an earlier version still decode.

use std::net::IpAddr;

use base64_simd::STANDARD;
use rmp::encode;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::ScanEvent;

/// MessagePack's marker of an array with a 32-bit length: a block reserves one and keeps its
/// length current, so its bytes are always a complete array (decoders accept the wide form for
/// any length).
const ARRAY32: u8 = 0xdd;
const HEADER: usize = 5;

/// Scans packed one by one as they are served: the producer's side of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanBlock {
    /// A MessagePack array: its header, then the events.
    bytes: Vec<u8>,
    len: u32,
}

impl Default for ScanBlock {
    fn default() -> Self {
        ScanBlock::with_capacity(4096)
    }
}

impl ScanBlock {
    /// An empty block with room for `bytes` bytes of scans (a shipper sizes the next block like
    /// the last, so a block is not copied as it grows).
    pub fn with_capacity(bytes: usize) -> Self {
        let mut packed = Vec::with_capacity(bytes.max(HEADER));
        packed.extend_from_slice(&[ARRAY32, 0, 0, 0, 0]);
        ScanBlock {
            bytes: packed,
            len: 0,
        }
    }

    /// Bytes packed so far.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Appends one scan.
    pub fn push<S: AsRef<str>>(&mut self, scan: &ScanEvent<S>) {
        // Writing into a `Vec` cannot fail (rmp's writers return the `io::Write` error).
        let _ = write_scan(&mut self.bytes, scan);
        self.len += 1;
        self.bytes[1..HEADER].copy_from_slice(&self.len.to_be_bytes());
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The scans, as a consumer reads them.
    pub fn decode(&self) -> Result<Vec<ScanEvent>, rmp_serde::decode::Error> {
        rmp_serde::from_slice(&self.bytes)
    }

    fn of(events: &[ScanEvent]) -> ScanBlock {
        let mut block = ScanBlock::default();
        for e in events {
            block.push(e);
        }
        block
    }
}

/// Fields of [`ScanEvent`].
const FIELDS: u32 = 13;

/// One scan, field by field with rmp's writers, exactly as serde's derive would have rmp_serde
/// write it (an array of the fields in declaration order; UUIDs and addresses as bin, times as
/// integers, absent options as nil): consumers read it with that derive, and a test decodes
/// what this writes. On the redirect path this costs 650 instructions a scan where rmp_serde's
/// generic serializer cost 880 (callgrind).
fn write_scan<S: AsRef<str>>(w: &mut Vec<u8>, e: &ScanEvent<S>) -> std::io::Result<()> {
    let opt_str = |w: &mut Vec<u8>, v: Option<&S>| match v {
        Some(v) => Ok(encode::write_str(w, v.as_ref())?),
        None => encode::write_nil(w),
    };
    encode::write_array_len(w, FIELDS)?;
    encode::write_bin(w, e.event_id.as_bytes())?;
    encode::write_bin(w, e.qr_id.as_bytes())?;
    encode::write_bin(w, e.owner_id.as_bytes())?;
    match &e.project_id {
        Some(p) => encode::write_bin(w, p.as_bytes())?,
        None => encode::write_nil(w)?,
    }
    encode::write_str(w, e.short_code.as_ref())?;
    encode::write_sint(w, e.at.timestamp_micros())?;
    match e.ip {
        Some(IpAddr::V4(v4)) => encode::write_bin(w, &v4.octets())?,
        Some(IpAddr::V6(v6)) => encode::write_bin(w, &v6.octets())?,
        None => encode::write_bin(w, &[])?,
    }
    encode::write_str(w, e.user_agent.as_ref())?;
    encode::write_str(w, e.referer.as_ref())?;
    opt_str(w, e.country.as_ref())?;
    opt_str(w, e.city.as_ref())?;
    encode::write_bool(w, e.keep_ip)?;
    encode::write_uint(w, u64::from(e.variant))?;
    Ok(())
}

/// Written as a raw JSON value: serde_json's string writer checks every byte for escapes (a
/// thousand instructions per scan here), its raw-value check skips 8 bytes at a time, and base64
/// never needs escaping. With any serializer but serde_json's this would not be a string, and
/// the queue codec is serde_json's. The base64 is base64-simd's (vector instructions): the
/// `base64` crate's scalar encoder cost the redirect process 620 instructions more per scan.
impl Serialize for ScanBlock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(self.bytes.len() * 4 / 3 + 8);
        text.push('"');
        STANDARD.encode_append(&self.bytes, &mut text);
        text.push('"');
        RawValue::from_string(text)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

/// Only tests read a block back as a block; workers read [`crate::IngestScans`].
impl<'de> Deserialize<'de> for ScanBlock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ScanBlock::of(&deserialize(d)?))
    }
}

pub fn serialize<S: Serializer>(events: &[ScanEvent], s: S) -> Result<S::Ok, S::Error> {
    ScanBlock::of(events).serialize(s)
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
            let bytes = STANDARD.decode_to_vec(text).map_err(de::Error::custom)?;
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

/// A scan's client address: 4 or 16 bytes (none: 0) in MessagePack — formatting it as text cost
/// the redirect more than the rest of the scan's packing. Text (none: "") in human-readable
/// forms, and read from text as blocks of earlier versions carry it.
pub mod ip {
    use super::*;

    pub fn serialize<S: Serializer>(ip: &Option<IpAddr>, s: S) -> Result<S::Ok, S::Error> {
        match (ip, s.is_human_readable()) {
            (Some(ip), true) => s.collect_str(ip),
            (None, true) => s.serialize_str(""),
            (Some(IpAddr::V4(v4)), false) => s.serialize_bytes(&v4.octets()),
            (Some(IpAddr::V6(v6)), false) => s.serialize_bytes(&v6.octets()),
            (None, false) => s.serialize_bytes(&[]),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        struct Ip;
        impl Visitor<'_> for Ip {
            type Value = Option<IpAddr>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an IP address as 4 or 16 bytes or as text")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                match v.len() {
                    0 => Ok(None),
                    4 => Ok(Some(<[u8; 4]>::try_from(v).map_err(E::custom)?.into())),
                    16 => Ok(Some(<[u8; 16]>::try_from(v).map_err(E::custom)?.into())),
                    n => Err(E::invalid_length(n, &self)),
                }
            }
            /// Text an earlier version wrote with `Display`; anything else (it wrote "" without
            /// a peer address) is no address rather than a block that cannot be read.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(v.parse().ok())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
        }
        d.deserialize_any(Ip)
    }
}
