//! The page an invitation link opens: the new user chooses a password, once.
use crate::components::new_password::NewPasswordFields;
use crate::serverfns::invitations::{open_invitation, result_message, AcceptInvitation};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn InvitationPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let token = move || params.with(|p| p.get("token")).unwrap_or_default();
    let invitation = Resource::new(token, open_invitation);
    let action = ServerAction::<AcceptInvitation>::new();
    // The outcome of a plain form post, before the WebAssembly loaded.
    let posted = move || query.with(|q| q.get("result"));

    view! {
        <Title text="Choose your password · Muster"/>
        <main class="signin">
            <h1>"Muster"</h1>
            {move || match (action.value().get(), posted()) {
                (Some(Ok(who)), _) => view! { <PasswordSet sign_in_as=who/> }.into_any(),
                (None, Some(code)) if code == "set" => view! { <PasswordSet/> }.into_any(),
                (outcome, code) => {
                    let error = match outcome {
                        Some(Err(err)) => Some(err.to_string()),
                        _ => code.as_deref().and_then(result_message).map(str::to_owned),
                    };
                    view! {
                        <Suspense fallback=|| view! { <p>"Opening your invitation…"</p> }>
                            {move || invitation.get().map(|found| {
                                let error = error.clone();
                                match found {
                                Ok(invited) => {
                                    let name = invited.first_name.clone().unwrap_or_else(|| invited.user_id.clone());
                                    view! {
                                        <ActionForm action=action attr:class="card signin-form">
                                            <h2>"Welcome, " {name}</h2>
                                            <p>
                                                "Choose a password for " <strong>{invited.user_id.clone()}</strong>
                                                " at " {invited.tenant_name.clone()} ". This link works once, until "
                                                {invited.expires.clone()} "."
                                            </p>
                                            <input type="hidden" name="token" value=token()/>
                                            <NewPasswordFields/>
                                            {error.map(|m| view! { <p class="error" role="alert">{m}</p> })}
                                            <button type="submit" disabled=move || action.pending().get()>"Set my password"</button>
                                        </ActionForm>
                                    }.into_any()
                                }
                                Err(err) => view! {
                                    <section class="card">
                                        <h2>"This link cannot be used"</h2>
                                        <p class="error" role="alert">
                                            {error.unwrap_or_else(|| err.to_string())}
                                        </p>
                                    </section>
                                }.into_any(),
                            }})}
                        </Suspense>
                    }.into_any()
                }
            }}
        </main>
    }
}

/// The password was set: by the hydrated page, which knows whom to sign in as,
/// or by a plain form post.
#[component]
fn PasswordSet(#[prop(optional)] sign_in_as: Option<(String, String)>) -> impl IntoView {
    view! {
        <section class="card" data-testid="password-set">
            <h2>"Your password is set"</h2>
            {sign_in_as.map(|(tenant, user_id)| view! {
                <p>"Sign in with the tenant " <strong>{tenant}</strong> " and the user ID " <strong>{user_id}</strong> "."</p>
            })}
            <p><a href="/signin">"Sign in"</a></p>
        </section>
    }
}
