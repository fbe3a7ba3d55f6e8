//! Mail a batch owes: marked in its transaction, sent again when it was lost.
use super::planned::record_text;
use super::results::{INVITATION_SENT, PASSWORD_SENT};
use super::{outcome, Mailing, Outgoing};
use crate::entity::{invitation, pending_mail, upload_row, user};
use crate::{passwords, tokens};
use chrono::Utc;
use muster_import::normalize_key;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// Every message of a [`Mailing`] went out: the mark of what was owed goes.
pub async fn mail_sent(db: &DatabaseConnection, mailing: &Mailing) -> Result<(), DbErr> {
    pending_mail::Entity::delete_many()
        .filter(pending_mail::Column::Id.eq(mailing.pending))
        .filter(pending_mail::Column::TenantId.eq(mailing.tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// How long a worker that claimed owed mail has to send it before another may.
pub(super) const MAIL_CLAIM_MINUTES: i64 = 10;

/// Mail owed for longer than `older_than` (its sender died after the batch
/// committed, or the mail server refused it), at most `limit` batches of it,
/// claimed for [`MAIL_CLAIM_MINUTES`]: each user of it gets new credentials,
/// as only hashes were kept — an unused invitation a new token (the one never
/// received stops working), a generated password a new password. A user may so
/// get a message twice, the later one the one that works: mail goes at least
/// once. The caller sends each [`Mailing`] and says [`mail_sent`].
pub async fn claim_unsent_mail(
    db: &DatabaseConnection,
    older_than: std::time::Duration,
    limit: u64,
) -> Result<Vec<Mailing>, DbErr> {
    let now = Utc::now();
    let older_than = chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
    let unclaimed = || {
        sea_orm::Condition::any()
            .add(pending_mail::Column::ClaimedUntil.is_null())
            .add(pending_mail::Column::ClaimedUntil.lt(now))
    };
    let owed = pending_mail::Entity::find()
        .filter(pending_mail::Column::CreatedAt.lte(now - older_than))
        .filter(unclaimed())
        .order_by_asc(pending_mail::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let mut mailings = Vec::new();
    for mark in owed {
        // Claimed only if nobody claimed it since it was read.
        let claimed = pending_mail::Entity::update_many()
            .col_expr(
                pending_mail::Column::ClaimedUntil,
                Expr::value(now + chrono::Duration::minutes(MAIL_CLAIM_MINUTES)),
            )
            .filter(pending_mail::Column::Id.eq(mark.id))
            .filter(unclaimed())
            .exec(db)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        mailings.push(Mailing {
            tenant_id: mark.tenant_id,
            pending: mark.id,
            messages: renew_credentials(db, &mark).await?,
        });
    }
    Ok(mailings)
}

/// New credentials for the users of a batch whose rows say their mail was sent,
/// as the messages that carry them.
pub(super) async fn renew_credentials(
    db: &DatabaseConnection,
    mark: &pending_mail::Model,
) -> Result<Vec<Outgoing>, DbErr> {
    let user_key = record_text(db, "user_id");
    let owed: Vec<(Option<String>, Option<String>)> = upload_row::Entity::find()
        .select_only()
        .column_as(Expr::cust(user_key), "user_key")
        .column(upload_row::Column::Result)
        .filter(upload_row::Column::UploadId.eq(mark.upload_id))
        .filter(upload_row::Column::TenantId.eq(mark.tenant_id))
        .filter(upload_row::Column::RowIndex.gt(mark.after_index))
        .filter(upload_row::Column::RowIndex.lte(mark.last_index))
        .filter(upload_row::Column::Outcome.eq(outcome::ADDED))
        .order_by_asc(upload_row::Column::RowIndex)
        .into_tuple()
        .all(db)
        .await?;
    // The userIds of the rows whose result starts with `sent`.
    let owed_by = |sent: &str| -> Vec<String> {
        owed.iter()
            .filter(|(_, result)| result.as_deref().is_some_and(|r| r.starts_with(sent)))
            .filter_map(|(user, _)| user.as_deref().map(normalize_key))
            .collect()
    };
    let (invited, passworded) = (owed_by(INVITATION_SENT), owed_by(PASSWORD_SENT));
    let users = |keys: Vec<String>| {
        user::Entity::find()
            .filter(user::Column::TenantId.eq(mark.tenant_id))
            .filter(user::Column::UserIdNorm.is_in(keys))
            .order_by_asc(user::Column::Id)
            .all(db)
    };
    let mut messages = Vec::new();
    let name = |u: &user::Model| u.first_name.clone().or(u.last_name.clone()).unwrap_or_default();
    for u in if invited.is_empty() { Vec::new() } else { users(invited).await? } {
        let token = tokens::generate();
        // Only a link not used yet: a user who got the first mail after all
        // and set a password is left alone.
        let renewed = invitation::Entity::update_many()
            .col_expr(invitation::Column::TokenHash, Expr::value(tokens::digest(&token)))
            .filter(invitation::Column::TenantId.eq(mark.tenant_id))
            .filter(invitation::Column::UserId.eq(u.id))
            .filter(invitation::Column::UsedAt.is_null())
            .exec(db)
            .await?;
        if renewed.rows_affected > 0 {
            messages.push(Outgoing::Invitation {
                email: u.email.clone(),
                name: name(&u),
                user_id: u.user_id.clone(),
                token,
            });
        }
    }
    for u in if passworded.is_empty() { Vec::new() } else { users(passworded).await? } {
        let password = passwords::generate();
        let hash = passwords::hash(password.clone()).await;
        // Only a user nobody changed since the batch: one who got the first
        // mail after all may have set a password of their own.
        let renewed = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash))
            .filter(user::Column::TenantId.eq(mark.tenant_id))
            .filter(user::Column::Id.eq(u.id))
            .filter(user::Column::UpdatedAt.lte(mark.created_at))
            .exec(db)
            .await?;
        if renewed.rows_affected > 0 {
            messages.push(Outgoing::Password {
                email: u.email.clone(),
                name: name(&u),
                user_id: u.user_id.clone(),
                password,
            });
        }
    }
    Ok(messages)
}
