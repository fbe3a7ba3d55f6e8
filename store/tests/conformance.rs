//! One storage conformance suite, run unchanged on SQLite and on PostgreSQL.
use chrono::Utc;
use muster_store::auth::{authenticate, AuthError, Principal};
use muster_store::entity::{session, user};
use muster_store::testdb::{self, on_every_backend};
use muster_store::{bootstrap, sessions, tenants, tokens};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};

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

        let admin = authenticate(&db, "demo", "admin", &first.tenant_admin_password).await.unwrap();
        assert!(matches!(&admin, Principal::TenantUser { is_admin: true, tenant_slug, .. } if tenant_slug == "demo"));
        // Matching ignores case and surrounding spaces, and the email works as login.
        let by_email =
            authenticate(&db, " DEMO ", " Admin@Demo.Muster.Invalid ", &first.tenant_admin_password).await.unwrap();
        assert_eq!(by_email, admin);

        let platform = authenticate(&db, "", &first.platform_username, &first.platform_password).await.unwrap();
        assert!(matches!(platform, Principal::PlatformAdmin { .. }));

        // A userId spelled as another user's email: that login is the userId's.
        let &Principal::TenantUser { tenant_id, .. } = &admin else { unreachable!() };
        let mut lookalike = testdb::user(tenant_id, "admin@demo.muster.invalid", "someone@else.invalid");
        lookalike.password_hash = Set(Some(muster_store::passwords::hash_blocking("other pass 7")));
        lookalike.insert(&db).await.unwrap();
        let login = "Admin@Demo.Muster.Invalid";
        let theirs = authenticate(&db, "demo", login, "other pass 7").await.unwrap();
        assert!(matches!(&theirs, Principal::TenantUser { is_admin: false, .. }), "{backend:?}: {theirs:?}");
        let refused = authenticate(&db, "demo", login, &first.tenant_admin_password).await;
        assert!(matches!(refused, Err(AuthError::BadCredentials)), "{backend:?}: the userId's owner only");
        assert_eq!(authenticate(&db, "demo", "admin", &first.tenant_admin_password).await.unwrap(), admin);

        for (tenant, login, password) in [
            ("demo", "admin", "wrong"),
            ("demo", "nobody", first.tenant_admin_password.as_str()),
            ("other", "admin", first.tenant_admin_password.as_str()),
            ("", "admin", first.tenant_admin_password.as_str()),
            ("demo", "platform-admin", first.platform_password.as_str()),
            ("demo", "", ""),
        ] {
            let refused = authenticate(&db, tenant, login, password).await;
            assert!(matches!(refused, Err(AuthError::BadCredentials)), "{backend:?} {tenant}/{login}: {refused:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn sessions_live_expire_and_end_with_the_account() {
    on_every_backend(|db, backend| async move {
        let first = bootstrap::ensure_first_run(&db).await.unwrap().unwrap();
        let admin = authenticate(&db, "demo", "admin", &first.tenant_admin_password).await.unwrap();

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
        let (link, second_link, old_link) = (tokens::generate(), tokens::generate(), tokens::generate());
        invitations::create(&db, t.id, pat.id, &tokens::digest(&link), 7).await.unwrap();
        invitations::create(&db, t.id, pat.id, &tokens::digest(&second_link), 7).await.unwrap();
        invitations::create(&db, t.id, sam.id, &tokens::digest(&old_link), -1).await.unwrap();
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
        lou.state = Set("leaver".into());
        let lou = lou.insert(&db).await.unwrap();
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
    use muster_store::bulk::{self, Kind};
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
