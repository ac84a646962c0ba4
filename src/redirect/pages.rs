//! Server-rendered pages of the redirect layer: mobile-first HTML, inline CSS, no external assets.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};

use super::Entry;
use crate::domain::QrData;
use crate::domain::design::luminance;
use crate::domain::qr::WifiEncryption;
use crate::html::escape as esc;
use crate::i18n::{Lang, arg};

/// The language of a page that belongs to no account: the visitor's.
pub fn visitor_lang(req: &actix_web::HttpRequest) -> Lang {
    Lang::negotiate(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn page(status: StatusCode, lang: Lang, title: &str, body: &str) -> HttpResponse {
    styled_page(status, lang, title, body, "", "")
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
         <a href=\"/r/{}/report\">{}</a></p>",
        esc(&e.short_code),
        esc(&e.lang.text("page-report-link"))
    );
    styled_page(status, e.lang, title, &body, &css, &header)
}

fn styled_page(
    status: StatusCode,
    lang: Lang,
    title: &str,
    body: &str,
    brand_css: &str,
    header: &str,
) -> HttpResponse {
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
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
        t = esc(title),
        lang = lang.tag()
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(html)
}

/// The "report this code" form.
pub fn report_form(lang: Lang, code: &str, problem: Option<&str>) -> HttpResponse {
    let problem = problem.map_or(String::new(), |p| {
        format!("<p class=\"err\">{}</p>", esc(p))
    });
    let options: String = crate::abuse::reports::REASONS
        .iter()
        .map(|r| format!("<option value=\"{r}\">{r}</option>"))
        .collect();
    let title = lang.text("page-report-title");
    page(
        StatusCode::OK,
        lang,
        &title,
        &format!(
            "<h1>{t}</h1>{problem}<p class=\"muted\">{intro}</p>\
             <form method=\"post\" action=\"/r/{c}/report\"><p><select name=\"reason\">{options}\
             </select></p><p><textarea name=\"details\" maxlength=\"2000\" rows=\"4\" \
             style=\"width:100%\" placeholder=\"{details}\"></textarea></p>\
             <button class=\"btn\" type=\"submit\">{send}</button></form>",
            t = esc(&title),
            intro = esc(&lang.text("page-report-intro")),
            details = esc(&lang.text("page-report-details")),
            send = esc(&lang.text("page-report-send")),
            c = esc(code)
        ),
    )
}

pub fn report_thanks(lang: Lang) -> HttpResponse {
    message_page(
        StatusCode::OK,
        lang,
        "page-report-thanks-title",
        "page-report-thanks-title",
        Some("page-report-thanks-body"),
    )
}

/// A page of a title, a heading and a line, each a catalogue message.
fn message_page(
    status: StatusCode,
    lang: Lang,
    title: &str,
    heading: &str,
    body: Option<&str>,
) -> HttpResponse {
    let body = body.map_or(String::new(), |b| {
        format!("<p class=\"muted\">{}</p>", esc(&lang.text(b)))
    });
    page(
        status,
        lang,
        &lang.text(title),
        &format!("<h1>{}</h1>{body}", esc(&lang.text(heading))),
    )
}

/// A plain error page for people (the API answers JSON; these routes are opened in browsers).
pub fn error(status: StatusCode, message: &str) -> HttpResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    page(
        status,
        Lang::En,
        title,
        &format!(
            "<h1>{}</h1><p class=\"muted\">{}</p>",
            esc(title),
            esc(message)
        ),
    )
}

pub fn not_found(lang: Lang) -> HttpResponse {
    message_page(
        StatusCode::NOT_FOUND,
        lang,
        "page-not-found-title",
        "page-not-found-heading",
        Some("page-not-found-body"),
    )
}

pub fn blocked(lang: Lang) -> HttpResponse {
    message_page(
        StatusCode::GONE,
        lang,
        "page-blocked-title",
        "page-blocked-heading",
        Some("page-blocked-body"),
    )
}

pub fn unavailable(lang: Lang) -> HttpResponse {
    let mut r = message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        lang,
        "page-unavailable-title",
        "page-unavailable-heading",
        None,
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    r
}

/// A client that asked for too many codes we had to look up (most of them made up).
pub fn too_many_lookups(lang: Lang) -> HttpResponse {
    let mut r = message_page(
        StatusCode::TOO_MANY_REQUESTS,
        lang,
        "page-too-many-title",
        "page-too-many-heading",
        Some("page-too-many-body"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
    r
}

/// A page of one of the owner's codes that says why it does not lead anywhere now.
fn state_page(status: StatusCode, e: &Entry, what: &str) -> HttpResponse {
    let l = e.lang;
    let heading = l.t(&format!("page-{what}-heading"), &[("name", arg(title(e)))]);
    owned_page(
        status,
        e,
        &l.text(&format!("page-{what}-title")),
        &format!(
            "<h1>{}</h1><p class=\"muted\">{}</p>",
            esc(&heading),
            esc(&l.text(&format!("page-{what}-body")))
        ),
    )
}

pub fn paused(e: &Entry) -> HttpResponse {
    state_page(StatusCode::OK, e, "paused")
}

pub fn expired(e: &Entry) -> HttpResponse {
    state_page(StatusCode::GONE, e, "expired")
}

pub fn limit_reached(e: &Entry) -> HttpResponse {
    state_page(StatusCode::GONE, e, "limit")
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
    let l = e.lang;
    let alert = |id: &str| format!("<p class=\"err\" role=\"alert\">{}</p>", esc(&l.text(id)));
    let (status, note) = match problem {
        PasswordProblem::None => (StatusCode::OK, String::new()),
        PasswordProblem::Wrong => (StatusCode::FORBIDDEN, alert("page-password-wrong")),
        PasswordProblem::TooMany => (
            StatusCode::TOO_MANY_REQUESTS,
            alert("page-password-too-many"),
        ),
    };
    owned_page(
        status,
        e,
        &l.text("page-password-title"),
        &format!(
            "<h1>{}</h1><p class=\"muted\">{}</p>{note}\
<form method=\"post\" action=\"/r/{}\"><input type=\"password\" name=\"password\" id=\"password\" \
required autocomplete=\"current-password\" aria-label=\"{}\">\
<button class=\"btn\" type=\"submit\">{}</button></form>",
            esc(&l.t("page-password-heading", &[("name", arg(title(e)))])),
            esc(&l.text("page-password-intro")),
            esc(&e.short_code),
            esc(&l.text("page-password-label")),
            esc(&l.text("page-continue")),
        ),
    )
}

fn title(e: &Entry) -> String {
    if e.name.is_empty() {
        e.lang.text("page-this-code")
    } else {
        e.name.clone()
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
    let l = e.lang;
    let tr = |id: &str| l.text(id);
    let body = match &e.data {
        Some(QrData::Vcard(v)) => {
            let name = [v.first_name.as_str(), v.last_name.as_deref().unwrap_or("")].join(" ");
            let mut rows = String::new();
            for (l, v) in [
                ("page-organisation", &v.organization),
                ("page-job-title", &v.title),
                ("page-website", &v.website),
                ("page-address", &v.address),
                ("page-note", &v.note),
            ] {
                if let Some(v) = v {
                    rows.push_str(&row(&tr(l), v));
                }
            }
            let phones: String = v
                .phones
                .iter()
                .map(|p| {
                    format!(
                        "<dt>{1}</dt><dd><a href=\"tel:{0}\">{0}</a></dd>",
                        esc(p),
                        esc(&tr("page-phone"))
                    )
                })
                .collect();
            let emails: String = v
                .emails
                .iter()
                .map(|m| {
                    format!(
                        "<dt>{1}</dt><dd><a href=\"mailto:{0}\">{0}</a></dd>",
                        esc(m),
                        esc(&tr("page-email"))
                    )
                })
                .collect();
            format!(
                "<h1>{}</h1><dl>{rows}{phones}{emails}</dl>{}",
                esc(name.trim()),
                button(&download, &tr("page-save-contact"))
            )
        }
        Some(QrData::Event(ev)) => {
            let mut rows = row(&tr("page-starts"), &ev.start) + &row(&tr("page-ends"), &ev.end);
            if let Some(tz) = &ev.tz {
                rows.push_str(&row(&tr("page-time-zone"), tz));
            }
            for (l, v) in [
                ("page-where", &ev.location),
                ("page-about", &ev.description),
            ] {
                if let Some(v) = v {
                    rows.push_str(&row(&tr(l), v));
                }
            }
            format!(
                "<h1>{}</h1><dl>{rows}</dl>{}",
                esc(&ev.summary),
                button(&download, &tr("page-add-to-calendar"))
            )
        }
        Some(QrData::Wifi(w)) => {
            let security = match w.encryption {
                WifiEncryption::Wpa => "WPA/WPA2".to_owned(),
                WifiEncryption::Wep => "WEP".to_owned(),
                WifiEncryption::NoPass => tr("page-open-network"),
            };
            let pw = w.password.as_deref().unwrap_or("");
            let copy = if pw.is_empty() {
                String::new()
            } else {
                format!(
                    "<button class=\"btn\" id=\"copy\" data-pw=\"{}\" data-done=\"{}\" onclick=\"navigator.clipboard.writeText(this.dataset.pw);this.textContent=this.dataset.done\">{}</button>",
                    esc(pw),
                    esc(&tr("page-copied")),
                    esc(&tr("page-copy-password"))
                )
            };
            format!(
                "<h1>{}</h1><dl>{}{}{}</dl>{copy}<p class=\"muted\">{}</p>",
                esc(&l.t("page-wifi-heading", &[("ssid", arg(w.ssid.as_str()))])),
                row(&tr("page-network"), &w.ssid),
                row(&tr("page-security"), &security),
                if pw.is_empty() {
                    String::new()
                } else {
                    format!(
                        "<dt>{}</dt><dd><code id=\"pw\">{}</code></dd>",
                        esc(&tr("page-password-label")),
                        esc(pw)
                    )
                },
                esc(&tr("page-wifi-hint"))
            )
        }
        Some(QrData::Payment(p)) => {
            let amount = p
                .amount
                .as_deref()
                .map_or(tr("page-amount-open"), |a| format!("₹{a}"));
            let mut rows = row(&tr("page-amount"), &amount);
            for (l, v) in [
                ("page-for", &p.label),
                ("page-where", &p.location),
                ("page-note", &p.description),
            ] {
                if let Some(v) = v {
                    rows.push_str(&row(&tr(l), v));
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
                "<h1>{}</h1><dl>{rows}</dl>{}<p class=\"muted\">{}</p>",
                esc(&l.t("page-pay-heading", &[("payee", arg(payee))])),
                button(content, &tr("page-pay-with-upi")),
                esc(&tr("page-upi-hint"))
            )
        }
        Some(QrData::Text(t)) => format!(
            "<h1>{}</h1><p style=\"white-space:pre-wrap\">{}</p>",
            esc(&title(e)),
            esc(&t.text)
        ),
        Some(QrData::Email(m)) => format!(
            "<h1>{}</h1><dl>{}</dl>{}",
            esc(&title(e)),
            row(&tr("page-to"), &m.to),
            button(content, &tr("page-write-email"))
        ),
        Some(QrData::Phone(p)) => format!(
            "<h1>{}</h1><dl>{}</dl>{}",
            esc(&title(e)),
            row(&tr("page-number"), &p.number),
            button(content, &tr("page-call"))
        ),
        Some(QrData::Sms(s)) => {
            let href = format!(
                "sms:{}?body={}",
                s.number,
                s.message.as_deref().unwrap_or("")
            );
            format!(
                "<h1>{}</h1><dl>{}</dl>{}",
                esc(&title(e)),
                row(&tr("page-to"), &s.number),
                button(&href, &tr("page-send-sms"))
            )
        }
        Some(QrData::Geo(g)) => format!(
            "<h1>{}</h1><dl>{}</dl>{}",
            esc(&title(e)),
            row(&tr("page-location"), &format!("{}, {}", g.lat, g.lng)),
            button(content, &tr("page-open-in-maps"))
        ),
        Some(QrData::Url) | None => return not_found(l),
    };
    owned_page(StatusCode::OK, e, &title(e), &body)
}

/// The vCard or iCalendar file of a code.
pub fn download(e: &Entry) -> HttpResponse {
    let (mime, ext) = match e.data {
        Some(QrData::Vcard(_)) => ("text/vcard; charset=utf-8", "vcf"),
        Some(QrData::Event(_)) => ("text/calendar; charset=utf-8", "ics"),
        _ => return not_found(e.lang),
    };
    let Some(content) = &e.content else {
        return not_found(e.lang);
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
