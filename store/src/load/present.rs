//! What a batch reads before it applies any row: the users its rows change as
//! they are now, and the keys its rows would take.
use super::catalogue::{member_names, Catalogue};
use crate::bulk;
use crate::entity::user;
use crate::memberships::Kind as Membership;
use muster_import::plan::Change;
use muster_import::{normalize_key, DirectoryUser, Field, RowStatus, UserRow};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{HashMap, HashSet};

use crate::entity::upload_row;

/// The users a batch's rows change, as they are at load time.
pub(super) struct Present {
    pub(super) users: HashMap<i64, user::Model>,
    /// The userIds of those users' managers, by id.
    manager_names: HashMap<i64, String>,
    /// The role and group names of the users whose rows change them.
    roles: HashMap<i64, HashSet<String>>,
    groups: HashMap<i64, HashSet<String>>,
    /// See [`gone_managers`].
    pub(super) gone_managers: HashSet<String>,
    pub(super) taken: Taken,
}

impl Present {
    pub(super) async fn read<C: ConnectionTrait>(
        db: &C,
        tenant_id: i64,
        rows: &[upload_row::Model],
        parsed: &[Option<UserRow>],
        changes: &[Vec<Change>],
        catalogue: &Catalogue,
    ) -> Result<Self, DbErr> {
        let existing: Vec<i64> = rows.iter().filter_map(|r| r.existing_user_id).collect();
        let users: HashMap<i64, user::Model> = if existing.is_empty() {
            HashMap::new()
        } else {
            let backend = db.get_database_backend();
            let these = bulk::one_of(backend, user::Column::Id, existing);
            let mut query = user::Entity::find().filter(user::Column::TenantId.eq(tenant_id)).filter(these);
            if backend == sea_orm::DatabaseBackend::Postgres {
                // Locked until the batch commits: each row is checked against these
                // values, and an edit committed after a plain read would be
                // overwritten by a check that passed against what it replaced.
                // (SQLite's write transaction holds the whole database already.) In
                // the order of their ids, so that lanes side by side take them alike.
                query = query.order_by_asc(user::Column::Id).lock(sea_orm::sea_query::LockType::NoKeyUpdate);
            }
            query.all(db).await?.into_iter().map(|u| (u.id, u)).collect()
        };
        let managers: Vec<i64> = users.values().filter_map(|u| u.reports_to_id).collect();
        let manager_names: HashMap<i64, String> = if managers.is_empty() {
            HashMap::new()
        } else {
            user::Entity::find()
                .select_only()
                .columns([user::Column::Id, user::Column::UserId])
                .filter(user::Column::TenantId.eq(tenant_id))
                .filter(bulk::one_of(db.get_database_backend(), user::Column::Id, managers))
                .into_tuple()
                .all(db)
                .await?
                .into_iter()
                .collect()
        };
        // Role and group sets as they are now, for rows that change them.
        let changing = |field: Field| -> Vec<i64> {
            rows.iter()
                .zip(changes)
                .filter(|(_, changes)| changes.iter().any(|c| c.field == field))
                .filter_map(|(r, _)| r.existing_user_id)
                .collect()
        };
        let roles = member_names(db, tenant_id, &changing(Field::Roles), Membership::Roles, catalogue).await?;
        let groups = member_names(db, tenant_id, &changing(Field::Groups), Membership::Groups, catalogue).await?;
        let gone_managers = gone_managers(db, tenant_id, rows, changes, &users).await?;
        let taken = Taken::read(db, tenant_id, rows, parsed, changes).await?;
        Ok(Self { users, manager_names, roles, groups, gone_managers, taken })
    }

    /// A user as it is now, in the form the plan was made against: its fields
    /// read by the engine's own `field_text` for the "changed since the
    /// preview" check. Role and group sets as they are now.
    pub(super) fn as_planned(&self, user: &user::Model, org_code: &HashMap<i64, String>) -> DirectoryUser {
        let names = |sets: &HashMap<i64, HashSet<String>>| -> Vec<String> {
            let mut names: Vec<String> = sets.get(&user.id).into_iter().flatten().cloned().collect();
            names.sort();
            names
        };
        crate::directory::as_planned(
            user.clone(),
            user.organisation_id.and_then(|id| org_code.get(&id).cloned()),
            user.reports_to_id.and_then(|id| self.manager_names.get(&id).cloned()),
            names(&self.roles),
            names(&self.groups),
        )
    }
}

/// The keys (userId, email, externalId) held by users of the tenant, by their
/// owner: read for the keys a batch's rows take, and taken by those rows as
/// they are applied. A key taken since the preview, by a new user or an update,
/// is a conflict to report on the row, not a unique-index error that would fail
/// the whole batch.
pub(super) struct Taken(HashMap<(Field, String), i64>);

/// The owner of a key a new user of the batch takes, before it has an id.
pub(super) const NEW_USER: i64 = 0;

impl Taken {
    async fn read<C: ConnectionTrait>(
        db: &C,
        tenant_id: i64,
        rows: &[upload_row::Model],
        parsed: &[Option<UserRow>],
        changes: &[Vec<Change>],
    ) -> Result<Self, DbErr> {
        let (mut uids, mut emails, mut exts) = (Vec::new(), Vec::new(), Vec::new());
        for ((row, r), changes) in parsed.iter().zip(rows).zip(changes) {
            if let (true, Some(row)) = (r.status == RowStatus::New.as_str(), row) {
                uids.extend(row.user_id.as_ref().map(|u| normalize_key(u.as_str())));
                emails.extend(row.email.as_ref().map(|e| normalize_key(e.as_str())));
                exts.extend(row.external_id.as_ref().map(|x| normalize_key(x.as_str())));
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
        let mut taken = HashMap::new();
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
                .filter(bulk::one_of(db.get_database_backend(), column, keys))
                .into_tuple()
                .all(db)
                .await?;
            for (id, uid, email, ext) in found {
                taken.insert((Field::UserId, uid), id);
                taken.insert((Field::Email, email), id);
                if let Some(x) = ext {
                    taken.insert((Field::ExternalId, x), id);
                }
            }
        }
        Ok(Self(taken))
    }

    /// Who holds a key (normalised) of this field, if anyone.
    pub(super) fn owner(&self, field: Field, key: &str) -> Option<i64> {
        self.0.get(&(field, key.to_owned())).copied()
    }

    pub(super) fn take(&mut self, field: Field, key: String, owner: i64) {
        self.0.insert((field, key), owner);
    }
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
    changes: &[Vec<Change>],
    users: &HashMap<i64, user::Model>,
) -> Result<HashSet<String>, DbErr> {
    let mut named: HashSet<String> = HashSet::new();
    for (r, changes) in rows.iter().zip(changes) {
        let Some(u) = r.existing_user_id.and_then(|id| users.get(&id)) else { continue };
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
        .filter(bulk::one_of(db.get_database_backend(), user::Column::UserIdNorm, named.iter().cloned().collect()))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(named.into_iter().filter(|m| !present.contains(m)).collect())
}
