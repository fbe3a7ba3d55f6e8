//! One batch of planned rows applied in one transaction.
use super::catalogue::{ensure_names, member_names, no_licence, Catalogue};
use super::managers::gone_managers;
use super::planned::Batch;
use super::results::{first_error, not_applied, RowResult, INVITATION_SENT, PASSWORD_SENT, STOPPED};
use super::tables::{
    audit, user_row, Actor, AUDIT_COLUMNS, GROUP_MEMBER_COLUMNS, INVITATION_COLUMNS, ROLE_MEMBER_COLUMNS, USER_COLUMNS,
};
use super::{outcome, Credentials, Outgoing, UploadOptions, INVITATION_DAYS};
use crate::bulk::{self, Kind};
use crate::entity::{tenant, user};
use crate::memberships::{self, Kind as Membership};
use crate::{passwords, tokens};
use chrono::Utc;
use muster_import::plan::Change;
use muster_import::{normalize_key, Field, RowStatus, SyncAction, UserRow};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The owner of a key a new user of the batch takes, before it has an id.
pub(super) const NEW_USER: i64 = 0;

/// The value of a field on a user as the planner formats it, for the
/// "changed since the preview" check. Role and group sets are compared apart.
pub(super) fn current_value(
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

pub(super) fn same(a: Option<&str>, b: Option<&str>) -> bool {
    a.map(normalize_key) == b.map(normalize_key)
}

pub(super) fn names_set(names: &str) -> HashSet<String> {
    names.split('|').filter(|n| !n.trim().is_empty()).map(normalize_key).collect()
}

pub(super) async fn apply_batch<C: ConnectionTrait>(
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

/// Deletes one user of the tenant and records it in the audit trail.
pub(super) async fn delete_user<C: ConnectionTrait>(
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

/// Argon2 hashes (19 MiB and ~30 ms each) on the blocking pool, one thread per
/// core, never one per password: a batch of a thousand stays within memory.
pub(super) async fn futures_join(work: Vec<(usize, String)>) -> Vec<(usize, String)> {
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
