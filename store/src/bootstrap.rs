//! The first start on an empty database: a platform admin and a demo tenant with
//! its admin, each with a freshly generated password that is shown once.
use crate::entity::platform_admin;
use crate::passwords;
use crate::tenants::{self, AccountError, NewAdmin};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};

#[derive(Debug, Clone)]
pub struct FirstRun {
    pub platform_username: String,
    pub platform_password: String,
    pub tenant_slug: String,
    pub tenant_admin_user_id: String,
    pub tenant_admin_password: String,
}

pub const DEMO_TENANT_SLUG: &str = "demo";

/// Creates the first accounts when there is no platform admin yet; `None` otherwise.
pub async fn ensure_first_run(db: &DatabaseConnection) -> Result<Option<FirstRun>, AccountError> {
    if platform_admin::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    let first = FirstRun {
        platform_username: "platform-admin".into(),
        platform_password: passwords::generate(),
        tenant_slug: DEMO_TENANT_SLUG.into(),
        tenant_admin_user_id: "admin".into(),
        tenant_admin_password: passwords::generate(),
    };
    tenants::create_platform_admin(
        db,
        &first.platform_username,
        "platform-admin@muster.invalid",
        &first.platform_password,
    )
    .await?;
    let tenant = tenants::create_tenant(db, &first.tenant_slug, "Demo Organisation", Some(1000)).await?;
    tenants::create_tenant_admin(
        db,
        tenant.id,
        NewAdmin {
            user_id: &first.tenant_admin_user_id,
            email: "admin@demo.muster.invalid",
            first_name: "Demo",
            last_name: "Admin",
            password: &first.tenant_admin_password,
        },
    )
    .await?;
    Ok(Some(first))
}
