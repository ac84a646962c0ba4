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
