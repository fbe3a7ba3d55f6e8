//! The notification bell, on every page: the unread count, the latest
//! notifications (each opening its upload), the running load's progress, and
//! mark read. Rendered on the server from the database, then kept live by
//! the tab's event stream.
use crate::components::live::{follow_events, Heard};
use crate::serverfns::notifications::{bell_state, mark_read, BellView, LoadingNow, NotificationView};
use leptos::prelude::*;

/// Bumped to read the bell again: by the bell itself, and by a page that
/// changed what it shows (`/notifications` marking read). Given by the layout.
#[derive(Clone, Copy)]
pub struct BellRefresh(pub RwSignal<u32>);

impl BellRefresh {
    pub fn bump(self) {
        self.0.update(|v| *v += 1);
    }
}

#[component]
pub fn NotificationBell() -> impl IntoView {
    let version = use_context::<BellRefresh>().map_or_else(|| RwSignal::new(0u32), |r| r.0);
    let bell = Resource::new(move || version.get(), |_| bell_state());
    view! {
        <Transition fallback=|| view! { <BellButton unread=0 open=RwSignal::new(false)/> }>
            {move || {
                bell.get().map(|found| view! { <Bell view=found.unwrap_or_default() version/> })
            }}
        </Transition>
    }
}

/// The bell icon: an inline SVG (no font may lack it), its name said in words.
#[component]
fn BellButton(unread: u64, open: RwSignal<bool>) -> impl IntoView {
    let label = match unread {
        0 => "Notifications, none unread".to_owned(),
        1 => "Notifications, 1 unread".to_owned(),
        n => format!("Notifications, {n} unread"),
    };
    view! {
        <button
            type="button"
            class="bell-button"
            data-testid="bell"
            aria-label=label
            aria-haspopup="true"
            aria-expanded=move || open.get().to_string()
            on:click=move |_| open.update(|o| *o = !*o)
        >
            <svg aria-hidden="true" focusable="false" width="20" height="20" viewBox="0 0 24 24">
                <path
                    fill="currentColor"
                    d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"
                ></path>
            </svg>
            {(unread > 0).then(|| view! { <span class="bell-count" data-testid="bell-count">{unread}</span> })}
        </button>
    }
}

#[component]
fn Bell(view: BellView, version: RwSignal<u32>) -> impl IntoView {
    let open = RwSignal::new(false);
    let loading: RwSignal<Option<LoadingNow>> = RwSignal::new(view.loading);
    if view.follows {
        follow_events(view.cursor, move |heard| match heard {
            Heard::Upload(event) if event.kind == "progress" => {
                if event.state == "running" {
                    loading.set(Some(LoadingNow {
                        upload_id: event.upload_id,
                        rows_done: event.rows_done,
                        rows_total: event.rows_total,
                    }));
                }
            }
            // Every other event may come with a notification: read the bell again.
            _ => version.update(|v| *v += 1),
        });
    }
    let mark = move |id: Option<i64>| {
        leptos::task::spawn_local(async move {
            if mark_read(id).await.is_ok() {
                version.update(|v| *v += 1);
            }
        });
    };
    let latest = StoredValue::new(view.latest);
    view! {
        <div class="bell">
            <BellButton unread=view.unread open/>
            {move || {
                loading
                    .get()
                    .map(|l| {
                        let percent = if l.rows_total > 0 { l.rows_done * 100 / l.rows_total } else { 0 };
                        view! {
                            <a class="bell-progress" data-testid="bell-progress" href=format!("/uploads/{}", l.upload_id)>
                                {format!("Loading upload {}: {percent}%", l.upload_id)}
                            </a>
                        }
                    })
            }}
            <Show when=move || open.get()>
                <div class="bell-panel" role="region" aria-label="Latest notifications" data-testid="bell-panel">
                    {if latest.with_value(Vec::is_empty) {
                        view! { <p>"No notifications yet."</p> }.into_any()
                    } else {
                        let items = latest.get_value().into_iter().map(|n| view! { <BellItem n mark/> }).collect_view();
                        view! { <ul class="bell-list">{items}</ul> }.into_any()
                    }}
                    <p class="bell-actions">
                        <button type="button" data-testid="mark-all-read" on:click=move |_| mark(None)>
                            "Mark all read"
                        </button>
                        <a href="/notifications">"All notifications"</a>
                    </p>
                </div>
            </Show>
        </div>
    }
}

/// One notification: its message (opening its upload), "Unread" in words, and Mark read.
#[component]
pub fn BellItem(n: NotificationView, mark: impl Fn(Option<i64>) + Copy + Send + Sync + 'static) -> impl IntoView {
    let id = n.id;
    let text = view! {
        {(!n.read).then(|| view! { <strong class="unread-word">"Unread: "</strong> })}
        {n.message.clone()}
    };
    view! {
        <li class:unread=!n.read data-testid="notification">
            {match n.upload_id {
                Some(upload) => view! { <a href=format!("/uploads/{upload}")>{text}</a> }.into_any(),
                None => view! { <span>{text}</span> }.into_any(),
            }}
            {(!n.read)
                .then(|| {
                    view! {
                        <button type="button" class="mark-read" on:click=move |_| mark(Some(id))>
                            "Mark read"
                        </button>
                    }
                })}
        </li>
    }
}
