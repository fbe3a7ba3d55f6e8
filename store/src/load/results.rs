//! Each row's result, and the counts of the summary line.
use super::{outcome, LoadCounts};
use crate::bulk::{self, Kind};
use crate::entity::{audit_event, upload, upload_row};
use crate::memberships::Kind as Membership;
use muster_import::RowStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};

pub(super) struct RowResult {
    pub(super) id: i64,
    pub(super) outcome: &'static str,
    pub(super) text: String,
}

pub(super) const RESULT_COLUMNS: bulk::Columns =
    &[("id", Kind::BigInt), ("result", Kind::Text), ("outcome", Kind::Text)];

pub(super) const STOPPED: &str = "Not loaded: the load stopped at the first failed row";
/// The results of new users whose mail a batch owes, until it went out (or
/// cannot): `mail` replaces these words with what became of it.
pub(super) const INVITATION_QUEUED: &str = "Added; invitation queued";
pub(super) const PASSWORD_QUEUED: &str = "Added; password queued";
pub(super) const NOT_LOADED_ALL_OR_NOTHING: &str = "Not loaded: the upload is all or nothing and has rows with errors";

/// Results of rows that would have changed something and were held back because
/// an all-or-nothing load did not run or stopped: "Retry failed rows" takes
/// them again with the errors.
pub const HELD_BACK: [&str; 2] = [STOPPED, NOT_LOADED_ALL_OR_NOTHING];

/// The result of a row that is not applied: unticked and skipped rows say so,
/// unchanged ones too, errors give their error, and the others were `held` back.
/// (`stop_remaining` says the same in SQL, for the rows after a stop not read.)
pub(super) fn not_applied(r: &upload_row::Model, held: &str) -> RowResult {
    let (outcome, text) = match r.status.as_str() {
        _ if !r.selected => (outcome::SKIPPED, "Skipped".to_owned()),
        s if s == RowStatus::Error.as_str() => (outcome::ERROR, first_error(r)),
        s if s == RowStatus::Unchanged.as_str() => (outcome::UNCHANGED, "No change".to_owned()),
        s if s == RowStatus::Skipped.as_str() => (outcome::SKIPPED, "Skipped".to_owned()),
        _ => (outcome::SKIPPED, held.to_owned()),
    };
    RowResult { id: r.id, outcome, text }
}

/// After a row failed in an all-or-nothing load: the rest is reported, not applied.
pub(super) async fn stop_remaining<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<u64, DbErr> {
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
pub(super) async fn write_results<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    results: &[RowResult],
) -> Result<u64, DbErr> {
    let rows = results
        .iter()
        .map(|r| bulk::Row::with_capacity(3).int(r.id).text(Some(&r.text)).text(Some(r.outcome)))
        .collect();
    bulk::update_by_id(db, "upload_rows", RESULT_COLUMNS, rows, tenant_id, "t.result IS NULL").await
}

pub(super) async fn counts(db: &DatabaseConnection, upload: &upload::Model) -> Result<LoadCounts, DbErr> {
    let outcomes = crate::uploads::count_by(db, upload.tenant_id, upload.id, upload_row::Column::Outcome).await?;
    let mut c = LoadCounts::default();
    for (o, n) in outcomes {
        if let Some(o) = o {
            c.add(&o, n);
        }
    }
    // Role and group events by their target's kind: on its index, where the
    // upload alone (not indexed) had the database read every event of the
    // tenant, twice, a million of them after a load of a million users.
    let created: Vec<(String, i64)> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Action)
        .column_as(audit_event::Column::Id.count(), "n")
        .filter(audit_event::Column::TenantId.eq(upload.tenant_id))
        .filter(audit_event::Column::TargetKind.is_in([Membership::Roles.noun(), Membership::Groups.noun()]))
        .filter(audit_event::Column::UploadId.eq(upload.id))
        .filter(audit_event::Column::Action.is_in([Membership::Roles.created(), Membership::Groups.created()]))
        .group_by(audit_event::Column::Action)
        .into_tuple()
        .all(db)
        .await?;
    for (action, n) in created {
        if action == Membership::Roles.created() {
            c.roles_added = n as u64;
        } else {
            c.groups_added = n as u64;
        }
    }
    Ok(c)
}

/// The first error message the plan stored for a row.
pub(super) fn first_error(r: &upload_row::Model) -> String {
    r.diagnostics
        .as_ref()
        .and_then(|d| d.as_array())
        .and_then(|a| a.iter().find(|d| d["severity"] == "error"))
        .and_then(|d| d["message"].as_str())
        .unwrap_or("Error")
        .to_owned()
}
