//! The seams between the core's state changes and everything else.
//!
//! - [`Effect`]: what an applied event means for runtime state (the scheduler's queues and
//!   placements, messages to workers). `apply` only pushes effects; [`ServerCore::run_effects`]
//!   runs them right after each live event, and replay drops them (the scheduler is rebuilt
//!   from the restored tasks instead).
//! - [`Outbox`]: messages that leave the core (to workers, to clients). The core never sends;
//!   the actor drains the outbox after each round of events and journal flush.

use super::core::ServerCore;
use crate::protocol::messages::*;
use crate::scheduler::TaskKey;
use std::collections::{BTreeMap, HashSet};
use tokio::sync::mpsc::UnboundedSender;

/// Where a client's responses go (a channel to its connection task; no socket).
pub type Reply = UnboundedSender<ClientResponse>;

/// A consequence of an applied event for runtime state, in the order it arose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A task is waiting with no unfinished dependency: queue it in the scheduler.
    Ready(TaskKey),
    /// As `Ready`, for a task whose assigned execution never started (retracted, or its worker
    /// was lost first): it goes back to its place in ID order, not to the end.
    Returned(TaskKey),
    /// The tasks of a job with IDs `first..=last` (those the job has) are ready, as `Ready`
    /// for each: one effect for a whole array.
    ReadyRange {
        job: JobId,
        first: TaskId,
        last: TaskId,
    },
    /// A task that was queued left the waiting state without being started by the scheduler
    /// (aborted, a late result of a restored server).
    Unready(TaskKey),
    /// Every queued task of the job leaves the scheduler (cancel, max-fails).
    DropJob(JobId),
    /// A running task ended: its resources return to its worker(s).
    Release(TaskKey),
    /// The root worker of a running execution must kill it (cancel, abort, lost node).
    Stop {
        worker: WorkerId,
        key: TaskKey,
        instance: InstanceId,
    },
    /// A worker is gone: the scheduler forgets it and frees the other nodes of its tasks.
    WorkerGone(WorkerId),
    /// The worker must stop (`hq worker stop`).
    StopWorker(WorkerId),
    /// A closed job has nothing left to run: workers may forget its bodies.
    JobCompleted(JobId),
}

/// Messages leaving the core, batched per worker within one round.
#[derive(Default)]
pub struct Outbox {
    /// Per worker, in this order: control messages (registration, forget), cancels,
    /// retractions, one compute batch, stop.
    workers: BTreeMap<WorkerId, WorkerBatch>,
    /// Client responses, sent after the round's journal flush.
    pub replies: Vec<(Reply, ClientResponse)>,
}

#[derive(Default)]
struct WorkerBatch {
    control: Vec<ToWorker>,
    cancels: Vec<ExecutionKey>,
    retracts: Vec<ExecutionKey>,
    bodies: Vec<BodyMsg>,
    tasks: Vec<TaskAssignment>,
    stop: bool,
}

impl Outbox {
    pub fn control(&mut self, worker: WorkerId, msg: ToWorker) {
        self.workers.entry(worker).or_default().control.push(msg);
    }

    pub fn cancel(&mut self, worker: WorkerId, key: TaskKey, instance: InstanceId) {
        let batch = self.workers.entry(worker).or_default();
        batch.cancels.push((key.job, key.task, instance));
    }

    pub fn retract(&mut self, worker: WorkerId, key: TaskKey, instance: InstanceId) {
        let batch = self.workers.entry(worker).or_default();
        batch.retracts.push((key.job, key.task, instance));
    }

    pub fn compute(&mut self, worker: WorkerId, body: Option<BodyMsg>, task: TaskAssignment) {
        let batch = self.workers.entry(worker).or_default();
        batch.bodies.extend(body);
        batch.tasks.push(task);
    }

    pub fn stop(&mut self, worker: WorkerId) {
        self.workers.entry(worker).or_default().stop = true;
    }

    pub fn reply(&mut self, to: &Reply, response: ClientResponse) {
        self.replies.push((to.clone(), response));
    }

    /// Takes the queued worker messages in sending order.
    pub fn take_worker_messages(&mut self) -> Vec<(WorkerId, ToWorker)> {
        let mut out = Vec::new();
        for (id, b) in std::mem::take(&mut self.workers) {
            out.extend(b.control.into_iter().map(|m| (id, m)));
            if !b.cancels.is_empty() {
                out.push((id, ToWorker::Cancel(b.cancels)));
            }
            if !b.retracts.is_empty() {
                out.push((id, ToWorker::Retract(b.retracts)));
            }
            if !b.tasks.is_empty() || !b.bodies.is_empty() {
                let msg = ToWorker::Compute {
                    bodies: b.bodies,
                    tasks: b.tasks,
                };
                out.push((id, msg));
            }
            if b.stop {
                out.push((id, ToWorker::Stop));
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.workers.is_empty() && self.replies.is_empty()
    }
}

impl ServerCore {
    /// Runs the effects of the events applied so far against the scheduler and the outbox.
    pub fn run_effects(&mut self) {
        let mut effects = std::mem::take(&mut self.effects);
        let mut unready: Option<(JobId, HashSet<TaskId>)> = None;
        for effect in effects.drain(..) {
            if let Effect::Unready(key) = effect {
                match &mut unready {
                    Some((job, set)) if *job == key.job => {
                        set.insert(key.task);
                    }
                    _ => {
                        self.flush_unready(unready.take());
                        unready = Some((key.job, [key.task].into_iter().collect()));
                    }
                }
                continue;
            }
            self.flush_unready(unready.take());
            self.run_effect(effect);
        }
        self.flush_unready(unready);
        // Keep the buffer: most live events push an effect or two.
        if self.effects.is_empty() {
            self.effects = effects;
        }
    }

    fn flush_unready(&mut self, batch: Option<(JobId, HashSet<TaskId>)>) {
        if let Some((job, tasks)) = batch {
            self.scheduler.remove_ready(job, &tasks);
        }
    }

    fn run_effect(&mut self, effect: Effect) {
        match effect {
            Effect::Ready(key) => self.enqueue(key, false),
            Effect::Returned(key) => self.enqueue(key, true),
            Effect::ReadyRange { job, first, last } => self.enqueue_range(job, first, last),
            Effect::Unready(_) => {}
            Effect::DropJob(job) => {
                self.scheduler.remove_job(job);
            }
            // A task queued on a worker leaves the scheduler the same way.
            Effect::Release(key) => {
                self.scheduler.task_done(key);
                self.needs_schedule = true;
            }
            Effect::Stop {
                worker,
                key,
                instance,
            } => {
                if self.is_connected(worker) {
                    self.outbox.cancel(worker, key, instance);
                }
            }
            Effect::WorkerGone(id) => {
                self.scheduler.remove_worker(id);
                self.needs_schedule = true;
            }
            Effect::StopWorker(id) => self.outbox.stop(id),
            Effect::JobCompleted(job) => {
                for (id, w) in self.workers.iter_mut() {
                    if w.bodies_sent.iter().any(|k| k.0 == job) {
                        w.bodies_sent.retain(|k| k.0 != job);
                        if w.connected {
                            self.outbox.control(*id, ToWorker::ForgetJob(job));
                        }
                    }
                }
            }
        }
    }

    /// Queues the ready tasks of a job with IDs in `first..=last`: one run of the scheduler's
    /// queue per stretch of consecutive new tasks of one group, the general path for others.
    fn enqueue_range(&mut self, job_id: JobId, first: TaskId, last: TaskId) {
        let Some(job) = self.jobs.get(&job_id) else {
            return;
        };
        let from = job.tasks.partition_point(|t| t.id < first);
        let to = job.tasks.partition_point(|t| t.id <= last);
        let mut others = Vec::new();
        let mut run: Option<(TaskId, TaskId, u32)> = None;
        let mut flush = |run: Option<(TaskId, TaskId, u32)>| {
            if let Some((s, e, g)) = run {
                let group = &job.groups[g as usize];
                let priority = group.body.priority;
                self.scheduler
                    .add_ready_range(job_id, s, e, group.req, priority);
            }
        };
        for t in &job.tasks[from..to] {
            let fresh = t.status == TaskStatus::Waiting && t.unfinished_deps == 0 && t.retries == 0;
            match &mut run {
                Some((_, end, g)) if fresh && *g == t.group && *end + 1 == t.id => *end = t.id,
                _ => {
                    flush(run.take());
                    match fresh {
                        true => run = Some((t.id, t.id, t.group)),
                        false => others.push(t.id),
                    }
                }
            }
        }
        flush(run);
        for task in others {
            self.enqueue(TaskKey { job: job_id, task }, false);
        }
        self.needs_schedule = true;
    }

    /// Queues a waiting task in the scheduler (with its grown request after retries); `in_order`:
    /// at its place by ID rather than at the end.
    fn enqueue(&mut self, key: TaskKey, in_order: bool) {
        let Some(job) = self.jobs.get(&key.job) else {
            return;
        };
        let Some(task) = job.index_of(key.task).map(|i| &job.tasks[i]) else {
            return;
        };
        if task.status != TaskStatus::Waiting || task.unfinished_deps > 0 {
            return;
        }
        let group = &job.groups[task.group as usize];
        let (priority, mut req) = (group.body.priority, group.req);
        // A retried task may ask for more (`retry_growth`).
        if let Some(grown) = group.body.resources_after(task.retries as u32) {
            req = self.scheduler.intern(&grown);
        }
        match in_order {
            true => self.scheduler.return_ready(key, req, priority),
            false => self.scheduler.add_ready(key, req, priority),
        }
        self.needs_schedule = true;
    }
}
