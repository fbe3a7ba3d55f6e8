//! Screens whose content later stages build. Each already has its place in the
//! navigation and its route.
use leptos::prelude::*;

#[component]
fn Screen(title: &'static str, about: &'static str) -> impl IntoView {
    view! {
        <section class="screen">
            <h1>{title}</h1>
            <p class="about">{about}</p>
        </section>
    }
}

macro_rules! screen {
    ($name:ident, $title:literal, $about:literal) => {
        #[component]
        pub fn $name() -> impl IntoView {
            view! { <Screen title=$title about=$about/> }
        }
    };
}

screen!(UsersPage, "Users", "Search, filter and edit your organisation's users.");
screen!(RolesPage, "Roles", "Roles, their members, and member counts.");
screen!(GroupsPage, "Groups", "Groups, their members, and member counts.");
screen!(OrganisationsPage, "Organisations", "The organisation units of this tenant.");
screen!(AuditPage, "Audit", "Who changed what, and when.");
screen!(TenantsPage, "Tenants", "Tenants, their licence limits and their admins.");
