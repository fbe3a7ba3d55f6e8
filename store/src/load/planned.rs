//! Planned rows as a load reads them.
use super::writes::Credential;
use crate::entity::upload_row;
use muster_import::plan::Change;
use muster_import::{RowStatus, UserRow};
use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseConnection, EntityTrait, QuerySelect};
use serde::Deserialize;
use std::collections::HashMap;

/// A batch's planned rows (without their records), their records parsed, and
/// the credentials of the users it adds, by row position in the batch.
pub(super) struct Batch {
    pub(super) rows: Vec<upload_row::Model>,
    pub(super) parsed: Vec<Option<UserRow>>,
    pub(super) credentials: HashMap<usize, Credential>,
}

impl Batch {
    /// Whether applying the batch may leave a manager to link once every row
    /// is in ([`link_managers`](super::managers::link_managers)): a row that
    /// adds or changes a user and names a manager, or whose record could not
    /// be read, so that nothing can be said of it.
    pub(super) fn may_name_a_manager(&self) -> bool {
        let links = [RowStatus::New, RowStatus::Update, RowStatus::Joiner, RowStatus::Leaver].map(RowStatus::as_str);
        self.rows.iter().zip(&self.parsed).any(|(r, parsed)| {
            links.contains(&r.status.as_str()) && parsed.as_ref().is_none_or(|row| row.reports_to.is_some())
        })
    }
}

/// A planned row as a load reads it, with its record as JSON text, parsed once
/// straight into a [`UserRow`]: read as a JSON value first, each record cost a
/// map of its fields and a second pass over them, a tenth of the client's time
/// in a load. `split` gives the row without its record, and the record parsed.
#[derive(sea_orm::FromQueryResult)]
pub(super) struct Planned {
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
    pub(super) fn select(db: &DatabaseConnection) -> sea_orm::Select<upload_row::Entity> {
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

    pub(super) fn split(self) -> (upload_row::Model, Option<UserRow>) {
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
            // What only the preview shows is not read by the load.
            message: None,
            user_id: None,
            full_name: None,
        };
        (row, parsed)
    }
}

/// SQL for one field of a planned row's record, as text: only what is needed
/// of the record, not the whole of it parsed as JSON.
pub(super) fn record_text(db: &DatabaseConnection, field: &str) -> String {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => format!("record ->> '{field}'"),
        _ => format!("json_extract(record, '$.{field}')"),
    }
}

/// A planned row's changes (stored as JSON), as the engine planned them.
pub(super) fn changes_of(json: Option<&sea_orm::JsonValue>) -> Vec<Change> {
    json.and_then(|c| Vec::<Change>::deserialize(c).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_import::UserId;

    fn planned(status: RowStatus, record: Option<UserRow>) -> Batch {
        let row = upload_row::Model {
            id: 1,
            tenant_id: 1,
            upload_id: 1,
            row_index: 1,
            line: 2,
            status: status.as_str().into(),
            selected: true,
            record: None,
            existing_user_id: None,
            diagnostics: None,
            changes: None,
            result: None,
            outcome: None,
            message: None,
            user_id: None,
            full_name: None,
        };
        Batch { rows: vec![row], parsed: vec![record], credentials: HashMap::new() }
    }

    #[test]
    fn a_batch_may_name_a_manager_when_a_row_it_applies_does_or_cannot_be_read() {
        let naming = UserRow { reports_to: Some(UserId::parse("boss").unwrap()), ..UserRow::default() };
        for status in [RowStatus::New, RowStatus::Update, RowStatus::Joiner, RowStatus::Leaver] {
            assert!(planned(status, Some(naming.clone())).may_name_a_manager(), "{status:?}");
            assert!(planned(status, None).may_name_a_manager(), "{status:?}: a record not read");
            assert!(!planned(status, Some(UserRow::default())).may_name_a_manager(), "{status:?}");
        }
        for status in [RowStatus::Unchanged, RowStatus::Delete, RowStatus::Old, RowStatus::Error, RowStatus::Skipped] {
            assert!(!planned(status, Some(naming.clone())).may_name_a_manager(), "{status:?}: nothing to link");
        }
    }
}
