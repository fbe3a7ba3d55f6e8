//! The browser's end of the event stream (`/events`, `ssr::events`): opened
//! once the page has hydrated, never while it is rendered on the server (the
//! first state comes from the page itself), and closed when the page goes.
use crate::serverfns::uploads::Outcomes;
#[cfg(feature = "hydrate")]
use leptos::prelude::*;
use serde::Deserialize;

/// An upload as an event shows it (the store's `events::UploadState`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UploadEvent {
    /// The event's id: a late one (smaller than one applied) is older news.
    #[serde(default)]
    pub event_id: i64,
    pub kind: String,
    pub upload_id: i64,
    pub state: String,
    pub rows_done: i64,
    pub rows_total: i64,
    pub counts: Option<Outcomes>,
    pub summary: Option<String>,
    pub error: Option<String>,
}

impl UploadEvent {
    pub fn is_final(&self) -> bool {
        matches!(self.state.as_str(), "done" | "failed" | "cancelled")
    }
}

/// What the stream says.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    Upload(UploadEvent),
    /// The cursor was too old: read the page's state again.
    Reset,
}

/// Follows the tenant's events from `since` (the cursor the page was rendered
/// with), handing each to `hear`. The browser reconnects by itself after a
/// dropped connection, resuming from the last event it heard.
pub fn follow_events(since: i64, hear: impl Fn(Heard) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        let hear = std::rc::Rc::new(hear);
        // An effect runs only in the browser, after hydration.
        Effect::new(move |_| {
            let source = browser::open(since, hear.clone());
            on_cleanup(move || drop(source));
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (since, hear);
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{Heard, UploadEvent};
    use std::rc::Rc;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    /// An open stream; dropping it closes it.
    pub struct Source {
        source: web_sys::EventSource,
        _upload: Closure<dyn FnMut(web_sys::MessageEvent)>,
        _reset: Closure<dyn FnMut(web_sys::MessageEvent)>,
    }

    impl Drop for Source {
        fn drop(&mut self) {
            self.source.close();
        }
    }

    // SAFETY of Send/Sync is not claimed: the source lives on the page's one
    // thread, inside an effect's cleanup.
    pub fn open(since: i64, hear: Rc<dyn Fn(Heard)>) -> Option<send_wrapper::SendWrapper<Source>> {
        let source = web_sys::EventSource::new(&format!("/events?since={since}")).ok()?;
        let on_upload = hear.clone();
        let upload = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let text = ev.data().as_string().unwrap_or_default();
            if let Ok(event) = serde_json::from_str::<UploadEvent>(&text) {
                on_upload(Heard::Upload(event));
            }
        });
        let reset =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_: web_sys::MessageEvent| hear(Heard::Reset));
        let _ = source.add_event_listener_with_callback("upload", upload.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("reset", reset.as_ref().unchecked_ref());
        Some(send_wrapper::SendWrapper::new(Source { source, _upload: upload, _reset: reset }))
    }
}
