//! What the browser knows of who is signed in.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    PlatformAdmin,
    TenantAdmin,
    User,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantView {
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub display_name: String,
    pub login: String,
    pub role: Role,
    pub tenant: Option<TenantView>,
}

impl SessionView {
    pub fn is_admin(&self) -> bool {
        matches!(self.role, Role::PlatformAdmin | Role::TenantAdmin)
    }
}

#[cfg(feature = "ssr")]
impl From<&muster_store::auth::Principal> for SessionView {
    fn from(p: &muster_store::auth::Principal) -> Self {
        use muster_store::auth::Principal;
        match p {
            Principal::PlatformAdmin { username, .. } => SessionView {
                display_name: username.clone(),
                login: username.clone(),
                role: Role::PlatformAdmin,
                tenant: None,
            },
            Principal::TenantUser { tenant_slug, tenant_name, user_id, display_name, is_admin, .. } => SessionView {
                display_name: display_name.clone(),
                login: user_id.clone(),
                role: if *is_admin { Role::TenantAdmin } else { Role::User },
                tenant: Some(TenantView { slug: tenant_slug.clone(), name: tenant_name.clone() }),
            },
        }
    }
}
