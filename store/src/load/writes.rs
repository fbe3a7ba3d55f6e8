//! What a batch writes, gathered row by row and written at the end in a few
//! multi-row statements: one per kind of change, never one per row.
use super::mail::{owe, Owing};
use super::results::{RowResult, INVITATION_QUEUED, PASSWORD_QUEUED};
use super::tables::{audit, new_user_row, Actor, AUDIT_COLUMNS, INVITATION_COLUMNS, USER_COLUMNS};
use super::{Credentials, LoadOptions, Mailing, Outgoing, INVITATION_DAYS};
use crate::bulk::{self, CopyTo, Kind};
use crate::entity::user::UserState;
use crate::entity::{upload_row, user};
use crate::memberships::{self, Kind as Membership};
use crate::{passwords, tokens};
use chrono::{DateTime, Utc};
use muster_import::{RowStatus, UserRow};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::HashMap;

/// A user the batch adds.
pub(super) struct NewUser<'b> {
    /// The row's place in the batch (and in its results).
    pub(super) at: usize,
    pub(super) row: &'b UserRow,
    pub(super) organisation_id: Option<i64>,
    /// The file's password, or one generated; none for an invitation.
    pub(super) credential: Option<Credential>,
    pub(super) roles: Vec<i64>,
    pub(super) groups: Vec<i64>,
}

#[derive(Default)]
pub(super) struct Writes<'b> {
    /// Users a sync marks as leavers.
    pub(super) leavers: Vec<i64>,
    pub(super) deleted: Vec<i64>,
    /// Updates of existing users, grouped by the columns they set: the first is
    /// the user's id.
    pub(super) updates: HashMap<Vec<(&'static str, Kind)>, Vec<bulk::Row>>,
    /// Users whose roles or groups become exactly these.
    pub(super) memberships: Vec<(Membership, i64, Vec<i64>)>,
    pub(super) new_users: Vec<NewUser<'b>>,
    pub(super) audits: Vec<bulk::Row>,
}

impl Writes<'_> {
    /// Writes it all, in the batch's transaction; the new users' results say
    /// what they got, and the mail for them is returned, owed in the same
    /// transaction, to send once committed. Everything is written in the
    /// actor's tenant, the load's.
    pub(super) async fn write<C: CopyTo>(
        mut self,
        db: &C,
        options: &LoadOptions,
        actor: &Actor,
        results: &mut [RowResult],
        now: DateTime<Utc>,
    ) -> Result<Mailing, DbErr> {
        let tenant_id = actor.tenant_id;
        if !self.leavers.is_empty() {
            user::Entity::update_many()
                .col_expr(user::Column::State, Expr::value(UserState::Leaver))
                .col_expr(user::Column::UpdatedAt, Expr::value(now))
                .filter(user::Column::TenantId.eq(tenant_id))
                .filter(bulk::one_of(db.get_database_backend(), user::Column::Id, self.leavers.clone()))
                .exec(db)
                .await?;
        }
        if !self.deleted.is_empty() {
            user::Entity::delete_many()
                .filter(user::Column::TenantId.eq(tenant_id))
                .filter(bulk::one_of(db.get_database_backend(), user::Column::Id, self.deleted.clone()))
                .exec(db)
                .await?;
        }
        for (columns, rows) in std::mem::take(&mut self.updates) {
            let queued = rows.len() as u64;
            // The users were read in this transaction; one gone since is a conflict
            // this batch must not report as "Updated": it rolls back and is redone.
            if bulk::update_by_id(db, "users", &columns, rows, tenant_id, "true").await? != queued {
                return Err(DbErr::Custom("a user changed while the batch was applied; the batch is retried".into()));
            }
        }
        for kind in Membership::ALL {
            let sets = self.memberships.iter().filter(|(k, _, _)| *k == kind);
            let users: Vec<i64> = sets.clone().map(|(_, user, _)| *user).collect();
            let pairs: Vec<(i64, i64)> = sets.flat_map(|(_, user, ids)| ids.iter().map(|id| (*user, *id))).collect();
            memberships::replace(db, tenant_id, kind, &users, &pairs).await?;
        }
        let outgoing = self.add_users(db, options, actor, results, now).await?;
        bulk::write(db, "audit_events", AUDIT_COLUMNS, self.audits).await?;
        Ok(outgoing)
    }

    /// Inserts the new users with their memberships and invitations, and says in
    /// each one's result what they got; the mail they are owed is marked so.
    async fn add_users<C: CopyTo>(
        &mut self,
        db: &C,
        options: &LoadOptions,
        actor: &Actor,
        results: &mut [RowResult],
        now: DateTime<Utc>,
    ) -> Result<Mailing, DbErr> {
        let tenant_id = actor.tenant_id;
        if self.new_users.is_empty() {
            return owe(db, actor, Vec::new()).await;
        }
        let ids = insert_users(db, tenant_id, &self.new_users, now).await?;
        let mut owing = Vec::new();
        let (mut members, mut invitations) = ((Vec::new(), Vec::new()), Vec::new());
        for (u, id) in self.new_users.iter().zip(ids) {
            let shown = u.row.user_id.as_ref().map(|u| u.to_string()).unwrap_or_default();
            self.audits.push(audit(actor, "user.create", "user", Some(id), &shown, None));
            members.0.extend(u.roles.iter().map(|role| (id, *role)));
            members.1.extend(u.groups.iter().map(|group| (id, *group)));
            let mut welcome = Welcome { tenant_id, now, invitations: &mut invitations, owing: &mut owing };
            results[u.at].text = welcome.of(u, id, shown, results[u.at].id, options);
        }
        memberships::add(db, tenant_id, Membership::Roles, &members.0).await?;
        memberships::add(db, tenant_id, Membership::Groups, &members.1).await?;
        bulk::write(db, "invitations", INVITATION_COLUMNS, invitations).await?;
        owe(db, actor, owing).await
    }
}

/// Inserts the users; returns their new ids in their order.
async fn insert_users<C: CopyTo>(
    db: &C,
    tenant_id: i64,
    new_users: &[NewUser<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, DbErr> {
    let rows = new_users
        .iter()
        .map(|u| {
            let hash = u.credential.as_ref().map(|c| c.hash.as_str());
            new_user_row(tenant_id, u.row, u.organisation_id, hash, now)
        })
        .collect();
    bulk::write_with_ids(db, "users", USER_COLUMNS, rows, "user_id_norm").await
}

/// How new users are let in: an invitation or a password, the mail that
/// brings it, owed.
struct Welcome<'w> {
    tenant_id: i64,
    now: DateTime<Utc>,
    invitations: &'w mut Vec<bulk::Row>,
    owing: &'w mut Vec<Owing>,
}

impl Welcome<'_> {
    /// Gives new user `u`, now `id`, its invitation (none with a password) and
    /// owes its mail unless it is held back; returns its row's result
    /// (`row_id`'s) saying what it got.
    fn of(&mut self, u: &NewUser<'_>, id: i64, shown: String, row_id: i64, options: &LoadOptions) -> String {
        let row = u.row;
        // Mail kept back by the upload, or by the row's notifyIfNewUser false.
        let held_back = if !options.notify_new_users {
            Some("this upload notifies no new users")
        } else if row.notify_if_new_user == Some(false) {
            Some("notifyIfNewUser is false")
        } else {
            None
        };
        let email = || row.email.as_ref().map(|e| e.to_string()).unwrap_or_default();
        let name = || row.first_name.clone().or(row.last_name.clone()).unwrap_or_default();
        match (u.credential.as_ref().map(|c| &c.password), options.credentials) {
            (None, _) => {
                let token = tokens::generate_link();
                self.invitations.push(
                    bulk::Row::with_capacity(INVITATION_COLUMNS.len())
                        .int(self.tenant_id)
                        .int(id)
                        .text(Some(&tokens::link_key(&token)))
                        .time(Some(self.now + chrono::Duration::days(INVITATION_DAYS)))
                        .time(Some(self.now)),
                );
                match held_back {
                    None => {
                        let outgoing = Outgoing::Invitation { email: email(), name: name(), user_id: shown, token };
                        self.owing.push(Owing { row: row_id, user: id, outgoing });
                        INVITATION_QUEUED.to_owned()
                    }
                    Some(why) => format!("Added; invitation created (not sent: {why})"),
                }
            }
            (Some(password), Credentials::GeneratePassword { email: true }) if held_back.is_none() => {
                let outgoing =
                    Outgoing::Password { email: email(), name: name(), user_id: shown, password: password.clone() };
                self.owing.push(Owing { row: row_id, user: id, outgoing });
                PASSWORD_QUEUED.to_owned()
            }
            (Some(_), Credentials::GeneratePassword { email: true }) => {
                format!("Added; password set (not sent: {})", held_back.unwrap_or_default())
            }
            (Some(_), Credentials::GeneratePassword { email: false }) if row.password.is_none() => {
                "Added; password generated (not sent)".to_owned()
            }
            (Some(_), _) => "Added".to_owned(),
        }
    }
}

/// A new user's password (the file's, or one generated) and its Argon2 hash.
pub(super) struct Credential {
    pub(super) password: String,
    pub(super) hash: String,
}

/// The credentials of the users a batch adds, by row position, made before its
/// transaction begins: a thousand Argon2 hashes take seconds, which inside it
/// would hold SQLite's one write lock (every sign-in waiting for it) and, on
/// PostgreSQL, the locks on the users the batch read. A row that turns out
/// not to be added (its key was taken since the preview) wasted a hash.
pub(super) async fn credentials_for(
    rows: &[upload_row::Model],
    parsed: &[Option<UserRow>],
    credentials: Credentials,
) -> HashMap<usize, Credential> {
    let new = RowStatus::New.as_str();
    let work = rows
        .iter()
        .zip(parsed)
        .enumerate()
        .filter(|(_, (r, _))| r.selected && r.status == new)
        .filter_map(|(at, (_, row))| match (&row.as_ref()?.password, credentials) {
            (Some(password), _) => Some((at, password.clone())),
            (None, Credentials::GeneratePassword { .. }) => Some((at, passwords::generate())),
            (None, Credentials::Invite) => None,
        })
        .collect();
    hash_all(work).await.into_iter().collect()
}

/// Argon2 hashes (19 MiB and ~30 ms each), as many at once as there are
/// cores, each taking its turn at the hashing slots the sign-ins use
/// (`passwords::hash`): a sign-in waits behind one hash per core of a load,
/// not behind the load's thousand.
async fn hash_all(work: Vec<(usize, String)>) -> Vec<(usize, Credential)> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(1);
    let per_thread = work.len().div_ceil(threads).max(1);
    let mut handles = Vec::new();
    let mut work = work.into_iter().peekable();
    while work.peek().is_some() {
        let chunk: Vec<(usize, String)> = work.by_ref().take(per_thread).collect();
        handles.push(tokio::spawn(async move {
            let mut hashed = Vec::with_capacity(chunk.len());
            for (at, password) in chunk {
                let hash = passwords::hash(password.clone()).await;
                hashed.push((at, Credential { password, hash }));
            }
            hashed
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.extend(h.await.expect("hashing task"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_load_s_hashes_wait_their_turn_at_the_slots_sign_in_uses() {
        let held = passwords::hold_every_slot().await;
        let work = (0..4).map(|at| (at, format!("password {at}"))).collect();
        let hashing = tokio::spawn(hash_all(work));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!hashing.is_finished(), "the load hashed while every slot was taken");
        drop(held);
        let hashed = hashing.await.unwrap();
        assert_eq!(hashed.len(), 4);
        assert!(hashed.iter().all(|(at, c)| passwords::verify_blocking(&format!("password {at}"), &c.hash)));
    }
}
