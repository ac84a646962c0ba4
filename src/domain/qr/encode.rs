//! The standard encodings of each QR type's data: what a phone's camera app understands.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

use super::*;

pub(super) fn mailto(d: &EmailData) -> String {
    let mut params = Vec::new();
    if let Some(s) = &d.subject {
        params.push(format!("subject={}", pct(s)));
    }
    if let Some(b) = &d.body {
        params.push(format!("body={}", pct(b)));
    }
    let q = if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    };
    format!("mailto:{}{q}", d.to)
}

/// `WIFI:` per the ZXing convention: `\ ; , : "` are backslash-escaped.
pub(super) fn wifi(d: &WifiData) -> String {
    fn esc(s: &str) -> String {
        s.chars()
            .flat_map(|c| {
                if matches!(c, '\\' | ';' | ',' | ':' | '"') {
                    vec!['\\', c]
                } else {
                    vec![c]
                }
            })
            .collect()
    }
    let t = match d.encryption {
        WifiEncryption::Wpa => "WPA",
        WifiEncryption::Wep => "WEP",
        WifiEncryption::NoPass => "nopass",
    };
    let mut s = format!("WIFI:T:{t};S:{};", esc(&d.ssid));
    if let Some(p) = d.password.as_deref().filter(|p| !p.is_empty()) {
        s.push_str(&format!("P:{};", esc(p)));
    }
    if d.hidden {
        s.push_str("H:true;");
    }
    s.push(';');
    s
}

/// TEXT value escaping shared by vCard 3.0 (RFC 2426) and iCalendar (RFC 5545).
pub(super) fn esc_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace("\r\n", "\\n")
        .replace('\n', "\\n")
}

/// Folds a content line at 75 octets (never inside a UTF-8 sequence) with CRLF + space.
pub(super) fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
    out
}

pub(super) fn vcard(d: &VcardData) -> String {
    let last = d.last_name.as_deref().unwrap_or("");
    let full = if last.is_empty() {
        d.first_name.clone()
    } else {
        format!("{} {last}", d.first_name)
    };
    let mut lines = vec![
        "BEGIN:VCARD".to_owned(),
        "VERSION:3.0".to_owned(),
        format!("N:{};{};;;", esc_text(last), esc_text(&d.first_name)),
        format!("FN:{}", esc_text(&full)),
    ];
    if let Some(o) = &d.organization {
        lines.push(format!("ORG:{}", esc_text(o)));
    }
    if let Some(t) = &d.title {
        lines.push(format!("TITLE:{}", esc_text(t)));
    }
    lines.extend(d.phones.iter().map(|p| format!("TEL;TYPE=CELL:{p}")));
    lines.extend(d.emails.iter().map(|m| format!("EMAIL;TYPE=INTERNET:{m}")));
    if let Some(w) = &d.website {
        lines.push(format!("URL:{w}"));
    }
    if let Some(a) = &d.address {
        lines.push(format!("ADR;TYPE=WORK:;;{};;;;", esc_text(a)));
    }
    if let Some(n) = &d.note {
        lines.push(format!("NOTE:{}", esc_text(n)));
    }
    lines.push("END:VCARD".to_owned());
    lines.iter().map(|l| fold(l)).collect()
}

/// Parses an event time: RFC 3339 with an offset, or a local time interpreted in `tz`.
pub fn event_time(raw: &str, tz: Option<chrono_tz::Tz>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::<FixedOffset>::parse_from_rfc3339(raw.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M"))
        .map_err(|_| "must be a time like 2026-12-01T10:00:00+05:30".to_owned())?;
    let tz = tz.ok_or("has no UTC offset; add one or set tz")?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| "does not exist in that time zone (DST gap)".into())
}

/// iCalendar with one VEVENT (RFC 5545). With `tz`, times are local with a TZID; otherwise UTC.
/// DTSTAMP and UID derive from the event itself, so the same data always encodes the same way.
pub(super) fn vevent(d: &EventData) -> Option<String> {
    let tz =
        d.tz.as_deref()
            .and_then(|t| t.parse::<chrono_tz::Tz>().ok());
    let start = event_time(&d.start, tz).ok()?;
    let end = event_time(&d.end, tz).ok()?;
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let when = |name: &str, t: DateTime<Utc>| match tz {
        Some(z) => format!(
            "{name};TZID={}:{}",
            z.name(),
            t.with_timezone(&z).format("%Y%m%dT%H%M%S")
        ),
        None => format!("{name}:{}", stamp(t)),
    };
    let uid = hex::encode(&Sha256::digest(format!("{}|{}|{}", d.summary, start, end))[..8]);
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//qrsaas//QR event//EN".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{uid}@qrsaas"),
        format!("DTSTAMP:{}", stamp(start)),
        when("DTSTART", start),
        when("DTEND", end),
        format!("SUMMARY:{}", esc_text(&d.summary)),
    ];
    if let Some(l) = &d.location {
        lines.push(format!("LOCATION:{}", esc_text(l)));
    }
    if let Some(x) = &d.description {
        lines.push(format!("DESCRIPTION:{}", esc_text(x)));
    }
    lines.extend(["END:VEVENT".to_owned(), "END:VCALENDAR".to_owned()]);
    Some(lines.iter().map(|l| fold(l)).collect())
}

pub(super) fn geo(d: &GeoData) -> String {
    let q = d
        .query
        .as_deref()
        .map(|q| format!("?q={}", pct(q)))
        .unwrap_or_default();
    format!("geo:{},{}{q}", d.lat, d.lng)
}

/// What a UPI payment URI needs besides the code's own data.
pub struct Payee<'a> {
    pub vpa: &'a str,
    pub name: &'a str,
    pub mcc: Option<&'a str>,
    /// Transaction reference (`tr`): identifies the code, product or variant.
    pub reference: &'a str,
    /// Transaction note (`tn`).
    pub note: &'a str,
}

/// `upi://pay?pa=…&pn=…&am=…&cu=INR&tr=…&tn=…` (NPCI UPI linking spec); `am` only when the
/// amount is fixed, otherwise the payer enters it.
pub fn upi_uri(payee: &Payee<'_>, amount: Option<&str>) -> String {
    let mut s = format!("upi://pay?pa={}&pn={}", pct(payee.vpa), pct(payee.name));
    if let Some(mcc) = payee.mcc {
        s.push_str(&format!("&mc={}", pct(mcc)));
    }
    if let Some(a) = amount {
        s.push_str(&format!("&am={a}"));
    }
    s.push_str(&format!(
        "&cu=INR&tr={}&tn={}",
        pct(payee.reference),
        pct(payee.note)
    ));
    s
}

/// NPCI's registered application provider identifier: the globally unique identifier under
/// which an EMVCo merchant account template (tag 26) carries a UPI VPA.
pub const NPCI_GUID: &str = "A000000524";

/// What an EMVCo merchant-presented payload says besides the amount (BharatQR / UPI).
pub struct EmvMerchant<'a> {
    pub vpa: &'a str,
    pub name: &'a str,
    /// ISO 18245 merchant category code.
    pub mcc: Option<&'a str>,
    pub city: Option<&'a str>,
    /// Reference label (tag 62-05): identifies the code, product or variant.
    pub reference: &'a str,
    /// Store label (62-03), terminal label (62-07) and purpose (62-08), from the code's data.
    pub store: Option<&'a str>,
    pub terminal: Option<&'a str>,
    pub purpose: Option<&'a str>,
}

/// The value as the format allows it: printable ASCII, at most `max` characters.
fn ans(v: &str, max: usize) -> String {
    v.chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// One data object: ID, two-digit length, value.
fn tlv(out: &mut String, id: &str, value: &str) {
    out.push_str(id);
    out.push_str(&format!("{:02}", value.len()));
    out.push_str(value);
}

/// The EMVCo MPM payload (QR Code Specification for Payment Systems, merchant-presented mode):
/// payload format 01; point of initiation 11 (payer enters the amount) or 12 (fixed amount);
/// the VPA under NPCI's identifier in tag 26; MCC; currency 356 (INR); the amount when fixed;
/// country IN; name; city; additional data; and the CRC-16/CCITT-FALSE of everything before
/// it, `6304` included, as four upper-case hex digits.
pub fn emvco_mpm(m: &EmvMerchant<'_>, amount: Option<&str>) -> String {
    let mut s = String::new();
    tlv(&mut s, "00", "01");
    tlv(&mut s, "01", if amount.is_some() { "12" } else { "11" });
    let mut account = String::new();
    tlv(&mut account, "00", NPCI_GUID);
    tlv(&mut account, "01", &ans(m.vpa, 99 - 14 - 4));
    tlv(&mut s, "26", &account);
    let mcc = m
        .mcc
        .filter(|c| c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("0000");
    tlv(&mut s, "52", mcc);
    tlv(&mut s, "53", "356");
    if let Some(a) = amount {
        tlv(&mut s, "54", &ans(a, 13));
    }
    tlv(&mut s, "58", "IN");
    let name = Some(ans(m.name, 25)).filter(|n| !n.is_empty());
    tlv(&mut s, "59", name.as_deref().unwrap_or("Merchant"));
    let city = m.city.map(|c| ans(c, 15)).filter(|c| !c.is_empty());
    tlv(&mut s, "60", city.as_deref().unwrap_or("India"));
    let mut extra = String::new();
    for (id, v) in [
        ("03", m.store),
        ("05", Some(m.reference)),
        ("07", m.terminal),
        ("08", m.purpose),
    ] {
        if let Some(v) = v.map(|v| ans(v, 25)).filter(|v| !v.is_empty()) {
            tlv(&mut extra, id, &v);
        }
    }
    if !extra.is_empty() {
        tlv(&mut s, "62", &extra);
    }
    s.push_str("6304");
    let crc = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740).checksum(s.as_bytes());
    s.push_str(&format!("{crc:04X}"));
    s
}

#[cfg(test)]
mod emvco_tests {
    use super::*;

    /// CRC-16/CCITT-FALSE over published EMVCo payloads (their last four characters).
    #[test]
    fn crc_matches_known_vectors() {
        for payload in [
            "000201010212153137210116372101160123456789ABCDE520441315303840540510.005802KH5913Kuntheas Shop6016Banteay Meanchey62120108123456786304A7A8",
            "00020101021252044131153137210116372101160123456789ABCDE6016Banteay Meanchey5913Kuntheas Shop5802KH540510.005303840621201081234567863041FF2",
        ] {
            let (body, crc) = payload.split_at(payload.len() - 4);
            let got = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740).checksum(body.as_bytes());
            assert_eq!(format!("{got:04X}"), crc);
        }
    }

    #[test]
    fn fields_in_order_with_lengths_and_limits() {
        let p = emvco_mpm(
            &EmvMerchant {
                vpa: "chai@okbank",
                name: "Chai & Co — the very best tea stall in town",
                mcc: Some("5812"),
                city: Some("Mumbai"),
                reference: "QRabc123",
                store: Some("Mumbai Store"),
                terminal: Some("Store Counter 1"),
                purpose: None,
            },
            Some("20.00"),
        );
        assert!(p.starts_with("0002010102122629"), "{p}");
        assert!(p.contains("0010A0000005240111chai@okbank"), "{p}");
        assert!(p.contains("520458125303356540520.00"), "{p}");
        assert!(p.contains("5802IN5924Chai & Co  the very best6006"), "{p}");
        assert!(p.contains("6006Mumbai62"), "{p}");
        assert!(
            p.contains("0312Mumbai Store0508QRabc1230715Store Counter 1"),
            "{p}"
        );
        let static_one = emvco_mpm(
            &EmvMerchant {
                vpa: "chai@okbank",
                name: "",
                mcc: None,
                city: None,
                reference: "QR1",
                store: None,
                terminal: None,
                purpose: None,
            },
            None,
        );
        assert!(static_one.starts_with("000201010211"), "{static_one}");
        assert!(!static_one.contains("5405"), "{static_one}");
        assert!(static_one.contains("52040000") && static_one.contains("5908Merchant6005India"));
    }
}
