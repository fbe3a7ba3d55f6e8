//! Applying a planned upload: the background load.
//!
//! Rows are applied in batches, each batch in one transaction that also records
//! every row's result. A row with a result is never applied again, so a load that
//! is interrupted (process killed, database gone) resumes exactly where its last
//! committed batch ended and applies every row once. Each row is re-checked
//! against the database as it is at that moment: what changed since the preview
//! is reported as the row's result, never overwritten.
//!
//! On PostgreSQL a large load runs in [`LANES`] lanes side by side, each taking
//! the next range of rows and applying it in its own transaction (see
//! `lanes::may_run_side_by_side` for when it may).
//!
//! [`run`] is the load from start to summary; `lanes` takes the batches,
//! `planned` reads them, `apply` applies one (checked against what `present`
//! reads, written by `writes`), `tables` names the columns it writes and
//! `catalogue` the names and licences it checks; `managers` links reportsTo
//! once every row is in; `results` writes and counts the rows' results; `mail`
//! keeps the mail a batch owes until it went out.
mod apply;
mod catalogue;
mod lanes;
mod mail;
mod managers;
mod planned;
mod present;
mod results;
mod tables;
mod writes;

pub(crate) use lanes::side_by_side;
pub use lanes::LANES;
pub use mail::{claim_unsent_mail, extend_mail_claim, mail_failed, mail_sent, Delivery, MAIL_ATTEMPTS};
pub use results::HELD_BACK;

use crate::entity::upload::UploadState;
use crate::entity::user::UserState;
use crate::entity::{organisation, tenant, upload, upload_row, user};
use crate::jobs::Fence;
use catalogue::{Catalogue, Creating};
use chrono::Utc;
use lanes::{may_run_side_by_side, Lanes};
use managers::link_managers;
use muster_import::RowStatus;
use results::counts;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use tables::Actor;

/// Rows per transaction: big enough that commits are rare, small enough that a
/// resumed load repeats little and progress moves visibly.
pub const BATCH: u64 = 1000;

/// How new users without a password in the file get one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credentials {
    /// A single-use link, valid for [`INVITATION_DAYS`], to set a password.
    #[default]
    Invite,
    /// A random password, emailed to the user if `email` is set.
    GeneratePassword { email: bool },
}

pub const INVITATION_DAYS: i64 = 7;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// All or nothing: a file with any row error loads nothing, and a row that
    /// fails at load time stops the load.
    pub stop_on_error: bool,
    pub credentials: Credentials,
    /// Mail new users their invitation or generated password. Off (onboarding
    /// before telling anyone), no new user gets mail, whatever a row's
    /// `notifyIfNewUser` says; on, a row's `notifyIfNewUser` false still keeps
    /// that user's mail back. Uploads stored before the option had it on.
    #[serde(default = "notify_by_default")]
    pub notify_new_users: bool,
    /// Email the summary and the results file when the load ends: to
    /// `results_to` if given (the command line's `--results-to`), else to the
    /// admin who uploaded the file.
    pub results_email: bool,
    #[serde(default)]
    pub results_to: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            stop_on_error: false,
            credentials: Credentials::Invite,
            notify_new_users: notify_by_default(),
            results_email: true,
            results_to: None,
        }
    }
}

fn notify_by_default() -> bool {
    true
}

/// Everything the admin chose for an upload, stored with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadOptions {
    pub plan: muster_import::PlanOptions,
    pub load: LoadOptions,
}

/// A message the caller sends once the batch that created it has committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Invitation { email: String, name: String, user_id: String, token: String },
    Password { email: String, name: String, user_id: String, password: String },
}

/// A message owed to one new user: `owed` is its `mail_owed` row, which the
/// sender clears with [`mail_sent`] or [`mail_failed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub owed: i64,
    pub outgoing: Outgoing,
}

/// The mail of one batch, each message owed until it is sent (see
/// [`claim_unsent_mail`] for mail whose sender did not finish).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailing {
    pub tenant_id: i64,
    /// The claim on its messages: only its holder records what became of them.
    pub claim: String,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadCounts {
    pub added: u64,
    pub updated: u64,
    pub leavers: u64,
    pub joiners: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub errors: u64,
    pub roles_added: u64,
    pub groups_added: u64,
}

impl LoadCounts {
    /// The summary line of SPEC section 5.
    pub fn summary(&self) -> String {
        let lead = if self.errors == 0 { "Users loaded successfully." } else { "Users loaded with errors." };
        let mut line = format!(
            "{lead} {} added, {} updated, {} {}, {} {}, {} deleted, {} {} added.",
            self.added,
            self.updated,
            self.leavers,
            if self.leavers == 1 { "leaver" } else { "leavers" },
            self.joiners,
            if self.joiners == 1 { "joiner" } else { "joiners" },
            self.deleted,
            self.roles_added,
            if self.roles_added == 1 { "role" } else { "roles" },
        );
        if self.groups_added > 0 {
            let noun = if self.groups_added == 1 { "group" } else { "groups" };
            line.push_str(&format!(" {} {noun} added.", self.groups_added));
        }
        if self.errors > 0 {
            let noun = if self.errors == 1 { "row" } else { "rows" };
            line.push_str(&format!(" {} {noun} not loaded: see the results file.", self.errors));
        }
        line
    }
}

/// Outcome words stored per row; the counts are derived from them.
pub(crate) mod outcome {
    pub const ADDED: &str = "added";
    pub const UPDATED: &str = "updated";
    pub const LEAVER: &str = "leaver";
    pub const JOINER: &str = "joiner";
    pub const DELETED: &str = "deleted";
    pub const UNCHANGED: &str = "unchanged";
    pub const SKIPPED: &str = "skipped";
    pub const ERROR: &str = "error";
}

/// The claim a worker holds on the load's job. Every batch renews it inside its
/// own transaction (lanes side by side check it there, `jobs::holds`, while a
/// keeper extends the lease beside them), so a worker whose job was taken over (its lease ran
/// out while it stalled) commits nothing more: the check fails and the batch
/// rolls back.
#[derive(Debug, Clone)]
pub struct Claim {
    pub job_id: i64,
    pub tenant_id: i64,
    pub worker: String,
}

impl Claim {
    pub fn of(job: &crate::entity::job::Model, worker: &str) -> Self {
        Self { job_id: job.id, tenant_id: job.tenant_id, worker: worker.to_owned() }
    }
}

/// Where a running load is, after one of its batches committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub done: i64,
    pub total: i64,
    /// The outcomes of the rows done so far.
    pub counts: LoadCounts,
}

impl LoadCounts {
    /// Counts `n` rows of the outcome word stored on a row (`added`, …).
    pub fn add(&mut self, row_outcome: &str, n: u64) {
        *match row_outcome {
            outcome::ADDED => &mut self.added,
            outcome::UPDATED => &mut self.updated,
            outcome::LEAVER => &mut self.leavers,
            outcome::JOINER => &mut self.joiners,
            outcome::DELETED => &mut self.deleted,
            outcome::UNCHANGED => &mut self.unchanged,
            outcome::SKIPPED => &mut self.skipped,
            _ => &mut self.errors,
        } += n;
    }
}

pub struct LoadReport {
    pub counts: LoadCounts,
    pub finished: bool,
}

/// Applies every row of `upload` that has no result yet, batch by batch, under
/// `claim` when a worker runs it (none from the command line). `progress` hears
/// after each commit how many rows are done and how, and answers whether to go on (a
/// server shutting down stops between batches; lanes side by side finish the
/// batches they are in). Outgoing mail is handed to
/// `send` after the batch that made it has committed, each message owed (and
/// claimed for the caller) in that batch's transaction: the caller says
/// [`mail_sent`] or [`mail_failed`] for each.
pub async fn run(
    db: &DatabaseConnection,
    upload_id: i64,
    claim: Option<&Claim>,
    progress: impl FnMut(&Progress) -> bool + Send,
    send: impl FnMut(Mailing) + Send,
) -> Result<LoadReport, DbErr> {
    let upload = upload_to_load(db, upload_id, claim).await?;
    let tenant_id = upload.tenant_id;
    let tenant =
        tenant::Entity::find_by_id(tenant_id).one(db).await?.ok_or_else(|| DbErr::RecordNotFound("tenant".into()))?;
    let options = crate::uploads::options_of(&upload);
    let actor = actor_of(db, &upload).await?;
    let mut catalogue = catalogue_of(db, &tenant).await?;
    let org_code = organisation_codes(db, tenant_id).await?;
    // All or nothing: a plan with errors loads nothing.
    let blocked = options.load.stop_on_error && has_selected_errors(db, &upload).await?;

    let stopped = || async { Ok(LoadReport { counts: counts(db, &upload).await?, finished: false }) };
    let Some(done) = mark_running(db, &upload, claim).await? else {
        return stopped().await;
    };
    crate::events::note_upload_changed(db, tenant_id, upload.id, crate::events::kind::STARTED, None).await;
    let last_index = crate::uploads::last_row_index(db, tenant_id, upload.id).await?.unwrap_or(0);
    let parallel = may_run_side_by_side(db, &upload, &options, &catalogue, done).await?;
    if parallel {
        catalogue.creating = Creating::Committed(db.clone());
    }
    let lanes = if parallel { LANES } else { 1 };
    let run = Lanes {
        db,
        upload: &upload,
        tenant: &tenant,
        options: &options,
        actor: &actor,
        org_code: &org_code,
        claim,
        blocked,
        parallel,
        last_index,
        next: AtomicI32::new(0),
        done: AtomicI64::new(done),
        growing_batches: AtomicU64::new(0),
        halted: AtomicBool::new(false),
        lanes_running: AtomicUsize::new(lanes),
        // What the rows applied before a resume named is not known here.
        managers_named: AtomicBool::new(done > 0),
        progress_marked: AtomicBool::new(false),
        // A resumed load counts on from the outcomes already written.
        tally: Mutex::new(if done > 0 { counts(db, &upload).await? } else { LoadCounts::default() }),
        progress: Mutex::new(progress),
        send: Mutex::new(send),
    };
    type Task<'a> = Pin<Box<dyn Future<Output = Result<(), DbErr>> + Send + 'a>>;
    let mut tasks: Vec<Task> = (0..lanes).map(|_| Box::pin(run.lane(catalogue.clone())) as Task).collect();
    // In every mode: one lane's batch may hash passwords for longer than the
    // lease, and a renewal only comes with its commit.
    if let Some(claim) = claim {
        tasks.push(Box::pin(run.keep_lease(claim)));
    }
    side_by_side(tasks, &run.halted).await?;
    if run.halted.load(Ordering::SeqCst) {
        return stopped().await;
    }

    // Linking reads every applied row's record again: for a million rows
    // without a manager, seconds spent finding none.
    if run.managers_named.load(Ordering::SeqCst) && !link_managers(db, &upload, last_index, claim).await? {
        return stopped().await;
    }
    let counts = counts(db, &upload).await?;
    if !mark_done(db, &upload, claim, &counts).await? {
        return stopped().await;
    }
    crate::events::note_upload_changed(db, tenant_id, upload.id, crate::events::kind::DONE, Some(counts.clone())).await;
    Ok(LoadReport { counts, finished: true })
}

async fn upload_to_load(
    db: &DatabaseConnection,
    upload_id: i64,
    claim: Option<&Claim>,
) -> Result<upload::Model, DbErr> {
    let mut query = upload::Entity::find_by_id(upload_id);
    if let Some(claim) = claim {
        // A job names its tenant and its upload: never load another tenant's.
        query = query.filter(upload::Column::TenantId.eq(claim.tenant_id));
    }
    query.one(db).await?.ok_or_else(|| DbErr::RecordNotFound(format!("upload {upload_id}")))
}

/// Who the load's audit events name: the admin who uploaded the file, or the
/// command line.
async fn actor_of(db: &DatabaseConnection, upload: &upload::Model) -> Result<Actor, DbErr> {
    let tenant_id = upload.tenant_id;
    Ok(match upload.uploaded_by {
        Some(id) => Actor {
            user_id: Some(id),
            label: user::Entity::find_by_id(id)
                .filter(user::Column::TenantId.eq(tenant_id))
                .one(db)
                .await?
                .map_or(format!("user {id}"), |u| u.user_id),
            tenant_id,
            upload_id: upload.id,
        },
        None => Actor { user_id: None, label: "command line".into(), tenant_id, upload_id: upload.id },
    })
}

/// The tenant's roles, groups and organisations, and the licences it has left.
async fn catalogue_of(db: &DatabaseConnection, tenant: &tenant::Model) -> Result<Catalogue, DbErr> {
    let tenant_id = tenant.id;
    let mut catalogue = Catalogue::load(db, tenant_id).await?;
    if let Some(limit) = tenant.licence_limit {
        // Loads of one tenant run one at a time, so the count holds for this run.
        let active = user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::State.ne(UserState::Leaver))
            .count(db)
            .await?;
        catalogue.licences_left = Some((Ord::max(limit, 0) as u64).saturating_sub(active));
    }
    Ok(catalogue)
}

/// Each organisation's code, by its id.
async fn organisation_codes(db: &DatabaseConnection, tenant_id: i64) -> Result<HashMap<i64, String>, DbErr> {
    Ok(organisation::Entity::find()
        .filter(organisation::Column::TenantId.eq(tenant_id))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.code))
        .collect())
}

/// Whether a ticked row of the plan has an error.
async fn has_selected_errors(db: &DatabaseConnection, upload: &upload::Model) -> Result<bool, DbErr> {
    Ok(upload_row::Entity::find()
        .filter(upload_row::Column::UploadId.eq(upload.id))
        .filter(upload_row::Column::TenantId.eq(upload.tenant_id))
        .filter(upload_row::Column::Status.eq(RowStatus::Error.as_str()))
        .filter(upload_row::Column::Selected.eq(true))
        .count(db)
        .await?
        > 0)
}

/// Marks the upload running and returns how many rows already have a result
/// (a resumed load), or `None` when the claim is no longer held.
async fn mark_running(
    db: &DatabaseConnection,
    upload: &upload::Model,
    claim: Option<&Claim>,
) -> Result<Option<i64>, DbErr> {
    let tenant_id = upload.tenant_id;
    // The upload is marked running, and the rows that already have a result (a
    // resumed load) counted once, to be added to by each batch: under the claim,
    // like a batch, so that a worker that lost the job sets neither back under the
    // one that took it over (or finished it). Checked, not renewed: a renewal
    // counts as progress, and none is made yet.
    let Some(txn) = crate::jobs::begin_fenced(db, claim, Fence::Check).await? else {
        return Ok(None);
    };
    if upload.started_at.is_none() {
        // Once, at the first start: a resumed load is the same load.
        let total = crate::notifications::rows(upload.rows_total.max(0) as u64);
        let said = format!("Upload {} ({}) is loading: {total}.", upload.id, upload.file_name);
        crate::notifications::tell(&txn, upload, crate::notifications::kind::STARTED, &said).await?;
    }
    if upload.started_at.is_none() || upload.state != UploadState::Running {
        upload::Entity::update_many()
            .col_expr(upload::Column::State, Expr::value(UploadState::Running))
            .col_expr(upload::Column::StartedAt, Expr::value(upload.started_at.unwrap_or_else(Utc::now)))
            .filter(upload::Column::Id.eq(upload.id))
            .filter(upload::Column::TenantId.eq(tenant_id))
            .exec(&txn)
            .await?;
    }
    let done = upload_row::Entity::find()
        .filter(upload_row::Column::UploadId.eq(upload.id))
        .filter(upload_row::Column::TenantId.eq(tenant_id))
        .filter(upload_row::Column::Result.is_not_null())
        .count(&txn)
        .await? as i64;
    if i64::from(upload.rows_done) != done {
        upload::Entity::update_many()
            .col_expr(upload::Column::RowsDone, Expr::value(done as i32))
            .filter(upload::Column::Id.eq(upload.id))
            .filter(upload::Column::TenantId.eq(tenant_id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(Some(done))
}

/// Marks the upload done with its summary; false when the claim is no longer held.
async fn mark_done(
    db: &DatabaseConnection,
    upload: &upload::Model,
    claim: Option<&Claim>,
    counts: &LoadCounts,
) -> Result<bool, DbErr> {
    // Fenced like every batch: only the worker holding the job says it is done.
    let Some(txn) = crate::jobs::begin_fenced(db, claim, Fence::Renew).await? else {
        return Ok(false);
    };
    upload::Entity::update_many()
        .col_expr(upload::Column::State, Expr::value(UploadState::Done))
        .col_expr(upload::Column::Summary, Expr::value(counts.summary()))
        .col_expr(upload::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(upload::Column::Id.eq(upload.id))
        .filter(upload::Column::TenantId.eq(upload.tenant_id))
        .exec(&txn)
        .await?;
    let said = format!("Upload {} ({}) is loaded. {}", upload.id, upload.file_name, counts.summary());
    crate::notifications::tell(&txn, upload, crate::notifications::kind::DONE, &said).await?;
    txn.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_stored_before_the_notify_switch_read_as_notifying() {
        let stored = r#"{"stop_on_error":false,"credentials":"invite","results_email":true,"results_to":null}"#;
        let options: LoadOptions = serde_json::from_str(stored).unwrap();
        assert!(options.notify_new_users);
        assert_eq!(options, LoadOptions::default());
    }
}
