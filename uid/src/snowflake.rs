//! The Snowflake generator: 41 bits of milliseconds since an epoch, 10 bits of worker id,
//! 12 bits of sequence; the sign bit is always 0 so ids are positive as `i64` too.

use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Clock;
use crate::{Error, Result};

/// Bits of the sequence within one millisecond.
pub const SEQUENCE_BITS: u32 = 12;
/// Bits of the worker id.
pub const WORKER_BITS: u32 = 10;
/// Bits of the timestamp.
pub const TIME_BITS: u32 = 41;
/// The largest worker id (1023).
pub const MAX_WORKER_ID: u16 = (1 << WORKER_BITS) - 1;
const MAX_SEQUENCE: u64 = (1 << SEQUENCE_BITS) - 1;
const MAX_ELAPSED_MS: u64 = (1 << TIME_BITS) - 1;
/// The `last` value of a retired generator: no id can be issued after it.
const RETIRED: u64 = u64::MAX;
/// How long an exhausted sequence may wait for the clock to tick before giving up.
const STALL_LIMIT: Duration = Duration::from_secs(1);

/// The fields of a Snowflake id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnowflakeParts {
    /// When the id was issued, in ms since the Unix epoch.
    pub unix_ms: u64,
    /// The worker that issued it.
    pub worker_id: u16,
    /// Its position within that millisecond.
    pub sequence: u16,
}

/// A lock-free Snowflake generator for one worker id.
///
/// Ids from one generator are unique and strictly increasing, across threads: the last issued
/// `(time, sequence)` lives in one atomic word advanced by compare-and-swap.
///
/// When the 4096 ids of a millisecond are used up, the call waits for the next millisecond.
/// When the clock reads earlier than the last issued id, the call waits for the clock to catch
/// up if the gap is within `max_backward`, and fails with [`Error::ClockMovedBackwards`]
/// otherwise — it never issues an id that could repeat. Waiting blocks the calling thread, for
/// at most `max_backward` (or one second on a stalled clock).
pub struct Snowflake<C: Clock> {
    epoch_ms: u64,
    worker_bits: u64,
    max_backward: Duration,
    clock: C,
    /// `(elapsed_ms << SEQUENCE_BITS) | sequence` of the last issued id.
    last: AtomicU64,
}

impl<C: Clock> std::fmt::Debug for Snowflake<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snowflake")
            .field("epoch_ms", &self.epoch_ms)
            .field("worker_id", &self.worker_id())
            .finish_non_exhaustive()
    }
}

impl<C: Clock> Snowflake<C> {
    /// A generator for `worker_id` counting from `epoch_ms` (ms since the Unix epoch).
    pub fn new(epoch_ms: u64, worker_id: u16, max_backward: Duration, clock: C) -> Result<Self> {
        if worker_id > MAX_WORKER_ID {
            return Err(Error::InvalidConfig(format!(
                "worker_id {worker_id} is out of range 0..={MAX_WORKER_ID}"
            )));
        }
        Ok(Snowflake {
            epoch_ms,
            worker_bits: u64::from(worker_id) << SEQUENCE_BITS,
            max_backward,
            clock,
            last: AtomicU64::new(0),
        })
    }

    /// The worker id in every id of this generator.
    pub fn worker_id(&self) -> u16 {
        (self.worker_bits >> SEQUENCE_BITS) as u16
    }

    fn elapsed_now(&self) -> Result<u64> {
        let now_ms = self.clock.now_unix_ms();
        let elapsed_ms = now_ms
            .checked_sub(self.epoch_ms)
            .ok_or(Error::BeforeEpoch {
                now_ms,
                epoch_ms: self.epoch_ms,
            })?;
        if elapsed_ms > MAX_ELAPSED_MS {
            return Err(Error::TimeExhausted { elapsed_ms });
        }
        Ok(elapsed_ms)
    }

    /// The next id.
    pub fn next_id(&self) -> Result<u64> {
        let mut waiting_since: Option<Instant> = None;
        loop {
            let now = self.elapsed_now()?;
            let last = self.last.load(Ordering::Acquire);
            if last == RETIRED {
                return Err(Error::NoWorkerId);
            }
            let last_ms = last >> SEQUENCE_BITS;
            let next = if now > last_ms {
                now << SEQUENCE_BITS
            } else if now == last_ms && last & MAX_SEQUENCE < MAX_SEQUENCE {
                last + 1
            } else {
                // Either this millisecond's sequence is used up, or the clock is behind.
                let behind = Duration::from_millis(last_ms - now);
                let started = *waiting_since.get_or_insert_with(Instant::now);
                let limit = if now == last_ms {
                    STALL_LIMIT
                } else {
                    self.max_backward
                };
                if behind > self.max_backward || started.elapsed() > limit {
                    return Err(if now == last_ms {
                        Error::ClockStalled(started.elapsed())
                    } else {
                        Error::ClockMovedBackwards {
                            by: behind,
                            tolerance: self.max_backward,
                        }
                    });
                }
                if now == last_ms {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(100));
                }
                continue;
            };
            if self
                .last
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                let elapsed_ms = next >> SEQUENCE_BITS;
                let sequence = next & MAX_SEQUENCE;
                return Ok((elapsed_ms << (WORKER_BITS + SEQUENCE_BITS))
                    | self.worker_bits
                    | sequence);
            }
        }
    }

    /// Stops this generator for good and returns its last `(ms << 12) | sequence`, for a
    /// successor. A call racing with this one either issued its id before (and it is covered by
    /// the returned state) or fails its compare-and-swap and sees the generator retired.
    pub(crate) fn retire(&self) -> u64 {
        match self.last.swap(RETIRED, Ordering::AcqRel) {
            RETIRED => 0,
            last => last,
        }
    }

    /// Makes every id of this generator come from a later millisecond than `state` (the last
    /// state of a predecessor with another worker id), so ids keep increasing across a change
    /// of worker id.
    pub(crate) fn resume_after(&self, state: u64) {
        let next_ms = (state >> SEQUENCE_BITS) + 1;
        self.last
            .fetch_max((next_ms << SEQUENCE_BITS) | MAX_SEQUENCE, Ordering::AcqRel);
    }

    /// Splits an id into its fields (using this generator's epoch).
    pub fn decompose(&self, id: u64) -> SnowflakeParts {
        decompose(self.epoch_ms, id)
    }
}

/// Splits an id into its fields, given the epoch it was generated with.
pub fn decompose(epoch_ms: u64, id: u64) -> SnowflakeParts {
    SnowflakeParts {
        unix_ms: (id >> (WORKER_BITS + SEQUENCE_BITS)) + epoch_ms,
        worker_id: ((id >> SEQUENCE_BITS) & u64::from(MAX_WORKER_ID)) as u16,
        sequence: (id & MAX_SEQUENCE) as u16,
    }
}
