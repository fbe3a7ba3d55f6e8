#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]
//! Step 1 of an upload (SPEC 5): the admin picks a file and the browser
//! validates it at once, in a Web Worker running the import engine, before
//! anything is sent. The page shows how the file was read, how each heading
//! is mapped (an unknown one can be mapped to a field or ignored), the counts,
//! and the problems line by line, a page at a time.
use leptos::prelude::*;
use leptos_meta::Title;
use muster_import::plan::HeadingUse;
use muster_import::{Diagnostic, Field};
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::serverfns::uploads::LoadChoices;

/// Problems shown at once: the worker keeps the rest.
const PAGE: usize = 50;

/// What the worker says of a file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Summary {
    pub format: String,
    pub encoding: String,
    pub delimiter: String,
    pub rows: u64,
    pub rows_with_errors: u64,
    /// Errors and warnings in all, of the file's heading line and of its rows.
    pub errors: u64,
    pub warnings: u64,
    pub file_diagnostics: Vec<Diagnostic>,
    pub headings: Vec<HeadingUse>,
    /// The columns problems name, for the filter.
    pub columns: Vec<String>,
    /// The problems of rows (those of the heading line are in `file_diagnostics`).
    pub problems: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Problem {
    pub line: u64,
    pub severity: String,
    pub column: String,
    pub value: String,
    pub message: String,
}

/// One page of the problems that match the filters.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemPage {
    pub from: usize,
    pub total: usize,
    pub items: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    Idle,
    Reading { read: f64, total: f64 },
    Validating,
    Done(Box<Summary>),
    Failed(String),
    Cancelled,
}

/// The worker's messages.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum FromWorker {
    Progress {
        job: u32,
        read: f64,
        total: f64,
    },
    Validating {
        job: u32,
    },
    Verdict {
        job: u32,
        summary: Box<Summary>,
    },
    Page {
        job: u32,
        from: usize,
        total: usize,
        items: Vec<Problem>,
    },
    /// A file the worker made (the problems CSV), as an object URL.
    File {
        job: u32,
        url: String,
        name: String,
    },
    Failed {
        job: u32,
        message: String,
    },
}

impl FromWorker {
    fn job(&self) -> u32 {
        match self {
            FromWorker::Progress { job, .. }
            | FromWorker::Validating { job }
            | FromWorker::Verdict { job, .. }
            | FromWorker::Page { job, .. }
            | FromWorker::File { job, .. }
            | FromWorker::Failed { job, .. } => *job,
        }
    }
}

/// Everything the page keeps while a file is picked.
#[derive(Clone, Copy)]
struct Upload {
    choices: RwSignal<LoadChoices>,
    stage: RwSignal<Stage>,
    page: RwSignal<Option<ProblemPage>>,
    severity: RwSignal<String>,
    column: RwSignal<String>,
    /// Heading as written → field name, or `None` to ignore it.
    mapping: RwSignal<BTreeMap<String, Option<String>>>,
    file_name: RwSignal<Option<String>>,
    /// Whether the picked file was offered the tenant's remembered mapping yet.
    offered: RwSignal<bool>,
    /// The remembered mapping was applied to this file.
    remembered: RwSignal<bool>,
    /// The headings of a mapping to save once the save being sent is done.
    pending_save: RwSignal<Option<Vec<String>>>,
    saving: RwSignal<bool>,
    /// Something the admin should know that is not about the file itself.
    notice: RwSignal<Option<String>>,
    job: RwSignal<u32>,
    #[cfg(feature = "hydrate")]
    browser: StoredValue<browser::Validator, LocalStorage>,
}

impl Upload {
    fn new() -> Self {
        Self {
            choices: RwSignal::new(LoadChoices::default()),
            stage: RwSignal::new(Stage::Idle),
            page: RwSignal::new(None),
            severity: RwSignal::new(String::new()),
            column: RwSignal::new(String::new()),
            mapping: RwSignal::new(BTreeMap::new()),
            file_name: RwSignal::new(None),
            offered: RwSignal::new(false),
            remembered: RwSignal::new(false),
            pending_save: RwSignal::new(None),
            saving: RwSignal::new(false),
            notice: RwSignal::new(None),
            job: RwSignal::new(0),
            #[cfg(feature = "hydrate")]
            browser: StoredValue::new_local(browser::Validator::default()),
        }
    }

    fn busy(&self) -> bool {
        matches!(self.stage.get(), Stage::Reading { .. } | Stage::Validating)
    }

    /// Takes a message of the worker, if it is about the current file.
    fn hear(&self, message: FromWorker) {
        if message.job() != self.job.get_untracked() {
            return;
        }
        match message {
            FromWorker::Progress { read, total, .. } => self.stage.set(Stage::Reading { read, total }),
            FromWorker::Validating { .. } => self.stage.set(Stage::Validating),
            FromWorker::Verdict { summary, .. } => {
                let unknown = summary.headings.iter().any(|h| h.read_as == "unknown");
                let headings: Vec<String> = summary.headings.iter().map(|h| h.heading.clone()).collect();
                self.stage.set(Stage::Done(summary));
                self.ask_page(0);
                if unknown && !self.offered.get_untracked() {
                    self.offer_remembered(headings);
                }
                self.offered.set(true);
            }
            FromWorker::Page { from, total, items, .. } => self.page.set(Some(ProblemPage { from, total, items })),
            FromWorker::File { url, name, .. } => {
                #[cfg(feature = "hydrate")]
                browser::download(&url, &name);
                #[cfg(not(feature = "hydrate"))]
                let _ = (url, name);
            }
            FromWorker::Failed { message, .. } => self.stage.set(Stage::Failed(message)),
        }
    }

    /// Applies the mapping the tenant last gave a file with these headings, if
    /// any, and checks the file again with it.
    fn offer_remembered(&self, headings: Vec<String>) {
        let this = *self;
        let job = self.job.get_untracked();
        leptos::task::spawn_local(async move {
            if let Ok(found) = crate::serverfns::uploads::remembered_mapping(headings).await {
                // Only for the file it was asked for: another may have been
                // picked (or the mapping changed) while the server answered.
                let same_file = this.job.get_untracked() == job;
                if same_file && !found.is_empty() && this.mapping.with_untracked(BTreeMap::is_empty) {
                    this.mapping.set(found);
                    this.remembered.set(true);
                    this.validate();
                }
            }
        });
    }

    /// Remembers the current mapping for the tenant's next file with these
    /// headings. One save at a time, and the mapping as it is when a save is
    /// sent: a change made while one is out is sent after it, so quick changes
    /// cannot land out of order.
    fn remember(&self, headings: Vec<String>) {
        self.pending_save.set(Some(headings));
        if self.saving.get_untracked() {
            return;
        }
        self.saving.set(true);
        let this = *self;
        leptos::task::spawn_local(async move {
            while let Some(headings) = this.pending_save.try_update(Option::take).flatten() {
                let mapping = this.mapping.get_untracked();
                if let Err(err) = crate::serverfns::uploads::remember_mapping(headings, mapping).await {
                    this.notice.set(Some(format!("The mapping was not remembered for the next file: {err}")));
                }
            }
            this.saving.set(false);
        });
    }

    /// Asks the worker for the file with a `problem` column, then downloads it.
    fn download_problems(&self) {
        #[cfg(feature = "hydrate")]
        {
            let job = self.job.get_untracked();
            self.browser.with_value(|v| v.ask(job, "problems-csv"));
        }
    }

    /// Asks the worker for the page of problems from `from`, under the filters.
    fn ask_page(&self, from: usize) {
        #[cfg(feature = "hydrate")]
        {
            let (severity, column) = (self.severity.get_untracked(), self.column.get_untracked());
            let job = self.job.get_untracked();
            self.browser.with_value(|v| v.ask_page(job, from, PAGE, &severity, &column));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = from;
    }

    /// Validates the picked file (again, after a mapping changed).
    fn validate(&self) {
        self.job.update(|j| *j += 1);
        self.page.set(None);
        self.stage.set(Stage::Reading { read: 0.0, total: 0.0 });
        #[cfg(feature = "hydrate")]
        {
            let this = *self;
            let job = self.job.get_untracked();
            let mapping = self.mapping.get_untracked();
            let started = self.browser.try_update_value(|v| v.start(job, &mapping, move |message| this.hear(message)));
            if let Some(Err(why)) = started {
                self.stage.set(Stage::Failed(why));
            }
        }
    }

    fn cancel(&self) {
        self.job.update(|j| *j += 1);
        #[cfg(feature = "hydrate")]
        self.browser.update_value(|v| v.stop());
        self.stage.set(Stage::Cancelled);
    }
}

#[component]
pub fn UploadPage() -> impl IntoView {
    let upload = Upload::new();
    view! {
        <Title text="Upload users · Muster"/>
        <section class="screen upload">
            <h1>"Upload users"</h1>
            <p class="about">
                "Pick a CSV file: it is checked here, in your browser, line by line. Nothing is sent until you choose to."
            </p>
            <Picker upload/>
            <Samples/>
            <Status upload/>
            <Verdict upload/>
            <Choices upload/>
            <SendStep upload/>
        </section>
    }
}

/// The file button and the drop zone (the button is the keyboard's way in).
#[component]
fn Picker(upload: Upload) -> impl IntoView {
    let (dragging, set_dragging) = signal(false);
    // gloo-file gives the page the picked file; the worker is handed the
    // browser's own File under it, which it reads in slices.
    #[cfg(feature = "hydrate")]
    let take = move |file: gloo_file::File| {
        upload.file_name.set(Some(format!("{} ({})", file.name(), size_text(file.size()))));
        upload.mapping.set(BTreeMap::new());
        upload.offered.set(false);
        upload.remembered.set(false);
        upload.severity.set(String::new());
        upload.column.set(String::new());
        upload.browser.update_value(|v| v.file = Some(file));
        upload.validate();
    };
    let on_change = move |_ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let input: web_sys::HtmlInputElement = _ev.target().expect("an input").unchecked_into();
            if let Some(file) = input.files().map(gloo_file::FileList::from).and_then(|f| f.first().cloned()) {
                take(file);
            }
            // The same file picked again (after fixing it) is a new pick.
            input.set_value("");
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        set_dragging.set(false);
        #[cfg(feature = "hydrate")]
        if let Some(file) =
            ev.data_transfer().and_then(|t| t.files()).map(gloo_file::FileList::from).and_then(|f| f.first().cloned())
        {
            take(file);
        }
    };
    view! {
        <div
            class="dropzone"
            class:dragging=dragging
            data-testid="dropzone"
            on:dragover=move |ev: leptos::ev::DragEvent| {
                ev.prevent_default();
                set_dragging.set(true);
            }
            on:dragleave=move |_| set_dragging.set(false)
            on:drop=on_drop
        >
            <label class="file-button" for="users-file">"Choose a CSV file"</label>
            <input
                id="users-file"
                class="visually-hidden"
                type="file"
                accept=".csv,.txt,text/csv,text/plain"
                data-testid="file-input"
                on:change=on_change
            />
            <span class="hint">"or drop it here"</span>
            {move || upload.file_name.get().map(|name| view! { <p class="picked">"File: " <strong>{name}</strong></p> })}
        </div>
    }
}

/// One choice of a group of radio buttons, with its one-line explanation.
fn radio(
    upload: Upload,
    group: &'static str,
    value: &'static str,
    label: &'static str,
    about: &'static str,
    get: fn(&LoadChoices) -> &String,
    set: fn(&mut LoadChoices, String),
) -> impl IntoView {
    let id = format!("{group}-{value}");
    view! {
        <div class="choice">
            <input
                type="radio"
                id=id.clone()
                name=group
                value=value
                checked=move || upload.choices.with(|c| get(c) == value)
                on:change=move |_| upload.choices.update(|c| set(c, value.to_owned()))
            />
            <label for=id>{label}<small>{about}</small></label>
        </div>
    }
}

/// A yes-or-no choice, with its one-line explanation.
fn tick(
    upload: Upload,
    id: &'static str,
    label: &'static str,
    about: &'static str,
    get: fn(&LoadChoices) -> bool,
    set: fn(&mut LoadChoices, bool),
) -> impl IntoView {
    view! {
        <div class="choice">
            <input
                type="checkbox"
                id=id
                checked=move || upload.choices.with(get)
                on:change=move |ev| upload.choices.update(|c| set(c, event_target_checked(&ev)))
            />
            <label for=id>{label}<small>{about}</small></label>
        </div>
    }
}

/// The load's options (SPEC 4) and the tenant's licences.
#[component]
fn Choices(upload: Upload) -> impl IntoView {
    let licences = Resource::new(|| (), |_| crate::serverfns::uploads::licences());
    let rows = move || match upload.stage.get() {
        Stage::Done(summary) => Some(summary.rows),
        _ => None,
    };
    let licence_line = move || {
        licences.get().map(|found| match found {
            Ok(l) => {
                let held = match l.limit {
                    Some(limit) => {
                        format!("Licences: {} of {limit} in use, {} remaining.", l.used, limit.saturating_sub(l.used))
                    }
                    None => format!("Licences: {} in use, no limit.", l.used),
                };
                let needed = rows().map(|n| {
                    let over = l.limit.is_some_and(|limit| n > limit.saturating_sub(l.used));
                    format!(
                        " This file has {}: it needs at most {} for new users{}",
                        count(n, "row"),
                        count(n, "licence"),
                        if over { "; the preview says how many are new (more than remain is an error)." } else { "." }
                    )
                });
                format!("{held}{}", needed.unwrap_or_default())
            }
            Err(err) => format!("Licences could not be read: {err}"),
        })
    };
    fn mode(c: &LoadChoices) -> &String {
        &c.mode
    }
    fn action(c: &LoadChoices) -> &String {
        &c.sync_action
    }
    fn passwords(c: &LoadChoices) -> &String {
        &c.passwords
    }
    let set_mode = |c: &mut LoadChoices, v: String| c.mode = v;
    let set_action = |c: &mut LoadChoices, v: String| c.sync_action = v;
    let set_passwords = |c: &mut LoadChoices, v: String| c.passwords = v;
    let not_sync = move || upload.choices.with(|c| c.mode != "sync");
    view! {
        <section class="choices" aria-labelledby="choices-title">
            <h2 id="choices-title">"Options"</h2>
            <p class="licences" data-testid="licences">
                <Suspense fallback=|| "Licences: …">{licence_line}</Suspense>
            </p>
            <fieldset>
                <legend>"What the file does"</legend>
                {radio(upload, "mode", "add-and-update", "Add and update", "New users are added, existing ones updated.", mode, set_mode)}
                {radio(upload, "mode", "add-new-only", "Add new only", "Existing users are skipped, whatever the file says of them.", mode, set_mode)}
                {radio(upload, "mode", "update-only", "Update only", "A user the file names who does not exist is an error.", mode, set_mode)}
                {radio(upload, "mode", "sync", "Sync", "Add and update, and list every active user the file does not name.", mode, set_mode)}
            </fieldset>
            <fieldset prop:disabled=not_sync>
                <legend>"Users a sync does not find"</legend>
                {radio(upload, "sync-action", "report", "Report only", "They are listed and kept as they are.", action, set_action)}
                {radio(upload, "sync-action", "mark-leaver", "Mark as leavers", "They keep their account but lose their licence.", action, set_action)}
                {radio(upload, "sync-action", "delete", "Delete", "Their accounts are deleted (admins are always kept).", action, set_action)}
            </fieldset>
            <fieldset>
                <legend>"New users without a password"</legend>
                {radio(upload, "passwords", "invite", "Send an invitation", "A single-use link to set a password, valid for 7 days.", passwords, set_passwords)}
                {radio(upload, "passwords", "generate", "Generate a password", "Not sent to anyone; they change it at first sign-in.", passwords, set_passwords)}
                {radio(upload, "passwords", "generate-email", "Generate and email a password", "They change it at first sign-in.", passwords, set_passwords)}
            </fieldset>
            <fieldset>
                <legend>"Mail and errors"</legend>
                {tick(upload, "notify-new-users", "Notify new users", "Off: no new user gets mail, whatever the file's notifyIfNewUser says.", |c| c.notify_new_users, |c, v| c.notify_new_users = v)}
                {tick(upload, "results-email", "Email me the results", "The summary and the results file, when the load ends.", |c| c.results_email, |c, v| c.results_email = v)}
                {tick(upload, "all-or-nothing", "All or nothing", "Any row error stops the whole load; off, only that row is not loaded.", |c| c.all_or_nothing, |c, v| c.all_or_nothing = v)}
            </fieldset>
        </section>
    }
}

/// Where sending the file to the server is.
#[derive(Debug, Clone, PartialEq)]
enum Sending {
    Idle,
    /// On its way: bytes sent of the total.
    InFlight {
        sent: f64,
        total: f64,
    },
    /// All of it arrived: the server checks and plans it.
    Planning,
    AlreadyInProgress {
        upload_id: i64,
        state: String,
    },
    Failed(String),
}

/// Step 2 begins: the file, the mapping and the options go to the server,
/// which checks the file again and plans it; its preview opens.
#[component]
fn SendStep(upload: Upload) -> impl IntoView {
    let sending = RwSignal::new(Sending::Idle);
    let limits = Resource::new(|| (), |_| crate::serverfns::uploads::licences());
    let navigate = leptos_router::hooks::use_navigate();
    // A file whose heading line has an error is not sent: the server would refuse it too.
    let checked = move || match upload.stage.get() {
        Stage::Done(summary) => Some(!summary.file_diagnostics.iter().any(|d| d.is_error())),
        _ => None,
    };
    let busy = move || matches!(sending.get(), Sending::InFlight { .. } | Sending::Planning);
    let send = move |_| {
        let Stage::Done(summary) = upload.stage.get_untracked() else { return };
        let limit = limits.get_untracked().and_then(Result::ok).map(|l| l.max_upload_bytes);
        let request = crate::serverfns::uploads::SendChoices {
            load: upload.choices.get_untracked(),
            mapping: upload.mapping.get_untracked(),
            browser_rows: Some(summary.rows),
            browser_rows_with_errors: Some(summary.rows_with_errors),
        };
        #[cfg(feature = "hydrate")]
        {
            let Some(file) = upload.browser.with_value(|v| v.file.clone()) else { return };
            if let Some(limit) = limit.filter(|limit| file.size() > *limit) {
                sending.set(Sending::Failed(muster_import::sizes::too_large(file.size(), limit)));
                return;
            }
            let navigate = navigate.clone();
            let json = serde_json::to_string(&request).unwrap_or_default();
            sending.set(Sending::InFlight { sent: 0.0, total: file.size() as f64 });
            let started = browser::send(
                &file,
                &json,
                move |sent, total| {
                    sending.set(if sent >= total { Sending::Planning } else { Sending::InFlight { sent, total } })
                },
                move |answer| match answer {
                    Ok(crate::serverfns::uploads::Sent::Planned { upload_id }) => {
                        sending.set(Sending::Idle);
                        navigate(&format!("/uploads/{upload_id}"), Default::default());
                    }
                    Ok(crate::serverfns::uploads::Sent::AlreadyInProgress { upload_id, state }) => {
                        sending.set(Sending::AlreadyInProgress { upload_id, state })
                    }
                    Err(why) => sending.set(Sending::Failed(why)),
                },
            );
            if let Err(why) = started {
                sending.set(Sending::Failed(why));
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (limit, request, &navigate);
    };
    let said = move || match sending.get() {
        Sending::Idle => ().into_any(),
        Sending::InFlight { sent, total } => view! {
            <p>{format!("Sending the file: {:.0}%", if total > 0.0 { 100.0 * sent / total } else { 0.0 })}</p>
            <progress aria-label="Sending the file" max=total value=sent></progress>
        }
        .into_any(),
        Sending::Planning => view! {
            <p>"Sent. The server is checking the file and planning every row…"</p>
            <progress aria-label="Planning on the server"></progress>
        }
        .into_any(),
        Sending::AlreadyInProgress { upload_id, state } => view! {
            <p class="notice" data-testid="already-in-progress">
                {format!("This file is already upload {upload_id} ({state}); it was not sent again. ")}
                <a href=format!("/uploads/{upload_id}")>{format!("Open upload {upload_id}")}</a>
            </p>
        }
        .into_any(),
        Sending::Failed(why) => view! { <p class="error" role="alert" data-testid="send-failed">{why}</p> }.into_any(),
    };
    view! {
        <Show when=move || checked().is_some()>
            <section class="send" aria-labelledby="send-title">
                <h2 id="send-title">"Preview on the server"</h2>
                <p class="about">
                    "The server checks the file again against your users as they are now, and shows what each row will do. Nothing is changed until you choose Load."
                </p>
                <button
                    type="button"
                    class="primary"
                    data-testid="send"
                    disabled={move || busy() || checked() != Some(true)}
                    on:click=send.clone()
                >
                    "Send for a preview"
                </button>
                <div role="status" aria-live="polite" data-testid="send-status">{said}</div>
            </section>
        </Show>
    }
}

/// The sample file of each format, as links that download it (no script needed).
#[component]
fn Samples() -> impl IntoView {
    use muster_import::samples::{sample, sample_name};
    use muster_import::Format;
    let links = Format::ALL.into_iter().enumerate().map(|(i, format)| {
        let href = format!("data:text/csv;charset=utf-8,{}", percent_encoded(&sample(format)));
        let (label, test_id) = match format {
            Format::Standard => ("standard format", "sample-standard".to_owned()),
            Format::LegacyV1 => ("Legacy v1", "sample-legacy".to_owned()),
            other => (other.label(), format!("sample-{}", other.as_str())),
        };
        // A no-break space before the dot: a wrapped line starts with a link,
        // never with the separator.
        view! {
            {(i > 0).then_some("\u{a0}· ")}
            <a href=href download=sample_name(format) data-testid=test_id>{label}</a>
        }
    });
    view! {
        <p class="samples">"Samples: " {links.collect_view()}</p>
    }
}

/// Text for a `data:` URL: every byte but letters, digits and `-_.~` as `%XX`.
fn percent_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Where validation is: announced to screen readers as it changes.
#[component]
fn Status(upload: Upload) -> impl IntoView {
    let text = move || match upload.stage.get() {
        Stage::Idle => String::new(),
        Stage::Reading { read, total } if total > 0.0 => {
            format!("Reading the file: {:.0}%", 100.0 * read / total)
        }
        Stage::Reading { .. } => "Reading the file…".to_owned(),
        Stage::Validating => "Checking every line…".to_owned(),
        Stage::Done(s) if s.errors == 0 => {
            format!("Checked {}: no errors, {}.", count(s.rows, "row"), count(s.warnings, "warning"))
        }
        Stage::Done(s) => format!(
            "Checked {}: {} ({} with errors), {}.",
            count(s.rows, "row"),
            count(s.errors, "error"),
            count(s.rows_with_errors, "row"),
            count(s.warnings, "warning")
        ),
        Stage::Failed(why) => format!("The file could not be checked: {why}"),
        Stage::Cancelled => "Checking cancelled.".to_owned(),
    };
    view! {
        <div class="validation-status" role="status" aria-live="polite" data-testid="validation-status">
            {text}
        </div>
        {move || upload.notice.get().map(|n| view! { <p class="notice" role="alert">{n}</p> })}
        <Show when=move || upload.busy()>
            {move || match upload.stage.get() {
                Stage::Reading { read, total } if total > 0.0 => {
                    view! { <progress aria-label="Checking the file" max=total value=read></progress> }.into_any()
                }
                _ => view! { <progress aria-label="Checking the file"></progress> }.into_any(),
            }}
            <button type="button" data-testid="cancel" on:click=move |_| upload.cancel()>"Cancel"</button>
        </Show>
    }
}

/// A file's size as people read it: "820 bytes", "35.2 MB".
fn size_text(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
}

/// "1 row", "2 rows".
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The format, the headings, the counts and the problems of a checked file.
#[component]
fn Verdict(upload: Upload) -> impl IntoView {
    move || match upload.stage.get() {
        // The problems first: what the admin came to see, on screen without scrolling.
        Stage::Done(summary) => view! {
            <FileFacts summary=(*summary).clone()/>
            <Problems upload summary=(*summary).clone()/>
            <Headings upload summary=*summary/>
        }
        .into_any(),
        _ => ().into_any(),
    }
}

#[component]
fn FileFacts(summary: Summary) -> impl IntoView {
    let format = muster_import::Format::from_text(&summary.format).map_or("Standard", muster_import::Format::label);
    let delimiter = match summary.delimiter.as_str() {
        "," => "comma",
        ";" => "semicolon",
        "\t" => "tab",
        other => other,
    }
    .to_owned();
    let file_problems = summary.file_diagnostics.clone();
    view! {
        <dl class="facts" data-testid="facts">
            <div><dt>"Format"</dt><dd data-testid="format">{format}</dd></div>
            <div><dt>"Encoding"</dt><dd data-testid="encoding">{summary.encoding.clone()}</dd></div>
            <div><dt>"Delimiter"</dt><dd data-testid="delimiter">{delimiter}</dd></div>
            <div><dt>"Rows"</dt><dd data-testid="rows">{summary.rows}</dd></div>
            <div><dt>"Errors"</dt><dd data-testid="errors">{summary.errors}</dd></div>
            <div><dt>"Warnings"</dt><dd data-testid="warnings">{summary.warnings}</dd></div>
        </dl>
        {(!file_problems.is_empty()).then(|| view! {
            <ul class="file-problems" data-testid="file-problems">
                {file_problems.into_iter().map(|d| {
                    let error = d.is_error();
                    view! {
                        <li class=if error { "problem is-error" } else { "problem is-warning" }>
                            <Severity error/> " " {d.message}
                        </li>
                    }
                }).collect_view()}
            </ul>
        })}
    }
}

/// "Error" or "Warning" in words and a sign, never by colour alone.
#[component]
fn Severity(error: bool) -> impl IntoView {
    if error {
        view! { <span class="severity error">"✖ Error"</span> }
    } else {
        view! { <span class="severity warning">"⚠ Warning"</span> }
    }
}

/// Each heading and the field it fills; an unknown or ignored one can be
/// mapped to a field (or ignored) and the file is checked again at once.
#[component]
fn Headings(upload: Upload, summary: Summary) -> impl IntoView {
    let all: Vec<String> = summary.headings.iter().map(|h| h.heading.clone()).collect();
    let rows = summary
        .headings
        .into_iter()
        .map(|h| {
            let mappable = matches!(h.read_as.as_str(), "unknown" | "ignored")
                || upload.mapping.with_untracked(|m| m.contains_key(&h.heading));
            let shown = h.describe();
            let heading = h.heading.clone();
            let current = h.field.map(|f| f.name().to_owned()).unwrap_or_default();
            let on_change = {
                let (heading, all) = (heading.clone(), all.clone());
                move |ev: leptos::ev::Event| {
                    let chosen = event_target_value(&ev);
                    let field = (!chosen.is_empty()).then_some(chosen);
                    upload.mapping.update(|m| {
                        m.insert(heading.clone(), field);
                    });
                    upload.remember(all.clone());
                    upload.validate();
                }
            };
            let label = format!("Field for the column {heading}");
            view! {
                <tr>
                    <th scope="row">{heading.clone()}</th>
                    <td>{shown}</td>
                    <td>
                        {mappable.then(|| view! {
                            <select aria-label=label data-testid="map-heading" on:change=on_change.clone()>
                                <option value="" selected=current.is_empty()>"Ignore this column"</option>
                                {Field::ALL.into_iter().map(|f| {
                                    let name = f.name();
                                    view! { <option value=name selected=current == name>{name}</option> }
                                }).collect_view()}
                            </select>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <details class="headings" open>
            <summary>"Headings"</summary>
            {move || upload.remembered.get().then(|| view! {
                <p data-testid="remembered">"The mapping given to the last file with these headings is applied; change it below."</p>
            })}
            <table data-testid="headings">
                <thead><tr><th scope="col">"Heading in the file"</th><th scope="col">"Read as"</th><th scope="col">"Map to"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
    }
}

/// The problems, filtered by severity and column, a page at a time.
#[component]
fn Problems(upload: Upload, summary: Summary) -> impl IntoView {
    let total_problems = summary.problems;
    let columns = summary.columns.clone();
    let refilter = move || upload.ask_page(0);
    let rows = move || {
        upload.page.get().map(|p| {
            p.items
                .into_iter()
                .map(|problem| {
                    let error = problem.severity == "error";
                    view! {
                        <tr class=if error { "problem is-error" } else { "problem is-warning" } data-testid="problem">
                            <td data-testid="problem-line">{problem.line}</td>
                            <td><Severity error/></td>
                            <td data-testid="problem-column">{problem.column}</td>
                            <td data-testid="problem-value" class="value">{problem.value}</td>
                            <td>{problem.message}</td>
                        </tr>
                    }
                })
                .collect_view()
        })
    };
    let shown = move || {
        upload.page.get().map(|p| {
            if p.total == 0 {
                "No problems match.".to_owned()
            } else {
                format!("Problems {}–{} of {}", p.from + 1, (p.from + p.items.len()).min(p.total), p.total)
            }
        })
    };
    let at = move || upload.page.get().map_or((0, 0), |p| (p.from, p.total));
    (total_problems > 0).then(|| view! {
        <section class="problems" aria-labelledby="problems-title">
            <h2 id="problems-title">"Problems"</h2>
            <div class="filters">
                <label>
                    "Show"
                    <select data-testid="filter-severity" on:change=move |ev| {
                        upload.severity.set(event_target_value(&ev));
                        refilter();
                    }>
                        <option value="">"Errors and warnings"</option>
                        <option value="error">"Errors only"</option>
                        <option value="warning">"Warnings only"</option>
                    </select>
                </label>
                <label>
                    "Column"
                    <select data-testid="filter-column" on:change=move |ev| {
                        upload.column.set(event_target_value(&ev));
                        refilter();
                    }>
                        <option value="">"All columns"</option>
                        {columns.into_iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <p class="shown" data-testid="problems-shown">{shown}</p>
            <p>
                <button type="button" data-testid="download-problems" on:click=move |_| upload.download_problems()>
                    "Download problems as CSV"
                </button>
                " The file with a "<code>"problem"</code>" column, to fix it in a spreadsheet and pick it again."
            </p>
            <div class="table-scroll">
                <table data-testid="problems">
                    <thead>
                        <tr>
                            <th scope="col">"Line"</th>
                            <th scope="col">"Severity"</th>
                            <th scope="col">"Column"</th>
                            <th scope="col">"Value"</th>
                            <th scope="col">"Problem"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <nav class="pager" aria-label="Pages of problems">
                <button
                    type="button"
                    data-testid="previous-page"
                    disabled=move || { at().0 == 0 }
                    on:click=move |_| upload.ask_page(at().0.saturating_sub(PAGE))
                >"Previous"</button>
                <button
                    type="button"
                    data-testid="next-page"
                    disabled=move || { at().0 + PAGE >= at().1 }
                    on:click=move |_| upload.ask_page(at().0 + PAGE)
                >"Next"</button>
            </nav>
        </section>
    })
}

/// The browser's side: the Web Worker that validates, and the picked file.
#[cfg(feature = "hydrate")]
mod browser {
    use super::FromWorker;
    use std::collections::BTreeMap;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    /// Where the worker script is served: beside the app's module, in the
    /// build's folder the page names (`<meta name="muster-pkg">`).
    fn worker_url() -> String {
        let pkg = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector("meta[name=muster-pkg]").ok().flatten())
            .and_then(|meta| meta.get_attribute("content"))
            .unwrap_or_else(|| "/pkg".to_owned());
        format!("{pkg}/validate-worker.js")
    }

    #[derive(Default)]
    pub struct Validator {
        pub file: Option<gloo_file::File>,
        worker: Option<web_sys::Worker>,
        /// Kept as long as the worker: it is what the worker's messages call.
        listener: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
    }

    /// Downloads what `url` holds as `name`, as a link the admin clicked would.
    pub fn download(url: &str, name: &str) {
        let Ok(link) = leptos::prelude::document().create_element("a") else { return };
        let _ = link.set_attribute("href", url);
        let _ = link.set_attribute("download", name);
        link.unchecked_into::<web_sys::HtmlElement>().click();
    }

    /// Posts the file and the choices to the `send_upload` server function
    /// with XMLHttpRequest (fetch reports no upload progress). `progress`
    /// hears bytes sent of the total; `done` the server's answer, once.
    pub fn send(
        file: &gloo_file::File,
        choices: &str,
        progress: impl Fn(f64, f64) + 'static,
        done: impl FnOnce(Result<crate::serverfns::uploads::Sent, String>) + 'static,
    ) -> Result<(), String> {
        let fail = |e: JsValue| format!("the browser could not send the file: {e:?}");
        let request = web_sys::XmlHttpRequest::new().map_err(fail)?;
        request.open_with_async("POST", "/api/send_upload", true).map_err(fail)?;
        request.set_request_header("Accept", "application/json").map_err(fail)?;
        let form = web_sys::FormData::new().map_err(fail)?;
        // The choices first: the server reads them before the file streams in.
        form.append_with_str("choices", choices).map_err(fail)?;
        let blob: &web_sys::File = file.as_ref();
        form.append_with_blob_and_filename("file", blob, &file.name()).map_err(fail)?;
        // Each closure lives as long as the request; one request per send,
        // so they are left to the browser rather than tracked.
        let on_progress = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |ev: web_sys::ProgressEvent| {
            if ev.length_computable() {
                progress(ev.loaded(), ev.total());
            }
        });
        request.upload().map_err(fail)?.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        on_progress.forget();
        let done = std::rc::Rc::new(std::cell::RefCell::new(Some(done)));
        let answered = request.clone();
        let on_end = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |_ev: web_sys::ProgressEvent| {
            let Some(done) = done.borrow_mut().take() else { return };
            let status = answered.status().unwrap_or(0);
            let text = answered.response_text().ok().flatten().unwrap_or_default();
            done(match status {
                200 => serde_json::from_str(&text).map_err(|e| format!("the server's answer could not be read: {e}")),
                0 => Err("The connection to the server was lost while sending; send the file again.".into()),
                _ => Err(serde_json::from_str::<crate::error::AppError>(&text)
                    .map(|e| e.to_string())
                    .unwrap_or_else(|_| format!("The server refused the file ({status}): {text}"))),
            });
        });
        request.set_onloadend(Some(on_end.as_ref().unchecked_ref()));
        on_end.forget();
        request.send_with_opt_form_data(Some(&form)).map_err(fail)?;
        Ok(())
    }

    fn set(target: &js_sys::Object, key: &str, value: &JsValue) {
        let _ = js_sys::Reflect::set(target, &JsValue::from_str(key), value);
    }

    impl Validator {
        /// Starts checking the picked file in a fresh worker (a running one is
        /// stopped: its file was replaced).
        pub fn start(
            &mut self,
            job: u32,
            mapping: &BTreeMap<String, Option<String>>,
            mut hear: impl FnMut(FromWorker) + 'static,
        ) -> Result<(), String> {
            self.stop();
            let Some(file) = self.file.clone() else { return Err("no file was picked".into()) };
            let options = web_sys::WorkerOptions::new();
            options.set_type(web_sys::WorkerType::Module);
            let worker = web_sys::Worker::new_with_options(&worker_url(), &options)
                .map_err(|e| format!("the browser refused the validator: {e:?}"))?;
            let listener = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                let text = js_sys::JSON::stringify(&ev.data()).ok().and_then(|s| s.as_string()).unwrap_or_default();
                if let Ok(message) = serde_json::from_str::<FromWorker>(&text) {
                    hear(message);
                }
            });
            worker.set_onmessage(Some(listener.as_ref().unchecked_ref()));
            let message = js_sys::Object::new();
            set(&message, "job", &JsValue::from(job));
            set(&message, "file", AsRef::<web_sys::File>::as_ref(&file));
            let mapping = serde_json::to_string(mapping).unwrap_or_else(|_| "{}".into());
            set(&message, "mapping", &js_sys::JSON::parse(&mapping).unwrap_or(JsValue::NULL));
            if let Err(e) = worker.post_message(&message) {
                worker.set_onmessage(None);
                worker.terminate();
                return Err(format!("the file could not be handed over: {e:?}"));
            }
            self.worker = Some(worker);
            self.listener = Some(listener);
            Ok(())
        }

        pub fn ask_page(&self, job: u32, from: usize, size: usize, severity: &str, column: &str) {
            let Some(worker) = &self.worker else { return };
            let message = js_sys::Object::new();
            set(&message, "kind", &JsValue::from_str("page"));
            set(&message, "job", &JsValue::from(job));
            set(&message, "from", &JsValue::from(from as u32));
            set(&message, "size", &JsValue::from(size as u32));
            set(&message, "severity", &JsValue::from_str(severity));
            set(&message, "column", &JsValue::from_str(column));
            let _ = worker.post_message(&message);
        }

        /// Asks the worker for something of the current file (`kind`).
        pub fn ask(&self, job: u32, kind: &str) {
            let Some(worker) = &self.worker else { return };
            let message = js_sys::Object::new();
            set(&message, "kind", &JsValue::from_str(kind));
            set(&message, "job", &JsValue::from(job));
            let _ = worker.post_message(&message);
        }

        /// Stops the worker at once, whatever it is doing.
        pub fn stop(&mut self) {
            if let Some(worker) = self.worker.take() {
                // Detached first: a message already queued must not call a
                // listener that is about to be freed.
                worker.set_onmessage(None);
                worker.terminate();
            }
            self.listener = None;
        }
    }
}
