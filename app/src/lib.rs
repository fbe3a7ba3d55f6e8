//! Muster's user interface: the HTML shell, the routes, the pages and the server
//! functions they call. Built twice: with `ssr` into the server, with `hydrate`
//! into the WebAssembly front end.
#![recursion_limit = "256"]

pub mod components;
pub mod error;
pub mod pages;
pub mod serverfns;
pub mod session;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, SsrMode,
};

use components::layout::AdminLayout;
use pages::*;

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::policy::provide();
    // The build's folder of static files (its name changes with their content).
    let pkg = format!("/{}", options.site_pkg_dir);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="muster-pkg" content=pkg.clone()/>
                <link rel="stylesheet" id="muster" href=format!("{pkg}/muster.css")/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, once the app is live: tests and scripts
    // wait for this mark instead of guessing when hydration has finished.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Title text="Muster"/>
        <Router>
            <Routes fallback=NotFoundPage>
                <Route path=path!("/signin") view=SignInPage/>
                <Route path=path!("/change-password") view=ChangePasswordPage/>
                // Rendered whole before it is sent: it must work before (or without)
                // the WebAssembly, as the sign-in form does.
                <Route path=path!("/invitation/:token") view=InvitationPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=AdminLayout>
                    <Route path=path!("") view=HomePage/>
                    <Route path=path!("users") view=UsersPage/>
                    <Route path=path!("upload") view=UploadPage/>
                    <Route path=path!("uploads") view=UploadsPage/>
                    <Route path=path!("uploads/:id") view=UploadDetailPage/>
                    <Route path=path!("roles") view=RolesPage/>
                    <Route path=path!("groups") view=GroupsPage/>
                    <Route path=path!("organisations") view=OrganisationsPage/>
                    <Route path=path!("audit") view=AuditPage/>
                    <Route path=path!("tenants") view=TenantsPage/>
                    <Route path=path!("notifications") view=NotificationsPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
