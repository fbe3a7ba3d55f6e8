use super::bell::NotificationBell;
use crate::serverfns::auth::{current_session, SignOut};
use crate::session::{Role, SessionView};
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

/// The links an admin sees, by role: a platform admin manages tenants; a tenant
/// admin manages their tenant; a user has only their own account.
fn nav_links(role: Role) -> &'static [(&'static str, &'static str)] {
    match role {
        Role::PlatformAdmin => &[("/tenants", "Tenants")],
        Role::TenantAdmin => &[
            ("/users", "Users"),
            ("/upload", "Upload"),
            ("/uploads", "Uploads"),
            ("/roles", "Roles"),
            ("/groups", "Groups"),
            ("/organisations", "Organisations"),
            ("/audit", "Audit"),
        ],
        Role::User => &[],
    }
}

#[component]
fn Who(session: SessionView) -> impl IntoView {
    let tenant = session.tenant.as_ref().map(|t| t.name.clone()).unwrap_or_else(|| "Platform".into());
    view! {
        <span class="who" data-testid="who">
            <span class="who-name">{session.display_name.clone()}</span>
            <span class="who-tenant">{tenant}</span>
        </span>
    }
}

/// Everything around a signed-in page: top bar, navigation, content.
#[component]
pub fn AdminLayout() -> impl IntoView {
    let session = Resource::new(|| (), |_| current_session());
    let sign_out = ServerAction::<SignOut>::new();
    let (menu_open, set_menu_open) = signal(false);
    provide_context(super::bell::BellRefresh(RwSignal::new(0)));

    view! {
        <div class="app" class:menu-open=move || menu_open.get()>
            <header class="topbar">
                <button
                    type="button"
                    class="menu-toggle"
                    aria-label="Menu"
                    on:click=move |_| set_menu_open.update(|o| *o = !*o)
                >
                    "☰"
                </button>
                <a class="brand" href="/">"Muster"</a>
                <span class="spacer"></span>
                <Suspense fallback=|| ()>
                    {move || {
                        session.get().map(|found| match found {
                            Ok(Some(s)) => view! { <Who session=s/> }.into_any(),
                            _ => view! { <a href="/signin">"Sign in"</a> }.into_any(),
                        })
                    }}
                </Suspense>
                <NotificationBell/>
                <ActionForm action=sign_out attr:class="signout">
                    <button type="submit" data-testid="sign-out">"Sign out"</button>
                </ActionForm>
            </header>
            <nav class="sidebar" aria-label="Main" on:click=move |_| set_menu_open.set(false)>
                <Suspense fallback=|| ()>
                    {move || {
                        session.get().map(|found| {
                            let role = found.ok().flatten().map(|s| s.role).unwrap_or(Role::User);
                            nav_links(role)
                                .iter()
                                .map(|(href, label)| view! { <A href=*href>{*label}</A> })
                                .collect_view()
                        })
                    }}
                </Suspense>
            </nav>
            <main class="content">
                <Outlet/>
            </main>
        </div>
    }
}
