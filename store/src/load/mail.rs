//! Mail a load owes, one message per new user: owed in the batch's
//! transaction, claimed by the batch's sender from the start, cleared as each
//! message is sent, final when it cannot be delivered, and sent again (with
//! new credentials, as only hashes are kept) when its sender did not finish.
//! A row's result says "queued" until its message went out, then "sent" or
//! "not delivered".
use super::results::{INVITATION_QUEUED, PASSWORD_QUEUED};
use super::tables::Actor;
use super::{Mailing, Message, Outgoing, INVITATION_DAYS};
use crate::bulk::{self, Kind};
use crate::entity::{invitation, mail_owed, upload_row, user};
use crate::{passwords, tokens};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// How long a sender holds the mail it claimed without extending the claim
/// ([`extend_mail_claim`]): after that, another worker takes it as lost.
pub const MAIL_CLAIM: chrono::Duration = chrono::Duration::minutes(5);

/// Attempts after which a message that keeps failing for now (the mail server
/// is down, or answers 4xx) is given up, its row saying so.
pub const MAIL_ATTEMPTS: i32 = 5;

/// Minutes before attempt `n + 1` of a message that failed for now: 5, 10, 20, 40.
fn back_off(attempts: i32) -> chrono::Duration {
    chrono::Duration::minutes(5 << attempts.clamp(1, 4).saturating_sub(1))
}

const KIND_INVITATION: &str = "invitation";
const KIND_PASSWORD: &str = "password";

/// A message a batch owes a user, before it is marked so.
pub(super) struct Owing {
    /// The upload row whose result tells what became of the message.
    pub(super) row: i64,
    /// The user it is for.
    pub(super) user: i64,
    pub(super) outgoing: Outgoing,
}

const OWED_COLUMNS: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("upload_id", Kind::BigInt),
    ("upload_row_id", Kind::BigInt),
    ("user_id", Kind::BigInt),
    ("kind", Kind::Text),
    ("attempts", Kind::Int),
    ("claimed_until", Kind::Timestamp),
    ("claimed_by", Kind::Text),
    ("created_at", Kind::Timestamp),
];

/// A new claim's token: only its holder records what became of the mail.
fn claim_token() -> String {
    tokens::generate().chars().take(32).collect()
}

/// Marks the batch's messages owed, claimed for its sender: in the batch's
/// transaction, with the rows that say "queued".
pub(super) async fn owe<C: bulk::CopyTo>(db: &C, actor: &Actor, owing: Vec<Owing>) -> Result<Mailing, DbErr> {
    let claim = claim_token();
    if owing.is_empty() {
        return Ok(Mailing { tenant_id: actor.tenant_id, claim, messages: Vec::new() });
    }
    let now = crate::db::now(db).await?;
    let rows = owing
        .iter()
        .map(|o| {
            let kind = match o.outgoing {
                Outgoing::Invitation { .. } => KIND_INVITATION,
                Outgoing::Password { .. } => KIND_PASSWORD,
            };
            bulk::Row::with_capacity(OWED_COLUMNS.len())
                .int(actor.tenant_id)
                .int(actor.upload_id)
                .int(o.row)
                .int(o.user)
                .text(Some(kind))
                .int(1)
                .time(Some(now + MAIL_CLAIM))
                .text(Some(&claim))
                .time(Some(now))
        })
        .collect();
    let owed = bulk::write_with_ids(db, "mail_owed", OWED_COLUMNS, rows, "upload_row_id").await?;
    let messages = owing.into_iter().zip(owed).map(|(o, owed)| Message { owed, outgoing: o.outgoing }).collect();
    Ok(Mailing { tenant_id: actor.tenant_id, claim, messages })
}

/// The words a row's result has for its message: queued, and what it became.
fn words(kind: &str) -> (&'static str, &'static str) {
    match kind {
        KIND_PASSWORD => (PASSWORD_QUEUED, "Added; password"),
        _ => (INVITATION_QUEUED, "Added; invitation"),
    }
}

/// Ends what is owed for `owed`, held under `claim`, its row's result saying
/// `became` in place of "queued" (a note linking the manager may follow it, and
/// stays). False if it was not owed under that claim any more (the claim
/// lapsed and another sender holds it, or ended it).
async fn settle(
    db: &DatabaseConnection,
    tenant_id: i64,
    owed: i64,
    claim: &str,
    became: impl Fn(&str) -> String,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let Some(found) = mail_owed::Entity::find_by_id(owed)
        .filter(mail_owed::Column::TenantId.eq(tenant_id))
        .filter(mail_owed::Column::ClaimedBy.eq(claim))
        .one(&txn)
        .await?
    else {
        txn.rollback().await?;
        return Ok(false);
    };
    let deleted = mail_owed::Entity::delete_many()
        .filter(mail_owed::Column::Id.eq(owed))
        .filter(mail_owed::Column::TenantId.eq(tenant_id))
        .filter(mail_owed::Column::ClaimedBy.eq(claim))
        .exec(&txn)
        .await?;
    if deleted.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    let (queued, stem) = words(&found.kind);
    let result = Func::cust("REPLACE").arg(Expr::col(upload_row::Column::Result)).arg(queued).arg(became(stem));
    upload_row::Entity::update_many()
        .col_expr(upload_row::Column::Result, result.into())
        .filter(upload_row::Column::Id.eq(found.upload_row_id))
        .filter(upload_row::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(true)
}

/// These messages of `mailing` went out: they are owed no more, and their
/// rows say "sent". One transaction for them all; a message whose claim went
/// to another sender meanwhile is that sender's to record.
pub async fn mail_sent(db: &DatabaseConnection, mailing: &Mailing, owed: &[i64]) -> Result<(), DbErr> {
    if owed.is_empty() {
        return Ok(());
    }
    let tenant_id = mailing.tenant_id;
    let ours = || {
        sea_orm::Condition::all()
            .add(mail_owed::Column::TenantId.eq(tenant_id))
            .add(mail_owed::Column::ClaimedBy.eq(mailing.claim.as_str()))
            .add(bulk::one_of(db.get_database_backend(), mail_owed::Column::Id, owed.to_vec()))
    };
    let txn = crate::db::begin_write(db).await?;
    let rows: Vec<i64> = mail_owed::Entity::find()
        .select_only()
        .column(mail_owed::Column::UploadRowId)
        .filter(ours())
        .into_tuple()
        .all(&txn)
        .await?;
    mail_owed::Entity::delete_many().filter(ours()).exec(&txn).await?;
    // A row owes one kind of message: one of the two replacements applies.
    let replace = |text: sea_orm::sea_query::SimpleExpr, queued: &str, sent: String| {
        sea_orm::sea_query::SimpleExpr::from(Func::cust("REPLACE").arg(text).arg(queued).arg(sent))
    };
    let result = replace(
        replace(Expr::col(upload_row::Column::Result), INVITATION_QUEUED, format!("{} sent", words(KIND_INVITATION).1)),
        PASSWORD_QUEUED,
        format!("{} sent", words(KIND_PASSWORD).1),
    );
    for rows in rows.chunks(1000) {
        upload_row::Entity::update_many()
            .col_expr(upload_row::Column::Result, result.clone())
            .filter(upload_row::Column::TenantId.eq(tenant_id))
            .filter(bulk::one_of(db.get_database_backend(), upload_row::Column::Id, rows.to_vec()))
            .exec(&txn)
            .await?;
    }
    txn.commit().await
}

/// Why a message did not go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// It never will as it is (the server answered 5xx, the address cannot be
    /// written in a message): final at once.
    Refused(String),
    /// It may later (the server is down, or answered 4xx): tried again after a
    /// back-off, at most [`MAIL_ATTEMPTS`] times in all.
    Failed(String),
}

/// The message did not go out (see [`Delivery`]). Its row says "not
/// delivered" with the reason once that is final (a refusal, or the last of
/// [`MAIL_ATTEMPTS`]); until then it stays owed and "queued", and a worker
/// tries again after the back-off.
pub async fn mail_failed(db: &DatabaseConnection, mailing: &Mailing, owed: i64, why: &Delivery) -> Result<(), DbErr> {
    let short = |text: &str| text.chars().filter(|c| !c.is_control()).take(300).collect::<String>();
    let tenant_id = mailing.tenant_id;
    let claim = mailing.claim.as_str();
    let reason = match why {
        Delivery::Refused(reason) => short(reason),
        Delivery::Failed(reason) => {
            let Some(found) = mail_owed::Entity::find_by_id(owed)
                .filter(mail_owed::Column::TenantId.eq(tenant_id))
                .filter(mail_owed::Column::ClaimedBy.eq(claim))
                .one(db)
                .await?
            else {
                return Ok(());
            };
            if found.attempts < MAIL_ATTEMPTS {
                let now = crate::db::now(db).await?;
                mail_owed::Entity::update_many()
                    .col_expr(mail_owed::Column::LastError, Expr::value(short(reason)))
                    .col_expr(mail_owed::Column::ClaimedUntil, Expr::value(now + back_off(found.attempts)))
                    .col_expr(mail_owed::Column::ClaimedBy, Expr::value(Option::<String>::None))
                    .filter(mail_owed::Column::Id.eq(owed))
                    .filter(mail_owed::Column::TenantId.eq(tenant_id))
                    .filter(mail_owed::Column::ClaimedBy.eq(claim))
                    .exec(db)
                    .await?;
                return Ok(());
            }
            format!("{} (after {} attempts)", short(reason), found.attempts)
        }
    };
    settle(db, tenant_id, owed, claim, |stem| format!("{stem} not delivered: {reason}")).await?;
    Ok(())
}

/// Keeps the claim of `mailing` on the messages `owed` still to send, and
/// says which of them it still holds: a sender whose claim lapsed (it stalled,
/// or waited its turn behind other mailings) sends none of those another
/// worker has taken since.
pub async fn extend_mail_claim(db: &DatabaseConnection, mailing: &Mailing, owed: &[i64]) -> Result<Vec<i64>, DbErr> {
    if owed.is_empty() {
        return Ok(Vec::new());
    }
    let now = crate::db::now(db).await?;
    let ours = || {
        sea_orm::Condition::all()
            .add(mail_owed::Column::TenantId.eq(mailing.tenant_id))
            .add(mail_owed::Column::ClaimedBy.eq(mailing.claim.as_str()))
            .add(bulk::one_of(db.get_database_backend(), mail_owed::Column::Id, owed.to_vec()))
    };
    mail_owed::Entity::update_many()
        .col_expr(mail_owed::Column::ClaimedUntil, Expr::value(now + MAIL_CLAIM))
        .filter(ours())
        .exec(db)
        .await?;
    mail_owed::Entity::find().select_only().column(mail_owed::Column::Id).filter(ours()).into_tuple().all(db).await
}

/// Mail owed whose claim runs out within `ahead` of now (by the database's
/// clock; zero: has run out — its sender died, or its back-off is over), at
/// most `limit` messages, claimed for [`MAIL_CLAIM`] and grouped by
/// tenant. Only hashes are kept, so each user gets new credentials: an unused
/// invitation a new token and a new expiry, a password a new password. A user
/// who has signed in or set a password since has what they were sent (or
/// better), and is owed nothing more. The caller sends each message and says
/// [`mail_sent`] or [`mail_failed`].
pub async fn claim_unsent_mail(
    db: &DatabaseConnection,
    ahead: chrono::Duration,
    limit: u64,
) -> Result<Vec<Mailing>, DbErr> {
    let now = crate::db::now(db).await?;
    // A century at most: a test asks for "everything owed" with a long look ahead.
    let due = now + ahead.min(chrono::Duration::days(36_500));
    let owed = mail_owed::Entity::find()
        .filter(mail_owed::Column::ClaimedUntil.lte(due))
        .order_by_asc(mail_owed::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let mut mailings: Vec<Mailing> = Vec::new();
    for mark in owed {
        // A message begun MAIL_ATTEMPTS times (its senders failed, or died,
        // each time) is given up: its row says so.
        if mark.attempts >= MAIL_ATTEMPTS {
            let last = mark.last_error.clone().unwrap_or_else(|| "its sender stopped each time".into());
            let reason = format!("{last} (after {} attempts)", mark.attempts);
            give_up(db, &mark, due, &reason).await?;
            continue;
        }
        let claim = claim_token();
        // Claimed only if nobody claimed it since it was read.
        let claimed = mail_owed::Entity::update_many()
            .col_expr(mail_owed::Column::ClaimedUntil, Expr::value(due + MAIL_CLAIM))
            .col_expr(mail_owed::Column::ClaimedBy, Expr::value(claim.clone()))
            .col_expr(mail_owed::Column::Attempts, Expr::col(mail_owed::Column::Attempts).add(1))
            .filter(mail_owed::Column::Id.eq(mark.id))
            .filter(mail_owed::Column::ClaimedUntil.lte(due))
            .exec(db)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let outgoing = match renew(db, &mark, now).await? {
            Renewed::Send(outgoing) => outgoing,
            Renewed::Used => {
                settle(db, mark.tenant_id, mark.id, &claim, |stem| format!("{stem} used")).await?;
                continue;
            }
            Renewed::UserGone => {
                let gone = |stem: &str| format!("{stem} not sent: the user was deleted");
                settle(db, mark.tenant_id, mark.id, &claim, gone).await?;
                continue;
            }
        };
        let message = Message { owed: mark.id, outgoing };
        // One mailing per message: each its own claim, held by one sender.
        mailings.push(Mailing { tenant_id: mark.tenant_id, claim, messages: vec![message] });
    }
    Ok(mailings)
}

/// Ends a message owed too many times over, claiming it first so that no
/// other worker takes it meanwhile.
async fn give_up(
    db: &DatabaseConnection,
    mark: &mail_owed::Model,
    due: DateTime<Utc>,
    reason: &str,
) -> Result<(), DbErr> {
    let claim = claim_token();
    let claimed = mail_owed::Entity::update_many()
        .col_expr(mail_owed::Column::ClaimedUntil, Expr::value(due + MAIL_CLAIM))
        .col_expr(mail_owed::Column::ClaimedBy, Expr::value(claim.clone()))
        .filter(mail_owed::Column::Id.eq(mark.id))
        .filter(mail_owed::Column::ClaimedUntil.lte(due))
        .exec(db)
        .await?;
    if claimed.rows_affected == 1 {
        settle(db, mark.tenant_id, mark.id, &claim, |stem| format!("{stem} not delivered: {reason}")).await?;
    }
    Ok(())
}

/// New credentials for the user a message is owed to, as the message that
/// carries them; none when the user has signed in or set a password since.
async fn renew(db: &DatabaseConnection, mark: &mail_owed::Model, now: DateTime<Utc>) -> Result<Renewed, DbErr> {
    let Some(user_id) = mark.user_id else { return Ok(Renewed::UserGone) };
    let Some(u) = user::Entity::find_by_id(user_id).filter(user::Column::TenantId.eq(mark.tenant_id)).one(db).await?
    else {
        return Ok(Renewed::UserGone);
    };
    if u.last_sign_in_at.is_some() || u.password_changed_at.is_some() {
        return Ok(Renewed::Used);
    }
    let name = u.first_name.clone().or(u.last_name.clone()).unwrap_or_default();
    let untouched = || {
        sea_orm::Condition::all()
            .add(user::Column::LastSignInAt.is_null())
            .add(user::Column::PasswordChangedAt.is_null())
    };
    if mark.kind == KIND_PASSWORD {
        let password = passwords::generate();
        let hash = passwords::hash(password.clone()).await;
        let renewed = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash))
            .filter(user::Column::TenantId.eq(mark.tenant_id))
            .filter(user::Column::Id.eq(u.id))
            .filter(untouched())
            .exec(db)
            .await?;
        return Ok(match renewed.rows_affected {
            1 => Renewed::Send(Outgoing::Password { email: u.email, name, user_id: u.user_id, password }),
            _ => Renewed::Used,
        });
    }
    let token = tokens::generate_link();
    let unused = || {
        sea_orm::Condition::all()
            .add(invitation::Column::TenantId.eq(mark.tenant_id))
            .add(invitation::Column::UserId.eq(u.id))
            .add(invitation::Column::UsedAt.is_null())
    };
    let txn = crate::db::begin_write(db).await?;
    let mut query = invitation::Entity::find()
        .select_only()
        .column(invitation::Column::Id)
        .filter(unused())
        .order_by_asc(invitation::Column::Id);
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // Locked in the order of their ids, so that two renewals for one user
        // wait for each other instead of deadlocking. (SQLite's write
        // transaction holds the whole database already.)
        query = query.lock(sea_orm::sea_query::LockType::Update);
    }
    let ids: Vec<i64> = query.into_tuple().all(&txn).await?;
    let Some(&newest) = ids.last() else {
        return Ok(Renewed::Used);
    };
    // One link a user: the newest unused one gets the new key (each key is
    // unique, so it cannot go to two), the others stop working with it.
    invitation::Entity::delete_many().filter(unused()).filter(invitation::Column::Id.ne(newest)).exec(&txn).await?;
    // Valid for as long from now as the first was from its mail; still unused
    // (on PostgreSQL an accept may have come between the read and here).
    let renewed = invitation::Entity::update_many()
        .col_expr(invitation::Column::TokenHash, Expr::value(tokens::link_key(&token)))
        .col_expr(invitation::Column::ExpiresAt, Expr::value(now + chrono::Duration::days(INVITATION_DAYS)))
        .filter(unused())
        .filter(invitation::Column::Id.eq(newest))
        .exec(&txn)
        .await?;
    if renewed.rows_affected == 0 {
        return Ok(Renewed::Used);
    }
    txn.commit().await?;
    Ok(Renewed::Send(Outgoing::Invitation { email: u.email, name, user_id: u.user_id, token }))
}

/// What renewing a message's credentials came to.
enum Renewed {
    Send(Outgoing),
    /// The user signed in or set a password since: they have what they need.
    Used,
    /// The user was deleted since.
    UserGone,
}
