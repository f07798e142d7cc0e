//! UUIDv7: time-ordered UUIDs (RFC 9562) from the uuid crate, monotonic per generator.

use std::sync::Mutex;

use uuid::{ContextV7, Timestamp, Uuid};

/// Issues UUIDv7 values that sort in issue order: 48 bits of Unix milliseconds, a counter that
/// keeps values from one generator strictly increasing within a millisecond, and random bits.
#[derive(Debug, Default)]
pub struct UuidV7 {
    // ContextV7 keeps its counter in Cells; the mutex makes one generator shareable.
    context: Mutex<ContextV7>,
}

impl UuidV7 {
    /// A new generator.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next UUID.
    pub fn next_uuid(&self) -> Uuid {
        let context = self.context.lock().unwrap_or_else(|p| p.into_inner());
        Uuid::new_v7(Timestamp::now(&*context))
    }
}
