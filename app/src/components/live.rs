//! The browser's end of the event stream (`/events`, `ssr::events`): opened
//! once the page has hydrated, never while it is rendered on the server (the
//! first state comes from the page itself), and closed when the page goes.
use crate::serverfns::uploads::Outcomes;
#[cfg(feature = "hydrate")]
use leptos::prelude::*;
use serde::Deserialize;

/// An upload as an event shows it (the store's `events::UploadSnapshot`).
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
/// with), handing each to `hear` until the calling component goes. One stream
/// per tab, shared by the bell and the page (a browser allows six connections
/// per host over HTTP/1.1): the first follower opens it from its cursor, later
/// ones join it. The browser reconnects by itself after a dropped connection,
/// resuming from the last event it heard.
pub fn follow_events(since: i64, hear: impl Fn(Heard) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        let hear: std::rc::Rc<dyn Fn(Heard)> = std::rc::Rc::new(hear);
        // An effect runs only in the browser, after hydration.
        Effect::new(move |_| {
            let id = browser::join(since, hear.clone());
            on_cleanup(move || browser::leave(id));
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (since, hear);
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{Heard, UploadEvent};
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    /// The tab's one stream and who follows it.
    struct Hub {
        _source: web_sys::EventSource,
        _upload: Closure<dyn FnMut(web_sys::MessageEvent)>,
        _reset: Closure<dyn FnMut(web_sys::MessageEvent)>,
    }

    /// A follower of the tab's stream: its number (to stop following) and what it does.
    type Follower = (u64, Rc<dyn Fn(Heard)>);

    thread_local! {
        static HUB: RefCell<Option<Hub>> = const { RefCell::new(None) };
        static FOLLOWERS: RefCell<Vec<Follower>> = const { RefCell::new(Vec::new()) };
        static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    fn tell(heard: Heard) {
        // A copy: a follower may join or leave while it hears.
        let followers: Vec<_> = FOLLOWERS.with_borrow(|f| f.iter().map(|(_, hear)| hear.clone()).collect());
        for hear in followers {
            hear(heard.clone());
        }
    }

    pub fn join(since: i64, hear: Rc<dyn Fn(Heard)>) -> u64 {
        let id = NEXT.get();
        NEXT.set(id + 1);
        FOLLOWERS.with_borrow_mut(|f| f.push((id, hear)));
        HUB.with_borrow_mut(|hub| {
            if hub.is_none() {
                *hub = open(since);
            }
        });
        id
    }

    pub fn leave(id: u64) {
        FOLLOWERS.with_borrow_mut(|f| f.retain(|(follower, _)| *follower != id));
    }

    fn open(since: i64) -> Option<Hub> {
        let source = web_sys::EventSource::new(&format!("/events?since={since}")).ok()?;
        let upload = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let text = ev.data().as_string().unwrap_or_default();
            if let Ok(event) = serde_json::from_str::<UploadEvent>(&text) {
                tell(Heard::Upload(event));
            }
        });
        let reset =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_: web_sys::MessageEvent| tell(Heard::Reset));
        let _ = source.add_event_listener_with_callback("upload", upload.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("reset", reset.as_ref().unchecked_ref());
        Some(Hub { _source: source, _upload: upload, _reset: reset })
    }
}
