//! The first start on an empty database: a platform admin and, unless the
//! operator declines it, a demo tenant with its admin, each with a freshly
//! generated password that is shown once.
use crate::entity::platform_admin;
use crate::passwords;
use crate::tenants::{self, AccountError, NewAdmin};
use rand::Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait};

#[derive(Debug, Clone)]
pub struct FirstRun {
    pub platform_username: String,
    pub platform_password: String,
    /// The demo tenant's admin, when one was made.
    pub demo: Option<DemoAdmin>,
}

#[derive(Debug, Clone)]
pub struct DemoAdmin {
    pub tenant_slug: String,
    pub user_id: String,
    pub password: String,
}

impl FirstRun {
    /// The demo tenant's admin (tests, which always make one).
    pub fn demo(&self) -> &DemoAdmin {
        self.demo.as_ref().expect("the first run made a demo tenant")
    }
}

/// What the operator chose for the first start.
#[derive(Debug, Clone)]
pub struct FirstRunOptions {
    /// The platform admin's user name; none: `admin-` and six random characters.
    /// Not a name every installation shares: the name is half of what a
    /// guesser needs.
    pub platform_admin: Option<String>,
    /// A demo tenant ("demo") with an admin, for a newcomer to sign in at once.
    /// Off for an installation that will hold real tenants only.
    pub demo_tenant: bool,
}

impl Default for FirstRunOptions {
    fn default() -> Self {
        Self { platform_admin: None, demo_tenant: true }
    }
}

pub const DEMO_TENANT_SLUG: &str = "demo";

/// Creates the first accounts, with the default options, when there is no
/// platform admin yet; `None` otherwise.
pub async fn ensure_first_run(db: &DatabaseConnection) -> Result<Option<FirstRun>, AccountError> {
    ensure_first_run_with(db, &FirstRunOptions::default()).await
}

/// [`ensure_first_run`] with the operator's choices. In one transaction, the
/// table of platform admins locked on PostgreSQL: two processes starting at
/// once on an empty database make one set of accounts, and a failure part way
/// leaves none (its passwords, shown only now, are not lost).
pub async fn ensure_first_run_with(
    db: &DatabaseConnection,
    options: &FirstRunOptions,
) -> Result<Option<FirstRun>, AccountError> {
    if platform_admin::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    let txn = crate::db::begin_write(db).await?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        txn.execute_unprepared("LOCK TABLE platform_admins IN EXCLUSIVE MODE").await?;
    }
    if platform_admin::Entity::find().count(&txn).await? > 0 {
        txn.rollback().await?;
        return Ok(None);
    }
    let platform_username = options.platform_admin.clone().unwrap_or_else(random_admin_name);
    let first = FirstRun {
        platform_username,
        platform_password: passwords::generate(),
        demo: options.demo_tenant.then(|| DemoAdmin {
            tenant_slug: DEMO_TENANT_SLUG.into(),
            user_id: "admin".into(),
            password: passwords::generate(),
        }),
    };
    tenants::create_platform_admin(
        &txn,
        &first.platform_username,
        "platform-admin@muster.invalid",
        &first.platform_password,
    )
    .await?;
    if let Some(demo) = &first.demo {
        let tenant = tenants::create_tenant_in(&txn, &demo.tenant_slug, "Demo Organisation", Some(1000)).await?;
        tenants::create_tenant_admin(
            &txn,
            tenant.id,
            NewAdmin {
                user_id: &demo.user_id,
                email: "admin@demo.muster.invalid",
                first_name: "Demo",
                last_name: "Admin",
                password: &demo.password,
                // Printed for the one who started the server, who signs in with it.
                must_change_password: false,
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(Some(first))
}

fn random_admin_name() -> String {
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..6).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect();
    format!("admin-{tail}")
}
