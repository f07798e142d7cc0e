//! The breaker's state machine on an injected clock, its concurrency limits, and the fallback.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use keel_breaker::{Breakers, Config, Error, ManualClock, Options, Policies, Policy, State};
use keel_clog::{Context, Env};

fn policy() -> Policy {
    Policy {
        failure_ratio: Some(0.5),
        consecutive_failures: Some(3),
        minimum_requests: 10,
        window: Duration::from_secs(10),
        open_timeout: Duration::from_secs(5),
        half_open_max_requests: 2,
        success_threshold: 2,
    }
}

async fn breakers(policy: Policy, clock: &ManualClock) -> Arc<Breakers> {
    let config = Config {
        policies: Policies {
            default: policy,
            ..Policies::default()
        },
        ..Config::for_env(Env::Development)
    };
    let options = Options {
        clock: Some(Arc::new(clock.clone())),
        ..Options::default()
    };
    keel_breaker::new(&Context::new(), config, options)
        .await
        .unwrap()
}

async fn fail(b: &Arc<keel_breaker::Breaker>) -> Result<(), Error<&'static str>> {
    b.call(|| async { Err::<(), _>("boom") }, |_| true).await
}

async fn succeed(b: &Arc<keel_breaker::Breaker>) -> Result<(), Error<&'static str>> {
    b.call(|| async { Ok::<(), &str>(()) }, |_| true).await
}

#[tokio::test]
async fn consecutive_failures_open_then_half_open_trials_close_it() {
    let clock = ManualClock::default();
    let b = breakers(policy(), &clock).await.get("pay");
    for _ in 0..2 {
        assert!(matches!(fail(&b).await, Err(Error::Inner("boom"))));
    }
    assert_eq!(b.state(), State::Closed);
    assert!(fail(&b).await.is_err());
    assert_eq!(b.state(), State::Open, "three in a row");
    assert!(
        matches!(succeed(&b).await, Err(Error::Open(ref n)) if n == "pay"),
        "rejected while open"
    );
    assert_eq!(b.rejections(), 1);
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::HalfOpen, "one success of two");
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.times_opened(), 1);
}

#[tokio::test]
async fn a_failed_trial_opens_again() {
    let clock = ManualClock::default();
    let b = breakers(policy(), &clock).await.get("pay");
    for _ in 0..3 {
        let _ = fail(&b).await;
    }
    clock.advance(Duration::from_secs(5));
    assert!(fail(&b).await.is_err());
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(4));
    assert_eq!(b.state(), State::Open, "the open timeout starts again");
    clock.advance(Duration::from_secs(1));
    assert_eq!(b.state(), State::HalfOpen);
}

#[tokio::test]
async fn failure_ratio_needs_minimum_requests_and_windows_roll_over() {
    let clock = ManualClock::default();
    let mut p = policy();
    p.consecutive_failures = None;
    let b = breakers(p, &clock).await.get("search");
    // 4 failures of 8: ratio reached, but fewer than 10 calls.
    for i in 0..8 {
        if i % 2 == 0 {
            let _ = fail(&b).await;
        } else {
            succeed(&b).await.unwrap();
        }
    }
    assert_eq!(b.state(), State::Closed);
    // A new window forgets them.
    clock.advance(Duration::from_secs(10));
    for _ in 0..9 {
        succeed(&b).await.unwrap();
    }
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Closed, "1 failure in 10");
    for _ in 0..9 {
        let _ = fail(&b).await;
    }
    assert_eq!(b.state(), State::Open, "10 failures in 19 reach 50 %");
}

#[tokio::test]
async fn the_classifier_decides_what_counts() {
    let clock = ManualClock::default();
    let b = breakers(policy(), &clock).await.get("users");
    for _ in 0..10 {
        let r = b
            .call(|| async { Err::<(), _>(404) }, |code| *code >= 500)
            .await;
        assert!(matches!(r, Err(Error::Inner(404))));
    }
    assert_eq!(
        b.state(),
        State::Closed,
        "client errors do not trip the breaker"
    );
}

#[tokio::test]
async fn the_fallback_runs_only_on_rejection() {
    let clock = ManualClock::default();
    let b = breakers(policy(), &clock).await.get("recs");
    let fallbacks = AtomicU32::new(0);
    let answer = b
        .call_or_else(
            || async { Err::<u32, _>("down") },
            |_| true,
            || async {
                fallbacks.fetch_add(1, Ordering::SeqCst);
                Ok(0)
            },
        )
        .await;
    assert_eq!(answer, Err("down"), "a failed call is returned as it is");
    for _ in 0..2 {
        let _ = fail(&b).await;
    }
    let answer = b
        .call_or_else(
            || async { Ok::<u32, &str>(7) },
            |_| true,
            || async { Ok(0) },
        )
        .await;
    assert_eq!(answer, Ok(0), "open: the fallback answers");
    assert_eq!(fallbacks.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_admits_at_most_the_trial_limit_at_once() {
    let clock = ManualClock::default();
    let b = breakers(policy(), &clock).await.get("inventory");
    for _ in 0..3 {
        let _ = fail(&b).await;
    }
    clock.advance(Duration::from_secs(5));
    let in_flight = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (b, in_flight, most) = (Arc::clone(&b), Arc::clone(&in_flight), Arc::clone(&most));
        tasks.push(tokio::spawn(async move {
            b.call(
                || async {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok::<(), &str>(())
                },
                |_| true,
            )
            .await
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            admitted += 1;
        }
    }
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "at most two trials at once"
    );
    assert!(admitted >= 2);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test]
async fn a_dropped_trial_frees_its_slot() {
    let clock = ManualClock::default();
    let b = breakers(policy(), &clock).await.get("x");
    for _ in 0..3 {
        let _ = fail(&b).await;
    }
    clock.advance(Duration::from_secs(5));
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_none());
    drop(p1); // cancelled call
    let p3 = b.try_acquire().unwrap();
    p2.success();
    p3.success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test]
async fn bad_policies_are_refused() {
    let mut p = policy();
    p.failure_ratio = Some(1.5);
    assert!(
        p.validate()
            .unwrap_err()
            .to_string()
            .contains("failure_ratio")
    );
    let mut p = policy();
    p.failure_ratio = None;
    p.consecutive_failures = None;
    assert!(p.validate().is_err());
    let mut p = policy();
    p.half_open_max_requests = 0;
    let config = Config {
        policies: Policies {
            default: p,
            ..Policies::default()
        },
        ..Config::for_env(Env::Development)
    };
    assert!(
        keel_breaker::new(&Context::new(), config, Options::default())
            .await
            .is_err()
    );
}
