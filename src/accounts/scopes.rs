//! What an API key may do: the scopes, and which one each route needs — one table, read by the
//! HTTP layer to enforce it and by the OpenAPI document to show it (each secured operation
//! lists its scope), so the two cannot disagree. Sessions (a person signed in) have every scope.

/// Every scope, with what it allows. A `…:write` scope includes its `…:read`.
pub const SCOPES: &[(&str, &str)] = &[
    (
        "codes:read",
        "read QR codes, projects, templates, uploads, products",
    ),
    ("codes:write", "create, change and delete them"),
    ("analytics:read", "scan reports and the live scan stream"),
    ("exports:read", "job status and export downloads"),
    (
        "exports:write",
        "start exports and bulk creation, cancel jobs",
    ),
    ("webhooks:read", "webhook endpoints and deliveries"),
    (
        "webhooks:write",
        "manage webhook endpoints, replay deliveries",
    ),
    ("billing:read", "plan, usage, credits, statements"),
    ("billing:write", "start checkout and the billing portal"),
    ("account:read", "profile, settings, own audit log"),
    (
        "account:admin",
        "profile, settings, API keys, sessions; operator routes for admins",
    ),
];

pub fn is_scope(s: &str) -> bool {
    SCOPES.iter().any(|(name, _)| *name == s)
}

/// Whether holding `have` allows what needs `need`.
pub fn grants(have: &str, need: &str) -> bool {
    have == need
        || need
            .strip_suffix(":read")
            .is_some_and(|resource| have.strip_suffix(":write") == Some(resource))
}

/// The scope a route needs (`route` is its path template, e.g. `/api/v1/qr-codes/{id}`).
/// Anything not placed here needs `account:admin`: a new route is closed to narrow keys until
/// someone decides otherwise.
pub fn required(method: &str, route: &str) -> &'static str {
    let read = matches!(method, "GET" | "HEAD");
    let p = route.strip_prefix("/api/v1").unwrap_or(route);
    let under = |prefix: &str| p == prefix || p.starts_with(&format!("{prefix}/"));
    let rw = |r: &'static str, w: &'static str| if read { r } else { w };
    if under("/admin") {
        "account:admin"
    } else if p.contains("/analytics") || under("/scans") {
        "analytics:read"
    } else if under("/exports") || under("/jobs") || p == "/qr-codes/bulk" {
        rw("exports:read", "exports:write")
    } else if [
        "/qr-codes",
        "/projects",
        "/templates",
        "/uploads",
        "/products",
        "/merchant",
        "/imports",
        "/domains",
    ]
    .iter()
    .any(|r| under(r))
    {
        rw("codes:read", "codes:write")
    } else if under("/webhooks") {
        rw("webhooks:read", "webhooks:write")
    } else if under("/billing") {
        rw("billing:read", "billing:write")
    } else if read && (p == "/me" || under("/settings") || under("/audit-logs") || p == "/me/phone")
    {
        "account:read"
    } else {
        "account:admin"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_scopes_and_write_includes_read() {
        assert_eq!(required("GET", "/api/v1/qr-codes/{id}"), "codes:read");
        assert_eq!(required("PATCH", "/api/v1/qr-codes/{id}"), "codes:write");
        assert_eq!(
            required("GET", "/api/v1/qr-codes/{id}/analytics"),
            "analytics:read"
        );
        assert_eq!(required("POST", "/api/v1/qr-codes/bulk"), "exports:write");
        assert_eq!(required("POST", "/api/v1/api-keys"), "account:admin");
        assert_eq!(required("GET", "/api/v1/api-keys"), "account:admin");
        assert_eq!(required("GET", "/api/v1/me"), "account:read");
        assert_eq!(required("GET", "/api/v1/admin/users"), "account:admin");
        assert_eq!(required("GET", "/api/v1/something-new"), "account:admin");
        assert!(grants("codes:write", "codes:read"));
        assert!(!grants("codes:read", "codes:write"));
        assert!(!grants("account:admin", "codes:read"));
        assert!(SCOPES.iter().all(|(s, _)| is_scope(s)));
    }
}
