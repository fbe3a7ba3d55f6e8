use crate::serverfns::auth::current_session;
use crate::session::Role;
use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    let session = Resource::new(|| (), |_| current_session());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                session.get().map(|found| match found.ok().flatten() {
                    Some(s) => {
                        let intro = match s.role {
                            Role::TenantAdmin => "Manage your organisation's users one by one or thousands at a time from a CSV file.",
                            Role::PlatformAdmin => "Create tenants, set their licence limits and create their admins.",
                            Role::User => "You can set or change your own password here.",
                        };
                        view! {
                            <h1>"Welcome, " {s.display_name.clone()}</h1>
                            <p>{intro}</p>
                        }
                            .into_any()
                    }
                    None => view! { <p>"You are signed out."</p> }.into_any(),
                })
            }}
        </Suspense>
    }
}
