//! Sessions live in the database so that every server process sees them and a
//! restart signs nobody out. The cookie carries a random token; the table its digest.
use crate::auth::Principal;
use crate::entity::{platform_admin, session, tenant, user};
use crate::tokens;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};

/// How long a session lasts from sign-in.
pub const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);

/// Starts a session and returns the token to put in the cookie.
pub async fn create(db: &DatabaseConnection, principal: &Principal) -> Result<String, DbErr> {
    let token = tokens::generate();
    let now = Utc::now();
    let (tenant_id, user_id, platform_admin_id) = match principal {
        Principal::PlatformAdmin { id, .. } => (None, None, Some(*id)),
        Principal::TenantUser { tenant_id, user_pk, .. } => (Some(*tenant_id), Some(*user_pk), None),
    };
    session::ActiveModel {
        id: Set(tokens::digest(&token)),
        tenant_id: Set(tenant_id),
        user_id: Set(user_id),
        platform_admin_id: Set(platform_admin_id),
        created_at: Set(now),
        expires_at: Set(now + SESSION_TTL),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// The principal of a live session, re-read from the accounts so that a user
/// disabled or marked leaver since sign-in is signed out at once.
pub async fn find(db: &DatabaseConnection, token: &str) -> Result<Option<Principal>, DbErr> {
    let Some(found) = session::Entity::find_by_id(tokens::digest(token)).one(db).await? else {
        return Ok(None);
    };
    if found.expires_at <= Utc::now() {
        session::Entity::delete_by_id(found.id).exec(db).await?;
        return Ok(None);
    }
    if let Some(admin_id) = found.platform_admin_id {
        let admin = platform_admin::Entity::find_by_id(admin_id).one(db).await?;
        return Ok(admin.map(|a| Principal::PlatformAdmin { id: a.id, username: a.username }));
    }
    let (Some(tenant_id), Some(user_pk)) = (found.tenant_id, found.user_id) else {
        return Ok(None);
    };
    let user = user::Entity::find_by_id(user_pk).filter(user::Column::TenantId.eq(tenant_id)).one(db).await?;
    let tenant = tenant::Entity::find_by_id(tenant_id).one(db).await?;
    Ok(match (tenant, user) {
        (Some(t), Some(u)) if u.enabled && u.state == "active" => Some(Principal::tenant_user(&t, &u)),
        _ => None,
    })
}

pub async fn delete(db: &DatabaseConnection, token: &str) -> Result<(), DbErr> {
    session::Entity::delete_by_id(tokens::digest(token)).exec(db).await?;
    Ok(())
}

pub async fn purge_expired(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let result = session::Entity::delete_many().filter(session::Column::ExpiresAt.lte(Utc::now())).exec(db).await?;
    Ok(result.rows_affected)
}
