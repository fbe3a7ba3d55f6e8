//! One storage conformance suite, run unchanged on SQLite and on PostgreSQL.
use chrono::{DateTime, Utc};
use muster_store::auth::{sign_in, AuthError, Principal};
use muster_store::bulk::{self, Kind};
use muster_store::entity::user::UserState;
use muster_store::entity::{session, user};
use muster_store::testdb::{self, on_every_backend};
use muster_store::{bootstrap, sessions, tenants, tokens};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};

/// Where the conformance tests sign in from.
const CLIENT: &str = "192.0.2.1";

fn user_row(tenant_id: i64, user_id: &str, email: &str, external_id: Option<&str>) -> user::ActiveModel {
    let mut user = testdb::user(tenant_id, user_id, email);
    user.external_id = Set(external_id.map(Into::into));
    user.external_id_norm = Set(external_id.map(muster_import::normalize_key));
    user
}

#[tokio::test]
async fn first_run_creates_accounts_once_and_they_sign_in() {
    on_every_backend(|db, backend| async move {
        let first = bootstrap::ensure_first_run(&db).await.unwrap().expect("first run on an empty database");
        assert!(bootstrap::ensure_first_run(&db).await.unwrap().is_none(), "{backend:?}: only once");

        let admin = sign_in(&db, "demo", "admin", &first.demo().password, CLIENT).await.unwrap();
        assert!(matches!(&admin, Principal::TenantUser { is_admin: true, tenant_slug, .. } if tenant_slug == "demo"));
        // Matching ignores case and surrounding spaces, and the email works as login.
        let by_email =
            sign_in(&db, " DEMO ", " Admin@Demo.Muster.Invalid ", &first.demo().password, CLIENT).await.unwrap();
        assert_eq!(by_email, admin);

        let platform = sign_in(&db, "", &first.platform_username, &first.platform_password, CLIENT).await.unwrap();
        assert!(matches!(platform, Principal::PlatformAdmin { .. }));

        // A userId spelled as another user's email: that login is the userId's.
        let &Principal::TenantUser { tenant_id, .. } = &admin else { unreachable!() };
        let mut lookalike = testdb::user(tenant_id, "admin@demo.muster.invalid", "someone@else.invalid");
        lookalike.password_hash = Set(Some(muster_store::passwords::hash_blocking("other pass 7")));
        lookalike.insert(&db).await.unwrap();
        let login = "Admin@Demo.Muster.Invalid";
        let theirs = sign_in(&db, "demo", login, "other pass 7", CLIENT).await.unwrap();
        assert!(matches!(&theirs, Principal::TenantUser { is_admin: false, .. }), "{backend:?}: {theirs:?}");
        let refused = sign_in(&db, "demo", login, &first.demo().password, CLIENT).await;
        assert!(matches!(refused, Err(AuthError::BadCredentials)), "{backend:?}: the userId's owner only");
        assert_eq!(sign_in(&db, "demo", "admin", &first.demo().password, CLIENT).await.unwrap(), admin);

        for (tenant, login, password) in [
            ("demo", "admin", "wrong"),
            ("demo", "nobody", first.demo().password.as_str()),
            ("other", "admin", first.demo().password.as_str()),
            ("", "admin", first.demo().password.as_str()),
            ("demo", first.platform_username.as_str(), first.platform_password.as_str()),
            ("demo", "", ""),
        ] {
            let refused = sign_in(&db, tenant, login, password, CLIENT).await;
            assert!(matches!(refused, Err(AuthError::BadCredentials)), "{backend:?} {tenant}/{login}: {refused:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn sessions_live_expire_and_end_with_the_account() {
    on_every_backend(|db, backend| async move {
        let first = bootstrap::ensure_first_run(&db).await.unwrap().unwrap();
        let admin = sign_in(&db, "demo", "admin", &first.demo().password, CLIENT).await.unwrap();

        let token = sessions::create(&db, &admin).await.unwrap();
        assert_eq!(sessions::find(&db, &token).await.unwrap().as_ref(), Some(&admin), "{backend:?}");
        assert_eq!(sessions::find(&db, "forged").await.unwrap(), None);
        // Only the digest is stored.
        assert!(session::Entity::find_by_id(token.clone()).one(&db).await.unwrap().is_none());
        assert!(session::Entity::find_by_id(tokens::digest(&token)).one(&db).await.unwrap().is_some());

        sessions::delete(&db, &token).await.unwrap();
        assert_eq!(sessions::find(&db, &token).await.unwrap(), None);

        let expired = sessions::create(&db, &admin).await.unwrap();
        let mut row =
            session::Entity::find_by_id(tokens::digest(&expired)).one(&db).await.unwrap().unwrap().into_active_model();
        row.expires_at = Set(Utc::now() - chrono::Duration::minutes(1));
        row.update(&db).await.unwrap();
        assert_eq!(sessions::find(&db, &expired).await.unwrap(), None, "{backend:?}: expired");

        let live = sessions::create(&db, &admin).await.unwrap();
        let account =
            user::Entity::find().filter(user::Column::UserIdNorm.eq("admin")).one(&db).await.unwrap().unwrap();
        let mut disabled = account.into_active_model();
        disabled.enabled = Set(false);
        disabled.update(&db).await.unwrap();
        assert_eq!(sessions::find(&db, &live).await.unwrap(), None, "{backend:?}: a disabled account is signed out");
    })
    .await;
}

#[tokio::test]
async fn keys_are_unique_per_tenant_ignoring_case() {
    on_every_backend(|db, backend| async move {
        let a = tenants::create_tenant(&db, "a", "A", None).await.unwrap();
        let b = tenants::create_tenant(&db, "b", "B", Some(10)).await.unwrap();
        assert!(tenants::create_tenant(&db, "a", "A again", None).await.is_err(), "{backend:?}: slug unique");

        user_row(a.id, "Pat", "pat@a.example", None).insert(&db).await.unwrap();
        user_row(a.id, "Sam", "sam@a.example", None).insert(&db).await.unwrap();
        assert!(user_row(a.id, "PAT", "other@a.example", None).insert(&db).await.is_err(), "{backend:?}: userId");
        assert!(user_row(a.id, "kim", "PAT@A.example", None).insert(&db).await.is_err(), "{backend:?}: email");
        // The same keys in another tenant are a different user.
        user_row(b.id, "pat", "pat@a.example", None).insert(&db).await.unwrap();

        user_row(a.id, "x1", "x1@a.example", Some("E-1")).insert(&db).await.unwrap();
        assert!(
            user_row(a.id, "x2", "x2@a.example", Some("e-1")).insert(&db).await.is_err(),
            "{backend:?}: externalId"
        );
        user_row(b.id, "x2", "x2@a.example", Some("E-1")).insert(&db).await.unwrap();

        let in_a = user::Entity::find().filter(user::Column::TenantId.eq(a.id)).all(&db).await.unwrap();
        assert_eq!(in_a.len(), 3);
        assert!(in_a.iter().all(|u| u.tenant_id == a.id));
    })
    .await;
}

#[tokio::test]
async fn tenant_admins_need_valid_keys() {
    on_every_backend(|db, _| async move {
        let t = tenants::create_tenant(&db, "t", "T", None).await.unwrap();
        let bad = tenants::create_tenant_admin(
            &db,
            t.id,
            tenants::NewAdmin {
                user_id: "no spaces",
                email: "x@t.example",
                first_name: "",
                last_name: "",
                password: "pw",
                must_change_password: false,
            },
        )
        .await;
        assert_eq!(
            bad.unwrap_err().to_string(),
            "userId contains ' '; only letters A-Z, digits, '.', '_', '@' and '-' are allowed"
        );
        assert!(tenants::create_tenant(&db, "Bad Slug", "x", None).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn an_invitation_sets_a_password_once_before_it_expires() {
    use muster_store::entity::{audit_event, invitation};
    use muster_store::invitations::{self, InvitationError};
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "acme", "Acme Health", None).await.unwrap();
        let mut pat = testdb::user(t.id, "pat", "pat@example.com");
        pat.first_name = Set(Some("Pat".into()));
        pat.change_password_next_time = Set(true);
        let pat = pat.insert(&db).await.unwrap();
        let sam = testdb::user(t.id, "sam", "sam@example.com").insert(&db).await.unwrap();
        let (link, second_link, old_link) = (tokens::generate_link(), tokens::generate_link(), tokens::generate_link());
        invitations::create(&db, t.id, pat.id, &tokens::link_key(&link), 7).await.unwrap();
        invitations::create(&db, t.id, pat.id, &tokens::link_key(&second_link), 7).await.unwrap();
        invitations::create(&db, t.id, sam.id, &tokens::link_key(&old_link), -1).await.unwrap();
        let good = "correct horse 42";

        let opened = invitations::open(&db, &link).await.unwrap();
        assert_eq!((opened.user_id.as_str(), opened.tenant_name.as_str()), ("pat", "Acme Health"));
        assert_eq!(opened.first_name.as_deref(), Some("Pat"));
        let weak = invitations::accept(&db, &link, "password").await;
        assert!(matches!(&weak, Err(InvitationError::WeakPassword(why)) if why.contains("10 characters")), "{weak:?}");
        let expired = invitations::accept(&db, &old_link, good).await;
        assert!(matches!(expired, Err(InvitationError::Expired(_))), "{backend:?}: {expired:?}");
        // A user who left after the mail went out gets no password from it.
        let mut lou = testdb::user(t.id, "lou", "lou@example.com");
        lou.state = Set(UserState::Leaver);
        let lou = lou.insert(&db).await.unwrap();
        // (A link made before links carried their time: stored as its whole digest, it opens too.)
        let lou_link = tokens::generate();
        invitations::create(&db, t.id, lou.id, &tokens::digest(&lou_link), 7).await.unwrap();
        assert!(matches!(invitations::accept(&db, &lou_link, good).await, Err(InvitationError::Inactive)));
        let lou = user::Entity::find_by_id(lou.id).one(&db).await.unwrap().unwrap();
        assert!(lou.password_hash.is_none(), "{backend:?}");
        assert!(matches!(invitations::accept(&db, "not-a-token", good).await, Err(InvitationError::Unknown)));
        // Nothing was spent by the refusals.
        assert_eq!(invitations::open(&db, &link).await.unwrap(), opened);

        // The same link twice at once (a double click): one sets the password.
        let (a, b) =
            tokio::join!(invitations::accept(&db, &link, good), invitations::accept(&db, &link, "other pass 7"));
        let (set, refused): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(Result::is_ok);
        assert_eq!(set.len(), 1, "{backend:?}: {refused:?}");
        assert!(matches!(refused[..], [Err(InvitationError::Used)]), "{backend:?}: {refused:?}");

        let pat = user::Entity::find_by_id(pat.id).one(&db).await.unwrap().unwrap();
        let hash = pat.password_hash.clone().expect("a password is set");
        assert!(
            muster_store::passwords::verify_blocking(good, &hash)
                || muster_store::passwords::verify_blocking("other pass 7", &hash)
        );
        assert!(!pat.change_password_next_time, "the password was just chosen");
        for spent in [&link, &second_link] {
            assert!(matches!(invitations::open(&db, spent).await, Err(InvitationError::Used)), "{backend:?}");
        }
        let sam_links = invitation::Entity::find()
            .filter(invitation::Column::UserId.eq(sam.id))
            .filter(invitation::Column::UsedAt.is_null())
            .all(&db)
            .await
            .unwrap();
        assert_eq!(sam_links.len(), 1, "another user's link is untouched");
        let events = audit_event::Entity::find()
            .filter(audit_event::Column::Action.eq("user.password_set"))
            .filter(audit_event::Column::TargetId.eq(pat.id))
            .all(&db)
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn insert_missing_skips_rows_whose_key_is_held_and_replace_sets_exactly_the_set_given() {
    use muster_store::memberships::{self, Kind as Membership};
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "m", "M", None).await.unwrap();
        let u = testdb::user(t.id, "u", "u@x.io").insert(&db).await.unwrap();
        let staff = memberships::create(&db, t.id, Membership::Roles, "Staff", "staff").await.unwrap();
        let nurse = memberships::create(&db, t.id, Membership::Roles, "Nurse", "nurse").await.unwrap();
        let columns: bulk::Columns =
            &[("tenant_id", Kind::BigInt), ("user_id", Kind::BigInt), ("role_id", Kind::BigInt)];
        let pair = |role| bulk::Row::with_capacity(3).int(t.id).int(u.id).int(role);
        let first = bulk::insert_missing(&db, "user_roles", columns, vec![pair(staff)]).await.unwrap();
        let again = bulk::insert_missing(&db, "user_roles", columns, vec![pair(staff), pair(nurse)]).await.unwrap();
        assert_eq!((first, again), (1, 1), "{backend:?}: the pair held already is skipped, the other inserted");
        memberships::replace(&db, t.id, Membership::Roles, &[u.id], &[(u.id, nurse)]).await.unwrap();
        let held = memberships::of_users(&db, t.id, Membership::Roles, &[u.id]).await.unwrap();
        assert_eq!(held, [(u.id, nurse)], "{backend:?}: exactly the set given");
    })
    .await;
}

/// A user's columns of every kind, for the bulk writes' tests.
const BULK_USER: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("user_id", Kind::Text),
    ("user_id_norm", Kind::Text),
    ("email", Kind::Text),
    ("email_norm", Kind::Text),
    ("external_id", Kind::Text),
    ("job_title", Kind::Text),
    ("state", Kind::Text),
    ("enabled", Kind::Bool),
    ("task_notification", Kind::Text),
    ("change_password_next_time", Kind::Bool),
    ("is_tenant_admin", Kind::Bool),
    ("created_at", Kind::Timestamp),
    ("updated_at", Kind::Timestamp),
];

/// A user of [`BULK_USER`]: `enabled`, and asked to change its password when not.
fn bulk_user(tenant_id: i64, id: &str, title: Option<&str>, enabled: bool, at: DateTime<Utc>) -> bulk::Row {
    bulk::Row::with_capacity(BULK_USER.len())
        .int(tenant_id)
        .text(Some(id))
        .text(Some(id))
        .text(Some(&format!("{id}@example.org")))
        .text(Some(&format!("{id}@example.org")))
        .text(None)
        .text(title)
        .text(Some("active"))
        .bool(enabled)
        .text(Some("Email"))
        .bool(!enabled)
        .bool(false)
        .time(Some(at))
        .time(Some(at))
}

/// An audit event's columns, for the bulk writes' tests.
const BULK_EVENT: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("actor", Kind::Text),
    ("action", Kind::Text),
    ("target_kind", Kind::Text),
    ("target_id", Kind::BigInt),
    ("target", Kind::Text),
    ("details", Kind::Json),
    ("created_at", Kind::Timestamp),
];

/// An event of [`BULK_EVENT`] about a user.
fn bulk_event(
    tenant_id: i64,
    action: &str,
    target: &str,
    target_id: Option<i64>,
    details: Option<serde_json::Value>,
    at: DateTime<Utc>,
) -> bulk::Row {
    bulk::Row::with_capacity(BULK_EVENT.len())
        .int(tenant_id)
        .text(Some("bench"))
        .text(Some(action))
        .text(Some("user"))
        .int(target_id)
        .text(Some(target))
        .json(details)
        .time(Some(at))
}

#[tokio::test]
async fn bulk_writes_reads_back_every_kind_of_value_and_null_alike() {
    use muster_store::entity::audit_event;
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "b", "B", None).await.unwrap();
        // Whole microseconds: PostgreSQL keeps no finer, and rounds.
        let at = chrono::DateTime::from_timestamp_micros((Utc::now() - chrono::Duration::days(3)).timestamp_micros())
            .unwrap();
        let odd = "Zoë \"Z\" O'Neil, {a,b} NULL \\ \u{1F600}";
        let row = |id: &str, title: Option<&str>, enabled: bool| bulk_user(t.id, id, title, enabled, at);
        let rows = vec![row("a", Some(odd), true), row("b", None, false), row("c", Some(""), true)];
        let inserted = bulk::insert(&db, "users", BULK_USER, rows, Some("id, user_id_norm")).await.unwrap();
        assert_eq!(inserted.len(), 3, "{backend:?}");
        let users = user::Entity::find().filter(user::Column::TenantId.eq(t.id)).all(&db).await.unwrap();
        let by = |id: &str| users.iter().find(|u| u.user_id == id).unwrap().clone();
        assert_eq!(by("a").job_title.as_deref(), Some(odd), "{backend:?}: text as given");
        assert_eq!(by("b").job_title, None, "{backend:?}: NULL stays NULL");
        assert_eq!(by("c").job_title.as_deref(), Some(""), "{backend:?}: an empty text is not NULL");
        assert_eq!(by("a").external_id, None, "{backend:?}");
        assert!(by("a").enabled && !by("a").change_password_next_time, "{backend:?}");
        assert!(!by("b").enabled && by("b").change_password_next_time, "{backend:?}");
        assert_eq!(by("b").created_at.timestamp_micros(), at.timestamp_micros(), "{backend:?}: the time as given");

        let set: bulk::Columns = &[("id", Kind::BigInt), ("job_title", Kind::Text), ("mobile", Kind::Text)];
        let changes = vec![
            bulk::Row::with_capacity(3).int(by("a").id).text(None).text(Some("+44 20 7946 0000")),
            bulk::Row::with_capacity(3).int(by("b").id).text(Some(odd)).text(None),
        ];
        let updated = bulk::update_by_id(&db, "users", set, changes, t.id, "true").await.unwrap();
        assert_eq!(updated, 2, "{backend:?}");
        let other = tenants::create_tenant(&db, "o", "O", None).await.unwrap();
        let elsewhere = vec![bulk::Row::with_capacity(3).int(by("c").id).text(Some("x")).text(None)];
        assert_eq!(bulk::update_by_id(&db, "users", set, elsewhere, other.id, "true").await.unwrap(), 0);
        let users = user::Entity::find().filter(user::Column::TenantId.eq(t.id)).all(&db).await.unwrap();
        let by = |id: &str| users.iter().find(|u| u.user_id == id).unwrap().clone();
        assert_eq!((by("a").job_title, by("a").mobile.as_deref()), (None, Some("+44 20 7946 0000")), "{backend:?}");
        assert_eq!((by("b").job_title.as_deref(), by("b").mobile), (Some(odd), None), "{backend:?}");
        assert_eq!(by("c").job_title.as_deref(), Some(""), "{backend:?}: another tenant's update touches nothing");

        let details = serde_json::json!({"jobTitle": {"from": odd, "to": null}, "n": [1, 2.5]});
        let event = |details: Option<serde_json::Value>, target: Option<i64>| {
            bulk_event(t.id, "user.update", "a", target, details, at)
        };
        let events = vec![event(Some(details.clone()), Some(by("a").id)), event(None, None)];
        bulk::insert(&db, "audit_events", BULK_EVENT, events, None).await.unwrap();
        let mut stored = audit_event::Entity::find()
            .filter(audit_event::Column::TenantId.eq(t.id))
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.target_id, e.details))
            .collect::<Vec<_>>();
        stored.sort_by_key(|(target, _)| *target);
        assert_eq!(stored, [(None, None), (Some(by("a").id), Some(details))], "{backend:?}: JSON and NULL");
    })
    .await;
}

/// SQLite takes a batch's rows in several statements (a limit of parameters
/// per statement): every row is written and counted, as on PostgreSQL.
#[tokio::test]
async fn bulk_writes_of_more_rows_than_one_statement_holds_write_and_count_each() {
    use sea_orm::PaginatorTrait;
    use std::collections::HashSet;
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "n", "N", None).await.unwrap();
        let at = Utc::now();
        let n = 1234;
        let rows = (0..n).map(|i| bulk_user(t.id, &format!("u{i}"), None, true, at)).collect();
        let inserted = bulk::insert(&db, "users", BULK_USER, rows, Some("id")).await.unwrap();
        let ids: HashSet<i64> = inserted.iter().map(|r| r.try_get::<i64>("", "id").unwrap()).collect();
        assert_eq!(ids.len(), n, "{backend:?}: an id back for each row");

        let set: bulk::Columns = &[("id", Kind::BigInt), ("job_title", Kind::Text)];
        let changes = ids.iter().map(|&id| bulk::Row::with_capacity(2).int(id).text(Some(&format!("t{id}")))).collect();
        assert_eq!(
            bulk::update_by_id(&db, "users", set, changes, t.id, "true").await.unwrap(),
            n as u64,
            "{backend:?}"
        );
        let titled = user::Entity::find()
            .filter(user::Column::TenantId.eq(t.id))
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.job_title.as_deref() == Some(format!("t{}", u.id).as_str()))
            .count();
        assert_eq!(titled, n, "{backend:?}: each row updated with its own value");

        // Half of them are there already: only the others are inserted and counted.
        let more = (n / 2..n + n / 2).map(|i| bulk_user(t.id, &format!("u{i}"), None, true, at)).collect();
        assert_eq!(bulk::insert_missing(&db, "users", BULK_USER, more).await.unwrap(), (n / 2) as u64, "{backend:?}");
        let all = user::Entity::find().filter(user::Column::TenantId.eq(t.id)).count(&db).await.unwrap();
        assert_eq!(all, (n + n / 2) as u64, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn bulk_copy_writes_what_insert_writes() {
    use muster_store::entity::audit_event;
    use sea_orm::QueryOrder;
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "c", "C", None).await.unwrap();
        let at = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
        // Each of COPY's special characters, and a line that would end its data.
        let odd = "Zoë \"Z\" O'Neil,\t{a,b} NULL \\N \\ \u{1F600}\r\n\\.\n";
        let events = |action: &str| {
            let details = serde_json::json!({"jobTitle": {"from": odd, "to": null}});
            vec![
                bulk_event(t.id, action, odd, Some(7), Some(details), at),
                bulk_event(t.id, action, "", None, None, at),
            ]
        };
        bulk::insert(&db, "audit_events", BULK_EVENT, events("insert"), None).await.unwrap();
        bulk::write(&db, "audit_events", BULK_EVENT, events("copy")).await.unwrap();
        let written = |action: &'static str| {
            let db = db.clone();
            async move {
                audit_event::Entity::find()
                    .filter(audit_event::Column::TenantId.eq(t.id))
                    .filter(audit_event::Column::Action.eq(action))
                    .order_by_asc(audit_event::Column::Id)
                    .all(&db)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.actor, e.target_id, e.target, e.details, e.created_at.timestamp_micros()))
                    .collect::<Vec<_>>()
            }
        };
        let (inserted, copied) = (written("insert").await, written("copy").await);
        assert_eq!(inserted.len(), 2, "{backend:?}");
        assert_eq!(inserted[0].2, odd, "{backend:?}: the text as given");
        assert_eq!(inserted[1].2, "", "{backend:?}: an empty text");
        assert_eq!(copied, inserted, "{backend:?}");

        // Booleans, and every other kind of a user's columns.
        let users = |how: &str| {
            [(true, Some(odd)), (false, None)]
                .into_iter()
                .enumerate()
                .map(|(n, (enabled, title))| bulk_user(t.id, &format!("{how}{n}"), title, enabled, at))
                .collect::<Vec<_>>()
        };
        bulk::insert(&db, "users", BULK_USER, users("i"), None).await.unwrap();
        bulk::write(&db, "users", BULK_USER, users("c")).await.unwrap();
        let stored = user::Entity::find()
            .filter(user::Column::TenantId.eq(t.id))
            .order_by_asc(user::Column::UserId)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|u| {
                let how = &u.user_id[..1];
                let values = (u.job_title, u.external_id, u.enabled, u.change_password_next_time, u.is_tenant_admin);
                (how.to_owned(), u.user_id[1..].to_owned(), values, u.created_at.timestamp_micros())
            })
            .collect::<Vec<_>>();
        let (copied, inserted): (Vec<_>, Vec<_>) = stored.into_iter().partition(|(how, ..)| how == "c");
        let strip = |rows: Vec<(String, String, _, i64)>| {
            rows.into_iter().map(|(_, rest, v, t)| (rest, v, t)).collect::<Vec<_>>()
        };
        let inserted = strip(inserted);
        assert_eq!(inserted[0].1, (Some(odd.to_owned()), None, true, false, false), "{backend:?}");
        assert_eq!(inserted[1].1, (None, None, false, true, false), "{backend:?}");
        assert_eq!(strip(copied), inserted, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn an_own_connection_s_transaction_copies_rows_that_see_its_writes_and_ends_as_one() {
    use muster_store::bulk::CopyTo;
    use muster_store::memberships::{self, Kind as Membership};
    use muster_store::own_connection::{OwnConnection, OwnTransaction};
    use muster_store::testdb::Backend;
    use sea_orm::QueryOrder;
    // A user and its role, the role written by COPY on PostgreSQL: from any
    // other connection, the uncommitted user would fail the role's key.
    async fn add(txn: &OwnTransaction<'_>, tenant_id: i64, role: i64, id: &str) -> i64 {
        let row = bulk_user(tenant_id, id, None, true, Utc::now());
        let inserted = bulk::insert(txn, "users", BULK_USER, vec![row], Some("id")).await.unwrap();
        let user: i64 = inserted[0].try_get("", "id").unwrap();
        memberships::add(txn, tenant_id, Membership::Roles, &[(user, role)]).await.unwrap();
        user
    }
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "own", "Own", None).await.unwrap();
        let role = memberships::create(&db, t.id, Membership::Roles, "Staff", "staff").await.unwrap();
        let mut own = OwnConnection::open(&db).await.unwrap();
        let txn = own.begin().await.unwrap();
        assert_eq!(txn.copy_pool().is_some(), backend == Backend::Postgres, "{backend:?}: COPY where it can");
        let kept = add(&txn, t.id, role, "kept").await;
        txn.commit().await.unwrap();
        let txn = own.begin().await.unwrap();
        let rolled_back = add(&txn, t.id, role, "rolled-back").await;
        txn.rollback().await.unwrap();
        // Dropped halfway (its caller gone): the next transaction does not carry it on.
        let dropped = {
            let txn = own.begin().await.unwrap();
            add(&txn, t.id, role, "dropped").await
        };
        let txn = own.begin().await.unwrap();
        let after = add(&txn, t.id, role, "after").await;
        txn.commit().await.unwrap();
        own.close().await.unwrap();

        let users = user::Entity::find().filter(user::Column::TenantId.eq(t.id)).order_by_asc(user::Column::Id);
        let users: Vec<(i64, String)> = users.all(&db).await.unwrap().into_iter().map(|u| (u.id, u.user_id)).collect();
        assert_eq!(users, [(kept, "kept".to_owned()), (after, "after".to_owned())], "{backend:?}");
        let mut roles =
            memberships::of_users(&db, t.id, Membership::Roles, &[kept, rolled_back, dropped, after]).await.unwrap();
        roles.sort();
        assert_eq!(roles, [(kept, role), (after, role)], "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn an_own_transaction_s_writes_behind_keep_their_order_and_one_that_fails_fails_the_commit() {
    use muster_store::memberships::{self, Kind as Membership};
    use muster_store::own_connection::OwnConnection;
    use sea_orm::{ConnectionTrait, QueryOrder};
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "behind", "Behind", None).await.unwrap();
        let role = memberships::create(&db, t.id, Membership::Roles, "Staff", "staff").await.unwrap();
        let users = |names: &[&str]| names.iter().map(|n| bulk_user(t.id, n, None, true, Utc::now())).collect();
        // The last id given out, then deleted: ids are not given out twice.
        let gone = bulk::write_with_ids(&db, "users", BULK_USER, users(&["gone"]), "user_id_norm").await.unwrap();
        user::Entity::delete_by_id(gone[0]).exec(&db).await.unwrap();

        let mut own = OwnConnection::open(&db).await.unwrap();
        let txn = own.begin().await.unwrap();
        let ids = bulk::write_with_ids(&txn, "users", BULK_USER, users(&["b2", "b0", "b1"]), "user_id_norm").await;
        let ids = ids.unwrap();
        assert!(ids.iter().all(|id| *id > gone[0]), "{backend:?}: {ids:?} after {gone:?}");
        // Written behind the users, in order: each membership's user is there.
        let pairs: Vec<(i64, i64)> = ids.iter().map(|id| (*id, role)).collect();
        memberships::add(&txn, t.id, Membership::Roles, &pairs).await.unwrap();
        let seen = memberships::of_users(&txn, t.id, Membership::Roles, &ids).await.unwrap();
        assert_eq!(seen.len(), 3, "{backend:?}: the transaction sees what was written behind");
        txn.commit().await.unwrap();
        let later = bulk::write_with_ids(&db, "users", BULK_USER, users(&["later"]), "user_id_norm").await.unwrap();
        assert!(later[0] > ids[2], "{backend:?}: {later:?} after {ids:?}");
        let stored = user::Entity::find().filter(user::Column::TenantId.eq(t.id)).order_by_asc(user::Column::Id);
        let stored: Vec<(i64, String)> =
            stored.all(&db).await.unwrap().into_iter().map(|u| (u.id, u.user_id)).collect();
        let named = ids.iter().zip(["b2", "b0", "b1"]).map(|(id, n)| (*id, n.to_owned()));
        let expected: Vec<(i64, String)> = named.chain([(later[0], "later".to_owned())]).collect();
        assert_eq!(stored, expected, "{backend:?}");

        // A membership of a role that does not exist. On SQLite it is handed
        // over and fails behind: the next statement says so, and so does
        // every use after it. On PostgreSQL (no writes behind) it fails at once.
        let txn = own.begin().await.unwrap();
        let ids = bulk::write_with_ids(&txn, "users", BULK_USER, users(&["f0", "f1"]), "user_id_norm").await.unwrap();
        let no_role = role + 1000;
        let added = memberships::add(&txn, t.id, Membership::Roles, &[(ids[0], role), (ids[1], no_role)]).await;
        if backend == testdb::Backend::Sqlite {
            assert!(added.is_ok(), "{added:?}");
            let next = txn.execute_unprepared("SELECT 1").await.map(|_| ());
            assert!(next.as_ref().is_err_and(|e| e.to_string().contains("FOREIGN KEY")), "{next:?}");
            let committed = txn.commit().await;
            assert_eq!(format!("{committed:?}"), format!("{next:?}"), "the commit fails with the write's error");
        } else {
            assert!(added.is_err(), "{added:?}");
            txn.rollback().await.unwrap();
        }
        // A failed write's transaction rolls back when asked to.
        let txn = own.begin().await.unwrap();
        bulk::write_with_ids(&txn, "users", BULK_USER, users(&["r0"]), "user_id_norm").await.unwrap();
        let added = memberships::add(&txn, t.id, Membership::Roles, &[(ids[1], no_role)]).await;
        assert_eq!(added.is_ok(), backend == testdb::Backend::Sqlite, "{backend:?}: {added:?}");
        txn.rollback().await.unwrap();
        // The connection carries on, those transactions rolled back whole.
        let txn = own.begin().await.unwrap();
        bulk::write_with_ids(&txn, "users", BULK_USER, users(&["f2"]), "user_id_norm").await.unwrap();
        txn.commit().await.unwrap();
        own.close().await.unwrap();
        let names = user::Entity::find().filter(user::Column::TenantId.eq(t.id)).all(&db).await.unwrap();
        let mut names: Vec<String> = names.into_iter().map(|u| u.user_id).collect();
        names.sort();
        assert_eq!(names, ["b0", "b1", "b2", "f2", "later"], "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn bulk_writes_with_ids_give_each_row_its_own_in_order() {
    use muster_store::entity::audit_event;
    use sea_orm::DbErr;
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "ids", "Ids", None).await.unwrap();
        let names = ["w2", "w0", "w1"];
        let rows = names.iter().map(|n| bulk_user(t.id, n, None, true, Utc::now())).collect();
        let ids = bulk::write_with_ids(&db, "users", BULK_USER, rows, "user_id_norm").await.unwrap();
        // A user added after them the usual way takes an id none of them has.
        let later = bulk_user(t.id, "later", None, true, Utc::now());
        bulk::insert(&db, "users", BULK_USER, vec![later], None).await.unwrap();

        let stored = user::Entity::find().filter(user::Column::TenantId.eq(t.id)).all(&db).await.unwrap();
        let id_of = |name: &str| stored.iter().find(|u| u.user_id == name).map(|u| u.id);
        let expected: Vec<Option<i64>> = names.iter().map(|n| id_of(n)).collect();
        assert_eq!(ids.iter().copied().map(Some).collect::<Vec<_>>(), expected, "{backend:?}");
        assert_eq!(stored.len(), 4, "{backend:?}");

        // By a numeric key (owed mail's is its row's id): audit events by their target.
        let events = [9, 3, 5].map(|target| bulk_event(t.id, "ids", "x", Some(target), None, Utc::now()));
        let ids = bulk::write_with_ids(&db, "audit_events", BULK_EVENT, events.into(), "target_id").await.unwrap();
        let stored = audit_event::Entity::find().filter(audit_event::Column::Action.eq("ids")).all(&db).await.unwrap();
        let target_of = |id: i64| stored.iter().find(|e| e.id == id).and_then(|e| e.target_id);
        assert_eq!(ids.into_iter().map(target_of).collect::<Vec<_>>(), [Some(9), Some(3), Some(5)], "{backend:?}");

        // Keys that cannot tell the rows apart are refused before anything is written.
        let twins = [4, 4].map(|target| bulk_event(t.id, "twins", "x", Some(target), None, Utc::now()));
        let refused = bulk::write_with_ids(&db, "audit_events", BULK_EVENT, twins.into(), "target_id").await;
        assert!(matches!(&refused, Err(DbErr::Custom(m)) if m.contains("two rows have the key 4")), "{refused:?}");
        let unnamed = [bulk_event(t.id, "twins", "x", None, None, Utc::now())];
        let refused = bulk::write_with_ids(&db, "audit_events", BULK_EVENT, unnamed.into(), "target_id").await;
        assert!(matches!(&refused, Err(DbErr::Custom(m)) if m.contains("a row's key is null")), "{refused:?}");
        let by_json = [bulk_event(t.id, "twins", "x", Some(1), None, Utc::now())];
        let refused = bulk::write_with_ids(&db, "audit_events", BULK_EVENT, by_json.into(), "details").await;
        assert!(matches!(&refused, Err(DbErr::Custom(m)) if m.contains("a number or a text")), "{refused:?}");
        let twins = audit_event::Entity::find().filter(audit_event::Column::Action.eq("twins"));
        assert_eq!(twins.all(&db).await.unwrap().len(), 0, "{backend:?}");

        // PostgreSQL takes the ids from the table's sequence: a table whose id
        // has none (a session's is its token's digest) is named, not written.
        if backend == testdb::Backend::Postgres {
            let columns =
                &[("tenant_id", Kind::BigInt), ("created_at", Kind::Timestamp), ("expires_at", Kind::Timestamp)];
            let row = bulk::Row::with_capacity(3).int(t.id).time(Some(Utc::now())).time(Some(Utc::now()));
            let refused = bulk::write_with_ids(&db, "sessions", columns, vec![row], "tenant_id").await;
            assert!(matches!(&refused, Err(DbErr::Custom(m)) if m == "sessions has no id sequence"), "{refused:?}");
        }
    })
    .await;
}

/// PostgreSQL: a transaction whose connection is lost fails; its statements
/// after the loss do not commit each on its own on a new connection.
#[tokio::test]
async fn an_own_transaction_whose_connection_was_lost_fails_and_leaves_nothing() {
    use muster_store::own_connection::OwnConnection;
    use muster_store::testdb::{Backend, TestDb};
    use sea_orm::{ConnectionTrait, DatabaseBackend::Postgres, Statement};
    let test_db = TestDb::new(Backend::Postgres).await;
    let db = test_db.connect().await;
    let t = tenants::create_tenant(&db, "lost", "Lost", None).await.unwrap();
    let mut own = OwnConnection::open(&db).await.unwrap();
    let txn = own.begin().await.unwrap();
    let pid = txn.query_one_raw(Statement::from_string(Postgres, "SELECT pg_backend_pid() AS pid")).await.unwrap();
    let pid: i32 = pid.unwrap().try_get("", "pid").unwrap();
    let user = |id: &str| vec![bulk_user(t.id, id, None, true, Utc::now())];
    bulk::insert(&txn, "users", BULK_USER, user("before"), None).await.unwrap();
    db.execute_unprepared(&format!("SELECT pg_terminate_backend({pid})")).await.unwrap();
    // Ended, not only told to end.
    let alive = format!("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = {pid}");
    for _ in 0..100 {
        let row = db.query_one_raw(Statement::from_string(Postgres, alive.clone())).await.unwrap().unwrap();
        if row.try_get::<i64>("", "n").unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The first statement after the loss meets the closed connection; the next
    // would be given a new one, outside any transaction, and is refused it.
    assert!(bulk::insert(&txn, "users", BULK_USER, user("after"), None).await.is_err());
    assert!(bulk::insert(&txn, "users", BULK_USER, user("later"), None).await.is_err());
    assert!(txn.commit().await.is_err(), "no COMMIT outside the lost transaction");
    let users = user::Entity::find().filter(user::Column::TenantId.eq(t.id)).all(&db).await.unwrap();
    assert_eq!(users.len(), 0, "{:?}", users.iter().map(|u| &u.user_id).collect::<Vec<_>>());
    // A new transaction on it works again.
    let txn = own.begin().await.unwrap();
    bulk::insert(&txn, "users", BULK_USER, user("again"), None).await.unwrap();
    txn.commit().await.unwrap();
    own.close().await.unwrap();
    assert_eq!(user::Entity::find().filter(user::Column::TenantId.eq(t.id)).all(&db).await.unwrap().len(), 1);
    db.close().await.ok();
    test_db.cleanup().await;
}

#[tokio::test]
async fn bulk_writes_integers_and_null_times_and_refuses_a_value_of_another_kind() {
    use muster_store::entity::job;
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "j", "J", None).await.unwrap();
        let columns: bulk::Columns = &[
            ("tenant_id", Kind::BigInt),
            ("kind", Kind::Text),
            ("state", Kind::Text),
            ("lease_until", Kind::Timestamp),
            ("attempts", Kind::Int),
            ("created_at", Kind::Timestamp),
        ];
        let at = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
        let job = |attempts: i64, lease: Option<chrono::DateTime<Utc>>| {
            bulk::Row::with_capacity(columns.len())
                .int(t.id)
                .text(Some("load"))
                .text(Some("done"))
                .time(lease)
                .int(attempts)
                .time(Some(at))
        };
        let max = i64::from(i32::MAX);
        bulk::insert(&db, "jobs", columns, vec![job(3, None), job(max, Some(at))], None).await.unwrap();
        let mut jobs: Vec<(i32, Option<i64>)> = job::Entity::find()
            .filter(job::Column::TenantId.eq(t.id))
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|j| (j.attempts, j.lease_until.map(|l| l.timestamp_micros())))
            .collect();
        jobs.sort();
        assert_eq!(jobs, [(3, None), (i32::MAX, Some(at.timestamp_micros()))], "{backend:?}");

        // Refused whole, nothing written: a number too large for its column,
        // text where a number belongs, a row of too few values.
        let too_large = vec![job(3, None), job(max + 1, None)];
        let text_for_a_number = vec![bulk::Row::with_capacity(6)
            .text(Some("7"))
            .text(Some("load"))
            .text(Some("done"))
            .time(None)
            .int(1)
            .time(Some(at))];
        let short = vec![bulk::Row::with_capacity(1).int(t.id)];
        for rows in [too_large, text_for_a_number, short] {
            let refused = bulk::insert(&db, "jobs", columns, rows, None).await;
            assert!(matches!(&refused, Err(sea_orm::DbErr::Custom(m)) if m.starts_with("bulk write")), "{refused:?}");
        }
        let count = job::Entity::find().filter(job::Column::TenantId.eq(t.id)).all(&db).await.unwrap().len();
        assert_eq!(count, 2, "{backend:?}");
    })
    .await;
}

async fn failures_stored(db: &sea_orm::DatabaseConnection) -> u64 {
    use sea_orm::PaginatorTrait;
    muster_store::entity::sign_in_failure::Entity::find().count(db).await.unwrap()
}

#[tokio::test]
async fn sign_in_backs_off_the_guesser_and_never_locks_the_owner_out() {
    on_every_backend(|db, backend| async move {
        let first = bootstrap::ensure_first_run(&db).await.unwrap().unwrap();
        let right = first.demo().password.as_str();
        // Five wrong guesses from one address, by user ID and by email alike:
        // one account, one budget. That address waits now, even with the right
        // password: for a second, counted from the fifth guess. On a machine so
        // busy that the fifth guess's hash outlasted that second, the scenario is
        // run again from another address; three times over would be a failure.
        let (mut guesser, mut last) = (None, None);
        for address in ["198.51.100.7", "198.51.100.8", "198.51.100.9"] {
            // When the last guess began: the wait is counted from it.
            let mut fifth = std::time::Instant::now();
            for login in ["admin", "ADMIN", "admin@demo.muster.invalid", "Admin", " admin@demo.muster.invalid "] {
                fifth = std::time::Instant::now();
                let refused = sign_in(&db, "demo", login, "wrong guess", address).await;
                assert!(matches!(refused, Err(AuthError::BadCredentials)), "{backend:?}: {refused:?}");
            }
            let waits = sign_in(&db, "demo", "admin", right, address).await;
            // Signed in: only the wait having passed may explain that.
            if waits.is_ok() && fifth.elapsed() > std::time::Duration::from_secs(1) {
                last = Some(waits);
                continue;
            }
            assert!(matches!(waits, Err(AuthError::Throttled(wait)) if wait.as_secs() <= 1), "{backend:?}: {waits:?}");
            guesser = Some(address);
            break;
        }
        let guesser = guesser.unwrap_or_else(|| panic!("{backend:?}: each fifth guess outlasted its wait: {last:?}"));
        // …while the owner, elsewhere, signs in at once.
        assert!(sign_in(&db, "demo", "admin", right, CLIENT).await.is_ok(), "{backend:?}: the owner is not locked out");
        // The platform admin, whose name a guesser may know, likewise.
        for _ in 0..6 {
            let _ = sign_in(&db, "", &first.platform_username, "wrong guess", guesser).await;
        }
        assert!(sign_in(&db, "", &first.platform_username, &first.platform_password, CLIENT).await.is_ok());

        // The wait is a back-off, not a lock: once it passed, the next attempt is checked.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert!(sign_in(&db, "demo", "admin", right, guesser).await.is_ok(), "{backend:?}: after the wait");
    })
    .await;
}

#[tokio::test]
async fn sign_in_counts_are_shared_by_every_server_process_on_the_database() {
    for backend in testdb::Backend::ALL {
        let test_db = testdb::TestDb::new(backend).await;
        // Two processes: a pool each on the same database.
        let (db, other) = (test_db.connect().await, test_db.connect().await);
        let first = bootstrap::ensure_first_run(&db).await.unwrap().unwrap();
        for at in 0..5 {
            let on = if at % 2 == 0 { &db } else { &other };
            let _ = sign_in(on, "demo", "admin", "wrong guess", "198.51.100.9").await;
        }
        let waits = sign_in(&other, "demo", "admin", &first.demo().password, "198.51.100.9").await;
        assert!(matches!(waits, Err(AuthError::Throttled(_))), "{backend:?}: {waits:?}");
        let waits = sign_in(&db, "demo", "admin", &first.demo().password, "198.51.100.9").await;
        assert!(matches!(waits, Err(AuthError::Throttled(_))), "{backend:?}: {waits:?}");
        db.close().await.ok();
        other.close().await.ok();
        test_db.cleanup().await;
    }
}

#[tokio::test]
async fn an_over_long_sign_in_is_refused_before_it_is_counted_or_hashed() {
    on_every_backend(|db, backend| async move {
        bootstrap::ensure_first_run(&db).await.unwrap().unwrap();
        let huge = "x".repeat(2 << 20);
        for (tenant, login, password) in
            [(huge.as_str(), "admin", "pw"), ("demo", huge.as_str(), "pw"), ("demo", "admin", huge.as_str())]
        {
            let refused = sign_in(&db, tenant, login, password, CLIENT).await;
            assert!(matches!(refused, Err(AuthError::BadCredentials)), "{backend:?}: {refused:?}");
        }
        assert_eq!(failures_stored(&db).await, 0, "{backend:?}: nothing counted, nothing kept");
        // What is counted is kept as a digest, whatever was typed.
        let _ = sign_in(&db, "demo", &"y".repeat(200), "wrong", CLIENT).await;
        let keys: Vec<String> = muster_store::entity::sign_in_failure::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.key)
            .collect();
        assert_eq!(keys.len(), 2, "{backend:?}: the account from the address, and the address");
        assert!(keys.iter().all(|k| k.len() == 64 && !k.contains("yyy") && !k.contains(CLIENT)), "{keys:?}");
    })
    .await;
}

#[tokio::test]
async fn old_sign_in_failures_and_ended_sessions_are_purged() {
    use muster_store::entity::sign_in_failure;
    on_every_backend(|db, backend| async move {
        let first = bootstrap::ensure_first_run(&db).await.unwrap().unwrap();
        let _ = sign_in(&db, "demo", "admin", "wrong", CLIENT).await;
        assert_eq!(muster_store::throttle::purge(&db).await.unwrap(), 0, "{backend:?}: still counting");
        sign_in_failure::Entity::update_many()
            .col_expr(
                sign_in_failure::Column::FirstAt,
                sea_orm::sea_query::Expr::value(Utc::now() - chrono::Duration::hours(1)),
            )
            .exec(&db)
            .await
            .unwrap();
        assert_eq!(muster_store::throttle::purge(&db).await.unwrap(), 2, "{backend:?}");
        assert_eq!(failures_stored(&db).await, 0);

        let admin = sign_in(&db, "demo", "admin", &first.demo().password, CLIENT).await.unwrap();
        let (idle, live) = (sessions::create(&db, &admin).await.unwrap(), sessions::create(&db, &admin).await.unwrap());
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, sea_orm::sea_query::Expr::value(Utc::now() - sessions::IDLE_TIMEOUT))
            .filter(session::Column::Id.eq(tokens::digest(&idle)))
            .exec(&db)
            .await
            .unwrap();
        assert_eq!(sessions::purge_expired(&db).await.unwrap(), 1, "{backend:?}: the idle one");
        assert!(sessions::find(&db, &live).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn an_idle_session_ends_and_a_new_password_ends_the_account_s_other_sessions() {
    on_every_backend(|db, backend| async move {
        let first = bootstrap::ensure_first_run(&db).await.unwrap().unwrap();
        let admin = sign_in(&db, "demo", "admin", &first.demo().password, CLIENT).await.unwrap();
        let idle = sessions::create(&db, &admin).await.unwrap();
        session::Entity::update_many()
            .col_expr(
                session::Column::LastSeenAt,
                sea_orm::sea_query::Expr::value(Utc::now() - sessions::IDLE_TIMEOUT - chrono::Duration::seconds(1)),
            )
            .exec(&db)
            .await
            .unwrap();
        assert_eq!(sessions::find(&db, &idle).await.unwrap(), None, "{backend:?}: idle too long");

        // Used within the idle time, a session lives on (up to its absolute end).
        let used = sessions::create(&db, &admin).await.unwrap();
        assert!(sessions::find(&db, &used).await.unwrap().is_some());
        let (here, elsewhere) =
            (sessions::create(&db, &admin).await.unwrap(), sessions::create(&db, &admin).await.unwrap());
        assert_eq!(sessions::end_others(&db, &admin, Some(&here)).await.unwrap(), 2, "{backend:?}");
        assert!(sessions::find(&db, &here).await.unwrap().is_some(), "{backend:?}: the one that changed it stays");
        assert!(sessions::find(&db, &elsewhere).await.unwrap().is_none(), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn the_platform_admin_s_name_is_the_installation_s_own_and_the_demo_tenant_optional() {
    use muster_store::bootstrap::FirstRunOptions;
    on_every_backend(|db, backend| async move {
        let options = FirstRunOptions { platform_admin: None, demo_tenant: false };
        let first = bootstrap::ensure_first_run_with(&db, &options).await.unwrap().unwrap();
        // Not a name a guesser knows from another installation.
        assert!(first.platform_username.starts_with("admin-") && first.platform_username.len() == 12, "{first:?}");
        assert!(first.demo.is_none(), "{backend:?}");
        assert!(muster_store::directory::find_tenant(&db, "demo").await.unwrap().is_none(), "{backend:?}: no demo");
        assert!(sign_in(&db, "", &first.platform_username, &first.platform_password, CLIENT).await.is_ok());
    })
    .await;
    on_every_backend(|db, backend| async move {
        let options = FirstRunOptions { platform_admin: Some("ops-lead".into()), demo_tenant: true };
        let first = bootstrap::ensure_first_run_with(&db, &options).await.unwrap().unwrap();
        assert_eq!(first.platform_username, "ops-lead", "{backend:?}");
        assert!(sign_in(&db, "", "ops-lead", &first.platform_password, CLIENT).await.is_ok());
        assert!(bootstrap::ensure_first_run(&db).await.unwrap().is_none(), "{backend:?}: once");
    })
    .await;
}

#[tokio::test]
async fn two_first_starts_at_once_make_one_set_of_accounts() {
    for backend in testdb::Backend::ALL {
        let test_db = testdb::TestDb::new(backend).await;
        let (a, b) = (test_db.connect().await, test_db.connect().await);
        let (one, two) = tokio::join!(bootstrap::ensure_first_run(&a), bootstrap::ensure_first_run(&b));
        // Both start (neither fails on the other's accounts); one made them.
        let (one, two) = (one.unwrap(), two.unwrap());
        assert_eq!(one.is_some() as u8 + two.is_some() as u8, 1, "{backend:?}: one start made the accounts");
        use sea_orm::PaginatorTrait;
        assert_eq!(muster_store::entity::platform_admin::Entity::find().count(&a).await.unwrap(), 1, "{backend:?}");
        a.close().await.ok();
        b.close().await.ok();
        test_db.cleanup().await;
    }
}

#[tokio::test]
async fn an_unknown_tenant_is_refused_after_the_same_work_as_a_known_one() {
    on_every_backend(|db, backend| async move {
        bootstrap::ensure_first_run(&db).await.unwrap().unwrap();
        let statements_of = |tenant: &'static str, client: &'static str| {
            let mut counted = db.clone();
            let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            counted.set_metric_callback({
                let sent = sent.clone();
                move |_| {
                    sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
            async move {
                let refused = sign_in(&counted, tenant, "nobody", "some guess 1", client).await;
                assert!(matches!(refused, Err(AuthError::BadCredentials)), "{refused:?}");
                sent.load(std::sync::atomic::Ordering::SeqCst)
            }
        };
        // Each from its own client, so that neither finds counts of the other.
        let known = statements_of("demo", "192.0.2.10").await;
        let unknown = statements_of("no-such-tenant", "192.0.2.11").await;
        assert!(known > 2, "{backend:?}: the statements are counted ({known})");
        assert_eq!(known, unknown, "{backend:?}: an unknown tenant would answer sooner");
    })
    .await;
}

#[tokio::test]
async fn licences_used_are_the_active_users_and_leavers_hold_none() {
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "lic", "Lic", Some(3)).await.unwrap();
        user_row(t.id, "a", "a@lic.example", None).insert(&db).await.unwrap();
        let mut leaver = user_row(t.id, "b", "b@lic.example", None);
        leaver.state = Set(UserState::Leaver);
        leaver.insert(&db).await.unwrap();
        let licences = tenants::licences(&db, t.id).await.unwrap().unwrap();
        assert_eq!((licences.limit, licences.used, licences.remaining()), (Some(3), 1, Some(2)), "{backend:?}");
        let open = tenants::create_tenant(&db, "open", "Open", None).await.unwrap();
        assert_eq!(tenants::licences(&db, open.id).await.unwrap().unwrap().remaining(), None, "{backend:?}");
        assert!(tenants::licences(&db, -1).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn a_heading_mapping_is_remembered_per_tenant_and_heading_line() {
    use muster_import::{Field, HeadingMapping};
    use muster_store::mappings;
    on_every_backend(|db, backend| async move {
        let a = tenants::create_tenant(&db, "ma", "A", None).await.unwrap();
        let b = tenants::create_tenant(&db, "mb", "B", None).await.unwrap();
        let headings: Vec<String> = ["userId", "email", "Dept", "Notes"].map(String::from).to_vec();
        assert_eq!(mappings::remembered(&db, a.id, &headings).await.unwrap(), None, "{backend:?}");
        let mapping =
            HeadingMapping::from([("Dept".to_owned(), Some(Field::Organisation)), ("Notes".to_owned(), None)]);
        mappings::remember(&db, a.id, &headings, &mapping).await.unwrap();
        assert_eq!(mappings::remembered(&db, a.id, &headings).await.unwrap(), Some(mapping.clone()), "{backend:?}");
        // Another tenant, or another heading line, has none.
        assert_eq!(mappings::remembered(&db, b.id, &headings).await.unwrap(), None, "{backend:?}");
        let other: Vec<String> = ["userId", "email", "Dept"].map(String::from).to_vec();
        assert_eq!(mappings::remembered(&db, a.id, &other).await.unwrap(), None, "{backend:?}");
        // The latest given wins.
        let changed = HeadingMapping::from([("Dept".to_owned(), None)]);
        mappings::remember(&db, a.id, &headings, &changed).await.unwrap();
        assert_eq!(mappings::remembered(&db, a.id, &headings).await.unwrap(), Some(changed), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn a_tenant_has_users_only_once_one_is_added_and_only_its_own() {
    on_every_backend(|db, backend| async move {
        let empty = tenants::create_tenant(&db, "empty", "Empty", None).await.unwrap();
        let other = tenants::create_tenant(&db, "other", "Other", None).await.unwrap();
        assert!(!muster_store::directory::has_users(&db, empty.id).await.unwrap(), "{backend:?}");
        user_row(other.id, "olu", "olu@example.org", None).insert(&db).await.unwrap();
        assert!(!muster_store::directory::has_users(&db, empty.id).await.unwrap(), "{backend:?}: another tenant's");
        assert!(muster_store::directory::has_users(&db, other.id).await.unwrap(), "{backend:?}");
    })
    .await;
}

/// PostgreSQL on a loopback address: no TLS unless the URL asks for it.
#[tokio::test]
async fn a_loopback_connection_goes_without_tls_unless_its_url_asks_for_it() {
    use muster_store::testdb::{Backend, TestDb};
    use sea_orm::sqlx::postgres::PgConnectOptions;
    use sea_orm::{ConnectionTrait, DatabaseBackend::Postgres, Statement};
    let test_db = TestDb::new(Backend::Postgres).await;
    let query = |db: sea_orm::DatabaseConnection, sql: &'static str| async move {
        let row = db.query_one_raw(Statement::from_string(Postgres, sql)).await.unwrap().unwrap();
        db.close().await.ok();
        row
    };
    let tls = |url: String| async move {
        let db = muster_store::db::connect(&url).await.unwrap();
        let row = query(db, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").await;
        row.try_get::<bool>("", "ssl").unwrap()
    };
    let offered = {
        let row = query(muster_store::db::connect(&test_db.url).await.unwrap(), "SHOW ssl").await;
        row.try_get::<String>("", "ssl").unwrap() == "on"
    };
    let host = test_db.url.parse::<PgConnectOptions>().unwrap().get_host().to_owned();
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !offered || !loopback || std::env::var_os("PGSSLMODE").is_some() {
        // Without TLS on offer every connection is plain: nothing to tell apart.
        eprintln!("skipped: the test server ({host}) offers no TLS, is not on loopback, or PGSSLMODE is set");
    } else {
        assert!(!tls(test_db.url.clone()).await, "{}", test_db.url);
        let required = format!("{}?sslmode=require", test_db.url);
        assert!(tls(required.clone()).await, "{required}");
    }
    test_db.cleanup().await;
}
