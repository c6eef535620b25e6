//! Live handling of workers and of the scheduler: registration, results, loss, heartbeats and
//! the scheduling pass. Each handler only decides which events happened and commits them;
//! [`ServerCore::apply`] changes the state, and worker messages go to the outbox.

use super::core::{ServerCore, WorkerEntry};
use super::journal::JournalEvent;
use crate::protocol::messages::*;
use crate::scheduler::{Assignment, TaskKey};

impl ServerCore {
    /// A worker registered: it gets the next ID, its `Registered` answer is queued first.
    /// `late_results` (executions it finished while it had no server) are applied before.
    pub fn register_worker(
        &mut self,
        config: WorkerConfiguration,
        late_results: Vec<TaskResult>,
    ) -> WorkerId {
        self.on_results(late_results);
        let id = self.next_worker_id;
        let deadline = config.time_limit_ms.map(|t| self.now.saturating_add(t));
        self.scheduler.add_worker(
            id,
            &config.resources,
            config.group.clone(),
            deadline,
            config.min_utilization,
        );
        log::info!("Worker {id} registered from {}", config.hostname);
        let hostname = config.hostname.clone();
        let info = WorkerInfo {
            id,
            state: WorkerState::Running,
            configuration: config,
            started_at: self.now,
            ended_at: None,
            running_tasks: 0,
            multi_node_main: None,
            reserved: false,
            last_task_started: None,
            overview: None,
        };
        self.workers.insert(
            id,
            WorkerEntry {
                info,
                connected: true,
                bodies_sent: Default::default(),
                last_heartbeat: self.now,
                leaving: None,
                reserved: false,
            },
        );
        let registered = ToWorker::Registered {
            worker_id: id,
            server_uid: self.info.server_uid.clone(),
            server_idle_timeout_ms: self.config.idle_timeout_ms,
            server_has_journal: self.journal.is_some(),
        };
        self.outbox.control(id, registered);
        self.commit(JournalEvent::WorkerConnected { id, hostname });
        self.alloc_worker_connected(id);
        self.needs_schedule = true;
        id
    }

    pub fn on_worker_message(&mut self, id: WorkerId, msg: FromWorker) {
        if let Some(w) = self.workers.get_mut(&id) {
            w.last_heartbeat = self.now;
        }
        match msg {
            FromWorker::Results(results) => self.on_results(results),
            FromWorker::Started(executions) => self.on_started(id, executions),
            FromWorker::Retracted(executions) => self.on_retracted(id, executions),
            FromWorker::Notify {
                job,
                task,
                instance,
                message,
            } => self.on_notify(TaskNotification {
                job,
                task,
                instance,
                worker: id,
                message,
            }),
            FromWorker::Heartbeat | FromWorker::Register { .. } => {}
            FromWorker::Overview(state) => self.on_overview(id, *state),
            FromWorker::Leaving(reason) => {
                if let Some(w) = self.workers.get_mut(&id) {
                    w.leaving = Some(reason);
                }
                self.worker_lost(id, reason);
            }
        }
    }

    /// The worker's connection ended: lost, unless it said why it leaves.
    pub fn on_worker_disconnected(&mut self, id: WorkerId) {
        let reason = self
            .workers
            .get(&id)
            .and_then(|w| w.leaving)
            .unwrap_or(WorkerState::ConnectionLost);
        self.worker_lost(id, reason);
    }

    /// Workers silent for two heartbeat periods are lost.
    pub fn check_heartbeats(&mut self) {
        let now = self.now;
        let lost: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| {
                w.connected
                    && now.saturating_sub(w.last_heartbeat)
                        > 2 * w.info.configuration.heartbeat_ms.max(1)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            self.worker_lost(id, WorkerState::HeartbeatLost);
        }
    }

    /// Commits the loss of a connected worker and of the executions it ran.
    pub fn worker_lost(&mut self, id: WorkerId, reason: WorkerState) {
        if !self.is_connected(id) {
            return;
        }
        log::info!("Worker {id} lost: {}", worker_state_reason(reason));
        for event in self.lost_worker_events(id, reason) {
            self.commit(event);
        }
        self.alloc_worker_lost(id, reason);
    }

    /// The events of losing a worker: the loss, then each execution that ends with it (a
    /// multi-node task only with its main node), counted as a crash when the worker died
    /// (connection or heartbeat lost).
    pub fn lost_worker_events(&self, id: WorkerId, reason: WorkerState) -> Vec<JournalEvent> {
        let crash = matches!(
            reason,
            WorkerState::ConnectionLost | WorkerState::HeartbeatLost
        );
        let mut events = vec![JournalEvent::WorkerLost { id, reason }];
        // Tasks queued there never started: they wait again, no crash counted.
        for TaskKey { job, task } in self.scheduler.queued_on_worker(id) {
            events.push(JournalEvent::TaskRetracted { job, task });
        }
        for TaskKey { job, task } in self.scheduler.tasks_lost_with(id) {
            events.push(match crash {
                true => JournalEvent::TaskCrashed { job, task },
                false => JournalEvent::TaskRequeued { job, task },
            });
        }
        events
    }

    /// The worker started these executions' processes: their tasks run from now on. Reports of
    /// executions that are no longer current (canceled meanwhile, an older instance) or that
    /// this worker does not run are ignored.
    fn on_started(&mut self, worker: WorkerId, executions: Vec<(JobId, TaskId, InstanceId)>) {
        for (job, task, instance) in executions {
            let Some(j) = self.jobs.get(&job) else {
                continue;
            };
            let Some(t) = j.index_of(task).map(|i| &j.tasks[i]) else {
                continue;
            };
            if !t.is_assigned() || t.instance() != instance || t.worker != worker {
                continue;
            }
            let key = TaskKey { job, task };
            let (workers, variant) = match self.scheduler.placement(key) {
                Some((workers, variant)) => (workers.into(), variant),
                None => (smallvec::smallvec![worker], 0),
            };
            self.commit(JournalEvent::TaskStarted {
                job,
                task,
                instance,
                workers,
                variant,
            });
            if let Some(w) = self.workers.get_mut(&worker) {
                w.info.last_task_started = Some((job, task, self.now));
            }
        }
    }

    /// The worker gave back queued executions (asked to, or their time request no longer fits
    /// its remaining lifetime): they wait again. Others (started meanwhile, stale) are ignored.
    fn on_retracted(&mut self, worker: WorkerId, executions: Vec<ExecutionKey>) {
        for (job, task, instance) in executions {
            let key = TaskKey { job, task };
            let current = self.jobs.get(&job).is_some_and(|j| {
                j.index_of(task)
                    .is_some_and(|i| j.tasks[i].is_assigned() && j.tasks[i].instance() == instance)
            });
            if current && self.scheduler.queued_on(key) == Some(worker) {
                self.commit(JournalEvent::TaskRetracted { job, task });
            }
        }
        self.needs_schedule = true;
    }

    /// Applies a batch of results from a worker.
    pub fn on_results(&mut self, results: Vec<TaskResult>) {
        for r in results {
            if let Some(event) = self.result_event(r) {
                self.commit(event);
            }
        }
    }

    /// The event a result means, or `None` for a stale one (canceled, an older instance).
    fn result_event(&self, r: TaskResult) -> Option<JournalEvent> {
        let job = self.jobs.get(&r.job)?;
        let t = &job.tasks[job.index_of(r.task)?];
        // A result of the last execution that a restored server put back to waiting (the
        // worker finished it while the server was away): accepted instead of running again.
        let late = t.status == TaskStatus::Waiting
            && t.next_instance > 0
            && t.instance() == r.instance
            && r.outcome != TaskOutcome::Stopped;
        let current = t.status == TaskStatus::Running && t.instance() == r.instance;
        if !late && !current {
            return None;
        }
        let (job_id, task) = (r.job, r.task);
        Some(match r.outcome {
            TaskOutcome::Finished => JournalEvent::TaskFinished { job: job_id, task },
            TaskOutcome::Failed(error) => {
                let max_retries = job.groups[t.group as usize].body.max_retries;
                if (t.retries as u32) < max_retries {
                    JournalEvent::TaskRetried {
                        job: job_id,
                        task,
                        error,
                    }
                } else {
                    JournalEvent::TaskFailed {
                        job: job_id,
                        task,
                        error,
                    }
                }
            }
            // The worker stopped it without being asked to (e.g. it is shutting down).
            TaskOutcome::Stopped => JournalEvent::TaskRequeued { job: job_id, task },
        })
    }

    /// Runs a scheduling pass, capped by `--scheduler-time-limit`, and commits the assignments
    /// (to start now, or queued on the worker behind a running task); assignments and
    /// retractions go to the outbox. A pass cut short sets `pass_cut_short`, and the actor runs
    /// the next one without waiting for an event.
    pub fn schedule(&mut self) {
        self.needs_schedule = false;
        self.pass_cut_short = false;
        if self.stopping {
            return;
        }
        let limit = self.config.scheduler_time_limit;
        let started = std::time::Instant::now();
        let pass = self
            .scheduler
            .schedule_within(self.now, &mut || started.elapsed() >= limit);
        self.pass_cut_short = pass.cut_short;
        self.needs_schedule |= pass.cut_short;
        for a in pass.assignments {
            self.start_task(a);
        }
        for (worker, key) in self.scheduler.take_retractions() {
            if let Some(instance) = self.assigned_instance(key) {
                self.outbox.retract(worker, key, instance);
            }
        }
        self.sync_reservations();
    }

    /// The instance of an execution assigned but not started (`None`: there is none).
    fn assigned_instance(&self, key: TaskKey) -> Option<InstanceId> {
        let j = self.jobs.get(&key.job)?;
        let t = &j.tasks[j.index_of(key.task)?];
        t.is_assigned().then(|| t.instance())
    }

    /// Tells workers that became held for a multi-node task, or stopped being held, so a held
    /// worker does not stop on its idle timeout.
    fn sync_reservations(&mut self) {
        for (id, w) in self.workers.iter_mut() {
            let held = self.scheduler.multi_node_role(*id) == Some(false)
                || self.scheduler.is_held_for_multi_node(*id);
            if w.connected && held != w.reserved {
                w.reserved = held;
                self.outbox.control(*id, ToWorker::SetReserved(held));
            }
        }
    }

    fn start_task(&mut self, a: Assignment) {
        let Some(instance) = self.jobs.get(&a.key.job).and_then(|j| {
            let t = &j.tasks[j.index_of(a.key.task)?];
            (t.status == TaskStatus::Waiting).then_some(t.next_instance)
        }) else {
            self.scheduler.task_done(a.key);
            return;
        };
        // Queued behind `r`: the worker starts it in `r`'s allocation when `r` ends.
        let after = a.after.map(|r| {
            let j = &self.jobs[&r.job];
            let t = &j.tasks[j
                .index_of(r.task)
                .expect("a queued task's predecessor exists")];
            (r.job, r.task, t.instance())
        });
        self.commit(JournalEvent::TaskAssigned {
            job: a.key.job,
            task: a.key.task,
            instance,
            workers: a.workers.clone(),
        });
        let job = &self.jobs[&a.key.job];
        let task = &job.tasks[job.index_of(a.key.task).expect("started task exists")];
        let group = &job.groups[task.group as usize];
        let body_key = (a.key.job, task.group);
        let nodes: Vec<String> = match group.body.resources.is_multi_node() {
            true => a
                .workers
                .iter()
                .filter_map(|w| self.workers.get(w))
                .map(|e| e.info.configuration.hostname.clone())
                .collect(),
            false => vec![],
        };
        let assignment = TaskAssignment {
            job: a.key.job,
            task: a.key.task,
            instance,
            body: body_key,
            entry: group.entry_of(a.key.task),
            variant: a.variant,
            retries: task.retries as u32,
            allocation: a.allocation,
            nodes,
            after,
        };
        for w in a.workers.iter().filter(|_| after.is_none()) {
            if let Some(worker) = self.workers.get_mut(w) {
                worker.info.last_task_started = Some((a.key.job, a.key.task, self.now));
            }
        }
        let root = a.workers[0];
        let Some(worker) = self.workers.get_mut(&root) else {
            return;
        };
        let body = worker.bodies_sent.insert(body_key).then(|| BodyMsg {
            key: body_key,
            body: group.body.clone(),
            job_name: job.name.clone(),
            submit_dir: job.submit_dir.clone(),
            stream_dir: job.stream_dir.clone(),
        });
        self.outbox.compute(root, body, assignment);
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
