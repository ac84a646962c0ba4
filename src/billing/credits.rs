//! Credits: an append-only ledger whose sum is the balance. Grants (by operators) and purchases
//! (one-time Checkout, confirmed by Stripe's webhook) add lots, possibly expiring; spends pay
//! for changes over a quota; expiries take back what is left of an expired lot.
//!
//! Every movement runs under the account's billing-row lock and is keyed (the purchase's
//! session, the code paid for, the lot expired), so concurrent spends never overdraw and a
//! repeated cause moves nothing twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Standing;
use crate::db::billing::{CreditRow, NewCredit};
use crate::db::{self, Paged, Window};
use crate::domain::plan::LimitName;
use crate::error::ApiResult;

/// Spends `cost` credits for `key` if the balance allows; true when paid (now or by an
/// earlier run with the same key). The caller holds the account lock.
pub async fn spend(
    conn: &mut PgConnection,
    user: Uuid,
    cost: u32,
    key: &str,
    quota: LimitName,
    s: &Standing<'_>,
    reason: &str,
) -> ApiResult<bool> {
    if cost == 0 || db::billing::credit_key_used(&mut *conn, key).await? {
        // A re-run (a bulk row, a redelivered job) whose spend exists has paid already.
        return Ok(true);
    }
    // A lot past its expiry must not pay: take it back first, so the balance is what is live.
    expire_due(conn, user, Utc::now()).await?;
    if db::billing::credit_balance(&mut *conn, user).await? < i64::from(cost) {
        return Ok(false);
    }
    db::billing::insert_credit(
        conn,
        &NewCredit {
            user_id: user,
            amount: -(cost as i32),
            kind: "spend",
            reason,
            key,
            quota: Some(quota.as_str()),
            period_start: Some(s.period.start),
            expires_at: None,
            lot_id: None,
            actor_user_id: None,
        },
    )
    .await?;
    Ok(true)
}

/// Credits added: a grant by an operator or a purchase.
pub struct Lot<'a> {
    pub amount: u32,
    /// `grant` or `purchase`.
    pub kind: &'a str,
    pub reason: &'a str,
    pub key: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub actor: Option<Uuid>,
}

/// Adds a lot; `None` when its key was used before.
pub async fn add_lot(
    conn: &mut PgConnection,
    user: Uuid,
    lot: &Lot<'_>,
) -> ApiResult<Option<CreditRow>> {
    db::billing::lock_account(conn, user).await?;
    Ok(db::billing::insert_credit(
        conn,
        &NewCredit {
            user_id: user,
            amount: lot.amount as i32,
            kind: lot.kind,
            reason: lot.reason,
            key: lot.key,
            quota: None,
            period_start: None,
            expires_at: lot.expires_at,
            lot_id: None,
            actor_user_id: lot.actor,
        },
    )
    .await?)
}

/// The balance and a page of the ledger. Lots past their expiry are taken back first, so the
/// balance shown is what can be spent.
pub async fn page(db: &sqlx::PgPool, user: Uuid, w: Window) -> ApiResult<(i64, Paged<CreditRow>)> {
    let mut tx = db.begin().await?;
    if db::billing::has_expired_lots(&mut *tx, user, Utc::now()).await? {
        expire(&mut tx, user, Utc::now()).await?;
    }
    tx.commit().await?;
    let balance = db::billing::credit_balance(db, user).await?;
    Ok((balance, db::billing::credit_page(db, user, w).await?))
}

/// `expire` when the account has an expired lot not yet taken back (a cheap check first).
async fn expire_due(conn: &mut PgConnection, user: Uuid, now: DateTime<Utc>) -> ApiResult<()> {
    if db::billing::has_expired_lots(&mut *conn, user, now).await? {
        expire(conn, user, now).await?;
    }
    Ok(())
}

/// What each lot has left once the ledger is replayed in order: spends take from the live lot
/// that expires first (then the oldest without expiry), an expiry entry empties its lot, and a
/// lot is dead from its expiry on even before its expiry entry is written.
pub fn remaining(entries: &[CreditRow]) -> HashMap<Uuid, i64> {
    let mut left: HashMap<Uuid, i64> = HashMap::new();
    let mut lots: Vec<&CreditRow> = Vec::new();
    for e in entries {
        match e.kind.as_str() {
            "grant" | "purchase" => {
                left.insert(e.id, i64::from(e.amount));
                lots.push(e);
            }
            "expiry" => {
                if let Some(lot) = e.lot_id {
                    left.insert(lot, 0);
                }
            }
            _ => {
                let mut owed = -i64::from(e.amount);
                let mut order: Vec<&&CreditRow> = lots.iter().collect();
                // Live lots first, soonest expiry first; a lot that looks dead at the spend's
                // time (clocks of two hosts disagree) pays only if nothing live can, so a
                // spend is always allocated and an expiry never takes back spent credits.
                order.sort_by_key(|l| {
                    let dead = l.expires_at.is_some_and(|x| x <= e.created_at);
                    (dead, l.expires_at.is_none(), l.expires_at, l.created_at)
                });
                for lot in order {
                    if owed == 0 {
                        break;
                    }
                    if let Some(n) = left.get_mut(&lot.id) {
                        let take = owed.min(*n);
                        *n -= take;
                        owed -= take;
                    }
                }
            }
        }
    }
    left
}

/// Writes the expiry of every expired lot of `user` that still has credits left; answers the
/// credits taken back. Idempotent: an expiry is keyed by its lot.
pub async fn expire(conn: &mut PgConnection, user: Uuid, now: DateTime<Utc>) -> ApiResult<i64> {
    db::billing::lock_account(conn, user).await?;
    let entries = db::billing::credit_entries(&mut *conn, user).await?;
    let left = remaining(&entries);
    let mut balance: i64 = entries.iter().map(|e| i64::from(e.amount)).sum();
    let mut taken = 0;
    for lot in entries
        .iter()
        .filter(|e| e.expires_at.is_some_and(|x| x <= now))
    {
        // A lot spent in full still gets its (zero) expiry: it marks the lot as done. Never
        // more than the balance: the balance is never negative.
        let n = left
            .get(&lot.id)
            .copied()
            .unwrap_or(0)
            .clamp(0, balance.max(0));
        balance -= n;
        let key = format!("expiry:{}", lot.id);
        let written = db::billing::insert_credit(
            conn,
            &NewCredit {
                user_id: user,
                amount: -(n as i32),
                kind: "expiry",
                reason: "credits expired",
                key: &key,
                quota: None,
                period_start: None,
                expires_at: None,
                lot_id: Some(lot.id),
                actor_user_id: None,
            },
        )
        .await?;
        if written.is_some() {
            taken += n;
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn entry(kind: &str, amount: i32, at: i64, expires: Option<i64>) -> CreditRow {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        CreditRow {
            id: Uuid::now_v7(),
            user_id: Uuid::nil(),
            amount,
            kind: kind.into(),
            reason: String::new(),
            key: Uuid::now_v7().to_string(),
            quota: None,
            period_start: None,
            expires_at: expires.map(|d| t0 + Duration::days(d)),
            lot_id: None,
            actor_user_id: None,
            created_at: t0 + Duration::days(at),
        }
    }

    #[test]
    fn spends_take_from_the_lot_that_expires_first() {
        let forever = entry("purchase", 100, 0, None);
        let soon = entry("grant", 10, 1, Some(30));
        let later = entry("grant", 10, 2, Some(60));
        let spend = entry("spend", -15, 3, None);
        let left = remaining(&[forever.clone(), soon.clone(), later.clone(), spend]);
        assert_eq!(left[&soon.id], 0, "the soonest-expiring lot is used first");
        assert_eq!(left[&later.id], 5);
        assert_eq!(left[&forever.id], 100, "lots without expiry are used last");
    }

    #[test]
    fn an_expired_lot_is_not_spent_from_and_its_expiry_empties_it() {
        let lot = entry("grant", 10, 0, Some(5));
        let keep = entry("purchase", 10, 0, None);
        let spend_after = entry("spend", -4, 6, None);
        let left = remaining(&[lot.clone(), keep.clone(), spend_after]);
        assert_eq!(left[&lot.id], 10, "dead lots are not spent from");
        assert_eq!(left[&keep.id], 6);
        // Unless nothing live can pay (a spend stamped late by a skewed clock).
        let only = entry("grant", 5, 0, Some(1));
        let late = entry("spend", -2, 2, None);
        assert_eq!(remaining(&[only.clone(), late])[&only.id], 3);
        let mut expiry = entry("expiry", -10, 7, None);
        expiry.lot_id = Some(lot.id);
        let left = remaining(&[lot.clone(), keep, expiry]);
        assert_eq!(left[&lot.id], 0);
    }
}
