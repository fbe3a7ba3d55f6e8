//! Who is signing in: checking credentials against the database.
use crate::entity::{platform_admin, tenant, user};
use crate::passwords;
use muster_import::normalize_key;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use std::sync::OnceLock;

/// A signed-in person, as the server sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    PlatformAdmin {
        id: i64,
        username: String,
    },
    TenantUser {
        tenant_id: i64,
        tenant_slug: String,
        tenant_name: String,
        user_pk: i64,
        user_id: String,
        display_name: String,
        is_admin: bool,
    },
}

impl Principal {
    pub fn tenant_user(tenant: &tenant::Model, user: &user::Model) -> Self {
        Self::TenantUser {
            tenant_id: tenant.id,
            tenant_slug: tenant.slug.clone(),
            tenant_name: tenant.name.clone(),
            user_pk: user.id,
            user_id: user.user_id.clone(),
            display_name: user.display_name(),
            is_admin: user.is_tenant_admin,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// One message for an unknown tenant, an unknown user, a wrong password and a
    /// disabled account: which of them it was is nobody's business but the admin's.
    #[error("The tenant, user ID or password is not correct")]
    BadCredentials,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A hash to verify against when no account matched, so that a wrong user ID takes
/// as long to refuse as a wrong password and does not reveal which accounts exist.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| passwords::hash_blocking("decoy password that matches nothing"))
}

async fn check(password: &str, hash: Option<String>) -> bool {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| decoy_hash().to_owned());
    let ok = passwords::verify(password.to_owned(), hash).await;
    ok && known
}

/// Signs in a platform admin (blank tenant) or a user of the tenant with that slug,
/// by user ID or email, ignoring case and surrounding spaces.
pub async fn authenticate(
    db: &DatabaseConnection,
    tenant_slug: &str,
    login: &str,
    password: &str,
) -> Result<Principal, AuthError> {
    let login_norm = normalize_key(login);
    if login_norm.is_empty() || password.is_empty() {
        return Err(AuthError::BadCredentials);
    }
    let tenant_norm = normalize_key(tenant_slug);
    if tenant_norm.is_empty() {
        let admin =
            platform_admin::Entity::find().filter(platform_admin::Column::UsernameNorm.eq(login_norm)).one(db).await?;
        let hash = admin.as_ref().map(|a| a.password_hash.clone());
        return match (check(password, hash).await, admin) {
            (true, Some(admin)) => Ok(Principal::PlatformAdmin { id: admin.id, username: admin.username }),
            _ => Err(AuthError::BadCredentials),
        };
    }
    let tenant = tenant::Entity::find().filter(tenant::Column::SlugNorm.eq(tenant_norm)).one(db).await?;
    let user = match &tenant {
        Some(t) => {
            let mut found = user::Entity::find()
                .filter(user::Column::TenantId.eq(t.id))
                .filter(
                    Condition::any()
                        .add(user::Column::UserIdNorm.eq(login_norm.clone()))
                        .add(user::Column::EmailNorm.eq(login_norm.clone())),
                )
                .all(db)
                .await?;
            // A userId may be written like an email, even another user's (both
            // are unique only among their own kind): the user whose userId it
            // is signs in with it, whichever row the database gives first.
            found.sort_by_key(|u| u.user_id_norm != login_norm);
            found.into_iter().next()
        }
        None => None,
    };
    let usable = user.as_ref().filter(|u| u.enabled && u.state == "active");
    let hash = usable.and_then(|u| u.password_hash.clone());
    match (check(password, hash).await, tenant, usable) {
        (true, Some(tenant), Some(user)) => Ok(Principal::tenant_user(&tenant, user)),
        _ => Err(AuthError::BadCredentials),
    }
}
