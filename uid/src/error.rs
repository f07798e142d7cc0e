//! The one error type of keel-uid.

use std::time::Duration;

/// What can stop an id from being issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid; the message names the field.
    #[error("invalid uid config: {0}")]
    InvalidConfig(String),
    /// The clock went back further than the configured tolerance (or did not recover within
    /// it). Issuing ids now could repeat ones already issued, so none is issued.
    #[error(
        "clock moved backwards by {by:?} (tolerance {tolerance:?}); refusing to issue ids that could repeat. Check NTP on this host, or raise max_clock_backward"
    )]
    ClockMovedBackwards {
        /// How far back the clock is behind the last issued id.
        by: Duration,
        /// The configured tolerance.
        tolerance: Duration,
    },
    /// The clock did not advance for longer than a second while the sequence of the current
    /// millisecond was exhausted.
    #[error("clock has not advanced for {0:?} while the sequence is exhausted")]
    ClockStalled(Duration),
    /// The clock reads earlier than the configured epoch.
    #[error(
        "clock reads {now_ms} ms since the Unix epoch, before the configured epoch {epoch_ms}; fix the clock or the epoch"
    )]
    BeforeEpoch {
        /// The clock reading.
        now_ms: u64,
        /// The configured epoch.
        epoch_ms: u64,
    },
    /// More than 2^41 ms (~69 years) have passed since the epoch; the time field is full.
    #[error(
        "the 41-bit time field is exhausted ({elapsed_ms} ms since the epoch); choose a newer epoch"
    )]
    TimeExhausted {
        /// Milliseconds since the epoch.
        elapsed_ms: u64,
    },
    /// No valid worker id is held right now: the coord lease holding it was lost. Ids resume
    /// once a new worker id is acquired (in the background); retry later.
    #[error(
        "no valid worker id: the coord lease holding it was lost; ids resume when a new one is held"
    )]
    NoWorkerId,
    /// Acquiring a worker id through coord failed.
    #[error("acquiring a worker id through coord: {0}")]
    Coord(String),
    /// The generator was closed.
    #[error("the id generator is closed")]
    Closed,
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
