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
            if !force && w.started && !w.jobs.iter().any(|j| changed.contains(&j.id)) {
                return true;
            }
            self.progress_of(w)
        });
        self.waiters = waiters;
    }

    /// `hq task notify` from a running execution: to the clients waiting for its job with
    /// notifications, in arrival order (not journaled). Stale ones (the execution ended or is
    /// not the task's current one) are dropped.
    pub fn on_notify(&mut self, n: TaskNotification) {
        let current = self.jobs.get(&n.job).is_some_and(|j| {
            j.index_of(n.task).is_some_and(|i| {
                let t = &j.tasks[i];
                t.status == TaskStatus::Running
                    && t.instance() == n.instance
                    && t.worker == n.worker
            })
        });
        if !current {
            return;
        }
        for w in self.waiters.iter().filter(|w| w.notifications) {
            if w.jobs.iter().any(|p| p.id == n.job) {
                self.outbox
                    .reply(&w.reply, ClientResponse::Notification(n.clone()));
            }
        }
    }

    /// Queues what a waiter should hear now; false once its wait is over.
    fn progress_of(&mut self, w: &mut Waiter) -> bool {
        for p in &mut w.jobs {
            if let Some(job) = self.jobs.get(&p.id) {
                p.stats = job.shown_stats();
                p.done = job.is_completed() || (w.without_close && job.tasks_done());
            } else {
                // Forgotten while waited for: done, with its last known counts.
                p.done = true;
            }
        }
        if w.jobs.iter().all(|p| p.done) {
            let done = ClientResponse::WaitDone {
                jobs: std::mem::take(&mut w.jobs),
                missing: std::mem::take(&mut w.missing),
            };
            self.outbox.reply(&w.reply, done);
            return false;
        }
        let due = w
            .last_sent_at
            .is_none_or(|t| self.now >= t + PROGRESS_EVERY_MS);
        if w.progress && due {
            let msg: Vec<JobProgress> = w
                .jobs
                .iter()
                .zip(&w.sent)
                .filter(|(p, sent)| !w.started || *p != *sent)
                .map(|(p, _)| *p)
                .collect();
            w.started = true;
            if !msg.is_empty() {
                w.sent.clone_from(&w.jobs);
                w.last_sent_at = Some(self.now);
                self.outbox
                    .reply(&w.reply, ClientResponse::Progress { jobs: msg });
            }
            return true;
        }
        w.started = true;
        true
    }
}
