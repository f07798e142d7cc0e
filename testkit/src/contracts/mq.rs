//! The keel-mq contract: every backend must pass every case here.
//!
//! Instantiate with [`crate::mq_contract!`] and a fixture function returning
//! `Option<MqFixture>` (`None` = skip, see [`crate::backend`]).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_clog::Context;
use keel_mq::{
    ConsumerOptions, Error, Handler, HandlerError, Message, Provider, Received, dead_letter_headers,
};

use crate::{Namespace, eventually_async};

/// Providers on one broker (as two processes on one Kafka), and a namespace for topic names.
pub struct MqFixture {
    /// The first provider.
    pub a: Arc<dyn Provider>,
    /// A second provider on the same broker.
    pub b: Arc<dyn Provider>,
    /// Makes a third provider on the same broker (for close/flush tests).
    pub make: MakeProvider,
    /// Unique prefix for this test's topics and groups.
    pub namespace: Namespace,
}

impl MqFixture {
    /// Closes both providers.
    pub async fn close(self) {
        self.a.close().await.expect("close a");
        self.b.close().await.expect("close b");
    }

    /// A topic (and its `.dlq`) with `partitions` partitions, unique to this test.
    pub async fn topic(&self, name: &str, partitions: i32) -> String {
        let ctx = Context::new();
        let topic = self.namespace.child(name);
        self.a
            .create_topic(&ctx, &topic, partitions)
            .await
            .expect("create topic");
        self.a
            .create_topic(&ctx, &format!("{topic}.dlq"), 1)
            .await
            .expect("create dead-letter topic");
        topic
    }
}

const WAIT: Duration = Duration::from_secs(60);

/// Records what it receives; fails according to `fail`.
#[derive(Clone)]
pub struct Recorder {
    received: Arc<Mutex<Vec<(Received, Context)>>>,
    fail: Arc<dyn Fn(&Received) -> bool + Send + Sync>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::failing(|_| false)
    }
}

/// Makes another provider on the fixture's broker.
pub type MakeProvider =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Provider>> + Send>> + Send + Sync>;

impl Recorder {
    /// A recorder that fails the messages `fail` picks.
    pub fn failing(fail: impl Fn(&Received) -> bool + Send + Sync + 'static) -> Self {
        Recorder {
            received: Arc::default(),
            fail: Arc::new(fail),
        }
    }

    /// What has been handed to the handler so far (every attempt).
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Successfully handled payloads, as text.
    pub fn handled(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|(r, _)| !(self.fail)(r))
            .map(|(r, _)| String::from_utf8_lossy(&r.payload).into_owned())
            .collect()
    }

    /// Waits until `n` messages were handled successfully.
    pub async fn wait_handled(&self, n: usize) {
        eventually_async(&format!("{n} handled messages"), WAIT, || async {
            (self.handled().len() >= n).then_some(())
        })
        .await;
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle(&self, ctx: &Context, message: &Received) -> Result<(), HandlerError> {
        self.received
            .lock()
            .expect("lock")
            .push((message.clone(), ctx.clone()));
        if (self.fail)(message) {
            Err(format!("refusing {}", String::from_utf8_lossy(&message.payload)).into())
        } else {
            Ok(())
        }
    }
}

fn quick_retries(max_attempts: u32) -> ConsumerOptions {
    ConsumerOptions {
        max_attempts,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..ConsumerOptions::default()
    }
}

/// Sends one message every 20 ms, over 16 keys (so every partition gets some), until `done`.
async fn send_until(
    producer: &Arc<dyn Provider>,
    topic: &str,
    what: &str,
    mut done: impl FnMut() -> bool,
) {
    let deadline = std::time::Instant::now() + WAIT;
    for n in 0u64.. {
        let message = Message::keyed(format!("k{}", n % 16), format!("m{n}"));
        producer
            .send(&Context::new(), topic, message)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        if done() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
    }
}

/// The first message in `topic`'s dead-letter topic, read by a fresh group.
async fn first_dead_letter(f: &MqFixture, topic: &str) -> Received {
    let dead = Recorder::default();
    let no_dlq = ConsumerOptions {
        dead_letter_topic: None,
        ..quick_retries(1)
    };
    let dlq = format!("{topic}.dlq");
    let reader =
        f.b.subscribe(
            &Context::new(),
            &f.namespace.child("dlq"),
            &[&dlq],
            Arc::new(dead.clone()),
            no_dlq,
        )
        .await
        .unwrap();
    dead.wait_handled(1).await;
    reader.close().await;
    dead.received().remove(0)
}

/// Topics are created, listed and deleted explicitly, with distinct errors.
pub async fn admin_topics(f: &MqFixture) {
    let ctx = Context::new();
    let topic = f.namespace.child("admin");
    f.a.create_topic(&ctx, &topic, 3).await.unwrap();
    let listed = f.b.list_topics(&ctx).await.unwrap();
    let info = listed.iter().find(|t| t.name == topic).expect("listed");
    assert_eq!(info.partitions, 3);
    assert!(matches!(
        f.a.create_topic(&ctx, &topic, 3).await.unwrap_err(),
        Error::TopicExists(_)
    ));
    f.a.delete_topic(&ctx, &topic).await.unwrap();
    eventually_async("the topic to disappear", WAIT, || async {
        (!f.b
            .list_topics(&ctx)
            .await
            .unwrap()
            .iter()
            .any(|t| t.name == topic))
        .then_some(())
    })
    .await;
    assert!(matches!(
        f.a.delete_topic(&ctx, &topic).await.unwrap_err(),
        Error::UnknownTopic(_)
    ));
    assert!(matches!(
        f.a.create_topic(&ctx, "bad name", 1).await.unwrap_err(),
        Error::InvalidName { .. }
    ));
    assert!(matches!(
        f.a.create_topic(&ctx, "ok", 0).await.unwrap_err(),
        Error::InvalidArgument(_)
    ));
}

/// Messages with one key arrive in the order they were sent, each once.
pub async fn ordering_per_key(f: &MqFixture) {
    let ctx = Context::new();
    let topic = f.topic("ordered", 4).await;
    let mut partition_of = BTreeMap::new();
    for i in 0..20 {
        for key in ["alpha", "beta", "gamma"] {
            let delivery =
                f.a.send(&ctx, &topic, Message::keyed(key, format!("{key}:{i}")))
                    .await
                    .unwrap();
            assert_eq!(delivery.topic, topic);
            let first = *partition_of.entry(key).or_insert(delivery.partition);
            assert_eq!(first, delivery.partition, "one key, one partition");
        }
    }
    let recorder = Recorder::default();
    let group = f.namespace.child("g");
    let sub =
        f.b.subscribe(
            &ctx,
            &group,
            &[&topic],
            Arc::new(recorder.clone()),
            quick_retries(3),
        )
        .await
        .unwrap();
    recorder.wait_handled(60).await;
    sub.close().await;
    let mut per_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for payload in recorder.handled() {
        let (key, i) = payload.split_once(':').unwrap();
        per_key
            .entry(key.to_owned())
            .or_default()
            .push(i.parse().unwrap());
    }
    for (key, seq) in per_key {
        assert_eq!(
            seq,
            (0..20).collect::<Vec<_>>(),
            "{key} out of order or repeated"
        );
    }
}

/// Two members split the partitions; when one leaves, the other takes over its partitions.
pub async fn group_split_and_takeover(f: &MqFixture) {
    let ctx = Context::new();
    let topic = f.topic("split", 4).await;
    let group = f.namespace.child("g");
    let first = Recorder::default();
    let second = Recorder::default();
    let sub_a =
        f.a.subscribe(
            &ctx,
            &group,
            &[&topic],
            Arc::new(first.clone()),
            quick_retries(3),
        )
        .await
        .unwrap();
    let sub_b =
        f.b.subscribe(
            &ctx,
            &group,
            &[&topic],
            Arc::new(second.clone()),
            quick_retries(3),
        )
        .await
        .unwrap();
    // Keep sending over many keys until both members have work (the group settles first).
    send_until(&f.a, &topic, "both members to receive messages", || {
        !first.handled().is_empty() && !second.handled().is_empty()
    })
    .await;
    // Ownership moves while the group settles (the first member owns everything until the
    // second joins, and a rebalance can take a few rounds), so the property is that the group
    // *reaches* a state where each partition has one owner and both members own some: judge
    // successive fresh batches until one shows it.
    let since = |r: &Recorder, from: usize| {
        r.received()[from..]
            .iter()
            .map(|m| m.partition)
            .collect::<BTreeSet<_>>()
    };
    let mut round = 0;
    let of_first = eventually_async("a settled split of the partitions", WAIT, || {
        round += 1;
        let (a, topic, round) = (Arc::clone(&f.a), topic.clone(), round);
        let (first, second) = (first.clone(), second.clone());
        async move {
            let (before_first, before_second) = (first.received().len(), second.received().len());
            for n in 0..32 {
                let message = Message::keyed(format!("k{}", n % 16), format!("round{round}-{n}"));
                a.send(&Context::new(), &topic, message).await.unwrap();
            }
            let arrived = async {
                while first.received().len() - before_first + second.received().len()
                    - before_second
                    < 32
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(20), arrived)
                .await
                .ok()?;
            let (of_first, of_second) =
                (since(&first, before_first), since(&second, before_second));
            let settled =
                of_first.is_disjoint(&of_second) && !of_first.is_empty() && !of_second.is_empty();
            settled.then_some(of_first)
        }
    })
    .await;
    let partitions = |r: &Recorder| {
        r.received()
            .iter()
            .map(|m| m.partition)
            .collect::<BTreeSet<_>>()
    };
    sub_a.close().await;
    // The remaining member now also gets the first member's partitions.
    send_until(&f.b, &topic, "the second member to take over", || {
        !partitions(&second).is_disjoint(&of_first)
    })
    .await;
    sub_b.close().await;
}

/// A failing handler is retried with backoff; after `max_attempts` the message goes to the
/// dead-letter topic with its origin and error; later messages are not held up for ever.
pub async fn retry_then_dead_letter(f: &MqFixture) {
    let ctx = Context::new();
    let topic = f.topic("retry", 1).await;
    let recorder = Recorder::failing(|m| match &m.payload[..] {
        b"poison" => true,
        // Fails on its first two attempts only.
        b"flaky" => m.attempt <= 2,
        _ => false,
    });
    for payload in ["ok1", "poison", "flaky", "ok2"] {
        f.a.send(&ctx, &topic, Message::keyed("same-key", payload))
            .await
            .unwrap();
    }
    let group = f.namespace.child("g");
    let sub =
        f.a.subscribe(
            &ctx,
            &group,
            &[&topic],
            Arc::new(recorder.clone()),
            quick_retries(3),
        )
        .await
        .unwrap();
    recorder.wait_handled(3).await;
    assert_eq!(
        recorder.handled(),
        ["ok1", "flaky", "ok2"],
        "handled in order, poison skipped after its retries"
    );
    let attempts = |payload: &[u8]| {
        recorder
            .received()
            .iter()
            .filter(|m| m.payload == payload)
            .map(|m| m.attempt)
            .collect::<Vec<_>>()
    };
    assert_eq!(attempts(b"poison"), [1, 2, 3]);
    assert_eq!(attempts(b"flaky"), [1, 2, 3]);
    sub.close().await;

    let letter = &first_dead_letter(f, &topic).await;
    assert_eq!(&letter.payload[..], b"poison");
    assert_eq!(letter.key.as_deref(), Some(&b"same-key"[..]));
    assert_eq!(
        letter.header(dead_letter_headers::TOPIC),
        Some(topic.as_str())
    );
    assert_eq!(letter.header(dead_letter_headers::ATTEMPTS), Some("3"));
    assert_eq!(letter.header(dead_letter_headers::OFFSET), Some("1"));
    assert!(
        letter
            .header(dead_letter_headers::ERROR)
            .unwrap()
            .contains("refusing poison")
    );
}

/// A consumer that dies after handling but before committing: the message is redelivered.
pub async fn crash_before_commit_redelivers(f: &MqFixture) {
    let ctx = Context::new();
    let topic = f.topic("crash", 1).await;
    let group = f.namespace.child("g");
    f.a.send(&ctx, &topic, Message::keyed("k", "important"))
        .await
        .unwrap();
    // The first consumer handles the message (side effect recorded) and then hangs, so it never
    // acknowledges; it is then killed.
    let seen = Arc::new(AtomicUsize::new(0));
    let seen_by_first = Arc::clone(&seen);
    let hanging = keel_mq::handler_fn(move |_ctx, _msg| {
        seen_by_first.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<Result<(), HandlerError>>()
    });
    let first =
        f.a.subscribe(&ctx, &group, &[&topic], Arc::new(hanging), quick_retries(3))
            .await
            .unwrap();
    eventually_async("the first consumer to handle it", WAIT, || async {
        (seen.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    first.abort().await;
    let recorder = Recorder::default();
    let second =
        f.b.subscribe(
            &ctx,
            &group,
            &[&topic],
            Arc::new(recorder.clone()),
            quick_retries(3),
        )
        .await
        .unwrap();
    recorder.wait_handled(1).await;
    assert_eq!(
        recorder.handled(),
        ["important"],
        "redelivered after the crash"
    );
    second.close().await;
}

/// The sender's trace id becomes the handler's Context.
pub async fn trace_id_round_trip(f: &MqFixture) {
    let topic = f.topic("trace", 1).await;
    let sender = Context::new();
    f.a.send(&sender, &topic, Message::new("traced"))
        .await
        .unwrap();
    let recorder = Recorder::default();
    let sub =
        f.b.subscribe(
            &Context::new(),
            &f.namespace.child("g"),
            &[&topic],
            Arc::new(recorder.clone()),
            quick_retries(3),
        )
        .await
        .unwrap();
    recorder.wait_handled(1).await;
    sub.close().await;
    let (message, ctx) = recorder.received.lock().unwrap()[0].clone();
    assert_eq!(ctx.trace_id(), sender.trace_id());
    assert!(
        message
            .header("traceparent")
            .unwrap()
            .contains(&sender.trace_id().to_string())
    );
}

/// `close` delivers every fire-and-forget message before returning.
pub async fn close_flushes(f: &MqFixture) {
    let ctx = Context::new();
    let topic = f.topic("flush", 2).await;
    let producer = (f.make)().await;
    let delivered = Arc::new(AtomicUsize::new(0));
    for i in 0..50 {
        let delivered = Arc::clone(&delivered);
        producer.send_with_callback(
            &ctx,
            &topic,
            Message::keyed(format!("k{i}"), format!("m{i}")),
            Box::new(move |outcome| {
                outcome.expect("delivered");
                delivered.fetch_add(1, Ordering::SeqCst);
            }),
        );
    }
    producer.close().await.unwrap();
    assert_eq!(
        delivered.load(Ordering::SeqCst),
        50,
        "every callback ran before close returned"
    );
    let recorder = Recorder::default();
    let sub =
        f.a.subscribe(
            &ctx,
            &f.namespace.child("g"),
            &[&topic],
            Arc::new(recorder.clone()),
            quick_retries(3),
        )
        .await
        .unwrap();
    recorder.wait_handled(50).await;
    sub.close().await;
    let err = producer
        .send(&ctx, &topic, Message::new("late"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed));
}

/// Bad input gets clear errors.
pub async fn bad_input(f: &MqFixture) {
    let ctx = Context::new();
    let topic = f.topic("bad", 1).await;
    assert!(matches!(
        f.a.send(&ctx, "no spaces", Message::new("x"))
            .await
            .unwrap_err(),
        Error::InvalidName { .. }
    ));
    let err =
        f.a.send(&ctx, &topic, Message::new(vec![0u8; 2 * 1024 * 1024]))
            .await
            .unwrap_err();
    assert!(err.to_string().contains("max_message_bytes"), "{err}");
    let missing = f.namespace.child("missing");
    let handler: Arc<dyn Handler> = Arc::new(Recorder::default());
    let err =
        f.a.subscribe(
            &ctx,
            "g",
            &[&missing],
            Arc::clone(&handler),
            ConsumerOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnknownTopic(_)) && err.to_string().contains("create_topic"),
        "{err}"
    );
    let plain = f.namespace.child("nodlq");
    f.a.create_topic(&ctx, &plain, 1).await.unwrap();
    let err =
        f.a.subscribe(
            &ctx,
            "g",
            &[&plain],
            Arc::clone(&handler),
            ConsumerOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnknownTopic(ref t) if t.ends_with(".dlq")),
        "{err}"
    );
    let zero = ConsumerOptions {
        max_attempts: 0,
        ..ConsumerOptions::default()
    };
    assert!(matches!(
        f.a.subscribe(&ctx, "g", &[&topic], Arc::clone(&handler), zero)
            .await
            .unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        f.a.subscribe(
            &ctx,
            "bad group",
            &[&topic],
            handler,
            ConsumerOptions::default()
        )
        .await
        .unwrap_err(),
        Error::InvalidName { .. }
    ));
}

/// `close` returns even while a message is being retried for ever, without acknowledging it;
/// a clean close commits what was handled, so the next member starts after it.
pub async fn close_stops_retries_and_commits_progress(f: &MqFixture) {
    let ctx = Context::new();
    let topic = f.topic("closing", 1).await;
    let group = f.namespace.child("g");
    f.a.send(&ctx, &topic, Message::keyed("k", "fine"))
        .await
        .unwrap();
    f.a.send(&ctx, &topic, Message::keyed("k", "stuck"))
        .await
        .unwrap();
    let forever = ConsumerOptions {
        dead_letter_topic: None,
        ..quick_retries(1)
    };
    let stubborn = Recorder::failing(|m| &m.payload[..] == b"stuck");
    let sub =
        f.a.subscribe(
            &ctx,
            &group,
            &[&topic],
            Arc::new(stubborn.clone()),
            forever.clone(),
        )
        .await
        .unwrap();
    eventually_async("a few failed attempts", WAIT, || async {
        (stubborn
            .received()
            .iter()
            .filter(|m| &m.payload[..] == b"stuck")
            .count()
            >= 3)
            .then_some(())
    })
    .await;
    tokio::time::timeout(WAIT, sub.close())
        .await
        .expect("close returns while a message is being retried");
    assert_eq!(stubborn.handled(), ["fine"]);
    // The next member gets the stuck message again (it was never acknowledged), not "fine".
    let next = Recorder::default();
    let sub =
        f.b.subscribe(&ctx, &group, &[&topic], Arc::new(next.clone()), forever)
            .await
            .unwrap();
    next.wait_handled(1).await;
    sub.close().await;
    assert_eq!(
        next.handled(),
        ["stuck"],
        "acknowledged messages are not redelivered after a clean close"
    );
}

/// A handler that panics is a failed attempt: retried, then dead-lettered with the panic message.
pub async fn panicking_handler_is_dead_lettered(f: &MqFixture) {
    let ctx = Context::new();
    let topic = f.topic("panics", 1).await;
    f.a.send(&ctx, &topic, Message::keyed("k", "boom"))
        .await
        .unwrap();
    f.a.send(&ctx, &topic, Message::keyed("k", "after"))
        .await
        .unwrap();
    let handled = Recorder::default();
    let record = handled.clone();
    let handler = keel_mq::handler_fn(move |ctx, msg| {
        let record = record.clone();
        async move {
            assert!(&msg.payload[..] != b"boom", "handler bug");
            record.handle(&ctx, &msg).await
        }
    });
    let sub =
        f.a.subscribe(
            &ctx,
            &f.namespace.child("g"),
            &[&topic],
            Arc::new(handler),
            quick_retries(2),
        )
        .await
        .unwrap();
    handled.wait_handled(1).await;
    sub.close().await;
    assert_eq!(
        handled.handled(),
        ["after"],
        "the partition goes on after the panics"
    );
    let letter = &first_dead_letter(f, &topic).await;
    assert_eq!(letter.header(dead_letter_headers::ATTEMPTS), Some("2"));
    assert!(
        letter
            .header(dead_letter_headers::ERROR)
            .unwrap()
            .contains("handler panicked: handler bug")
    );
}

/// A retried message is not handed a deadline that expired while it waited.
pub async fn retries_get_a_live_context(f: &MqFixture) {
    let topic = f.topic("deadline", 1).await;
    let sender = Context::new().with_timeout(Duration::from_millis(50));
    f.a.send(&sender, &topic, Message::new("late"))
        .await
        .unwrap();
    let recorder = Recorder::failing(|m| m.attempt == 1);
    let slow_retry = ConsumerOptions {
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_millis(200),
        ..quick_retries(3)
    };
    let sub =
        f.b.subscribe(
            &Context::new(),
            &f.namespace.child("g"),
            &[&topic],
            Arc::new(recorder.clone()),
            slow_retry,
        )
        .await
        .unwrap();
    recorder.wait_handled(1).await;
    sub.close().await;
    let contexts = recorder.received.lock().unwrap().clone();
    assert_eq!(contexts.len(), 2);
    for (_, ctx) in contexts {
        assert_eq!(ctx.trace_id(), sender.trace_id(), "the trace continues");
        assert!(!ctx.is_done(), "no attempt starts with an expired deadline");
    }
}

/// Generates one `#[tokio::test]` per contract case, each calling `$fixture().await`.
#[macro_export]
macro_rules! mq_contract {
    ($fixture:path) => {
        $crate::mq_contract!(@cases $fixture;
            admin_topics, ordering_per_key, group_split_and_takeover, retry_then_dead_letter,
            crash_before_commit_redelivers, trace_id_round_trip, close_flushes, bad_input,
            close_stops_retries_and_commits_progress, panicking_handler_is_dead_lettered,
            retries_get_a_live_context);
    };
    (@cases $fixture:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $fixture().await else { return };
                $crate::contracts::mq::$case(&fixture).await;
                fixture.close().await;
            }
        )*
    };
}
