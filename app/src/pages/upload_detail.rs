//! One upload's page (`/uploads/{id}`, SPEC 5 steps 2 to 4): its preview
//! while it is planned (counts, rows by status with their tick boxes, Load),
//! its live progress while it loads, and its summary and files once done.
//! Rendered on the server from the database; once hydrated, the page follows
//! the event stream and reads its state again when the upload moves on.
use crate::components::live::{follow_events, Heard, UploadEvent};
use crate::serverfns::uploads::{
    cancel_upload, preview_rows, retry_failed, select_rows, start_load, upload_overview, LoadStarted, Outcomes,
    PreviewRow, RowsToTick, UploadView,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};
use std::collections::BTreeMap;

/// Statuses a load applies: their rows have tick boxes.
const TICKABLE: [&str; 5] = ["New", "Update", "Leaver", "Joiner", "Delete"];
/// The order statuses are listed in.
const STATUSES: [&str; 9] = ["New", "Update", "Unchanged", "Leaver", "Joiner", "Delete", "Old", "Error", "Skipped"];

#[component]
pub fn UploadDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    // Bumped to read the upload again (it moved on, or the admin acted).
    let version = RwSignal::new(0u32);
    let overview = Resource::new(
        move || (id(), version.get()),
        |(id, _)| async move {
            match id {
                Some(id) => upload_overview(id).await,
                None => Err(crate::error::AppError::Invalid("No such upload.".into())),
            }
        },
    );
    view! {
        <Title text="Upload · Muster"/>
        <section class="screen upload-detail">
            // A Transition, not a Suspense: reading the upload again keeps the
            // page on screen (and its event stream open) until the new state is in.
            <Transition fallback=|| view! { <p role="status">"Reading the upload…"</p> }>
                {move || {
                    overview
                        .get()
                        .map(|found| match found {
                            Ok(upload) => view! { <UploadScreen upload version/> }.into_any(),
                            Err(err) => {
                                view! {
                                    <h1>"Upload"</h1>
                                    <p class="error" role="alert">{err.to_string()}</p>
                                    <p>
                                        <a href="/uploads">"All uploads"</a>
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}

/// What the page shows of a state, in words (never by colour alone).
pub fn state_text(state: &str) -> &'static str {
    match state {
        "validating" => "Being checked on the server",
        "ready" => "Planned: review and load",
        "queued" => "Queued",
        "running" => "Loading",
        "done" => "Done",
        "failed" => "Failed",
        "cancelled" => "Cancelled",
        _ => "Unknown",
    }
}

/// "12,345".
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// An RFC 3339 time as the pages show it: "2026-12-06 14:03 UTC" (the same on
/// the server and in the browser).
pub fn when(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(minute) => format!("{} UTC", minute.replace('T', " ")),
        None => rfc3339.to_owned(),
    }
}

#[component]
fn UploadScreen(upload: UploadView, version: RwSignal<u32>) -> impl IntoView {
    let id = upload.id;
    // The latest the event stream said of this upload, over what the page was rendered with.
    let live: RwSignal<Option<UploadEvent>> = RwSignal::new(None);
    let rendered_state = upload.state.clone();
    // Done, failed and cancelled are for good: a progress event recorded late
    // (its worker read the upload just before the end) is old news.
    let rendered_final = matches!(rendered_state.as_str(), "done" | "failed" | "cancelled");
    follow_events(upload.cursor, move |heard| match heard {
        Heard::Reset => version.update(|v| *v += 1),
        Heard::Upload(event) if event.upload_id == id => {
            // Events may arrive late, out of order: never back to older news,
            // nor from a final state.
            let newer = live
                .with_untracked(|l| l.as_ref().is_none_or(|seen| event.event_id > seen.event_id && !seen.is_final()));
            if !newer || (rendered_final && !event.is_final()) {
                return;
            }
            let moved_on = event.state != rendered_state;
            let is_final = matches!(event.state.as_str(), "done" | "failed" | "cancelled");
            // Progress is shown as it comes; a new state is read whole again
            // (its preview, its summary and files).
            if moved_on && (event.kind != "progress" || is_final) {
                version.update(|v| *v += 1);
            } else {
                live.set(Some(event));
            }
        }
        Heard::Upload(_) => {}
    });
    let title = format!("Upload {id}: {}", upload.file_name);
    let facts = format!(
        "Sent by {} on {} · {} · {}",
        upload.uploaded_by,
        when(&upload.created_at),
        mode_text(&upload.mode),
        if upload.all_or_nothing { "all or nothing" } else { "rows with errors are skipped" }
    );
    let state = upload.state.clone();
    let body = match state.as_str() {
        "ready" => view! { <Preview upload=upload.clone() version/> }.into_any(),
        "validating" | "queued" | "running" => view! { <Progress upload=upload.clone() live/> }.into_any(),
        _ => view! { <Finished upload=upload.clone()/> }.into_any(),
    };
    view! {
        <Title text=format!("Upload {id} · Muster")/>
        <p class="crumbs">
            <a href="/uploads">"Uploads"</a>
        </p>
        <h1>{title}</h1>
        <p class="about">{facts}</p>
        <p class="upload-state" data-testid="upload-state">
            "State: "
            <strong>{move || state_text(&live.get().map(|e| e.state).unwrap_or_else(|| state.clone())).to_owned()}</strong>
        </p>
        {upload
            .check_differs
            .clone()
            .map(|note| {
                view! {
                    <p class="notice" role="note" data-testid="check-differs">
                        <strong>"The server's check differs from your browser's. "</strong>
                        {note}
                    </p>
                }
            })}
        {body}
    }
}

fn mode_text(mode: &str) -> &'static str {
    match mode {
        "add-new-only" => "add new only",
        "update-only" => "update only",
        "sync" => "sync",
        _ => "add and update",
    }
}

/// The file's problems as a whole (a missing heading, too few licences).
#[component]
fn FileProblems(upload: UploadView) -> impl IntoView {
    (!upload.file_problems.is_empty()).then(|| {
        let heading = if upload.file_error { "The file cannot be loaded:" } else { "About the file:" };
        view! {
            <div class="file-problems" role="alert">
                <p>
                    <strong>{heading}</strong>
                </p>
                <ul>{upload.file_problems.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
            </div>
        }
    })
}

/// Step 2: the server's plan, a page of rows at a time, and step 3: Load.
#[component]
fn Preview(upload: UploadView, version: RwSignal<u32>) -> impl IntoView {
    let id = upload.id;
    let filter = RwSignal::new(String::new());
    // The positions the pages before this one started after: Previous pops one.
    let pages: RwSignal<Vec<Option<i32>>> = RwSignal::new(vec![None]);
    let ticked = RwSignal::new(upload.ticked.clone());
    // Why the last tick was not taken, if it was not.
    let tick_said: RwSignal<Option<String>> = RwSignal::new(None);
    let rows_version = RwSignal::new(0u32);
    let rows = Resource::new(
        move || (filter.get(), pages.with(|p| p.last().copied().flatten()), rows_version.get()),
        move |(status, after, _)| async move { preview_rows(id, Some(status), after).await },
    );
    let planned = upload.planned.clone();
    let total: u64 = planned.values().sum();
    let errors = planned.get("Error").copied().unwrap_or(0);
    let choose = move |status: String| {
        filter.set(status);
        pages.set(vec![None]);
    };
    let filters = {
        let planned = planned.clone();
        let mut buttons = vec![("".to_owned(), format!("All ({})", grouped(total as i64)))];
        for status in STATUSES {
            if let Some(n) = planned.get(status).filter(|n| **n > 0) {
                buttons.push((status.to_owned(), format!("{status} ({})", grouped(*n as i64))));
            }
        }
        buttons
            .into_iter()
            .map(|(status, label)| {
                let pressed = {
                    let status = status.clone();
                    move || (filter.get() == status).to_string()
                };
                view! {
                    <button type="button" class="filter" aria-pressed=pressed on:click=move |_| choose(status.clone())>
                        {label}
                    </button>
                }
            })
            .collect_view()
    };
    let tick_all = {
        let planned = planned.clone();
        TICKABLE
            .into_iter()
            .filter_map(|status| planned.get(status).filter(|n| **n > 0).map(|n| (status, *n)))
            .map(|(status, n)| {
                let input_id = format!("tick-all-{}", status.to_lowercase());
                let checked = move || ticked.with(|t| t.get(status).copied().unwrap_or(0) == n);
                let on_change = move |ev: leptos::ev::Event| {
                    let on = event_target_checked(&ev);
                    leptos::task::spawn_local(async move {
                        match select_rows(id, RowsToTick::Status(status.to_owned()), on).await {
                            Ok(_) => {
                                ticked.update(|t| {
                                    t.insert(status.to_owned(), if on { n } else { 0 });
                                });
                                rows_version.update(|v| *v += 1);
                                tick_said.set(None);
                            }
                            Err(err) => {
                                // The box shows what the server holds again.
                                ticked.notify();
                                tick_said.set(Some(format!("Not changed: {err}")));
                            }
                        }
                    });
                };
                view! {
                    <div class="choice">
                        <input
                            type="checkbox"
                            id=input_id.clone()
                            checked=checked
                            prop:checked=checked
                            on:change=on_change
                        />
                        <label for=input_id>
                            {format!("Load all {} {status} rows", grouped(n as i64))}
                            <small>
                                {move || {
                                    let t = ticked.with(|t| t.get(status).copied().unwrap_or(0));
                                    format!("{} of {} ticked", grouped(t as i64), grouped(n as i64))
                                }}
                            </small>
                        </label>
                    </div>
                }
            })
            .collect_view()
    };
    let counts = STATUSES
        .into_iter()
        .filter_map(|status| planned.get(status).map(|n| (status, *n)))
        .map(|(status, n)| view! { <li><span class="status-word">{status}</span>": "{grouped(n as i64)}</li> })
        .collect_view();
    view! {
        <FileProblems upload=upload.clone()/>
        <h2>"Preview"</h2>
        <ul class="plan-counts" data-testid="plan-counts">{counts}</ul>
        {(!upload.roles_added.is_empty() || !upload.groups_added.is_empty())
            .then(|| {
                view! {
                    <p class="about">
                        {format!(
                            "New roles: {}. New groups: {}.",
                            if upload.roles_added.is_empty() { "none".into() } else { upload.roles_added.join(", ") },
                            if upload.groups_added.is_empty() { "none".into() } else { upload.groups_added.join(", ") },
                        )}
                    </p>
                }
            })}
        <fieldset class="tick-all">
            <legend>"Rows to load"</legend>
            {tick_all}
        </fieldset>
        <LoadBar upload errors version/>
        <p role="alert" class="error" data-testid="tick-said">{move || tick_said.get()}</p>
        <div class="filters" role="group" aria-label="Show rows of one status">{filters}</div>
        <Suspense fallback=|| view! { <p role="status">"Reading rows…"</p> }>
            {move || {
                rows.get()
                    .map(|found| match found {
                        Ok(page) => {
                            let next = page.next;
                            view! {
                                <RowsTable rows=page.rows upload_id=id ticked said=tick_said/>
                                <div class="pager">
                                    <button
                                        type="button"
                                        disabled={move || pages.with(|p| p.len() <= 1)}
                                        on:click=move |_| pages.update(|p| {
                                            p.pop();
                                        })
                                    >
                                        "Previous"
                                    </button>
                                    <button
                                        type="button"
                                        disabled=next.is_none()
                                        on:click=move |_| pages.update(|p| p.push(next))
                                    >
                                        "Next"
                                    </button>
                                </div>
                            }
                                .into_any()
                        }
                        Err(err) => view! { <p class="error" role="alert">{err.to_string()}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn RowsTable(
    rows: Vec<PreviewRow>,
    upload_id: i64,
    ticked: RwSignal<BTreeMap<String, u64>>,
    said: RwSignal<Option<String>>,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p>"No rows of this status."</p> }.into_any();
    }
    let body = rows
        .into_iter()
        .map(|row| {
            let tickable = TICKABLE.contains(&row.status.as_str()) && row.line > 0;
            let line = row.line as i32;
            let status = row.status.clone();
            let tick = tickable.then(|| {
                // What the server holds for the row: a change it refused is undone on screen.
                let held = RwSignal::new(row.ticked);
                let on_change = move |ev: leptos::ev::Event| {
                    let on = event_target_checked(&ev);
                    let status = status.clone();
                    leptos::task::spawn_local(async move {
                        match select_rows(upload_id, RowsToTick::Lines(vec![line]), on).await {
                            Ok(changed) if changed > 0 => {
                                held.set(on);
                                ticked.update(|t| {
                                    let n = t.entry(status).or_insert(0);
                                    *n = if on { *n + 1 } else { n.saturating_sub(1) };
                                });
                                said.set(None);
                            }
                            refused => {
                                held.notify();
                                let why = refused.err().map_or_else(|| "the upload is no longer planned".to_owned(), |e| e.to_string());
                                said.set(Some(format!("Line {line} not changed: {why}")));
                            }
                        }
                    });
                };
                view! {
                    <input
                        type="checkbox"
                        checked=row.ticked
                        prop:checked=held
                        aria-label=format!("Load line {line}")
                        data-testid=format!("tick-{line}")
                        on:change=on_change
                    />
                }
            });
            let status_text = match row.status.as_str() {
                "Error" => "Error: will not be loaded".to_owned(),
                "Skipped" => "Skipped: will not be loaded".to_owned(),
                other => other.to_owned(),
            };
            let who = match (&row.user_id, &row.full_name) {
                (Some(id), Some(name)) => format!("{id} ({name})"),
                (Some(id), None) => id.clone(),
                (None, Some(name)) => name.clone(),
                (None, None) => "—".to_owned(),
            };
            let changes = (!row.changes.is_empty()).then(|| {
                view! {
                    <ul class="changes">
                        {row
                            .changes
                            .iter()
                            .map(|c| {
                                view! {
                                    <li>
                                        <span class="field">{c.field.clone()}</span>": "
                                        <del>{c.old.clone().unwrap_or_else(|| "(empty)".into())}</del>" → "
                                        <ins>{c.new.clone().unwrap_or_else(|| "(empty)".into())}</ins>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
            });
            let problems = (!row.problems.is_empty())
                .then(|| view! { <ul class="row-problems">{row.problems.iter().map(|p| view! { <li>{p.clone()}</li> }).collect_view()}</ul> });
            let class = if row.status == "Error" { "is-error" } else { "" };
            view! {
                <tr class=class data-line=row.line>
                    <td data-label="Load">{tick}</td>
                    <td data-label="Line">{if row.line > 0 { row.line.to_string() } else { "—".into() }}</td>
                    <td data-label="User">{who}</td>
                    <td data-label="Status">
                        <span class="status-word">{status_text}</span>
                    </td>
                    <td data-label="What will happen">{row.message.clone()} {changes} {problems}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll">
            <table class="preview stack-narrow" data-testid="preview-rows">
                <caption class="visually-hidden">"Planned rows"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Load"</th>
                        <th scope="col">"Line"</th>
                        <th scope="col">"User"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"What will happen"</th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Load (and Cancel) for a planned upload.
#[component]
fn LoadBar(upload: UploadView, errors: u64, version: RwSignal<u32>) -> impl IntoView {
    let id = upload.id;
    let confirmed = RwSignal::new(false);
    let needs_confirmation = upload.needs_confirmation;
    let working = RwSignal::new(false);
    let said: RwSignal<Option<String>> = RwSignal::new(None);
    let blocked = if upload.file_error {
        Some("The file has an error of its own (above): it cannot be loaded as it is.".to_owned())
    } else if upload.all_or_nothing && errors > 0 {
        Some(format!(
            "All or nothing: {} with errors, so nothing can be loaded. Fix them and send the file again.",
            if errors == 1 { "1 row is".to_owned() } else { format!("{} rows are", grouped(errors as i64)) }
        ))
    } else {
        None
    };
    let may_load = blocked.is_none();
    let load = move |_| {
        working.set(true);
        said.set(None);
        leptos::task::spawn_local(async move {
            match start_load(id, confirmed.get_untracked()).await {
                Ok(LoadStarted::Waiting { behind: Some(other) }) => {
                    said.set(Some(format!("Queued: it waits behind upload {other}.")));
                    version.update(|v| *v += 1);
                }
                Ok(_) => version.update(|v| *v += 1),
                Err(err) => said.set(Some(err.to_string())),
            }
            working.set(false);
        });
    };
    let cancel = move |_| {
        working.set(true);
        leptos::task::spawn_local(async move {
            match cancel_upload(id).await {
                Ok(()) => version.update(|v| *v += 1),
                Err(err) => said.set(Some(err.to_string())),
            }
            working.set(false);
        });
    };
    view! {
        <div class="load-bar">
            {(errors > 0 && may_load)
                .then(|| {
                    view! {
                        <p class="notice">
                            {format!(
                                "{} with errors will not be loaded; the others will.",
                                if errors == 1 { "1 row".to_owned() } else { format!("{} rows", grouped(errors as i64)) },
                            )}
                        </p>
                    }
                })}
            {blocked.map(|why| view! { <p class="notice" role="alert" data-testid="load-blocked">{why}</p> })}
            {(needs_confirmation && may_load)
                .then(|| {
                    view! {
                        <div class="choice confirm">
                            <input
                                type="checkbox"
                                id="confirm-sync"
                                data-testid="confirm-sync"
                                on:change=move |ev| confirmed.set(event_target_checked(&ev))
                            />
                            <label for="confirm-sync">
                                "Yes, retire the users this sync names as Old"
                                <small>
                                    "This sync retires more users than the safeguard allows (SPEC 4). It is loaded only with this second confirmation."
                                </small>
                            </label>
                        </div>
                    }
                })}
            <button
                type="button"
                class="primary"
                data-testid="load"
                disabled={move || !may_load || working.get() || (needs_confirmation && !confirmed.get())}
                on:click=load
            >
                "Load"
            </button>
            <button type="button" data-testid="cancel-upload" disabled={move || working.get()} on:click=cancel>
                "Cancel this upload"
            </button>
            <p role="status" aria-live="polite" data-testid="load-said">{move || said.get()}</p>
        </div>
    }
}

/// Step 4 while it runs: a live progress bar, counts so far, rate and time left.
#[component]
fn Progress(upload: UploadView, live: RwSignal<Option<UploadEvent>>) -> impl IntoView {
    let rendered = (upload.rows_done, upload.rows_total, upload.outcomes, upload.rate);
    let state = upload.state.clone();
    // Where the load was when the page first showed it, to measure the rate from in the browser.
    let first: StoredValue<Option<(f64, i64)>> = StoredValue::new(None);
    let done = move || live.get().map_or(rendered.0, |e| e.rows_done);
    let total = move || live.get().map_or(rendered.1, |e| e.rows_total).max(0);
    let outcomes = move || live.get().and_then(|e| e.counts).or(rendered.2);
    let rate = move || -> Option<f64> {
        let done = done();
        let measured = now_seconds().and_then(|now| {
            if first.get_value().is_none() {
                first.set_value(Some((now, done)));
            }
            let (t0, d0) = first.get_value()?;
            (now - t0 > 0.5 && done > d0).then(|| (done - d0) as f64 / (now - t0))
        });
        measured.or(rendered.3).filter(|r| *r > 0.0)
    };
    let percent = move || if total() > 0 { done() * 100 / total() } else { 0 };
    let detail = move || {
        let mut text = format!("{} of {} rows", grouped(done()), grouped(total()));
        if let Some(rate) = rate() {
            let left = (total() - done()).max(0) as f64 / rate;
            text.push_str(&format!(" · {} rows/s · about {} left", grouped(rate as i64), duration_text(left)));
        }
        text
    };
    // Announced in steps of a tenth, not at every event.
    let announced = move || {
        let state = live.get().map(|e| e.state).unwrap_or_else(|| state.clone());
        match state.as_str() {
            "validating" => "Being checked on the server…".to_owned(),
            "queued" => "Queued: the load starts when a worker is free.".to_owned(),
            _ => format!("Loading: {}% done.", percent() / 10 * 10),
        }
    };
    view! {
        {upload
            .waiting_behind
            .map(|other| {
                view! {
                    <p class="notice" data-testid="waiting-behind">
                        "Waiting behind "
                        <a href=format!("/uploads/{other}")>{format!("upload {other}")}</a>
                        ": loads of a tenant run one at a time."
                    </p>
                }
            })}
        <div class="load-progress">
            <p role="status" aria-live="polite" data-testid="progress-announced">{announced}</p>
            <progress
                aria-label="Rows loaded"
                max=move || total().max(1)
                value=done
                data-testid="load-progress"
            ></progress>
            <p data-testid="progress-detail">{move || format!("{}% · {}", percent(), detail())}</p>
            <OutcomeList outcomes=Signal::derive(outcomes)/>
        </div>
    }
}

fn now_seconds() -> Option<f64> {
    #[cfg(feature = "hydrate")]
    return Some(js_sys::Date::now() / 1000.0);
    #[cfg(not(feature = "hydrate"))]
    None
}

/// "12 s", "3 min 20 s".
fn duration_text(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    }
}

#[component]
fn OutcomeList(outcomes: Signal<Option<Outcomes>>) -> impl IntoView {
    move || {
        outcomes.get().map(|o| {
            let items = [
                ("Added", o.added),
                ("Updated", o.updated),
                ("Leavers", o.leavers),
                ("Joiners", o.joiners),
                ("Deleted", o.deleted),
                ("Unchanged", o.unchanged),
                ("Skipped", o.skipped),
                ("Errors", o.errors),
            ];
            view! {
                <ul class="plan-counts" data-testid="outcomes">
                    {items
                        .into_iter()
                        .map(|(word, n)| view! { <li><span class="status-word">{word}</span>": "{grouped(n as i64)}</li> })
                        .collect_view()}
                </ul>
            }
        })
    }
}

/// Step 4 at its end: the summary line, the files, Retry failed rows.
#[component]
fn Finished(upload: UploadView) -> impl IntoView {
    let id = upload.id;
    let navigate = use_navigate();
    let said: RwSignal<Option<String>> = RwSignal::new(None);
    let working = RwSignal::new(false);
    let retry = move |_| {
        let navigate = navigate.clone();
        working.set(true);
        leptos::task::spawn_local(async move {
            match retry_failed(id).await {
                Ok(new_id) => navigate(&format!("/uploads/{new_id}"), Default::default()),
                Err(err) => said.set(Some(err.to_string())),
            }
            working.set(false);
        });
    };
    let loaded = matches!(upload.state.as_str(), "done" | "failed");
    let summary = upload.summary.clone().or_else(|| upload.error.clone());
    let took = upload
        .rate
        .filter(|_| loaded)
        .map(|rate| format!("{} rows at {} rows/s.", grouped(upload.rows_done), grouped(rate as i64)));
    view! {
        <FileProblems upload=upload.clone()/>
        {summary.map(|s| view! { <p class="summary" data-testid="summary">{s}</p> })}
        {took.map(|t| view! { <p class="about">{t}</p> })}
        <OutcomeList outcomes=Signal::derive(move || upload.outcomes)/>
        <ul class="files">
            {loaded
                .then(|| {
                    view! {
                        <li>
                            <a href=format!("/uploads/{id}/results.csv") download="" data-testid="results-csv" rel="external">
                                "Results file (CSV: the file with a result column)"
                            </a>
                        </li>
                    }
                })}
            <li>
                <a href=format!("/uploads/{id}/file") download="" data-testid="original-file" rel="external">
                    "The file as it was sent"
                </a>
            </li>
        </ul>
        {(loaded && upload.failed_rows > 0)
            .then(|| {
                view! {
                    <button type="button" data-testid="retry-failed" disabled={move || working.get()} on:click=retry>
                        {format!(
                            "Retry failed rows ({})",
                            grouped(upload.failed_rows as i64),
                        )}
                    </button>
                }
            })}
        <p role="status" aria-live="polite">{move || said.get()}</p>
    }
}
