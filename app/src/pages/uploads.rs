//! The tenant's uploads (`/uploads`), newest first, a page at a time: state,
//! counts, who sent each and when, how long its load took. Kept live: an
//! upload that moves on is read again.
use super::upload_detail::{grouped, state_text, when};
use crate::components::live::{follow_events, Heard};
use crate::serverfns::uploads::{list_uploads, UploadList};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn UploadsPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || query.read().get("before").and_then(|b| b.parse::<i64>().ok());
    let version = RwSignal::new(0u32);
    let list = Resource::new(move || (before(), version.get()), |(before, _)| list_uploads(before));
    view! {
        <Title text="Uploads · Muster"/>
        <section class="screen uploads">
            <h1>"Uploads"</h1>
            <p class="about">
                "Every upload of this tenant, newest first. " <a href="/upload">"Upload a file"</a>
            </p>
            <Transition fallback=|| view! { <p role="status">"Reading uploads…"</p> }>
                {move || {
                    list.get()
                        .map(|found| match found {
                            Ok(list) => view! { <UploadTable list version/> }.into_any(),
                            Err(err) => view! { <p class="error" role="alert">{err.to_string()}</p> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn UploadTable(list: UploadList, version: RwSignal<u32>) -> impl IntoView {
    // Progress moves the counts of one row; anything else is read again.
    let progress: RwSignal<std::collections::HashMap<i64, (i64, i64, String)>> = RwSignal::new(Default::default());
    // Uploads whose end was heard: a late progress event of theirs is old news.
    let ended: StoredValue<std::collections::HashSet<i64>> = StoredValue::new(Default::default());
    let cursor = list.cursor;
    follow_events(cursor, move |heard| match heard {
        Heard::Upload(event) if event.kind == "progress" => {
            if event.state == "running" && !ended.with_value(|e| e.contains(&event.upload_id)) {
                progress.update(|p| {
                    p.insert(event.upload_id, (event.rows_done, event.rows_total, event.state));
                });
            }
        }
        Heard::Upload(event) => {
            if event.is_final() {
                ended.update_value(|e| {
                    e.insert(event.upload_id);
                });
            }
            version.update(|v| *v += 1);
        }
        Heard::Reset => version.update(|v| *v += 1),
    });
    if list.uploads.is_empty() {
        return view! { <p>"No uploads yet."</p> }.into_any();
    }
    let rows = list
        .uploads
        .into_iter()
        .map(|u| {
            let id = u.id;
            let (rows_done, rows_total, state) = (u.rows_done, u.rows_total, u.state.clone());
            let state_now = {
                let state = state.clone();
                move || progress.with(|p| p.get(&id).map(|(_, _, s)| s.clone())).unwrap_or_else(|| state.clone())
            };
            let counts = move || {
                let (done, total) =
                    progress.with(|p| p.get(&id).map(|(d, t, _)| (*d, *t))).unwrap_or((rows_done, rows_total));
                if matches!(state_now().as_str(), "running" | "done" | "failed") {
                    format!("{} of {}", grouped(done), grouped(total))
                } else {
                    grouped(total)
                }
            };
            let state_word = {
                let state = state.clone();
                move || {
                    state_text(
                        &progress.with(|p| p.get(&id).map(|(_, _, s)| s.clone())).unwrap_or_else(|| state.clone()),
                    )
                    .to_owned()
                }
            };
            view! {
                <tr>
                    <td data-label="Upload">
                        <a href=format!("/uploads/{id}")>{format!("{id}: {}", u.file_name)}</a>
                    </td>
                    <td data-label="State">
                        <span class="status-word">{state_word}</span>
                    </td>
                    <td data-label="Rows">{counts}</td>
                    <td data-label="Sent by">{u.uploaded_by}</td>
                    <td data-label="When">{when(&u.created_at)}</td>
                    <td data-label="Load took">{u.duration.map(|d| format!("{d:.1} s")).unwrap_or_else(|| "—".into())}</td>
                    <td data-label="Summary">{u.summary.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll">
            <table class="uploads-list stack-narrow" data-testid="uploads-list">
                <caption class="visually-hidden">"Uploads, newest first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Upload"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Rows"</th>
                        <th scope="col">"Sent by"</th>
                        <th scope="col">"When"</th>
                        <th scope="col">"Load took"</th>
                        <th scope="col">"Summary"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <p class="pager">
            {list.older.map(|older| view! { <a href=format!("/uploads?before={older}")>"Older uploads"</a> })}
        </p>
    }
    .into_any()
}
