//! Sessions live in the database so that every server process sees them and a
//! restart signs nobody out. The cookie carries a random token; the table its digest.
use crate::auth::Principal;
use crate::entity::user::UserState;
use crate::entity::{platform_admin, session, tenant, user};
use crate::tokens;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};

/// How long a session lasts from sign-in, however much it is used.
pub const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);
/// How long a session lasts unused: a laptop left open in a ward office is
/// not an open door for the rest of the day.
pub const IDLE_TIMEOUT: chrono::Duration = chrono::Duration::minutes(30);
/// A session's use is written down at most this often (not at every request).
const SEEN_EVERY: chrono::Duration = chrono::Duration::minutes(1);

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
        last_seen_at: Set(Some(now)),
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
    let now = Utc::now();
    let seen = found.last_seen_at.unwrap_or(found.created_at);
    if found.expires_at <= now || seen + IDLE_TIMEOUT <= now {
        session::Entity::delete_by_id(found.id).exec(db).await?;
        return Ok(None);
    }
    if seen + SEEN_EVERY <= now {
        // Best effort: a write that waits out SQLite's busy time behind a
        // load's batch must not turn the request into an error.
        let seen = session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, sea_orm::sea_query::Expr::value(now))
            .filter(session::Column::Id.eq(found.id.clone()))
            .exec(db)
            .await;
        if let Err(err) = seen {
            tracing::warn!(error = %err, "a session's last use was not recorded");
        }
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
        (Some(t), Some(u)) if u.enabled && u.state == UserState::Active => Some(Principal::tenant_user(&t, &u)),
        _ => None,
    })
}

pub async fn delete(db: &DatabaseConnection, token: &str) -> Result<(), DbErr> {
    session::Entity::delete_by_id(tokens::digest(token)).exec(db).await?;
    Ok(())
}

/// Ends every other session of the account `principal` names (its password
/// changed: whoever knew the old one is signed out), keeping `keep`'s.
pub async fn end_others<C: sea_orm::ConnectionTrait>(
    db: &C,
    principal: &Principal,
    keep: Option<&str>,
) -> Result<u64, DbErr> {
    let account = match principal {
        Principal::PlatformAdmin { id, .. } => sea_orm::Condition::all().add(session::Column::PlatformAdminId.eq(*id)),
        Principal::TenantUser { tenant_id, user_pk, .. } => user_sessions(*tenant_id, *user_pk),
    };
    let mut query = session::Entity::delete_many().filter(account);
    if let Some(keep) = keep {
        query = query.filter(session::Column::Id.ne(tokens::digest(keep)));
    }
    Ok(query.exec(db).await?.rows_affected)
}

/// Ends every session of a tenant's user (a password set from an invitation).
pub async fn end_all_of_user<C: sea_orm::ConnectionTrait>(db: &C, tenant_id: i64, user_pk: i64) -> Result<u64, DbErr> {
    Ok(session::Entity::delete_many().filter(user_sessions(tenant_id, user_pk)).exec(db).await?.rows_affected)
}

fn user_sessions(tenant_id: i64, user_pk: i64) -> sea_orm::Condition {
    sea_orm::Condition::all().add(session::Column::TenantId.eq(tenant_id)).add(session::Column::UserId.eq(user_pk))
}

/// Deletes the sessions past their absolute or idle end (the server does so
/// every minute: an ended session's row is nobody's).
pub async fn purge_expired(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let now = Utc::now();
    let idle_since = now - IDLE_TIMEOUT;
    let ended = sea_orm::Condition::any()
        .add(session::Column::ExpiresAt.lte(now))
        .add(session::Column::LastSeenAt.lte(idle_since))
        .add(
            sea_orm::Condition::all()
                .add(session::Column::LastSeenAt.is_null())
                .add(session::Column::CreatedAt.lte(idle_since)),
        );
    let result = session::Entity::delete_many().filter(ended).exec(db).await?;
    Ok(result.rows_affected)
}
