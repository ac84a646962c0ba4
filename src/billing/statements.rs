//! Monthly usage statements: once a month, every account gets a row in `usage_statements` for
//! the calendar month (UTC) just ended — metered scans, codes created, successful exports — and,
//! when it used the service and has not turned statements off, an e-mail through the outbox.
//!
//! Idempotent by construction: the row is keyed by (user, month) and written with
//! `ON CONFLICT DO NOTHING`, and the e-mail is written in the same transaction only for rows this
//! run inserted. A re-run, a catch-up after downtime or two schedulers at once write and send
//! nothing twice; a run cut off half-way is finished by the next one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Days, NaiveTime, Utc};
use uuid::Uuid;

use crate::accounts::Principal;
use crate::db::statements::{Month, StatementRow};
use crate::db::{self, Paged, Window};
use crate::error::ApiResult;
use crate::notify::emails;
use crate::state::AppState;

/// Accounts per transaction.
const PAGE: i64 = 500;

/// What a run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub written: usize,
    pub emailed: usize,
}

/// The calendar month (UTC) before the one `at` falls in.
pub fn previous_month(at: DateTime<Utc>) -> Month {
    let first_of = |d: chrono::NaiveDate| d - Days::new(u64::from(d.day0()));
    let this = first_of(at.date_naive());
    let month = first_of(this - Days::new(1));
    Month {
        month,
        start: month.and_time(NaiveTime::MIN).and_utc(),
        end: this.and_time(NaiveTime::MIN).and_utc(),
    }
}

/// Writes the missing statements of `m` for every account that existed before it ended.
pub async fn run(state: &AppState, m: &Month) -> anyhow::Result<Outcome> {
    // Usage still pending in the meter belongs in the figures.
    crate::billing::meter::fold_all(state).await?;
    let mut outcome = Outcome::default();
    let mut after = Uuid::nil();
    loop {
        let users = db::users::page_created_before(&state.db, m.end, after, PAGE).await?;
        let Some(last) = users.last() else {
            return Ok(outcome);
        };
        after = last.id;
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let by_id: HashMap<Uuid, _> = users.iter().map(|u| (u.id, u)).collect();

        let mut tx = state.db.begin().await?;
        let mut written = db::statements::create_missing(&mut *tx, m, &ids).await?;
        let muted: HashSet<Uuid> = db::settings::opted_out(&mut *tx, &ids, "monthly_statement")
            .await?
            .into_iter()
            .collect();
        let mut sent = Vec::new();
        for s in &mut written {
            let standing = state.billing.standing_of(&mut tx, s.user_id, m.end).await?;
            let limits = crate::billing::limits_json(&standing.plan.limits);
            db::statements::set_plan(&mut *tx, s.user_id, s.month, &standing.plan.id, &limits)
                .await?;
            s.plan_id = Some(standing.plan.id.clone());
            s.limits = Some(limits);
            // An idle month is recorded but not mailed: a statement of zeros to every dormant
            // account each month would be noise.
            let idle = s.scans == 0 && s.codes_created == 0 && s.exports == 0;
            if idle || muted.contains(&s.user_id) {
                continue;
            }
            let plan = state.billing.catalogue.resolve(s.plan_id.as_deref());
            let email = emails::statement(&mut tx, state, by_id[&s.user_id], s, plan).await?;
            db::statements::set_email(&mut *tx, s.user_id, s.month, email).await?;
            sent.push(email);
        }
        tx.commit().await?;
        outcome.written += written.len();
        outcome.emailed += sent.len();
        for email in sent {
            emails::dispatch(state, email).await;
        }
    }
}

/// The caller's statements, newest month first.
pub async fn list(state: &AppState, p: &Principal, w: Window) -> ApiResult<Paged<StatementRow>> {
    Ok(db::statements::list(&state.db, p.user.id, w).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_month_spans_the_whole_calendar_month_before() {
        let at = "2026-03-01T00:30:00Z".parse().unwrap();
        let m = previous_month(at);
        assert_eq!(m.month.to_string(), "2026-02-01");
        assert_eq!(m.start.to_rfc3339(), "2026-02-01T00:00:00+00:00");
        assert_eq!(m.end.to_rfc3339(), "2026-03-01T00:00:00+00:00");
        let jan = previous_month("2027-01-15T12:00:00Z".parse().unwrap());
        assert_eq!(jan.month.to_string(), "2026-12-01");
        assert_eq!(jan.end.to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }
}
