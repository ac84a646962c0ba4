//! Custom short domains: an account adds its own domain, proves control of it — a TXT record
//! `_qrsaas.<domain>` = `qrsaas-verify=<token>`, or the token served at
//! `http://<domain>/.well-known/qrsaas/<token>` — and the reverse proxy may then get it a
//! certificate (`tls_allowed`, Caddy's on-demand TLS `ask`). A domain that stops verifying is
//! flagged `failing`, not dropped.
//!
//! DNS questions go to the configured servers (`QRSAAS_DOMAINS__DNS_SERVERS`), else the
//! system's resolver; the HTTP check goes through the guarded outbound client.

pub mod hosts;

use std::time::Duration;

use futures::StreamExt;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::billing::limits::{self, Ask};
use crate::config::Settings;
use crate::db;
use crate::db::domains::DomainRow;
use crate::domain::plan::Feature;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The name of a domain's verification record.
pub fn txt_name(domain: &str) -> String {
    format!("_qrsaas.{domain}")
}

/// The value its verification record must hold.
pub fn txt_value(token: &str) -> String {
    format!("qrsaas-verify={token}")
}

/// Where the HTTP check looks for the token.
pub fn http_path(token: &str) -> String {
    format!("/.well-known/qrsaas/{token}")
}

/// A domain as it may be added: a DNS name (IDNA to ASCII, lower case, no trailing dot) with at
/// least two labels; not an address, not this service's own host.
pub fn parse_domain(raw: &str, settings: &Settings) -> Result<String, String> {
    let raw = raw.trim().trim_end_matches('.');
    let host = url::Host::parse(raw).map_err(|_| "is not a domain name".to_owned())?;
    let url::Host::Domain(d) = host else {
        return Err("must be a domain name, not an address".into());
    };
    let d = d.to_ascii_lowercase();
    if d.len() > 253 || !d.contains('.') || d.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err("is not a domain name".into());
    }
    let own = url::Url::parse(&settings.public_base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    if own.as_deref() == Some(d.as_str()) {
        return Err("is this service's own domain".into());
    }
    Ok(d)
}

fn resolver(settings: &Settings) -> anyhow::Result<TokioResolver> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = if settings.domains.dns_servers.is_empty() {
        Resolver::builder(provider)?
    } else {
        let servers = settings
            .domains
            .dns_servers
            .iter()
            .map(|s| {
                let mut udp = ConnectionConfig::udp();
                udp.port = s.port();
                NameServerConfig::new(s.ip(), true, vec![udp])
            })
            .collect();
        Resolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
    };
    // A verification is asked for now: no answer remembered from a minute ago.
    builder.options_mut().cache_size = 0;
    builder.options_mut().timeout = Duration::from_secs(5);
    Ok(builder.build()?)
}

/// Whether the domain's TXT record holds the token.
async fn txt_holds(settings: &Settings, domain: &str, token: &str) -> Result<bool, String> {
    let r = resolver(settings).map_err(|e| e.to_string())?;
    let want = txt_value(token);
    match r.txt_lookup(format!("{}.", txt_name(domain))).await {
        Ok(lookup) => Ok(lookup.answers().iter().any(|rec| match &rec.data {
            RData::TXT(txt) => {
                let text: Vec<u8> = txt
                    .txt_data
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect();
                String::from_utf8_lossy(&text) == want
            }
            _ => false,
        })),
        Err(e) => Err(format!("no TXT record {}: {e}", txt_name(domain))),
    }
}

/// Whether `http://<domain>/.well-known/qrsaas/<token>` answers the token.
/// The name is resolved by the same DNS servers as the TXT check, and the address must pass the
/// outbound guard like any URL a user gives us.
async fn http_holds(settings: &Settings, domain: &str, token: &str) -> Result<bool, String> {
    let dns = (!settings.domains.dns_servers.is_empty())
        .then(|| resolver(settings))
        .transpose()
        .map_err(|e| e.to_string())?;
    let client = crate::outbound::Outbound::resolving_with(
        crate::outbound::Guard::new(settings.webhooks.allowed_cidrs.clone()),
        Duration::from_secs(5),
        dns,
    )
    .map_err(|e| e.to_string())?;
    let port = settings.domains.http_port;
    let url = url::Url::parse(&format!("http://{domain}:{port}{}", http_path(token)))
        .map_err(|e| e.to_string())?;
    let res = client.get(&url)?.send().await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Ok(false);
    }
    let body = res.text().await.map_err(|e| e.to_string())?;
    Ok(body.trim() == token)
}

/// Adds a domain to the account (pending until verified).
pub async fn add(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    raw: &str,
) -> ApiResult<DomainRow> {
    let domain =
        parse_domain(raw, &state.settings).map_err(|why| ApiError::field("domain", why))?;
    let mut tx = state.db.begin().await?;
    limits::require(&mut tx, &state.billing, p.user.id, Feature::CustomDomains).await?;
    let _ = limits::admit(&mut tx, state, p.user.id, Ask::Domain, chrono::Utc::now()).await?;
    let token = crate::accounts::secrets::random_token()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect::<String>();
    let row = match db::domains::insert(&mut *tx, Uuid::now_v7(), p.user.id, &domain, &token).await
    {
        Ok(r) => r,
        Err(e) if db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict {
                code: "domain_taken",
                message: "this domain is already added to an account".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created(
            "domain.create",
            "domain",
            row.id,
            &serde_json::json!({"domain": domain}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn list(state: &AppState, p: &Principal) -> ApiResult<Vec<DomainRow>> {
    Ok(db::domains::list(&state.db, p.user.id).await?)
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> ApiResult<DomainRow> {
    db::domains::get(&state.db, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Removes a domain no code uses (moving codes off it is the owner's choice: their printed
/// URLs would change).
pub async fn remove(state: &AppState, origin: &Origin, p: &Principal, id: Uuid) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let n = db::domains::codes_using(&mut *tx, p.user.id, id).await?;
    if n > 0 {
        return Err(ApiError::Conflict {
            code: "domain_in_use",
            message: format!(
                "{n} code(s) use this domain; move them to another domain (PATCH domain_id) first"
            ),
        });
    }
    if !db::domains::delete(&mut *tx, p.user.id, id).await? {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::event("domain.delete", "domain", id),
    )
    .await?;
    tx.commit().await?;
    served_changed(state).await;
    Ok(())
}

/// After a domain's status or existence changed: every replica's host map reloads; this one
/// before the caller answers, so its own next request sees the change.
pub async fn served_changed(state: &AppState) {
    state.bus.publish(crate::cache::Invalidate::Domains).await;
    if let Err(e) = state.hosts.reload(&state.db).await {
        tracing::warn!(error = %e, "domain map: reload after a change failed; retrying shortly");
    }
}

/// Checks the domain now (DNS TXT first, then the HTTP token) and records the outcome.
pub async fn verify(state: &AppState, p: &Principal, id: Uuid) -> ApiResult<DomainRow> {
    let d = get(state, p, id).await?;
    check(state, &d).await
}

/// Checks a domain now and records the outcome (the API's verify, the periodic re-check).
async fn check(state: &AppState, d: &DomainRow) -> ApiResult<DomainRow> {
    let dns = txt_holds(&state.settings, &d.domain, &d.token).await;
    let error = match dns {
        Ok(true) => None,
        dns => match http_holds(&state.settings, &d.domain, &d.token).await {
            Ok(true) => None,
            http => Some(format!(
                "{}; {}",
                match dns {
                    Ok(_) => format!(
                        "TXT {} does not hold {}",
                        txt_name(&d.domain),
                        txt_value(&d.token)
                    ),
                    Err(e) => e,
                },
                match http {
                    Ok(_) => format!(
                        "http://{}{} does not answer the token",
                        d.domain,
                        http_path(&d.token)
                    ),
                    Err(e) => format!("http check: {e}"),
                }
            )),
        },
    };
    record(state, d, error.as_deref()).await
}

/// How many served domains one pass of the periodic re-check looks at.
const RECHECK_BATCH: i64 = 100;

/// The periodic re-check (a `MaintenanceTask`): served domains not checked for a day are
/// checked again; one that no longer verifies is flagged `failing` (and keeps serving: the
/// owner is told by its status and error), one that verifies again is `verified` again.
/// Returns how many were checked.
pub async fn recheck_due(state: &AppState) -> anyhow::Result<usize> {
    let before = chrono::Utc::now() - chrono::Duration::hours(24);
    let due = db::domains::due_for_check(&state.db, before, RECHECK_BATCH).await?;
    // A few at a time: each check may wait seconds on a slow DNS server or web host.
    futures::stream::iter(&due)
        .for_each_concurrent(8, |d| async move {
            if let Err(e) = check(state, d).await {
                tracing::warn!(domain = %d.domain, error = %e, "domain re-check could not be recorded");
            }
        })
        .await;
    Ok(due.len())
}

/// Records a check's outcome; the host map follows when the domain's standing changed. The
/// owner is e-mailed when a verified domain turns failing — once: the status read under the
/// row's lock decides, so two checks racing cannot both announce it.
async fn record(state: &AppState, d: &DomainRow, error: Option<&str>) -> ApiResult<DomainRow> {
    let mut tx = state.db.begin().await?;
    let Some(before) = db::domains::lock_status(&mut *tx, d.id).await? else {
        return Err(ApiError::NotFound);
    };
    let row = match db::domains::record_check(&mut *tx, d.id, error).await {
        Ok(row) => row,
        Err(e) if db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict {
                code: "domain_taken",
                message: "another account has verified this domain".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let mut email = None;
    if before == "verified"
        && row.status == "failing"
        && let Some(owner) = db::users::by_id(&mut *tx, row.user_id).await?
    {
        email = Some(crate::notify::emails::domain_failing(&mut tx, state, &owner, &row).await?);
    }
    tx.commit().await?;
    if let Some(id) = email {
        crate::notify::emails::dispatch(state, id).await;
    }
    if row.status != before {
        served_changed(state).await;
    }
    Ok(row)
}

/// A change of a domain (the API's PATCH). `root_url` / `not_found_url`: `None` keeps,
/// `Some(None)` clears, `Some(Some(url))` sets where the domain's root and its unknown codes
/// send visitors.
pub struct DomainChange {
    /// Make it the account's default (it must be verified).
    pub default: bool,
    pub root_url: Option<Option<String>>,
    pub not_found_url: Option<Option<String>>,
}

/// Applies `c` whole or not at all: everything is checked before anything is written, so a
/// bad redirect URL does not leave the default moved.
pub async fn update(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
    c: DomainChange,
) -> ApiResult<DomainRow> {
    let d = get(state, p, id).await?;
    if c.default && d.status != "verified" {
        return Err(ApiError::Conflict {
            code: "domain_not_verified",
            message: "verify the domain before making it the default".into(),
        });
    }
    let redirects = c.root_url.is_some() || c.not_found_url.is_some();
    // Redirect URLs are checked as code targets are: http(s), never back to this service.
    let own = crate::codes::target_policy(state);
    let check = |field: &str, asked: Option<Option<String>>, current: Option<String>| match asked {
        None => Ok(current),
        Some(None) => Ok(None),
        Some(Some(u)) => crate::domain::TargetUrl::parse(&u, &own)
            .map(|t| Some(t.as_str().to_owned()))
            .map_err(|why| ApiError::field(field, why)),
    };
    let root = check("root_url", c.root_url, d.root_url.clone())?;
    let not_found = check("not_found_url", c.not_found_url, d.not_found_url.clone())?;
    let mut tx = state.db.begin().await?;
    if c.default {
        db::domains::set_default(&mut tx, p.user.id, id).await?;
    }
    if redirects {
        // Redirects are destinations like a code's: a blocked one is refused here too.
        let urls: Vec<(String, &str)> = [("root_url", &root), ("not_found_url", &not_found)]
            .into_iter()
            .filter_map(|(f, u)| u.as_deref().map(|u| (f.to_owned(), u)))
            .collect();
        crate::abuse::blocklist::refuse_blocked(&mut tx, state, &urls).await?;
        if !db::domains::set_redirects(
            &mut *tx,
            p.user.id,
            id,
            root.as_deref(),
            not_found.as_deref(),
        )
        .await?
        {
            return Err(ApiError::NotFound);
        }
        audit::record(
            &mut tx,
            &origin.actor(Some(p)),
            Change::updated(
                "domain.update",
                "domain",
                id,
                &serde_json::json!({"root_url": d.root_url, "not_found_url": d.not_found_url}),
                &serde_json::json!({"root_url": root, "not_found_url": not_found}),
            ),
        )
        .await?;
    }
    tx.commit().await?;
    if redirects {
        served_changed(state).await;
    }
    get(state, p, id).await
}

/// Whether `host` was given `token` (the HTTP check, answered by this service on the host).
pub async fn answers_token(state: &AppState, host: &str, token: &str) -> ApiResult<bool> {
    if token.len() > 64 {
        return Ok(false);
    }
    Ok(db::domains::has_token(&state.db, host, token).await?)
}

/// Whether the reverse proxy may get a certificate for `domain`: verified domains only.
pub async fn tls_allowed(state: &AppState, domain: &str) -> ApiResult<bool> {
    let Ok(d) = parse_domain(domain, &state.settings) else {
        return Ok(false);
    };
    Ok(db::domains::is_verified(&state.db, &d).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_names_in_ascii_lower_case() {
        let s = Settings::default();
        assert_eq!(
            parse_domain("Go.Example.COM.", &s).unwrap(),
            "go.example.com"
        );
        assert_eq!(
            parse_domain("bücher.example", &s).unwrap(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "localhost",
            "127.0.0.1",
            "[::1]",
            "a..b",
            "http://x.example",
            "127.0.0.1:8080",
            "",
        ] {
            assert!(parse_domain(bad, &s).is_err(), "{bad}");
        }
    }
}
