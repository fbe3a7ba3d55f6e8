//! Who is signing in: checking credentials against the database.
use crate::entity::user::UserState;
use crate::entity::{platform_admin, tenant, user};
use crate::{passwords, throttle};
use muster_import::normalize_key;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
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
        /// "Change password next time": until it is changed, the account may
        /// do nothing else (its password was typed by an admin or mailed).
        must_change_password: bool,
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
            must_change_password: user.change_password_next_time,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// One message for an unknown tenant, an unknown user, a wrong password and a
    /// disabled account: which of them it was is nobody's business but the admin's.
    #[error("The tenant, user ID or password is not correct")]
    BadCredentials,
    /// Too many failures from this client for this account, or from this
    /// client: the next attempt is checked only after `0`.
    #[error("Too many failed sign-in attempts; wait {0:?}")]
    Throttled(std::time::Duration),
    /// More passwords are waiting to be checked than the server takes on.
    #[error("The server is busy checking passwords; try again in a moment")]
    Busy,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The longest tenant slug, login and password a sign-in takes: beyond them
/// it is refused before anything is looked up, counted or hashed.
pub const MAX_TENANT: usize = 64;
pub const MAX_LOGIN: usize = 254;
pub const MAX_PASSWORD: usize = 1024;

/// A hash to verify against when no account matched, so that a wrong user ID takes
/// as long to refuse as a wrong password and does not reveal which accounts exist.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| passwords::hash_blocking("decoy password that matches nothing"))
}

/// An account a sign-in names (one at a time, briefly: the sizes of the two
/// kinds need not match).
#[allow(clippy::large_enum_variant)]
enum Account {
    Platform(platform_admin::Model),
    /// A user of the tenant; `usable` unless disabled or a leaver.
    Tenant(tenant::Model, user::Model),
}

impl Account {
    /// The account's key for the back-off: its id, however it was named (user
    /// ID or email, any case).
    fn key(&self) -> String {
        match self {
            Account::Platform(admin) => format!("platform:{}", admin.id),
            Account::Tenant(tenant, user) => format!("user:{}:{}", tenant.id, user.id),
        }
    }

    fn usable_hash(&self) -> Option<String> {
        match self {
            Account::Platform(admin) => Some(admin.password_hash.clone()),
            Account::Tenant(_, u) if u.enabled && u.state == UserState::Active => u.password_hash.clone(),
            Account::Tenant(..) => None,
        }
    }
}

/// The account `login` names: a platform admin (blank tenant) or a user of the
/// tenant with that slug, by user ID or email, ignoring case and spaces. The
/// same queries run whether the tenant exists or not, so that an unknown
/// tenant is not answered sooner.
async fn find_account(db: &DatabaseConnection, tenant_norm: &str, login_norm: &str) -> Result<Option<Account>, DbErr> {
    if tenant_norm.is_empty() {
        let admin =
            platform_admin::Entity::find().filter(platform_admin::Column::UsernameNorm.eq(login_norm)).one(db).await?;
        return Ok(admin.map(Account::Platform));
    }
    let tenant = tenant::Entity::find().filter(tenant::Column::SlugNorm.eq(tenant_norm)).one(db).await?;
    let mut found = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.as_ref().map_or(-1, |t| t.id)))
        .filter(
            Condition::any().add(user::Column::UserIdNorm.eq(login_norm)).add(user::Column::EmailNorm.eq(login_norm)),
        )
        .all(db)
        .await?;
    // A userId may be written like an email, even another user's (both
    // are unique only among their own kind): the user whose userId it
    // is signs in with it, whichever row the database gives first.
    found.sort_by_key(|u| u.user_id_norm != login_norm);
    Ok(match (tenant, found.into_iter().next()) {
        (Some(t), Some(u)) => Some(Account::Tenant(t, u)),
        _ => None,
    })
}

/// Signs in a platform admin (blank tenant) or a user of the tenant with that
/// slug, by user ID or email, from `client` (its address, or its network for
/// IPv6, as the caller counts clients). The attempt is counted before the
/// password is checked ([`throttle::attempt`]) against the account (resolved,
/// so its user ID and email are one budget) from that client, and against the
/// client: a guesser is slowed down, the owner elsewhere is not locked out.
pub async fn sign_in(
    db: &DatabaseConnection,
    tenant_slug: &str,
    login: &str,
    password: &str,
    client: &str,
) -> Result<Principal, AuthError> {
    if tenant_slug.len() > MAX_TENANT || login.len() > MAX_LOGIN || password.len() > MAX_PASSWORD {
        return Err(AuthError::BadCredentials);
    }
    let (tenant_norm, login_norm) = (normalize_key(tenant_slug), normalize_key(login));
    if login_norm.is_empty() || password.is_empty() {
        return Err(AuthError::BadCredentials);
    }
    let account = find_account(db, &tenant_norm, &login_norm).await?;
    let named = match &account {
        Some(account) => account.key(),
        None => format!("unknown:{tenant_norm}/{login_norm}"),
    };
    let account_key = throttle::Key::new(throttle::ACCOUNT_FROM_ADDRESS, &["account", &named, "from", client]);
    let address_key = throttle::Key::new(throttle::ADDRESS, &["address", client]);
    let keys = [account_key, address_key];
    if let Err(wait) = throttle::attempt(db, &keys).await? {
        return Err(AuthError::Throttled(wait));
    }
    let hash = account.as_ref().and_then(Account::usable_hash);
    let known = hash.is_some();
    let verified =
        passwords::verify_bounded(password.to_owned(), hash.unwrap_or_else(|| decoy_hash().to_owned())).await;
    let Some(verified) = verified else {
        throttle::forgive(db, &keys).await?;
        return Err(AuthError::Busy);
    };
    let principal = match account {
        Some(Account::Platform(admin)) if verified && known => {
            Principal::PlatformAdmin { id: admin.id, username: admin.username }
        }
        Some(Account::Tenant(tenant, user)) if verified && known => {
            user::Entity::update_many()
                .col_expr(user::Column::LastSignInAt, sea_orm::sea_query::Expr::value(chrono::Utc::now()))
                .filter(user::Column::TenantId.eq(tenant.id))
                .filter(user::Column::Id.eq(user.id))
                .exec(db)
                .await?;
            Principal::tenant_user(&tenant, &user)
        }
        _ => return Err(AuthError::BadCredentials),
    };
    let [account_key, address_key] = keys;
    throttle::succeeded(db, &account_key, &address_key).await?;
    Ok(principal)
}

/// Why a password was not changed.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("The current password is not correct.")]
    WrongCurrent,
    #[error("The new password {0}.")]
    Weak(String),
    #[error("The new password must differ from the current one.")]
    Unchanged,
    #[error("The server is busy checking passwords; try again in a moment.")]
    Busy,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Changes the signed-in account's own password: the current one checked, the
/// new one held to the policy. "Change password next time" is cleared, and
/// every other session of the account ends (whoever knew the old password is
/// signed out); the session `keep` (the token of the one asking) goes on.
pub async fn change_password(
    db: &DatabaseConnection,
    principal: &Principal,
    current: &str,
    new: &str,
    keep: Option<&str>,
) -> Result<(), ChangePasswordError> {
    if current.len() > MAX_PASSWORD {
        return Err(ChangePasswordError::WrongCurrent);
    }
    muster_import::fields::check_password(new).map_err(|e| ChangePasswordError::Weak(e.0))?;
    if new == current {
        return Err(ChangePasswordError::Unchanged);
    }
    let stored = match principal {
        Principal::PlatformAdmin { id, .. } => {
            platform_admin::Entity::find_by_id(*id).one(db).await?.map(|a| a.password_hash)
        }
        Principal::TenantUser { tenant_id, user_pk, .. } => user::Entity::find_by_id(*user_pk)
            .filter(user::Column::TenantId.eq(*tenant_id))
            .one(db)
            .await?
            .and_then(|u| u.password_hash),
    };
    let Some(stored) = stored else { return Err(ChangePasswordError::WrongCurrent) };
    match passwords::verify_bounded(current.to_owned(), stored).await {
        None => return Err(ChangePasswordError::Busy),
        Some(false) => return Err(ChangePasswordError::WrongCurrent),
        Some(true) => {}
    }
    let hash = passwords::hash(new.to_owned()).await;
    let now = chrono::Utc::now();
    let txn = crate::db::begin_write(db).await?;
    match principal {
        Principal::PlatformAdmin { id, .. } => {
            platform_admin::Entity::update_many()
                .col_expr(platform_admin::Column::PasswordHash, sea_orm::sea_query::Expr::value(hash))
                .filter(platform_admin::Column::Id.eq(*id))
                .exec(&txn)
                .await?;
        }
        Principal::TenantUser { tenant_id, user_pk, user_id, .. } => {
            use sea_orm::sea_query::Expr;
            user::Entity::update_many()
                .col_expr(user::Column::PasswordHash, Expr::value(hash))
                .col_expr(user::Column::ChangePasswordNextTime, Expr::value(false))
                .col_expr(user::Column::PasswordChangedAt, Expr::value(now))
                .col_expr(user::Column::UpdatedAt, Expr::value(now))
                .filter(user::Column::TenantId.eq(*tenant_id))
                .filter(user::Column::Id.eq(*user_pk))
                .exec(&txn)
                .await?;
            crate::entity::audit_event::ActiveModel {
                tenant_id: sea_orm::Set(*tenant_id),
                actor_user_id: sea_orm::Set(Some(*user_pk)),
                actor: sea_orm::Set(user_id.clone()),
                action: sea_orm::Set("user.password_changed".into()),
                target_kind: sea_orm::Set("user".into()),
                target_id: sea_orm::Set(Some(*user_pk)),
                target: sea_orm::Set(user_id.clone()),
                upload_id: sea_orm::Set(None),
                details: sea_orm::Set(None),
                created_at: sea_orm::Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    crate::sessions::end_others(&txn, principal, keep).await?;
    txn.commit().await?;
    Ok(())
}
