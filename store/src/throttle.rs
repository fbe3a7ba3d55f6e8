//! The sign-in back-off: failed attempts counted per key in the database
//! (`sign_in_failures`), so every server process shares one budget.
//!
//! Two keys an attempt: the account it names with the client's address (a
//! guesser is slowed down without locking the account's owner out, who signs
//! in from elsewhere), and the client's address alone (one client trying many
//! accounts). Past a key's free failures each further one doubles the wait
//! before the next is checked, up to a cap: a back-off, never a hard lock.
//!
//! A key is stored as a digest, never as the text typed: a sign-in form takes
//! anything, and an attacker's megabyte of "login" must cost nothing to keep.
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use std::time::Duration;

/// What one kind of key may fail before it waits, and for how long at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Failures checked without a wait, within the window.
    pub free: u32,
    /// Failures older than this are forgotten.
    pub window: Duration,
    /// The longest wait the back-off grows to.
    pub max_wait: Duration,
}

/// An account from one address: five tries, then 1 s, 2 s, 4 s… up to 15 minutes.
pub const ACCOUNT_FROM_ADDRESS: Budget =
    Budget { free: 5, window: Duration::from_secs(15 * 60), max_wait: Duration::from_secs(15 * 60) };
/// One address over every account: higher, since an office shares one.
pub const ADDRESS: Budget =
    Budget { free: 50, window: Duration::from_secs(15 * 60), max_wait: Duration::from_secs(15 * 60) };

/// A counted key: its digest and its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    digest: String,
    budget: Budget,
}

impl Key {
    /// The key of `parts` (say `["account", "t1", "u42", "addr", "10.0.0.0/64"]`)
    /// under `budget`.
    pub fn new(budget: Budget, parts: &[&str]) -> Self {
        Self { digest: crate::tokens::digest_of_parts(parts.iter().copied()), budget }
    }
}

/// The wait after the `failures`-th failure within the window.
fn wait_after(budget: Budget, failures: u32) -> Duration {
    if failures < budget.free {
        return Duration::ZERO;
    }
    let doublings = (failures - budget.free).min(30);
    Duration::from_secs(1u64 << doublings).min(budget.max_wait)
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Counts an attempt against every key before its password is checked, or
/// `Ok(Err(wait))` (counting nothing more) when a key must wait still. Counted
/// first, so attempts sent side by side each see the ones before them: the
/// budget's worth get through, not the whole burst while the first hashes.
/// A success then gives the attempt back ([`succeeded`]), as does a failure
/// that was the server's ([`forgive`]).
pub async fn attempt(db: &DatabaseConnection, keys: &[Key]) -> Result<Result<(), Duration>, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let now = crate::db::now(&txn).await?;
    for key in keys {
        if let Some(wait) = count(&txn, key, now).await? {
            txn.rollback().await?;
            return Ok(Err(wait));
        }
    }
    txn.commit().await?;
    Ok(Ok(()))
}

/// One more failure for `key`, unless it must wait (then the wait). One
/// statement counts it, so two attempts at once (on PostgreSQL, where they
/// run side by side) each see the other: the upsert of the second waits for
/// the first's row lock.
async fn count<C: ConnectionTrait>(db: &C, key: &Key, now: DateTime<Utc>) -> Result<Option<Duration>, DbErr> {
    let backend = db.get_database_backend();
    let window_start = now - chrono(key.budget.window);
    let counted = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO sign_in_failures (key, failures, first_at, blocked_until) VALUES ($1, 1, $2, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN sign_in_failures.first_at < $3 THEN 1 ELSE sign_in_failures.failures + 1 END, \
               first_at = CASE WHEN sign_in_failures.first_at < $3 THEN $2 ELSE sign_in_failures.first_at END \
             WHERE sign_in_failures.blocked_until <= $2 \
             RETURNING failures",
            [key.digest.clone().into(), now.into(), window_start.into()],
        ))
        .await?;
    let Some(counted) = counted else {
        // Not counted: the key waits still.
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT blocked_until FROM sign_in_failures WHERE key = $1",
                [key.digest.clone().into()],
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("a waiting sign-in key vanished".into()))?;
        let until: DateTime<Utc> = row.try_get("", "blocked_until")?;
        return Ok(Some((until - now).to_std().unwrap_or_default()));
    };
    let failures: i32 = counted.try_get("", "failures")?;
    let wait = wait_after(key.budget, failures.max(0) as u32);
    if !wait.is_zero() {
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE sign_in_failures SET blocked_until = $2 WHERE key = $1",
            [key.digest.clone().into(), (now + chrono(wait)).into()],
        ))
        .await?;
    }
    Ok(None)
}

/// Takes back the attempt [`attempt`] counted against `keys` (it failed through
/// no fault of the client's, or succeeded), lifting the wait it may have set.
pub async fn forgive(db: &DatabaseConnection, keys: &[Key]) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let now = crate::db::now(db).await?;
    for key in keys {
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE sign_in_failures SET failures = failures - 1, blocked_until = $2 WHERE key = $1 AND failures > 0",
            [key.digest.clone().into(), now.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The account signed in from that address: its count starts again. The
/// address's own count gives back this attempt only.
pub async fn succeeded(db: &DatabaseConnection, account: &Key, address: &Key) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "DELETE FROM sign_in_failures WHERE key = $1",
        [account.digest.clone().into()],
    ))
    .await?;
    forgive(db, std::slice::from_ref(address)).await
}

/// Forgets counts whose window is over and whose wait has passed (the server
/// does so every minute: the table holds what is being counted, nothing older).
pub async fn purge(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let now = crate::db::now(db).await?;
    let longest = ACCOUNT_FROM_ADDRESS.window.max(ADDRESS.window);
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "DELETE FROM sign_in_failures WHERE first_at < $1 AND blocked_until <= $2",
            [(now - chrono(longest)).into(), now.into()],
        ))
        .await?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_past_the_free_failures_up_to_its_cap() {
        let waits: Vec<u64> = (1..=8).map(|n| wait_after(ACCOUNT_FROM_ADDRESS, n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 0, 1, 2, 4, 8]);
        assert_eq!(wait_after(ACCOUNT_FROM_ADDRESS, 40), Duration::from_secs(15 * 60));
        assert_eq!(wait_after(ACCOUNT_FROM_ADDRESS, u32::MAX), Duration::from_secs(15 * 60));
    }

    #[test]
    fn keys_are_digests_of_their_parts_told_apart() {
        let a = Key::new(ADDRESS, &["ab", "c"]);
        assert_eq!(a.digest.len(), 64);
        assert_ne!(a, Key::new(ADDRESS, &["a", "bc"]));
        assert_eq!(a, Key::new(ADDRESS, &["ab", "c"]));
        // A megabyte typed as a login is kept in 64 characters.
        assert_eq!(Key::new(ADDRESS, &[&"x".repeat(1 << 20)]).digest.len(), 64);
    }
}
