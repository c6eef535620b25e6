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

    /// Queues what a waiter should hear now; false once its wait is over.
    fn progress_of(&mut self, w: &mut Waiter) -> bool {
        for p in &mut w.jobs {
            if let Some(job) = self.jobs.get(&p.id) {
                p.stats = job.stats;
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
