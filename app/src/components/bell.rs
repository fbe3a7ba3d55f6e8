use leptos::prelude::*;

/// The notification bell. Upload progress and results arrive here in a later stage;
/// for now it opens an empty list. It only reacts once the page has hydrated.
#[component]
pub fn NotificationBell() -> impl IntoView {
    let (open, set_open) = signal(false);
    view! {
        <div class="bell">
            <button
                type="button"
                class="bell-button"
                data-testid="bell"
                aria-label="Notifications"
                aria-haspopup="true"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| set_open.update(|o| *o = !*o)
            >
                "🔔"
            </button>
            <Show when=move || open.get()>
                <div class="bell-panel" role="region" aria-label="Notifications list" data-testid="bell-panel">
                    <p>"No notifications yet."</p>
                    <a href="/notifications">"All notifications"</a>
                </div>
            </Show>
        </div>
    }
}
