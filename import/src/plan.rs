//! What each row will do to the tenant (SPEC section 4), computed against a
//! directory snapshot, and the checks of a file without one (the browser's).
use crate::decode::Encoding;
use crate::diagnostic::{Diagnostic, Severity};
use crate::dialect::Delimiter;
use crate::directory::{Directory, DirectoryIndex, DirectoryUser};
use crate::field::Field;
use crate::file_index::{FileIndex, FileKeys};
use crate::layout::{Format, HeadingMapping, Layout};
use crate::normalize_key;
use crate::parts;
use crate::row::{check_row, parse_row, UserRow};
use crate::source::{Record, Source};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RowStatus {
    New,
    Update,
    Unchanged,
    Leaver,
    Joiner,
    Delete,
    Old,
    Error,
    Skipped,
}

impl RowStatus {
    pub const ALL: [RowStatus; 9] = [
        RowStatus::New,
        RowStatus::Update,
        RowStatus::Unchanged,
        RowStatus::Leaver,
        RowStatus::Joiner,
        RowStatus::Delete,
        RowStatus::Old,
        RowStatus::Error,
        RowStatus::Skipped,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::New => "New",
            RowStatus::Update => "Update",
            RowStatus::Unchanged => "Unchanged",
            RowStatus::Leaver => "Leaver",
            RowStatus::Joiner => "Joiner",
            RowStatus::Delete => "Delete",
            RowStatus::Old => "Old",
            RowStatus::Error => "Error",
            RowStatus::Skipped => "Skipped",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    AddAndUpdate,
    AddNewOnly,
    UpdateOnly,
    Sync,
}

/// What a sync does with active users the file does not name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncAction {
    #[default]
    Report,
    MarkLeaver,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOptions {
    pub mode: Mode,
    pub sync_action: SyncAction,
    /// A sync that would retire or delete more than this share of the active
    /// users needs a second confirmation.
    pub sync_threshold_percent: u32,
    pub mapping: HeadingMapping,
    /// Lines the admin unticked in the preview.
    pub deselected: BTreeSet<u64>,
    /// Forces a delimiter instead of detecting it.
    pub delimiter: Option<Delimiter>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            sync_action: SyncAction::default(),
            sync_threshold_percent: 20,
            mapping: HeadingMapping::new(),
            deselected: BTreeSet::new(),
            delimiter: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub field: Field,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowPlan {
    /// `None` for Old rows: users the file does not name.
    pub line: Option<u64>,
    pub user_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub status: RowStatus,
    /// The preview's sentence for the row.
    pub message: String,
    pub diagnostics: Vec<Diagnostic>,
    pub changes: Vec<Change>,
    /// The directory user the row matched.
    pub existing_id: Option<i64>,
    /// The parsed values to apply (`None` for Old rows).
    pub row: Option<UserRow>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    #[serde(rename = "New")]
    pub new: u64,
    #[serde(rename = "Update")]
    pub update: u64,
    #[serde(rename = "Unchanged")]
    pub unchanged: u64,
    #[serde(rename = "Leaver")]
    pub leaver: u64,
    #[serde(rename = "Joiner")]
    pub joiner: u64,
    #[serde(rename = "Delete")]
    pub delete: u64,
    #[serde(rename = "Old")]
    pub old: u64,
    #[serde(rename = "Error")]
    pub error: u64,
    #[serde(rename = "Skipped")]
    pub skipped: u64,
}

impl Counts {
    pub fn add(&mut self, status: RowStatus) {
        *self.get_mut(status) += 1;
    }
    pub fn get(&self, status: RowStatus) -> u64 {
        let mut copy = *self;
        *copy.get_mut(status)
    }
    fn get_mut(&mut self, status: RowStatus) -> &mut u64 {
        match status {
            RowStatus::New => &mut self.new,
            RowStatus::Update => &mut self.update,
            RowStatus::Unchanged => &mut self.unchanged,
            RowStatus::Leaver => &mut self.leaver,
            RowStatus::Joiner => &mut self.joiner,
            RowStatus::Delete => &mut self.delete,
            RowStatus::Old => &mut self.old,
            RowStatus::Error => &mut self.error,
            RowStatus::Skipped => &mut self.skipped,
        }
    }
    pub fn total(&self) -> u64 {
        RowStatus::ALL.iter().map(|s| self.get(*s)).sum()
    }
}

/// Everything about a plan except its rows, which stream to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub format: Format,
    pub encoding: Encoding,
    pub delimiter: Delimiter,
    pub file_diagnostics: Vec<Diagnostic>,
    pub counts: Counts,
    pub roles_added: Vec<String>,
    pub groups_added: Vec<String>,
    /// A sync above the safeguard threshold: loading needs a second confirmation.
    pub needs_confirmation: bool,
}

impl PlanSummary {
    /// Whether the file as a whole may be loaded (rows may still have errors).
    pub fn file_ok(&self) -> bool {
        !self.file_diagnostics.iter().any(Diagnostic::is_error)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    #[serde(flatten)]
    pub summary: PlanSummary,
    pub rows: Vec<RowPlan>,
}

/// Plans every row against `directory`, handing each [`RowPlan`] to `sink` as soon
/// as it is made: memory stays bounded by the file's keys, not its rows.
pub fn plan_with(bytes: &[u8], directory: &Directory, options: &PlanOptions, sink: impl FnMut(RowPlan)) -> PlanSummary {
    plan_with_index(bytes, &DirectoryIndex::new(directory), options, sink)
}

/// [`plan_with`] on a directory already indexed (one index serves many plans).
pub fn plan_with_index(
    bytes: &[u8],
    dir: &DirectoryIndex<'_>,
    options: &PlanOptions,
    sink: impl FnMut(RowPlan),
) -> PlanSummary {
    FirstPass::read(bytes, options).plan(dir, options, sink)
}

/// A file read once for the rules between its rows, before any directory is
/// needed: its keys say which users of a large tenant the plan can touch, so a
/// server reads those (see [`FirstPass::keys`]) instead of the whole tenant.
pub struct FirstPass<'b> {
    source: Source<'b>,
    index: Option<FileIndex>,
    findings: HashMap<u64, Vec<Diagnostic>>,
}

impl<'b> FirstPass<'b> {
    pub fn read(bytes: &'b [u8], options: &PlanOptions) -> Self {
        let source = Source::open(bytes, &options.mapping, options.delimiter);
        let mut findings = HashMap::new();
        let index = source.layout.as_ref().map(|layout| {
            let file_rows = source.expected_rows();
            let mut parts = parts::each_row(
                &source,
                parts::count(&source),
                |rows| FileIndex::part(layout, file_rows, rows),
                |index, record, line| index.add_row(record, line),
            )
            .into_iter();
            let mut index = parts.next().expect("one part at least");
            parts.for_each(|later| index.append(later));
            findings = index.repeats(layout, &source);
            index
        });
        Self { source, index, findings }
    }

    /// The keys the file names (userIds, its managers' userIds, emails and
    /// externalIds). `None` when the file has no usable headings.
    pub fn keys(&self) -> Option<FileKeys> {
        self.index.as_ref().map(FileIndex::keys)
    }

    /// The second pass: every row planned against `dir`, in file order.
    pub fn plan(self, dir: &DirectoryIndex<'_>, options: &PlanOptions, mut sink: impl FnMut(RowPlan)) -> PlanSummary {
        let directory = dir.directory;
        let Self { source, index, mut findings } = self;
        let mut summary = PlanSummary {
            format: source.format,
            encoding: source.encoding,
            delimiter: source.delimiter,
            file_diagnostics: source.diagnostics.clone(),
            counts: Counts::default(),
            roles_added: Vec::new(),
            groups_added: Vec::new(),
            needs_confirmation: false,
        };
        let (Some(layout), Some(index)) = (&source.layout, index) else {
            return summary;
        };
        let tenant = Some(directory.tenant_slug.as_str());
        for (line, mut late) in index.finish(layout, Some(dir)) {
            findings.entry(line).or_default().append(&mut late);
        }
        drop(index);

        let mut planner = Planner {
            dir,
            options,
            layout,
            named: HashMap::new(),
            roles_seen: HashSet::new(),
            groups_seen: HashSet::new(),
        };

        let mut rows = source.data_rows();
        let mut record = Record::new();
        while let Some(line) = rows.next_filled(&mut record) {
            let mut diagnostics = Vec::new();
            let row = parse_row(layout, &record, line, tenant, &mut diagnostics);
            diagnostics.extend(findings.remove(&line).unwrap_or_default());
            let plan = planner.plan_row(row, diagnostics, &mut summary);
            summary.counts.add(plan.status);
            sink(plan);
        }

        if options.mode == Mode::Sync {
            planner.old_users(&mut summary, &mut sink);
        }
        let needed = summary.counts.new + summary.counts.joiner;
        if let (Some(remaining), Some(limit)) = (dir.licences_remaining(), directory.licence_limit) {
            if needed > remaining {
                summary.file_diagnostics.push(Diagnostic::file(
                    Severity::Error,
                    format!(
                        "This file needs {needed} licences for new users and joiners, but only {remaining} of the tenant's {limit} remain"
                    ),
                ));
            }
        }
        summary
    }
}

/// [`plan_with`], collecting the rows.
pub fn plan(bytes: &[u8], directory: &Directory, options: &PlanOptions) -> Plan {
    let mut rows = Vec::new();
    let summary = plan_with(bytes, directory, options, |row| rows.push(row));
    Plan { summary, rows }
}

struct Planner<'a, 'd> {
    dir: &'a DirectoryIndex<'d>,
    options: &'a PlanOptions,
    layout: &'a Layout,
    /// Directory users some row names: a sync leaves them alone.
    /// Directory users named by a row of the file, with the first such line.
    named: HashMap<usize, u64>,
    roles_seen: HashSet<String>,
    groups_seen: HashSet<String>,
}

fn error(row: &UserRow, layout: &Layout, field: Field, value: &str, reason: &str) -> Diagnostic {
    let heading = match layout.email_fallback {
        Some(fallback) if field == Field::Email && row.email_from_fallback => &layout.columns[fallback].heading,
        _ => layout.heading_of(field),
    };
    Diagnostic::cell(Severity::Error, row.line, heading, value, reason)
}

fn opt_eq(new: &Option<String>, old: &Option<String>) -> bool {
    new.as_deref().map(str::trim) == old.as_deref().map(str::trim)
}

fn names_eq(new: &[crate::fields::RoleName], old: &[String]) -> bool {
    let a: BTreeSet<String> = new.iter().map(|n| normalize_key(n.as_str())).collect();
    let b: BTreeSet<String> = old.iter().map(|n| normalize_key(n)).collect();
    a == b
}

fn join_names(names: &[impl AsRef<str>]) -> String {
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

    fn plan_row(&mut self, row: UserRow, mut diagnostics: Vec<Diagnostic>, summary: &mut PlanSummary) -> RowPlan {
        let layout = self.layout;
        let existing = self.find(&row, &mut diagnostics);
        if let Some(i) = existing {
            let first = *self.named.entry(i).or_insert(row.line);
            // Two rows about one user (one matched by externalId, the other by
            // userId) would apply twice; a duplicate key is already reported.
            if first != row.line && !diagnostics.iter().any(Diagnostic::is_error) {
                diagnostics.push(Diagnostic::line(
                    Severity::Error,
                    row.line,
                    format!(
                        "is about the same user as line {first} ({:?}); give each user one row",
                        self.dir.user(i).user_id
                    ),
                ));
            }
        }
        let user = existing.map(|i| self.dir.user(i));
        if user.is_some() {
            // An existing user's password is ignored with a warning (SPEC 3.1),
            // whether or not it would meet the policy: it changes nothing, so it
            // cannot be what makes the row fail.
            let heading = layout.heading_of(Field::Password);
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

        if let Some(email) = &row.email {
            if let Some(owner) = self.dir.by_email(&normalize_key(email.as_str())) {
                if Some(owner) != existing {
                    diagnostics.push(error(
                        &row,
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
                    &row,
                    layout,
                    Field::Organisation,
                    org.as_str(),
                    "is not an organisation of this tenant",
                ));
            }
        }
        let uid = row.user_id.as_ref().map_or("", |u| u.as_str()).to_owned();
        let mode = self.options.mode;
        let mut changes_found = Vec::new();

        let status = if row.delete {
            match user {
                Some(_) if mode == Mode::AddNewOnly => RowStatus::Skipped,
                // As a sync keeps admins it does not find: an upload could
                // otherwise delete its own uploader, or the tenant's last admin.
                Some(u) if u.is_admin => {
                    diagnostics.push(error(
                        &row,
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
                        &row,
                        layout,
                        Field::Transaction,
                        layout.delete_word(),
                        &format!("but no user {uid:?} exists"),
                    ));
                    RowStatus::Error
                }
            }
        } else {
            match user {
                None => {
                    if row.leaver {
                        diagnostics.push(error(
                            &row,
                            layout,
                            Field::Status,
                            "leaver",
                            &format!("but no user {uid:?} exists"),
                        ));
                    }
                    if mode == Mode::UpdateOnly {
                        diagnostics.push(error(
                            &row,
                            layout,
                            Field::UserId,
                            &uid,
                            "is not an existing user; Update only mode adds no one",
                        ));
                    }
                    if row.first_name.is_none() && row.last_name.is_none() {
                        diagnostics.push(Diagnostic::line(
                            Severity::Error,
                            row.line,
                            "a new user needs a firstName or a lastName",
                        ));
                    }
                    RowStatus::New
                }
                Some(_) if mode == Mode::AddNewOnly => RowStatus::Skipped,
                Some(user) => {
                    if user.leaver && !row.leaver {
                        match &row.organisation {
                            Some(_) => {
                                changes_found = changes(&row, user, true);
                                RowStatus::Joiner
                            }
                            None => {
                                diagnostics.push(Diagnostic::line(
                                    Severity::Warning,
                                    row.line,
                                    format!("{uid:?} is a leaver; give their organisation to re-admit them"),
                                ));
                                changes_found = changes(&row, user, false);
                                if changes_found.is_empty() {
                                    RowStatus::Unchanged
                                } else {
                                    RowStatus::Update
                                }
                            }
                        }
                    } else {
                        if let Some(org) = &row.organisation {
                            let current = user.organisation.as_deref().unwrap_or("");
                            if !user.leaver && normalize_key(org.as_str()) != normalize_key(current) {
                                diagnostics.push(error(
                                    &row,
                                    layout,
                                    Field::Organisation,
                                    org.as_str(),
                                    &format!(
                                        "differs from the user's organisation {current:?}: an upload cannot move users between organisations (use the Users screen's transfer)"
                                    ),
                                ));
                            }
                        }
                        changes_found = changes(&row, user, false);
                        if row.leaver && !user.leaver {
                            RowStatus::Leaver
                        } else if changes_found.is_empty() {
                            RowStatus::Unchanged
                        } else {
                            RowStatus::Update
                        }
                    }
                }
            }
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
        let message = match status {
            RowStatus::New => "New user".to_owned(),
            RowStatus::Update => format!(
                "Account already exists and will be updated ({})",
                changes_found.iter().map(|c| c.field.name()).collect::<Vec<_>>().join(", ")
            ),
            RowStatus::Unchanged => "No change".to_owned(),
            RowStatus::Leaver => "Will be marked as leaver".to_owned(),
            RowStatus::Joiner => {
                "User already exists in Leaver state and will be moved to given Organisation".to_owned()
            }
            RowStatus::Delete => "Will be deleted".to_owned(),
            RowStatus::Skipped => "Skipped".to_owned(),
            RowStatus::Error => {
                diagnostics.iter().find(|d| d.is_error()).map(|d| d.message.clone()).unwrap_or_default()
            }
            RowStatus::Old => unreachable!("file rows are never Old"),
        };
        RowPlan {
            line: Some(row.line),
            user_id: row.user_id.as_ref().map(|u| u.to_string()),
            first_name: row.first_name.clone().or_else(|| user.and_then(|u| u.first_name.clone())),
            last_name: row.last_name.clone().or_else(|| user.and_then(|u| u.last_name.clone())),
            status,
            message,
            diagnostics,
            changes: changes_found,
            existing_id: user.map(|u| u.id),
            row: Some(row),
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

    fn old_users(&self, summary: &mut PlanSummary, sink: &mut impl FnMut(RowPlan)) {
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

/// The browser's first look at a file, before any upload: format, headings,
/// every field rule and the rules between rows, with no directory to plan against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    pub format: Format,
    pub encoding: Encoding,
    pub delimiter: Delimiter,
    pub file_diagnostics: Vec<Diagnostic>,
    pub rows: u64,
    pub rows_with_errors: u64,
    /// Only the lines that have something to say.
    pub problems: Vec<LineProblems>,
    /// Each heading as written, in the file's order, and how it is read.
    #[serde(default)]
    pub headings: Vec<HeadingUse>,
}

/// A heading of the file and what Muster makes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadingUse {
    /// As written (trimmed).
    pub heading: String,
    /// The field its cells fill; none for a column that is ignored (or, in
    /// Legacy v1, read into several fields: `FullName`, `Leaver`).
    pub field: Option<Field>,
    /// How: `field`, `full-name`, `leaver`, `ignored` (by the admin's
    /// mapping) or `unknown` (no field of that name: the admin may map it);
    /// in other systems' files also `userid-and-email`, `disabled-when-yes`,
    /// `active-or-suspended`, `org-unit-path`, `deletes-when-1`, `one-name`
    /// and `password-hash`.
    pub read_as: String,
}

impl HeadingUse {
    /// What the column gives, as the upload page and `validate` say it.
    pub fn describe(&self) -> String {
        let field = self.field.map_or("", Field::name);
        match self.read_as.as_str() {
            "field" => field.to_owned(),
            "full-name" => "firstName and lastName".to_owned(),
            "leaver" => "status".to_owned(),
            "userid-and-email" => "userId and email".to_owned(),
            "disabled-when-yes" => "enabled (Yes or 1 disables)".to_owned(),
            "active-or-suspended" => "enabled (Active or Suspended)".to_owned(),
            "org-unit-path" => "organisation (the path's last part)".to_owned(),
            "deletes-when-1" => "transaction (1 deletes)".to_owned(),
            "one-name" => format!("{field} (one name)"),
            "password-hash" => "refused when given (a hashed password)".to_owned(),
            "ignored" => "ignored".to_owned(),
            _ => "unknown: ignored".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineProblems {
    pub line: u64,
    pub user_id: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn validate(bytes: &[u8], mapping: &HeadingMapping, tenant_slug: Option<&str>) -> Validation {
    validate_in_parts(bytes, mapping, tenant_slug, None)
}

fn heading_uses(layout: &crate::layout::Layout, mapping: &HeadingMapping) -> Vec<HeadingUse> {
    use crate::layout::ColumnRole;
    layout
        .columns
        .iter()
        .map(|column| {
            let (field, read_as) = match column.role {
                ColumnRole::Field(field) => (Some(field), "field"),
                ColumnRole::FullName => (None, "full-name"),
                ColumnRole::LegacyLeaver => (None, "leaver"),
                ColumnRole::UserIdAndEmail => (Some(Field::UserId), "userid-and-email"),
                ColumnRole::Disabled => (Some(Field::Enabled), "disabled-when-yes"),
                ColumnRole::ActiveOrSuspended => (Some(Field::Enabled), "active-or-suspended"),
                ColumnRole::OrgUnitPath => (Some(Field::Organisation), "org-unit-path"),
                ColumnRole::Deletes => (Some(Field::Transaction), "deletes-when-1"),
                ColumnRole::OneOf(field) => (Some(field), "one-name"),
                ColumnRole::PasswordHashed => (None, "password-hash"),
                ColumnRole::Ignored if mapping.contains_key(column.heading.as_str()) => (None, "ignored"),
                ColumnRole::Ignored => (None, "unknown"),
            };
            HeadingUse { heading: column.heading.clone(), field, read_as: read_as.to_owned() }
        })
        .collect()
}

/// The rows a part of a file yields to [`validate`].
struct Checked {
    index: FileIndex,
    rows: u64,
    problems: Vec<LineProblems>,
}

/// [`validate`], reading the rows in `parts` parts side by side (by default one
/// per core for a large file). Public for the tests that compare it with one part.
#[doc(hidden)]
pub fn validate_in_parts(
    bytes: &[u8],
    mapping: &HeadingMapping,
    tenant_slug: Option<&str>,
    parts: Option<usize>,
) -> Validation {
    let source = Source::open(bytes, mapping, None);
    let mut out = Validation {
        format: source.format,
        encoding: source.encoding,
        delimiter: source.delimiter,
        file_diagnostics: source.diagnostics.clone(),
        rows: 0,
        rows_with_errors: 0,
        problems: Vec::new(),
        headings: Vec::new(),
    };
    let Some(layout) = &source.layout else {
        return out;
    };
    out.headings = heading_uses(layout, mapping);
    // One pass: the rules between rows that need the whole file (reportsTo) are
    // added to their lines at the end.
    let user_column = layout.column_of(Field::UserId);
    let file_rows = source.expected_rows();
    let mut checked = parts::each_row(
        &source,
        parts.unwrap_or_else(|| parts::count(&source)),
        |rows| Checked { index: FileIndex::part(layout, file_rows, rows), rows: 0, problems: Vec::new() },
        |part, record, line| {
            let mut diagnostics = Vec::new();
            let keys = check_row(layout, record, line, tenant_slug, &mut diagnostics);
            part.index.add_keys(&keys, line);
            part.rows += 1;
            if !diagnostics.is_empty() {
                let user_id = user_column.and_then(|c| record.get(c)).map(|u| u.trim().to_owned());
                part.problems.push(LineProblems { line, user_id, diagnostics });
            }
        },
    )
    .into_iter();
    let Checked { mut index, rows, problems } = checked.next().expect("one part at least");
    (out.rows, out.problems) = (rows, problems);
    for later in checked {
        index.append(later.index);
        out.rows += later.rows;
        out.problems.extend(later.problems);
    }
    let mut record = Record::new();
    let mut late = index.repeats(layout, &source);
    for (line, mut more) in index.finish(layout, None) {
        late.entry(line).or_default().append(&mut more);
    }
    if !late.is_empty() {
        for problems in &mut out.problems {
            if let Some(more) = late.get(&problems.line) {
                problems.diagnostics.extend(more.iter().cloned());
            }
        }
        let known: HashSet<u64> = out.problems.iter().map(|p| p.line).collect();
        for (line, diagnostics) in late {
            if !known.contains(&line) {
                out.problems.push(LineProblems { line, user_id: None, diagnostics });
            }
        }
        out.problems.sort_by_key(|p| p.line);
        // Lines known only now (repeats, reportsTo) are named by their userId too:
        // one more read, for files with such errors only.
        if let (Some(c), true) = (user_column, out.problems.iter().any(|p| p.user_id.is_none())) {
            let mut rows = source.data_rows();
            let mut problems = out.problems.iter_mut().filter(|p| p.user_id.is_none()).peekable();
            while let Some(line) = rows.next_filled(&mut record) {
                while problems.next_if(|p| p.line < line).is_some() {}
                match problems.next_if(|p| p.line == line) {
                    Some(problem) => problem.user_id = record.get(c).map(|u| u.trim().to_owned()),
                    None if problems.peek().is_none() => break,
                    None => {}
                }
            }
        }
    }
    out.rows_with_errors =
        out.problems.iter().filter(|p| p.diagnostics.iter().any(Diagnostic::is_error)).count() as u64;
    out
}
