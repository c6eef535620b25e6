//! Tasks the server queued on this worker behind a running execution (see
//! `scheduler/queued.rs`): each starts in its predecessor's allocation when that one ends.
//! At most one task waits behind each execution (and so at most two behind a running one); a
//! removed task's successor moves up to its predecessor, so the allocation still passes along
//! the chain.
//!
//! Every `--retract-check-interval` the worker hands back (unasked `Retracted`) the queued
//! tasks whose time request no longer fits its remaining lifetime (`--time-limit`): the server
//! makes them ready again for a worker that lives long enough.

use super::WorkerLoop;
use crate::protocol::messages::{ExecutionKey, TaskAssignment};
use rustc_hash::FxHashMap;
use std::time::Duration;

#[derive(Default)]
pub struct TaskQueue {
    /// By predecessor: the task that starts when it ends.
    behind: FxHashMap<ExecutionKey, TaskAssignment>,
    /// By queued task: its predecessor.
    before: FxHashMap<ExecutionKey, ExecutionKey>,
}

fn key_of(a: &TaskAssignment) -> ExecutionKey {
    (a.job, a.task, a.instance)
}

impl TaskQueue {
    /// Whether `key` waits here.
    pub fn contains(&self, key: &ExecutionKey) -> bool {
        self.before.contains_key(key)
    }

    /// Queues `a` behind `after` (behind the end of the chain if a task waits there already,
    /// which the server does not do).
    pub fn hold(&mut self, after: ExecutionKey, a: TaskAssignment) {
        let mut pred = after;
        while let Some(next) = self.behind.get(&pred) {
            pred = key_of(next);
        }
        self.before.insert(key_of(&a), pred);
        self.behind.insert(pred, a);
    }

    /// The execution `ended` ended: the task queued behind it, which starts now.
    pub fn take_after(&mut self, ended: &ExecutionKey) -> Option<TaskAssignment> {
        let a = self.behind.remove(ended)?;
        self.before.remove(&key_of(&a));
        Some(a)
    }

    /// Removes a queued task (cancel, retraction); whatever waited behind it now waits behind
    /// its predecessor. Returns whether it was queued.
    pub fn remove(&mut self, key: &ExecutionKey) -> bool {
        let Some(pred) = self.before.remove(key) else {
            return false;
        };
        self.behind.remove(&pred);
        if let Some(next) = self.behind.remove(key) {
            self.before.insert(key_of(&next), pred);
            self.behind.insert(pred, next);
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.before.is_empty()
    }

    pub fn len(&self) -> usize {
        self.before.len()
    }

    /// Drops everything (the server is gone or the worker stops; the server requeues them).
    pub fn clear(&mut self) {
        self.behind.clear();
        self.before.clear();
    }

    /// Removes and returns the queued tasks for which `expired` holds.
    pub fn remove_where(&mut self, expired: impl Fn(&TaskAssignment) -> bool) -> Vec<ExecutionKey> {
        let mut keys: Vec<ExecutionKey> = self
            .behind
            .values()
            .filter(|a| expired(a))
            .map(key_of)
            .collect();
        keys.sort_unstable();
        for k in &keys {
            self.remove(k);
        }
        keys
    }
}

impl WorkerLoop {
    /// Whether finished tasks must be reported now rather than batched: when at most a
    /// quarter of the running tasks have a task queued behind them, the server has to send more
    /// before those slots run dry. (Without queued tasks, e.g. at a job's end, that is always.)
    pub(super) fn report_now(&self) -> bool {
        (self.queue.len() + self.handed) * 4 <= self.running.len().saturating_sub(self.handed)
    }

    /// Takes out the queued tasks whose time request exceeds what is left of the worker's
    /// lifetime; `None` if there are none.
    pub(super) fn expired_queued(&mut self) -> Option<Vec<ExecutionKey>> {
        let limit = self.opts.time_limit?;
        if self.queue.is_empty() && self.handed == 0 {
            return None;
        }
        let left = limit.saturating_sub(self.started.elapsed());
        let bodies = &self.bodies;
        let mut given = self.queue.remove_where(|a| {
            let request = bodies
                .get(&a.body)
                .and_then(|b| b.body.resources.variants.get(a.variant as usize));
            request.is_some_and(|r| Duration::from_secs(r.min_time_secs) > left)
        });
        let mut handed: Vec<ExecutionKey> = self
            .running
            .iter()
            .filter(|(_, r)| {
                let min_time = r.handed.as_ref().map_or(0, |h| h.min_time_secs);
                Duration::from_secs(min_time) > left
            })
            .map(|(k, _)| *k)
            .collect();
        handed.retain(|k| self.withdraw(k));
        given.append(&mut handed);
        given.sort_unstable();
        (!given.is_empty()).then_some(given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(t: u32) -> TaskAssignment {
        TaskAssignment {
            job: 1,
            task: t,
            instance: 0,
            body: (1, 0),
            entry: None,
            variant: 0,
            retries: 0,
            allocation: Default::default(),
            nodes: vec![],
            after: None,
        }
    }

    #[test]
    fn starts_behind_its_predecessor_and_removal_relinks() {
        let mut q = TaskQueue::default();
        q.hold((1, 1, 0), task(2));
        q.hold((1, 2, 0), task(3));
        assert!(q.contains(&(1, 2, 0)));
        // Removing 2 puts 3 behind 1.
        assert!(q.remove(&(1, 2, 0)));
        assert!(!q.remove(&(1, 2, 0)));
        assert_eq!(q.take_after(&(1, 1, 0)).map(|a| a.task), Some(3));
        assert!(q.is_empty());
        assert!(q.take_after(&(1, 1, 0)).is_none());
    }
}
