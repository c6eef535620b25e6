//! The server's journal: which state changes are recorded, how a journal is replayed into a
//! fresh [`ServerCore`] on start, and the flush policy (before a client request is answered,
//! after each round of events, and every flush period).

use super::core::{now_ms, ServerCore};
use super::state::Job;
use crate::journal::{self, JournalError};
use crate::protocol::messages::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One recorded state change. Variant names are the `type` of `hq journal export` lines.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalEvent {
    ServerStart {
        server_uid: String,
    },
    ServerStop,
    /// ID counters, written first by `hq journal prune` so pruned IDs are never reused.
    Counters {
        next_job: JobId,
        next_worker: WorkerId,
    },
    WorkerConnected {
        id: WorkerId,
        hostname: String,
    },
    WorkerLost {
        id: WorkerId,
        reason: WorkerState,
    },
    JobOpen {
        job_id: JobId,
        name: String,
        max_fails: Option<u32>,
    },
    /// A submission as the server accepted it (placeholders resolved, IDs final).
    JobCreated {
        job: JobId,
        name: String,
        max_fails: Option<u32>,
        submit: Box<SubmitRequest>,
    },
    JobClose {
        job_id: JobId,
    },
    JobCancel {
        job_id: JobId,
        reason: Option<String>,
    },
    JobForgotten {
        job_id: JobId,
    },
    TaskStarted {
        job: JobId,
        task: TaskId,
        instance: InstanceId,
        workers: Vec<WorkerId>,
    },
    TaskFinished {
        job: JobId,
        task: TaskId,
    },
    TaskFailed {
        job: JobId,
        task: TaskId,
        error: String,
    },
    /// A failed execution that will be retried (`--max-retries`).
    TaskRetried {
        job: JobId,
        task: TaskId,
        error: String,
    },
    /// The task's worker was lost; it counts toward the crash limit and waits again.
    TaskCrashed {
        job: JobId,
        task: TaskId,
    },
    /// The task's worker went away without a crash (stop, idle timeout); it waits again.
    TaskRequeued {
        job: JobId,
        task: TaskId,
    },
    /// Allocation queues; exported as `autoalloc-<kind>` (the trailing `-` tells the exporter
    /// to prefix the inner variant's name).
    #[serde(rename = "autoalloc-")]
    Autoalloc(crate::autoalloc::AllocEvent),
}

/// One NDJSON line of `hq journal export/replay/stream`.
pub fn event_line(time: u64, event: &JournalEvent) -> String {
    let mut buf = Vec::new();
    let _ = journal::write_json_line(&mut buf, time, event);
    String::from_utf8_lossy(&buf).trim_end().to_string()
}

impl ServerCore {
    /// Appends an event (buffered); a no-op without a journal or while replaying.
    pub fn record(&mut self, event: JournalEvent) {
        if self.replaying {
            return;
        }
        let now = now_ms();
        if !self.event_streams.is_empty() {
            let line = event_line(now, &event);
            self.event_streams.retain(|s| {
                s.send(ClientResponse::EventLines(vec![line.clone()]))
                    .is_ok()
            });
        }
        if let Some(writer) = &mut self.journal {
            if let Err(e) = writer.append(now, &event) {
                log::error!("cannot write to the journal: {e}");
            }
            self.journal_dirty = true;
        }
    }

    /// `hq journal replay/stream`: past events from the journal, then (with `live`) every new one.
    pub fn stream_events(
        &mut self,
        live: bool,
        reply: tokio::sync::mpsc::UnboundedSender<ClientResponse>,
    ) {
        self.journal_dirty = true;
        self.flush_journal();
        if let Some(path) = self.journal.as_ref().map(|w| w.path().to_path_buf()) {
            match journal::read_all::<JournalEvent>(&path) {
                Ok(replay) => {
                    for chunk in replay.events.chunks(1024) {
                        let lines = chunk.iter().map(|(t, e)| event_line(*t, e)).collect();
                        let _ = reply.send(ClientResponse::EventLines(lines));
                    }
                }
                Err(e) => {
                    let _ = reply.send(ClientResponse::Error(e.to_string()));
                    return;
                }
            }
        }
        if live {
            self.event_streams.push(reply);
        } else {
            let _ = reply.send(ClientResponse::Ok);
        }
    }

    /// Writes buffered events to disk (fdatasync); autoalloc's changes are recorded first.
    pub fn flush_journal(&mut self) {
        for event in self.autoalloc.take_records() {
            self.record(JournalEvent::Autoalloc(event));
        }
        if !self.journal_dirty {
            return;
        }
        if let Some(writer) = &mut self.journal {
            if let Err(e) = writer.flush() {
                log::error!("cannot flush the journal: {e}");
            }
        }
        self.journal_dirty = false;
    }

    /// Opens (or creates) the journal and replays it; returns warnings to log.
    pub fn open_journal(&mut self, path: &Path) -> Result<Vec<String>, JournalError> {
        let (replay, writer) = journal::open::<JournalEvent>(path)?;
        let restored = !replay.events.is_empty();
        self.replaying = true;
        for (time, event) in replay.events {
            self.apply(time, event);
        }
        self.replaying = false;
        self.journal = Some(writer);
        if restored {
            self.after_replay();
            log::info!(
                "Restored {} jobs from the journal {}; next job ID is {}",
                self.jobs.len(),
                path.display(),
                self.next_job_id
            );
        }
        let uid = self.info.server_uid.clone();
        self.record(JournalEvent::ServerStart { server_uid: uid });
        self.flush_journal();
        Ok(replay.warnings)
    }

    /// Applies a recorded event to the state during replay.
    fn apply(&mut self, time: u64, event: JournalEvent) {
        match event {
            JournalEvent::ServerStart { server_uid } => self.info.server_uid = server_uid,
            JournalEvent::ServerStop => {}
            JournalEvent::WorkerConnected { id, .. } | JournalEvent::WorkerLost { id, .. } => {
                self.next_worker_id = self.next_worker_id.max(id + 1);
            }
            JournalEvent::JobOpen {
                job_id,
                name,
                max_fails,
            } => {
                self.jobs
                    .insert(job_id, Job::new(job_id, name, max_fails, true, time));
                self.next_job_id = self.next_job_id.max(job_id + 1);
            }
            JournalEvent::JobCreated { job, submit, .. } => {
                let next = self.next_job_id;
                let is_new = matches!(submit.target, JobTarget::New { .. });
                self.next_job_id = job;
                let _ = self.submit(*submit);
                self.next_job_id = next.max(job + 1);
                if let Some(j) = self.jobs.get_mut(&job).filter(|_| is_new) {
                    j.submitted_at = time;
                }
            }
            JournalEvent::Counters {
                next_job,
                next_worker,
            } => {
                self.next_job_id = self.next_job_id.max(next_job);
                self.next_worker_id = self.next_worker_id.max(next_worker);
            }
            JournalEvent::JobClose { job_id } => {
                if let Some(job) = self.jobs.get_mut(&job_id) {
                    job.is_open = false;
                }
                self.check_job_completed(job_id);
            }
            JournalEvent::JobCancel { job_id, reason } => {
                self.abort_job(job_id, TaskStatus::Canceled);
                if let (Some(job), Some(r)) = (self.jobs.get_mut(&job_id), reason) {
                    job.cancel_reason = Some(r);
                }
            }
            JournalEvent::JobForgotten { job_id } => {
                self.jobs.remove(&job_id);
            }
            JournalEvent::TaskStarted {
                job,
                task,
                instance,
                workers,
            } => {
                self.with_task(job, task, |j, idx| {
                    j.set_status(idx, TaskStatus::Running);
                    let t = &mut j.tasks[idx];
                    t.next_instance = t.next_instance.max(instance + 1);
                    t.worker = workers.first().copied().unwrap_or(0);
                    t.started_ms = time;
                });
            }
            JournalEvent::TaskFinished { job, task } => {
                self.with_task(job, task, |j, idx| {
                    j.set_status(idx, TaskStatus::Finished);
                    j.tasks[idx].finished_ms = time;
                });
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.release_dependents(task);
                }
                self.check_job_completed(job);
            }
            JournalEvent::TaskFailed { job, task, error } => {
                if let Some(idx) = self.jobs.get(&job).and_then(|j| j.index_of(task)) {
                    self.fail_task(job, idx, error, time);

                    self.check_job_completed(job);
                }
            }
            JournalEvent::TaskRetried { job, task, error } => {
                self.with_task(job, task, |j, idx| {
                    j.tasks[idx].retries += 1;
                    j.set_status(idx, TaskStatus::Waiting);
                    j.errors.insert(task, error);
                });
            }
            JournalEvent::TaskCrashed { job, task } => {
                self.with_task(job, task, |j, idx| {
                    j.tasks[idx].crash_count += 1;
                    j.set_status(idx, TaskStatus::Waiting);
                });
            }
            JournalEvent::TaskRequeued { job, task } => {
                self.with_task(job, task, |j, idx| j.set_status(idx, TaskStatus::Waiting));
            }
            JournalEvent::Autoalloc(event) => self.autoalloc.state.apply(time, &event),
        }
    }

    fn with_task(&mut self, job: JobId, task: TaskId, f: impl FnOnce(&mut Job, usize)) {
        if let Some(j) = self.jobs.get_mut(&job) {
            if let Some(idx) = j.index_of(task) {
                f(j, idx);
            }
        }
    }

    /// After a replay: tasks that were running wait again, and every ready task is queued.
    fn after_replay(&mut self) {
        let mut ready = Vec::new();
        for job in self.jobs.values_mut() {
            job.multi_node.clear();
            for idx in 0..job.tasks.len() {
                if job.tasks[idx].status == TaskStatus::Running {
                    job.set_status(idx, TaskStatus::Waiting);
                }
                let t = &job.tasks[idx];
                if t.status == TaskStatus::Waiting && t.unfinished_deps == 0 {
                    ready.push((job.id, t.id));
                }
            }
        }
        for (job, task) in ready {
            self.enqueue(job, task);
        }
    }

    /// Rewrites the journal without forgotten and completed jobs (`hq journal prune`).
    pub fn prune_journal(&mut self) -> Result<(), String> {
        let Some(writer) = &mut self.journal else {
            return Err(
                "the server runs without a journal (start it with `--journal FILE`)".into(),
            );
        };
        writer.flush().map_err(|e| e.to_string())?;
        let path = writer.path().to_path_buf();
        let replay = journal::read_all::<JournalEvent>(&path).map_err(|e| e.to_string())?;
        let keep = |job: JobId| self.jobs.get(&job).is_some_and(|j| !j.is_completed());
        let mut kept: Vec<(u64, JournalEvent)> = replay
            .events
            .into_iter()
            .filter(|(_, e)| match e {
                JournalEvent::JobOpen { job_id, .. }
                | JournalEvent::JobClose { job_id }
                | JournalEvent::JobCancel { job_id, .. }
                | JournalEvent::JobForgotten { job_id } => keep(*job_id),
                JournalEvent::JobCreated { job, .. }
                | JournalEvent::TaskStarted { job, .. }
                | JournalEvent::TaskFinished { job, .. }
                | JournalEvent::TaskFailed { job, .. }
                | JournalEvent::TaskRetried { job, .. }
                | JournalEvent::TaskCrashed { job, .. }
                | JournalEvent::TaskRequeued { job, .. } => keep(*job),
                JournalEvent::WorkerConnected { id, .. } | JournalEvent::WorkerLost { id, .. } => {
                    self.workers.get(id).is_some_and(|w| w.sender.is_some())
                }
                JournalEvent::ServerStart { .. } | JournalEvent::ServerStop => true,
                JournalEvent::Autoalloc(e) => self.autoalloc.keep_in_pruned_journal(e),
                JournalEvent::Counters { .. } => false,
            })
            .collect();
        let counters = JournalEvent::Counters {
            next_job: self.next_job_id,
            next_worker: self.next_worker_id,
        };
        kept.insert(0, (now_ms(), counters));
        let writer = journal::rewrite(&path, kept.iter().map(|(t, e)| (*t, e)))
            .map_err(|e| e.to_string())?;
        self.journal = Some(writer);
        Ok(())
    }
}
