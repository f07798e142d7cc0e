//! A sorted set: members ordered by (score, member), as Redis orders them.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

/// An `f64` with a total order (scores are validated finite before they get here).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Score(pub(crate) f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct ZSet {
    scores: HashMap<String, f64>,
    ordered: BTreeSet<(Score, String)>,
}

impl ZSet {
    /// Adds or updates; true when the member is new.
    pub(crate) fn add(&mut self, score: f64, member: String) -> bool {
        let new = match self.scores.insert(member.clone(), score) {
            Some(old) => {
                self.ordered.remove(&(Score(old), member.clone()));
                false
            }
            None => true,
        };
        self.ordered.insert((Score(score), member));
        new
    }

    pub(crate) fn remove(&mut self, member: &str) -> bool {
        match self.scores.remove(member) {
            Some(score) => self.ordered.remove(&(Score(score), member.to_owned())),
            None => false,
        }
    }

    pub(crate) fn score(&self, member: &str) -> Option<f64> {
        self.scores.get(member).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// `start..=stop` by rank; negative indices count from the end (Redis ZRANGE).
    pub(crate) fn range_by_rank(&self, start: i64, stop: i64) -> Vec<(String, f64)> {
        let len = self.len() as i64;
        let start = if start < 0 {
            (len + start).max(0)
        } else {
            start
        };
        let stop = if stop < 0 {
            len + stop
        } else {
            stop.min(len - 1)
        };
        if start > stop || start >= len {
            return Vec::new();
        }
        self.ordered
            .iter()
            .skip(start as usize)
            .take((stop - start + 1) as usize)
            .map(|(s, m)| (m.clone(), s.0))
            .collect()
    }

    /// Members with `min <= score <= max`, in order, after `offset`, at most `count`.
    pub(crate) fn range_by_score(
        &self,
        min: f64,
        max: f64,
        offset: usize,
        count: Option<usize>,
    ) -> Vec<(String, f64)> {
        self.ordered
            .range((Score(min), String::new())..)
            .take_while(|(s, _)| s.0 <= max)
            .skip(offset)
            .take(count.unwrap_or(usize::MAX))
            .map(|(s, m)| (m.clone(), s.0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::ZSet;

    #[test]
    fn ranks_and_scores_follow_redis() {
        let mut z = ZSet::default();
        assert!(z.add(2.0, "b".into()));
        assert!(z.add(1.0, "a".into()));
        assert!(z.add(2.0, "c".into()));
        assert!(!z.add(0.5, "c".into()), "update, not new");
        let names = |v: Vec<(String, f64)>| v.into_iter().map(|(m, _)| m).collect::<Vec<_>>();
        assert_eq!(names(z.range_by_rank(0, -1)), ["c", "a", "b"]);
        assert_eq!(names(z.range_by_rank(-2, -1)), ["a", "b"]);
        assert_eq!(names(z.range_by_rank(5, 10)), Vec::<String>::new());
        assert_eq!(names(z.range_by_score(1.0, 2.0, 0, None)), ["a", "b"]);
        assert_eq!(
            names(z.range_by_score(f64::NEG_INFINITY, f64::INFINITY, 1, Some(1))),
            ["a"]
        );
        assert!(z.remove("a"));
        assert_eq!(z.score("b"), Some(2.0));
        assert_eq!(z.len(), 2);
    }
}
