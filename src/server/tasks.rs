//! Task outcomes on the server: results from workers, retries, dependents, max-fails, cancel,
//! and what happens to running tasks when their worker goes away.

use super::core::{now_ms, ServerCore};
use super::journal::JournalEvent;
use crate::protocol::messages::*;
use crate::scheduler::TaskKey;
use std::collections::HashSet;

impl ServerCore {
    /// Applies a batch of results from a worker.
    pub fn on_results(&mut self, results: Vec<TaskResult>) {
        for r in results {
            self.on_result(r);
        }
    }

    fn on_result(&mut self, r: TaskResult) {
        let Some(job) = self.jobs.get_mut(&r.job) else {
            return;
        };
        let Some(idx) = job.index_of(r.task) else {
            return;
        };
        let t = &job.tasks[idx];
        // A result of the last execution that a restored server put back to waiting (the
        // worker finished it while the server was away): accept it instead of running again.
        let late = t.status == TaskStatus::Waiting
            && t.next_instance > 0
            && t.instance() == r.instance
            && r.outcome != TaskOutcome::Stopped;
        if late {
            job.set_status(idx, TaskStatus::Running);
            let task: HashSet<TaskId> = [r.task].into_iter().collect();
            self.scheduler.remove_ready(r.job, &task);
        } else if t.status != TaskStatus::Running || t.instance() != r.instance {
            return; // stale: canceled, or an older instance
        }
        let Some(job) = self.jobs.get_mut(&r.job) else {
            return;
        };

        self.scheduler.task_done(TaskKey {
            job: r.job,
            task: r.task,
        });
        job.multi_node.remove(&r.task);
        self.needs_schedule = true;
        self.changed_jobs.insert(r.job);
        let now = now_ms();
        match r.outcome {
            TaskOutcome::Finished => {
                self.record(JournalEvent::TaskFinished {
                    job: r.job,
                    task: r.task,
                });
                let Some(job) = self.jobs.get_mut(&r.job) else {
                    return;
                };
                job.set_status(idx, TaskStatus::Finished);
                job.tasks[idx].finished_ms = now;
                for ready in job.release_dependents(r.task) {
                    self.enqueue(r.job, ready);
                }
            }
            TaskOutcome::Failed(error) => {
                let max_retries = job.groups[job.tasks[idx].group as usize].body.max_retries;
                if (job.tasks[idx].retries as u32) < max_retries {
                    self.record(JournalEvent::TaskRetried {
                        job: r.job,
                        task: r.task,
                        error: error.clone(),
                    });
                    let Some(job) = self.jobs.get_mut(&r.job) else {
                        return;
                    };
                    job.tasks[idx].retries += 1;
                    job.set_status(idx, TaskStatus::Waiting);
                    job.errors.insert(r.task, error);
                    self.enqueue(r.job, r.task);
                } else {
                    self.fail_task(r.job, idx, error, now);
                }
            }
            TaskOutcome::Stopped => {
                // The worker stopped it without being asked to (e.g. it is shutting down).
                job.set_status(idx, TaskStatus::Waiting);
                self.enqueue(r.job, r.task);
            }
        }
        self.check_job_completed(r.job);
    }

    /// Marks a task failed, aborts its dependents and applies `--max-fails`.
    pub fn fail_task(&mut self, job_id: JobId, idx: usize, error: String, now: u64) {
        let Some(task_id) = self.jobs.get(&job_id).map(|j| j.tasks[idx].id) else {
            return;
        };
        self.record(JournalEvent::TaskFailed {
            job: job_id,
            task: task_id,
            error: error.clone(),
        });
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        job.set_status(idx, TaskStatus::Failed);

        job.tasks[idx].finished_ms = now;
        job.errors.insert(task_id, error);
        let aborted: HashSet<TaskId> = job.abort_with_dependents(task_id).into_iter().collect();
        if !aborted.is_empty() {
            self.scheduler.remove_ready(job_id, &aborted);
        }
        let over = job.max_fails.is_some_and(|m| job.stats.failed > m);
        if over {
            self.abort_job(job_id, TaskStatus::Aborted);
        }
        self.changed_jobs.insert(job_id);
    }

    /// Moves every waiting or running task of a job to `status` (Canceled or Aborted).
    /// Returns (changed, already completed).
    pub fn abort_job(&mut self, job_id: JobId, status: TaskStatus) -> (u32, u32) {
        self.scheduler.remove_job(job_id);
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return (0, 0);
        };
        let now = now_ms();
        let mut running = Vec::new();
        let mut changed = 0;
        for idx in 0..job.tasks.len() {
            match job.tasks[idx].status {
                TaskStatus::Waiting => {}
                TaskStatus::Running => running.push(job.tasks[idx].id),
                _ => continue,
            }
            job.set_status(idx, status);
            job.tasks[idx].finished_ms = now;
            changed += 1;
        }
        let completed = job.tasks.len() as u32 - changed;
        for task in running {
            self.stop_running(job_id, task);
        }
        self.changed_jobs.insert(job_id);
        self.check_job_completed(job_id);
        (changed, completed)
    }

    /// Records the completion time once a closed job has nothing left to run.
    pub fn check_job_completed(&mut self, job_id: JobId) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if job.completed_at.is_none() && job.is_completed() {
            job.completed_at = Some(now_ms());
            for w in self.workers.values_mut() {
                if w.bodies_sent.iter().any(|k| k.0 == job_id) {
                    w.bodies_sent.retain(|k| k.0 != job_id);
                    if let Some(tx) = &w.sender {
                        let _ = tx.send(ToWorker::ForgetJob(job_id));
                    }
                }
            }
        }
    }

    /// A worker is gone: requeue its tasks (counting a crash only when `counts_crash`).
    pub fn on_worker_lost(&mut self, worker_id: WorkerId, reason: WorkerState) {
        let Some(worker) = self.workers.get_mut(&worker_id) else {
            return;
        };
        if worker.sender.is_none() {
            return;
        }
        worker.sender = None;
        worker.info.state = reason;
        worker.info.ended_at = Some(now_ms());
        let allocation = worker.info.configuration.allocation.clone();
        self.record(JournalEvent::WorkerLost {
            id: worker_id,
            reason,
        });
        let counts_crash = matches!(
            reason,
            WorkerState::ConnectionLost | WorkerState::HeartbeatLost
        );
        let lost = self.scheduler.remove_worker(worker_id);
        log::info!("Worker {worker_id} lost: {}", worker_state_reason(reason));
        let now = now_ms();
        self.autoalloc
            .worker_lost(worker_id, allocation.as_ref(), reason, now);
        for key in lost {
            self.requeue_lost(key, counts_crash, now);
        }
        self.needs_schedule = true;
    }

    fn requeue_lost(&mut self, key: TaskKey, counts_crash: bool, now: u64) {
        let Some(job) = self.jobs.get_mut(&key.job) else {
            return;
        };
        let Some(idx) = job.index_of(key.task) else {
            return;
        };
        if job.tasks[idx].status != TaskStatus::Running {
            return;
        }
        // A multi-node task is restarted when any of its nodes is lost; its root is told to stop.
        job.multi_node.remove(&key.task);
        self.cancels
            .entry(job.tasks[idx].worker)
            .or_default()
            .push((key.job, key.task, job.tasks[idx].instance()));
        let limit = job.groups[job.tasks[idx].group as usize].body.crash_limit;
        self.changed_jobs.insert(key.job);
        if counts_crash {
            job.tasks[idx].crash_count += 1;
            let count = job.tasks[idx].crash_count as u32;
            let error = match limit {
                CrashLimit::NeverRestart => {
                    Some("Task was running on a lost worker while never restart flag was set.".to_string())
                }
                CrashLimit::Limit(n) if count >= n => Some(format!(
                    "Task was running on a worker that was lost; the task has occurred {count} times in this situation and limit was reached."
                )),
                _ => None,
            };
            if let Some(error) = error {
                self.fail_task(key.job, idx, error, now);
                self.check_job_completed(key.job);
                return;
            }
        }
        job.set_status(idx, TaskStatus::Waiting);
        let event = if counts_crash {
            JournalEvent::TaskCrashed {
                job: key.job,
                task: key.task,
            }
        } else {
            JournalEvent::TaskRequeued {
                job: key.job,
                task: key.task,
            }
        };
        self.record(event);
        self.enqueue(key.job, key.task);
    }
}

pub fn worker_state_reason(state: WorkerState) -> &'static str {
    match state {
        WorkerState::Running => "running",
        WorkerState::ConnectionLost => "connection lost",
        WorkerState::HeartbeatLost => "heartbeat lost",
        WorkerState::IdleTimeout => "idle timeout",
        WorkerState::Stopped => "stopped",
        WorkerState::TimeLimitReached => "time limit reached",
    }
}
