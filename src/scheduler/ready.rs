//! One ready queue: task IDs in order, stored as runs of consecutive IDs, so a queue of a
//! million-task array is one range, not a million entries.

use crate::protocol::messages::TaskId;
use std::collections::{HashSet, VecDeque};

#[derive(Default, Debug)]
pub struct ReadyQueue {
    /// Inclusive runs, in queue order.
    runs: VecDeque<(TaskId, TaskId)>,
    len: usize,
}

impl ReadyQueue {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `first..=last`.
    pub fn push_range(&mut self, first: TaskId, last: TaskId) {
        debug_assert!(first <= last);
        self.len += (last - first) as usize + 1;
        match self.runs.back_mut() {
            Some((_, end)) if end.checked_add(1) == Some(first) => *end = last,
            _ => self.runs.push_back((first, last)),
        }
    }

    pub fn push_back(&mut self, task: TaskId) {
        self.push_range(task, task);
    }

    /// Puts a task before the first run that starts above it (its place by ID in a queue in ID
    /// order), joining neighbouring runs.
    pub fn insert_in_order(&mut self, task: TaskId) {
        self.len += 1;
        let pos = self.runs.partition_point(|&(start, _)| start < task);
        let joins_prev = pos > 0 && self.runs[pos - 1].1.checked_add(1) == Some(task);
        let joins_next = pos < self.runs.len() && task.checked_add(1) == Some(self.runs[pos].0);
        match (joins_prev, joins_next) {
            (true, true) => {
                let end = self.runs[pos].1;
                self.runs[pos - 1].1 = end;
                self.runs.remove(pos);
            }
            (true, false) => self.runs[pos - 1].1 = task,
            (false, true) => self.runs[pos].0 = task,
            (false, false) => self.runs.insert(pos, (task, task)),
        }
    }

    pub fn front(&self) -> Option<TaskId> {
        self.runs.front().map(|r| r.0)
    }

    pub fn pop_front(&mut self) -> Option<TaskId> {
        let (start, end) = self.runs.front_mut()?;
        let task = *start;
        if start == end {
            self.runs.pop_front();
        } else {
            *start += 1;
        }
        self.len -= 1;
        Some(task)
    }

    /// Drops the given tasks; returns how many were queued.
    pub fn remove(&mut self, tasks: &HashSet<TaskId>) -> usize {
        let before = self.len;
        let mut kept = ReadyQueue::default();
        for (s, e) in std::mem::take(&mut self.runs) {
            for t in s..=e {
                if !tasks.contains(&t) {
                    kept.push_back(t);
                }
            }
        }
        *self = kept;
        before - self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_and_split() {
        let mut q = ReadyQueue::default();
        q.push_range(1, 1_000_000);
        q.push_back(1_000_001);
        q.push_back(2_000_000);
        assert_eq!((q.len(), q.runs.len()), (1_000_002, 2));
        assert_eq!(q.pop_front(), Some(1));
        q.insert_in_order(1);
        q.insert_in_order(0);
        assert_eq!(q.runs.len(), 2);
        // Given back in order behind a queue that moved on: each goes to its place.
        let mut tail = ReadyQueue::default();
        tail.push_range(9, 20);
        for t in [5, 6, 8, 7] {
            tail.insert_in_order(t);
        }
        assert_eq!((tail.runs.len(), tail.front()), (1, Some(5)));
        let removed = q.remove(&[0, 5, 2_000_000].into_iter().collect());
        assert_eq!(removed, 3);
        assert_eq!(q.len(), 1_000_000);
        let taken: Vec<_> = std::iter::from_fn(|| q.pop_front()).take(5).collect();
        assert_eq!(taken, vec![1, 2, 3, 4, 6]);
    }
}
