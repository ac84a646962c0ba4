//! Outgoing webhooks, to the Standard Webhooks v1 specification: endpoints (CRUD, secret shown
//! once, rotation with a day's overlap, a test ping), and delivery — one queue job per event and
//! endpoint, retried on Svix's schedule, `Retry-After` honoured, 410 disabling the endpoint, an
//! endpoint failing for days disabled and its owner told — through the SSRF-safe client.
//!
//! Signing: `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the
//! key being the base64 part of the `whsec_` secret; the `webhook-id` is the event's, stable
//! across retries, so receivers de-duplicate on it.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use qrsaas_jobs::DeliverWebhook;
use rand::{Rng, RngCore};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use super::events::{EventType, Pending, PingData};
use super::seal::Sealer;
use crate::accounts::audit::{self, Change};
use crate::accounts::{Origin, Principal};
use crate::billing::limits::{self, Ask};
use crate::config::Settings;
use crate::db::webhooks::{Attempted, EndpointRow, EndpointUpdate, Leased, NewEndpoint};
use crate::db::{self, Paged, Window};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::outbound::Outbound;
use crate::state::AppState;

/// Bodies are read back at most this far into the delivery log.
const RESPONSE_KEPT: usize = 1024;
/// How long the previous secret keeps signing after a rotation.
const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);
/// Longest `Retry-After` honoured (a receiver cannot park a delivery forever).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
const MAX_URL: usize = 2048;
const MAX_DESCRIPTION: usize = 500;

/// Webhook delivery's configuration and clients, shared by a process.
pub struct Webhooks {
    pub outbound: Outbound,
    sealer: Sealer,
    schedule: Vec<Duration>,
    timeout: Duration,
    disable_after: chrono::Duration,
}

impl Webhooks {
    pub fn from_settings(s: &Settings) -> anyhow::Result<Webhooks> {
        let w = &s.webhooks;
        let timeout = Duration::from_secs(w.timeout_secs.max(1));
        Ok(Webhooks {
            outbound: Outbound::configured(s, timeout)?,
            sealer: Sealer::new(secrecy::ExposeSecret::expose_secret(&s.secret_key)),
            schedule: w
                .retry_schedule_secs
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            timeout,
            disable_after: chrono::Duration::hours(w.disable_after_hours as i64),
        })
    }
}

/// What a client sends to create or change an endpoint.
pub struct EndpointInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

fn events(raw: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for e in raw {
        match EventType::parse(e.trim()) {
            Some(EventType::Ping) => {
                return Err("ping is sent by the test route, not subscribed to".into());
            }
            Some(t) if !out.iter().any(|o| o == t.as_str()) => out.push(t.as_str().to_owned()),
            Some(_) => {}
            None => {
                let known: Vec<&str> = EventType::ALL[..11].iter().map(|t| t.as_str()).collect();
                return Err(format!("unknown event {e:?}; one of {}", known.join(", ")));
            }
        }
    }
    if out.is_empty() {
        return Err("name at least one event".into());
    }
    Ok(out)
}

/// The checked URL: http(s), no credentials, resolving to public addresses only (or ones the
/// configuration admits).
async fn url(w: &Webhooks, raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.len() > MAX_URL {
        return Err(format!("at most {MAX_URL} characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    w.outbound.guard().check_resolves(&url).await?;
    Ok(url.to_string())
}

fn description(d: Option<String>) -> Result<Option<String>, String> {
    let d = d.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    match d {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => {
            Err(format!("at most {MAX_DESCRIPTION} characters"))
        }
        d => Ok(d),
    }
}

/// A new secret: `whsec_` and the base64 of 32 random bytes.
fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("whsec_{}", STANDARD.encode(key))
}

/// The audit image of an endpoint: never its secrets.
#[derive(Serialize)]
struct Snapshot<'a> {
    url: &'a str,
    events: &'a [String],
    description: Option<&'a str>,
    enabled: bool,
}

fn snapshot(e: &EndpointRow) -> Snapshot<'_> {
    Snapshot {
        url: &e.url,
        events: &e.events,
        description: e.description.as_deref(),
        enabled: e.enabled,
    }
}

/// Creates an endpoint; answers it with its secret (shown this once).
pub async fn create(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    input: EndpointInput,
) -> ApiResult<(EndpointRow, String)> {
    crate::accounts::lifecycle::require_verified(state, p)?;
    let w = &state.webhooks;
    let mut e = FieldErrors::new();
    let url = match &input.url {
        Some(u) => url(w, u)
            .await
            .map_err(|why| e.insert("url".into(), why))
            .ok(),
        None => {
            e.insert("url".into(), "is required".into());
            None
        }
    };
    let kinds = events(input.events.as_deref().unwrap_or_default())
        .map_err(|why| e.insert("events".into(), why))
        .ok();
    let desc = description(input.description.flatten())
        .map_err(|why| e.insert("description".into(), why))
        .ok();
    let (Some(url), Some(kinds), Some(desc)) = (url, kinds, desc) else {
        return Err(ApiError::Validation(e));
    };
    let secret = new_secret();
    let mut tx = state.db.begin().await?;
    let _ = limits::admit(&mut tx, state, p.user.id, Ask::WebhookEndpoint, Utc::now()).await?;
    let row = db::webhooks::insert_endpoint(
        &mut tx,
        &NewEndpoint {
            id: Uuid::now_v7(),
            user_id: p.user.id,
            url: &url,
            description: desc.as_deref(),
            events: &kinds,
            enabled: input.enabled.unwrap_or(true),
            secret: &w.sealer.seal(&secret),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::created(
            "webhook.create",
            "webhook_endpoint",
            row.id,
            &snapshot(&row),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok((row, secret))
}

pub async fn list(state: &AppState, p: &Principal, w: Window) -> ApiResult<Paged<EndpointRow>> {
    Ok(db::webhooks::endpoints(&state.db, p.user.id, w).await?)
}

pub async fn get(state: &AppState, p: &Principal, id: Uuid) -> ApiResult<EndpointRow> {
    db::webhooks::endpoint(&state.db, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn update(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
    input: EndpointInput,
) -> ApiResult<EndpointRow> {
    let w = &state.webhooks;
    let mut e = FieldErrors::new();
    let url = match &input.url {
        Some(u) => url(w, u)
            .await
            .map_err(|why| e.insert("url".into(), why))
            .ok(),
        None => Some(String::new()),
    };
    let kinds = match &input.events {
        Some(k) => events(k).map_err(|why| e.insert("events".into(), why)).ok(),
        None => Some(Vec::new()),
    };
    let desc = match input.description.clone() {
        Some(d) => description(d)
            .map_err(|why| e.insert("description".into(), why))
            .ok()
            .map(Some),
        None => Some(None),
    };
    let (Some(url), Some(kinds), Some(desc)) = (url, kinds, desc) else {
        return Err(ApiError::Validation(e));
    };
    let mut tx = state.db.begin().await?;
    let before = db::webhooks::endpoint_for_update(&mut tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let after = db::webhooks::update_endpoint(
        &mut tx,
        id,
        &EndpointUpdate {
            url: if input.url.is_some() {
                &url
            } else {
                &before.url
            },
            description: match &desc {
                Some(d) => d.as_deref(),
                None => before.description.as_deref(),
            },
            events: if input.events.is_some() {
                &kinds
            } else {
                &before.events
            },
            enabled: input.enabled.unwrap_or(before.enabled),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::updated(
            "webhook.update",
            "webhook_endpoint",
            id,
            &snapshot(&before),
            &snapshot(&after),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn delete(state: &AppState, origin: &Origin, p: &Principal, id: Uuid) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let before = db::webhooks::endpoint_for_update(&mut tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    db::webhooks::delete_endpoint(&mut tx, id).await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::deleted("webhook.delete", "webhook_endpoint", id, &snapshot(&before)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A new secret (shown this once); the old one signs beside it for 24 hours.
pub async fn rotate(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    id: Uuid,
) -> ApiResult<(EndpointRow, String)> {
    let secret = new_secret();
    let mut tx = state.db.begin().await?;
    db::webhooks::endpoint_for_update(&mut tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let until = Utc::now() + ROTATION_OVERLAP;
    let row = db::webhooks::rotate_secret(&mut tx, id, &state.webhooks.sealer.seal(&secret), until)
        .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::<(), ()> {
            action: "webhook.rotate_secret",
            entity_type: "webhook_endpoint",
            entity_id: Some(id.to_string()),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((row, secret))
}

/// Sends a `ping` to the endpoint (whatever it subscribes to); answers the delivery.
pub async fn test(state: &AppState, origin: &Origin, p: &Principal, id: Uuid) -> ApiResult<Uuid> {
    let mut tx = state.db.begin().await?;
    let endpoint = db::webhooks::endpoint_for_update(&mut tx, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let data = serde_json::to_value(PingData {
        endpoint_id: endpoint.id,
        message: "Hello from qrsaas: this endpoint receives our webhooks.".into(),
    })
    .map_err(ApiError::internal)?;
    let event = Uuid::now_v7();
    let deliveries = db::webhooks::insert_event(
        &mut tx,
        event,
        p.user.id,
        EventType::Ping.as_str(),
        &data,
        &[endpoint.id],
    )
    .await?;
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::<(), ()> {
            action: "webhook.test",
            entity_type: "webhook_endpoint",
            entity_id: Some(id.to_string()),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    let delivery = deliveries.first().copied().unwrap_or(event);
    Pending {
        deliveries,
        ..Pending::default()
    }
    .dispatch(state)
    .await;
    Ok(delivery)
}

pub async fn deliveries(
    state: &AppState,
    p: &Principal,
    endpoint: Uuid,
    w: Window,
) -> ApiResult<Paged<db::webhooks::DeliveryRow>> {
    get(state, p, endpoint).await?;
    Ok(db::webhooks::deliveries(&state.db, p.user.id, endpoint, w).await?)
}

/// A delivery with its attempts.
pub async fn delivery(
    state: &AppState,
    p: &Principal,
    id: Uuid,
) -> ApiResult<(db::webhooks::DeliveryRow, Vec<db::webhooks::AttemptRow>)> {
    let d = db::webhooks::delivery(&state.db, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let attempts = db::webhooks::attempts(&state.db, id).await?;
    Ok((d, attempts))
}

/// Sends a delivery again (same `webhook-id`, its schedule from the start).
pub async fn replay(
    state: &AppState,
    origin: &Origin,
    p: &Principal,
    endpoint: Uuid,
    id: Uuid,
) -> ApiResult<db::webhooks::DeliveryRow> {
    let d = db::webhooks::delivery(&state.db, p.user.id, id)
        .await?
        .filter(|d| d.endpoint_id == endpoint)
        .ok_or(ApiError::NotFound)?;
    let mut tx = state.db.begin().await?;
    let Some((run, attempt)) = db::webhooks::replay(&mut tx, p.user.id, d.id).await? else {
        return Err(ApiError::Conflict {
            code: "delivery_in_flight",
            message: "this delivery is being attempted right now".into(),
        });
    };
    audit::record(
        &mut tx,
        &origin.actor(Some(p)),
        Change::<(), ()> {
            action: "webhook.replay",
            entity_type: "webhook_delivery",
            entity_id: Some(id.to_string()),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    let job = DeliverWebhook {
        delivery_id: id,
        run,
        attempt,
    };
    state
        .queues
        .enqueue(job)
        .await
        .map_err(|_| ApiError::Unavailable("queue"))?;
    db::webhooks::delivery(&state.db, p.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The body every delivery carries: `{type, timestamp, data}`.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: DateTime<Utc>,
    data: &'a serde_json::Value,
}

/// `v1,<signature>` of `{id}.{timestamp}.{body}` under the `whsec_` secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// How an attempt went.
enum Outcome {
    Delivered,
    Gone,
    /// Failed; the receiver may have said when to come back.
    Failed {
        retry_after: Option<Duration>,
    },
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    (at - Utc::now()).to_std().ok()
}

/// The wait before attempt `n + 1` of a run after `n` failed ones: the schedule's (±10 %
/// jitter so retries of many deliveries spread out), or the receiver's `Retry-After`.
fn next_wait(schedule: &[Duration], n: usize, asked: Option<Duration>) -> Option<Duration> {
    let planned = schedule.get(n.checked_sub(1)?)?;
    if let Some(a) = asked {
        return Some(a.min(MAX_RETRY_AFTER));
    }
    let jitter = rand::rng().random_range(0.9..1.1);
    Some(planned.mul_f64(jitter))
}

/// An error with its causes (reqwest's own text says only "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

async fn read_some(mut res: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_KEPT {
        match res.chunk().await {
            Ok(Some(c)) => kept.extend_from_slice(&c[..c.len().min(RESPONSE_KEPT - kept.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Makes one attempt of a delivery (the notifier calls this for each `DeliverWebhook` job).
/// A job whose attempt was made already, or is being made by another worker, does nothing.
pub async fn deliver(app: &AppState, job: &DeliverWebhook) -> anyhow::Result<Pending> {
    let w = &app.webhooks;
    let lease = (w.timeout + Duration::from_secs(10)).as_secs_f64();
    let Some(d) =
        db::webhooks::lease(&app.db, job.delivery_id, job.run, job.attempt, lease).await?
    else {
        // Made already, or moved on: nothing to do. Held by a worker that was killed mid-way
        // (this is its job delivered again): fail, so the queue tries again once the hold
        // has lapsed.
        if db::webhooks::held(&app.db, job.delivery_id, job.run, job.attempt).await? {
            anyhow::bail!("delivery {} is held by another worker", job.delivery_id);
        }
        return Ok(Pending::default());
    };
    if !d.enabled {
        db::webhooks::cancel_delivery(&app.db, d.id, "the endpoint is disabled").await?;
        return Ok(Pending::default());
    }
    let body = serde_json::to_vec(&Body {
        kind: &d.event_type,
        timestamp: d.event_at,
        data: &d.data,
    })?;
    let msg_id = format!("msg_{}", d.event_id.simple());
    let now = Utc::now();
    let signatures = signatures(w, &d, &msg_id, now, &body)?;
    let url = url::Url::parse(&d.url)?;
    let started = Instant::now();
    let sent = match w.outbound.post(&url) {
        Ok(req) => req
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", now.timestamp().to_string())
            .header("webhook-signature", signatures)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| error_chain(&e)),
        Err(why) => Err(why),
    };
    let (outcome, status, response, error) = match sent {
        Ok(res) => {
            let status = res.status();
            let asked = matches!(status.as_u16(), 429 | 503)
                .then(|| retry_after(res.headers()))
                .flatten();
            let text = read_some(res).await;
            let outcome = match status.as_u16() {
                200..=299 => Outcome::Delivered,
                410 => Outcome::Gone,
                _ => Outcome::Failed { retry_after: asked },
            };
            (outcome, Some(i32::from(status.as_u16())), Some(text), None)
        }
        Err(e) => (Outcome::Failed { retry_after: None }, None, None, Some(e)),
    };
    let latency_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    metrics::counter!("webhook_attempts_total").increment(1);
    finish(app, &d, job, outcome, status, response, error, latency_ms).await
}

/// The header value: the current secret's signature, and the previous one's while it overlaps.
fn signatures(
    w: &Webhooks,
    d: &Leased,
    msg_id: &str,
    now: DateTime<Utc>,
    body: &[u8],
) -> anyhow::Result<String> {
    let mut sigs = vec![sign(
        &w.sealer.open(&d.secret)?,
        msg_id,
        now.timestamp(),
        body,
    )?];
    if let (Some(prev), Some(until)) = (&d.previous_secret, d.previous_until)
        && until > now
    {
        sigs.push(sign(&w.sealer.open(prev)?, msg_id, now.timestamp(), body)?);
    }
    Ok(sigs.join(" "))
}

/// Records the attempt and moves the delivery on: done, another attempt scheduled, or failed —
/// disabling the endpoint on a 410 or after days of failures (telling its owner).
#[allow(clippy::too_many_arguments)]
async fn finish(
    app: &AppState,
    d: &Leased,
    job: &DeliverWebhook,
    outcome: Outcome,
    status: Option<i32>,
    response: Option<String>,
    error: Option<String>,
    latency_ms: i32,
) -> anyhow::Result<Pending> {
    let w = &app.webhooks;
    let made = (job.attempt - d.run_base).max(1) as usize;
    let mut attempt = Attempted {
        delivery: d.id,
        attempt: job.attempt,
        status,
        latency_ms,
        response: response.as_deref(),
        error: error.as_deref(),
        outcome: "failed",
        next_at: None,
    };
    let mut pending = Pending::default();
    match outcome {
        Outcome::Delivered => {
            attempt.outcome = "succeeded";
            db::webhooks::attempted(&app.db, &attempt).await?;
            if d.failing_since.is_some() {
                db::webhooks::note_health(&app.db, d.endpoint_id, true).await?;
            }
            metrics::counter!("webhook_deliveries_total", "outcome" => "delivered").increment(1);
        }
        Outcome::Gone => {
            db::webhooks::attempted(&app.db, &attempt).await?;
            pending.merge(disable(app, d, "gone").await?);
        }
        Outcome::Failed { retry_after } => {
            let since = db::webhooks::note_health(&app.db, d.endpoint_id, false).await?;
            let wait = next_wait(&w.schedule, made, retry_after);
            if since.is_some_and(|t| Utc::now() - t > w.disable_after) {
                db::webhooks::attempted(&app.db, &attempt).await?;
                pending.merge(disable(app, d, "failing").await?);
            } else if let Some(wait) = wait {
                attempt.outcome = "pending";
                attempt.next_at = Some(Utc::now() + chrono::Duration::from_std(wait)?);
                db::webhooks::attempted(&app.db, &attempt).await?;
                let next = DeliverWebhook {
                    delivery_id: d.id,
                    run: job.run,
                    attempt: job.attempt + 1,
                };
                // Lost, the sweep (`RequeueNotifications`) finds it due and queues it again.
                if let Err(e) = app.queues.enqueue_after(next, wait).await {
                    tracing::warn!(delivery = %d.id, error = %e, "retry not queued; the sweep will");
                }
            } else {
                db::webhooks::attempted(&app.db, &attempt).await?;
                metrics::counter!("webhook_deliveries_total", "outcome" => "failed").increment(1);
            }
        }
    }
    Ok(pending)
}

/// Turns the endpoint off and e-mails its owner (once: only the call that turns it off does).
async fn disable(app: &AppState, d: &Leased, reason: &str) -> anyhow::Result<Pending> {
    let mut tx = app.db.begin().await?;
    let mut pending = Pending::default();
    if db::webhooks::disable_endpoint(&mut tx, d.endpoint_id, reason).await?
        && let Some(owner) = db::users::by_id(&mut *tx, d.user_id).await?
    {
        let email = super::emails::webhook_disabled(&mut tx, app, &owner, &d.url, reason)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        pending.emails.push(email);
    }
    tx.commit().await?;
    tracing::warn!(endpoint = %d.endpoint_id, reason, "webhook endpoint disabled");
    Ok(pending)
}

/// Queues again the deliveries whose job was lost; answers how many.
pub async fn requeue_stranded(app: &AppState) -> anyhow::Result<usize> {
    let before = Utc::now() - chrono::Duration::minutes(2);
    let stranded = db::webhooks::stranded(&app.db, before, 1000).await?;
    for (delivery_id, run, attempt) in &stranded {
        let job = DeliverWebhook {
            delivery_id: *delivery_id,
            run: *run,
            attempt: *attempt,
        };
        app.queues.enqueue(job).await?;
    }
    Ok(stranded.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_then_no_more_and_retry_after_wins() {
        let s: Vec<Duration> = [5, 300, 1800].map(Duration::from_secs).to_vec();
        let first = next_wait(&s, 1, None).unwrap();
        assert!((4.5..=5.5).contains(&first.as_secs_f64()), "{first:?}");
        assert!(next_wait(&s, 3, None).is_some());
        assert_eq!(
            next_wait(&s, 4, None),
            None,
            "after the last wait, no more attempts"
        );
        assert_eq!(
            next_wait(&s, 2, Some(Duration::from_secs(42))),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            next_wait(&s, 1, Some(Duration::from_secs(10 * 86400))),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn event_lists_are_checked() {
        let ok = events(&[
            "qr_code.created".into(),
            "scans.batch".into(),
            "qr_code.created".into(),
        ]);
        assert_eq!(ok.unwrap(), ["qr_code.created", "scans.batch"]);
        assert!(events(&[]).is_err());
        assert!(
            events(&["qr_code.exploded".into()])
                .unwrap_err()
                .contains("unknown")
        );
        assert!(events(&["ping".into()]).is_err());
    }
}
