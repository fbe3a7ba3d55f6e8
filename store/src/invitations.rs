//! Invitations to set a password: single-use, expiring; only the token's digest
//! is stored, the token itself goes to the user by email once.
use crate::entity::invitation;
use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};

pub async fn create<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    user_id: i64,
    token_digest: &str,
    valid_days: i64,
) -> Result<invitation::Model, DbErr> {
    new_model(tenant_id, user_id, token_digest, valid_days).insert(db).await
}

/// The row [`create`] inserts, for inserting many at once.
pub fn new_model(tenant_id: i64, user_id: i64, token_digest: &str, valid_days: i64) -> invitation::ActiveModel {
    let now = Utc::now();
    invitation::ActiveModel {
        tenant_id: Set(tenant_id),
        user_id: Set(user_id),
        token_hash: Set(token_digest.to_owned()),
        expires_at: Set(now + Duration::days(valid_days)),
        used_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
}
