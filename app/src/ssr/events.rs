//! The event stream behind the live parts of the pages: one plain SSE route,
//! `/events`, per signed-in admin, carrying only their tenant's events.
//!
//! A page is rendered from the database with the stream's cursor at that
//! moment (`since`); the browser opens the stream after hydration and hears
//! what happened after it. The browser's own reconnection sends the last id it
//! heard (`Last-Event-ID`), so nothing is missed across a dropped connection;
//! a cursor older than the events kept gets a `reset` event (the page reads
//! its state again). A stream ends after [`STREAM_FOR`] and the browser opens
//! it again, through the session check: an ended session hears no more.
use super::guard::CurrentPrincipal;
use super::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::stream::{self, Stream};
use muster_store::auth::Principal;
use muster_store::entity::event;
use muster_store::events;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(stream_events))
}

/// An event may become visible this long after one with a larger id was
/// (their transactions committed out of order): recent ones are read again.
const LATE_BY: chrono::Duration = chrono::Duration::seconds(5);
const STREAM_FOR: Duration = Duration::from_secs(300);
const READ_AT_MOST: u64 = 200;

#[derive(serde::Deserialize)]
struct Since {
    since: Option<i64>,
}

async fn stream_events(
    State(state): State<AppState>,
    Extension(CurrentPrincipal(principal)): Extension<CurrentPrincipal>,
    Query(since): Query<Since>,
    headers: HeaderMap,
) -> Response {
    let (tenant_id, user_pk) = match principal {
        Some(Principal::TenantUser { tenant_id, user_pk, is_admin: true, .. }) => (tenant_id, user_pk),
        Some(_) => return (StatusCode::FORBIDDEN, "Only a tenant's admins hear its events.").into_response(),
        None => return (StatusCode::UNAUTHORIZED, "Please sign in.").into_response(),
    };
    let Some(open) = OpenStream::take(&state.streams, user_pk) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "30")],
            "Too many open event streams for this account: close a tab of Muster.",
        )
            .into_response();
    };
    let resumed = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let cursor = resumed.or(since.since);
    let cursor = match cursor {
        Some(cursor) => cursor,
        None => match events::latest_id(&state.db, tenant_id).await {
            Ok(latest) => latest,
            Err(err) => return unavailable(err),
        },
    };
    let reset = match events::is_too_old(&state.db, tenant_id, cursor).await {
        Ok(too_old) => too_old,
        Err(err) => return unavailable(err),
    };
    let stream = Follow {
        _open: open,
        // Joined before the stream's own first read: an event recorded meanwhile
        // reaches it one way or the other (and is sent once).
        feed: feed(&state.streams, &state.db, tenant_id, state.config.events_look_every),
        catch_up: true,
        db: state.db.clone(),
        tenant_id,
        cursor,
        sent: VecDeque::new(),
        ready: VecDeque::new(),
        ends_at: Instant::now() + STREAM_FOR,
        reset,
        // From a rendered page, the recent events up to its cursor are in it;
        // a reconnection may have missed some that became visible late.
        seeded: resumed.is_some(),
    }
    .into_stream();
    let mut response = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    let h = response.headers_mut();
    // Never cached, never buffered or compressed by a proxy on the way.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("identity"));
    response
}

/// Streams one admin may have open at once, in this process: one per tab
/// (the bell and the page share it), and more tabs than any admin keeps.
pub const STREAMS_PER_ADMIN: usize = 8;

/// What this server's streams share: one reader per tenant, and each admin's
/// count of open streams (kept in the server's state, not in statics: tests
/// run several servers in one process).
#[derive(Default)]
pub struct Streams {
    feeds: Mutex<HashMap<i64, broadcast::Sender<Batch>>>,
    open: Mutex<HashMap<i64, usize>>,
}

/// One of an admin's open streams.
struct OpenStream(Arc<Streams>, i64);

impl OpenStream {
    fn take(streams: &Arc<Streams>, user_pk: i64) -> Option<Self> {
        let mut open = streams.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(user_pk).or_insert(0);
        if *count >= STREAMS_PER_ADMIN {
            return None;
        }
        *count += 1;
        Some(Self(streams.clone(), user_pk))
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let mut open = self.0.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.1) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.1);
            }
        }
    }
}

fn unavailable(err: impl std::fmt::Display) -> Response {
    tracing::error!(%err, "event stream failed");
    (StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable; try again shortly.").into_response()
}

/// One open stream: where it is, and what it has sent lately.
struct Follow {
    /// Counted among the admin's streams while it lives; a vanished client's
    /// stream is dropped, and its count with it.
    _open: OpenStream,
    /// The tenant's events as this process's one reader of them finds them.
    feed: broadcast::Receiver<Batch>,
    db: muster_store::DatabaseConnection,
    tenant_id: i64,
    cursor: i64,
    /// Ids sent in the last [`LATE_BY`], not to send again when reread.
    sent: VecDeque<(i64, Instant)>,
    ready: VecDeque<Event>,
    ends_at: Instant,
    reset: bool,
    /// Whether the recent events up to the cursor are known as sent: the page
    /// (or the stream before this one) already showed them.
    seeded: bool,
    /// Whether to read the database itself: at its start (the feed brings only
    /// what comes after), and after falling behind the feed.
    catch_up: bool,
}

impl Follow {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        stream::unfold(self, |mut follow| async move {
            let event = follow.next().await?;
            Some((Ok(event), follow))
        })
    }

    async fn next(&mut self) -> Option<Event> {
        if std::mem::take(&mut self.reset) {
            // The page reads its state again and follows on from the newest.
            self.cursor = events::latest_id(&self.db, self.tenant_id).await.ok()?;
            return Some(Event::default().event("reset").id(self.cursor.to_string()).data("{}"));
        }
        if !std::mem::replace(&mut self.seeded, true) {
            let recent = events::after(&self.db, self.tenant_id, self.cursor, LATE_BY, READ_AT_MOST).await.ok()?;
            let known = recent.into_iter().filter(|e| e.id <= self.cursor).map(|e| (e.id, Instant::now()));
            self.sent.extend(known);
        }
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            let late = chrono::Duration::to_std(&LATE_BY).unwrap_or_default();
            self.sent.retain(|(_, at)| at.elapsed() < late);
            if std::mem::take(&mut self.catch_up) {
                match events::after(&self.db, self.tenant_id, self.cursor, LATE_BY, READ_AT_MOST).await {
                    // A full page: there may be more.
                    Ok(found) => {
                        self.catch_up = found.len() as u64 == READ_AT_MOST;
                        found.into_iter().map(Prepared::of).for_each(|event| self.take(&event));
                    }
                    Err(err) => {
                        tracing::warn!(%err, "the event stream could not read; trying again");
                        self.catch_up = true;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                continue;
            }
            match tokio::time::timeout_at(self.ends_at, self.feed.recv()).await {
                Ok(Ok(batch)) => batch.iter().for_each(|event| self.take(event)),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => self.catch_up = true,
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return None,
            }
        }
    }

    /// Queues an event to send, unless it was sent or is old news.
    fn take(&mut self, prepared: &Prepared) {
        let event = &prepared.event;
        let known = self.sent.iter().any(|(id, _)| *id == event.id);
        if known || (event.id <= self.cursor && !is_recent(event)) {
            return;
        }
        self.cursor = self.cursor.max(event.id);
        self.sent.push_back((event.id, Instant::now()));
        self.ready.push_back(Event::default().event("upload").id(event.id.to_string()).data(prepared.data.as_str()));
    }
}

/// An event with the text its streams send: made once for all of them.
struct Prepared {
    event: event::Model,
    data: String,
}

impl Prepared {
    fn of(event: event::Model) -> Self {
        let mut data = event.data.clone();
        if let Some(object) = data.as_object_mut() {
            object.insert("kind".into(), serde_json::Value::String(event.kind.clone()));
            object.insert("event_id".into(), serde_json::Value::from(event.id));
        }
        Self { data: data.to_string(), event }
    }
}

/// Events a tenant's reader found at once.
type Batch = Arc<Vec<Prepared>>;

/// Joins the tenant's reader, starting it if it is not running: one per tenant
/// with a stream open, so that each event is read once and handed to every
/// stream of the tenant (500 streams reading the database themselves at every
/// progress event slowed a load by a third).
fn feed(
    streams: &Arc<Streams>,
    db: &muster_store::DatabaseConnection,
    tenant_id: i64,
    look_every: Duration,
) -> broadcast::Receiver<Batch> {
    let mut feeds = streams.feeds.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(sender) = feeds.get(&tenant_id) {
        return sender.subscribe();
    }
    let (sender, receiver) = broadcast::channel(64);
    feeds.insert(tenant_id, sender.clone());
    tokio::spawn(read_for_tenant(streams.clone(), db.clone(), tenant_id, look_every, sender));
    receiver
}

/// Reads the tenant's new events when this process records or hears of one,
/// and every `look_every` besides, until no stream of the tenant is left.
async fn read_for_tenant(
    streams: Arc<Streams>,
    db: muster_store::DatabaseConnection,
    tenant_id: i64,
    look_every: Duration,
    sender: broadcast::Sender<Batch>,
) {
    let mut heard = events::listen();
    let mut cursor = events::latest_id(&db, tenant_id).await.unwrap_or(0);
    let mut sent: VecDeque<(i64, Instant)> = VecDeque::new();
    let late = chrono::Duration::to_std(&LATE_BY).unwrap_or_default();
    loop {
        {
            // Streams join under this lock: none can join a reader that is ending.
            let mut feeds = streams.feeds.lock().unwrap_or_else(|e| e.into_inner());
            if sender.receiver_count() == 0 {
                if feeds.get(&tenant_id).is_some_and(|s| s.same_channel(&sender)) {
                    feeds.remove(&tenant_id);
                }
                return;
            }
        }
        let _ = tokio::time::timeout(look_every, events::recorded(&mut heard, tenant_id)).await;
        sent.retain(|(_, at)| at.elapsed() < late);
        match events::after(&db, tenant_id, cursor, LATE_BY, READ_AT_MOST).await {
            Ok(found) => {
                let new: Vec<_> = found
                    .into_iter()
                    .filter(|e| !sent.iter().any(|(id, _)| *id == e.id) && (e.id > cursor || is_recent(e)))
                    .collect();
                for event in &new {
                    cursor = cursor.max(event.id);
                    sent.push_back((event.id, Instant::now()));
                }
                if !new.is_empty() {
                    let _ = sender.send(Arc::new(new.into_iter().map(Prepared::of).collect()));
                }
            }
            Err(err) => tracing::warn!(%err, "the tenant's event reader could not read; trying again"),
        }
    }
}

/// An event at or below the cursor is sent only if it is recent (it became
/// visible late) and was not sent before.
fn is_recent(event: &muster_store::entity::event::Model) -> bool {
    event.created_at > chrono::Utc::now() - LATE_BY
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_store::testdb::{Backend, TestDb};
    use sea_orm::{ActiveModelTrait, Set};

    /// A stream whose client stopped reading falls behind its tenant's feed
    /// (which keeps only its last batches): it loses nothing, reading what it
    /// missed from the database, each event once and in order.
    #[tokio::test]
    async fn a_stream_that_falls_behind_its_feed_reads_what_it_missed_once_in_order() {
        let test_db = TestDb::new(Backend::Sqlite).await;
        let db = test_db.connect().await;
        let tenant = muster_store::tenants::create_tenant(&db, "lagging", "Lagging", None).await.unwrap();
        let streams = Arc::new(Streams::default());
        let (sender, feed) = broadcast::channel(2);
        let mut follow = Follow {
            _open: OpenStream::take(&streams, 1).unwrap(),
            feed,
            db: db.clone(),
            tenant_id: tenant.id,
            cursor: 0,
            sent: VecDeque::new(),
            ready: VecDeque::new(),
            ends_at: Instant::now() + Duration::from_secs(60),
            reset: false,
            seeded: true,
            catch_up: false,
        };
        let mut recorded = Vec::new();
        for n in 0..10 {
            let event = event::ActiveModel {
                tenant_id: Set(tenant.id),
                upload_id: Set(None),
                kind: Set("progress".into()),
                data: Set(serde_json::json!({ "n": n })),
                created_at: Set(chrono::Utc::now()),
                ..Default::default()
            }
            .insert(&db)
            .await
            .unwrap();
            recorded.push(event.id);
            // Ten batches into a feed that keeps two: the stream has lagged.
            let _ = sender.send(Arc::new(vec![Prepared::of(event)]));
        }
        for _ in 0..10 {
            assert!(follow.next().await.is_some());
        }
        let sent: Vec<i64> = follow.sent.iter().map(|(id, _)| *id).collect();
        assert_eq!(sent, recorded, "every event, in order");
        // The two batches the feed still held are not sent again.
        let more = tokio::time::timeout(Duration::from_millis(300), follow.next()).await;
        assert!(more.is_err(), "nothing after the last event");
        assert_eq!(follow.sent.len(), 10);
        db.close().await.ok();
        test_db.cleanup().await;
    }
}
