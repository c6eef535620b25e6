//! The server's state machine, owned by one actor task: jobs, workers, the scheduler, waiters.
//! Handlers here never block and never touch sockets; they queue messages in outboxes.

use super::state::Job;
use crate::protocol::messages::*;
use crate::scheduler::{Scheduler, TaskKey};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

/// A connected (or formerly connected) worker.
pub struct WorkerEntry {
    pub info: WorkerInfo,
    pub sender: Option<UnboundedSender<ToWorker>>,
    pub bodies_sent: HashSet<BodyKey>,
    pub last_heartbeat: Instant,
    /// Set when the worker told us why it leaves, so the disconnect gets that reason.
    pub leaving: Option<WorkerState>,
}

/// A client waiting for jobs to complete (`hq job wait`, `--progress`).
pub struct Waiter {
    pub jobs: Vec<JobId>,
    pub without_close: bool,
    pub progress: bool,
    pub sender: UnboundedSender<ClientResponse>,
    pub last_sent: Option<TaskStats>,
    pub last_sent_at: Option<Instant>,
    pub missing: Vec<JobId>,
}

pub struct ServerCore {
    pub jobs: BTreeMap<JobId, Job>,
    pub next_job_id: JobId,
    pub workers: BTreeMap<WorkerId, WorkerEntry>,
    pub next_worker_id: WorkerId,
    pub scheduler: Scheduler,
    pub waiters: Vec<Waiter>,
    /// Clients of `hq journal stream`, sent every recorded event.
    pub event_streams: Vec<UnboundedSender<ClientResponse>>,
    pub info: ServerInfo,
    pub idle_timeout_ms: Option<u64>,
    /// Jobs whose task counts changed since waiters were last checked.
    pub changed_jobs: HashSet<JobId>,
    /// Batches for workers, sent after each round of events.
    pub outbox: BTreeMap<WorkerId, (Vec<BodyMsg>, Vec<TaskAssignment>)>,
    pub cancels: BTreeMap<WorkerId, Vec<(JobId, TaskId, InstanceId)>>,
    pub needs_schedule: bool,
    pub stopping: bool,
    /// The event journal, when the server runs with `--journal`.
    pub journal: Option<crate::journal::JournalWriter<super::journal::JournalEvent>>,
    pub journal_dirty: bool,
    /// Applying a journal: record nothing, schedule nothing.
    pub replaying: bool,
    /// Allocation queues (`hq alloc`).
    pub autoalloc: super::autoalloc::AutoAllocService,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl ServerCore {
    pub fn new(info: ServerInfo, idle_timeout_ms: Option<u64>) -> Self {
        ServerCore {
            jobs: BTreeMap::new(),
            next_job_id: 1,
            workers: BTreeMap::new(),
            next_worker_id: 1,
            scheduler: Scheduler::new(),
            waiters: Vec::new(),
            event_streams: Vec::new(),

            info,
            idle_timeout_ms,
            changed_jobs: HashSet::new(),
            outbox: BTreeMap::new(),
            cancels: BTreeMap::new(),
            needs_schedule: false,
            stopping: false,
            journal: None,
            journal_dirty: false,
            replaying: false,
            autoalloc: super::autoalloc::AutoAllocService::new(),
        }
    }

    /// Resolves a selector against existing IDs; also returns the requested IDs that are unknown.
    pub fn select(
        ids: impl Iterator<Item = u32> + Clone,
        selector: &IdSelector,
    ) -> (Vec<u32>, Vec<u32>) {
        match selector {
            IdSelector::All => (ids.collect(), vec![]),
            IdSelector::Last => (ids.max().into_iter().collect(), vec![]),
            IdSelector::Ids(set) => {
                let existing: HashSet<u32> = ids.collect();
                set.iter().partition(|id| existing.contains(id))
            }
        }
    }

    /// Makes a task ready to run.
    pub fn enqueue(&mut self, job: JobId, task: TaskId) {
        if self.replaying {
            return;
        }
        if let Some(j) = self.jobs.get(&job) {
            if let Some(i) = j.index_of(task) {
                let g = &j.groups[j.tasks[i].group as usize];
                // A retried task may ask for more (`retry_growth`).
                let req = match g.body.resources_after(j.tasks[i].retries as u32) {
                    Some(grown) => self.scheduler.intern(&grown),
                    None => g.req,
                };
                self.scheduler
                    .add_ready(TaskKey { job, task }, req, g.body.priority);
                self.needs_schedule = true;
            }
        }
    }

    /// Runs a scheduling pass and queues the assignments for the workers.
    pub fn schedule(&mut self) {
        self.needs_schedule = false;
        if self.stopping {
            return;
        }
        let now = now_ms();
        for a in self.scheduler.schedule(now) {
            self.start_task(a, now);
        }
    }

    fn start_task(&mut self, a: crate::scheduler::Assignment, now: u64) {
        let Some(job) = self.jobs.get_mut(&a.key.job) else {
            return;
        };
        let Some(idx) = job.index_of(a.key.task) else {
            return;
        };
        job.set_status(idx, TaskStatus::Running);
        let task = &mut job.tasks[idx];
        let instance = task.next_instance;
        task.next_instance += 1;
        task.worker = a.workers[0];
        task.started_ms = now;
        let retries = task.retries as u32;
        let group_idx = task.group;
        if a.workers.len() > 1
            || job.groups[group_idx as usize]
                .body
                .resources
                .is_multi_node()
        {
            job.multi_node.insert(a.key.task, a.workers.clone());
        }
        self.changed_jobs.insert(a.key.job);
        if self.journal.is_some() {
            let event = super::journal::JournalEvent::TaskStarted {
                job: a.key.job,
                task: a.key.task,
                instance,
                workers: a.workers.clone(),
            };
            self.record(event);
        }
        let Some(job) = self.jobs.get(&a.key.job) else {
            return;
        };
        let group = &job.groups[group_idx as usize];
        let body_key = (a.key.job, group_idx);
        let root = a.workers[0];
        let nodes: Vec<String> = if group.body.resources.is_multi_node() {
            a.workers
                .iter()
                .filter_map(|w| {
                    self.workers
                        .get(w)
                        .map(|e| e.info.configuration.hostname.clone())
                })
                .collect()
        } else {
            vec![]
        };
        let assignment = TaskAssignment {
            job: a.key.job,
            task: a.key.task,
            instance,
            body: body_key,
            entry: group.entry_of(a.key.task),
            variant: a.variant,
            retries,
            allocation: a.allocation,
            nodes,
        };

        let Some(worker) = self.workers.get_mut(&root) else {
            return;
        };
        worker.info.last_task_started = Some((a.key.job, a.key.task, now));
        let slot = self.outbox.entry(root).or_default();
        if worker.bodies_sent.insert(body_key) {
            slot.0.push(BodyMsg {
                key: body_key,
                body: group.body.clone(),
                job_name: job.name.clone(),
                submit_dir: job.submit_dir.clone(),
                stream_dir: job.stream_dir.clone(),
            });
        }
        slot.1.push(assignment);
    }

    /// Sends queued batches to workers.
    pub fn flush_outbox(&mut self) {
        for (wid, cancels) in std::mem::take(&mut self.cancels) {
            if let Some(tx) = self.workers.get(&wid).and_then(|w| w.sender.as_ref()) {
                let _ = tx.send(ToWorker::Cancel(cancels));
            }
        }
        for (wid, (bodies, tasks)) in std::mem::take(&mut self.outbox) {
            if let Some(tx) = self.workers.get(&wid).and_then(|w| w.sender.as_ref()) {
                let _ = tx.send(ToWorker::Compute { bodies, tasks });
            }
        }
    }

    /// Asks the worker(s) running a task to stop it and frees its resources.
    pub fn stop_running(&mut self, job: JobId, task: TaskId) {
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        let Some(t) = j.index_of(task).map(|i| &j.tasks[i]) else {
            return;
        };
        let (worker, instance) = (t.worker, t.instance());
        j.multi_node.remove(&task);
        self.scheduler.task_done(TaskKey { job, task });
        self.cancels
            .entry(worker)
            .or_default()
            .push((job, task, instance));
        self.needs_schedule = true;
    }

    /// Sends progress to waiting clients and completes waits whose jobs are done.
    pub fn notify_waiters(&mut self, force: bool) {
        if self.waiters.is_empty() {
            self.changed_jobs.clear();
            return;
        }
        if self.changed_jobs.is_empty() && !force {
            return;
        }
        let changed = std::mem::take(&mut self.changed_jobs);
        let jobs = &self.jobs;
        self.waiters.retain_mut(|w| {
            if !force && !w.jobs.iter().any(|j| changed.contains(j)) && w.last_sent.is_some() {
                return true;
            }
            let mut stats = TaskStats::default();
            let mut completed = 0;
            for j in &w.jobs {
                if let Some(job) = jobs.get(j) {
                    add_stats(&mut stats, &job.stats);
                    if job.is_completed() || (w.without_close && job.tasks_done()) {
                        completed += 1;
                    }
                } else {
                    completed += 1;
                }
            }
            if completed == w.jobs.len() {
                let _ = w.sender.send(ClientResponse::WaitDone {
                    stats,
                    missing: std::mem::take(&mut w.missing),
                });
                return false;
            }
            let due = w
                .last_sent_at
                .is_none_or(|t| t.elapsed().as_millis() >= 100);
            if w.progress && w.last_sent != Some(stats) && due {
                w.last_sent = Some(stats);
                w.last_sent_at = Some(Instant::now());
                let msg = ClientResponse::Progress {
                    jobs: w.jobs.len() as u32,
                    completed_jobs: completed as u32,
                    stats,
                };
                return w.sender.send(msg).is_ok();
            }
            w.last_sent.get_or_insert(stats);
            !w.sender.is_closed()
        });
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
