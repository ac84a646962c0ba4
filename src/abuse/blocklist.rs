//! Blocked destinations. An entry is a host (`evil.example` blocks it and every subdomain) or a
//! pattern with `*` matched against the whole host (`*paypal*`). Entries come from the API
//! (Postgres, shared by every replica) and from a file named in configuration (one per line,
//! `#` comments), read at start-up.

use uuid::Uuid;

use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Normalises an entry: lower case, no trailing dot; a host or a `*` pattern of host
/// characters.
pub fn parse_pattern(raw: &str) -> Result<String, String> {
    let p = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !p.is_empty()
        && p.len() <= 253
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'*' | b'_'))
        && p != "*";
    if ok {
        Ok(p)
    } else {
        Err("must be a host name, or a pattern of host characters with *".into())
    }
}

/// Whether `host` is caught by `pattern`.
pub fn matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if pattern.contains('*') {
        glob(pattern.as_bytes(), host.as_bytes())
    } else {
        host == pattern || host.ends_with(&format!(".{pattern}"))
    }
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// The entries of the configured file (none without one). A file that cannot be read stops
/// the start: an operator who named one expects it to be enforced.
pub fn load_file(path: Option<&std::path::Path>) -> anyhow::Result<Vec<String>> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("blocklist file {}: {e}", path.display()))?;
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| parse_pattern(l).map_err(|e| anyhow::anyhow!("blocklist file entry {l:?}: {e}")))
        .collect()
}

/// The first entry catching `url`'s host, if any.
pub async fn check(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    url: &str,
) -> ApiResult<Option<String>> {
    let Some(host) = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    else {
        return Ok(None);
    };
    if let Some(p) = state.blocklist_file.iter().find(|p| matches(p, &host)) {
        return Ok(Some(p.clone()));
    }
    let stored = db::abuse::patterns(&mut *conn).await?;
    Ok(stored.into_iter().find(|p| matches(p, &host)))
}

/// Refuses `urls` (field name, URL) that point at a blocked destination, with 422 naming the
/// field.
pub async fn refuse_blocked(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    urls: &[(String, &str)],
) -> ApiResult<()> {
    let mut errors = crate::error::FieldErrors::new();
    for (field, url) in urls {
        if check(conn, state, url).await?.is_some() {
            errors.insert(
                field.clone(),
                "points at a destination this service blocks".into(),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Adds an entry and blocks every live code whose target it catches; answers the entry and
/// how many codes were blocked.
pub async fn add(
    state: &AppState,
    origin: &Origin,
    admin: &Principal,
    pattern: String,
    reason: Option<String>,
) -> ApiResult<(db::abuse::BlockRow, usize)> {
    let mut tx = state.db.begin().await?;
    let row = db::abuse::insert_pattern(&mut *tx, &pattern, reason.as_deref(), admin.user.id)
        .await
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                ApiError::Conflict {
                    code: "already_blocked",
                    message: "this pattern is already on the blocklist".into(),
                }
            } else {
                e.into()
            }
        })?;
    // Existing codes: every live code's target host checked against the new entry. One pass
    // over the codes with a target, in this transaction (so the entry and its effect land
    // together).
    let hit = |url: &str| {
        url::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| matches(&pattern, &h.to_ascii_lowercase()))
            })
            .unwrap_or(false)
    };
    let candidates = db::abuse::live_targets(&mut *tx).await?;
    let caught: Vec<(Uuid, String)> = candidates
        .into_iter()
        .filter(|(_, _, url)| hit(url))
        .map(|(id, short, _)| (id, short))
        .collect();
    let ids: Vec<Uuid> = caught.iter().map(|(id, _)| *id).collect();
    db::abuse::block_codes(&mut *tx, &ids).await?;
    // Domains' root and not-found redirects are destinations too: those the entry catches are
    // cleared (the domain answers its 404 page there instead).
    let redirects = db::domains::redirects(&mut *tx).await?;
    let caught_redirects: Vec<&(Uuid, &str, String)> =
        redirects.iter().filter(|(_, _, url)| hit(url)).collect();
    let pick = |which: &str| -> Vec<Uuid> {
        caught_redirects
            .iter()
            .filter(|(_, w, _)| *w == which)
            .map(|(id, _, _)| *id)
            .collect()
    };
    db::domains::clear_redirects(&mut tx, &pick("root_url"), &pick("not_found_url")).await?;
    let cleared: Vec<serde_json::Value> = caught_redirects
        .iter()
        .map(|(id, which, _)| serde_json::json!({"domain_id": id, "redirect": which}))
        .collect();
    audit::record(
        &mut tx,
        &origin.actor(Some(admin)),
        Change::<(), _> {
            action: "blocklist.add",
            entity_type: "blocklist",
            entity_id: Some(row.id.to_string()),
            before: None,
            after: Some(&serde_json::json!({
                "pattern": row.pattern, "reason": row.reason, "codes_blocked": ids,
                "domain_redirects_cleared": cleared,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    for (id, short) in &caught {
        crate::codes::code_changed(state, *id, short).await;
    }
    if !cleared.is_empty() {
        crate::domains::served_changed(state).await;
    }
    Ok((row, caught.len()))
}

pub async fn remove(
    state: &AppState,
    origin: &Origin,
    admin: &Principal,
    id: Uuid,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let row = db::abuse::delete_pattern(&mut *tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    audit::record(
        &mut tx,
        &origin.actor(Some(admin)),
        Change::<_, ()> {
            action: "blocklist.remove",
            entity_type: "blocklist",
            entity_id: Some(id.to_string()),
            before: Some(&serde_json::json!({"pattern": row.pattern})),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_themselves_and_subdomains_and_patterns_match_whole_hosts() {
        assert!(matches("evil.example", "evil.example"));
        assert!(matches("evil.example", "login.evil.example."));
        assert!(!matches("evil.example", "notevil.example"));
        assert!(matches("*paypal*", "paypal-login.example"));
        assert!(matches("*paypal*", "secure.paypal.com.evil.io"));
        assert!(!matches("*paypal*", "example.com"));
        assert!(matches("login-*.example", "login-now.example"));
        assert!(parse_pattern(" Evil.Example. ").is_ok_and(|p| p == "evil.example"));
        assert!(parse_pattern("*").is_err());
        assert!(parse_pattern("a b").is_err());
    }
}
