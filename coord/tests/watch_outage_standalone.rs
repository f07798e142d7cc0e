//! Watches across an outage on the standalone store: resume without loss or duplicates, and
//! re-sync by difference when the missed history was compacted meanwhile.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use keel_clog::{Context, Env};
use keel_coord::{Config, EventKind, Options, Provider, StandaloneStore, StartAt};
use keel_testkit::contracts::coord::{next_event, no_event};

async fn provider(store: &StandaloneStore) -> std::sync::Arc<dyn Provider> {
    let options = Options {
        standalone: Some(store.clone()),
        ..Options::default()
    };
    keel_coord::new(&Context::new(), Config::for_env(Env::Development), options)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_an_outage_without_loss_or_duplicates() {
    let store = StandaloneStore::new(10_000);
    let coord = provider(&store).await;
    let ctx = Context::new();
    let mut watch = coord.watch(&ctx, "/r/", true, StartAt::Now).await.unwrap();
    coord.put(&ctx, "/r/1", b"1".to_vec(), None).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv.key, "/r/1");
    store.disconnect_watches();
    let mut written = Vec::new();
    for i in 2..=6 {
        written.push(
            coord
                .put(&ctx, &format!("/r/{i}"), vec![], None)
                .await
                .unwrap(),
        );
    }
    store.reconnect_watches();
    let mut seen = Vec::new();
    for _ in 2..=6 {
        seen.push(next_event(&mut watch).await.revision());
    }
    assert_eq!(seen, written, "every event once, in order");
    no_event(&mut watch, Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resyncs_by_difference_when_missed_history_is_compacted() {
    let store = StandaloneStore::new(10_000);
    let coord = provider(&store).await;
    let ctx = Context::new();
    coord.put(&ctx, "/c/a", b"a1".to_vec(), None).await.unwrap();
    coord.put(&ctx, "/c/b", b"b1".to_vec(), None).await.unwrap();
    coord
        .put(&ctx, "/c/untouched", b"u".to_vec(), None)
        .await
        .unwrap();
    let mut watch = coord.watch(&ctx, "/c/", true, StartAt::Now).await.unwrap();

    store.disconnect_watches();
    coord.put(&ctx, "/c/a", b"a2".to_vec(), None).await.unwrap();
    coord.put(&ctx, "/c/a", b"a3".to_vec(), None).await.unwrap();
    coord.delete(&ctx, "/c/b").await.unwrap();
    coord
        .put(&ctx, "/c/new", b"n".to_vec(), None)
        .await
        .unwrap();
    coord
        .put(&ctx, "/c/gone-again", b"g".to_vec(), None)
        .await
        .unwrap();
    coord.delete(&ctx, "/c/gone-again").await.unwrap();
    let now = coord
        .put(&ctx, "/elsewhere", b"x".to_vec(), None)
        .await
        .unwrap();
    coord.compact(&ctx, now).await.unwrap();
    store.reconnect_watches();

    // The net difference: a's final value, the new key, b's deletion. Nothing for keys the
    // subscriber never saw and that are gone again, nothing for the untouched key.
    let mut events = Vec::new();
    for _ in 0..3 {
        let e = next_event(&mut watch).await;
        events.push((e.kind, e.kv.key, e.kv.value));
    }
    assert_eq!(
        events,
        [
            (EventKind::Put, "/c/a".to_owned(), b"a3".to_vec()),
            (EventKind::Put, "/c/new".to_owned(), b"n".to_vec()),
            (EventKind::Delete, "/c/b".to_owned(), vec![]),
        ]
    );
    no_event(&mut watch, Duration::from_millis(300)).await;
    // And live events flow again.
    coord
        .put(&ctx, "/c/after", b"z".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.kv.key, "/c/after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_history_compacts_itself() {
    let store = StandaloneStore::new(100);
    let coord = provider(&store).await;
    let ctx = Context::new();
    let first = coord.put(&ctx, "/h/0", vec![], None).await.unwrap();
    for i in 1..300 {
        coord
            .put(&ctx, &format!("/h/{i}"), vec![], None)
            .await
            .unwrap();
    }
    let err = coord
        .watch(&ctx, "/h/", true, StartAt::Revision(first))
        .await
        .unwrap_err();
    assert!(matches!(err, keel_coord::Error::Compacted { .. }), "{err}");
    // Recent history is still there.
    let recent = store.revision() - 50;
    let mut watch = coord
        .watch(&ctx, "/h/", true, StartAt::Revision(recent))
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.revision(), recent);
}
