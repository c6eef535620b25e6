//! The server's journal: the recorded events, how they are committed (journal, then
//! [`ServerCore::apply`], then effects), how a journal is replayed into a fresh [`ServerCore`]
//! on start, and the flush policy.
//!
//! Flush policy: a state-changing client request is written and fsynced *before* it is applied
//! (write-ahead), so an acknowledged request is durable and a request that cannot be written is
//! refused without changing anything. Events from workers and the scheduler are applied at once
//! and flushed at the end of each round of events; when a flush fails they stay buffered and are
//! written when the disk has room again.

use super::core::ServerCore;
use crate::journal::{self, JournalError, JournalWriter};
use crate::protocol::messages::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One recorded state change. Variant names are the `type` of `hq journal export` lines.
/// The encoding is positional: new variants go at the end, existing ones never change.
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
    /// A hardware report (`--overview-interval`); not restored, dropped by prune.
    WorkerOverview {
        id: WorkerId,
        #[serde(rename = "hw-state")]
        hw_state: OverviewRecord,
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
    /// The scheduler gave the task execution `instance` on `workers` (the first is the root);
    /// it holds their resources from now on, and runs once the worker reports [`TaskStarted`].
    ///
    /// [`TaskStarted`]: JournalEvent::TaskStarted
    TaskAssigned {
        job: JobId,
        task: TaskId,
        instance: InstanceId,
        workers: crate::scheduler::Workers,
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
    /// The task's worker was lost; it counts toward the crash limit, then fails at the limit
    /// or waits again.
    TaskCrashed {
        job: JobId,
        task: TaskId,
    },
    /// The task stopped without a crash (worker stopped, idle timeout, or it stopped the task
    /// on its own); it waits again.
    TaskRequeued {
        job: JobId,
        task: TaskId,
    },
    /// These tasks of the job were canceled (`hq job cancel`, followed by its `JobCancel`).
    TaskCanceled {
        job: JobId,
        tasks: crate::common::idset::IdSet,
    },
    /// The root worker started the process of the assigned execution: the task is running.
    TaskStarted {
        job: JobId,
        task: TaskId,
        instance: InstanceId,
        workers: crate::scheduler::Workers,
        /// Index of the resource variant it runs with.
        variant: u32,
    },
    /// Allocation queues; exported as `autoalloc-<kind>` (the trailing `-` tells the exporter
    /// to prefix the inner variant's name).
    #[serde(rename = "autoalloc-")]
    Autoalloc(crate::autoalloc::AllocEvent),
    /// The task was assigned to a worker queued behind a running task and never started there
    /// (the worker gave it back or was lost): it waits again, with no crash counted.
    TaskRetracted {
        job: JobId,
        task: TaskId,
    },
}

/// The `hw-state` of a `worker-overview` event: `{"state": {...}}` as in the original.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OverviewRecord {
    pub state: HwState,
}

pub use super::event_json::event_line;

/// The journal file the core writes, with its flush state.
pub struct Journal {
    writer: JournalWriter<JournalEvent>,
    /// Events were appended since the last successful flush.
    dirty: bool,
    /// Core clock of the first failure since the last successful flush.
    failing_since: Option<u64>,
    /// Core clock of the last error logged, so a full disk is logged once a minute.
    logged_at: Option<u64>,
}

/// How often a failing journal is retried outside client requests, and its error logged.
const RETRY_MS: u64 = 1_000;
const LOG_EVERY_MS: u64 = 60_000;

impl Journal {
    pub fn new(writer: JournalWriter<JournalEvent>) -> Self {
        Journal {
            writer,
            dirty: false,
            failing_since: None,
            logged_at: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.writer.path()
    }

    /// The message a refused request gets: `cannot write the journal at PATH: REASON; NOTHING`.
    fn refusal(&self, error: &JournalError, nothing: &str) -> String {
        format!(
            "cannot write the journal at {}: {}; {nothing}",
            self.path().display(),
            io_reason(error)
        )
    }
}

/// The operating system's reason, without Rust's `(os error N)` suffix.
fn io_reason(error: &JournalError) -> String {
    let text = match error {
        JournalError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

impl ServerCore {
    /// Live path for an event that cannot be refused (a result, a worker lost, a task started):
    /// journal (buffered), apply, run the effects.
    pub fn commit(&mut self, event: JournalEvent) {
        match &mut self.journal {
            Some(j) => {
                // A failed write keeps the event buffered; `flush_journal` reports it.
                let _ = j.writer.append(self.now, &event);
                j.dirty = true;
            }
            None => self.history.push(self.now, &event),
        }
        self.stream(&event);
        self.apply(self.now, event);
        self.run_effects();
    }

    /// Like [`commit`](Self::commit), but the event does not make the round fsync the
    /// journal: it reaches the disk with the next flush (hardware reports, not restored).
    pub fn commit_buffered(&mut self, event: JournalEvent) {
        if let Some(j) = &mut self.journal {
            let _ = j.writer.append(self.now, &event);
        }
        self.stream(&event);
        self.apply(self.now, event);
        self.run_effects();
    }

    /// Live path for the events of a client request: written and fsynced first, then applied.
    /// When the journal cannot be written nothing is applied and the error names the file, the
    /// reason and `nothing` ("nothing was submitted").
    pub fn commit_request(
        &mut self,
        events: Vec<JournalEvent>,
        nothing: &str,
    ) -> Result<(), String> {
        if let Some(j) = &mut self.journal {
            let mark = j.writer.size();
            let written = events
                .iter()
                .try_for_each(|e| j.writer.append(self.now, e))
                .and_then(|()| j.writer.flush());
            if let Err(e) = written {
                let message = j.refusal(&e, nothing);
                if let Err(cut) = j.writer.rollback_to(mark) {
                    log::error!("{cut}: {}", io_reason(&cut));
                }
                j.dirty = true;
                j.failing_since.get_or_insert(self.now);
                log::error!("{message}");
                return Err(message);
            }
            j.dirty = false;
            j.failing_since = None;
        }
        for event in events {
            if self.journal.is_none() {
                self.history.push(self.now, &event);
            }
            self.stream(&event);
            self.apply(self.now, event);
            self.run_effects();
        }
        Ok(())
    }

    /// Sends a committed event to the clients of `hq journal stream`. `server-stop` is not
    /// sent: the streams end with the server (it is in the journal), as the reference does.
    fn stream(&mut self, event: &JournalEvent) {
        if self.event_streams.is_empty() || matches!(event, JournalEvent::ServerStop) {
            return;
        }
        let line = event_line(self.now, event);
        self.event_streams.retain(|s| {
            s.send(ClientResponse::EventLines(vec![line.clone()]))
                .is_ok()
        });
    }

    /// Writes buffered events to disk (fdatasync). After a failure, retries at most once a
    /// second unless `force`; errors are logged once a minute and returned.
    pub fn flush_journal(&mut self, force: bool) -> Result<(), String> {
        let now = self.now;
        let Some(j) = &mut self.journal else {
            return Ok(());
        };
        if !j.dirty {
            return Ok(());
        }
        let retry_due = j.failing_since.is_none_or(|t| now >= t + RETRY_MS);
        if !force && !retry_due {
            return Ok(());
        }
        match j.writer.flush() {
            Ok(()) => {
                if j.failing_since.take().is_some() {
                    log::info!("the journal at {} is written again", j.path().display());
                }
                j.dirty = false;
                Ok(())
            }
            Err(e) => {
                j.failing_since = Some(now);
                let message = format!(
                    "cannot write the journal at {}: {}; its events are kept in memory until it can be written",
                    j.path().display(),
                    io_reason(&e),
                );
                if j.logged_at.is_none_or(|t| now >= t + LOG_EVERY_MS) {
                    j.logged_at = Some(now);
                    log::error!("{message}");
                }
                Err(message)
            }
        }
    }

    /// `hq journal replay/stream`: past events from the journal (without one, those kept in
    /// memory), then (with `live`) every new one.
    pub fn stream_events(&mut self, live: bool, reply: super::outbox::Reply) {
        let _ = self.flush_journal(true);
        let past: Vec<(u64, JournalEvent)> = match self.journal.as_ref().map(|j| j.path()) {
            Some(path) => match journal::read_all::<JournalEvent>(path) {
                Ok(replay) => replay.events,
                Err(e) => {
                    let _ = reply.send(ClientResponse::Error(e.to_string()));
                    return;
                }
            },
            None => self.history.events().collect(),
        };
        for chunk in past.chunks(1024) {
            let lines = chunk.iter().map(|(t, e)| event_line(*t, e)).collect();
            let _ = reply.send(ClientResponse::EventLines(lines));
        }
        if live {
            self.event_streams.push(reply);
        } else {
            let _ = reply.send(ClientResponse::Ok);
        }
    }

    /// Opens (or creates) the journal and replays it through [`ServerCore::apply`]; returns
    /// warnings to log.
    pub fn open_journal(&mut self, path: &Path) -> Result<Vec<String>, JournalError> {
        let (replay, writer) = journal::open::<JournalEvent>(path)?;
        let restored = !replay.events.is_empty();
        for (time, event) in replay.events {
            self.apply(time, event);
            // Runtime consequences are rebuilt by `after_replay`.
            self.effects.clear();
        }
        self.changed_jobs.clear();
        self.journal = Some(Journal::new(writer));
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
        self.commit(JournalEvent::ServerStart { server_uid: uid });
        if let Err(e) = self.flush_journal(true) {
            log::error!("{e}");
        }
        Ok(replay.warnings)
    }

    /// After a replay: tasks that were running wait again (their next execution gets a higher
    /// instance ID), every waiting task without unfinished dependencies is queued, and one
    /// worker ID is skipped.
    fn after_replay(&mut self) {
        // As the reference does, a restored server leaves one worker ID unused after the last
        // one it handed out (scripts that follow worker IDs across a restart see the same).
        if self.next_worker_id > 1 {
            self.next_worker_id += 1;
        }
        for job in self.jobs.values_mut() {
            let running: Vec<TaskId> = job
                .multi_node
                .keys()
                .copied()
                .filter(|t| {
                    job.index_of(*t)
                        .is_some_and(|i| job.tasks[i].status == TaskStatus::Running)
                })
                .collect();
            for t in running {
                job.multi_node.remove(&t);
            }
            for idx in 0..job.tasks.len() {
                if job.tasks[idx].status == TaskStatus::Running {
                    job.set_status(idx, TaskStatus::Waiting);
                }
                let t = &job.tasks[idx];
                if t.status == TaskStatus::Waiting && t.unfinished_deps == 0 {
                    let key = crate::scheduler::TaskKey {
                        job: job.id,
                        task: t.id,
                    };
                    self.effects.push(super::outbox::Effect::Ready(key));
                }
            }
        }
        self.run_effects();
    }

    /// Rewrites the journal without forgotten and completed jobs (`hq journal prune`).
    pub fn prune_journal(&mut self) -> Result<(), String> {
        self.flush_journal(true)?;
        let Some(j) = &mut self.journal else {
            return Err(NO_JOURNAL.into());
        };
        let path = j.path().to_path_buf();
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
                | JournalEvent::TaskAssigned { job, .. }
                | JournalEvent::TaskCanceled { job, .. }
                | JournalEvent::TaskStarted { job, .. }
                | JournalEvent::TaskFinished { job, .. }
                | JournalEvent::TaskFailed { job, .. }
                | JournalEvent::TaskRetried { job, .. }
                | JournalEvent::TaskCrashed { job, .. }
                | JournalEvent::TaskRequeued { job, .. }
                | JournalEvent::TaskRetracted { job, .. } => keep(*job),
                JournalEvent::WorkerConnected { id, .. } | JournalEvent::WorkerLost { id, .. } => {
                    self.workers.get(id).is_some_and(|w| w.connected)
                }
                JournalEvent::ServerStart { .. } | JournalEvent::ServerStop => true,
                JournalEvent::Counters { .. } | JournalEvent::WorkerOverview { .. } => false,
                JournalEvent::Autoalloc(e) => self.autoalloc.keep_in_pruned_journal(e),
            })
            .collect();
        let counters = JournalEvent::Counters {
            next_job: self.next_job_id,
            next_worker: self.next_worker_id,
        };
        kept.insert(0, (self.now, counters));
        let writer = journal::rewrite(&path, kept.iter().map(|(t, e)| (*t, e)))
            .map_err(|e| j.refusal(&e, "the journal was not pruned"))?;
        j.writer = writer;
        Ok(())
    }
}

/// The answer to journal requests of a server without a journal.
pub const NO_JOURNAL: &str = "the server runs without a journal (start it with `--journal FILE`)";
