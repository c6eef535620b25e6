//! Clients waiting for jobs (`hq job wait`, `hq job progress`, `submit --wait`): progress at most
//! ten times a second, and the final answer once every selected job is completed.

use super::core::{ServerCore, Waiter};
use crate::protocol::messages::*;

/// Least time between two progress messages to one client.
const PROGRESS_EVERY_MS: u64 = 100;

impl ServerCore {
    /// Queues progress for waiting clients and completes waits whose jobs are done.
    pub fn notify_waiters(&mut self, force: bool) {
        if self.waiters.is_empty() {
            self.changed_jobs.clear();
            return;
        }
        if self.changed_jobs.is_empty() && !force {
            return;
        }
        let changed = std::mem::take(&mut self.changed_jobs);
        let mut waiters = std::mem::take(&mut self.waiters);
        waiters.retain_mut(|w| {
            if w.reply.is_closed() {
                return false;
            }
            if !force && !w.jobs.iter().any(|j| changed.contains(j)) && w.last_sent.is_some() {
                return true;
            }
            self.progress_of(w)
        });
        self.waiters = waiters;
    }

    /// Sends what a waiter should hear now; false once its wait is over.
    fn progress_of(&mut self, w: &mut Waiter) -> bool {
        let mut stats = TaskStats::default();
        let mut completed = 0;
        for j in &w.jobs {
            match self.jobs.get(j) {
                Some(job) => {
                    add_stats(&mut stats, &job.stats);
                    if job.is_completed() || (w.without_close && job.tasks_done()) {
                        completed += 1;
                    }
                }
                None => completed += 1,
            }
        }
        if completed == w.jobs.len() {
            let missing = std::mem::take(&mut w.missing);
            self.outbox
                .reply(&w.reply, ClientResponse::WaitDone { stats, missing });
            return false;
        }
        let due = w
            .last_sent_at
            .is_none_or(|t| self.now >= t + PROGRESS_EVERY_MS);
        if w.progress && w.last_sent != Some(stats) && due {
            w.last_sent = Some(stats);
            w.last_sent_at = Some(self.now);
            let msg = ClientResponse::Progress {
                jobs: w.jobs.len() as u32,
                completed_jobs: completed as u32,
                stats,
            };
            self.outbox.reply(&w.reply, msg);
            return true;
        }
        w.last_sent.get_or_insert(stats);
        true
    }
}

pub fn add_stats(acc: &mut TaskStats, s: &TaskStats) {
    acc.waiting += s.waiting;
    acc.running += s.running;
    acc.finished += s.finished;
    acc.failed += s.failed;
    acc.canceled += s.canceled;
    acc.aborted += s.aborted;
}
