//! One batch of planned rows applied in one transaction: each row checked
//! against the database as it is now ([`Present`]), its change gathered
//! ([`Writes`]) and written with the others' at the end.
use super::catalogue::{ensure_names, no_licence, Catalogue};
use super::planned::{changes_of, Batch};
use super::present::{Present, NEW_USER};
use super::results::{first_error, not_applied, RowResult, STOPPED};
use super::tables::{audit, Actor};
use super::writes::{Credential, NewUser, Writes};
use super::{outcome, Mailing, UploadOptions};
use crate::bulk::{self, CopyTo, Kind};
use crate::entity::user::UserState;
use crate::entity::{tenant, upload_row, user};
use crate::memberships::Kind as Membership;
use chrono::{DateTime, Utc};
use muster_import::plan::Change;
use muster_import::{normalize_key, Field, RowStatus, SyncAction, UserRow};
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::{HashMap, HashSet};

/// A row's outcome word and result text.
type Outcome = (&'static str, String);

/// Applies a batch's rows: their results in the batch's order, the mail to send
/// once the batch commits, and whether an all-or-nothing load stops here.
pub(super) async fn apply_batch<C: CopyTo>(
    db: &C,
    tenant: &tenant::Model,
    options: &UploadOptions,
    actor: &Actor,
    catalogue: &mut Catalogue,
    org_code: &HashMap<i64, String>,
    batch: &mut Batch,
) -> Result<(Vec<RowResult>, Mailing, bool), DbErr> {
    let Batch { rows, parsed, credentials } = batch;
    let (rows, parsed) = (&*rows, &*parsed);
    let changes: Vec<Vec<Change>> = rows.iter().map(|r| changes_of(r.changes.as_ref())).collect();
    let present = Present::read(db, tenant.id, rows, parsed, &changes, catalogue).await?;
    let mut batch = Applying {
        tenant,
        options,
        actor,
        catalogue,
        org_code,
        present,
        credentials,
        writes: Writes::default(),
        stop: false,
        now: Utc::now(),
    };
    let mut results = Vec::with_capacity(rows.len());
    for (at, ((r, row), changes)) in rows.iter().zip(parsed).zip(&changes).enumerate() {
        // After the first failed row of an all-or-nothing load, rows that would
        // change something are held back.
        if batch.stop || !r.selected {
            results.push(not_applied(r, STOPPED));
            continue;
        }
        let (outcome, text) = batch.row(db, at, r, row.as_ref(), changes).await?;
        results.push(RowResult { id: r.id, outcome, text });
    }
    let Applying { writes, stop, now, .. } = batch;
    let outgoing = writes.write(db, &options.load, actor, &mut results, now).await?;
    Ok((results, outgoing, stop))
}

/// A batch being applied: what its rows are checked against, and what they write.
struct Applying<'a, 'b> {
    tenant: &'a tenant::Model,
    options: &'a UploadOptions,
    actor: &'a Actor,
    catalogue: &'a mut Catalogue,
    org_code: &'a HashMap<i64, String>,
    present: Present,
    /// The credentials made for the batch's new users, before its transaction
    /// ([`credentials_for`](super::writes::credentials_for)).
    credentials: &'a mut HashMap<usize, Credential>,
    writes: Writes<'b>,
    /// An all-or-nothing load's row failed: the rest is held back.
    stop: bool,
    /// The batch's one time: every user it adds or changes, and its invitations.
    now: DateTime<Utc>,
}

impl<'b> Applying<'_, 'b> {
    async fn row<C: ConnectionTrait>(
        &mut self,
        db: &C,
        at: usize,
        r: &upload_row::Model,
        row: Option<&'b UserRow>,
        changes: &[Change],
    ) -> Result<Outcome, DbErr> {
        let status = RowStatus::ALL.into_iter().find(|s| s.as_str() == r.status).unwrap_or(RowStatus::Error);
        Ok(match (status, row) {
            (RowStatus::Error, _) => (outcome::ERROR, first_error(r)),
            (RowStatus::Skipped, _) => (outcome::SKIPPED, "Skipped".into()),
            (RowStatus::Unchanged, _) => (outcome::UNCHANGED, "No change".into()),
            (RowStatus::Old, _) => self.not_in_file(r),
            (RowStatus::New, Some(row)) => self.add(db, at, row).await?,
            (RowStatus::New, None) => (outcome::ERROR, "The row's values were not stored".into()),
            _ => self.change(db, r, row, status, changes).await?,
        })
    }

    /// A row that fails at load time; in an all-or-nothing load, the last applied.
    fn fail(&mut self, why: impl Into<String>) -> Outcome {
        self.stop |= self.options.load.stop_on_error;
        (outcome::ERROR, why.into())
    }

    /// A user a synced file does not name: the sync action, unless it is an admin.
    fn not_in_file(&mut self, r: &upload_row::Model) -> Outcome {
        let Some(u) = r.existing_user_id.and_then(|id| self.present.users.get(&id)) else {
            return (outcome::UNCHANGED, "Not in file; no longer exists".into());
        };
        let action = match self.options.plan.sync_action {
            _ if u.is_tenant_admin => return (outcome::UNCHANGED, "Not in file (a tenant admin: kept)".into()),
            SyncAction::Report => return (outcome::UNCHANGED, "Not in file (kept)".into()),
            SyncAction::MarkLeaver if u.state == UserState::Leaver => {
                return (outcome::UNCHANGED, "Not in file; already a leaver".into());
            }
            SyncAction::MarkLeaver => {
                self.writes.leavers.push(u.id);
                "user.leaver"
            }
            SyncAction::Delete => {
                self.writes.deleted.push(u.id);
                "user.delete"
            }
        };
        self.writes.audits.push(audit(self.actor, action, "user", Some(u.id), &u.user_id, None));
        match action {
            "user.leaver" => (outcome::LEAVER, "Not in file: marked as leaver".into()),
            _ => (outcome::DELETED, "Not in file: deleted".into()),
        }
    }

    /// A new user, unless one of its keys was taken since the preview or the
    /// tenant has no licence left. Its result is written once it is inserted.
    async fn add<C: ConnectionTrait>(&mut self, db: &C, at: usize, row: &'b UserRow) -> Result<Outcome, DbErr> {
        let keys = [
            (Field::UserId, row.user_id.as_ref().map(|u| u.as_str())),
            (Field::Email, row.email.as_ref().map(|e| e.as_str())),
            (Field::ExternalId, row.external_id.as_ref().map(|x| x.as_str())),
        ]
        .map(|(field, key)| (field, key.map(normalize_key)));
        let taken = keys.iter().find_map(|(field, key)| {
            let key = key.as_deref()?;
            self.present.taken.owner(*field, key).map(|_| *field)
        });
        if let Some(field) = taken {
            return Ok(self.fail(match field {
                Field::UserId => "Not loaded: a user with this userId was created since the preview",
                Field::Email => "Not loaded: this email was given to another user since the preview",
                _ => "Not loaded: this externalId was given to another user since the preview",
            }));
        }
        if !self.catalogue.spend_licence() {
            let why = no_licence(self.tenant);
            return Ok(self.fail(why));
        }
        // Not an id yet: no update in this batch may take these keys.
        for (field, key) in keys {
            if let Some(key) = key {
                self.present.taken.take(field, key, NEW_USER);
            }
        }
        let organisation_id = row
            .organisation
            .as_ref()
            .and_then(|o| self.catalogue.organisations.get(&normalize_key(o.as_str())).copied())
            .or(self.catalogue.default_organisation);
        // Made for every selected New row that gets a password: none is an invitation.
        let credential = self.credentials.remove(&at);
        let roles = self.names(db, Membership::Roles, Some(row), row.roles.as_deref()).await?;
        let groups = self.names(db, Membership::Groups, Some(row), row.groups.as_deref()).await?;
        self.writes.new_users.push(NewUser { at, row, organisation_id, credential, roles, groups });
        Ok((outcome::ADDED, String::new()))
    }

    /// The ids of the roles or groups named, made where the tenant lacks them.
    async fn names<C: ConnectionTrait, N: AsRef<str>>(
        &mut self,
        db: &C,
        kind: Membership,
        row: Option<&UserRow>,
        names: Option<&[N]>,
    ) -> Result<Vec<i64>, DbErr> {
        let Some(names) = names else { return Ok(Vec::new()) };
        let set: HashSet<String> = names.iter().map(|n| normalize_key(n.as_ref())).collect();
        ensure_names(db, kind, row, &set, self.catalogue, self.actor, &mut self.writes.audits).await
    }

    /// An update, leaver, joiner or deletion of an existing user, unless what
    /// it changes was changed since the preview.
    async fn change<C: ConnectionTrait>(
        &mut self,
        db: &C,
        r: &upload_row::Model,
        row: Option<&'b UserRow>,
        status: RowStatus,
        changes: &[Change],
    ) -> Result<Outcome, DbErr> {
        let Some(u) = r.existing_user_id.and_then(|id| self.present.users.get(&id)).cloned() else {
            return Ok(self.fail("Not loaded: the user was deleted since the preview"));
        };
        if status == RowStatus::Delete {
            if u.is_tenant_admin {
                // The plan refuses to delete an admin; one made admin since is kept too.
                return Ok(self.fail("Not loaded: the user is a tenant admin now; an upload does not delete admins"));
            }
            self.writes.deleted.push(u.id);
            self.writes.audits.push(audit(self.actor, "user.delete", "user", Some(u.id), &u.user_id, None));
            return Ok((outcome::DELETED, "Deleted".into()));
        }
        if let Some(why) = self.changed_since_the_preview(&u, status, changes) {
            return Ok(self.fail(why));
        }
        if status == RowStatus::Joiner && !self.catalogue.spend_licence() {
            let why = no_licence(self.tenant);
            return Ok(self.fail(why));
        }
        for (field, key) in changes.iter().filter_map(new_key) {
            self.present.taken.take(field, key, u.id);
        }
        let (columns, values) = self.columns_set(&u, status, changes);
        self.writes.updates.entry(columns).or_default().push(values);
        for c in changes {
            let kind = match c.field {
                Field::Roles => Membership::Roles,
                Field::Groups => Membership::Groups,
                _ => continue,
            };
            let names: Vec<&str> = c.new.as_deref().unwrap_or("").split('|').filter(|n| !n.trim().is_empty()).collect();
            let ids = self.names(db, kind, row, Some(names.as_slice())).await?;
            self.writes.memberships.push((kind, u.id, ids));
        }
        let (action, done, text) = match status {
            RowStatus::Leaver => ("user.leaver", outcome::LEAVER, "Marked as leaver".to_owned()),
            RowStatus::Joiner => ("user.joiner", outcome::JOINER, "Re-admitted to the given organisation".to_owned()),
            _ => (
                "user.update",
                outcome::UPDATED,
                format!("Updated ({})", changes.iter().map(|c| c.field.name()).collect::<Vec<_>>().join(", ")),
            ),
        };
        let details = serde_json::to_value(changes).ok();
        self.writes.audits.push(audit(self.actor, action, "user", Some(u.id), &u.user_id, details));
        Ok((done, text))
    }

    /// Why a row's change no longer holds: a field it changes, a key it takes or
    /// the user's state is not what the preview saw.
    fn changed_since_the_preview(&self, u: &user::Model, status: RowStatus, changes: &[Change]) -> Option<String> {
        // Read only for a row that changes fields (a copy of the user as planned).
        let planned = (!changes.is_empty()).then(|| self.present.as_planned(u, self.org_code));
        let now = |field| planned.as_ref().and_then(|p| muster_import::plan::field_text(p, field));
        let stale = changes.iter().find(|c| match c.field {
            Field::Roles | Field::Groups => {
                names_set(now(c.field).as_deref().unwrap_or("")) != names_set(c.old.as_deref().unwrap_or(""))
            }
            // A manager deleted since the preview (by an earlier row of this
            // file, or by hand) left no manager: the row changes it anyway,
            // from one that is gone.
            Field::ReportsTo
                if u.reports_to_id.is_none()
                    && c.old.as_deref().is_some_and(|m| self.present.gone_managers.contains(&normalize_key(m))) =>
            {
                false
            }
            field => !same(now(field).as_deref(), c.old.as_deref()),
        });
        if let Some(c) = stale {
            let now = now(c.field).unwrap_or_default();
            return Some(format!(
                "Not loaded: {} changed since the preview (now {now:?}); validate the file again",
                c.field.name()
            ));
        }
        let clash = changes
            .iter()
            .filter_map(new_key)
            .find(|(field, key)| self.present.taken.owner(*field, key).is_some_and(|owner| owner != u.id));
        if let Some((field, _)) = clash {
            return Some(format!("Not loaded: this {} was given to another user since the preview", field.name()));
        }
        if status == RowStatus::Leaver && u.state == UserState::Leaver
            || status == RowStatus::Joiner && u.state != UserState::Leaver
        {
            return Some("Not loaded: the user's state changed since the preview".into());
        }
        None
    }

    /// The columns an update sets (the user's id first) and their values: only
    /// the fields that change, the match keys beside their own.
    fn columns_set(
        &self,
        u: &user::Model,
        status: RowStatus,
        changes: &[Change],
    ) -> (Vec<(&'static str, Kind)>, bulk::Row) {
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
                    let id = new.and_then(|o| self.catalogue.organisations.get(&normalize_key(o)).copied());
                    set("organisation_id", Kind::BigInt, values.int(id.or(u.organisation_id)))
                }
                Field::Enabled => set("enabled", Kind::Bool, values.bool(new == Some("true"))),
                Field::TaskNotification => {
                    set("task_notification", Kind::Text, values.text(Some(new.unwrap_or("Email"))))
                }
                Field::ChangePasswordNextTime => {
                    set("change_password_next_time", Kind::Bool, values.bool(new == Some("true")))
                }
                // Managers are linked after all rows; memberships apart.
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
            RowStatus::Leaver => set("state", Kind::Text, values.text(Some(UserState::Leaver.as_str()))),
            RowStatus::Joiner => set("state", Kind::Text, values.text(Some(UserState::Active.as_str()))),
            _ => values,
        };
        values = set("updated_at", Kind::Timestamp, values.time(Some(self.now)));
        (columns, values)
    }
}

/// The match key (normalised) a change gives its user, if it changes one.
fn new_key(c: &Change) -> Option<(Field, String)> {
    match c.field {
        Field::UserId | Field::Email | Field::ExternalId => Some((c.field, normalize_key(c.new.as_deref()?))),
        _ => None,
    }
}

fn same(a: Option<&str>, b: Option<&str>) -> bool {
    a.map(normalize_key) == b.map(normalize_key)
}

fn names_set(names: &str) -> HashSet<String> {
    names.split('|').filter(|n| !n.trim().is_empty()).map(normalize_key).collect()
}
