//! The long polls parked on one namespace, and the one task that answers them: on a release it
//! writes one answer, encoded once, to every client it changes; at a client's deadline "no
//! change"; at shutdown "no change" to all. A client that hangs up is dropped at once.
//!
//! Native long polls and Nacos listener polls on the namespace share its lot: they differ only
//! in what the client holds (a release key, a document's MD5) and in the answers' bytes (see
//! [`Watch`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use keel_clog::Context;
use keel_config_center::{Error, Serving, long_poll_changed, long_poll_unchanged};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

use super::answer::Answer;
use super::parked::{Event, Parked, Waiting, Watch, WatchKind};
use super::{Front, LotKey};

/// What the namespace serves, as far as its lot knows.
enum View {
    /// Not read yet, or unreadable since the lot started: its polls wait for the next release
    /// or their deadline.
    Unknown,
    /// The namespace does not exist (yet, or any more): no release, no document.
    Absent,
    Serving(Serving),
}

/// How long a "no change" answer (its `date`) is reused.
const UNCHANGED_FOR: Duration = Duration::from_secs(1);

struct Lot {
    front: Arc<Front>,
    key: LotKey,
    waiting: FuturesUnordered<Waiting>,
    view: View,
    /// Native answers by release key and Nacos answers by body, encoded once per release.
    releases: HashMap<String, Answer>,
    documents: HashMap<Box<str>, Answer>,
    /// The "no change" answers of each kind, with when they were encoded.
    unchanged: HashMap<WatchKind, (Instant, Answer)>,
}

/// Runs the lot of `key`: its polls arrive on `incoming`; `receiver` says when the namespace
/// serves something new.
pub(super) async fn run(
    front: Arc<Front>,
    key: LotKey,
    mut incoming: mpsc::UnboundedReceiver<Parked>,
    mut receiver: watch::Receiver<Option<String>>,
) {
    let mut lot = Lot {
        front: Arc::clone(&front),
        key,
        waiting: FuturesUnordered::new(),
        view: View::Unknown,
        releases: HashMap::new(),
        documents: HashMap::new(),
        unchanged: HashMap::new(),
    };
    lot.refresh(&mut receiver).await;
    loop {
        tokio::select! {
            biased;
            _ = front.stopping.done() => break,
            changed = receiver.changed() => {
                if changed.is_err() {
                    break;
                }
                // Polls queued before the release are answered by its fan-out with the rest
                // (it compares every poll with what is served now).
                while let Ok(parked) = incoming.try_recv() {
                    lot.waiting.push(Waiting(Some(parked)));
                }
                lot.fan_out(&mut receiver).await;
            }
            Some(parked) = incoming.recv() => lot.admit(parked).await,
            Some(event) = lot.waiting.next(), if !lot.waiting.is_empty() => lot.on_event(event).await,
        }
        if lot.waiting.is_empty() {
            let mut lots = front.lots();
            // Polls are sent under this lock: with none queued, none can arrive after this.
            if incoming.is_empty() {
                lots.remove(&lot.key);
                drop(lots);
                drop(receiver);
                front.counts.receivers.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
    }
    // Shutdown: every poll, parked or queued, is answered "no change" and its connection ends.
    front.lots().remove(&lot.key);
    incoming.close();
    drop(receiver);
    front.counts.receivers.fetch_sub(1, Ordering::Relaxed);
    let mut all: Vec<Parked> = std::mem::take(&mut lot.waiting)
        .into_iter()
        .filter_map(Waiting::take)
        .collect();
    while let Ok(parked) = incoming.try_recv() {
        all.push(parked);
    }
    for mut parked in all {
        front.counts.parked.fetch_sub(1, Ordering::Relaxed);
        parked.close = true;
        let answer = lot.unchanged(parked.watch.kind()).await;
        lot.deliver(parked, &answer);
    }
}

impl Lot {
    /// Reads what the namespace serves now (after taking note of the change).
    async fn refresh(&mut self, receiver: &mut watch::Receiver<Option<String>>) {
        let _ = receiver.borrow_and_update();
        match self
            .front
            .center
            .serving(&Context::new(), &self.key.1)
            .await
        {
            Ok(serving) => self.view = View::Serving(serving),
            // Created later, or deleted: a Nacos client holding a document is told at once.
            Err(Error::NotFound(_)) => self.view = View::Absent,
            // Keeps the last view: the next release or the clients' deadlines still answer.
            Err(e) => {
                tracing::warn!(namespace = %self.key.1, error = %e, "reading a released namespace for its long polls");
                return;
            }
        }
        self.releases.clear();
        self.documents.clear();
    }

    /// The answer for `parked` when what its client is served is not what it holds; `None`
    /// while it is (or the lot does not know).
    async fn changed_for(&mut self, parked: &Parked) -> Option<Answer> {
        match &parked.watch {
            Watch::Release(known) => {
                let View::Serving(serving) = &self.view else {
                    return None;
                };
                let current = serving.release_key_for(&parked.client);
                if current == &**known {
                    return None;
                }
                if let Some(answer) = self.releases.get(current) {
                    return Some(answer.clone());
                }
                let current = current.to_owned();
                let answer = Answer::encode(long_poll_changed(&self.key.0, &current)).await;
                self.releases.insert(current, answer.clone());
                Some(answer)
            }
            Watch::Document { md5, changed } => {
                let current = match &self.view {
                    View::Unknown => return None,
                    View::Absent => "",
                    View::Serving(serving) => serving.document_md5_for(&parked.client),
                };
                if current == &**md5 {
                    return None;
                }
                if let Some(answer) = self.documents.get(changed) {
                    return Some(answer.clone());
                }
                let answer = Answer::encode(keel_nacos::changed_answer(changed)).await;
                self.documents.insert(changed.clone(), answer.clone());
                Some(answer)
            }
        }
    }

    /// The "no change" answer for polls of `kind` (a 304 or an empty 200), its `date` reused
    /// for a second.
    async fn unchanged(&mut self, kind: WatchKind) -> Answer {
        if let Some((at, answer)) = self.unchanged.get(&kind)
            && at.elapsed() < UNCHANGED_FOR
        {
            return answer.clone();
        }
        let response = match kind {
            WatchKind::Release => long_poll_unchanged(),
            WatchKind::Document => keel_nacos::unchanged_answer(),
        };
        let answer = Answer::encode(response).await;
        self.unchanged
            .insert(kind, (Instant::now(), answer.clone()));
        answer
    }

    /// A poll arriving: answered if the namespace changed for it since it looked, else parked.
    async fn admit(&mut self, parked: Parked) {
        let Some(answer) = self.changed_for(&parked).await else {
            self.waiting.push(Waiting(Some(parked)));
            return;
        };
        self.front.counts.parked.fetch_sub(1, Ordering::Relaxed);
        self.deliver(parked, &answer);
    }

    async fn on_event(&mut self, event: Event) {
        self.front.counts.parked.fetch_sub(1, Ordering::Relaxed);
        if let Event::Expired(parked) = event {
            let answer = self.unchanged(parked.watch.kind()).await;
            self.deliver(parked, &answer);
        }
    }

    /// A release: every client whose key changed gets its answer, written by this task.
    async fn fan_out(&mut self, receiver: &mut watch::Receiver<Option<String>>) {
        let learned = self
            .front
            .center
            .notifier()
            .changed_at(&self.key.1)
            .unwrap_or_else(Instant::now);
        self.refresh(receiver).await;
        let mut due = Vec::with_capacity(self.waiting.len());
        for waiting in std::mem::take(&mut self.waiting) {
            let Some(parked) = waiting.take() else {
                continue;
            };
            let Some(answer) = self.changed_for(&parked).await else {
                self.waiting.push(Waiting(Some(parked)));
                continue;
            };
            self.front.counts.parked.fetch_sub(1, Ordering::Relaxed);
            let bytes = answer.bytes(parked.close).clone();
            due.push((parked, bytes));
        }
        if due.is_empty() {
            return;
        }
        let answered = due.len();
        let (written, last_written) = write_all(&self.front, due).await;
        let seconds = last_written
            .saturating_duration_since(learned)
            .as_secs_f64();
        metrics::gauge!("keel_config_fanout_last_seconds").set(seconds);
        metrics::gauge!("keel_config_fanout_last_clients").set(answered as f64);
        metrics::histogram!("keel_config_fanout_seconds").record(seconds);
        // Only now, with every answer written, do the connections go on.
        for parked in written {
            self.front.resume(parked, StatusCode::OK);
        }
    }

    /// Writes `answer` to `parked` and lets its connection go on.
    fn deliver(&self, parked: Parked, answer: &Answer) {
        let bytes = answer.bytes(parked.close).clone();
        if let Some(parked) = write_now(&self.front, parked, bytes, answer.status) {
            self.front.resume(parked, answer.status);
        }
    }
}

/// A fan-out this large is written in slices, one task per worker thread: the writes are almost
/// all kernel time (TCP), which the cores then share.
const PARALLEL_FROM: usize = 512;

/// Writes every answer of a fan-out; returns the polls whose answer went out whole, and when
/// the last write returned.
async fn write_all(front: &Arc<Front>, mut due: Vec<(Parked, Bytes)>) -> (Vec<Parked>, Instant) {
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    if due.len() < PARALLEL_FROM || workers < 2 {
        return write_slice(front, due);
    }
    // Every slice in a task of its own, this one included: the task spawned last waits in its
    // worker's LIFO slot, which other workers cannot steal from, so a slice written here while
    // it waited would run both on this worker, one after the other.
    let per_task = due.len().div_ceil(workers);
    let mut tasks = Vec::with_capacity(workers);
    while !due.is_empty() {
        let slice = due.split_off(due.len().saturating_sub(per_task));
        let front = Arc::clone(front);
        tasks.push(tokio::spawn(async move { write_slice(&front, slice) }));
    }
    let mut written = Vec::new();
    let mut last = Instant::now();
    for (i, task) in tasks.into_iter().enumerate() {
        // A slice's task ends only by finishing (it does not panic or get aborted).
        if let Ok((more, done)) = task.await {
            written.extend(more);
            last = if i == 0 { done } else { last.max(done) };
        }
    }
    (written, last)
}

fn write_slice(front: &Arc<Front>, due: Vec<(Parked, Bytes)>) -> (Vec<Parked>, Instant) {
    let written = due
        .into_iter()
        .filter_map(|(parked, bytes)| write_now(front, parked, bytes, StatusCode::OK))
        .collect();
    (written, Instant::now())
}

/// Writes `bytes` without waiting: `Some` when all went out, else the rest is written by a task
/// of its own (which then lets the connection go on), or the client is gone.
fn write_now(
    front: &Arc<Front>,
    mut parked: Parked,
    bytes: Bytes,
    status: StatusCode,
) -> Option<Parked> {
    let rest = match parked.stream.try_write(&bytes) {
        Ok(n) if n == bytes.len() => return Some(parked),
        Ok(n) => bytes.slice(n..),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => bytes,
        Err(_) => return None,
    };
    let front_for_task = Arc::clone(front);
    front.tracker.spawn(async move {
        if parked.stream.write_all(&rest).await.is_ok() {
            front_for_task.resume(parked, status);
        }
    });
    None
}
