//! `/notifications`: every notification of the signed-in admin, newest first,
//! a page at a time, with mark read; kept live like the bell.
use crate::components::bell::BellItem;
use crate::components::live::{follow_events, Heard};
use crate::serverfns::notifications::{list_notifications, mark_read, NotificationList};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || query.read().get("before").and_then(|b| b.parse::<i64>().ok());
    let version = RwSignal::new(0u32);
    let list = Resource::new(move || (before(), version.get()), |(before, _)| list_notifications(before));
    view! {
        <Title text="Notifications · Muster"/>
        <section class="screen notifications">
            <h1>"Notifications"</h1>
            <Transition fallback=|| view! { <p role="status">"Reading notifications…"</p> }>
                {move || {
                    list.get()
                        .map(|found| match found {
                            Ok(list) => view! { <Notifications list version/> }.into_any(),
                            Err(err) => view! { <p class="error" role="alert">{err.to_string()}</p> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn Notifications(list: NotificationList, version: RwSignal<u32>) -> impl IntoView {
    follow_events(list.cursor, move |heard| match heard {
        Heard::Upload(event) if event.kind == "progress" => {}
        _ => version.update(|v| *v += 1),
    });
    let bell = use_context::<crate::components::bell::BellRefresh>();
    let mark = move |id: Option<i64>| {
        leptos::task::spawn_local(async move {
            if mark_read(id).await.is_ok() {
                version.update(|v| *v += 1);
                if let Some(bell) = bell {
                    bell.bump();
                }
            }
        });
    };
    let unread = match list.unread {
        0 => "All read.".to_owned(),
        1 => "1 unread.".to_owned(),
        n => format!("{n} unread."),
    };
    view! {
        <p class="about">
            {unread} " "
            {(list.unread > 0)
                .then(|| view! { <button type="button" on:click=move |_| mark(None)>"Mark all read"</button> })}
        </p>
        {if list.items.is_empty() {
            view! { <p>"No notifications yet."</p> }.into_any()
        } else {
            view! {
                <ul class="notification-list" data-testid="notification-list">
                    {list.items.into_iter().map(|n| view! { <BellItem n mark/> }).collect_view()}
                </ul>
            }
                .into_any()
        }}
        <p class="pager">
            {list.older.map(|older| view! { <a href=format!("/notifications?before={older}")>"Older notifications"</a> })}
        </p>
    }
}
