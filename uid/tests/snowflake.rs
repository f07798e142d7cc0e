//! Snowflake behaviour: uniqueness and order under concurrency, sequence exhaustion, clock
//! steps backwards (with an injected clock), decomposition.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use keel_uid::{Error, ManualClock, Snowflake, SystemClock, decompose};

const EPOCH: u64 = keel_uid::DEFAULT_EPOCH_UNIX_MS;
const T0: u64 = EPOCH + 1_000_000;

#[test]
fn ids_are_unique_and_increasing_per_thread_under_concurrency() {
    let generator =
        Arc::new(Snowflake::new(EPOCH, 5, Duration::from_millis(10), SystemClock).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let generator = Arc::clone(&generator);
            thread::spawn(move || {
                let ids: Vec<u64> = (0..50_000).map(|_| generator.next_id().unwrap()).collect();
                assert!(
                    ids.windows(2).all(|w| w[0] < w[1]),
                    "not increasing within a thread"
                );
                ids
            })
        })
        .collect();
    let mut all = HashSet::new();
    for t in threads {
        for id in t.join().unwrap() {
            assert!(all.insert(id), "duplicate id {id}");
            assert_eq!(decompose(EPOCH, id).worker_id, 5);
        }
    }
    assert_eq!(all.len(), 400_000);
}

#[test]
fn a_later_call_always_gets_a_larger_id() {
    // Linearizability across threads: an id issued after another one finished is larger.
    let generator =
        Arc::new(Snowflake::new(EPOCH, 1, Duration::from_millis(10), SystemClock).unwrap());
    let first = generator.next_id().unwrap();
    let g = Arc::clone(&generator);
    let second = thread::spawn(move || g.next_id().unwrap()).join().unwrap();
    assert!(second > first);
}

#[test]
fn sequence_exhaustion_waits_for_the_next_millisecond() {
    let clock = ManualClock::new(T0);
    let generator =
        Arc::new(Snowflake::new(EPOCH, 3, Duration::from_millis(10), clock.clone()).unwrap());
    let ids: Vec<u64> = (0..4096).map(|_| generator.next_id().unwrap()).collect();
    assert_eq!(decompose(EPOCH, ids[4095]).sequence, 4095);
    let g = Arc::clone(&generator);
    let blocked = thread::spawn(move || g.next_id());
    thread::sleep(Duration::from_millis(20));
    assert!(
        !blocked.is_finished(),
        "the 4097th id of a millisecond must wait"
    );
    clock.advance(1);
    let id = blocked.join().unwrap().unwrap();
    let parts = decompose(EPOCH, id);
    assert_eq!(parts.unix_ms, T0 + 1);
    assert_eq!(parts.sequence, 0);
    assert!(id > ids[4095]);
}

#[test]
fn stalled_clock_with_exhausted_sequence_is_an_error_not_a_hang() {
    let clock = ManualClock::new(T0);
    let generator = Snowflake::new(EPOCH, 0, Duration::from_millis(10), clock).unwrap();
    for _ in 0..4096 {
        generator.next_id().unwrap();
    }
    let started = Instant::now();
    assert!(matches!(generator.next_id(), Err(Error::ClockStalled(_))));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn small_backward_step_is_waited_out() {
    let clock = ManualClock::new(T0);
    let generator =
        Arc::new(Snowflake::new(EPOCH, 0, Duration::from_millis(500), clock.clone()).unwrap());
    let before = generator.next_id().unwrap();
    clock.set(T0 - 5);
    let g = Arc::clone(&generator);
    let waiting = thread::spawn(move || g.next_id());
    thread::sleep(Duration::from_millis(20));
    assert!(
        !waiting.is_finished(),
        "must wait while the clock is behind"
    );
    clock.set(T0 + 1);
    let after = waiting.join().unwrap().unwrap();
    assert!(after > before);
    assert_eq!(decompose(EPOCH, after).unix_ms, T0 + 1);
}

#[test]
fn small_backward_step_that_never_recovers_fails_after_the_bound() {
    let clock = ManualClock::new(T0);
    let generator = Snowflake::new(EPOCH, 0, Duration::from_millis(30), clock.clone()).unwrap();
    generator.next_id().unwrap();
    clock.set(T0 - 5);
    let started = Instant::now();
    let err = generator.next_id().unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert!(matches!(err, Error::ClockMovedBackwards { by, .. } if by == Duration::from_millis(5)));
}

#[test]
fn large_backward_step_fails_at_once_with_a_clear_error() {
    let clock = ManualClock::new(T0);
    let generator = Snowflake::new(EPOCH, 0, Duration::from_millis(10), clock.clone()).unwrap();
    generator.next_id().unwrap();
    clock.set(T0 - 1_000);
    let started = Instant::now();
    let err = generator.next_id().unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(10));
    assert!(
        err.to_string().contains("clock moved backwards by 1s"),
        "{err}"
    );
    // Once the clock is back, ids flow again and stay above the last one.
    clock.set(T0 + 1);
    assert_eq!(
        decompose(EPOCH, generator.next_id().unwrap()).unix_ms,
        T0 + 1
    );
}

#[test]
fn clock_before_epoch_and_exhausted_time_are_errors() {
    let generator = Snowflake::new(EPOCH, 0, Duration::ZERO, ManualClock::new(EPOCH - 1)).unwrap();
    assert!(matches!(
        generator.next_id(),
        Err(Error::BeforeEpoch { .. })
    ));
    let generator = Snowflake::new(
        EPOCH,
        0,
        Duration::ZERO,
        ManualClock::new(EPOCH + (1 << 41)),
    )
    .unwrap();
    assert!(matches!(
        generator.next_id(),
        Err(Error::TimeExhausted { .. })
    ));
    let generator = Snowflake::new(
        EPOCH,
        0,
        Duration::ZERO,
        ManualClock::new(EPOCH + (1 << 41) - 1),
    )
    .unwrap();
    let id = generator.next_id().unwrap();
    assert!(id <= i64::MAX as u64, "the sign bit stays clear");
}

#[test]
fn worker_id_out_of_range_is_refused() {
    let err = Snowflake::new(EPOCH, 1024, Duration::ZERO, SystemClock).unwrap_err();
    assert!(err.to_string().contains("1024"));
}

#[test]
fn decompose_round_trips_every_field() {
    let generator = Snowflake::new(EPOCH, 1023, Duration::ZERO, ManualClock::new(T0)).unwrap();
    generator.next_id().unwrap();
    let id = generator.next_id().unwrap();
    let parts = generator.decompose(id);
    assert_eq!(
        (parts.unix_ms, parts.worker_id, parts.sequence),
        (T0, 1023, 1)
    );
}
