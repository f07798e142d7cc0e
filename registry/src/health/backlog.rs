//! Flips waiting for room in the receiver's channel.

use std::collections::{HashMap, VecDeque};

use super::checker::HealthFlip;

/// Flips the receiver has had no room for: the newest per instance, oldest instance first.
#[derive(Default)]
pub(crate) struct Backlog {
    /// Queue positions; an entry whose sequence number no longer matches `latest` is stale
    /// (its flip was discarded) and is skipped.
    order: VecDeque<(u64, String)>,
    latest: HashMap<String, (u64, HealthFlip)>,
    next_seq: u64,
}

impl Backlog {
    pub(crate) fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Queues `flip`, replacing (in place) an undelivered one of the same instance.
    pub(crate) fn push(&mut self, flip: HealthFlip) {
        if let Some((_, queued)) = self.latest.get_mut(&flip.instance_id) {
            *queued = flip;
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((seq, flip.instance_id.clone()));
        self.latest.insert(flip.instance_id.clone(), (seq, flip));
        // Stale positions pile up only when flips are discarded faster than delivered; keep
        // the queue proportional to what it holds.
        if self.order.len() > 2 * self.latest.len() + 16 {
            let latest = &self.latest;
            self.order
                .retain(|(seq, id)| latest.get(id).is_some_and(|(s, _)| s == seq));
        }
    }

    pub(crate) fn pop(&mut self) -> Option<HealthFlip> {
        while let Some((seq, id)) = self.order.pop_front() {
            if self.latest.get(&id).is_some_and(|(s, _)| *s == seq) {
                return self.latest.remove(&id).map(|(_, flip)| flip);
            }
        }
        None
    }

    pub(crate) fn contains(&self, instance_id: &str) -> bool {
        self.latest.contains_key(instance_id)
    }

    pub(crate) fn discard(&mut self, instance_id: &str) {
        self.latest.remove(instance_id);
        if self.latest.is_empty() {
            self.order.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flip(id: &str, healthy: bool) -> HealthFlip {
        HealthFlip {
            instance_id: id.to_owned(),
            healthy,
            detail: String::new(),
        }
    }

    #[test]
    fn backlog_keeps_the_newest_flip_per_instance_in_order() {
        let mut b = Backlog::default();
        b.push(flip("a", false));
        b.push(flip("b", false));
        b.push(flip("a", true));
        b.push(flip("c", false));
        b.discard("c");
        b.discard("a");
        b.push(flip("a", true));
        assert_eq!(b.pop(), Some(flip("b", false)));
        assert_eq!(b.pop(), Some(flip("a", true)));
        assert_eq!(b.pop(), None);
        b.push(flip("a", false));
        b.push(flip("b", false));
        b.push(flip("a", true));
        assert_eq!(b.pop(), Some(flip("a", true)));
        assert_eq!(b.pop(), Some(flip("b", false)));
        assert_eq!(b.pop(), None);
        assert!(b.is_empty());
    }
}
