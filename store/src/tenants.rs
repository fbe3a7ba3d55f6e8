//! Tenants, their default organisation, and the admins who run them.
use crate::entity::user::UserState;
use crate::entity::{organisation, platform_admin, tenant, user};
use crate::passwords;
use chrono::Utc;
use muster_import::{normalize_key, Email, FieldError, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{field} {0}", field = .1)]
    Invalid(FieldError, &'static str),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The code of the organisation every tenant starts with.
pub const DEFAULT_ORGANISATION_CODE: &str = "DEFAULT";

fn check_slug(slug: &str) -> Result<String, AccountError> {
    let slug = slug.trim();
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(slug.to_owned())
    } else {
        Err(AccountError::Invalid(FieldError("must be 1–64 of lower-case letters, digits and '-'".into()), "slug"))
    }
}

/// Creates a tenant with its default organisation, in one transaction.
pub async fn create_tenant(
    db: &DatabaseConnection,
    slug: &str,
    name: &str,
    licence_limit: Option<i32>,
) -> Result<tenant::Model, AccountError> {
    let txn = crate::db::begin_write(db).await?;
    let created = create_tenant_in(&txn, slug, name, licence_limit).await?;
    txn.commit().await?;
    Ok(created)
}

/// [`create_tenant`] within the caller's transaction.
pub async fn create_tenant_in<C: ConnectionTrait>(
    txn: &C,
    slug: &str,
    name: &str,
    licence_limit: Option<i32>,
) -> Result<tenant::Model, AccountError> {
    let slug = check_slug(slug)?;
    let now = Utc::now();
    let created = tenant::ActiveModel {
        slug_norm: Set(normalize_key(&slug)),
        slug: Set(slug),
        name: Set(name.trim().to_owned()),
        licence_limit: Set(licence_limit),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    organisation::ActiveModel {
        tenant_id: Set(created.id),
        code: Set(DEFAULT_ORGANISATION_CODE.to_owned()),
        code_norm: Set(normalize_key(DEFAULT_ORGANISATION_CODE)),
        name: Set(format!("{} (default)", created.name)),
        is_default: Set(true),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(created)
}

pub struct NewAdmin<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub password: &'a str,
    /// The password was made for someone else to read (`create-admin` prints
    /// it for the operator to pass on): its owner replaces it at first sign-in.
    pub must_change_password: bool,
}

/// Creates a tenant admin in the tenant's default organisation.
pub async fn create_tenant_admin<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    admin: NewAdmin<'_>,
) -> Result<user::Model, AccountError> {
    let user_id = UserId::parse(admin.user_id).map_err(|e| AccountError::Invalid(e, "userId"))?;
    let email = Email::parse(admin.email).map_err(|e| AccountError::Invalid(e, "email"))?;
    let default_org = organisation_default(db, tenant_id).await?;
    let hash = passwords::hash(admin.password.to_owned()).await;
    let now = Utc::now();
    let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    Ok(user::ActiveModel {
        tenant_id: Set(tenant_id),
        user_id_norm: Set(normalize_key(user_id.as_str())),
        user_id: Set(user_id.into_inner()),
        email_norm: Set(normalize_key(email.as_str())),
        email: Set(email.into_inner()),
        first_name: Set(optional(admin.first_name)),
        last_name: Set(optional(admin.last_name)),
        organisation_id: Set(default_org.map(|o| o.id)),
        state: Set(UserState::Active),
        enabled: Set(true),
        task_notification: Set("Email".into()),
        change_password_next_time: Set(admin.must_change_password),
        password_hash: Set(Some(hash)),
        is_tenant_admin: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

async fn organisation_default<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
) -> Result<Option<organisation::Model>, DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    organisation::Entity::find()
        .filter(organisation::Column::TenantId.eq(tenant_id))
        .filter(organisation::Column::IsDefault.eq(true))
        .one(db)
        .await
}

pub async fn create_platform_admin<C: ConnectionTrait>(
    db: &C,
    username: &str,
    email: &str,
    password: &str,
) -> Result<platform_admin::Model, AccountError> {
    let username = UserId::parse(username).map_err(|e| AccountError::Invalid(e, "username"))?;
    let email = Email::parse(email).map_err(|e| AccountError::Invalid(e, "email"))?;
    let hash = passwords::hash(password.to_owned()).await;
    Ok(platform_admin::ActiveModel {
        username_norm: Set(normalize_key(username.as_str())),
        username: Set(username.into_inner()),
        email: Set(email.into_inner()),
        password_hash: Set(hash),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// An organisation, for tests: in the product a load creates the
/// organisations its file names (`load::catalogue`).
#[cfg(feature = "testing")]
pub async fn create_organisation<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    code: &str,
    name: &str,
) -> Result<organisation::Model, AccountError> {
    let code = muster_import::fields::OrgCode::parse(code).map_err(|e| AccountError::Invalid(e, "code"))?;
    Ok(organisation::ActiveModel {
        tenant_id: Set(tenant_id),
        code_norm: Set(normalize_key(code.as_str())),
        code: Set(code.into_inner()),
        name: Set(name.trim().to_owned()),
        is_default: Set(false),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The email address of a user of the tenant (for mail to the admin who uploaded).
pub async fn email_of<C: ConnectionTrait>(db: &C, tenant_id: i64, user_id: i64) -> Result<Option<String>, DbErr> {
    Ok(user::Entity::find_by_id(user_id).filter(user::Column::TenantId.eq(tenant_id)).one(db).await?.map(|u| u.email))
}

/// A tenant's licences: its limit (`None`: unlimited) and the active users
/// that hold one (leavers hold none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Licences {
    pub limit: Option<u64>,
    pub used: u64,
}

impl Licences {
    /// Licences still free; `None` when unlimited.
    pub fn remaining(&self) -> Option<u64> {
        self.limit.map(|limit| limit.saturating_sub(self.used))
    }
}

pub async fn licences<C: ConnectionTrait>(db: &C, tenant_id: i64) -> Result<Option<Licences>, DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let Some(found) = tenant::Entity::find_by_id(tenant_id).one(db).await? else { return Ok(None) };
    let used = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::State.ne(UserState::Leaver))
        .count(db)
        .await?;
    Ok(Some(Licences { limit: found.licence_limit.map(|l| l.max(0) as u64), used }))
}

/// A tenant by its id.
pub async fn by_id<C: ConnectionTrait>(db: &C, tenant_id: i64) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find_by_id(tenant_id).one(db).await
}

/// Who sent an upload, as pages name them: the admin's user ID ("user 7" once
/// deleted), or "command line" for `muster import`.
pub async fn uploader_label<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    uploaded_by: Option<i64>,
) -> Result<String, DbErr> {
    let Some(pk) = uploaded_by else { return Ok("command line".to_owned()) };
    let user = user::Entity::find_by_id(pk).filter(user::Column::TenantId.eq(tenant_id)).one(db).await?;
    Ok(user.map_or_else(|| format!("user {pk}"), |u| u.user_id))
}
