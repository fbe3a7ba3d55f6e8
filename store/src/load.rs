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
//! [`may_run_side_by_side`] for when it may).
use crate::bulk::{self, Kind};
use crate::entity::{
    audit_event, group, invitation, organisation, pending_mail, role, tenant, upload, upload_row, user,
};
use crate::memberships::{self, Kind as Membership};
use crate::uploads::state;
use crate::{passwords, tokens};
use chrono::Utc;
use muster_import::plan::Change;
use muster_import::{normalize_key, Field, RowStatus, SyncAction, UserId, UserRow};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::Poll;
use std::time::Instant;

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

/// The owner of a key a new user of the batch takes, before it has an id.
const NEW_USER: i64 = 0;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// All or nothing: a file with any row error loads nothing, and a row that
    /// fails at load time stops the load.
    pub stop_on_error: bool,
    pub credentials: Credentials,
    /// Email the summary and the results file when the load ends: to
    /// `results_to` if given (the command line's `--results-to`), else to the
    /// admin who uploaded the file.
    pub results_email: bool,
    #[serde(default)]
    pub results_to: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { stop_on_error: false, credentials: Credentials::Invite, results_email: true, results_to: None }
    }
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

/// The mail of one batch, owed until [`mail_sent`] is told that every message
/// of it went out (see [`claim_unsent_mail`] for mail that did not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailing {
    pub tenant_id: i64,
    /// The `pending_mail` mark written with the batch.
    pub pending: i64,
    pub messages: Vec<Outgoing>,
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
            line.push_str(&format!(" {} rows not loaded: see the results file.", self.errors));
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

struct RowResult {
    id: i64,
    outcome: &'static str,
    text: String,
}

/// The tenant's names and ids, kept across the batches of one load (one copy
/// per lane).
#[derive(Clone)]
struct Catalogue {
    organisations: HashMap<String, i64>,
    default_organisation: Option<i64>,
    roles: HashMap<String, i64>,
    groups: HashMap<String, i64>,
    /// Licences the tenant has left (`None`: unlimited), counted when the load
    /// starts and spent by each user it adds or re-admits.
    licences_left: Option<u64>,
    creating: Creating,
}

impl Catalogue {
    async fn load<C: ConnectionTrait>(db: &C, tenant_id: i64) -> Result<Self, DbErr> {
        let orgs = organisation::Entity::find().filter(organisation::Column::TenantId.eq(tenant_id)).all(db).await?;
        let roles = role::Entity::find().filter(role::Column::TenantId.eq(tenant_id)).all(db).await?;
        let groups = group::Entity::find().filter(group::Column::TenantId.eq(tenant_id)).all(db).await?;
        Ok(Self {
            default_organisation: orgs.iter().find(|o| o.is_default).map(|o| o.id),
            organisations: orgs.into_iter().map(|o| (o.code_norm, o.id)).collect(),
            roles: roles.into_iter().map(|r| (r.name_norm, r.id)).collect(),
            groups: groups.into_iter().map(|g| (g.name_norm, g.id)).collect(),
            licences_left: None,
            creating: Creating::InBatch,
        })
    }
}

impl Catalogue {
    fn names(&self, kind: Membership) -> &HashMap<String, i64> {
        match kind {
            Membership::Roles => &self.roles,
            Membership::Groups => &self.groups,
        }
    }
    fn names_mut(&mut self, kind: Membership) -> &mut HashMap<String, i64> {
        match kind {
            Membership::Roles => &mut self.roles,
            Membership::Groups => &mut self.groups,
        }
    }

    /// Takes one licence for a user added or re-admitted; `false` when none is left.
    fn spend_licence(&mut self) -> bool {
        match &mut self.licences_left {
            None => true,
            Some(0) => false,
            Some(left) => {
                *left -= 1;
                true
            }
        }
    }
}

fn no_licence(tenant: &tenant::Model) -> String {
    format!(
        "Not loaded: no licence left (all {} of the tenant's licences are in use)",
        tenant.licence_limit.unwrap_or_default()
    )
}

/// Who makes a load's changes, and in which tenant and upload: what every audit
/// event of the load shares.
struct Actor {
    user_id: Option<i64>,
    label: String,
    tenant_id: i64,
    upload_id: i64,
}

fn audit(
    actor: &Actor,
    action: &str,
    kind: &str,
    id: Option<i64>,
    target: &str,
    details: Option<serde_json::Value>,
) -> bulk::Row {
    let actor_label: String = actor.label.chars().take(128).collect();
    let target: String = target.chars().take(254).collect();
    bulk::Row::with_capacity(AUDIT_COLUMNS.len())
        .int(actor.tenant_id)
        .int(actor.user_id)
        .text(Some(&actor_label))
        .text(Some(action))
        .text(Some(kind))
        .int(id)
        .text(Some(&target))
        .int(actor.upload_id)
        .json(details)
        .time(Some(Utc::now()))
}

const AUDIT_COLUMNS: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("actor_user_id", Kind::BigInt),
    ("actor", Kind::Text),
    ("action", Kind::Text),
    ("target_kind", Kind::Text),
    ("target_id", Kind::BigInt),
    ("target", Kind::Text),
    ("upload_id", Kind::BigInt),
    ("details", Kind::Json),
    ("created_at", Kind::Timestamp),
];

const USER_COLUMNS: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("user_id", Kind::Text),
    ("user_id_norm", Kind::Text),
    ("external_id", Kind::Text),
    ("external_id_norm", Kind::Text),
    ("title", Kind::Text),
    ("first_name", Kind::Text),
    ("last_name", Kind::Text),
    ("email", Kind::Text),
    ("email_norm", Kind::Text),
    ("mobile", Kind::Text),
    ("job_title", Kind::Text),
    ("organisation_id", Kind::BigInt),
    ("state", Kind::Text),
    ("enabled", Kind::Bool),
    ("task_notification", Kind::Text),
    ("change_password_next_time", Kind::Bool),
    ("password_hash", Kind::Text),
    ("is_tenant_admin", Kind::Bool),
    ("created_at", Kind::Timestamp),
    ("updated_at", Kind::Timestamp),
];

/// A new user's row for [`USER_COLUMNS`].
fn user_row(u: &user::ActiveModel) -> bulk::Row {
    let text = |v: &sea_orm::ActiveValue<Option<String>>| v.clone().unwrap();
    bulk::Row::with_capacity(USER_COLUMNS.len())
        .int(u.tenant_id.clone().unwrap())
        .text(Some(&u.user_id.clone().unwrap()))
        .text(Some(&u.user_id_norm.clone().unwrap()))
        .text(text(&u.external_id).as_deref())
        .text(text(&u.external_id_norm).as_deref())
        .text(text(&u.title).as_deref())
        .text(text(&u.first_name).as_deref())
        .text(text(&u.last_name).as_deref())
        .text(Some(&u.email.clone().unwrap()))
        .text(Some(&u.email_norm.clone().unwrap()))
        .text(text(&u.mobile).as_deref())
        .text(text(&u.job_title).as_deref())
        .int(u.organisation_id.clone().unwrap())
        .text(Some(&u.state.clone().unwrap()))
        .bool(u.enabled.clone().unwrap())
        .text(Some(&u.task_notification.clone().unwrap()))
        .bool(u.change_password_next_time.clone().unwrap())
        .text(text(&u.password_hash).as_deref())
        .bool(u.is_tenant_admin.clone().unwrap())
        .time(Some(u.created_at.clone().unwrap()))
        .time(Some(u.updated_at.clone().unwrap()))
}

const ROLE_MEMBER_COLUMNS: bulk::Columns =
    &[("tenant_id", Kind::BigInt), ("user_id", Kind::BigInt), ("role_id", Kind::BigInt)];
const GROUP_MEMBER_COLUMNS: bulk::Columns =
    &[("tenant_id", Kind::BigInt), ("user_id", Kind::BigInt), ("group_id", Kind::BigInt)];
const INVITATION_COLUMNS: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("user_id", Kind::BigInt),
    ("token_hash", Kind::Text),
    ("expires_at", Kind::Timestamp),
    ("created_at", Kind::Timestamp),
];
const MANAGER_COLUMNS: bulk::Columns = &[("id", Kind::BigInt), ("reports_to_id", Kind::BigInt)];
const RESULT_COLUMNS: bulk::Columns = &[("id", Kind::BigInt), ("result", Kind::Text), ("outcome", Kind::Text)];

/// The value of a field on a user as the planner formats it, for the
/// "changed since the preview" check. Role and group sets are compared apart.
fn current_value(
    user: &user::Model,
    field: Field,
    org_code: &HashMap<i64, String>,
    manager: Option<&str>,
) -> Option<String> {
    match field {
        Field::UserId => Some(user.user_id.clone()),
        Field::ExternalId => user.external_id.clone(),
        Field::Title => user.title.clone(),
        Field::FirstName => user.first_name.clone(),
        Field::LastName => user.last_name.clone(),
        Field::Email => Some(user.email.clone()),
        Field::Mobile => user.mobile.clone(),
        Field::JobTitle => user.job_title.clone(),
        Field::Organisation => user.organisation_id.and_then(|id| org_code.get(&id).cloned()),
        Field::Enabled => Some(user.enabled.to_string()),
        Field::ReportsTo => manager.map(str::to_owned),
        Field::TaskNotification => Some(user.task_notification.clone()),
        Field::ChangePasswordNextTime => Some(user.change_password_next_time.to_string()),
        _ => None,
    }
}

fn same(a: Option<&str>, b: Option<&str>) -> bool {
    a.map(normalize_key) == b.map(normalize_key)
}

fn names_set(names: &str) -> HashSet<String> {
    names.split('|').filter(|n| !n.trim().is_empty()).map(normalize_key).collect()
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

pub struct LoadReport {
    pub counts: LoadCounts,
    pub outgoing: Vec<Outgoing>,
    pub finished: bool,
}

/// Applies every row of `upload` that has no result yet, batch by batch, under
/// `claim` when a worker runs it (none from the command line). `progress` hears
/// after each commit how many rows are done, and answers whether to go on (a
/// server shutting down stops between batches; lanes side by side finish the
/// batches they are in). Outgoing mail is handed to
/// `send` after the batch that made it has committed, marked as owed in that
/// batch's transaction: the caller says [`mail_sent`] once it went out.
pub async fn run(
    db: &DatabaseConnection,
    upload_id: i64,
    claim: Option<&Claim>,
    progress: impl FnMut(i64, i64) -> bool + Send,
    send: impl FnMut(Mailing) + Send,
) -> Result<LoadReport, DbErr> {
    let mut query = upload::Entity::find_by_id(upload_id);
    if let Some(claim) = claim {
        // A job names its tenant and its upload: never load another tenant's.
        query = query.filter(upload::Column::TenantId.eq(claim.tenant_id));
    }
    let Some(upload) = query.one(db).await? else {
        return Err(DbErr::RecordNotFound(format!("upload {upload_id}")));
    };
    let tenant_id = upload.tenant_id;
    let tenant =
        tenant::Entity::find_by_id(tenant_id).one(db).await?.ok_or_else(|| DbErr::RecordNotFound("tenant".into()))?;
    let options = crate::uploads::options_of(&upload);
    let actor = match upload.uploaded_by {
        Some(id) => Actor {
            user_id: Some(id),
            label: user::Entity::find_by_id(id).one(db).await?.map_or(format!("user {id}"), |u| u.user_id),
            tenant_id,
            upload_id: upload.id,
        },
        None => Actor { user_id: None, label: "command line".into(), tenant_id, upload_id: upload.id },
    };
    let mut catalogue = Catalogue::load(db, tenant_id).await?;
    if let Some(limit) = tenant.licence_limit {
        // Loads of one tenant run one at a time, so the count holds for this run.
        let active = user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::State.ne("leaver"))
            .count(db)
            .await?;
        catalogue.licences_left = Some((Ord::max(limit, 0) as u64).saturating_sub(active));
    }
    let org_code: HashMap<i64, String> = organisation::Entity::find()
        .filter(organisation::Column::TenantId.eq(tenant_id))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.code))
        .collect();

    // All or nothing: a plan with errors loads nothing.
    let blocked = options.load.stop_on_error
        && upload_row::Entity::find()
            .filter(upload_row::Column::UploadId.eq(upload.id))
            .filter(upload_row::Column::TenantId.eq(tenant_id))
            .filter(upload_row::Column::Status.eq(RowStatus::Error.as_str()))
            .filter(upload_row::Column::Selected.eq(true))
            .count(db)
            .await?
            > 0;

    // The upload is marked running, and the rows that already have a result (a
    // resumed load) counted once, to be added to by each batch: under the claim,
    // like a batch, so that a worker that lost the job sets neither back under the
    // one that took it over (or finished it). Checked, not renewed: a renewal
    // counts as progress, and none is made yet.
    let stopped = || async { Ok(LoadReport { counts: counts(db, &upload).await?, outgoing: vec![], finished: false }) };
    let txn = crate::db::begin_write(db).await?;
    if let Some(claim) = claim {
        if !crate::jobs::holds(&txn, claim).await? {
            txn.rollback().await?;
            return stopped().await;
        }
    }
    if upload.started_at.is_none() || upload.state != state::RUNNING {
        upload::Entity::update_many()
            .col_expr(upload::Column::State, Expr::value(state::RUNNING))
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
        batches: AtomicU64::new(0),
        halted: AtomicBool::new(false),
        lanes_running: AtomicUsize::new(lanes),
        progress_marked: AtomicBool::new(false),
        progress: Mutex::new(progress),
        send: Mutex::new(send),
    };
    type Task<'a> = Pin<Box<dyn Future<Output = Result<(), DbErr>> + Send + 'a>>;
    let mut tasks: Vec<Task> = (0..lanes).map(|_| Box::pin(run.lane(catalogue.clone())) as Task).collect();
    if let (true, Some(claim)) = (parallel, claim) {
        tasks.push(Box::pin(run.keep_lease(claim)));
    }
    side_by_side(tasks, &run.halted).await?;
    if run.halted.load(Ordering::SeqCst) {
        return stopped().await;
    }

    if !link_managers(db, &upload, last_index, claim).await? {
        return stopped().await;
    }
    let counts = counts(db, &upload).await?;
    // Fenced like every batch: only the worker holding the job says it is done.
    let txn = crate::db::begin_write(db).await?;
    if let Some(claim) = claim {
        if !crate::jobs::renew(&txn, claim).await? {
            txn.rollback().await?;
            return stopped().await;
        }
    }
    upload::Entity::update_many()
        .col_expr(upload::Column::State, Expr::value(state::DONE))
        .col_expr(upload::Column::Summary, Expr::value(counts.summary()))
        .col_expr(upload::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(upload::Column::Id.eq(upload.id))
        .filter(upload::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(LoadReport { counts, outgoing: vec![], finished: true })
}

/// Lanes of batches applied side by side on PostgreSQL, each on its own
/// connection. A batch keeps PostgreSQL's server process busy most of its time,
/// so with one lane the second core idles; three keep both busy (two gave 1.4x
/// the rate of one on this 2-core machine, three 1.5x).
pub const LANES: usize = 3;

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
async fn may_run_side_by_side(
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
const RENEWALS_PER_LEASE: u32 = 4;

/// One load's lanes: what they share (the next range of rows to take, the
/// counts, whether to stop) and what each batch needs.
struct Lanes<'a, P, S> {
    db: &'a DatabaseConnection,
    upload: &'a upload::Model,
    tenant: &'a tenant::Model,
    options: &'a UploadOptions,
    actor: &'a Actor,
    org_code: &'a HashMap<i64, String>,
    claim: Option<&'a Claim>,
    /// All or nothing, and the plan has errors: rows get results, nothing is applied.
    blocked: bool,
    parallel: bool,
    last_index: i32,
    /// The start of the next range of row positions a lane takes.
    next: AtomicI32,
    done: AtomicI64,
    batches: AtomicU64,
    /// The lease was lost or the server is stopping: no lane starts another batch.
    halted: AtomicBool,
    /// Lanes not yet ended: the lease is kept while any runs.
    lanes_running: AtomicUsize,
    /// Whether this run has told the job it made progress (its first commit).
    progress_marked: AtomicBool,
    progress: Mutex<P>,
    send: Mutex<S>,
}

impl<P, S> Lanes<'_, P, S>
where
    P: FnMut(i64, i64) -> bool + Send,
    S: FnMut(Mailing) + Send,
{
    /// Takes ranges of BATCH row positions until none is left, applying each
    /// range's rows without a result in one transaction.
    async fn lane(&self, catalogue: Catalogue) -> Result<(), DbErr> {
        let ended = self.batches_of_lane(catalogue).await;
        self.lanes_running.fetch_sub(1, Ordering::SeqCst);
        ended
    }

    /// Keeps the job's lease while lanes side by side run, every quarter of it,
    /// whatever their batches take: a batch that hashes a thousand passwords on a
    /// core shared with two other lanes can outlast the lease, and between its
    /// commit and its next batch nothing else would stop a takeover.
    async fn keep_lease(&self, claim: &Claim) -> Result<(), DbErr> {
        let every = crate::jobs::lease().to_std().unwrap_or_default() / RENEWALS_PER_LEASE;
        let mut extended = Instant::now();
        while self.lanes_running.load(Ordering::SeqCst) > 0 {
            // Short sleeps: the load does not wait long for this when its lanes end.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if extended.elapsed() >= every && self.lanes_running.load(Ordering::SeqCst) > 0 {
                extended = Instant::now();
                if !crate::jobs::extend(self.db, claim).await? {
                    self.halted.store(true, Ordering::SeqCst);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn batches_of_lane(&self, mut catalogue: Catalogue) -> Result<(), DbErr> {
        use sea_orm::sea_query::ExprTrait;
        let (db, upload, tenant_id) = (self.db, self.upload, self.upload.tenant_id);
        while !self.halted.load(Ordering::SeqCst) {
            let after = self.next.fetch_add(BATCH as i32, Ordering::SeqCst);
            if after >= self.last_index {
                break;
            }
            // Ranges of row_index: a closed range keeps the query on the position
            // index however the planner guesses (an open one read ever more rows),
            // and rows done before a resume are not stepped over again.
            let batch: Batch = Planned::select(db)
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
            let rows = &batch.0;
            if rows.is_empty() {
                continue;
            }
            let txn = crate::db::begin_write(db).await?;
            if let Some(claim) = self.claim {
                let held = if self.parallel {
                    crate::jobs::holds(&txn, claim).await?
                } else {
                    crate::jobs::renew(&txn, claim).await?
                };
                if !held {
                    txn.rollback().await?;
                    self.halted.store(true, Ordering::SeqCst);
                    return Ok(());
                }
            }
            let (results, outgoing, stop) = if self.blocked {
                // The rows with errors keep them (so the results file and "Retry
                // failed rows" find them); the others say why they were not loaded.
                let results = rows.iter().map(|r| not_applied(r, NOT_LOADED_ALL_OR_NOTHING)).collect();
                (results, vec![], false)
            } else {
                apply_batch(&txn, self.tenant, self.options, self.actor, &mut catalogue, self.org_code, &batch).await?
            };
            if write_results(&txn, tenant_id, &results).await? != results.len() as u64 {
                // Another run gave these rows results since they were read: its work stands.
                txn.rollback().await?;
                return Err(DbErr::Custom(format!("upload {}: rows were applied by another run at once", upload.id)));
            }
            let mut applied = results.len() as i64;
            if stop {
                // In the batch's transaction: committed apart, a crash between
                // the two left the rows after the failure without a result, and
                // the resumed load applied them.
                applied += stop_remaining(&txn, upload).await? as i64;
                // Every row has a result now: no batch is left to read (a load
                // that stops runs in one lane).
                self.next.store(self.last_index, Ordering::SeqCst);
            }
            // The mail is owed from the same commit as the rows that say "sent".
            let pending = if outgoing.is_empty() {
                None
            } else {
                let mark = pending_mail::ActiveModel {
                    tenant_id: Set(tenant_id),
                    upload_id: Set(upload.id),
                    after_index: Set(after),
                    last_index: Set(after + BATCH as i32),
                    created_at: Set(Utc::now()),
                    claimed_until: Set(None),
                    ..Default::default()
                };
                Some(mark.insert(&txn).await?.id)
            };
            // Added to, not set: lanes commit in any order.
            upload::Entity::update_many()
                .col_expr(upload::Column::RowsDone, Expr::col(upload::Column::RowsDone).add(applied as i32))
                .filter(upload::Column::Id.eq(upload.id))
                .filter(upload::Column::TenantId.eq(tenant_id))
                .exec(&txn)
                .await?;
            txn.commit().await?;
            if let Some(pending) = pending {
                let mailing = Mailing { tenant_id, pending, messages: outgoing };
                (self.send.lock().unwrap_or_else(|e| e.into_inner()))(mailing);
            }
            let batches = self.batches.fetch_add(1, Ordering::SeqCst) + 1;
            // PostgreSQL plans by table statistics, which autovacuum refreshes only
            // minutes later: a table grown from empty by this load would be scanned
            // whole for every key lookup. Refresh them as the load grows the table.
            if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres && batches.is_power_of_two() {
                db.execute_unprepared("ANALYZE users").await?;
            }
            // One lane renews in its batch, which counts as progress; lanes side
            // by side say so once, after the run's first commit.
            if let (true, Some(claim)) = (self.parallel, self.claim) {
                if !self.progress_marked.swap(true, Ordering::SeqCst) && !crate::jobs::renew(db, claim).await? {
                    self.halted.store(true, Ordering::SeqCst);
                    return Ok(());
                }
            }
            let done = self.done.fetch_add(applied, Ordering::SeqCst) + applied;
            if !(self.progress.lock().unwrap_or_else(|e| e.into_inner()))(done, i64::from(upload.rows_total)) {
                self.halted.store(true, Ordering::SeqCst);
                return Ok(());
            }
        }
        Ok(())
    }
}

const STOPPED: &str = "Not loaded: the load stopped at the first failed row";
/// The results of new users whose mail a batch owes ([`claim_unsent_mail`] reads them).
const INVITATION_SENT: &str = "Added; invitation sent";
const PASSWORD_SENT: &str = "Added; password sent";
const NOT_LOADED_ALL_OR_NOTHING: &str = "Not loaded: the upload is all or nothing and has rows with errors";

/// Results of rows that would have changed something and were held back because
/// an all-or-nothing load did not run or stopped: "Retry failed rows" takes
/// them again with the errors.
pub const HELD_BACK: [&str; 2] = [STOPPED, NOT_LOADED_ALL_OR_NOTHING];

/// The result of a row that is not applied: unticked and skipped rows say so,
/// unchanged ones too, errors give their error, and the others were `held` back.
/// (`stop_remaining` says the same in SQL, for the rows after a stop not read.)
fn not_applied(r: &upload_row::Model, held: &str) -> RowResult {
    let (outcome, text) = match r.status.as_str() {
        _ if !r.selected => (outcome::SKIPPED, "Skipped".to_owned()),
        s if s == RowStatus::Error.as_str() => (outcome::ERROR, first_error(r)),
        s if s == RowStatus::Unchanged.as_str() => (outcome::UNCHANGED, "No change".to_owned()),
        s if s == RowStatus::Skipped.as_str() => (outcome::SKIPPED, "Skipped".to_owned()),
        _ => (outcome::SKIPPED, held.to_owned()),
    };
    RowResult { id: r.id, outcome, text }
}

/// Every message of a [`Mailing`] went out: the mark of what was owed goes.
pub async fn mail_sent(db: &DatabaseConnection, mailing: &Mailing) -> Result<(), DbErr> {
    pending_mail::Entity::delete_many()
        .filter(pending_mail::Column::Id.eq(mailing.pending))
        .filter(pending_mail::Column::TenantId.eq(mailing.tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// How long a worker that claimed owed mail has to send it before another may.
const MAIL_CLAIM_MINUTES: i64 = 10;

/// Mail owed for longer than `older_than` (its sender died after the batch
/// committed, or the mail server refused it), at most `limit` batches of it,
/// claimed for [`MAIL_CLAIM_MINUTES`]: each user of it gets new credentials,
/// as only hashes were kept — an unused invitation a new token (the one never
/// received stops working), a generated password a new password. A user may so
/// get a message twice, the later one the one that works: mail goes at least
/// once. The caller sends each [`Mailing`] and says [`mail_sent`].
pub async fn claim_unsent_mail(
    db: &DatabaseConnection,
    older_than: std::time::Duration,
    limit: u64,
) -> Result<Vec<Mailing>, DbErr> {
    let now = Utc::now();
    let older_than = chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
    let unclaimed = || {
        sea_orm::Condition::any()
            .add(pending_mail::Column::ClaimedUntil.is_null())
            .add(pending_mail::Column::ClaimedUntil.lt(now))
    };
    let owed = pending_mail::Entity::find()
        .filter(pending_mail::Column::CreatedAt.lte(now - older_than))
        .filter(unclaimed())
        .order_by_asc(pending_mail::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let mut mailings = Vec::new();
    for mark in owed {
        // Claimed only if nobody claimed it since it was read.
        let claimed = pending_mail::Entity::update_many()
            .col_expr(
                pending_mail::Column::ClaimedUntil,
                Expr::value(now + chrono::Duration::minutes(MAIL_CLAIM_MINUTES)),
            )
            .filter(pending_mail::Column::Id.eq(mark.id))
            .filter(unclaimed())
            .exec(db)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        mailings.push(Mailing {
            tenant_id: mark.tenant_id,
            pending: mark.id,
            messages: renew_credentials(db, &mark).await?,
        });
    }
    Ok(mailings)
}

/// New credentials for the users of a batch whose rows say their mail was sent,
/// as the messages that carry them.
async fn renew_credentials(db: &DatabaseConnection, mark: &pending_mail::Model) -> Result<Vec<Outgoing>, DbErr> {
    let user_key = record_text(db, "user_id");
    let owed: Vec<(Option<String>, Option<String>)> = upload_row::Entity::find()
        .select_only()
        .column_as(Expr::cust(user_key), "user_key")
        .column(upload_row::Column::Result)
        .filter(upload_row::Column::UploadId.eq(mark.upload_id))
        .filter(upload_row::Column::TenantId.eq(mark.tenant_id))
        .filter(upload_row::Column::RowIndex.gt(mark.after_index))
        .filter(upload_row::Column::RowIndex.lte(mark.last_index))
        .filter(upload_row::Column::Outcome.eq(outcome::ADDED))
        .order_by_asc(upload_row::Column::RowIndex)
        .into_tuple()
        .all(db)
        .await?;
    // The userIds of the rows whose result starts with `sent`.
    let owed_by = |sent: &str| -> Vec<String> {
        owed.iter()
            .filter(|(_, result)| result.as_deref().is_some_and(|r| r.starts_with(sent)))
            .filter_map(|(user, _)| user.as_deref().map(normalize_key))
            .collect()
    };
    let (invited, passworded) = (owed_by(INVITATION_SENT), owed_by(PASSWORD_SENT));
    let users = |keys: Vec<String>| {
        user::Entity::find()
            .filter(user::Column::TenantId.eq(mark.tenant_id))
            .filter(user::Column::UserIdNorm.is_in(keys))
            .order_by_asc(user::Column::Id)
            .all(db)
    };
    let mut messages = Vec::new();
    let name = |u: &user::Model| u.first_name.clone().or(u.last_name.clone()).unwrap_or_default();
    for u in if invited.is_empty() { Vec::new() } else { users(invited).await? } {
        let token = tokens::generate();
        // Only a link not used yet: a user who got the first mail after all
        // and set a password is left alone.
        let renewed = invitation::Entity::update_many()
            .col_expr(invitation::Column::TokenHash, Expr::value(tokens::digest(&token)))
            .filter(invitation::Column::TenantId.eq(mark.tenant_id))
            .filter(invitation::Column::UserId.eq(u.id))
            .filter(invitation::Column::UsedAt.is_null())
            .exec(db)
            .await?;
        if renewed.rows_affected > 0 {
            messages.push(Outgoing::Invitation {
                email: u.email.clone(),
                name: name(&u),
                user_id: u.user_id.clone(),
                token,
            });
        }
    }
    for u in if passworded.is_empty() { Vec::new() } else { users(passworded).await? } {
        let password = passwords::generate();
        let hash = passwords::hash(password.clone()).await;
        // Only a user nobody changed since the batch: one who got the first
        // mail after all may have set a password of their own.
        let renewed = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash))
            .filter(user::Column::TenantId.eq(mark.tenant_id))
            .filter(user::Column::Id.eq(u.id))
            .filter(user::Column::UpdatedAt.lte(mark.created_at))
            .exec(db)
            .await?;
        if renewed.rows_affected > 0 {
            messages.push(Outgoing::Password {
                email: u.email.clone(),
                name: name(&u),
                user_id: u.user_id.clone(),
                password,
            });
        }
    }
    Ok(messages)
}

/// After a row failed in an all-or-nothing load: the rest is reported, not applied.
async fn stop_remaining<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<u64, DbErr> {
    // As `not_applied` says after the stop: unticked and skipped rows say so,
    // unchanged rows too, the others are held back. (A plan with errors is not
    // loaded all or nothing at all, so no row left here has an error.)
    let skipped = sea_orm::Condition::any()
        .add(upload_row::Column::Selected.eq(false))
        .add(upload_row::Column::Status.eq(RowStatus::Skipped.as_str()));
    let unchanged = upload_row::Column::Status.eq(RowStatus::Unchanged.as_str());
    let mut given = 0;
    for (condition, result, outcome) in [
        (skipped, "Skipped", outcome::SKIPPED),
        (sea_orm::Condition::all().add(unchanged), "No change", outcome::UNCHANGED),
        (sea_orm::Condition::all(), STOPPED, outcome::SKIPPED),
    ] {
        given += upload_row::Entity::update_many()
            .col_expr(upload_row::Column::Result, Expr::value(result))
            .col_expr(upload_row::Column::Outcome, Expr::value(outcome))
            .filter(upload_row::Column::UploadId.eq(upload.id))
            .filter(upload_row::Column::TenantId.eq(upload.tenant_id))
            .filter(upload_row::Column::Result.is_null())
            .filter(condition)
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(given)
}

/// Writes the batch's results on rows that have none; returns how many it wrote.
async fn write_results<C: ConnectionTrait>(db: &C, tenant_id: i64, results: &[RowResult]) -> Result<u64, DbErr> {
    let rows = results
        .iter()
        .map(|r| bulk::Row::with_capacity(3).int(r.id).text(Some(&r.text)).text(Some(r.outcome)))
        .collect();
    bulk::update_by_id(db, "upload_rows", RESULT_COLUMNS, rows, tenant_id, "t.result IS NULL").await
}

async fn counts(db: &DatabaseConnection, upload: &upload::Model) -> Result<LoadCounts, DbErr> {
    let outcomes = crate::uploads::count_by(db, upload.tenant_id, upload.id, upload_row::Column::Outcome).await?;
    let mut c = LoadCounts::default();
    for (o, n) in outcomes {
        let Some(o) = o else { continue };
        match o.as_str() {
            outcome::ADDED => c.added += n,
            outcome::UPDATED => c.updated += n,
            outcome::LEAVER => c.leavers += n,
            outcome::JOINER => c.joiners += n,
            outcome::DELETED => c.deleted += n,
            outcome::UNCHANGED => c.unchanged += n,
            outcome::SKIPPED => c.skipped += n,
            _ => c.errors += n,
        }
    }
    let created = |action: &'static str| {
        audit_event::Entity::find()
            .filter(audit_event::Column::TenantId.eq(upload.tenant_id))
            .filter(audit_event::Column::UploadId.eq(upload.id))
            .filter(audit_event::Column::Action.eq(action))
            .count(db)
    };
    c.roles_added = created("role.create").await?;
    c.groups_added = created("group.create").await?;
    Ok(c)
}

/// A batch's planned rows (without their records) and their records parsed.
type Batch = (Vec<upload_row::Model>, Vec<Option<UserRow>>);

/// A planned row as a load reads it, with its record as JSON text, parsed once
/// straight into a [`UserRow`]: read as a JSON value first, each record cost a
/// map of its fields and a second pass over them, a tenth of the client's time
/// in a load. `split` gives the row without its record, and the record parsed.
#[derive(sea_orm::FromQueryResult)]
struct Planned {
    id: i64,
    tenant_id: i64,
    upload_id: i64,
    row_index: i32,
    line: i32,
    status: String,
    selected: bool,
    record_text: Option<String>,
    existing_user_id: Option<i64>,
    diagnostics: Option<sea_orm::JsonValue>,
    changes: Option<sea_orm::JsonValue>,
    result: Option<String>,
    outcome: Option<String>,
}

impl Planned {
    fn select(db: &DatabaseConnection) -> sea_orm::Select<upload_row::Entity> {
        use upload_row::Column as C;
        let record_text = match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "record::text",
            _ => "json(record)",
        };
        upload_row::Entity::find()
            .select_only()
            .columns([
                C::Id,
                C::TenantId,
                C::UploadId,
                C::RowIndex,
                C::Line,
                C::Status,
                C::Selected,
                C::ExistingUserId,
                C::Diagnostics,
                C::Changes,
                C::Result,
                C::Outcome,
            ])
            .column_as(Expr::cust(record_text), "record_text")
    }

    fn split(self) -> (upload_row::Model, Option<UserRow>) {
        let parsed = self.record_text.as_deref().and_then(|text| serde_json::from_str(text).ok());
        let row = upload_row::Model {
            id: self.id,
            tenant_id: self.tenant_id,
            upload_id: self.upload_id,
            row_index: self.row_index,
            line: self.line,
            status: self.status,
            selected: self.selected,
            record: None,
            existing_user_id: self.existing_user_id,
            diagnostics: self.diagnostics,
            changes: self.changes,
            result: self.result,
            outcome: self.outcome,
        };
        (row, parsed)
    }
}

/// SQL for one field of a planned row's record, as text: only what is needed
/// of the record, not the whole of it parsed as JSON.
fn record_text(db: &DatabaseConnection, field: &str) -> String {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => format!("record ->> '{field}'"),
        _ => format!("json_extract(record, '$.{field}')"),
    }
}

/// What linking managers reads of a planned row: its id, its result, the
/// userIds of its user and of its manager, its outcome and its planned changes.
type LinkRow = (i64, Option<String>, Option<String>, Option<String>, Option<String>, Option<serde_json::Value>);

/// reportsTo may name a user created later in the same file, so managers are
/// linked once every row is in: for new users, and for existing users whose
/// planned changes include reportsTo. Not for other rows that name a manager:
/// theirs was already that one at the preview, and linking it again, minutes
/// after the row's batch, would overwrite a manager an admin set since.
/// Setting the same manager twice changes nothing,
/// which keeps this step safe to repeat after a resume. A manager who is not
/// there (their row failed or was skipped) is said in the row's result.
/// Returns false if the job's lease was lost: then nothing more is written.
async fn link_managers(
    db: &DatabaseConnection,
    upload: &upload::Model,
    last_index: i32,
    claim: Option<&Claim>,
) -> Result<bool, DbErr> {
    let tenant_id = upload.tenant_id;
    // Only the rows whose user has a manager, and of them only what linking
    // needs: reading whole rows (each record parsed as JSON) took a tenth of the
    // client's time in a load of 100k new users that had no manager at all.
    let (user_key, manager_key) = (record_text(db, "user_id"), record_text(db, "reports_to"));
    // Closed ranges of row_index, as in the load: an open range with a LIMIT had
    // PostgreSQL read ever more of the upload per query (60 ms a page at 300k rows).
    let mut after = 0i32;
    while after < last_index {
        let rows: Vec<LinkRow> = upload_row::Entity::find()
            .select_only()
            .column(upload_row::Column::Id)
            .column(upload_row::Column::Result)
            .column_as(Expr::cust(user_key.clone()), "user_key")
            .column_as(Expr::cust(manager_key.clone()), "manager_key")
            .column(upload_row::Column::Outcome)
            .column(upload_row::Column::Changes)
            .filter(upload_row::Column::UploadId.eq(upload.id))
            .filter(upload_row::Column::TenantId.eq(tenant_id))
            .filter(upload_row::Column::RowIndex.gt(after))
            .filter(upload_row::Column::RowIndex.lte(after + BATCH as i32))
            .filter(upload_row::Column::Outcome.is_in([
                outcome::ADDED,
                outcome::UPDATED,
                outcome::JOINER,
                outcome::LEAVER,
            ]))
            .filter(Expr::cust(format!("{manager_key} IS NOT NULL")))
            .order_by_asc(upload_row::Column::RowIndex)
            .into_tuple()
            .all(db)
            .await?;
        after += BATCH as i32;
        // The record holds the engine's checked values; parsed again all the same.
        let links: Vec<(i64, &Option<String>, String, String, String)> = rows
            .iter()
            .filter(|(_, _, _, _, outcome, changes)| {
                outcome.as_deref() == Some(outcome::ADDED)
                    || changes
                        .as_ref()
                        .and_then(|c| Vec::<Change>::deserialize(c).ok())
                        .is_some_and(|changes| changes.iter().any(|c| c.field == Field::ReportsTo))
            })
            .filter_map(|(id, result, user, manager, _, _)| {
                let user = UserId::parse(user.as_deref()?).ok()?;
                let manager = UserId::parse(manager.as_deref()?).ok()?.into_inner();
                Some((*id, result, normalize_key(user.as_str()), normalize_key(&manager), manager))
            })
            .collect();
        if links.is_empty() {
            continue;
        }
        let keys: HashSet<&String> = links.iter().flat_map(|(_, _, a, b, _)| [a, b]).collect();
        let ids: HashMap<String, i64> = user::Entity::find()
            .select_only()
            .columns([user::Column::UserIdNorm, user::Column::Id])
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::UserIdNorm.is_in(keys.into_iter().cloned()))
            .into_tuple::<(String, i64)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let mut linked = Vec::new();
        let mut missing = Vec::new();
        for (row_id, result, who, manager, shown) in &links {
            match (ids.get(who), ids.get(manager)) {
                (Some(&id), Some(&manager_id)) => linked.push(bulk::Row::with_capacity(2).int(id).int(manager_id)),
                (Some(_), None) => missing.push((*row_id, *result, shown)),
                (None, _) => {}
            }
        }
        let txn = crate::db::begin_write(db).await?;
        if let Some(claim) = claim {
            if !crate::jobs::renew(&txn, claim).await? {
                txn.rollback().await?;
                return Ok(false);
            }
        }
        bulk::update_by_id(&txn, "users", MANAGER_COLUMNS, linked, tenant_id, "true").await?;
        for (row_id, result, manager) in missing {
            let note = format!("reportsTo {manager:?} not set: that user was not loaded");
            let result = result.clone().unwrap_or_default();
            if !result.contains(&note) {
                upload_row::Entity::update_many()
                    .col_expr(upload_row::Column::Result, Expr::value(format!("{result}; {note}")))
                    .filter(upload_row::Column::Id.eq(row_id))
                    .filter(upload_row::Column::TenantId.eq(tenant_id))
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
    }
    Ok(true)
}

async fn apply_batch<C: ConnectionTrait>(
    db: &C,
    tenant: &tenant::Model,
    options: &UploadOptions,
    actor: &Actor,
    catalogue: &mut Catalogue,
    org_code: &HashMap<i64, String>,
    (rows, parsed): &Batch,
) -> Result<(Vec<RowResult>, Vec<Outgoing>, bool), DbErr> {
    let tenant_id = tenant.id;
    let mut results = Vec::with_capacity(rows.len());
    let mut outgoing = Vec::new();
    let mut audits = Vec::new();
    let mut stop = false;
    let existing_ids: Vec<i64> = rows.iter().filter_map(|r| r.existing_user_id).collect();
    let current: HashMap<i64, user::Model> = if existing_ids.is_empty() {
        HashMap::new()
    } else {
        let mut query = user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::Id.is_in(existing_ids.clone()));
        if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // Locked until the batch commits: each row is checked against these
            // values, and an edit committed after a plain read would be
            // overwritten by a check that passed against what it replaced.
            // (SQLite's write transaction holds the whole database already.) In
            // the order of their ids, so that lanes side by side take them alike.
            query = query.order_by_asc(user::Column::Id).lock(sea_orm::sea_query::LockType::NoKeyUpdate);
        }
        query.all(db).await?.into_iter().map(|u| (u.id, u)).collect()
    };
    let manager_ids: Vec<i64> = current.values().filter_map(|u| u.reports_to_id).collect();
    let manager_names: HashMap<i64, String> = if manager_ids.is_empty() {
        HashMap::new()
    } else {
        user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::Id.is_in(manager_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u.user_id))
            .collect()
    };

    // Role and group sets as they are now, for rows that change them.
    let planned_changes: Vec<Vec<Change>> = rows
        .iter()
        .map(|r| r.changes.as_ref().and_then(|c| Vec::<Change>::deserialize(c).ok()).unwrap_or_default())
        .collect();
    let mut set_changers = (Vec::new(), Vec::new());
    for (r, changes) in rows.iter().zip(&planned_changes) {
        let Some(id) = r.existing_user_id else { continue };
        if changes.iter().any(|c| c.field == Field::Roles) {
            set_changers.0.push(id);
        }
        if changes.iter().any(|c| c.field == Field::Groups) {
            set_changers.1.push(id);
        }
    }
    let current_roles = member_names(db, tenant_id, &set_changers.0, Membership::Roles, catalogue).await?;
    let current_groups = member_names(db, tenant_id, &set_changers.1, Membership::Groups, catalogue).await?;
    let gone_managers = gone_managers(db, tenant_id, rows, &planned_changes, &current).await?;

    // Keys taken since the preview, by whom: for a new user, or an update that
    // changes a userId, email or externalId, they are conflicts to report on the
    // row, not unique-index errors that would fail the whole batch.
    let mut taken: HashMap<String, i64> = HashMap::new();
    {
        // Three IN lists, not one condition per key: the statement stays flat.
        let (mut uids, mut emails, mut exts) = (Vec::new(), Vec::new(), Vec::new());
        for ((row, r), changes) in parsed.iter().zip(rows).zip(&planned_changes) {
            if r.status == RowStatus::New.as_str() {
                if let Some(row) = row {
                    uids.extend(row.user_id.as_ref().map(|u| normalize_key(u.as_str())));
                    emails.extend(row.email.as_ref().map(|e| normalize_key(e.as_str())));
                    exts.extend(row.external_id.as_ref().map(|x| normalize_key(x.as_str())));
                }
            }
            for c in changes {
                let keys = match c.field {
                    Field::UserId => &mut uids,
                    Field::Email => &mut emails,
                    Field::ExternalId => &mut exts,
                    _ => continue,
                };
                keys.extend(c.new.as_deref().map(normalize_key));
            }
        }
        // One query per key, each on its own (tenant_id, key) index: an OR of the
        // three would have SQLite scan every user of the tenant for every batch.
        for (column, keys) in
            [(user::Column::UserIdNorm, uids), (user::Column::EmailNorm, emails), (user::Column::ExternalIdNorm, exts)]
        {
            if keys.is_empty() {
                continue;
            }
            let found: Vec<(i64, String, String, Option<String>)> = user::Entity::find()
                .select_only()
                .columns([
                    user::Column::Id,
                    user::Column::UserIdNorm,
                    user::Column::EmailNorm,
                    user::Column::ExternalIdNorm,
                ])
                .filter(user::Column::TenantId.eq(tenant_id))
                .filter(column.is_in(keys))
                .into_tuple()
                .all(db)
                .await?;
            for (id, uid, email, ext) in found {
                taken.insert(format!("u:{uid}"), id);
                taken.insert(format!("e:{email}"), id);
                if let Some(x) = ext {
                    taken.insert(format!("x:{x}"), id);
                }
            }
        }
    }

    // Updates of existing users, grouped by the columns they set: one statement a group.
    let mut updates: HashMap<Vec<(&'static str, Kind)>, Vec<bulk::Row>> = HashMap::new();
    let mut new_users = Vec::new();
    let mut new_meta: Vec<(usize, UserRow)> = Vec::new();
    let mut to_hash: Vec<(usize, String)> = Vec::new();
    let now = Utc::now();

    for (i, (r, row)) in rows.iter().zip(parsed).enumerate() {
        let message_of = || first_error(r);
        let status = RowStatus::ALL.into_iter().find(|s| s.as_str() == r.status).unwrap_or(RowStatus::Error);
        // After the first failed row of an all-or-nothing load, rows that would
        // change something are held back.
        if stop || !r.selected {
            results.push(not_applied(r, STOPPED));
            continue;
        }
        let mut result = |outcome: &'static str, text: String| results.push(RowResult { id: r.id, outcome, text });
        match status {
            RowStatus::Error => result(outcome::ERROR, message_of()),
            RowStatus::Skipped => result(outcome::SKIPPED, "Skipped".into()),
            RowStatus::Unchanged => result(outcome::UNCHANGED, "No change".into()),
            RowStatus::Old => {
                let Some(u) = r.existing_user_id.and_then(|id| current.get(&id)) else {
                    result(outcome::UNCHANGED, "Not in file; no longer exists".into());
                    continue;
                };
                match options.plan.sync_action {
                    _ if u.is_tenant_admin => result(outcome::UNCHANGED, "Not in file (a tenant admin: kept)".into()),
                    SyncAction::Report => result(outcome::UNCHANGED, "Not in file (kept)".into()),
                    SyncAction::MarkLeaver if u.state == "leaver" => {
                        result(outcome::UNCHANGED, "Not in file; already a leaver".into())
                    }
                    SyncAction::MarkLeaver => {
                        user::Entity::update_many()
                            .col_expr(user::Column::State, Expr::value("leaver"))
                            .col_expr(user::Column::UpdatedAt, Expr::value(now))
                            .filter(user::Column::Id.eq(u.id))
                            .filter(user::Column::TenantId.eq(tenant_id))
                            .exec(db)
                            .await?;
                        audits.push(audit(actor, "user.leaver", "user", Some(u.id), &u.user_id, None));
                        result(outcome::LEAVER, "Not in file: marked as leaver".into());
                    }
                    SyncAction::Delete => {
                        delete_user(db, u, actor, &mut audits).await?;
                        result(outcome::DELETED, "Not in file: deleted".into());
                    }
                }
            }
            RowStatus::New => {
                let Some(row) = row.clone() else {
                    result(outcome::ERROR, "The row's values were not stored".into());
                    continue;
                };
                let uid = row.user_id.as_ref().map(|u| normalize_key(u.as_str())).unwrap_or_default();
                let email = row.email.as_ref().map(|e| normalize_key(e.as_str())).unwrap_or_default();
                let ext = row.external_id.as_ref().map(|x| normalize_key(x.as_str()));
                let conflict = if taken.contains_key(&format!("u:{uid}")) {
                    Some("a user with this userId was created since the preview")
                } else if taken.contains_key(&format!("e:{email}")) {
                    Some("this email was given to another user since the preview")
                } else if ext.as_ref().is_some_and(|x| taken.contains_key(&format!("x:{x}"))) {
                    Some("this externalId was given to another user since the preview")
                } else {
                    None
                };
                if let Some(why) = conflict {
                    result(outcome::ERROR, format!("Not loaded: {why}"));
                    stop |= options.load.stop_on_error;
                    continue;
                }
                if !catalogue.spend_licence() {
                    result(outcome::ERROR, no_licence(tenant));
                    stop |= options.load.stop_on_error;
                    continue;
                }
                // Not an id yet: no update in this batch may take these keys.
                taken.insert(format!("u:{uid}"), NEW_USER);
                taken.insert(format!("e:{email}"), NEW_USER);
                if let Some(x) = &ext {
                    taken.insert(format!("x:{x}"), NEW_USER);
                }
                let organisation_id = row
                    .organisation
                    .as_ref()
                    .and_then(|o| catalogue.organisations.get(&normalize_key(o.as_str())).copied())
                    .or(catalogue.default_organisation);
                let password = match (&row.password, options.load.credentials) {
                    (Some(p), _) => Some(p.clone()),
                    (None, Credentials::GeneratePassword { .. }) => Some(passwords::generate()),
                    (None, Credentials::Invite) => None,
                };
                if let Some(p) = password.clone() {
                    to_hash.push((new_users.len(), p));
                }
                new_users.push(user::ActiveModel {
                    tenant_id: Set(tenant_id),
                    user_id_norm: Set(uid),
                    user_id: Set(row.user_id.as_ref().map(|u| u.to_string()).unwrap_or_default()),
                    external_id_norm: Set(ext),
                    external_id: Set(row.external_id.as_ref().map(|x| x.to_string())),
                    title: Set(row.title.clone()),
                    first_name: Set(row.first_name.clone()),
                    last_name: Set(row.last_name.clone()),
                    email_norm: Set(email),
                    email: Set(row.email.as_ref().map(|e| e.to_string()).unwrap_or_default()),
                    mobile: Set(row.mobile.as_ref().map(|m| m.to_string())),
                    job_title: Set(row.job_title.clone()),
                    organisation_id: Set(organisation_id),
                    state: Set("active".into()),
                    enabled: Set(row.enabled.unwrap_or(true)),
                    reports_to_id: Set(None),
                    task_notification: Set(row.task_notification.map_or("Email", |t| t.as_str()).into()),
                    change_password_next_time: Set(row.change_password_next_time.unwrap_or(false)),
                    password_hash: Set(None),
                    is_tenant_admin: Set(false),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                });
                new_meta.push((i, row));
                // The result is written once the insert succeeded (below).
                results.push(RowResult { id: r.id, outcome: outcome::ADDED, text: String::new() });
                let row = &new_meta.last().expect("just pushed").1;
                // notifyIfNewUser false: no mail to the user, as for invitations.
                if let (Some(p), Credentials::GeneratePassword { email: true }, true) =
                    (password, options.load.credentials, row.notify_if_new_user != Some(false))
                {
                    outgoing.push(Outgoing::Password {
                        email: row.email.as_ref().map(|e| e.to_string()).unwrap_or_default(),
                        name: row.first_name.clone().or(row.last_name.clone()).unwrap_or_default(),
                        user_id: row.user_id.as_ref().map(|u| u.to_string()).unwrap_or_default(),
                        password: p,
                    });
                }
            }
            RowStatus::Update | RowStatus::Leaver | RowStatus::Joiner | RowStatus::Delete => {
                let Some(u) = r.existing_user_id.and_then(|id| current.get(&id)) else {
                    result(outcome::ERROR, "Not loaded: the user was deleted since the preview".into());
                    stop |= options.load.stop_on_error;
                    continue;
                };
                if status == RowStatus::Delete && u.is_tenant_admin {
                    // The plan refuses to delete an admin; one made admin since is kept too.
                    result(
                        outcome::ERROR,
                        "Not loaded: the user is a tenant admin now; an upload does not delete admins".into(),
                    );
                    stop |= options.load.stop_on_error;
                    continue;
                }
                if status == RowStatus::Delete {
                    delete_user(db, u, actor, &mut audits).await?;
                    result(outcome::DELETED, "Deleted".into());
                    continue;
                }
                let changes = &planned_changes[i];
                let manager = u.reports_to_id.and_then(|id| manager_names.get(&id)).map(String::as_str);
                let now_value = |field: Field| match field {
                    Field::Roles | Field::Groups => {
                        let sets = if field == Field::Roles { &current_roles } else { &current_groups };
                        let mut names: Vec<&String> = sets.get(&u.id).into_iter().flatten().collect();
                        names.sort();
                        Some(names.into_iter().map(String::as_str).collect::<Vec<_>>().join("|"))
                    }
                    field => current_value(u, field, org_code, manager),
                };
                let stale = changes.iter().find(|c| match c.field {
                    Field::Roles | Field::Groups => {
                        names_set(now_value(c.field).as_deref().unwrap_or(""))
                            != names_set(c.old.as_deref().unwrap_or(""))
                    }
                    // A manager deleted since the preview (by an earlier row of
                    // this file, or by hand) left no manager: the row changes it
                    // anyway, from one that is gone.
                    Field::ReportsTo
                        if u.reports_to_id.is_none()
                            && c.old.as_deref().is_some_and(|m| gone_managers.contains(&normalize_key(m))) =>
                    {
                        false
                    }
                    field => !same(now_value(field).as_deref(), c.old.as_deref()),
                });
                if let Some(c) = stale {
                    let now_value = now_value(c.field).unwrap_or_default();
                    result(
                        outcome::ERROR,
                        format!(
                            "Not loaded: {} changed since the preview (now {now_value:?}); validate the file again",
                            c.field.name()
                        ),
                    );
                    stop |= options.load.stop_on_error;
                    continue;
                }
                let key_of = |c: &Change| {
                    let kind = match c.field {
                        Field::UserId => "u",
                        Field::Email => "e",
                        Field::ExternalId => "x",
                        _ => return None,
                    };
                    Some((c.field, format!("{kind}:{}", normalize_key(c.new.as_deref()?))))
                };
                let clash = changes
                    .iter()
                    .filter_map(key_of)
                    .find(|(_, key)| taken.get(key).is_some_and(|&owner| owner != u.id));
                if let Some((field, _)) = clash {
                    result(
                        outcome::ERROR,
                        format!("Not loaded: this {} was given to another user since the preview", field.name()),
                    );
                    stop |= options.load.stop_on_error;
                    continue;
                }
                if status == RowStatus::Leaver && u.state == "leaver"
                    || status == RowStatus::Joiner && u.state != "leaver"
                {
                    result(outcome::ERROR, "Not loaded: the user's state changed since the preview".into());
                    stop |= options.load.stop_on_error;
                    continue;
                }
                if status == RowStatus::Joiner && !catalogue.spend_licence() {
                    result(outcome::ERROR, no_licence(tenant));
                    stop |= options.load.stop_on_error;
                    continue;
                }
                for (_, key) in changes.iter().filter_map(key_of) {
                    taken.insert(key, u.id);
                }
                let mut columns: Vec<(&'static str, Kind)> = vec![("id", Kind::BigInt)];
                let mut values = bulk::Row::with_capacity(16).int(u.id);
                let mut set = |name: &'static str, kind: Kind, value: bulk::Row| {
                    columns.push((name, kind));
                    value
                };
                for c in changes {
                    let new = c.new.as_deref();
                    let norm = new.map(normalize_key);
                    values = match c.field {
                        Field::UserId => set("user_id", Kind::Text, values.text(new)),
                        Field::ExternalId => set("external_id", Kind::Text, values.text(new)),
                        Field::Title => set("title", Kind::Text, values.text(new)),
                        Field::FirstName => set("first_name", Kind::Text, values.text(new)),
                        Field::LastName => set("last_name", Kind::Text, values.text(new)),
                        Field::Email => set("email", Kind::Text, values.text(new)),
                        Field::Mobile => set("mobile", Kind::Text, values.text(new)),
                        Field::JobTitle => set("job_title", Kind::Text, values.text(new)),
                        Field::Organisation => {
                            let id = new.and_then(|o| catalogue.organisations.get(&normalize_key(o)).copied());
                            set("organisation_id", Kind::BigInt, values.int(id.or(u.organisation_id)))
                        }
                        Field::Enabled => set("enabled", Kind::Bool, values.bool(new == Some("true"))),
                        Field::TaskNotification => {
                            set("task_notification", Kind::Text, values.text(Some(new.unwrap_or("Email"))))
                        }
                        Field::ChangePasswordNextTime => {
                            set("change_password_next_time", Kind::Bool, values.bool(new == Some("true")))
                        }
                        // Managers are linked after all rows; memberships just below.
                        _ => values,
                    };
                    // The keys are matched by their normalised form, kept beside them.
                    values = match c.field {
                        Field::UserId => set("user_id_norm", Kind::Text, values.text(norm.as_deref())),
                        Field::ExternalId => set("external_id_norm", Kind::Text, values.text(norm.as_deref())),
                        Field::Email => set("email_norm", Kind::Text, values.text(norm.as_deref())),
                        _ => values,
                    };
                }
                values = match status {
                    RowStatus::Leaver => set("state", Kind::Text, values.text(Some("leaver"))),
                    RowStatus::Joiner => set("state", Kind::Text, values.text(Some("active"))),
                    _ => values,
                };
                values = set("updated_at", Kind::Timestamp, values.time(Some(now)));
                updates.entry(columns).or_default().push(values);
                for c in changes {
                    let kind = match c.field {
                        Field::Roles => Membership::Roles,
                        Field::Groups => Membership::Groups,
                        _ => continue,
                    };
                    let names = c.new.as_deref().map(names_set).unwrap_or_default();
                    let ids = ensure_names(db, kind, row.as_ref(), &names, catalogue, actor, &mut audits).await?;
                    memberships::replace(db, tenant_id, kind, u.id, &ids).await?;
                }
                let (action, done, text) = match status {
                    RowStatus::Leaver => ("user.leaver", outcome::LEAVER, "Marked as leaver".to_owned()),
                    RowStatus::Joiner => {
                        ("user.joiner", outcome::JOINER, "Re-admitted to the given organisation".to_owned())
                    }
                    _ => (
                        "user.update",
                        outcome::UPDATED,
                        format!("Updated ({})", changes.iter().map(|c| c.field.name()).collect::<Vec<_>>().join(", ")),
                    ),
                };
                audits.push(audit(actor, action, "user", Some(u.id), &u.user_id, serde_json::to_value(changes).ok()));
                result(done, text);
            }
        }
    }

    for (columns, rows) in updates {
        let queued = rows.len() as u64;
        // The users were read in this transaction; one gone since is a conflict
        // this batch must not report as "Updated": it rolls back and is redone.
        if bulk::update_by_id(db, "users", &columns, rows, tenant_id, "true").await? != queued {
            return Err(DbErr::Custom("a user changed while the batch was applied; the batch is retried".into()));
        }
    }

    let (mut new_roles, mut new_groups, mut new_invitations) = (Vec::new(), Vec::new(), Vec::new());
    if !new_users.is_empty() {
        // Hashing is CPU work: it runs on the blocking pool, all rows at once.
        let hashes = futures_join(to_hash).await;
        for (index, hash) in hashes {
            new_users[index].password_hash = Set(Some(hash));
        }
        let inserted =
            bulk::insert(db, "users", USER_COLUMNS, new_users.iter().map(user_row).collect(), Some("id, user_id_norm"))
                .await?;
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(inserted.len());
        for row in inserted {
            ids.insert(row.try_get("", "user_id_norm")?, row.try_get("", "id")?);
        }
        let now = Utc::now();
        for (i, row) in &new_meta {
            let key = row.user_id.as_ref().map(|u| normalize_key(u.as_str())).unwrap_or_default();
            let Some(&id) = ids.get(&key) else { continue };
            let display = row.user_id.as_ref().map(|u| u.to_string()).unwrap_or_default();
            audits.push(audit(actor, "user.create", "user", Some(id), &display, None));
            for (kind, names) in [(Membership::Roles, &row.roles), (Membership::Groups, &row.groups)] {
                let Some(names) = names else { continue };
                let set: HashSet<String> = names.iter().map(|n| normalize_key(n.as_str())).collect();
                for member_of in ensure_names(db, kind, Some(row), &set, catalogue, actor, &mut audits).await? {
                    let member = bulk::Row::with_capacity(3).int(tenant_id).int(id).int(member_of);
                    match kind {
                        Membership::Roles => new_roles.push(member),
                        Membership::Groups => new_groups.push(member),
                    }
                }
            }
            let invited = row.password.is_none() && options.load.credentials == Credentials::Invite;
            let text = if invited {
                let token = tokens::generate();
                new_invitations.push(
                    bulk::Row::with_capacity(INVITATION_COLUMNS.len())
                        .int(tenant_id)
                        .int(id)
                        .text(Some(&tokens::digest(&token)))
                        .time(Some(now + chrono::Duration::days(INVITATION_DAYS)))
                        .time(Some(now)),
                );
                if row.notify_if_new_user != Some(false) {
                    outgoing.push(Outgoing::Invitation {
                        email: row.email.as_ref().map(|e| e.to_string()).unwrap_or_default(),
                        name: row.first_name.clone().or(row.last_name.clone()).unwrap_or_default(),
                        user_id: display.clone(),
                        token,
                    });
                    INVITATION_SENT
                } else {
                    "Added; invitation created (not sent: notifyIfNewUser is false)"
                }
            } else {
                match (options.load.credentials, row.password.is_some(), row.notify_if_new_user != Some(false)) {
                    (Credentials::GeneratePassword { email: true }, _, true) => PASSWORD_SENT,
                    (Credentials::GeneratePassword { email: true }, _, false) => {
                        "Added; password set (not sent: notifyIfNewUser is false)"
                    }
                    (Credentials::GeneratePassword { email: false }, false, _) => {
                        "Added; password generated (not sent)"
                    }
                    _ => "Added",
                }
            };
            // Every row of the batch has exactly one result, in the batch's order.
            debug_assert_eq!(results[*i].id, rows[*i].id);
            results[*i].text = text.to_owned();
        }
    }
    bulk::insert(db, "user_roles", ROLE_MEMBER_COLUMNS, new_roles, None).await?;
    bulk::insert(db, "user_groups", GROUP_MEMBER_COLUMNS, new_groups, None).await?;
    bulk::insert(db, "invitations", INVITATION_COLUMNS, new_invitations, None).await?;
    bulk::insert(db, "audit_events", AUDIT_COLUMNS, audits, None).await?;
    Ok((results, outgoing, stop))
}

/// The managers the preview saw, now gone from the tenant, of the batch's rows
/// that change the manager of a user who has none now. Such a user lost their
/// manager to a deletion: by the database's cascade when an earlier batch of the
/// same file deleted that manager, which a check of the name alone took for an
/// edit made since the preview (and only when the two rows fell in different
/// batches, as a batch reads its users before applying any row).
async fn gone_managers<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    rows: &[upload_row::Model],
    planned_changes: &[Vec<Change>],
    current: &HashMap<i64, user::Model>,
) -> Result<HashSet<String>, DbErr> {
    let mut named: HashSet<String> = HashSet::new();
    for (r, changes) in rows.iter().zip(planned_changes) {
        let Some(u) = r.existing_user_id.and_then(|id| current.get(&id)) else { continue };
        if u.reports_to_id.is_some() {
            continue;
        }
        let old = changes.iter().find(|c| c.field == Field::ReportsTo).and_then(|c| c.old.as_deref());
        named.extend(old.map(normalize_key));
    }
    if named.is_empty() {
        return Ok(named);
    }
    let present: HashSet<String> = user::Entity::find()
        .select_only()
        .column(user::Column::UserIdNorm)
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::UserIdNorm.is_in(named.iter().cloned()))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(named.into_iter().filter(|m| !present.contains(m)).collect())
}

/// Deletes one user of the tenant and records it in the audit trail.
async fn delete_user<C: ConnectionTrait>(
    db: &C,
    u: &user::Model,
    actor: &Actor,
    audits: &mut Vec<bulk::Row>,
) -> Result<(), DbErr> {
    user::Entity::delete_many()
        .filter(user::Column::Id.eq(u.id))
        .filter(user::Column::TenantId.eq(u.tenant_id))
        .exec(db)
        .await?;
    audits.push(audit(actor, "user.delete", "user", Some(u.id), &u.user_id, None));
    Ok(())
}

/// The first error message the plan stored for a row.
fn first_error(r: &upload_row::Model) -> String {
    r.diagnostics
        .as_ref()
        .and_then(|d| d.as_array())
        .and_then(|a| a.iter().find(|d| d["severity"] == "error"))
        .and_then(|d| d["message"].as_str())
        .unwrap_or("Error")
        .to_owned()
}

/// Argon2 hashes (19 MiB and ~30 ms each) on the blocking pool, one thread per
/// core, never one per password: a batch of a thousand stays within memory.
async fn futures_join(work: Vec<(usize, String)>) -> Vec<(usize, String)> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(1);
    let per_thread = work.len().div_ceil(threads).max(1);
    let mut handles = Vec::new();
    let mut work = work.into_iter().peekable();
    while work.peek().is_some() {
        let chunk: Vec<(usize, String)> = work.by_ref().take(per_thread).collect();
        handles.push(tokio::task::spawn_blocking(move || {
            chunk.into_iter().map(|(i, p)| (i, passwords::hash_blocking(&p))).collect::<Vec<_>>()
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.extend(h.await.expect("hashing task"));
    }
    out
}

/// The ids of the roles (or groups) named, creating those the tenant lacks
/// (with the row's spelling, and an audit event each).
async fn ensure_names<C: ConnectionTrait>(
    db: &C,
    kind: Membership,
    row: Option<&UserRow>,
    names: &HashSet<String>,
    catalogue: &mut Catalogue,
    actor: &Actor,
    audits: &mut Vec<bulk::Row>,
) -> Result<Vec<i64>, DbErr> {
    let tenant_id = actor.tenant_id;
    let display: HashMap<String, String> = row
        .and_then(|r| match kind {
            Membership::Roles => r.roles.as_ref(),
            Membership::Groups => r.groups.as_ref(),
        })
        .map(|v| v.iter().map(|n| (normalize_key(n.as_str()), n.to_string())).collect())
        .unwrap_or_default();
    let mut ids = Vec::new();
    for key in names {
        let id = match catalogue.names(kind).get(key) {
            Some(id) => *id,
            None => {
                let name = display.get(key).cloned().unwrap_or_else(|| key.clone());
                let action = format!("{}.create", kind.noun());
                let id = match &catalogue.creating {
                    Creating::InBatch => {
                        let id = memberships::create(db, tenant_id, kind, &name, key).await?;
                        audits.push(audit(actor, &action, kind.noun(), Some(id), &name, None));
                        id
                    }
                    Creating::Committed(pool) => {
                        let txn = crate::db::begin_write(pool).await?;
                        let (id, made) = memberships::create_or_find(&txn, tenant_id, kind, &name, key).await?;
                        if made {
                            let event = audit(actor, &action, kind.noun(), Some(id), &name, None);
                            bulk::insert(&txn, "audit_events", AUDIT_COLUMNS, vec![event], None).await?;
                        }
                        txn.commit().await?;
                        id
                    }
                };
                catalogue.names_mut(kind).insert(key.clone(), id);
                id
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

/// Where a load makes the roles and groups its rows name.
#[derive(Clone)]
enum Creating {
    /// In the batch's transaction: with one lane.
    InBatch,
    /// Each in a transaction of its own, committed at once: with lanes side by
    /// side. A lane holding an uncommitted role would make the other lane wait for
    /// it, and two lanes each making a role the other needs would deadlock. A role
    /// stays if its batch then rolls back; the batch finds it when it is redone.
    Committed(DatabaseConnection),
}

/// The normalised role (or group) names of each user given.
async fn member_names<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    user_ids: &[i64],
    kind: Membership,
    catalogue: &Catalogue,
) -> Result<HashMap<i64, HashSet<String>>, DbErr> {
    let by_id: HashMap<i64, &String> = catalogue.names(kind).iter().map(|(name, id)| (*id, name)).collect();
    let mut out: HashMap<i64, HashSet<String>> = HashMap::new();
    for (user_id, id) in memberships::of_users(db, tenant_id, kind, user_ids).await? {
        // A role made since the load began is not in the catalogue: it differs.
        let name = by_id.get(&id).map_or_else(|| format!("#{id}"), |n| (*n).clone());
        out.entry(user_id).or_default().insert(name);
    }
    Ok(out)
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
