//! A tenant as the import engine sees it: the snapshot a plan is made against,
//! read from the database in a few queries (not one per user).
use crate::entity::{group, organisation, role, tenant, user, user_group, user_role};
use muster_import::fields::TaskNotification;
use muster_import::{Directory, DirectoryUser, Organisation};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

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
    let users = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .order_by_asc(user::Column::Id)
        .all(db)
        .await?;

    let org_code: HashMap<i64, &str> = organisations.iter().map(|o| (o.id, o.code.as_str())).collect();
    let role_name: HashMap<i64, &str> = roles.iter().map(|r| (r.id, r.name.as_str())).collect();
    let group_name: HashMap<i64, &str> = groups.iter().map(|g| (g.id, g.name.as_str())).collect();
    let user_id_of: HashMap<i64, &str> = users.iter().map(|u| (u.id, u.user_id.as_str())).collect();

    let mut user_roles: HashMap<i64, Vec<String>> = HashMap::new();
    for m in user_role::Entity::find().filter(user_role::Column::TenantId.eq(tenant_id)).all(db).await? {
        if let Some(name) = role_name.get(&m.role_id) {
            user_roles.entry(m.user_id).or_default().push((*name).to_owned());
        }
    }
    let mut user_groups: HashMap<i64, Vec<String>> = HashMap::new();
    for m in user_group::Entity::find().filter(user_group::Column::TenantId.eq(tenant_id)).all(db).await? {
        if let Some(name) = group_name.get(&m.group_id) {
            user_groups.entry(m.user_id).or_default().push((*name).to_owned());
        }
    }

    let directory_users = users
        .iter()
        .map(|u| DirectoryUser {
            id: u.id,
            user_id: u.user_id.clone(),
            external_id: u.external_id.clone(),
            title: u.title.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            email: u.email.clone(),
            mobile: u.mobile.clone(),
            job_title: u.job_title.clone(),
            organisation: u.organisation_id.and_then(|id| org_code.get(&id)).map(|c| (*c).to_owned()),
            leaver: u.state == "leaver",
            enabled: u.enabled,
            reports_to: u.reports_to_id.and_then(|id| user_id_of.get(&id)).map(|s| (*s).to_owned()),
            roles: user_roles.remove(&u.id).unwrap_or_default(),
            groups: user_groups.remove(&u.id).unwrap_or_default(),
            task_notification: if u.task_notification.eq_ignore_ascii_case("off") {
                TaskNotification::Off
            } else {
                TaskNotification::Email
            },
            change_password_next_time: u.change_password_next_time,
            is_admin: u.is_tenant_admin,
        })
        .collect();

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

pub async fn find_tenant<C: ConnectionTrait>(db: &C, slug: &str) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find().filter(tenant::Column::SlugNorm.eq(muster_import::normalize_key(slug))).one(db).await
}
