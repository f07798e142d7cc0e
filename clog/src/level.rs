//! [`LevelHandle`]: change the log level of a running process.

use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;

use crate::{Error, Result};

type Reload = dyn Fn(EnvFilter) -> std::result::Result<(), String> + Send + Sync;

/// Checks a level or filter directive without applying it (used by config watches to reject a
/// bad level before it replaces a good one).
pub fn validate_level(directive: &str) -> Result<()> {
    parse_filter(directive).map(|_| ())
}

pub(crate) fn parse_filter(directive: &str) -> Result<EnvFilter> {
    if directive.trim().is_empty() {
        return Err(Error::InvalidLevel {
            directive: directive.to_owned(),
            reason: "empty".into(),
        });
    }
    // EnvFilter reads a bare word as "this target at every level", so a typo such as
    // "inf" would silently enable trace logging for a target nobody has. keel asks for
    // `target=level` and accepts bare words only when they are levels.
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    for part in directive
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !part.contains('=')
            && !part.contains('[')
            && !LEVELS.contains(&part.to_ascii_lowercase().as_str())
        {
            return Err(Error::InvalidLevel {
                directive: directive.to_owned(),
                reason: format!("{part:?} is not a level; write a level or target=level"),
            });
        }
    }
    EnvFilter::builder()
        .parse(directive)
        .map_err(|e| Error::InvalidLevel {
            directive: directive.to_owned(),
            reason: e.to_string(),
        })
}

/// Changes the level filter of the subscriber it came from, atomically and without a restart.
/// A bad directive is rejected and the current level stays. Cheap to clone.
///
/// keel-coord's config watch calls [`LevelHandle::set`] when the level stored under
/// `/config/{env}/{service}/clog/` changes.
#[derive(Clone)]
pub struct LevelHandle {
    reload: Arc<Reload>,
    current: Arc<Mutex<String>>,
}

impl std::fmt::Debug for LevelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelHandle")
            .field("current", &self.current())
            .finish()
    }
}

impl LevelHandle {
    pub(crate) fn new(initial: &str, reload: Arc<Reload>) -> Self {
        LevelHandle {
            reload,
            current: Arc::new(Mutex::new(initial.to_owned())),
        }
    }

    /// The directive in force.
    pub fn current(&self) -> String {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the filter, e.g. `set("warn")` or `set("info,keel_db=trace")`.
    pub fn set(&self, directive: &str) -> Result<()> {
        let filter = parse_filter(directive)?;
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        (self.reload)(filter).map_err(|reason| Error::InvalidLevel {
            directive: directive.to_owned(),
            reason,
        })?;
        *current = directive.to_owned();
        Ok(())
    }
}
