//! Outgoing webhooks: endpoints, the event outbox, deliveries and their attempts, and the scans
//! waiting for a `scans.batch` window.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Paged, Window};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub enabled: bool,
    /// Sealed (see `notify::seal`).
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewEndpoint<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub events: &'a [String],
    pub enabled: bool,
    pub secret: &'a str,
}

pub async fn insert_endpoint(
    conn: &mut PgConnection,
    e: &NewEndpoint<'_>,
) -> Result<EndpointRow, sqlx::Error> {
    sqlx::query_as!(EndpointRow, "INSERT INTO webhook_endpoints (id, user_id, url, description, events, enabled, secret) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING " + "id, user_id, url, description, events, enabled, secret, previous_secret, previous_until, \
         disabled_reason, failing_since, created_at, updated_at", e.id, e.user_id, e.url, e.description, e.events, e.enabled, e.secret)
    .fetch_one(conn)
    .await
}

pub async fn endpoints(
    db: &sqlx::PgPool,
    user: Uuid,
    w: Window,
) -> Result<Paged<EndpointRow>, sqlx::Error> {
    let items = sqlx::query_as!(EndpointRow, "SELECT " + "id, user_id, url, description, events, enabled, secret, previous_secret, previous_until, \
         disabled_reason, failing_since, created_at, updated_at" + " FROM webhook_endpoints WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2 OFFSET $3", user, w.limit, w.offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM webhook_endpoints WHERE user_id = $1",
        user
    )
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}

/// The owner's endpoint; other tenants' ids read as absent.
pub async fn endpoint(
    db: impl PgExecutor<'_>,
    user: Uuid,
    id: Uuid,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as!(EndpointRow, "SELECT " + "id, user_id, url, description, events, enabled, secret, previous_secret, previous_until, \
         disabled_reason, failing_since, created_at, updated_at" + " FROM webhook_endpoints WHERE user_id = $1 AND id = $2", user, id)
    .fetch_optional(db)
    .await
}

pub async fn endpoint_for_update(
    conn: &mut PgConnection,
    user: Uuid,
    id: Uuid,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as!(EndpointRow, "SELECT " + "id, user_id, url, description, events, enabled, secret, previous_secret, previous_until, \
         disabled_reason, failing_since, created_at, updated_at" + " FROM webhook_endpoints WHERE user_id = $1 AND id = $2 FOR UPDATE", user, id)
    .fetch_optional(conn)
    .await
}

pub struct EndpointUpdate<'a> {
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub events: &'a [String],
    pub enabled: bool,
}

/// Changes an endpoint; turning it on clears why we turned it off.
pub async fn update_endpoint(
    conn: &mut PgConnection,
    id: Uuid,
    u: &EndpointUpdate<'_>,
) -> Result<EndpointRow, sqlx::Error> {
    sqlx::query_as!(EndpointRow, "UPDATE webhook_endpoints SET url = $2, description = $3, events = $4, \
           disabled_reason = CASE WHEN $5 AND NOT enabled THEN NULL ELSE disabled_reason END, \
           failing_since = CASE WHEN $5 AND NOT enabled THEN NULL ELSE failing_since END, \
           enabled = $5 \
         WHERE id = $1 RETURNING " + "id, user_id, url, description, events, enabled, secret, previous_secret, previous_until, \
         disabled_reason, failing_since, created_at, updated_at", id, u.url, u.description, u.events, u.enabled)
    .fetch_one(conn)
    .await
}

pub async fn delete_endpoint(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM webhook_endpoints WHERE id = $1", id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A new signing secret; the current one keeps signing until `previous_until`.
pub async fn rotate_secret(
    conn: &mut PgConnection,
    id: Uuid,
    sealed: &str,
    previous_until: DateTime<Utc>,
) -> Result<EndpointRow, sqlx::Error> {
    sqlx::query_as!(EndpointRow, "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $3, secret = $2 \
         WHERE id = $1 RETURNING " + "id, user_id, url, description, events, enabled, secret, previous_secret, previous_until, \
         disabled_reason, failing_since, created_at, updated_at", id, sealed, previous_until)
    .fetch_one(conn)
    .await
}

pub async fn count_endpoints(conn: &mut PgConnection, user: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM webhook_endpoints WHERE user_id = $1",
        user
    )
    .fetch_one(conn)
    .await
}

/// Turns an endpoint off (`gone`, `failing`) and cancels what was still to be delivered to it.
pub async fn disable_endpoint(
    conn: &mut PgConnection,
    id: Uuid,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query!("UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2 WHERE id = $1 AND enabled", id, reason)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query!("UPDATE webhook_deliveries SET status = 'cancelled', last_error = 'the endpoint was disabled' \
         WHERE endpoint_id = $1 AND status = 'pending'", id)
    .execute(conn)
    .await?;
    Ok(changed == 1)
}

/// Enabled endpoints of `user` subscribed to `kind`.
pub async fn subscribed(
    conn: &mut PgConnection,
    user: Uuid,
    kind: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM webhook_endpoints WHERE user_id = $1 AND enabled AND $2 = ANY(events)",
        user,
        kind
    )
    .fetch_all(conn)
    .await
}

/// Of `users`, those with an enabled endpoint subscribed to `kind`.
pub async fn subscribers(
    conn: &mut PgConnection,
    users: &[Uuid],
    kind: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT DISTINCT user_id FROM webhook_endpoints \
         WHERE user_id = ANY($1) AND enabled AND $2 = ANY(events)",
        users,
        kind
    )
    .fetch_all(conn)
    .await
}

/// Writes an event and its deliveries; answers the deliveries.
pub async fn insert_event(
    conn: &mut PgConnection,
    id: Uuid,
    user: Uuid,
    kind: &str,
    data: &serde_json::Value,
    endpoints: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query!(
        "INSERT INTO webhook_events (id, user_id, type, data) VALUES ($1, $2, $3, $4)",
        id,
        user,
        kind,
        Json(data) as _
    )
    .execute(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = endpoints.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query!(
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, user_id) \
         SELECT d, $2, e, $3 FROM UNNEST($1::uuid[], $4::uuid[]) AS u(d, e)",
        &ids,
        id,
        user,
        endpoints
    )
    .execute(conn)
    .await?;
    Ok(ids)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub endpoint_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_response: Option<String>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn deliveries(
    db: &sqlx::PgPool,
    user: Uuid,
    endpoint: Uuid,
    w: Window,
) -> Result<Paged<DeliveryRow>, sqlx::Error> {
    let items = sqlx::query_as!(
        DeliveryRow,
        "SELECT d.id, d.event_id, e.type AS event_type, d.endpoint_id, d.status, d.attempts, \
           CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at, \
           d.last_status, d.last_latency_ms, d.last_response, d.last_error, d.last_attempt_at, \
           d.delivered_at, d.created_at \
         FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "
            + "WHERE d.user_id = $1 AND d.endpoint_id = $2 ORDER BY d.created_at DESC, d.id DESC \
         LIMIT $3 OFFSET $4",
        user,
        endpoint,
        w.limit,
        w.offset
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        "SELECT count(*) AS \"v!\" FROM webhook_deliveries WHERE user_id = $1 AND endpoint_id = $2",
        user,
        endpoint
    )
    .fetch_one(db)
    .await?;
    Ok(Paged { items, total })
}

pub async fn delivery(
    db: impl PgExecutor<'_>,
    user: Uuid,
    id: Uuid,
) -> Result<Option<DeliveryRow>, sqlx::Error> {
    sqlx::query_as!(
        DeliveryRow,
        "SELECT d.id, d.event_id, e.type AS event_type, d.endpoint_id, d.status, d.attempts, \
           CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at, \
           d.last_status, d.last_latency_ms, d.last_response, d.last_error, d.last_attempt_at, \
           d.delivered_at, d.created_at \
         FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "
            + "WHERE d.user_id = $1 AND d.id = $2",
        user,
        id
    )
    .fetch_optional(db)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub response: Option<String>,
    pub error: Option<String>,
}

pub async fn attempts(
    db: impl PgExecutor<'_>,
    delivery: Uuid,
) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as!(
        AttemptRow,
        "SELECT attempt, at, status, latency_ms, response, error FROM webhook_attempts \
         WHERE delivery_id = $1 ORDER BY attempt",
        delivery
    )
    .fetch_all(db)
    .await
}

/// Sends a delivery again (a new run, its schedule from the start); answers (run, attempt) of
/// the job to enqueue. A delivery under way now is left alone (`None`).
pub async fn replay(
    conn: &mut PgConnection,
    user: Uuid,
    id: Uuid,
) -> Result<Option<(i32, i32)>, sqlx::Error> {
    sqlx::query!(
        r#"UPDATE webhook_deliveries SET status = 'pending', run = run + 1, run_base = attempts,
             next_attempt_at = now(), leased_until = NULL, delivered_at = NULL
           WHERE user_id = $1 AND id = $2 AND (leased_until IS NULL OR leased_until < now())
           RETURNING run, attempts + 1 AS "attempt!""#,
        user,
        id
    )
    .map(|r| (r.run, r.attempt))
    .fetch_optional(conn)
    .await
}

/// A delivery held by a worker, with what it takes to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Leased {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub user_id: Uuid,
    pub attempts: i32,
    pub run_base: i32,
    pub event_id: Uuid,
    pub event_type: String,
    pub data: serde_json::Value,
    pub event_at: DateTime<Utc>,
    pub url: String,
    pub enabled: bool,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
}

// `set_config('synchronous_commit', 'off', true) = 'off'` below is a condition that is always
// true and makes the statement's own transaction commit without waiting for the WAL flush. For
// delivery bookkeeping only: a database crash may then forget the last fraction of a second of
// leases and outcomes, and the deliveries concerned are made again — with the same
// `webhook-id`, which receivers de-duplicate on (at-least-once, as Standard Webhooks has it).
// Money and audit rows never use it.
/// Holds attempt `attempt` of run `run` for `lease_secs`, if it is still to be made and no one
/// else holds it; answers what to send.
pub async fn lease(
    db: impl PgExecutor<'_>,
    id: Uuid,
    run: i32,
    attempt: i32,
    lease_secs: f64,
) -> Result<Option<Leased>, sqlx::Error> {
    sqlx::query_as!(
        Leased,
        "WITH l AS ( \
           UPDATE webhook_deliveries SET leased_until = now() + make_interval(secs => $4) \
           WHERE id = $1 AND status = 'pending' AND run = $2 AND attempts = $3 - 1 \
             AND (leased_until IS NULL OR leased_until < now()) AND "
            + "set_config('synchronous_commit', 'off', true) = 'off'"
            + " RETURNING id, event_id, endpoint_id, user_id, attempts, run_base) \
         SELECT l.id, l.endpoint_id, l.user_id, l.attempts, l.run_base, l.event_id, \
                e.type AS event_type, e.data, e.created_at AS event_at, \
                p.url, p.enabled, p.secret, p.previous_secret, p.previous_until, p.failing_since \
         FROM l JOIN webhook_events e ON e.id = l.event_id \
                JOIN webhook_endpoints p ON p.id = l.endpoint_id",
        id,
        run,
        attempt,
        lease_secs
    )
    .fetch_optional(db)
    .await
}

/// Whether attempt `attempt` of run `run` is still to be made but held by a worker now (a
/// killed worker's hold, until it lapses).
pub async fn held(
    db: impl PgExecutor<'_>,
    id: Uuid,
    run: i32,
    attempt: i32,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1 AND status = 'pending' \
           AND run = $2 AND attempts = $3 - 1 AND leased_until >= now()) AS \"v!\"",
        id,
        run,
        attempt
    )
    .fetch_one(db)
    .await
}

/// How an attempt ended.
pub struct Attempted<'a> {
    pub delivery: Uuid,
    pub attempt: i32,
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub response: Option<&'a str>,
    pub error: Option<&'a str>,
    /// `succeeded`, `failed` (no attempts left, or gone) or `pending` (another attempt at
    /// `next_at`).
    pub outcome: &'a str,
    pub next_at: Option<DateTime<Utc>>,
}

/// Logs the attempt and moves the delivery on, in one statement.
pub async fn attempted(db: impl PgExecutor<'_>, a: &Attempted<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!("WITH log AS ( \
           INSERT INTO webhook_attempts (delivery_id, attempt, status, latency_ms, response, error) \
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING) \
         UPDATE webhook_deliveries SET attempts = $2, status = $7, leased_until = NULL, \
           next_attempt_at = COALESCE($8, next_attempt_at), last_status = $3, last_latency_ms = $4, \
           last_response = $5, last_error = $6, last_attempt_at = now(), \
           delivered_at = CASE WHEN $7 = 'succeeded' THEN now() END \
         WHERE id = $1 AND " + "set_config('synchronous_commit', 'off', true) = 'off'", a.delivery, a.attempt, a.status, a.latency_ms, a.response, a.error, a.outcome, a.next_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// Marks the start of an endpoint's run of failures (once), or its end (once); answers when
/// the run started, if one is under way.
pub async fn note_health(
    db: impl PgExecutor<'_>,
    endpoint: Uuid,
    ok: bool,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    if ok {
        sqlx::query!("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL", endpoint)
        .execute(db)
        .await?;
        return Ok(None);
    }
    sqlx::query_scalar!(
        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, now()) WHERE id = $1 \
         RETURNING failing_since",
        endpoint
    )
    .fetch_optional(db)
    .await
    .map(Option::flatten)
}

pub async fn cancel_delivery(
    db: impl PgExecutor<'_>,
    id: Uuid,
    why: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE webhook_deliveries SET status = 'cancelled', leased_until = NULL, last_error = $2 \
         WHERE id = $1",
        id,
        why
    )
    .execute(db)
    .await
    .map(|_| ())
}

/// Pending deliveries due before `before` that no worker holds: their job was lost.
pub async fn stranded(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, i32, i32)>, sqlx::Error> {
    sqlx::query!(
        r#"SELECT id, run, attempts + 1 AS "attempt!" FROM webhook_deliveries
           WHERE status = 'pending' AND next_attempt_at < $1
             AND (leased_until IS NULL OR leased_until < now())
           ORDER BY next_attempt_at LIMIT $2"#,
        before,
        limit
    )
    .map(|r| (r.id, r.run, r.attempt))
    .fetch_all(db)
    .await
}

/// Buffers scans of owners subscribed to `scans.batch`.
pub async fn buffer_scans(
    conn: &mut PgConnection,
    users: &[Uuid],
    scans: &[serde_json::Value],
) -> Result<(), sqlx::Error> {
    sqlx::query!("INSERT INTO webhook_scan_buffer (user_id, scan) SELECT * FROM UNNEST($1::uuid[], $2::jsonb[])", users, scans)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Owners whose buffered scans are due: the oldest has waited `before`, or `full` are waiting.
pub async fn scan_windows_due(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    full: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT user_id FROM webhook_scan_buffer GROUP BY user_id \
         HAVING min(created_at) <= $1 OR count(*) >= $2",
        before,
        full
    )
    .fetch_all(db)
    .await
}

/// Takes up to `limit` of the owner's oldest buffered scans (skipping rows another flusher
/// holds), with when the window began and ended.
pub async fn take_scans(
    conn: &mut PgConnection,
    user: Uuid,
    limit: i64,
) -> Result<Vec<(Json<serde_json::Value>, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query!(
        r#"DELETE FROM webhook_scan_buffer WHERE seq IN (
             SELECT seq FROM webhook_scan_buffer WHERE user_id = $1 ORDER BY seq LIMIT $2
             FOR UPDATE SKIP LOCKED)
           RETURNING scan AS "scan: Json<serde_json::Value>", created_at"#,
        user,
        limit
    )
    .map(|r| (r.scan, r.created_at))
    .fetch_all(conn)
    .await
}
