//! A tenant as the import engine sees it: the snapshot a plan is made against,
//! read from the database in a few queries (not one per user).
use crate::entity::{group, organisation, role, tenant, user, user_group, user_role};
use muster_import::fields::TaskNotification;
use muster_import::{Directory, DirectoryUser, Organisation};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;

/// Users read per query: large enough to be few queries, small enough that a
/// page of database rows is a small part of the snapshot.
const PAGE: u64 = 5000;

/// Reads the whole tenant. Every query is filtered by `tenant_id`.
pub async fn load<C: ConnectionTrait>(db: &C, tenant: &tenant::Model) -> Result<Directory, DbErr> {
    let tenant_id = tenant.id;
    let organisations = organisation::Entity::find()
        .filter(organisation::Column::TenantId.eq(tenant_id))
        .order_by_asc(organisation::Column::Code)
        .all(db)
        .await?;
    let roles = role::Entity::find().filter(role::Column::TenantId.eq(tenant_id)).all(db).await?;
    let groups = group::Entity::find().filter(group::Column::TenantId.eq(tenant_id)).all(db).await?;
    let org_code: HashMap<i64, &str> = organisations.iter().map(|o| (o.id, o.code.as_str())).collect();
    let role_name: HashMap<i64, &str> = roles.iter().map(|r| (r.id, r.name.as_str())).collect();
    let group_name: HashMap<i64, &str> = groups.iter().map(|g| (g.id, g.name.as_str())).collect();

    let pairs: Vec<(i64, i64)> = user_role::Entity::find()
        .select_only()
        .columns([user_role::Column::UserId, user_role::Column::RoleId])
        .filter(user_role::Column::TenantId.eq(tenant_id))
        .into_tuple()
        .all(db)
        .await?;
    let mut user_roles = names_by_user(pairs, &role_name);
    let pairs: Vec<(i64, i64)> = user_group::Entity::find()
        .select_only()
        .columns([user_group::Column::UserId, user_group::Column::GroupId])
        .filter(user_group::Column::TenantId.eq(tenant_id))
        .into_tuple()
        .all(db)
        .await?;
    let mut user_groups = names_by_user(pairs, &group_name);

    // Users a page at a time, each turned into the engine's form at once: a large
    // tenant is never held twice (database rows and snapshot) in memory.
    let mut directory_users: Vec<DirectoryUser> = Vec::new();
    let mut managers: Vec<(usize, i64)> = Vec::new();
    let mut index_of: HashMap<i64, usize> = HashMap::new();
    let mut after = 0i64;
    loop {
        let page = user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::Id.gt(after))
            .order_by_asc(user::Column::Id)
            .limit(PAGE)
            .all(db)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for u in page {
            let at = directory_users.len();
            index_of.insert(u.id, at);
            if let Some(manager) = u.reports_to_id {
                managers.push((at, manager));
            }
            directory_users.push(DirectoryUser {
                id: u.id,
                organisation: u.organisation_id.and_then(|id| org_code.get(&id)).map(|c| (*c).to_owned()),
                leaver: u.state == "leaver",
                enabled: u.enabled,
                reports_to: None,
                roles: user_roles.remove(&u.id).unwrap_or_default(),
                groups: user_groups.remove(&u.id).unwrap_or_default(),
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
            });
        }
    }
    for (at, manager) in managers {
        if let Some(&m) = index_of.get(&manager) {
            directory_users[at].reports_to = Some(directory_users[m].user_id.clone());
        }
    }

    Ok(Directory {
        tenant_slug: tenant.slug.clone(),
        licence_limit: tenant.licence_limit.map(|l| l.max(0) as u64),
        organisations: organisations
            .iter()
            .map(|o| Organisation { code: o.code.clone(), name: o.name.clone(), is_default: o.is_default })
            .collect(),
        roles: roles.into_iter().map(|r| r.name).collect(),
        groups: groups.into_iter().map(|g| g.name).collect(),
        users: directory_users,
    })
}

/// (user, role or group) pairs as each user's names.
fn names_by_user(pairs: Vec<(i64, i64)>, names: &HashMap<i64, &str>) -> HashMap<i64, Vec<String>> {
    let mut by_user: HashMap<i64, Vec<String>> = HashMap::new();
    for (user, of) in pairs {
        if let Some(name) = names.get(&of) {
            by_user.entry(user).or_default().push((*name).to_owned());
        }
    }
    by_user
}

pub async fn find_tenant<C: ConnectionTrait>(db: &C, slug: &str) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find().filter(tenant::Column::SlugNorm.eq(muster_import::normalize_key(slug))).one(db).await
}
