//! The tenant's organisations, roles, groups and licences as a load sees them,
//! and the roles and groups it makes.
use super::tables::{audit, Actor, AUDIT_COLUMNS};
use crate::bulk;
use crate::entity::{group, organisation, role, tenant};
use crate::memberships::{self, Kind as Membership};
use muster_import::{normalize_key, UserRow};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use std::collections::{HashMap, HashSet};

/// The tenant's names and ids, kept across the batches of one load (one copy
/// per lane).
#[derive(Clone)]
pub(super) struct Catalogue {
    pub(super) organisations: HashMap<String, i64>,
    pub(super) default_organisation: Option<i64>,
    pub(super) roles: HashMap<String, i64>,
    pub(super) groups: HashMap<String, i64>,
    /// Licences the tenant has left (`None`: unlimited), counted when the load
    /// starts and spent by each user it adds or re-admits.
    pub(super) licences_left: Option<u64>,
    pub(super) creating: Creating,
}

impl Catalogue {
    pub(super) async fn load<C: ConnectionTrait>(db: &C, tenant_id: i64) -> Result<Self, DbErr> {
        let orgs = organisation::Entity::find().filter(organisation::Column::TenantId.eq(tenant_id)).all(db).await?;
        let roles = role::Entity::find().filter(role::Column::TenantId.eq(tenant_id)).all(db).await?;
        let groups = group::Entity::find().filter(group::Column::TenantId.eq(tenant_id)).all(db).await?;
        Ok(Self {
            default_organisation: orgs.iter().find(|o| o.is_default).map(|o| o.id),
            organisations: orgs.into_iter().map(|o| (o.code_norm, o.id)).collect(),
            roles: roles.into_iter().map(|r| (r.name_norm, r.id)).collect(),
            groups: groups.into_iter().map(|g| (g.name_norm, g.id)).collect(),
            licences_left: None,
            creating: Creating::InBatch,
        })
    }
}

impl Catalogue {
    fn names(&self, kind: Membership) -> &HashMap<String, i64> {
        match kind {
            Membership::Roles => &self.roles,
            Membership::Groups => &self.groups,
        }
    }
    fn names_mut(&mut self, kind: Membership) -> &mut HashMap<String, i64> {
        match kind {
            Membership::Roles => &mut self.roles,
            Membership::Groups => &mut self.groups,
        }
    }

    /// Takes one licence for a user added or re-admitted; `false` when none is left.
    pub(super) fn spend_licence(&mut self) -> bool {
        match &mut self.licences_left {
            None => true,
            Some(0) => false,
            Some(left) => {
                *left -= 1;
                true
            }
        }
    }
}

pub(super) fn no_licence(tenant: &tenant::Model) -> String {
    format!(
        "Not loaded: no licence left (all {} of the tenant's licences are in use)",
        tenant.licence_limit.unwrap_or_default()
    )
}

/// The ids of the roles (or groups) named, creating those the tenant lacks
/// (with the row's spelling, and an audit event each).
pub(super) async fn ensure_names<C: ConnectionTrait>(
    db: &C,
    kind: Membership,
    row: Option<&UserRow>,
    names: &HashSet<String>,
    catalogue: &mut Catalogue,
    actor: &Actor,
    audits: &mut Vec<bulk::Row>,
) -> Result<Vec<i64>, DbErr> {
    let tenant_id = actor.tenant_id;
    let display: HashMap<String, String> = row
        .and_then(|r| match kind {
            Membership::Roles => r.roles.as_ref(),
            Membership::Groups => r.groups.as_ref(),
        })
        .map(|v| v.iter().map(|n| (normalize_key(n.as_str()), n.to_string())).collect())
        .unwrap_or_default();
    let mut ids = Vec::new();
    for key in names {
        let id = match catalogue.names(kind).get(key) {
            Some(id) => *id,
            None => {
                let name = display.get(key).cloned().unwrap_or_else(|| key.clone());
                let action = kind.created();
                let id = match &catalogue.creating {
                    Creating::InBatch => {
                        let id = memberships::create(db, tenant_id, kind, &name, key).await?;
                        audits.push(audit(actor, action, kind.noun(), Some(id), &name, None));
                        id
                    }
                    Creating::Committed(pool) => {
                        let txn = crate::db::begin_write(pool).await?;
                        let (id, made) = memberships::create_or_find(&txn, tenant_id, kind, &name, key).await?;
                        if made {
                            let event = audit(actor, action, kind.noun(), Some(id), &name, None);
                            bulk::insert(&txn, "audit_events", AUDIT_COLUMNS, vec![event], None).await?;
                        }
                        txn.commit().await?;
                        id
                    }
                };
                catalogue.names_mut(kind).insert(key.clone(), id);
                id
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

/// Where a load makes the roles and groups its rows name.
#[derive(Clone)]
pub(super) enum Creating {
    /// In the batch's transaction: with one lane.
    InBatch,
    /// Each in a transaction of its own, committed at once: with lanes side by
    /// side. A lane holding an uncommitted role would make the other lane wait for
    /// it, and two lanes each making a role the other needs would deadlock. A role
    /// stays if its batch then rolls back; the batch finds it when it is redone.
    Committed(DatabaseConnection),
}

/// The normalised role (or group) names of each user given.
pub(super) async fn member_names<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    user_ids: &[i64],
    kind: Membership,
    catalogue: &Catalogue,
) -> Result<HashMap<i64, HashSet<String>>, DbErr> {
    let by_id: HashMap<i64, &String> = catalogue.names(kind).iter().map(|(name, id)| (*id, name)).collect();
    let mut out: HashMap<i64, HashSet<String>> = HashMap::new();
    for (user_id, id) in memberships::of_users(db, tenant_id, kind, user_ids).await? {
        // A role made since the load began is not in the catalogue: it differs.
        let name = by_id.get(&id).map_or_else(|| format!("#{id}"), |n| (*n).clone());
        out.entry(user_id).or_default().insert(name);
    }
    Ok(out)
}
