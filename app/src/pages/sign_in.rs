use crate::serverfns::auth::SignIn;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The reason a plain (pre-hydration) form post failed, carried in `?failed=`.
fn failure_message(code: &str) -> Option<&'static str> {
    match code {
        "credentials" => Some("The tenant, user ID or password is not correct."),
        "throttled" => Some("Too many failed sign-in attempts. Wait a few minutes and try again."),
        "busy" => Some("The server is busy. Please try again in a moment."),
        "error" => Some("Something went wrong on the server. Please try again."),
        _ => None,
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let (show_password, set_show_password) = signal(false);
    let message = move || match action.value().get() {
        Some(Err(err)) => Some(err.to_string()),
        Some(Ok(())) => None,
        None => query.with(|q| q.get("failed")).and_then(|c| failure_message(&c)).map(str::to_owned),
    };
    view! {
        <Title text="Sign in · Muster"/>
        <main class="signin">
            <h1>"Muster"</h1>
            <ActionForm action=action attr:class="card signin-form">
                <h2>"Sign in"</h2>
                <label>
                    "Tenant"
                    <input type="text" name="tenant" autocomplete="organization" placeholder="e.g. demo"/>
                    <small>"Leave blank if you are a platform admin."</small>
                </label>
                <label>
                    "User ID or email"
                    <input type="text" name="login" autocomplete="username" required/>
                </label>
                <label>
                    "Password"
                    <input
                        type=move || if show_password.get() { "text" } else { "password" }
                        name="password"
                        autocomplete="current-password"
                        required
                    />
                </label>
                <label class="inline">
                    <input
                        type="checkbox"
                        data-testid="show-password"
                        on:change=move |ev| set_show_password.set(event_target_checked(&ev))
                    />
                    "Show password"
                </label>
                {move || message().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <button type="submit" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
        </main>
    }
}
