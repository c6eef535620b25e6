//! Tasks the server queued on this worker behind a running execution (see
//! `scheduler/queued.rs`): each starts in its predecessor's allocation when that one ends.
//! At most one task waits behind each execution; a removed task's successor moves up to its
//! predecessor, so the allocation still passes along the chain.

use crate::protocol::messages::{ExecutionKey, TaskAssignment};
use std::collections::HashMap;

#[derive(Default)]
pub struct TaskQueue {
    /// By predecessor: the task that starts when it ends.
    behind: HashMap<ExecutionKey, TaskAssignment>,
    /// By queued task: its predecessor.
    before: HashMap<ExecutionKey, ExecutionKey>,
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
