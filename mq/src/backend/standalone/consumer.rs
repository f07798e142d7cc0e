//! A member of a consumer group on the standalone broker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::group::Group;
use super::{FastMap, StandaloneBroker, lock};
use crate::backend::{Headers, RawConsumer, RawRecord, RawRun};
use crate::{Error, Result};

/// An owned partition and where reading it continues.
struct Position {
    /// Shared with the broker's topic and every record handed out.
    topic: Arc<str>,
    partition: i32,
    next: i64,
}

#[derive(Default)]
struct Cursor {
    /// The group generation `positions` reflect.
    generation: u64,
    positions: Vec<Position>,
    /// Which owned partition the next fetch starts with, so none is always served last.
    next: usize,
    /// Headers shared by many records (a producer Context's burst) and this member's copy.
    copied_headers: Option<(Headers, Headers)>,
}

/// `stored`, or this member's copy of it when many records share it.
///
/// Every message handed out holds its headers, and a reference count shared with the producer
/// (which clones the same headers for every message it sends) and with other groups bounces
/// between the cores on every message; a copy of its own keeps this member's counting on this
/// member's side.
fn member_headers(copied: &mut Option<(Headers, Headers)>, stored: &Headers) -> Headers {
    if let Some((shared, copy)) = copied
        && Arc::ptr_eq(shared, stored)
    {
        return Arc::clone(copy);
    }
    // Held by more than the log and one message in flight: shared by several records.
    if Arc::strong_count(stored) > 2 {
        let copy: Headers = stored.iter().cloned().collect();
        *copied = Some((Arc::clone(stored), Arc::clone(&copy)));
        return copy;
    }
    Arc::clone(stored)
}

pub(super) struct StandaloneConsumer {
    broker: StandaloneBroker,
    /// Groups are never removed from the broker, so a member keeps its own handle.
    group: Arc<Mutex<Group>>,
    id: u64,
    cursor: Mutex<Cursor>,
    closed: AtomicBool,
}

impl StandaloneConsumer {
    pub(super) fn new(broker: StandaloneBroker, group: Arc<Mutex<Group>>, id: u64) -> Self {
        StandaloneConsumer {
            broker,
            group,
            id,
            cursor: Mutex::new(Cursor::default()),
            closed: AtomicBool::new(false),
        }
    }

    /// Follows a rebalance: positions of partitions still ours are kept (work continues where
    /// it was); new ones start at the group's committed offset.
    fn follow_group(&self, cursor: &mut Cursor) {
        let group = lock(&self.group);
        if cursor.generation == group.generation {
            return;
        }
        let topics = self.broker.topics();
        let previous = std::mem::take(&mut cursor.positions);
        let previous: FastMap<(&str, i32), i64> = previous
            .iter()
            .map(|p| ((&*p.topic, p.partition), p.next))
            .collect();
        let mut positions: Vec<Position> = group
            .owned_by(self.id)
            .filter_map(|(topic, partition, committed)| {
                let next = previous
                    .get(&(topic, partition))
                    .copied()
                    .unwrap_or(committed);
                let topic = Arc::clone(&topics.get(topic)?.name);
                Some(Position {
                    topic,
                    partition,
                    next,
                })
            })
            .collect();
        positions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        cursor.positions = positions;
        cursor.generation = group.generation;
        cursor.next = 0;
    }

    /// Up to `max` waiting records of owned partitions, one run per partition. Partitions
    /// share `max` fairly (one with little waiting leaves the rest of its share to the others),
    /// and the first to be served changes every time.
    fn poll(&self, max: usize) -> Result<Option<Vec<RawRun>>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let mut cursor = lock(&self.cursor);
        self.follow_group(&mut cursor);
        let owned = cursor.positions.len();
        if owned == 0 {
            return Ok(None);
        }
        let topics = self.broker.topics();
        let log = |position: &Position| {
            topics
                .get(&*position.topic)?
                .partitions
                .get(usize::try_from(position.partition).ok()?)
        };
        // Count first, so each run is allocated once at its size: fetches are frequent, and
        // growing vectors of records was a good part of their cost.
        let start = cursor.next;
        let mut waiting = Vec::with_capacity(owned);
        for step in 0..owned {
            let position = &cursor.positions[(start + step) % owned];
            waiting.push(log(position).map_or(0, |log| {
                let log = lock(log);
                let end = log.base_offset + log.records.len() as i64;
                usize::try_from(end - position.next.max(log.base_offset)).unwrap_or(0)
            }));
        }
        let shares = fair_shares(&waiting, max);
        let mut runs = Vec::new();
        for (step, share) in shares.into_iter().enumerate() {
            if share == 0 {
                continue;
            }
            let Cursor {
                positions,
                copied_headers,
                ..
            } = &mut *cursor;
            let position = &mut positions[(start + step) % owned];
            let Some(log) = log(position) else { continue };
            let log = lock(log);
            let at = position.next.max(log.base_offset);
            // Retention may have dropped records since they were counted; never more arrive
            // at the front.
            let first = usize::try_from(at - log.base_offset).unwrap_or(usize::MAX);
            if first >= log.records.len() {
                continue;
            }
            let records = log.records.range(first..).take(share);
            let mut run = Vec::with_capacity(records.len());
            run.extend(records.enumerate().map(|(i, stored)| RawRecord {
                offset: at + i as i64,
                key: stored.key.clone(),
                payload: stored.payload.clone(),
                headers: member_headers(copied_headers, &stored.headers),
            }));
            position.next = at + run.len() as i64;
            runs.push(RawRun {
                topic: Arc::clone(&position.topic),
                partition: position.partition,
                records: run,
            });
        }
        cursor.next = (start + 1) % owned;
        Ok((!runs.is_empty()).then_some(runs))
    }

    fn leave(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.group).leave(self.id, &self.broker.topics());
        self.broker.changed();
    }
}

#[async_trait]
impl RawConsumer for StandaloneConsumer {
    async fn recv(&self, max: usize) -> Result<Vec<RawRun>> {
        self.broker.inner.changes.until(|| self.poll(max)).await
    }

    fn ack(&self, topic: &str, partition: i32, offset: i64) {
        lock(&self.group).ack(self.id, topic, partition, offset);
    }

    async fn commit(&self) -> Result<()> {
        // Acknowledgements are committed as they happen.
        Ok(())
    }

    async fn close(&self) {
        self.leave();
    }
}

/// Splits `max` records over partitions with `waiting` records each: equal shares, and what a
/// partition does not need goes to the others (the earlier ones get the rounding).
fn fair_shares(waiting: &[usize], max: usize) -> Vec<usize> {
    let mut shares = vec![0; waiting.len()];
    let mut room = max;
    loop {
        let hungry = waiting.iter().zip(&shares).filter(|(w, s)| w > s).count();
        if hungry == 0 || room == 0 {
            return shares;
        }
        let share = room.div_ceil(hungry);
        for (w, s) in waiting.iter().zip(shares.iter_mut()) {
            let more = (w - *s).min(share).min(room);
            *s += more;
            room -= more;
        }
    }
}

impl Drop for StandaloneConsumer {
    fn drop(&mut self) {
        // A consumer dropped without close (a crash) leaves the group too; what it had not
        // acknowledged goes to the partition's next owner.
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::fair_shares;

    #[test]
    fn shares_are_fair_and_fill_the_room() {
        assert_eq!(fair_shares(&[], 256), Vec::<usize>::new());
        assert_eq!(fair_shares(&[0, 0], 256), [0, 0]);
        assert_eq!(fair_shares(&[1000, 1000, 1000], 256), [86, 86, 84]);
        assert_eq!(fair_shares(&[1, 1000, 3], 256), [1, 252, 3]);
        assert_eq!(fair_shares(&[10, 20], 256), [10, 20]);
        assert_eq!(fair_shares(&[5, 5, 5], 2), [1, 1, 0]);
    }
}
