//! Encoded `instance/list` answers, kept per service, clusters and `healthyOnly` while the
//! service's revision stays the same: discovery is the hottest naming call, and between two
//! changes of a service every client gets the same bytes.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;

/// Most answers kept; past it the cache starts again (a bound, not an LRU: answers are cheap
/// to make again, and a server with that many distinct queries gains little from any order).
const MAX_ANSWERS: usize = 16_384;

/// Encoded answers by query, each with the revision it was made at.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    entries: Mutex<HashMap<String, (i64, Bytes)>>,
}

impl Answers {
    /// The answer to `query` made at `revision`, if kept.
    pub(crate) fn get(&self, query: &str, revision: i64) -> Option<Bytes> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(query)
            .filter(|(made_at, _)| *made_at == revision)
            .map(|(_, bytes)| bytes.clone())
    }

    /// Keeps `answer` to `query`, made from a view at least as new as `revision`.
    pub(crate) fn put(&self, query: String, revision: i64, answer: Bytes) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ANSWERS {
            entries.clear();
        }
        entries.insert(query, (revision, answer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_for_their_revision_only() {
        let answers = Answers::default();
        answers.put("q".into(), 7, Bytes::from_static(b"a"));
        assert_eq!(answers.get("q", 7).as_deref(), Some(&b"a"[..]));
        assert!(answers.get("q", 8).is_none());
        assert!(answers.get("other", 7).is_none());
        for i in 0..MAX_ANSWERS + 1 {
            answers.put(format!("q{i}"), 1, Bytes::new());
        }
        assert!(answers.entries.lock().unwrap().len() <= MAX_ANSWERS);
    }
}
