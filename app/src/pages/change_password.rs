//! Changing one's own password; the only page an account flagged "change
//! password next time" can reach until it has.
use crate::components::new_password::NewPasswordFields;
use crate::serverfns::auth::ChangePassword;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Why a plain form post (before the WebAssembly has loaded) failed, carried
/// back in `?result=`; the hydrated page shows the server's own message.
fn result_message(code: &str) -> Option<&'static str> {
    match code {
        "mismatch" => Some("The two new passwords differ. Type the same password twice."),
        "weak" => Some("The new password needs at least 10 characters, with a letter and a digit."),
        "current" => Some("The current password is not correct."),
        "same" => Some("The new password must differ from the current one."),
        "busy" => Some("The server is busy. Please try again in a moment."),
        "error" => Some("Something went wrong on the server. Please try again."),
        _ => None,
    }
}

#[component]
pub fn ChangePasswordPage() -> impl IntoView {
    let action = ServerAction::<ChangePassword>::new();
    let query = use_query_map();
    let message = move || match action.value().get() {
        Some(Err(err)) => Some(err.to_string()),
        Some(Ok(())) => None,
        None => query.with(|q| q.get("result")).and_then(|c| result_message(&c)).map(str::to_owned),
    };
    let changed = move || matches!(action.value().get(), Some(Ok(())));
    view! {
        <Title text="Change your password · Muster"/>
        <main class="signin">
            <h1>"Muster"</h1>
            <Show
                when=changed
                fallback=move || view! {
                    <ActionForm action=action attr:class="card signin-form">
                        <h2>"Change your password"</h2>
                        <p>
                            "Your password was set by an administrator or sent to you by email. "
                            "Choose one of your own to go on; your other sessions will be signed out."
                        </p>
                        <label>
                            "Current password"
                            <input type="password" name="current" autocomplete="current-password" required/>
                        </label>
                        <NewPasswordFields/>
                        {move || message().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                        <button type="submit" disabled=move || action.pending().get()>"Change my password"</button>
                    </ActionForm>
                }
            >
                <section class="card" data-testid="password-changed">
                    <h2>"Your password is changed"</h2>
                    <p><a href="/">"Go on to Muster"</a></p>
                </section>
            </Show>
        </main>
    }
}
