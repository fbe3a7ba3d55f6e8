//! The batches of a load, in one lane or in several side by side.
use super::apply::apply_batch;
use super::catalogue::Catalogue;
use super::planned::{Batch, Planned};
use super::results::{not_applied, stop_remaining, write_results, RowResult, NOT_LOADED_ALL_OR_NOTHING};
use super::tables::Actor;
use super::writes::credentials_for;
use super::{outcome, Claim, LoadCounts, Mailing, Progress, UploadOptions, BATCH};
use crate::entity::{tenant, upload, upload_row};
use crate::jobs::Fence;
use crate::own_connection::OwnConnection;
use muster_import::{RowStatus, SyncAction};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::Poll;
use std::time::Instant;

/// Lanes of batches applied side by side on PostgreSQL, each on its own
/// connection. A batch keeps PostgreSQL's server process busy most of its time,
/// so with one lane the second core idles (on this 2-core machine two gave
/// 1.4x the rate of one, three 1.5x); four leave less idle between a lane's
/// statements than three (1M new users: load 56.7–60.1 s against
/// 59.7–62.2 s, plan 8.4–8.9 s against 8.7–9.3 s, in alternating runs).
pub const LANES: usize = 4;

/// Runs the lanes side by side on this task until all have ended; returns the
/// first error. After an error the others are halted, but each finishes the
/// batch it is in: one dropped while its commit was on the way could have
/// committed rows whose invitations it then never handed over, and a resumed
/// load skips rows that have a result.
pub(crate) async fn side_by_side<F: Future<Output = Result<(), DbErr>>>(
    lanes: Vec<F>,
    halted: &AtomicBool,
) -> Result<(), DbErr> {
    let mut lanes: Vec<Option<Pin<Box<F>>>> = lanes.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut first_error = None;
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for slot in &mut lanes {
            let Some(lane) = slot else { continue };
            match lane.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    *slot = None;
                    if let Err(e) = result {
                        halted.store(true, Ordering::SeqCst);
                        first_error.get_or_insert(e);
                    }
                }
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    first_error.map_or(Ok(()), Err)
}

/// Whether the load runs [`LANES`] lanes side by side, each applying its own
/// batches in its own transactions. Only where no row's
/// outcome can depend on another lane's: on PostgreSQL (SQLite has one writer),
/// when no licence can run out (licences go to rows in file order), nothing is
/// deleted (a deletion's cascade could lock a row the other lane changes: a
/// deadlock), and the load does not stop at its first failed row.
pub(super) async fn may_run_side_by_side(
    db: &DatabaseConnection,
    upload: &upload::Model,
    options: &UploadOptions,
    catalogue: &Catalogue,
    done: i64,
) -> Result<bool, DbErr> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres || options.load.stop_on_error {
        return Ok(false);
    }
    let left = (i64::from(upload.rows_total) - done).max(0) as u64;
    if left <= BATCH || catalogue.licences_left.is_some_and(|licences| licences < left) {
        return Ok(false);
    }
    // Users not in a synced file are deleted only with the Delete sync action.
    let mut deletes = vec![RowStatus::Delete.as_str()];
    if options.plan.sync_action == SyncAction::Delete {
        deletes.push(RowStatus::Old.as_str());
    }
    let statuses = crate::uploads::count_by(db, upload.tenant_id, upload.id, upload_row::Column::Status).await?;
    Ok(!statuses.iter().any(|(status, n)| *n > 0 && status.as_deref().is_some_and(|s| deletes.contains(&s))))
}

/// How often the lease of lanes side by side is extended, as a share of the lease.
pub(super) const RENEWALS_PER_LEASE: u32 = 4;

/// One load's lanes: what they share (the next range of rows to take, the
/// counts, whether to stop) and what each batch needs.
pub(super) struct Lanes<'a, P, S> {
    pub(super) db: &'a DatabaseConnection,
    pub(super) upload: &'a upload::Model,
    pub(super) tenant: &'a tenant::Model,
    pub(super) options: &'a UploadOptions,
    pub(super) actor: &'a Actor,
    pub(super) org_code: &'a HashMap<i64, String>,
    pub(super) claim: Option<&'a Claim>,
    /// All or nothing, and the plan has errors: rows get results, nothing is applied.
    pub(super) blocked: bool,
    pub(super) parallel: bool,
    pub(super) last_index: i32,
    /// The start of the next range of row positions a lane takes.
    pub(super) next: AtomicI32,
    pub(super) done: AtomicI64,
    /// Committed batches that added users.
    pub(super) growing_batches: AtomicU64,
    /// The lease was lost or the server is stopping: no lane starts another batch.
    pub(super) halted: AtomicBool,
    /// Lanes not yet ended: the lease is kept while any runs.
    pub(super) lanes_running: AtomicUsize,
    /// Whether a row that this run (or one before it) applied may name a
    /// manager: if not, there is no manager to link once every row is in.
    pub(super) managers_named: AtomicBool,
    /// Whether this run has told the job it made progress (its first commit).
    pub(super) progress_marked: AtomicBool,
    pub(super) progress: Mutex<P>,
    /// The outcomes of the rows this run's batches (and a run before it) did.
    pub(super) tally: Mutex<LoadCounts>,
    pub(super) send: Mutex<S>,
}

impl<P, S> Lanes<'_, P, S>
where
    P: FnMut(&Progress) -> bool + Send,
    S: FnMut(Mailing) + Send,
{
    /// Takes ranges of BATCH row positions until none is left, applying each
    /// range's rows without a result in one transaction.
    pub(super) async fn lane(&self, catalogue: Catalogue) -> Result<(), DbErr> {
        let ended = self.batches_of_lane(catalogue).await;
        self.lanes_running.fetch_sub(1, Ordering::SeqCst);
        ended
    }

    /// Keeps the job's lease while the lanes run, every quarter of it, whatever
    /// their batches take: a batch that hashes a thousand passwords can outlast
    /// the lease, and between one commit and the next nothing else would stop
    /// a takeover. A failed extension (SQLite's write lock held by the batch
    /// past its busy timeout, the database gone a moment) is tried again at the
    /// next beat; only a lease found lost stops the load.
    pub(super) async fn keep_lease(&self, claim: &Claim) -> Result<(), DbErr> {
        let every = crate::jobs::lease().to_std().unwrap_or_default() / RENEWALS_PER_LEASE;
        let mut extended = Instant::now();
        while self.lanes_running.load(Ordering::SeqCst) > 0 {
            // Short sleeps: the load does not wait long for this when its lanes end.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if extended.elapsed() >= every && self.lanes_running.load(Ordering::SeqCst) > 0 {
                match crate::jobs::extend(self.db, claim).await {
                    Ok(true) => extended = Instant::now(),
                    Ok(false) => {
                        self.halted.store(true, Ordering::SeqCst);
                        return Ok(());
                    }
                    Err(err) => tracing::warn!(error = %err, "the load's lease was not extended; trying again"),
                }
            }
        }
        Ok(())
    }

    /// Applies the lane's batches, each in a transaction on a connection the
    /// lane holds itself, so that the batch's rows may be written by `COPY`.
    async fn batches_of_lane(&self, mut catalogue: Catalogue) -> Result<(), DbErr> {
        let mut own = OwnConnection::open(self.db).await?;
        let ended = self.batches_on(&mut own, &mut catalogue).await;
        // Closed after an error too: a transaction left open on it ends,
        // rolled back. Whatever the lane committed stands even if closing fails.
        if let Err(e) = own.close().await {
            tracing::warn!(error = %e, "a load lane's connection did not close cleanly");
        }
        ended
    }

    /// Applies batches until no range of rows is left. The next batch is read
    /// while this one is applied: on SQLite, whose one writer makes the load
    /// serial, the writer's thread idled while this task read and parsed a
    /// batch's rows, and this task idled while the writer wrote. Its
    /// passwords are hashed then too, still outside its own transaction: a
    /// lane that waits for them holds no write lock.
    async fn batches_on(&self, own: &mut OwnConnection, catalogue: &mut Catalogue) -> Result<(), DbErr> {
        let mut ahead = self.take_batch().await?;
        while let Some(taken) = ahead {
            if self.halted.load(Ordering::SeqCst) {
                break;
            }
            let Some(batch) = taken else {
                ahead = self.take_batch().await?;
                continue;
            };
            let reading = self.take_batch();
            let applying = self.apply(own, catalogue, batch);
            tokio::pin!(reading, applying);
            let mut read = None;
            let applied = loop {
                tokio::select! {
                    applied = &mut applying => break applied,
                    next = &mut reading, if read.is_none() => read = Some(next),
                }
            };
            if !applied? {
                // Halted, failed, or stopped with every row given its result:
                // the next batch is not applied, nor waited for (its
                // passwords may take seconds to hash); it only read.
                return Ok(());
            }
            ahead = match read {
                Some(read) => read?,
                None => reading.await?,
            };
        }
        Ok(())
    }

    /// Takes the next range of row positions and reads its rows without a
    /// result: `None` when no range is left or the load is halted,
    /// `Some(None)` when every row of the range has a result.
    async fn take_batch(&self) -> Result<Option<Option<Batch>>, DbErr> {
        if self.halted.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let after = self.next.fetch_add(BATCH as i32, Ordering::SeqCst);
        if after >= self.last_index {
            return Ok(None);
        }
        self.read_batch(after).await.map(Some)
    }

    /// Applies one batch in its own transaction, then sends its mail and
    /// reports progress; false when the load goes no further (halted, or an
    /// all-or-nothing load stopped).
    async fn apply(&self, own: &mut OwnConnection, catalogue: &mut Catalogue, mut batch: Batch) -> Result<bool, DbErr> {
        // One lane renews the lease with each batch; lanes side by side check it.
        let fence = if self.parallel { Fence::Check } else { Fence::Renew };
        if !self.blocked && batch.may_name_a_manager() {
            self.managers_named.store(true, Ordering::SeqCst);
        }
        let txn = own.begin().await?;
        if !crate::jobs::fenced(&txn, self.claim, fence).await? {
            txn.rollback().await?;
            self.halted.store(true, Ordering::SeqCst);
            return Ok(false);
        }
        let (results, mailing, stop) = if self.blocked {
            // The rows with errors keep them (so the results file and "Retry
            // failed rows" find them); the others say why they were not loaded.
            let results = batch.rows.iter().map(|r| not_applied(r, NOT_LOADED_ALL_OR_NOTHING)).collect();
            let mailing = Mailing { tenant_id: self.upload.tenant_id, claim: String::new(), messages: Vec::new() };
            (results, mailing, false)
        } else {
            apply_batch(&txn, self.tenant, self.options, self.actor, catalogue, self.org_code, &mut batch).await?
        };
        let Some(applied) = self.record_results(&txn, &results, stop).await? else {
            // Another run gave these rows results since they were read: its work stands.
            txn.rollback().await?;
            let upload = self.upload.id;
            return Err(DbErr::Custom(format!("upload {upload}: rows were applied by another run at once")));
        };
        txn.commit().await?;
        if !mailing.messages.is_empty() {
            (self.send.lock().unwrap_or_else(|e| e.into_inner()))(mailing);
        }
        let grew = results.iter().any(|r| r.outcome == outcome::ADDED);
        if !self.after_commit(grew).await? || !self.report_progress(&results, applied, stop).await? {
            self.halted.store(true, Ordering::SeqCst);
            return Ok(false);
        }
        Ok(!stop)
    }

    /// The rows without a result in the range of positions after `after`, with
    /// the credentials of those it adds; `None` when all have one.
    async fn read_batch(&self, after: i32) -> Result<Option<Batch>, DbErr> {
        let (db, upload, tenant_id) = (self.db, self.upload, self.upload.tenant_id);
        // Ranges of row_index: a closed range keeps the query on the position
        // index however the planner guesses (an open one read ever more rows),
        // and rows done before a resume are not stepped over again.
        let (rows, parsed): (Vec<_>, Vec<_>) = Planned::select(db)
            .filter(upload_row::Column::UploadId.eq(upload.id))
            .filter(upload_row::Column::TenantId.eq(tenant_id))
            .filter(upload_row::Column::RowIndex.gt(after))
            .filter(upload_row::Column::RowIndex.lte(after + BATCH as i32))
            .filter(upload_row::Column::Result.is_null())
            .order_by_asc(upload_row::Column::RowIndex)
            .into_model::<Planned>()
            .all(db)
            .await?
            .into_iter()
            .map(Planned::split)
            .unzip();
        if rows.is_empty() {
            return Ok(None);
        }
        let credentials = if self.blocked {
            HashMap::new()
        } else {
            credentials_for(&rows, &parsed, self.options.load.credentials).await
        };
        Ok(Some(Batch { rows, parsed, credentials }))
    }

    /// Writes the batch's results, and after a stop those of every row left,
    /// and adds them to the upload's count; returns how many rows that is, or
    /// `None` when another run gave some of them results since they were read.
    async fn record_results<C: ConnectionTrait>(
        &self,
        txn: &C,
        results: &[RowResult],
        stop: bool,
    ) -> Result<Option<i64>, DbErr> {
        use sea_orm::sea_query::ExprTrait;
        let (upload, tenant_id) = (self.upload, self.upload.tenant_id);
        if write_results(txn, tenant_id, results).await? != results.len() as u64 {
            return Ok(None);
        }
        let mut applied = results.len() as i64;
        if stop {
            // In the batch's transaction: committed apart, a crash between
            // the two left the rows after the failure without a result, and
            // the resumed load applied them.
            applied += stop_remaining(txn, upload).await? as i64;
            // Every row has a result now: no batch is left to read (a load
            // that stops runs in one lane).
            self.next.store(self.last_index, Ordering::SeqCst);
        }
        // Added to, not set: lanes commit in any order.
        upload::Entity::update_many()
            .col_expr(upload::Column::RowsDone, Expr::col(upload::Column::RowsDone).add(applied as i32))
            .filter(upload::Column::Id.eq(upload.id))
            .filter(upload::Column::TenantId.eq(tenant_id))
            .exec(txn)
            .await?;
        Ok(Some(applied))
    }

    /// What follows each commit: fresh statistics as the load grows the users
    /// table (`grew`: the batch added users), and lanes side by side telling
    /// the job once that they made progress. False when the job was lost.
    async fn after_commit(&self, grew: bool) -> Result<bool, DbErr> {
        let db = self.db;
        // PostgreSQL plans by table statistics, which autovacuum refreshes only
        // minutes later: a table grown from empty by this load would be scanned
        // whole for every key lookup. Refresh them as the load grows the table;
        // batches that add no one leave its size as it was (the load
        // benchmark's 100k updates, on PostgreSQL alone: 15.2k rows/s with
        // an ANALYZE at each power-of-two batch, 23.0k without).
        if grew && db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            let growing = self.growing_batches.fetch_add(1, Ordering::SeqCst) + 1;
            if growing.is_power_of_two() {
                db.execute_unprepared("ANALYZE users").await?;
            }
        }
        // One lane renews in its batch, which counts as progress; lanes side
        // by side say so once, after the run's first commit.
        if let (true, Some(claim)) = (self.parallel, self.claim) {
            if !self.progress_marked.swap(true, Ordering::SeqCst) && !crate::jobs::renew(db, claim).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Tells `progress` where the load is; false when it says to stop.
    async fn report_progress(&self, results: &[RowResult], applied: i64, stop: bool) -> Result<bool, DbErr> {
        let done = self.done.fetch_add(applied, Ordering::SeqCst) + applied;
        // The rows after a failure were given their outcome in the database.
        let recounted = if stop { Some(super::results::counts(self.db, self.upload).await?) } else { None };
        let counts = {
            let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
            match recounted {
                Some(counts) => *tally = counts,
                None => results.iter().for_each(|r| tally.add(r.outcome, 1)),
            }
            tally.clone()
        };
        let progress = Progress { done, total: i64::from(self.upload.rows_total), counts };
        Ok((self.progress.lock().unwrap_or_else(|e| e.into_inner()))(&progress))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_lane_halts_the_others_but_lets_them_finish_their_batch() {
        let halted = AtomicBool::new(false);
        let finished = AtomicBool::new(false);
        let failing = || async { Err::<(), _>(DbErr::Custom("first".into())) };
        let in_a_batch = || async {
            // Mid-batch (say, its commit on the way) when the other lane fails.
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            finished.store(true, Ordering::SeqCst);
            Err(DbErr::Custom("second".into()))
        };
        type Lane<'a> = Pin<Box<dyn Future<Output = Result<(), DbErr>> + 'a>>;
        let lanes: Vec<Lane> = vec![Box::pin(failing()), Box::pin(in_a_batch())];
        let result = side_by_side(lanes, &halted).await;
        assert!(matches!(result, Err(DbErr::Custom(m)) if m == "first"), "the first error is returned");
        assert!(halted.load(Ordering::SeqCst), "the other lanes are told to stop");
        assert!(finished.load(Ordering::SeqCst), "the lane in a batch was not dropped halfway");
    }
}
