//! Alerts that do what the settings say: scan milestones (`scan_alerts`), the weekly summary
//! (`weekly_summary`), failed jobs (`job_failures`), usage thresholds (`usage_alerts`) — each an
//! e-mail when the preference is on, an SMS when the owner opted in and verified a number, and
//! a webhook event for subscribed endpoints. Each is written in the transaction of its cause
//! and keyed so it goes out once.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::PgConnection;
use uuid::Uuid;

use super::emails::{self, TopCode, UsageAlert};
use super::events::{EventType, JobFailedData, MilestoneData, Pending, UsageThresholdData, emit};
use crate::db;
use crate::db::scans::CodeTotal;
use crate::domain::NotificationPrefs;
use crate::state::AppState;

/// The owner's preferences (the defaults when never saved).
pub async fn prefs(conn: &mut PgConnection, user: Uuid) -> Result<NotificationPrefs, sqlx::Error> {
    let s = db::settings::get(conn, user).await?;
    Ok(serde_json::from_value(s.notifications).unwrap_or_default())
}

/// The milestones (100, 1,000, 10,000 …) passed going from `before` to `after` scans.
pub fn milestones_crossed(before: i64, after: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut m = 100i64;
    while m <= after {
        if before < m {
            out.push(m);
        }
        match m.checked_mul(10) {
            Some(next) => m = next,
            None => break,
        }
    }
    out
}

/// Announces the milestones a batch made codes pass (each once: `scan_milestones` is keyed by
/// code and milestone), in the batch's transaction.
pub async fn milestones(
    tx: &mut PgConnection,
    app: &AppState,
    totals: &[CodeTotal],
) -> anyhow::Result<Pending> {
    let mut pending = Pending::default();
    for t in totals {
        let Some(owner) = t.user_id else { continue };
        for m in milestones_crossed(t.scans_total - t.added, t.scans_total) {
            if !db::notifications::claim_milestone(tx, t.id, m).await? {
                continue;
            }
            let data = MilestoneData {
                qr_id: t.id,
                name: t.name.clone(),
                short_code: t.short_code.clone(),
                milestone: m,
                scans_total: t.scans_total,
            };
            pending.merge(emit(tx, owner, EventType::ScanMilestone, &data).await?);
            let prefs = prefs(tx, owner).await?;
            let Some(user) = db::users::by_id(&mut *tx, owner).await? else {
                continue;
            };
            if prefs.scan_alerts {
                let email = emails::scan_milestone(tx, app, &user, &data)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                pending.emails.push(email);
            }
            if prefs.sms.scan_alerts {
                let name = data.name.as_deref().unwrap_or(&data.short_code);
                let text = format!("qrsaas: {name} reached {m} scans.");
                pending.merge(super::sms::alert(tx, app, owner, "scan_milestone", &text).await?);
            }
        }
    }
    Ok(pending)
}

/// A job spent its retries: `job.failed`, and the owner told.
pub async fn job_failed(
    tx: &mut PgConnection,
    app: &AppState,
    owner: Uuid,
    data: &JobFailedData,
) -> anyhow::Result<Pending> {
    let mut pending = emit(tx, owner, EventType::JobFailed, data).await?;
    let prefs = prefs(tx, owner).await?;
    let Some(user) = db::users::by_id(&mut *tx, owner).await? else {
        return Ok(pending);
    };
    if prefs.job_failures {
        let email = emails::job_failed(tx, app, &user, data)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        pending.emails.push(email);
    }
    if prefs.sms.job_failures {
        let text = format!("qrsaas: your {} job failed: {}", data.kind, data.error);
        pending.merge(super::sms::alert(tx, app, owner, "job_failed", &text).await?);
    }
    Ok(pending)
}

/// 80 % / 100 % of a quota (claimed once per period by billing): `usage.threshold`, and the
/// owner told.
pub async fn usage_threshold(
    tx: &mut PgConnection,
    app: &AppState,
    owner: Uuid,
    a: &UsageAlert<'_>,
) -> anyhow::Result<Pending> {
    let data = UsageThresholdData {
        quota: a.quota.to_owned(),
        threshold: a.threshold,
        used: a.used,
        limit: a.limit,
        plan: a.plan.to_owned(),
        period_start: a.period_start,
        period_end: a.period_end,
    };
    let mut pending = emit(tx, owner, EventType::UsageThreshold, &data).await?;
    let prefs = prefs(tx, owner).await?;
    let Some(user) = db::users::by_id(&mut *tx, owner).await? else {
        return Ok(pending);
    };
    if prefs.usage_alerts {
        let email = emails::usage_alert(tx, app, &user, a)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        pending.emails.push(email);
    }
    if prefs.sms.usage_alerts {
        let text = format!(
            "qrsaas: {}% of your {} quota used ({} of {}).",
            a.threshold,
            a.quota.replace('_', " "),
            a.used,
            a.limit
        );
        pending.merge(super::sms::alert(tx, app, owner, "usage_alert", &text).await?);
    }
    Ok(pending)
}

/// The Monday starting the week before the one `at` falls in, in `tz`, with that Monday's
/// 08:00 — when the summary of the week before it is due.
fn summary_due(at: DateTime<Utc>, tz: Tz) -> Option<(NaiveDate, DateTime<Utc>)> {
    let local = at.with_timezone(&tz).date_naive();
    let monday = local - chrono::Days::new(u64::from(local.weekday().num_days_from_monday()));
    let eight = tz
        .from_local_datetime(&monday.and_time(NaiveTime::from_hms_opt(8, 0, 0)?))
        .earliest()?
        .with_timezone(&Utc);
    Some((monday - chrono::Days::new(7), eight))
}

/// Sends the weekly summaries whose Monday 08:00 (the owner's time zone) falls in the hour
/// starting at `slot` — the scheduler's clock, so a test can freeze time by choosing the slot.
/// Each account's week is sent once; answers how many were sent.
pub async fn weekly(app: &AppState, slot: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut sent = 0;
    for (user_id, zone) in db::notifications::weekly_subscribers(&app.db).await? {
        let tz: Tz = zone.parse().unwrap_or(Tz::UTC);
        let Some((week_start, due)) = summary_due(slot, tz) else {
            continue;
        };
        if due < slot || due >= slot + Duration::hours(1) {
            continue;
        }
        let at = |d: NaiveDate| {
            tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        let (Some(from), Some(to), Some(before)) = (
            at(week_start),
            at(week_start + chrono::Days::new(7)),
            at(week_start - chrono::Days::new(7)),
        ) else {
            continue;
        };
        let week =
            crate::analytics::report::top_codes(&app.clickhouse, user_id, from, to, 5).await?;
        let previous =
            crate::analytics::report::scans_between(&app.clickhouse, user_id, before, from).await?;
        let mut tx = app.db.begin().await?;
        if !db::notifications::claim_weekly(&mut tx, user_id, week_start).await? {
            continue;
        }
        let Some(user) = db::users::by_id(&mut *tx, user_id).await? else {
            continue;
        };
        let names = db::notifications::code_names(
            &mut tx,
            user_id,
            &week.codes.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        )
        .await?;
        let top = week
            .codes
            .iter()
            .map(|(id, n)| TopCode {
                name: names.get(id).cloned().unwrap_or_else(|| id.to_string()),
                scans: *n,
            })
            .collect();
        let email =
            emails::weekly_summary(&mut tx, app, &user, week_start, week.total, previous, top)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        db::notifications::set_weekly_email(&mut tx, user_id, week_start, email).await?;
        tx.commit().await?;
        emails::dispatch(app, email).await;
        sent += 1;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_are_powers_of_ten_from_100() {
        assert_eq!(milestones_crossed(0, 99), Vec::<i64>::new());
        assert_eq!(milestones_crossed(99, 100), [100]);
        assert_eq!(milestones_crossed(100, 100), Vec::<i64>::new());
        assert_eq!(milestones_crossed(50, 12_000), [100, 1000, 10_000]);
        assert_eq!(milestones_crossed(9_999_999_999, i64::MAX).len(), 9);
    }

    #[test]
    fn the_summary_is_due_monday_eight_in_the_owners_zone() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        // Monday 2026-12-07 08:00 in Kolkata is 02:30 UTC.
        let at: DateTime<Utc> = "2026-12-07T02:00:00Z".parse().unwrap();
        let (week, due) = summary_due(at, kolkata).unwrap();
        assert_eq!(week.to_string(), "2026-11-30");
        assert_eq!(due.to_rfc3339(), "2026-12-07T02:30:00+00:00");
    }
}
