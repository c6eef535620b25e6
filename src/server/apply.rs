//! The one state-transition function: [`ServerCore::apply`] changes the journaled state for one
//! recorded event. Live handlers build the event and pass it through [`ServerCore::commit`]
//! (journal, then apply, then effects); journal replay calls `apply` directly. So a restored
//! server is in exactly the state the live one was in.
//!
//! Decisions that depend only on the state (the crash limit, `--max-fails`, dependents to
//! abort, completion) are taken here, never in the handlers; decisions that depend on the
//! outside world (which worker, what outcome, retry or fail) travel in the event.
//! Runtime consequences are pushed as [`Effect`]s.

use super::core::ServerCore;
use super::journal::JournalEvent;
use super::outbox::Effect;
use super::state::{Job, Stamp};
use crate::common::placeholders;
use crate::protocol::messages::*;
use crate::scheduler::TaskKey;

impl ServerCore {
    /// Applies one event at `time` (ms since the Unix epoch, the event's journal time).
    pub fn apply(&mut self, time: u64, event: JournalEvent) {
        match event {
            JournalEvent::ServerStart { server_uid } => self.info.server_uid = server_uid,
            JournalEvent::ServerStop => {}
            JournalEvent::Counters {
                next_job,
                next_worker,
            } => {
                self.next_job_id = self.next_job_id.max(next_job);
                self.next_worker_id = self.next_worker_id.max(next_worker);
            }
            JournalEvent::WorkerConnected { id, .. } => {
                self.next_worker_id = self.next_worker_id.max(id.saturating_add(1));
            }
            JournalEvent::WorkerLost { id, reason } => self.apply_worker_lost(time, id, reason),
            JournalEvent::WorkerOverview { id, hw_state } => {
                self.apply_overview(id, hw_state.state)
            }
            JournalEvent::JobOpen {
                job_id,
                name,
                max_fails,
            } => {
                let job = Job::new(job_id, name, max_fails, true, time);
                self.jobs.insert(job_id, job);
                self.next_job_id = self.next_job_id.max(job_id.saturating_add(1));
            }
            JournalEvent::JobCreated {
                job,
                name,
                max_fails,
                submit,
            } => self.apply_submit(time, job, name, max_fails, *submit),
            JournalEvent::JobClose { job_id } => {
                if let Some(job) = self.jobs.get_mut(&job_id) {
                    job.is_open = false;
                    self.changed_jobs.insert(job_id);
                }
                self.check_job_completed(time, job_id);
            }
            JournalEvent::JobCancel { job_id, reason } => {
                // Journals of older builds have no `TaskCanceled` before it: cancel what is left.
                self.abort_job(time, job_id, None, TaskStatus::Canceled);
                if let (Some(job), Some(r)) = (self.jobs.get_mut(&job_id), reason) {
                    if job.stats.canceled > 0 {
                        job.cancel_reason = Some(r);
                    }
                }
            }
            JournalEvent::TaskCanceled { job, tasks } => {
                // Every live task (a whole-job cancel) takes the cheaper whole-job path.
                let all = self.jobs.get(&job).is_some_and(|j| {
                    let live = j.stats.waiting + j.stats.running;
                    let selected = j.tasks_in(Some(&tasks)).filter(|t| !t.status.is_terminal());
                    selected.count() as u32 == live
                });
                let selected = (!all).then_some(&tasks);
                self.abort_job(time, job, selected, TaskStatus::Canceled);
            }
            JournalEvent::JobForgotten { job_id } => {
                self.jobs.remove(&job_id);
            }
            JournalEvent::TaskAssigned {
                job,
                task,
                instance,
                workers,
            } => self.apply_assigned(job, task, instance, workers),
            JournalEvent::TaskStarted {
                job,
                task,
                instance,
                ..
            } => {
                if let Some(idx) = self.running_task(job, task) {
                    let j = self.jobs.get_mut(&job).expect("running task has a job");
                    if j.tasks[idx].instance() == instance {
                        j.mark_started(idx, time);
                        self.changed_jobs.insert(job);
                    }
                }
            }
            JournalEvent::TaskFinished { job, task } => self.apply_finished(time, job, task),
            JournalEvent::TaskFailed { job, task, error } => {
                if let Some(idx) = self.live_task(job, task) {
                    self.fail_task(time, job, idx, error, false);
                }
            }
            JournalEvent::TaskRetried { job, task, error } => {
                if let Some(idx) = self.live_task(job, task) {
                    let j = self.jobs.get_mut(&job).expect("live task has a job");
                    j.tasks[idx].retries = j.tasks[idx].retries.saturating_add(1);
                    j.errors.insert(task, error);
                    transition(j, idx, TaskStatus::Waiting, false, &mut self.effects);
                    self.changed_jobs.insert(job);
                }
            }
            JournalEvent::TaskCrashed { job, task } => self.apply_crashed(time, job, task),
            JournalEvent::Autoalloc(e) => self.autoalloc.state.apply(time, &e),
            JournalEvent::TaskRequeued { job, task } => self.apply_requeued(time, job, task),
            JournalEvent::TaskRetracted { job, task } => self.apply_retracted(job, task),
        }
    }

    /// Index of a task that is waiting or running (a result may arrive for either: a restored
    /// server put a task back to waiting that its worker finished meanwhile).
    fn live_task(&self, job: JobId, task: TaskId) -> Option<usize> {
        let j = self.jobs.get(&job)?;
        let idx = j.index_of(task)?;
        (!j.tasks[idx].status.is_terminal()).then_some(idx)
    }

    fn running_task(&self, job: JobId, task: TaskId) -> Option<usize> {
        let j = self.jobs.get(&job)?;
        let idx = j.index_of(task)?;
        (j.tasks[idx].status == TaskStatus::Running).then_some(idx)
    }

    fn apply_worker_lost(&mut self, time: u64, id: WorkerId, reason: WorkerState) {
        self.next_worker_id = self.next_worker_id.max(id.saturating_add(1));
        let Some(w) = self.workers.get_mut(&id).filter(|w| w.connected) else {
            return;
        };
        w.connected = false;
        w.info.state = reason;
        w.info.ended_at = Some(time);
        self.effects.push(Effect::WorkerGone(id));
        if reason == WorkerState::Stopped {
            self.effects.push(Effect::StopWorker(id));
        }
    }

    fn apply_submit(
        &mut self,
        time: u64,
        job_id: JobId,
        name: String,
        max_fails: Option<u32>,
        mut submit: SubmitRequest,
    ) {
        let mut job = match &submit.target {
            JobTarget::New { .. } => Job::new(job_id, name, max_fails, false, time),
            JobTarget::Existing(id) => match self.jobs.remove(id) {
                Some(job) => job,
                None => {
                    log::warn!("journal: a submission to job {id}, which does not exist");
                    return;
                }
            },
        };
        if job.submit_dir.is_empty() {
            job.submit_dir = submit.submit_dir.clone();
        }
        resolve_placeholders(&mut submit, &job, &self.info.server_uid);
        if let Some(stream) = submit.stream_dir.take() {
            job.stream_dir = Some(stream);
        }
        let groups: Vec<_> = submit
            .groups
            .into_iter()
            .map(|g| {
                let req = self.scheduler.intern(&g.body.resources);
                (g, req)
            })
            .collect();
        let ready = job.add_groups(groups);
        self.next_job_id = self.next_job_id.max(job_id.saturating_add(1));
        self.jobs.insert(job_id, job);
        for (first, last) in ready {
            self.effects.push(Effect::ReadyRange {
                job: job_id,
                first,
                last,
            });
        }
        self.changed_jobs.insert(job_id);
        self.check_job_completed(time, job_id);
    }

    fn apply_assigned(
        &mut self,
        job_id: JobId,
        task: TaskId,
        instance: InstanceId,
        workers: crate::scheduler::Workers,
    ) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        let Some(idx) = job.index_of(task) else {
            return;
        };
        if job.tasks[idx].status != TaskStatus::Waiting {
            return;
        }
        // The scheduler took the task from its queue itself: no `Unready`.
        job.assign(idx, instance, workers.first().copied().unwrap_or(0));
        let group = job.tasks[idx].group as usize;
        if workers.len() > 1 || job.groups[group].body.resources.is_multi_node() {
            job.multi_node.insert(task, workers.into_vec());
        }
        self.changed_jobs.insert(job_id);
    }

    /// The execution ended without a result of its own (its worker stopped or went away
    /// without a crash): the task waits again, except that a `never-restart` task fails, as on
    /// any loss of its worker. (An execution whose start was not reported yet counts too: the
    /// worker may have started it before the report arrived.)
    fn apply_requeued(&mut self, time: u64, job_id: JobId, task: TaskId) {
        let Some(idx) = self.running_task(job_id, task) else {
            return;
        };
        let job = self.jobs.get_mut(&job_id).expect("running task has a job");
        let t = &job.tasks[idx];
        let multi = job.multi_node.contains_key(&task);
        let never = job.groups[t.group as usize].body.crash_limit == CrashLimit::NeverRestart;
        if never {
            let error = NEVER_RESTART.to_string();
            self.fail_task(time, job_id, idx, error, multi);
            return;
        }
        transition(job, idx, TaskStatus::Waiting, multi, &mut self.effects);
        self.changed_jobs.insert(job_id);
    }

    /// An execution queued on a worker behind a running one never started there (the worker
    /// gave it back, or it was lost): the task waits again, with no crash counted.
    fn apply_retracted(&mut self, job_id: JobId, task: TaskId) {
        let Some(idx) = self.running_task(job_id, task) else {
            return;
        };
        let job = self.jobs.get_mut(&job_id).expect("running task has a job");
        if !job.tasks[idx].is_assigned() {
            log::warn!("journal: task {job_id}@{task} retracted after it started");
            return;
        }
        transition(job, idx, TaskStatus::Waiting, false, &mut self.effects);
        self.changed_jobs.insert(job_id);
    }

    fn apply_finished(&mut self, time: u64, job_id: JobId, task: TaskId) {
        let Some(idx) = self.live_task(job_id, task) else {
            return;
        };
        let job = self.jobs.get_mut(&job_id).expect("live task has a job");
        transition(job, idx, TaskStatus::Finished, false, &mut self.effects);
        job.tasks[idx].finished_ms = Stamp::new(time);
        for ready in job.release_dependents(task) {
            self.effects.push(Effect::Ready(TaskKey {
                job: job_id,
                task: ready,
            }));
        }
        self.changed_jobs.insert(job_id);
        self.check_job_completed(time, job_id);
    }

    /// A lost worker was running the task: count the crash, then fail it at the crash limit or
    /// let it wait again. An execution whose start was not reported yet counts as well: the
    /// worker may have started it (and died of it) before the report arrived.
    fn apply_crashed(&mut self, time: u64, job_id: JobId, task: TaskId) {
        let Some(idx) = self.running_task(job_id, task) else {
            return;
        };
        let job = self.jobs.get_mut(&job_id).expect("running task has a job");
        let multi = job.multi_node.contains_key(&task);
        let t = &mut job.tasks[idx];
        t.crash_count = t.crash_count.saturating_add(1);
        let count = t.crash_count as u32;
        let error = match job.groups[t.group as usize].body.crash_limit {
            CrashLimit::NeverRestart => Some(NEVER_RESTART.to_string()),
            CrashLimit::Limit(n) if count >= n => Some(format!(
                "Task was running on a worker that was lost; the task has occurred {count} times in this situation and limit was reached."
            )),
            _ => None,
        };
        match error {
            Some(error) => self.fail_task(time, job_id, idx, error, multi),
            None => {
                transition(job, idx, TaskStatus::Waiting, multi, &mut self.effects);
                self.changed_jobs.insert(job_id);
            }
        }
    }

    /// Marks a task failed, aborts its dependents and applies `--max-fails`.
    fn fail_task(&mut self, time: u64, job_id: JobId, idx: usize, error: String, stop: bool) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        let task_id = job.tasks[idx].id;
        transition(job, idx, TaskStatus::Failed, stop, &mut self.effects);
        job.tasks[idx].finished_ms = Stamp::new(time);
        job.errors.insert(task_id, error);
        // Dependents were never queued: each had this unfinished dependency.
        job.abort_with_dependents(task_id);
        let over = job.max_fails.is_some_and(|m| job.stats.failed > m);
        self.changed_jobs.insert(job_id);
        if over {
            self.abort_job(time, job_id, None, TaskStatus::Aborted);
        }
        self.check_job_completed(time, job_id);
    }

    /// Moves the waiting or running tasks of a job (all, or those in `selected`) to `status`
    /// (Canceled or Aborted); running ones are stopped on their workers. Returns how many
    /// tasks changed.
    fn abort_job(
        &mut self,
        time: u64,
        job_id: JobId,
        selected: Option<&crate::common::idset::IdSet>,
        status: TaskStatus,
    ) -> u32 {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return 0;
        };
        let indexes: Vec<usize> = match selected {
            None => {
                // Every queued task of the job leaves the scheduler at once.
                self.effects.push(Effect::DropJob(job_id));
                (0..job.tasks.len()).collect()
            }
            Some(set) => job
                .tasks_in(Some(set))
                .filter_map(|t| job.index_of(t.id))
                .collect(),
        };
        let mut changed = 0;
        for idx in indexes {
            match job.tasks[idx].status {
                TaskStatus::Waiting if selected.is_none() => job.set_status(idx, status),
                TaskStatus::Waiting => transition(job, idx, status, false, &mut self.effects),
                TaskStatus::Running => transition(job, idx, status, true, &mut self.effects),
                _ => continue,
            }
            job.tasks[idx].finished_ms = Stamp::new(time);
            changed += 1;
        }
        self.changed_jobs.insert(job_id);
        self.check_job_completed(time, job_id);
        changed
    }

    /// Records the completion time once a closed job has nothing left to run.
    fn check_job_completed(&mut self, time: u64, job_id: JobId) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if job.completed_at.is_none() && job.is_completed() {
            job.completed_at = Some(time);
            self.effects.push(Effect::JobCompleted(job_id));
        }
    }
}

const NEVER_RESTART: &str = "Task was running on a lost worker while never restart flag was set.";

/// Moves a task to `to`, pushing what that means for the scheduler: a queued task leaves its
/// queue, a running one frees its resources (and is stopped on its worker when `stop`), a task
/// that waits with nothing unfinished is queued (one whose execution never started goes back to
/// its place in ID order, e.g. given back by the worker it was queued on).
fn transition(job: &mut Job, idx: usize, to: TaskStatus, stop: bool, fx: &mut Vec<Effect>) {
    let t = &job.tasks[idx];
    if t.status == to {
        return;
    }
    let key = TaskKey {
        job: job.id,
        task: t.id,
    };
    let never_started = t.is_assigned();
    match t.status {
        TaskStatus::Waiting if t.unfinished_deps == 0 => {
            fx.push(Effect::Unready(key));
        }
        TaskStatus::Running => {
            fx.push(Effect::Release(key));
            if stop {
                fx.push(Effect::Stop {
                    worker: t.worker,
                    key,
                    instance: t.instance(),
                });
            }
            // The nodes of an ended multi-node task stay listed (`hq task list`) until it runs
            // again.
            if to == TaskStatus::Waiting {
                job.multi_node.remove(&key.task);
            }
        }
        _ => {}
    }
    job.set_status(idx, to);
    if to == TaskStatus::Waiting && job.tasks[idx].unfinished_deps == 0 {
        fx.push(match never_started {
            true => Effect::Returned(key),
            false => Effect::Ready(key),
        });
    }
}

/// Fills the job's placeholders (`JOB_ID`, `SUBMIT_DIR`, `SERVER_UID`, `JOB_NAME`) in the
/// working directory, the stdout/stderr paths and the stream directory, and makes them absolute
/// (common/placeholders.rs). Resolving is idempotent, so a submission recorded after resolving
/// (or by an older build, before) gives the same job.
pub fn resolve_placeholders(submit: &mut SubmitRequest, job: &Job, server_uid: &str) {
    let submit_dir = submit.submit_dir.clone();
    let values = placeholders::Values::at_submit(job.id, &job.name, &submit_dir, server_uid);
    if let Some(stream) = &mut submit.stream_dir {
        *stream = placeholders::resolve_stream_dir(stream, &values);
    }
    for g in &mut submit.groups {
        placeholders::resolve_program_paths(&mut g.body.program, &values);
    }
}
