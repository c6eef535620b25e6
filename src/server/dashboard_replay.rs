//! `hq dashboard replay JOURNAL`: a journal replayed read-only into a fresh server state (the
//! same replay the server runs on start), then the same bounded feed a live dashboard gets.
//! Workers, their reports and the timeline come from the events themselves, since a replayed
//! server has no worker connections.

use super::core::ServerCore;
use super::dashboard::{FeedState, HISTORY_LEN};
use super::journal::JournalEvent;
use crate::journal::JournalError;
use crate::protocol::messages::*;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

/// Timeline entries kept from a journal.
const TIMELINE_LEN: usize = 1000;

/// A journal's final state, for the dashboard.
pub struct JournalView {
    core: ServerCore,
    path: String,
    workers: BTreeMap<WorkerId, DashWorker>,
    history: HashMap<WorkerId, VecDeque<HwSample>>,
    timeline: VecDeque<(u64, String)>,
    first_time: u64,
    last_time: u64,
    /// Time of each job's last task event (its completion time when it is completed).
    job_last: HashMap<JobId, u64>,
    /// Warnings of the journal reader (e.g. a cut torn tail).
    pub warnings: Vec<String>,
}

impl JournalView {
    /// Reads and replays the journal; the file is not changed.
    pub fn open(path: &Path) -> Result<JournalView, JournalError> {
        Self::read(path, true)
    }

    /// Only the timeline of a journal (no replay of the state): what a live dashboard shows
    /// of the past when its server has a journal.
    pub fn timeline_of(path: &Path) -> Result<Vec<(u64, String)>, JournalError> {
        Ok(Self::read(path, false)?.timeline.into_iter().collect())
    }

    fn read(path: &Path, replay_state: bool) -> Result<JournalView, JournalError> {
        let replay = crate::journal::read_all::<JournalEvent>(path)?;
        let mut view = JournalView {
            core: ServerCore::new(super::placeholder_info(), Default::default()),
            path: path.display().to_string(),
            workers: BTreeMap::new(),
            history: HashMap::new(),
            timeline: VecDeque::new(),
            first_time: replay.events.first().map_or(0, |(t, _)| *t),
            last_time: replay.events.last().map_or(0, |(t, _)| *t),
            job_last: HashMap::new(),
            warnings: replay.warnings,
        };
        for (time, event) in replay.events {
            view.note(time, &event);
            if replay_state {
                view.core.apply(time, event);
                // Runtime consequences (queues, messages) do not matter for a view.
                view.core.effects.clear();
            }
        }
        for (id, job) in view.core.jobs.iter_mut() {
            if job.completed_at.is_some() {
                job.completed_at = view.job_last.get(id).copied().or(Some(view.last_time));
            }
        }
        Ok(view)
    }

    fn push(&mut self, time: u64, text: String) {
        if self.timeline.len() == TIMELINE_LEN {
            self.timeline.pop_front();
        }
        self.timeline.push_back((time, text));
    }

    fn note(&mut self, time: u64, event: &JournalEvent) {
        match event {
            JournalEvent::ServerStart { server_uid } => {
                self.push(time, format!("server {server_uid} started"))
            }
            JournalEvent::ServerStop => {
                for w in self.workers.values_mut().filter(|w| w.ended_at.is_none()) {
                    w.state = WorkerState::Stopped;
                    w.ended_at = Some(time);
                }
                self.push(time, "server stopped".into())
            }
            JournalEvent::WorkerConnected { id, hostname } => {
                self.workers
                    .insert(*id, journal_worker(*id, hostname, time));
                self.push(time, format!("worker {id} connected from {hostname}"))
            }
            JournalEvent::WorkerLost { id, reason } => {
                if let Some(w) = self.workers.get_mut(id) {
                    w.state = *reason;
                    w.ended_at = Some(time);
                }
                let why = super::live::worker_state_reason(*reason);
                self.push(time, format!("worker {id} lost: {why}"))
            }
            JournalEvent::WorkerOverview { id, hw_state } => {
                if let Some(w) = self.workers.get_mut(id) {
                    w.overview = Some(hw_state.state.clone());
                }
                let h = self.history.entry(*id).or_default();
                if h.len() == HISTORY_LEN {
                    h.pop_front();
                }
                h.push_back(crate::common::hwsummary::sample(&hw_state.state));
            }
            JournalEvent::JobCreated { job, name, .. } => {
                self.push(time, format!("job {job} `{name}` submitted"))
            }
            JournalEvent::JobOpen { job_id, name, .. } => {
                self.push(time, format!("job {job_id} `{name}` opened"))
            }
            JournalEvent::JobClose { job_id } => self.push(time, format!("job {job_id} closed")),
            JournalEvent::JobCancel { job_id, reason } => {
                let why = reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                self.push(time, format!("job {job_id} canceled{why}"))
            }
            JournalEvent::TaskFailed { job, task, error } => {
                self.job_last.insert(*job, time);
                let error = error.lines().next().unwrap_or("");
                self.push(time, format!("job {job} task {task} failed: {error}"))
            }
            JournalEvent::TaskAssigned { job, .. }
            | JournalEvent::TaskCanceled { job, .. }
            | JournalEvent::TaskStarted { job, .. }
            | JournalEvent::TaskFinished { job, .. }
            | JournalEvent::TaskRetried { job, .. }
            | JournalEvent::TaskCrashed { job, .. }
            | JournalEvent::TaskRequeued { job, .. }
            | JournalEvent::TaskRetracted { job, .. } => {
                self.job_last.insert(*job, time);
            }
            JournalEvent::Autoalloc(e) => {
                if let Some(text) = e.summary() {
                    self.push(time, text)
                }
            }
            JournalEvent::JobForgotten { .. } | JournalEvent::Counters { .. } => {}
        }
    }

    /// The full feed for `view`, as of the journal's last event.
    pub fn feed(&self, view: DashboardView) -> DashboardFeed {
        let worker = view.worker;
        let mut state = FeedState::new(view);
        let (mut feed, _) = self.core.feed_for(&mut state, true);
        feed.now = self.last_time;
        feed.server_started = self.first_time;
        feed.journal = Some(self.path.clone());
        feed.workers = self.workers.values().cloned().collect();
        feed.worker_detail =
            worker
                .filter(|id| self.workers.contains_key(id))
                .map(|id| DashWorkerDetail {
                    id,
                    history: self
                        .history
                        .get(&id)
                        .map(|h| h.iter().cloned().collect())
                        .unwrap_or_default(),
                    tasks: vec![],
                    work_dir: String::new(),
                    allocation: None,
                });
        feed.timeline = self.timeline.iter().cloned().collect();
        feed
    }
}

fn journal_worker(id: WorkerId, hostname: &str, time: u64) -> DashWorker {
    DashWorker {
        id,
        hostname: hostname.to_string(),
        state: WorkerState::Running,
        group: String::new(),
        resources: "(not in the journal)".into(),
        running_tasks: 0,
        started_at: time,
        ended_at: None,
        overview_interval_ms: None,
        overview: None,
    }
}
