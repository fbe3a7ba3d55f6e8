//! Invitations to set a password: single-use, expiring; only the token's key
//! (`tokens::link_key`: its time and digest) is stored, the token itself goes
//! to the user by email once.
use crate::entity::user::UserState;
use crate::entity::{audit_event, invitation, tenant, user};
use crate::{passwords, tokens};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, Set,
};

/// An invitation for the link whose token's key (`tokens::link_key`) is `token_key`.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    user_id: i64,
    token_key: &str,
    valid_days: i64,
) -> Result<invitation::Model, DbErr> {
    new_model(tenant_id, user_id, token_key, valid_days).insert(db).await
}

/// The row [`create`] inserts, for inserting many at once.
pub fn new_model(tenant_id: i64, user_id: i64, token_key: &str, valid_days: i64) -> invitation::ActiveModel {
    let now = Utc::now();
    invitation::ActiveModel {
        tenant_id: Set(tenant_id),
        user_id: Set(user_id),
        token_hash: Set(token_key.to_owned()),
        expires_at: Set(now + Duration::days(valid_days)),
        used_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
}

/// An invitation that can still be accepted, and whose it is (for the page to
/// greet the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInvitation {
    pub tenant_id: i64,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub user_pk: i64,
    pub user_id: String,
    pub first_name: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// Why a link cannot set a password; each message tells the user what to do.
#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    #[error("This invitation link is not valid. Check that the whole link was copied, or ask your administrator for a new one.")]
    Unknown,
    #[error("This invitation link has already been used. Sign in with the password you chose, or ask your administrator for a new link.")]
    Used,
    #[error("This invitation link expired on {}. Ask your administrator for a new one.", .0.format("%-d %B %Y"))]
    Expired(DateTime<Utc>),
    #[error("This account is not active, so its password cannot be set. Ask your administrator.")]
    Inactive,
    #[error("The password {0}.")]
    WeakPassword(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The invitation a link's token opens, if it can still be used.
pub async fn open<C: ConnectionTrait>(db: &C, token: &str) -> Result<OpenInvitation, InvitationError> {
    let Some(found) =
        invitation::Entity::find().filter(invitation::Column::TokenHash.eq(tokens::link_key(token))).one(db).await?
    else {
        return Err(InvitationError::Unknown);
    };
    if found.used_at.is_some() {
        return Err(InvitationError::Used);
    }
    if found.expires_at <= Utc::now() {
        return Err(InvitationError::Expired(found.expires_at));
    }
    let user = user::Entity::find_by_id(found.user_id)
        .filter(user::Column::TenantId.eq(found.tenant_id))
        .one(db)
        .await?
        .ok_or(InvitationError::Unknown)?;
    // A user who left or was disabled after the mail went out: the link no longer
    // gives them a password (one that would work again if they were re-admitted).
    if user.state != UserState::Active || !user.enabled {
        return Err(InvitationError::Inactive);
    }
    let tenant = tenant::Entity::find_by_id(found.tenant_id).one(db).await?.ok_or(InvitationError::Unknown)?;
    Ok(OpenInvitation {
        tenant_id: tenant.id,
        tenant_slug: tenant.slug,
        tenant_name: tenant.name,
        user_pk: user.id,
        user_id: user.user_id,
        first_name: user.first_name,
        expires_at: found.expires_at,
    })
}

/// Sets the invited user's password, once. The invitation is spent by a
/// conditional update in the same transaction as the password, so of two
/// requests with one link only one sets a password; the user's other open links
/// are spent with it. The password is hashed (Argon2id, off the request threads)
/// only for a link that was open when the request came.
pub async fn accept(db: &DatabaseConnection, token: &str, password: &str) -> Result<OpenInvitation, InvitationError> {
    muster_import::fields::check_password(password).map_err(|e| InvitationError::WeakPassword(e.0))?;
    let invited = open(db, token).await?;
    let hash = passwords::hash(password.to_owned()).await;
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    let spent = invitation::Entity::update_many()
        .col_expr(invitation::Column::UsedAt, Expr::value(now))
        .filter(invitation::Column::TokenHash.eq(tokens::link_key(token)))
        .filter(invitation::Column::TenantId.eq(invited.tenant_id))
        .filter(invitation::Column::UsedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if spent.rows_affected != 1 {
        return Err(changed_since(txn, db, token, InvitationError::Used).await);
    }
    let set = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .col_expr(user::Column::ChangePasswordNextTime, Expr::value(false))
        .col_expr(user::Column::PasswordChangedAt, Expr::value(now))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(invited.user_pk))
        .filter(user::Column::TenantId.eq(invited.tenant_id))
        .filter(user::Column::State.eq(UserState::Active))
        .filter(user::Column::Enabled.eq(true))
        .exec(&txn)
        .await?;
    if set.rows_affected != 1 {
        return Err(changed_since(txn, db, token, InvitationError::Inactive).await);
    }
    // A new password ends every session the account had.
    crate::sessions::end_all_of_user(&txn, invited.tenant_id, invited.user_pk).await?;
    invitation::Entity::update_many()
        .col_expr(invitation::Column::UsedAt, Expr::value(now))
        .filter(invitation::Column::UserId.eq(invited.user_pk))
        .filter(invitation::Column::TenantId.eq(invited.tenant_id))
        .filter(invitation::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    audit_event::ActiveModel {
        tenant_id: Set(invited.tenant_id),
        actor_user_id: Set(Some(invited.user_pk)),
        actor: Set(invited.user_id.clone()),
        action: Set("user.password_set".into()),
        target_kind: Set("user".into()),
        target_id: Set(Some(invited.user_pk)),
        target: Set(invited.user_id.clone()),
        upload_id: Set(None),
        details: Set(Some(serde_json::json!({ "by": "invitation" }))),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(invited)
}

/// Why a link that was open when the request came no longer sets a password (it
/// was spent or expired, or its user left, since): `accept`'s transaction is
/// rolled back and the link opened again to say which, else `otherwise`.
async fn changed_since(
    txn: DatabaseTransaction,
    db: &DatabaseConnection,
    token: &str,
    otherwise: InvitationError,
) -> InvitationError {
    if let Err(err) = txn.rollback().await {
        return err.into();
    }
    open(db, token).await.err().unwrap_or(otherwise)
}
