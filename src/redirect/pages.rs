//! Server-rendered pages of the redirect layer: mobile-first HTML, inline CSS, no external assets.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};

use super::Entry;
use crate::domain::QrData;
use crate::domain::design::luminance;
use crate::domain::qr::WifiEncryption;
use crate::html::escape as esc;

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    styled_page(status, title, body, "", "")
}

/// Text colour readable on `bg` (dark on light backgrounds, light on dark ones).
fn ink(bg: &str) -> &'static str {
    if luminance(bg) > 0.18 {
        "#1f2328"
    } else {
        "#f6f8fa"
    }
}

/// A page of one of the owner's codes, in the owner's white-label look: name and logo on
/// top, their colours for background and buttons. Unset parts keep the neutral look.
fn owned_page(status: StatusCode, e: &Entry, title: &str, body: &str) -> HttpResponse {
    let b = &e.brand;
    let mut css = String::new();
    if let Some(bg) = &b.background_color {
        css.push_str(&format!(
            "body{{background:{bg};color:{}}}.muted,dt{{color:inherit;opacity:.75}}",
            ink(bg)
        ));
    }
    if let Some(p) = &b.primary_color {
        css.push_str(&format!(
            ".btn{{background:{p};color:{}}}a{{color:{p}}}",
            ink(p)
        ));
    }
    let logo = b.logo_upload_id.map_or(String::new(), |_| {
        format!(
            "<img class=\"logo\" src=\"/r/{}/logo\" alt=\"\">",
            esc(&e.short_code)
        )
    });
    let name = b.name.as_deref().map_or(String::new(), |n| {
        format!("<span class=\"brand-name\">{}</span>", esc(n))
    });
    let header = if logo.is_empty() && name.is_empty() {
        String::new()
    } else {
        format!("<header class=\"brand\">{logo}{name}</header>")
    };
    // Anyone who scanned the code can flag it for the operator.
    let body = format!(
        "{body}<p class=\"muted\" style=\"margin-top:2rem;font-size:.85rem\">\
         <a href=\"/r/{}/report\">Report this code</a></p>",
        esc(&e.short_code)
    );
    styled_page(status, title, &body, &css, &header)
}

fn styled_page(
    status: StatusCode,
    title: &str,
    body: &str,
    brand_css: &str,
    header: &str,
) -> HttpResponse {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{t}</title>\
<style>body{{margin:0;font-family:system-ui,-apple-system,sans-serif;background:#f6f8fa;color:#1f2328}}\
main{{max-width:30rem;margin:0 auto;padding:2rem 1.25rem}}h1{{font-size:1.5rem}}\
dl{{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem}}dt{{color:#59636e}}dd{{margin:0;word-break:break-word}}\
.btn{{display:block;text-align:center;background:#1f6feb;color:#fff;padding:.9rem;border-radius:.5rem;\
text-decoration:none;font-weight:600;margin:1rem 0;border:0;width:100%;font-size:1rem}}\
.muted{{color:#59636e}}code{{font-size:1.1rem}}.err{{color:#d1242f;font-weight:600}}\
input{{box-sizing:border-box;width:100%;font-size:1rem;padding:.8rem;border:1px solid #d1d9e0;border-radius:.5rem}}\
.brand{{display:flex;align-items:center;gap:.75rem;font-weight:700;font-size:1.1rem}}.logo{{max-height:3rem;max-width:8rem}}\
{brand_css}</style></head><body><main>{header}{body}</main></body></html>",
        t = esc(title)
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(html)
}

/// The "report this code" form.
pub fn report_form(code: &str, problem: Option<&str>) -> HttpResponse {
    let problem = problem.map_or(String::new(), |p| {
        format!("<p class=\"err\">{}</p>", esc(p))
    });
    let options: String = crate::abuse::reports::REASONS
        .iter()
        .map(|r| format!("<option value=\"{r}\">{r}</option>"))
        .collect();
    page(
        StatusCode::OK,
        "Report this code",
        &format!(
            "<h1>Report this code</h1>{problem}<p class=\"muted\">Tell us what is wrong with \
             where this code leads. The service's operator reviews every report.</p>\
             <form method=\"post\" action=\"/r/{c}/report\"><p><select name=\"reason\">{options}\
             </select></p><p><textarea name=\"details\" maxlength=\"2000\" rows=\"4\" \
             style=\"width:100%\" placeholder=\"What happened (optional)\"></textarea></p>\
             <button class=\"btn\" type=\"submit\">Send report</button></form>",
            c = esc(code)
        ),
    )
}

pub fn report_thanks() -> HttpResponse {
    page(
        StatusCode::OK,
        "Thank you",
        "<h1>Thank you</h1><p class=\"muted\">Your report is in the operator's queue.</p>",
    )
}

/// A plain error page for people (the API answers JSON; these routes are opened in browsers).
pub fn error(status: StatusCode, message: &str) -> HttpResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    page(
        status,
        title,
        &format!(
            "<h1>{}</h1><p class=\"muted\">{}</p>",
            esc(title),
            esc(message)
        ),
    )
}

pub fn not_found() -> HttpResponse {
    page(
        StatusCode::NOT_FOUND,
        "Code not found",
        "<h1>This code does not exist</h1><p class=\"muted\">It may have been deleted by its owner.</p>",
    )
}

pub fn blocked() -> HttpResponse {
    page(
        StatusCode::GONE,
        "Code unavailable",
        "<h1>This code is no longer available</h1><p class=\"muted\">It was disabled by the service.</p>",
    )
}

pub fn unavailable() -> HttpResponse {
    let mut r = page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "<h1>Please try again in a moment</h1>",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    r
}

/// A client that asked for too many codes we had to look up (most of them made up).
pub fn too_many_lookups() -> HttpResponse {
    let mut r = page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        "<h1>Too many requests</h1><p class=\"muted\">Please wait a minute and scan again.</p>",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
    r
}

pub fn paused(e: &Entry) -> HttpResponse {
    owned_page(
        StatusCode::OK,
        e,
        "Paused",
        &format!(
            "<h1>{} is paused</h1><p class=\"muted\">The owner has paused this code. Try again later.</p>",
            esc(title(e))
        ),
    )
}

pub fn expired(e: &Entry) -> HttpResponse {
    owned_page(
        StatusCode::GONE,
        e,
        "Expired",
        &format!(
            "<h1>{} has expired</h1><p class=\"muted\">This code is no longer active.</p>",
            esc(title(e))
        ),
    )
}

pub fn limit_reached(e: &Entry) -> HttpResponse {
    owned_page(
        StatusCode::GONE,
        e,
        "Limit reached",
        &format!(
            "<h1>{} has reached its scan limit</h1><p class=\"muted\">It no longer accepts scans.</p>",
            esc(title(e))
        ),
    )
}

/// Why the password form is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    None,
    Wrong,
    TooMany,
}

/// The password form; it posts to the code's own URL, so the password never enters a URL.
pub fn password(e: &Entry, problem: PasswordProblem) -> HttpResponse {
    let (status, note) = match problem {
        PasswordProblem::None => (StatusCode::OK, ""),
        PasswordProblem::Wrong => (
            StatusCode::FORBIDDEN,
            "<p class=\"err\" role=\"alert\">Wrong password. Try again.</p>",
        ),
        PasswordProblem::TooMany => (
            StatusCode::TOO_MANY_REQUESTS,
            "<p class=\"err\" role=\"alert\">Too many attempts. Try again in a few minutes.</p>",
        ),
    };
    owned_page(
        status,
        e,
        "Password required",
        &format!(
            "<h1>{} is protected</h1><p class=\"muted\">Enter the password to continue.</p>{note}\
<form method=\"post\" action=\"/r/{}\"><input type=\"password\" name=\"password\" id=\"password\" \
required autocomplete=\"current-password\" aria-label=\"Password\">\
<button class=\"btn\" type=\"submit\">Continue</button></form>",
            esc(title(e)),
            esc(&e.short_code)
        ),
    )
}

fn title(e: &Entry) -> &str {
    if e.name.is_empty() {
        "This code"
    } else {
        &e.name
    }
}

fn row(label: &str, value: &str) -> String {
    format!("<dt>{}</dt><dd>{}</dd>", esc(label), esc(value))
}

fn button(href: &str, label: &str) -> String {
    format!("<a class=\"btn\" href=\"{}\">{}</a>", esc(href), esc(label))
}

/// The landing page of a dynamic non-URL code.
pub fn landing(e: &Entry) -> HttpResponse {
    let content = e.content.as_deref().unwrap_or("");
    let download = format!("/r/{}/download", e.short_code);
    let body = match &e.data {
        Some(QrData::Vcard(v)) => {
            let name = [v.first_name.as_str(), v.last_name.as_deref().unwrap_or("")].join(" ");
            let mut rows = String::new();
            for (l, v) in [
                ("Organisation", &v.organization),
                ("Title", &v.title),
                ("Website", &v.website),
                ("Address", &v.address),
                ("Note", &v.note),
            ] {
                if let Some(v) = v {
                    rows.push_str(&row(l, v));
                }
            }
            let phones: String = v
                .phones
                .iter()
                .map(|p| format!("<dt>Phone</dt><dd><a href=\"tel:{0}\">{0}</a></dd>", esc(p)))
                .collect();
            let emails: String = v
                .emails
                .iter()
                .map(|m| {
                    format!(
                        "<dt>E-mail</dt><dd><a href=\"mailto:{0}\">{0}</a></dd>",
                        esc(m)
                    )
                })
                .collect();
            format!(
                "<h1>{}</h1><dl>{rows}{phones}{emails}</dl>{}",
                esc(name.trim()),
                button(&download, "Save contact")
            )
        }
        Some(QrData::Event(ev)) => {
            let mut rows = row("Starts", &ev.start) + &row("Ends", &ev.end);
            if let Some(tz) = &ev.tz {
                rows.push_str(&row("Time zone", tz));
            }
            for (l, v) in [("Where", &ev.location), ("About", &ev.description)] {
                if let Some(v) = v {
                    rows.push_str(&row(l, v));
                }
            }
            format!(
                "<h1>{}</h1><dl>{rows}</dl>{}",
                esc(&ev.summary),
                button(&download, "Add to calendar")
            )
        }
        Some(QrData::Wifi(w)) => {
            let security = match w.encryption {
                WifiEncryption::Wpa => "WPA/WPA2",
                WifiEncryption::Wep => "WEP",
                WifiEncryption::NoPass => "Open network",
            };
            let pw = w.password.as_deref().unwrap_or("");
            let copy = if pw.is_empty() {
                String::new()
            } else {
                format!(
                    "<button class=\"btn\" id=\"copy\" data-pw=\"{}\" onclick=\"navigator.clipboard.writeText(this.dataset.pw);this.textContent='Copied'\">Copy password</button>",
                    esc(pw)
                )
            };
            format!(
                "<h1>Wi-Fi: {}</h1><dl>{}{}{}</dl>{copy}<p class=\"muted\">Or scan the code with your camera app to join.</p>",
                esc(&w.ssid),
                row("Network", &w.ssid),
                row("Security", security),
                if pw.is_empty() {
                    String::new()
                } else {
                    format!(
                        "<dt>Password</dt><dd><code id=\"pw\">{}</code></dd>",
                        esc(pw)
                    )
                }
            )
        }
        Some(QrData::Payment(p)) => {
            let amount = p
                .amount
                .as_deref()
                .map_or("Enter the amount in your UPI app".to_owned(), |a| {
                    format!("₹{a}")
                });
            let mut rows = row("Amount", &amount);
            for (l, v) in [
                ("For", &p.label),
                ("Where", &p.location),
                ("Note", &p.description),
            ] {
                if let Some(v) = v {
                    rows.push_str(&row(l, v));
                }
            }
            let payee = content
                .split("pn=")
                .nth(1)
                .and_then(|s| s.split('&').next())
                .map(|s| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .unwrap_or_default();
            format!(
                "<h1>Pay {}</h1><dl>{rows}</dl>{}<p class=\"muted\">Opens your UPI app (GPay, PhonePe, Paytm, BHIM …).</p>",
                esc(&payee),
                button(content, "Pay with UPI")
            )
        }
        Some(QrData::Text(t)) => format!(
            "<h1>{}</h1><p style=\"white-space:pre-wrap\">{}</p>",
            esc(title(e)),
            esc(&t.text)
        ),
        Some(QrData::Email(m)) => format!(
            "<h1>{}</h1><dl>{}</dl>{}",
            esc(title(e)),
            row("To", &m.to),
            button(content, "Write e-mail")
        ),
        Some(QrData::Phone(p)) => format!(
            "<h1>{}</h1><dl>{}</dl>{}",
            esc(title(e)),
            row("Number", &p.number),
            button(content, "Call")
        ),
        Some(QrData::Sms(s)) => {
            let href = format!(
                "sms:{}?body={}",
                s.number,
                s.message.as_deref().unwrap_or("")
            );
            format!(
                "<h1>{}</h1><dl>{}</dl>{}",
                esc(title(e)),
                row("To", &s.number),
                button(&href, "Send SMS")
            )
        }
        Some(QrData::Geo(g)) => format!(
            "<h1>{}</h1><dl>{}</dl>{}",
            esc(title(e)),
            row("Location", &format!("{}, {}", g.lat, g.lng)),
            button(content, "Open in maps")
        ),
        Some(QrData::Url) | None => return not_found(),
    };
    owned_page(StatusCode::OK, e, title(e), &body)
}

/// The vCard or iCalendar file of a code.
pub fn download(e: &Entry) -> HttpResponse {
    let (mime, ext) = match e.data {
        Some(QrData::Vcard(_)) => ("text/vcard; charset=utf-8", "vcf"),
        Some(QrData::Event(_)) => ("text/calendar; charset=utf-8", "ics"),
        _ => return not_found(),
    };
    let Some(content) = &e.content else {
        return not_found();
    };
    HttpResponse::Ok()
        .content_type(mime)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.{ext}\"", e.short_code),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(content.clone())
}
