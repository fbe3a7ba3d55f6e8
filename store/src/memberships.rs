//! Role and group memberships: two tables of one shape, `(tenant_id, user_id,
//! role_id | group_id)`, beside two catalogues of one shape (`roles`, `groups`).
//! One set of functions serves both, so the two can never drift apart.
use crate::bulk::{self, Kind::BigInt};
use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Roles,
    Groups,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Roles, Kind::Groups];

    fn members(self) -> Alias {
        Alias::new(match self {
            Kind::Roles => "user_roles",
            Kind::Groups => "user_groups",
        })
    }
    fn member_of(self) -> Alias {
        Alias::new(match self {
            Kind::Roles => "role_id",
            Kind::Groups => "group_id",
        })
    }
    fn catalogue(self) -> Alias {
        Alias::new(match self {
            Kind::Roles => "roles",
            Kind::Groups => "groups",
        })
    }
    /// The audit trail's name for one of them: `role` or `group`.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Roles => "role",
            Kind::Groups => "group",
        }
    }
    /// The audit trail's action for one made (by a load): `role.create` or
    /// `group.create`.
    pub fn created(self) -> &'static str {
        match self {
            Kind::Roles => "role.create",
            Kind::Groups => "group.create",
        }
    }
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// The (user, role or group) pairs of the users given.
pub async fn of_users<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    kind: Kind,
    users: &[i64],
) -> Result<Vec<(i64, i64)>, DbErr> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let query = Query::select()
        .column(Alias::new("user_id"))
        .column(kind.member_of())
        .from(kind.members())
        .and_where(col("tenant_id").eq(tenant_id))
        .and_where(bulk::one_of(db.get_database_backend(), Alias::new("user_id"), users.to_vec()))
        .to_owned();
    let rows = db.query_all_raw(db.get_database_backend().build(&query)).await?;
    rows.iter().map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?))).collect()
}

/// Makes the memberships of this kind of the `users` given exactly theirs in
/// `pairs` (user, role or group): one DELETE and one INSERT for them all.
pub async fn replace<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    kind: Kind,
    users: &[i64],
    pairs: &[(i64, i64)],
) -> Result<(), DbErr> {
    if users.is_empty() {
        return Ok(());
    }
    let delete = Query::delete()
        .from_table(kind.members())
        .and_where(col("tenant_id").eq(tenant_id))
        .and_where(bulk::one_of(db.get_database_backend(), Alias::new("user_id"), users.to_vec()))
        .to_owned();
    db.execute_raw(db.get_database_backend().build(&delete)).await?;
    // A membership another transaction added since the DELETE (an admin on
    // the Users screen, say) stays, as it was to be: no unique-key error.
    let (table, columns, rows) = rows_of(tenant_id, kind, pairs);
    bulk::insert_missing(db, table, columns, rows).await?;
    Ok(())
}

/// Adds memberships (user, role or group), in one statement.
pub async fn add<C: bulk::CopyTo>(db: &C, tenant_id: i64, kind: Kind, pairs: &[(i64, i64)]) -> Result<(), DbErr> {
    let (table, columns, rows) = rows_of(tenant_id, kind, pairs);
    bulk::write(db, table, columns, rows).await?;
    Ok(())
}

fn rows_of(tenant_id: i64, kind: Kind, pairs: &[(i64, i64)]) -> (&'static str, bulk::Columns<'static>, Vec<bulk::Row>) {
    let (table, columns): (_, bulk::Columns) = match kind {
        Kind::Roles => ("user_roles", &[("tenant_id", BigInt), ("user_id", BigInt), ("role_id", BigInt)]),
        Kind::Groups => ("user_groups", &[("tenant_id", BigInt), ("user_id", BigInt), ("group_id", BigInt)]),
    };
    let rows = pairs.iter().map(|&(user, id)| bulk::Row::with_capacity(3).int(tenant_id).int(user).int(id)).collect();
    (table, columns, rows)
}

/// Adds a role or group to the tenant's catalogue; returns its id.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    kind: Kind,
    name: &str,
    name_norm: &str,
) -> Result<i64, DbErr> {
    let insert = Query::insert()
        .into_table(kind.catalogue())
        .columns([Alias::new("tenant_id"), Alias::new("name"), Alias::new("name_norm"), Alias::new("created_at")])
        .values_panic([tenant_id.into(), name.into(), name_norm.into(), Utc::now().into()])
        .returning_col(Alias::new("id"))
        .to_owned();
    let row =
        db.query_one_raw(db.get_database_backend().build(&insert)).await?.ok_or_else(|| DbErr::RecordNotInserted)?;
    row.try_get_by_index(0)
}

/// Adds a role or group unless the tenant has it already (another lane of the
/// same load may have just made it); returns its id, and whether this call made it.
pub async fn create_or_find<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    kind: Kind,
    name: &str,
    name_norm: &str,
) -> Result<(i64, bool), DbErr> {
    let insert = Query::insert()
        .into_table(kind.catalogue())
        .columns([Alias::new("tenant_id"), Alias::new("name"), Alias::new("name_norm"), Alias::new("created_at")])
        .values_panic([tenant_id.into(), name.into(), name_norm.into(), Utc::now().into()])
        .on_conflict(OnConflict::columns([Alias::new("tenant_id"), Alias::new("name_norm")]).do_nothing().to_owned())
        .returning_col(Alias::new("id"))
        .to_owned();
    let backend = db.get_database_backend();
    if let Some(row) = db.query_one_raw(backend.build(&insert)).await? {
        return Ok((row.try_get_by_index(0)?, true));
    }
    let select = Query::select()
        .column(Alias::new("id"))
        .from(kind.catalogue())
        .and_where(col("tenant_id").eq(tenant_id))
        .and_where(col("name_norm").eq(name_norm))
        .to_owned();
    let row = db.query_one_raw(backend.build(&select)).await?.ok_or_else(|| DbErr::RecordNotInserted)?;
    Ok((row.try_get_by_index(0)?, false))
}
