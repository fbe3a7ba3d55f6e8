//! A tenant as the import engine sees it: the snapshot a plan is made against,
//! read from the database a page of users at a time (not one query per user).
//!
//! [`load`] reads every user (an export, a sync, which must see who is not in
//! the file). [`load_named`] reads only the users a file names and the chain of
//! their managers: a file of 100 changes to a million-user tenant then holds a
//! hundred users in memory, not a million.
use crate::entity::user::UserState;
use crate::entity::{group, organisation, role, tenant, user};
use crate::memberships::{self, Kind};
use muster_import::fields::TaskNotification;
use muster_import::{Directory, DirectoryUser, FileKeys, Organisation};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{HashMap, HashSet};

/// Users read per query: large enough to be few queries, small enough that a
/// page of database rows is a small part of the snapshot.
const PAGE: u64 = 5000;

/// Reads the whole tenant. Every query is filtered by `tenant_id`.
/// Whether the tenant has a user at all.
pub async fn has_users<C: ConnectionTrait>(db: &C, tenant_id: i64) -> Result<bool, DbErr> {
    Ok(user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::TenantId.eq(tenant_id))
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

pub async fn load<C: ConnectionTrait>(db: &C, tenant: &tenant::Model) -> Result<Directory, DbErr> {
    let mut snapshot = Snapshot::start(db, tenant).await?;
    let mut after = 0i64;
    loop {
        let page = user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant.id))
            .filter(user::Column::Id.gt(after))
            .order_by_asc(user::Column::Id)
            .limit(PAGE)
            .all(db)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        snapshot.add_page(db, page).await?;
    }
    Ok(snapshot.finish(None))
}

/// Reads the users whose userId, email or externalId the file names (a
/// `reportsTo` names a userId too), and their managers up the chain, which the
/// cycle rule walks. The tenant's active users are counted for the licence rule.
pub async fn load_named<C: ConnectionTrait>(
    db: &C,
    tenant: &tenant::Model,
    keys: &FileKeys,
) -> Result<Directory, DbErr> {
    let mut snapshot = Snapshot::start(db, tenant).await?;
    // The keys of every user, a page at a time: narrow rows, nothing kept but
    // the ids the file names.
    let mut wanted: Vec<i64> = Vec::new();
    let mut active = 0u64;
    let mut after = 0i64;
    loop {
        let page: Vec<(i64, String, String, Option<String>, UserState)> = user::Entity::find()
            .select_only()
            .columns([
                user::Column::Id,
                user::Column::UserIdNorm,
                user::Column::EmailNorm,
                user::Column::ExternalIdNorm,
                user::Column::State,
            ])
            .filter(user::Column::TenantId.eq(tenant.id))
            .filter(user::Column::Id.gt(after))
            .order_by_asc(user::Column::Id)
            .limit(PAGE)
            .into_tuple()
            .all(db)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.0;
        for (id, user_id, email, external_id, state) in page {
            active += u64::from(state != UserState::Leaver);
            if keys.names_user_id(&user_id)
                || keys.names_email(&email)
                || external_id.as_deref().is_some_and(|x| keys.names_external_id(x))
            {
                wanted.push(id);
            }
        }
    }
    // Then those users in full, and the managers they report to, round by round
    // up the reporting chain.
    let mut seen: HashSet<i64> = wanted.iter().copied().collect();
    while !wanted.is_empty() {
        let mut managers = Vec::new();
        for ids in wanted.chunks(PAGE as usize) {
            let page = user::Entity::find()
                .filter(user::Column::TenantId.eq(tenant.id))
                .filter(crate::bulk::one_of(db.get_database_backend(), user::Column::Id, ids.to_vec()))
                .order_by_asc(user::Column::Id)
                .all(db)
                .await?;
            managers.extend(page.iter().filter_map(|u| u.reports_to_id).filter(|m| seen.insert(*m)));
            snapshot.add_page(db, page).await?;
        }
        wanted = managers;
    }
    Ok(snapshot.finish(Some(active)))
}

/// A snapshot being read: the tenant's catalogue, then users page by page.
struct Snapshot {
    tenant_id: i64,
    directory: Directory,
    org_code: HashMap<i64, String>,
    role_name: HashMap<i64, String>,
    group_name: HashMap<i64, String>,
    managers: Vec<(usize, i64)>,
    index_of: HashMap<i64, usize>,
}

impl Snapshot {
    async fn start<C: ConnectionTrait>(db: &C, tenant: &tenant::Model) -> Result<Self, DbErr> {
        let tenant_id = tenant.id;
        let organisations = organisation::Entity::find()
            .filter(organisation::Column::TenantId.eq(tenant_id))
            .order_by_asc(organisation::Column::Code)
            .all(db)
            .await?;
        let roles = role::Entity::find().filter(role::Column::TenantId.eq(tenant_id)).all(db).await?;
        let groups = group::Entity::find().filter(group::Column::TenantId.eq(tenant_id)).all(db).await?;
        Ok(Self {
            tenant_id,
            org_code: organisations.iter().map(|o| (o.id, o.code.clone())).collect(),
            role_name: roles.iter().map(|r| (r.id, r.name.clone())).collect(),
            group_name: groups.iter().map(|g| (g.id, g.name.clone())).collect(),
            directory: Directory {
                tenant_slug: tenant.slug.clone(),
                licence_limit: tenant.licence_limit.map(|l| l.max(0) as u64),
                organisations: organisations
                    .into_iter()
                    .map(|o| Organisation { code: o.code, name: o.name, is_default: o.is_default })
                    .collect(),
                roles: roles.into_iter().map(|r| r.name).collect(),
                groups: groups.into_iter().map(|g| g.name).collect(),
                users: Vec::new(),
                active_users: None,
            },
            managers: Vec::new(),
            index_of: HashMap::new(),
        })
    }

    /// Turns a page of users into the engine's form at once, with their roles
    /// and groups: a large tenant is never held twice in memory.
    async fn add_page<C: ConnectionTrait>(&mut self, db: &C, page: Vec<user::Model>) -> Result<(), DbErr> {
        let ids: Vec<i64> = page.iter().map(|u| u.id).collect();
        let pairs = memberships::of_users(db, self.tenant_id, Kind::Roles, &ids).await?;
        let mut user_roles = names_by_user(pairs, &self.role_name);
        let pairs = memberships::of_users(db, self.tenant_id, Kind::Groups, &ids).await?;
        let mut user_groups = names_by_user(pairs, &self.group_name);
        for u in page {
            let users = &mut self.directory.users;
            let at = users.len();
            self.index_of.insert(u.id, at);
            if let Some(manager) = u.reports_to_id {
                self.managers.push((at, manager));
            }
            let organisation = u.organisation_id.and_then(|id| self.org_code.get(&id)).cloned();
            let roles = user_roles.remove(&u.id).unwrap_or_default();
            let groups = user_groups.remove(&u.id).unwrap_or_default();
            // Managers are linked once the whole tenant is read.
            users.push(as_planned(u, organisation, None, roles, groups));
        }
        Ok(())
    }

    /// Managers by userId, once every user is in.
    fn finish(mut self, active_users: Option<u64>) -> Directory {
        let users = &mut self.directory.users;
        for (at, manager) in self.managers {
            if let Some(&m) = self.index_of.get(&manager) {
                users[at].reports_to = Some(users[m].user_id.clone());
            }
        }
        self.directory.active_users = active_users;
        self.directory
    }
}

/// A user as the engine plans against it: the one conversion of a stored user,
/// for the directory a plan reads and for the load's check that nothing
/// changed since the preview.
pub(crate) fn as_planned(
    u: user::Model,
    organisation: Option<String>,
    reports_to: Option<String>,
    roles: Vec<String>,
    groups: Vec<String>,
) -> DirectoryUser {
    DirectoryUser {
        id: u.id,
        organisation,
        leaver: u.state == UserState::Leaver,
        enabled: u.enabled,
        reports_to,
        roles,
        groups,
        task_notification: if u.task_notification.eq_ignore_ascii_case("off") {
            TaskNotification::Off
        } else {
            TaskNotification::Email
        },
        change_password_next_time: u.change_password_next_time,
        is_admin: u.is_tenant_admin,
        user_id: u.user_id,
        external_id: u.external_id,
        title: u.title,
        first_name: u.first_name,
        last_name: u.last_name,
        email: u.email,
        mobile: u.mobile,
        job_title: u.job_title,
    }
}

/// (user, role or group) pairs as each user's names.
fn names_by_user(pairs: Vec<(i64, i64)>, names: &HashMap<i64, String>) -> HashMap<i64, Vec<String>> {
    let mut by_user: HashMap<i64, Vec<String>> = HashMap::new();
    for (user, of) in pairs {
        if let Some(name) = names.get(&of) {
            by_user.entry(user).or_default().push(name.clone());
        }
    }
    by_user
}

pub async fn find_tenant<C: ConnectionTrait>(db: &C, slug: &str) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find().filter(tenant::Column::SlugNorm.eq(muster_import::normalize_key(slug))).one(db).await
}
