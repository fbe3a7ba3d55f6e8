//! What each row does to the directory: the user it is about, its status, and the fields it changes.
use super::*;
use crate::diagnostic::{Diagnostic, Severity};
use crate::directory::{DirectoryIndex, DirectoryUser};
use crate::field::Field;
use crate::layout::Layout;
use crate::normalize_key;
use crate::row::UserRow;
use std::collections::{BTreeSet, HashMap, HashSet};

pub(super) struct Planner<'a, 'd> {
    pub(super) dir: &'a DirectoryIndex<'d>,
    pub(super) options: &'a PlanOptions,
    pub(super) layout: &'a Layout,
    /// Directory users a row of the file names, with the first such line: a
    /// sync leaves them alone.
    pub(super) named: HashMap<usize, u64>,
    pub(super) roles_seen: HashSet<String>,
    pub(super) groups_seen: HashSet<String>,
}

pub(super) fn error(row: &UserRow, layout: &Layout, field: Field, value: &str, reason: &str) -> Diagnostic {
    let heading = match layout.email_fallback {
        Some(fallback) if field == Field::Email && row.email_from_fallback => &layout.columns[fallback].heading,
        _ => layout.heading_of(field),
    };
    Diagnostic::cell(Severity::Error, row.line, heading, value, reason)
}

pub(super) fn opt_eq(new: &Option<String>, old: &Option<String>) -> bool {
    new.as_deref().map(str::trim) == old.as_deref().map(str::trim)
}

pub(super) fn names_eq(new: &[crate::fields::RoleName], old: &[String]) -> bool {
    let a: BTreeSet<String> = new.iter().map(|n| normalize_key(n.as_str())).collect();
    let b: BTreeSet<String> = old.iter().map(|n| normalize_key(n)).collect();
    a == b
}

pub(super) fn join_names(names: &[impl AsRef<str>]) -> String {
    names.iter().map(AsRef::as_ref).collect::<Vec<_>>().join("|")
}

/// A user's field as a plan writes it (a change's `old`): the one definition
/// for the preview and for the load's check that nothing changed since it.
/// Role and group names joined by bars; `None` for what a user does not hold.
pub fn field_text(user: &DirectoryUser, field: Field) -> Option<String> {
    let flag = |v: bool| Some(v.to_string());
    match field {
        Field::UserId => Some(user.user_id.clone()),
        Field::ExternalId => user.external_id.clone(),
        Field::Title => user.title.clone(),
        Field::FirstName => user.first_name.clone(),
        Field::LastName => user.last_name.clone(),
        Field::Email => Some(user.email.clone()),
        Field::Mobile => user.mobile.clone(),
        Field::JobTitle => user.job_title.clone(),
        Field::Organisation => user.organisation.clone(),
        Field::Enabled => flag(user.enabled),
        Field::ReportsTo => user.reports_to.clone(),
        Field::Roles => Some(join_names(&user.roles)),
        Field::Groups => Some(join_names(&user.groups)),
        Field::TaskNotification => Some(user.task_notification.as_str().into()),
        Field::ChangePasswordNextTime => flag(user.change_password_next_time),
        Field::Tenant | Field::Status | Field::NotifyIfNewUser | Field::Password | Field::Transaction => None,
    }
}

/// The preview's words for a row: its status, or its first error.
fn message_of(status: RowStatus, changes: &[Change], diagnostics: &[Diagnostic]) -> String {
    match status {
        RowStatus::New => "New user".to_owned(),
        RowStatus::Update => format!(
            "Account already exists and will be updated ({})",
            changes.iter().map(|c| c.field.name()).collect::<Vec<_>>().join(", ")
        ),
        RowStatus::Unchanged => "No change".to_owned(),
        RowStatus::Leaver => "Will be marked as leaver".to_owned(),
        RowStatus::Joiner => "User already exists in Leaver state and will be moved to given Organisation".to_owned(),
        RowStatus::Delete => "Will be deleted".to_owned(),
        RowStatus::Skipped => "Skipped".to_owned(),
        RowStatus::Error => diagnostics.iter().find(|d| d.is_error()).map(|d| d.message.clone()).unwrap_or_default(),
        RowStatus::Old => unreachable!("file rows are never Old"),
    }
}

/// The fields a row would change on an existing user; blank cells change nothing.
pub fn changes(row: &UserRow, user: &DirectoryUser, include_organisation: bool) -> Vec<Change> {
    let mut out = Vec::new();
    let old = |field: Field| field_text(user, field);
    let mut text = |field: Field, new: Option<String>| {
        let old = old(field);
        if new.is_some() && !opt_eq(&new, &old) {
            out.push(Change { field, old, new });
        }
    };
    let key_changed =
        |new: Option<&str>, old: Option<&str>| new.is_some_and(|n| Some(normalize_key(n)) != old.map(normalize_key));
    if key_changed(row.user_id.as_ref().map(|u| u.as_str()), Some(&user.user_id)) {
        text(Field::UserId, row.user_id.as_ref().map(|u| u.to_string()));
    }
    if key_changed(row.external_id.as_ref().map(|u| u.as_str()), user.external_id.as_deref()) {
        text(Field::ExternalId, row.external_id.as_ref().map(|u| u.to_string()));
    }
    text(Field::Title, row.title.clone());
    text(Field::FirstName, row.first_name.clone());
    text(Field::LastName, row.last_name.clone());
    if key_changed(row.email.as_ref().map(|e| e.as_str()), Some(&user.email)) {
        text(Field::Email, row.email.as_ref().map(|e| e.to_string()));
    }
    text(Field::Mobile, row.mobile.as_ref().map(|m| m.to_string()));
    text(Field::JobTitle, row.job_title.clone());
    if include_organisation && key_changed(row.organisation.as_ref().map(|o| o.as_str()), user.organisation.as_deref())
    {
        text(Field::Organisation, row.organisation.as_ref().map(|o| o.to_string()));
    }
    let mut out_of_text = Vec::new();
    let mut push = |field: Field, new: Option<String>| out_of_text.push(Change { field, old: old(field), new });
    if let Some(enabled) = row.enabled.filter(|e| *e != user.enabled) {
        push(Field::Enabled, Some(enabled.to_string()));
    }
    if key_changed(row.reports_to.as_ref().map(|u| u.as_str()), user.reports_to.as_deref()) {
        push(Field::ReportsTo, row.reports_to.as_ref().map(|u| u.to_string()));
    }
    for (field, new, held) in [(Field::Roles, &row.roles, &user.roles), (Field::Groups, &row.groups, &user.groups)] {
        if let Some(new) = new.as_ref().filter(|n| !names_eq(n, held)) {
            push(field, Some(join_names(new)));
        }
    }
    if let Some(tn) = row.task_notification.filter(|t| *t != user.task_notification) {
        push(Field::TaskNotification, Some(tn.as_str().into()));
    }
    if let Some(c) = row.change_password_next_time.filter(|c| *c != user.change_password_next_time) {
        push(Field::ChangePasswordNextTime, Some(c.to_string()));
    }
    out.extend(out_of_text);
    out
}

impl<'d> Planner<'_, 'd> {
    /// Which directory user a row is about: by externalId first, then userId.
    fn find(&mut self, row: &UserRow, diagnostics: &mut Vec<Diagnostic>) -> Option<usize> {
        let by_ext = row.external_id.as_ref().and_then(|e| self.dir.by_external_id(&normalize_key(e.as_str())));
        let by_uid = row.user_id.as_ref().and_then(|u| self.dir.by_user_id(&normalize_key(u.as_str())));
        match (by_ext, by_uid) {
            (Some(a), Some(b)) if a != b => {
                let uid = row.user_id.as_ref().map_or("", |u| u.as_str());
                // Both users are named by this row: a sync must not retire either.
                self.named.entry(b).or_insert(row.line);
                diagnostics.push(error(
                    row,
                    self.layout,
                    Field::UserId,
                    uid,
                    &format!(
                        "belongs to another user than externalId {:?} (that user's userId is {:?})",
                        row.external_id.as_ref().map_or("", |e| e.as_str()),
                        self.dir.user(a).user_id
                    ),
                ));
                Some(a)
            }
            (Some(a), _) => Some(a),
            (None, Some(b)) => {
                let user = self.dir.user(b);
                if let (Some(mine), Some(theirs)) = (&row.external_id, &user.external_id) {
                    diagnostics.push(error(
                        row,
                        self.layout,
                        Field::ExternalId,
                        mine.as_str(),
                        &format!("does not match user {:?}, whose externalId is {theirs:?}", user.user_id),
                    ));
                }
                Some(b)
            }
            (None, None) => None,
        }
    }

    pub(super) fn plan_row(
        &mut self,
        row: UserRow,
        mut diagnostics: Vec<Diagnostic>,
        summary: &mut PlanSummary,
    ) -> RowPlan {
        let existing = self.find(&row, &mut diagnostics);
        let user = existing.map(|i| self.dir.user(i));
        if let Some(i) = existing {
            self.check_named_once(&row, i, &mut diagnostics);
            self.ignore_password(&row, &mut diagnostics);
        }
        self.check_taken_keys(&row, existing, &mut diagnostics);
        let uid = row.user_id.as_ref().map_or("", |u| u.as_str()).to_owned();
        let mut changes_found = Vec::new();
        let status = match user {
            _ if row.delete => self.status_of_delete(&row, user, &uid, &mut diagnostics),
            None => self.status_of_new(&row, &uid, &mut diagnostics),
            Some(_) if self.options.mode == Mode::AddNewOnly => RowStatus::Skipped,
            Some(user) => self.status_of_existing(&row, user, &uid, &mut diagnostics, &mut changes_found),
        };

        let has_error = diagnostics.iter().any(Diagnostic::is_error);
        let status = if self.options.deselected.contains(&row.line) {
            RowStatus::Skipped
        } else if has_error {
            RowStatus::Error
        } else {
            status
        };
        if matches!(
            status,
            RowStatus::New | RowStatus::Update | RowStatus::Joiner | RowStatus::Leaver | RowStatus::Unchanged
        ) {
            self.note_added(&row, summary);
        }
        RowPlan {
            line: Some(row.line),
            user_id: row.user_id.as_ref().map(|u| u.to_string()),
            first_name: row.first_name.clone().or_else(|| user.and_then(|u| u.first_name.clone())),
            last_name: row.last_name.clone().or_else(|| user.and_then(|u| u.last_name.clone())),
            status,
            message: message_of(status, &changes_found, &diagnostics),
            diagnostics,
            changes: changes_found,
            existing_id: user.map(|u| u.id),
            row: Some(row),
        }
    }

    /// Two rows about one user (one matched by externalId, the other by
    /// userId) would apply twice; a duplicate key is already reported.
    fn check_named_once(&mut self, row: &UserRow, user: usize, diagnostics: &mut Vec<Diagnostic>) {
        let first = *self.named.entry(user).or_insert(row.line);
        if first != row.line && !diagnostics.iter().any(Diagnostic::is_error) {
            diagnostics.push(Diagnostic::line(
                Severity::Error,
                row.line,
                format!(
                    "is about the same user as line {first} ({:?}); give each user one row",
                    self.dir.user(user).user_id
                ),
            ));
        }
    }

    /// An existing user's password is ignored with a warning (SPEC 3.1),
    /// whether or not it would meet the policy: it changes nothing, so it
    /// cannot be what makes the row fail.
    fn ignore_password(&self, row: &UserRow, diagnostics: &mut Vec<Diagnostic>) {
        let heading = self.layout.heading_of(Field::Password);
        let about_password = |d: &Diagnostic| d.line == Some(row.line) && d.column.as_deref() == Some(heading);
        let given = row.password.is_some() || diagnostics.iter().any(about_password);
        diagnostics.retain(|d| !about_password(d));
        if given {
            diagnostics.push(Diagnostic::cell(
                Severity::Warning,
                row.line,
                heading,
                "",
                "is ignored for an existing user: passwords are never changed by upload",
            ));
        }
    }

    /// An email another user holds, and an organisation the tenant does not have.
    fn check_taken_keys(&self, row: &UserRow, existing: Option<usize>, diagnostics: &mut Vec<Diagnostic>) {
        let layout = self.layout;
        if let Some(email) = &row.email {
            if let Some(owner) = self.dir.by_email(&normalize_key(email.as_str())) {
                if Some(owner) != existing {
                    diagnostics.push(error(
                        row,
                        layout,
                        Field::Email,
                        email.as_str(),
                        &format!("belongs to another user ({:?})", self.dir.user(owner).user_id),
                    ));
                }
            }
        }
        if let Some(org) = &row.organisation {
            if self.dir.organisation(org.as_str()).is_none() {
                diagnostics.push(error(
                    row,
                    layout,
                    Field::Organisation,
                    org.as_str(),
                    "is not an organisation of this tenant",
                ));
            }
        }
    }

    /// A row that deletes its user.
    fn status_of_delete(
        &self,
        row: &UserRow,
        user: Option<&DirectoryUser>,
        uid: &str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> RowStatus {
        let layout = self.layout;
        match user {
            Some(_) if self.options.mode == Mode::AddNewOnly => RowStatus::Skipped,
            // As a sync keeps admins it does not find: an upload could
            // otherwise delete its own uploader, or the tenant's last admin.
            Some(u) if u.is_admin => {
                diagnostics.push(error(
                    row,
                    layout,
                    Field::Transaction,
                    layout.delete_word(),
                    &format!("but {uid:?} is a tenant admin; an upload does not delete admins"),
                ));
                RowStatus::Error
            }
            Some(_) => RowStatus::Delete,
            None => {
                diagnostics.push(error(
                    row,
                    layout,
                    Field::Transaction,
                    layout.delete_word(),
                    &format!("but no user {uid:?} exists"),
                ));
                RowStatus::Error
            }
        }
    }

    /// A row about a user the tenant does not have.
    fn status_of_new(&self, row: &UserRow, uid: &str, diagnostics: &mut Vec<Diagnostic>) -> RowStatus {
        let layout = self.layout;
        if row.leaver {
            diagnostics.push(error(row, layout, Field::Status, "leaver", &format!("but no user {uid:?} exists")));
        }
        if self.options.mode == Mode::UpdateOnly {
            diagnostics.push(error(
                row,
                layout,
                Field::UserId,
                uid,
                "is not an existing user; Update only mode adds no one",
            ));
        }
        if row.first_name.is_none() && row.last_name.is_none() {
            diagnostics.push(Diagnostic::line(Severity::Error, row.line, "a new user needs a firstName or a lastName"));
        }
        RowStatus::New
    }

    /// A row about a user the tenant has: re-admitted, retired, updated or unchanged.
    fn status_of_existing(
        &self,
        row: &UserRow,
        user: &DirectoryUser,
        uid: &str,
        diagnostics: &mut Vec<Diagnostic>,
        changes_found: &mut Vec<Change>,
    ) -> RowStatus {
        if user.leaver && !row.leaver {
            return match &row.organisation {
                Some(_) => {
                    *changes_found = changes(row, user, true);
                    RowStatus::Joiner
                }
                None => {
                    diagnostics.push(Diagnostic::line(
                        Severity::Warning,
                        row.line,
                        format!("{uid:?} is a leaver; give their organisation to re-admit them"),
                    ));
                    *changes_found = changes(row, user, false);
                    if changes_found.is_empty() {
                        RowStatus::Unchanged
                    } else {
                        RowStatus::Update
                    }
                }
            };
        }
        if let Some(org) = &row.organisation {
            let current = user.organisation.as_deref().unwrap_or("");
            if !user.leaver && normalize_key(org.as_str()) != normalize_key(current) {
                diagnostics.push(error(
                    row,
                    self.layout,
                    Field::Organisation,
                    org.as_str(),
                    &format!(
                        "differs from the user's organisation {current:?}: an upload cannot move users between organisations (use the Users screen's transfer)"
                    ),
                ));
            }
        }
        *changes_found = changes(row, user, false);
        if row.leaver && !user.leaver {
            RowStatus::Leaver
        } else if changes_found.is_empty() {
            RowStatus::Unchanged
        } else {
            RowStatus::Update
        }
    }

    fn note_added(&mut self, row: &UserRow, summary: &mut PlanSummary) {
        for name in row.roles.iter().flatten() {
            let key = normalize_key(name.as_str());
            if !self.dir.has_role(&key) && self.roles_seen.insert(key) {
                summary.roles_added.push(name.to_string());
            }
        }
        for name in row.groups.iter().flatten() {
            let key = normalize_key(name.as_str());
            if !self.dir.has_group(&key) && self.groups_seen.insert(key) {
                summary.groups_added.push(name.to_string());
            }
        }
    }

    pub(super) fn old_users(&self, summary: &mut PlanSummary, sink: &mut impl FnMut(RowPlan)) {
        let action = self.options.sync_action;
        let mut retired = 0u64;
        for (i, user) in self.dir.directory.users.iter().enumerate() {
            if user.leaver || self.named.contains_key(&i) {
                continue;
            }
            let message = match (action, user.is_admin) {
                (_, true) => "Not in file (a tenant admin: kept)",
                (SyncAction::Report, _) => "Not in file (kept)",
                (SyncAction::MarkLeaver, _) => "Not in file (will be marked as leaver)",
                (SyncAction::Delete, _) => "Not in file (will be deleted)",
            };
            if action != SyncAction::Report && !user.is_admin {
                retired += 1;
            }
            summary.counts.add(RowStatus::Old);
            sink(RowPlan {
                line: None,
                user_id: Some(user.user_id.clone()),
                first_name: user.first_name.clone(),
                last_name: user.last_name.clone(),
                status: RowStatus::Old,
                message: message.to_owned(),
                diagnostics: Vec::new(),
                changes: Vec::new(),
                existing_id: Some(user.id),
                row: None,
            });
        }
        let active = self.dir.active_users.max(1);
        if retired * 100 > u64::from(self.options.sync_threshold_percent) * active {
            summary.needs_confirmation = true;
            let verb = if action == SyncAction::Delete { "delete" } else { "mark as leavers" };
            summary.file_diagnostics.push(Diagnostic::file(
                Severity::Warning,
                format!(
                    "This sync would {verb} {retired} of {} active users ({}%), more than the {}% safeguard: it needs a second, explicit confirmation",
                    self.dir.active_users,
                    retired * 100 / active,
                    self.options.sync_threshold_percent
                ),
            ));
        }
    }
}
