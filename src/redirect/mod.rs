//! The `/r/{code}` hot path: resolve the code from the in-process cache (Postgres only on a
//! miss), answer a 302 or a landing page, and hand the scan to the in-process buffer. Nothing
//! here awaits ClickHouse, the queue or an actor.

pub mod cache;
pub mod lookups;
pub mod pages;
pub mod scans;
pub mod unlock;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use chrono::Utc;
use qrsaas_jobs::ScanEvent;
use uuid::Uuid;

use crate::client::{client_ip, client_ip_proxied, from_trusted_proxy};
use crate::codes;
use crate::db;
use crate::domain::rules::{self, Action, Device, Rule};
use crate::domain::utm::Utm;
use crate::domain::{Branding, QrData, QrType, ShortCode, WeightedTarget, pick_variant};
use crate::domains::hosts::{CustomSite, Site};
use crate::state::AppState;
use crate::telemetry::RouteLabel;

/// The `{short_code}` of the routes under `/r/` (they are routed by hand, see [`routes`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ShortCodeParam {
    /// The code's short code, as printed in its URL.
    #[allow(dead_code)]
    short_code: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    Active,
    Paused,
    Blocked,
}

/// What the redirect needs to know about a code, prepared once per cache fill.
#[derive(Debug)]
pub struct Entry {
    pub qr_id: Uuid,
    pub owner: Uuid,
    pub project_id: Option<Uuid>,
    pub short_code: String,
    pub name: String,
    pub qr_type: QrType,
    pub status: EntryStatus,
    /// Where url codes send the scanner, as the Location header's value (built once here, so a
    /// redirect without query parameters copies nothing).
    pub target: Option<HeaderValue>,
    /// Weighted targets of an A/B code (Location values, UTM applied) and their weights; empty
    /// for one target.
    pub variants: Vec<(HeaderValue, u32)>,
    /// The content a landing page offers (vCard, iCalendar, UPI URI, WIFI:, mailto: …).
    pub content: Option<String>,
    pub data: Option<QrData>,
    pub rules: Vec<Rule>,
    /// The owner's time zone, for rules with local hours.
    pub tz: chrono_tz::Tz,
    /// Scans known when the entry was loaded plus those this replica has served since: the
    /// count scan-limit rules compare against (exact per replica, approximate across replicas).
    pub scans: AtomicU64,
    /// Set when a rule asks for a password; signs the unlock cookie (see `unlock`).
    pub password_fingerprint: Option<[u8; 32]>,
    /// The owner's white-label look for the landing pages.
    pub brand: Branding,
    /// The owner turned IP anonymisation off.
    pub keep_ip: bool,
    /// The owner's language (`locale` setting), for the code's pages.
    pub lang: crate::i18n::Lang,
}

/// A cache entry: a code, or the knowledge that there is none (so floods of unknown codes do
/// not reach Postgres).
#[derive(Debug, Clone)]
pub enum Resolved {
    Found(Arc<Entry>),
    Missing,
}

async fn load(state: &AppState, code: &str) -> Result<Resolved, sqlx::Error> {
    let mut conn = state.db.acquire().await?;
    let Some(row) = db::qr_codes::by_short_code(&mut *conn, code).await? else {
        return Ok(Resolved::Missing);
    };
    // Static codes never reach /r/ from their image; a static code with a short code still
    // resolves (it was created with one), which keeps old links stable if a code turns static.
    let (Some(owner), Some(qr_type)) = (row.user_id, QrType::parse(&row.qr_type)) else {
        return Ok(Resolved::Missing);
    };
    // A suspended account's codes answer the "disabled" page, as blocked codes do: suspension
    // is an operator's measure (abuse, fraud), and a code that kept sending people on would
    // defeat it. Lifting the suspension brings them back as they were.
    let status = match row.status.as_str() {
        "paused" => EntryStatus::Paused,
        "blocked" => EntryStatus::Blocked,
        _ if db::users::is_suspended(&mut *conn, owner).await? => EntryStatus::Blocked,
        _ => EntryStatus::Active,
    };
    let content = match qr_type {
        QrType::Url => None,
        _ => codes::landing_content(&mut conn, &row).await.ok(),
    };
    let prefs = db::settings::get(&mut *conn, owner).await?;
    let tz = prefs.timezone.parse().unwrap_or(chrono_tz::UTC);
    // UTM parameters are applied once here, so the hot path only copies the finished URLs.
    let utm: Utm = serde_json::from_value(row.utm.clone()).unwrap_or_default();
    let mut rules: Vec<Rule> = serde_json::from_value(row.rules.clone()).unwrap_or_default();
    for r in &mut rules {
        match &mut r.then {
            Action::Redirect(url) => *url = utm.apply(url),
            Action::Split(list) => list.iter_mut().for_each(|t| t.url = utm.apply(&t.url)),
            _ => {}
        }
    }
    Ok(Resolved::Found(Arc::new(Entry {
        qr_id: row.id,
        owner,
        project_id: row.project_id,
        data: codes::stored_data(&row).ok(),
        short_code: row.short_code,
        name: row.name.unwrap_or_default(),
        qr_type,
        status,
        // Targets are validated http(s) URLs when saved; one that is not a valid header value
        // (cannot happen) would answer the landing page rather than a broken redirect.
        target: row
            .target_url
            .and_then(|t| HeaderValue::try_from(utm.apply(&t)).ok()),
        variants: row
            .targets
            .and_then(|t| serde_json::from_value::<Vec<WeightedTarget>>(t).ok())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((HeaderValue::try_from(utm.apply(&t.url)).ok()?, t.weight)))
            .collect(),
        content,
        password_fingerprint: unlock::fingerprint(&rules),
        brand: serde_json::from_value(prefs.branding).unwrap_or_default(),
        keep_ip: !prefs.anonymize_ip,
        lang: crate::i18n::Lang::from_tag(&prefs.locale),
        rules,
        tz,
        scans: AtomicU64::new(row.scans_total.max(0) as u64),
    })))
}

/// The target with the scan's own query parameters appended (the target's come first).
fn forward_query(target: &str, query: &str) -> String {
    if query.is_empty() {
        return target.to_owned();
    }
    let (base, fragment) = match target.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (target, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    match fragment {
        Some(f) => format!("{base}{sep}{query}#{f}"),
        None => format!("{base}{sep}{query}"),
    }
}

/// `v` cut to at most `max` bytes: values come from `HeaderValue::to_str`, which admits only
/// ASCII, so any cut is a char boundary.
fn clipped(v: &str, max: usize) -> &str {
    &v[..v.len().min(max)]
}

/// A header's value, at most `max` bytes; empty when absent or not ASCII.
fn header_str(req: &HttpRequest, name: impl header::AsHeaderName, max: usize) -> &str {
    let v = req.headers().get(name).and_then(|v| v.to_str().ok());
    v.map_or("", |v| clipped(v, max))
}

/// The first of the geo headers `names` present, when the request came through a trusted proxy
/// (`proxied`, see [`from_trusted_proxy`]: anyone can send CF-IPCountry).
fn geo<'r>(req: &'r HttpRequest, proxied: bool, names: &[&str]) -> Option<&'r str> {
    if !proxied {
        return None;
    }
    names
        .iter()
        .find_map(|n| req.headers().get(*n).and_then(|v| v.to_str().ok()))
        .map(|v| clipped(v, 64))
}

const COUNTRY_HEADERS: &[&str] = &[
    "cf-ipcountry",
    "x-country-code",
    "cloudfront-viewer-country",
];

/// A UUIDv7 for a scan at `at`: the scan's own time and 74 random bits. (`Uuid::now_v7` reads
/// the clock again and takes a process-wide lock for a counter that orders ids within a
/// millisecond, which nothing here needs.)
fn event_id(at: chrono::DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(at.timestamp()).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        secs,
        at.timestamp_subsec_nanos(),
    ))
}

/// The variant (1-based) of an A/B code a visitor gets: the same all day for the same address
/// and agent (the inputs of the daily visitor hash), on every replica (`DefaultHasher::new`
/// has fixed keys), spread by the weights.
fn variant_of<I>(state: &AppState, req: &HttpRequest, e: &Entry, weights: I) -> usize
where
    I: IntoIterator<Item = u32>,
    I::IntoIter: Clone,
{
    use std::hash::{Hash, Hasher};
    let trusted = &state.settings.trusted_proxies;
    let ip = client_ip_proxied(req, from_trusted_proxy(req, trusted), trusted);
    let mut h = std::hash::DefaultHasher::new();
    (Utc::now().timestamp() / 86_400).hash(&mut h);
    ip.hash(&mut h);
    header_str(req, header::USER_AGENT, 512).hash(&mut h);
    e.qr_id.hash(&mut h);
    pick_variant(weights, h.finish())
}

fn emit_scan(state: &AppState, req: &HttpRequest, e: &Entry, variant: u8) {
    e.scans.fetch_add(1, Ordering::Relaxed);
    let trusted = &state.settings.trusted_proxies;
    let proxied = from_trusted_proxy(req, trusted);
    let at = Utc::now();
    // Every string is borrowed from the entry or the request: the buffer packs the scan as is.
    state.scans.push(&ScanEvent {
        event_id: event_id(at),
        qr_id: e.qr_id,
        owner_id: e.owner,
        project_id: e.project_id,
        short_code: &e.short_code,
        at,
        ip: client_ip_proxied(req, proxied, trusted),
        user_agent: header_str(req, header::USER_AGENT, 512),
        referer: header_str(req, header::REFERER, 512),
        country: geo(req, proxied, COUNTRY_HEADERS),
        city: geo(req, proxied, &["x-city", "cloudfront-viewer-city"]),
        keep_ip: e.keep_ip,
        variant,
    });
}

/// The code as the request's host may see it: on a customer's domain only that customer's codes
/// exist (another tenant's code there is unknown, whatever the cache holds).
async fn resolve(state: &AppState, req: &HttpRequest, code: &str) -> Result<Resolved, Unresolved> {
    let r = lookup(state, req, code).await?;
    let custom = custom_site(req).map(|s| s.owner);
    Ok(match (r, custom) {
        (Resolved::Found(e), Some(owner)) if e.owner != owner => Resolved::Missing,
        (r, _) => r,
    })
}

/// The customer's domain the request arrived on, if any.
fn custom_site(req: &HttpRequest) -> Option<Arc<CustomSite>> {
    match req.extensions().get::<Site>() {
        Some(Site::Custom(site)) => Some(site.clone()),
        _ => None,
    }
}

/// No code here: on a customer's domain, where its owner sends such visitors (its root, or
/// unknown codes), else the 404 page. Not a scan.
fn no_code(req: &HttpRequest, root: bool) -> HttpResponse {
    let to = custom_site(req).and_then(|s| {
        if root {
            s.root.clone()
        } else {
            s.not_found.clone()
        }
    });
    match to {
        Some(location) => found(Some(location)),
        None => pages::not_found(pages::visitor_lang(req)),
    }
}

async fn lookup(state: &AppState, req: &HttpRequest, code: &str) -> Result<Resolved, Unresolved> {
    let cache = &state.redirects;
    if let Some(r) = cache.get(code) {
        return Ok(r);
    }
    // Not cached: a query. A client that keeps asking for codes that do not exist has a
    // budget of such lookups (made-up codes must not turn into unlimited queries).
    let ip = client_ip(req, &state.settings.trusted_proxies);
    if let Some(ip) = ip
        && !state.lookups.allows(ip)
    {
        metrics::counter!("redirect_lookups_refused_total").increment(1);
        return Err(Unresolved::OverBudget);
    }
    let epoch = cache.epoch();
    // Boxed: the load's future (sqlx's) is kilobytes, and inline it would make every
    // redirect's future that big — actix moves each handler's future into a box, a copy that
    // cost a cached redirect a sixth of its instructions.
    match Box::pin(load(state, code)).await {
        Ok(r) => {
            if let (Resolved::Missing, Some(ip)) = (&r, ip) {
                state.lookups.spend(ip);
            }
            cache.insert(epoch, code.to_owned(), r.clone());
            Ok(r)
        }
        Err(e) => {
            metrics::counter!("redirect_store_errors_total").increment(1);
            tracing::warn!(error = %e, "redirect: code not cached and Postgres unavailable");
            Err(Unresolved::Unavailable)
        }
    }
}

/// Why a code could not be looked up.
#[derive(Debug, Clone, Copy)]
enum Unresolved {
    /// Not cached and Postgres unreachable.
    Unavailable,
    /// The client spent its budget of uncached lookups.
    OverBudget,
}

impl Unresolved {
    fn page(self, req: &HttpRequest) -> HttpResponse {
        let lang = pages::visitor_lang(req);
        match self {
            Unresolved::Unavailable => pages::unavailable(lang),
            Unresolved::OverBudget => pages::too_many_lookups(lang),
        }
    }
}

/// Everything under `/r/`, routed here by hand: to actix's router `/r/{short_code}` is a
/// pattern (a regex and its captures: 4 % of a redirect's CPU in a profile), here it is a
/// prefix and a split. Other paths and methods under `/r/` get the API's usual 404.
pub fn routes() -> actix_web::Scope {
    web::scope("/r").default_service(web::to(dispatch))
}

async fn dispatch(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let path = req.match_info().unprocessed();
    let Some(path) = path.strip_prefix('/') else {
        return actix_web::ResponseError::error_response(&crate::error::ApiError::NotFound);
    };
    let (code, tail) = match path.split_once('/') {
        Some((code, tail)) => (code, Some(tail)),
        None => (path, None),
    };
    let method = req.method();
    let page = match (tail, method) {
        (None, &Method::GET) => Page::Scan { count: true },
        // Link checkers and unfurlers: the same answer, the body dropped by the HTTP layer,
        // and no scan counted.
        (None, &Method::HEAD) => Page::Scan { count: false },
        (None, &Method::POST) => Page::Unlock,
        (Some("download"), &Method::GET | &Method::HEAD) => Page::Download,
        (Some("logo"), &Method::GET | &Method::HEAD) => Page::Logo,
        (Some("report"), &Method::GET | &Method::HEAD) => Page::ReportForm,
        (Some("report"), &Method::POST) => Page::Report,
        (None | Some("report"), _) => return not_allowed("GET, HEAD, POST"),
        (Some("download" | "logo"), _) => return not_allowed("GET, HEAD"),
        _ => return pages::not_found(pages::visitor_lang(&req)),
    };
    req.extensions_mut().insert(RouteLabel(page.route()));
    let Some(code) = ShortCode::from_path(code) else {
        return match page {
            Page::Scan { .. } => no_code(&req, code.is_empty()),
            _ => pages::not_found(pages::visitor_lang(&req)),
        };
    };
    match page {
        Page::Scan { count } => scan(&state, &req, code, count).await,
        Page::Download => download(&state, &req, code).await,
        Page::Logo => logo(&state, &req, code).await,
        Page::ReportForm => report_form(&state, &req, code).await,
        Page::Report => {
            match web::Form::<ReportForm>::from_request(&req, &mut payload.into_inner()).await {
                Ok(form) => report(&state, &req, code, form.into_inner()).await,
                Err(e) => pages::error(
                    e.as_response_error().status_code(),
                    "This form could not be read. Go back and try again.",
                ),
            }
        }
        Page::Unlock => {
            match web::Form::<unlock::PasswordForm>::from_request(&req, &mut payload.into_inner())
                .await
            {
                Ok(form) => unlock::submit(&state, &req, code, form.into_inner()).await,
                // Not a form, or one without a password: a page, not actix's plain text.
                Err(e) => pages::error(
                    e.as_response_error().status_code(),
                    "This form could not be read. Go back and enter the password again.",
                ),
            }
        }
    }
}

/// 405 as a page (every path here is one), with the methods the path answers.
fn not_allowed(allow: &'static str) -> HttpResponse {
    let message = format!("method not allowed here; allowed: {allow}");
    let mut res = pages::error(StatusCode::METHOD_NOT_ALLOWED, &message);
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

enum Page {
    Scan { count: bool },
    Unlock,
    Download,
    Logo,
    ReportForm,
    Report,
}

/// The report form (`application/x-www-form-urlencoded`).
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct ReportForm {
    /// phishing, malware, spam, illegal or other
    reason: String,
    /// What happened (at most 2,000 characters).
    details: Option<String>,
}

/// The "Report this code" form a landing page links to.
#[utoipa::path(get, path = "/r/{short_code}/report", tag = "public", params(ShortCodeParam),
    responses((status = 200, content_type = "text/html", description = "The form"),
    (status = 404, content_type = "text/html", description = "Unknown code")))]
async fn report_form(state: &AppState, req: &HttpRequest, code: ShortCode) -> HttpResponse {
    match resolve(state, req, code.as_str()).await {
        Ok(Resolved::Found(_)) => pages::report_form(pages::visitor_lang(req), code.as_str(), None),
        Ok(Resolved::Missing) => pages::not_found(pages::visitor_lang(req)),
        Err(why) => why.page(req),
    }
}

/// "Report this code" from a landing page: into the operator's queue (never a scan).
#[utoipa::path(post, path = "/r/{short_code}/report", tag = "public", params(ShortCodeParam),
    request_body(content = ReportForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/html", description = "Thank-you page"),
    (status = 404, description = "Unknown code"), (status = 422, content_type = "text/html", description = "The form again, with the problem"),
    (status = 400, content_type = "text/html", description = "The form could not be read"),
    (status = 415, content_type = "text/html", description = "Not a form"),
    (status = 429, description = "Too many reports from this address")))]
async fn report(
    state: &AppState,
    req: &HttpRequest,
    code: ShortCode,
    f: ReportForm,
) -> HttpResponse {
    match resolve(state, req, code.as_str()).await {
        Ok(Resolved::Found(_)) => {}
        Ok(Resolved::Missing) => return pages::not_found(pages::visitor_lang(req)),
        Err(why) => return why.page(req),
    }
    let ip = client_ip(req, &state.settings.trusted_proxies)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    match crate::abuse::reports::file(state, code.as_str(), &f.reason, f.details.as_deref(), &ip)
        .await
    {
        Ok(_) => pages::report_thanks(pages::visitor_lang(req)),
        Err(crate::error::ApiError::NotFound) => pages::not_found(pages::visitor_lang(req)),
        Err(crate::error::ApiError::Validation(errors)) => {
            let why = errors.values().next().cloned().unwrap_or_default();
            let mut page = pages::report_form(pages::visitor_lang(req), code.as_str(), Some(&why));
            *page.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
            page
        }
        Err(e) => pages::error(
            actix_web::ResponseError::status_code(&e),
            "Your report could not be taken just now. Please try again later.",
        ),
    }
}

impl Page {
    /// The route pattern, for metrics (as the router would have named it).
    fn route(&self) -> &'static str {
        match self {
            Page::Scan { .. } | Page::Unlock => "/r/{short_code}",
            Page::Download => "/r/{short_code}/download",
            Page::Logo => "/r/{short_code}/logo",
            Page::ReportForm | Page::Report => "/r/{short_code}/report",
        }
    }
}

/// A scan of a printed code.
///
/// On a customer's verified domain (`/api/v1/domains`) every path is a code's: `/{short_code}`
/// answers as `/r/{short_code}` does (and `/{short_code}/download`, `/logo`, `/report` as
/// theirs), chosen by the request's `Host`, and only that domain owner's codes are found there —
/// another account's code answers 404.
#[utoipa::path(get, path = "/r/{short_code}", tag = "public", params(ShortCodeParam), responses(
    (status = 302, description = "URL codes: redirect to the target"),
    (status = 200, content_type = "text/html", description = "Landing page (vCard, Wi-Fi, event, payment …) or paused page"),
    (status = 404, description = "Unknown or deleted code"), (status = 410, description = "Blocked by an administrator"),
    (status = 503, description = "Not cached and the database is unreachable")))]
async fn scan(state: &AppState, req: &HttpRequest, code: ShortCode, count: bool) -> HttpResponse {
    let entry = match resolve(state, req, code.as_str()).await {
        Err(why) => return why.page(req),
        Ok(Resolved::Missing) => return no_code(req, false),
        Ok(Resolved::Found(e)) => e,
    };
    match entry.status {
        EntryStatus::Blocked => return pages::blocked(pages::visitor_lang(req)),
        EntryStatus::Paused => return pages::paused(&entry),
        EntryStatus::Active => {}
    }
    match ruled(state, req, &entry) {
        // Pages of a rule (expired, limit, password form) are not scans; the GET after the
        // correct password is.
        Ruled::Page(page) => return page,
        Ruled::Redirect(url, variant) => {
            if count {
                emit_scan(state, req, &entry, variant);
            }
            return found(HeaderValue::try_from(forward_query(url, req.query_string())).ok());
        }
        Ruled::Through => {}
    }
    if !entry.variants.is_empty() {
        let v = variant_of(state, req, &entry, entry.variants.iter().map(|(_, w)| *w));
        if count {
            emit_scan(state, req, &entry, v as u8);
        }
        return found(with_query(&entry.variants[v - 1].0, req.query_string()));
    }
    if count {
        emit_scan(state, req, &entry, 0);
    }
    match (&entry.qr_type, &entry.target) {
        (QrType::Url, Some(target)) => found(with_query(target, req.query_string())),
        _ => pages::landing(&entry),
    }
}

/// The code's rules applied to one request.
enum Ruled<'e> {
    /// A rule shows a page instead (expired, limit reached, password form).
    Page(HttpResponse),
    /// A rule redirects (to this variant of its split, when it splits; else 0).
    Redirect(&'e str, u8),
    /// No rule applies: the code's own content.
    Through,
}

fn ruled<'e>(state: &AppState, req: &HttpRequest, e: &'e Entry) -> Ruled<'e> {
    if e.rules.is_empty() {
        return Ruled::Through;
    }
    let unlocked = unlock::unlocked(state, req, e);
    match rules::evaluate(&e.rules, &rule_scan(state, req, e, unlocked)) {
        Some(Action::Expired) => Ruled::Page(pages::expired(e)),
        Some(Action::LimitReached) => Ruled::Page(pages::limit_reached(e)),
        Some(Action::Password(_)) => Ruled::Page(pages::password(e, pages::PasswordProblem::None)),
        Some(Action::Redirect(url)) => Ruled::Redirect(url, 0),
        Some(Action::Split(list)) => {
            let v = variant_of(state, req, e, list.iter().map(|t| t.weight));
            Ruled::Redirect(&list[v - 1].url, v as u8)
        }
        None => Ruled::Through,
    }
}

/// What the rules see of this request.
fn rule_scan(state: &AppState, req: &HttpRequest, entry: &Entry, unlocked: bool) -> rules::Scan {
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    rules::Scan {
        device: Device::of(ua),
        country: geo(
            req,
            from_trusted_proxy(req, &state.settings.trusted_proxies),
            COUNTRY_HEADERS,
        )
        .map(str::to_owned),
        now: Utc::now(),
        tz: entry.tz,
        scans: entry.scans.load(Ordering::Relaxed),
        unlocked,
    }
}

/// The prepared target, or a new value with the scan's query parameters forwarded.
fn with_query(target: &HeaderValue, query: &str) -> Option<HeaderValue> {
    if query.is_empty() {
        return Some(target.clone());
    }
    // Built from a String, so UTF-8 (`to_str` would refuse non-ASCII).
    let target = std::str::from_utf8(target.as_bytes()).ok()?;
    HeaderValue::try_from(forward_query(target, query)).ok()
}

/// 302 to `location`; `None` (a query that cannot be a header value) is a 400.
fn found(location: Option<HeaderValue>) -> HttpResponse {
    static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
    match location {
        Some(l) => {
            // Built directly: the response builder's header conversions and error slot are
            // not needed for two values already made.
            let mut res = HttpResponse::new(StatusCode::FOUND);
            let headers = res.headers_mut();
            headers.insert(header::LOCATION, l);
            headers.insert(header::CACHE_CONTROL, NO_STORE.clone());
            res
        }
        None => HttpResponse::BadRequest().finish(),
    }
}

/// The file behind a landing page's download button (vCard or iCalendar). Not a scan.
#[utoipa::path(get, path = "/r/{short_code}/download", tag = "public", params(ShortCodeParam), responses(
    (status = 200, description = "text/vcard or text/calendar"), (status = 404, description = "No file for this code")))]
async fn download(state: &AppState, req: &HttpRequest, code: ShortCode) -> HttpResponse {
    match resolve(state, req, code.as_str()).await {
        // The file is the landing page's content: the same rules guard it.
        Ok(Resolved::Found(e)) if e.status == EntryStatus::Active => match ruled(state, req, &e) {
            Ruled::Page(page) => page,
            _ => pages::download(&e),
        },
        Ok(Resolved::Found(e)) if e.status == EntryStatus::Paused => pages::paused(&e),
        Ok(Resolved::Found(_)) => pages::blocked(pages::visitor_lang(req)),
        Ok(Resolved::Missing) => pages::not_found(pages::visitor_lang(req)),
        Err(why) => why.page(req),
    }
}

/// The owner's logo on the code's pages (white-label). Not a scan.
#[utoipa::path(get, path = "/r/{short_code}/logo", tag = "public", params(ShortCodeParam), responses(
    (status = 200, content_type = "image/png", description = "The owner's logo"), (status = 404, description = "No logo")))]
async fn logo(state: &AppState, req: &HttpRequest, code: ShortCode) -> HttpResponse {
    let Ok(Resolved::Found(e)) = resolve(state, req, code.as_str()).await else {
        return pages::not_found(pages::visitor_lang(req));
    };
    let Some(id) = e.brand.logo_upload_id else {
        return pages::not_found(pages::visitor_lang(req));
    };
    match crate::codes::uploads::read(state, e.owner, id).await {
        Ok((_, bytes)) => HttpResponse::Ok()
            .content_type("image/png")
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(bytes),
        Err(_) => pages::not_found(pages::visitor_lang(req)),
    }
}

#[cfg(test)]
mod tests {
    use super::{event_id, forward_query};

    #[test]
    fn event_ids_carry_the_scan_time_and_differ() {
        let at = chrono::Utc::now();
        let (a, b) = (event_id(at), event_id(at));
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 7);
        let (secs, nanos) = a.get_timestamp().unwrap().to_unix();
        assert_eq!(
            secs * 1000 + u64::from(nanos) / 1_000_000,
            at.timestamp_millis() as u64
        );
    }

    #[test]
    fn query_is_forwarded_after_the_targets_own() {
        assert_eq!(forward_query("https://a.io/x", ""), "https://a.io/x");
        assert_eq!(forward_query("https://a.io/x", "s=1"), "https://a.io/x?s=1");
        assert_eq!(
            forward_query("https://a.io/x?t=2", "s=1"),
            "https://a.io/x?t=2&s=1"
        );
        assert_eq!(
            forward_query("https://a.io/x?t=2#top", "s=1"),
            "https://a.io/x?t=2&s=1#top"
        );
    }
}
