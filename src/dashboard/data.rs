//! The dashboard's data model: a fold over the server's feed messages (snapshot, then
//! changes). It knows nothing of terminals or ratatui, so tests fold recorded messages and
//! check the result. Throughput and ETA are derived here from how completed counts move.

use crate::protocol::messages::*;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Completed-count samples older than this do not count toward throughput.
const RATE_WINDOW_MS: u64 = 60_000;
/// Timeline entries kept.
const TIMELINE_LEN: usize = 200;

/// A notable change, for the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    pub time: u64,
    pub text: String,
}

#[derive(Clone, Debug, Default)]
pub struct DashboardData {
    /// Whether a snapshot has arrived.
    pub connected: bool,
    /// Server time of the last message (ms since the Unix epoch).
    pub now: u64,
    pub server_uid: String,
    pub server_started: u64,
    pub journal: Option<String>,
    pub workers: BTreeMap<WorkerId, DashWorker>,
    pub jobs: BTreeMap<JobId, DashJob>,
    pub job_count: u32,
    pub totals: TaskStats,
    pub tasks: Option<TaskPage>,
    pub job_detail: Option<DashJobDetail>,
    pub worker_detail: Option<DashWorkerDetail>,
    /// Allocation queues, without their allocations.
    pub queues: Vec<DashQueue>,
    /// The newest allocations of the queue on screen.
    pub queue_detail: Option<DashQueueDetail>,
    pub timeline: VecDeque<TimelineEntry>,
    /// The timeline came with the feed (a replayed journal), not from watching.
    pub replayed: bool,
    /// (time, completed tasks) per job, oldest first, within [`RATE_WINDOW_MS`].
    progress: HashMap<JobId, VecDeque<(u64, u32)>>,
}

impl DashboardData {
    /// Folds one feed message into the model.
    pub fn apply(&mut self, feed: DashboardFeed) {
        let now = feed.now;
        if feed.full {
            let timeline = std::mem::take(&mut self.timeline);
            let progress = std::mem::take(&mut self.progress);
            let old_jobs = std::mem::take(&mut self.jobs);
            let old_workers = std::mem::take(&mut self.workers);
            *self = DashboardData {
                timeline,
                progress,
                ..Default::default()
            };
            // Rows that vanished between snapshots are gone; the rest are compared below.
            self.jobs = old_jobs
                .into_iter()
                .filter(|(id, _)| feed.jobs.iter().any(|j| j.id == *id))
                .collect();
            self.workers = old_workers
                .into_iter()
                .filter(|(id, _)| feed.workers.iter().any(|w| w.id == *id))
                .collect();
            self.connected = true;
        }
        self.now = now.max(self.now);
        self.server_uid = feed.server_uid;
        self.server_started = feed.server_started;
        self.journal = feed.journal;
        self.job_count = feed.job_count;
        self.totals = feed.totals;
        for id in feed.removed_jobs {
            self.jobs.remove(&id);
            self.progress.remove(&id);
        }
        for id in feed.removed_workers {
            self.workers.remove(&id);
        }
        // A snapshot is the state at connection time, not news for the timeline.
        let news = !feed.full;
        for w in feed.workers {
            self.upsert_worker(w, now, news);
        }
        for j in feed.jobs {
            self.upsert_job(j, now, news);
        }
        if !feed.timeline.is_empty() {
            self.set_past(feed.timeline);
        }
        if feed.full || feed.tasks.is_some() {
            self.tasks = feed.tasks;
        }
        if feed.full || feed.job_detail.is_some() {
            self.job_detail = feed.job_detail;
        }
        if feed.full || feed.worker_detail.is_some() {
            self.worker_detail = feed.worker_detail;
        }
        if let Some(queues) = feed.queues {
            self.queues = queues;
        }
        if feed.full || feed.queue_detail.is_some() {
            self.queue_detail = feed.queue_detail;
        }
    }

    /// The past from a journal replaces the timeline seen so far (it includes it).
    pub fn set_past(&mut self, past: Vec<(u64, String)>) {
        self.replayed = true;
        self.timeline = past
            .into_iter()
            .rev()
            .take(TIMELINE_LEN)
            .rev()
            .map(|(time, text)| TimelineEntry { time, text })
            .collect();
    }

    fn upsert_worker(&mut self, w: DashWorker, now: u64, news: bool) {
        match self.workers.get(&w.id).filter(|_| news) {
            None if news && w.state == WorkerState::Running => self.note(
                now,
                format!("worker {} connected from {}", w.id, w.hostname),
            ),
            Some(old) if old.state == WorkerState::Running && w.state != WorkerState::Running => {
                self.note(
                    now,
                    format!(
                        "worker {} lost: {}",
                        w.id,
                        crate::server::worker_state_reason(w.state)
                    ),
                )
            }
            _ => {}
        }
        self.workers.insert(w.id, w);
    }

    fn upsert_job(&mut self, j: DashJob, now: u64, news: bool) {
        let old = self
            .jobs
            .get(&j.id)
            .map(|o| o.completed_at)
            .filter(|_| news);
        if news && old.is_none() && j.completed_at.is_none() {
            self.note(now, format!("job {} `{}` submitted", j.id, j.name));
        }
        if old.is_some_and(|o| o.is_none()) && j.completed_at.is_some() {
            let word = super::ui::job_state_word(&j);
            self.note(
                now,
                format!("job {} `{}` {}", j.id, j.name, word.to_lowercase()),
            );
        }
        let samples = self.progress.entry(j.id).or_default();
        let completed = j.stats.completed();
        if samples.back().is_none_or(|(_, c)| *c != completed) || samples.len() < 2 {
            samples.push_back((now, completed));
        }
        while samples.len() > 2
            && samples
                .front()
                .is_some_and(|(t, _)| *t + RATE_WINDOW_MS < now)
        {
            samples.pop_front();
        }
        self.jobs.insert(j.id, j);
    }

    fn note(&mut self, time: u64, text: String) {
        if self.timeline.len() == TIMELINE_LEN {
            self.timeline.pop_front();
        }
        self.timeline.push_back(TimelineEntry { time, text });
    }

    /// Tasks completed per second: over the last minute of observed changes, or, before two
    /// observations exist, since the job was submitted.
    pub fn throughput(&self, id: JobId) -> Option<f64> {
        let job = self.jobs.get(&id)?;
        let done = job.stats.completed();
        if let Some(s) = self.progress.get(&id) {
            if let (Some((t0, c0)), Some((t1, c1))) = (s.front(), s.back()) {
                if t1 > t0 && c1 > c0 && t1 - t0 >= 1000 {
                    return Some((c1 - c0) as f64 / ((t1 - t0) as f64 / 1000.0));
                }
            }
        }
        let end = job.completed_at.unwrap_or(self.now);
        let secs = end.saturating_sub(job.submitted_at) as f64 / 1000.0;
        (done > 0 && secs >= 1.0).then(|| done as f64 / secs)
    }

    /// Seconds until the job's remaining tasks are done at the current throughput.
    pub fn eta_secs(&self, id: JobId) -> Option<u64> {
        let job = self.jobs.get(&id)?;
        let left = job.stats.waiting + job.stats.running;
        if left == 0 {
            return None;
        }
        let rate = self.throughput(id)?;
        Some((left as f64 / rate).ceil() as u64)
    }

    /// Running workers, and workers per state word.
    pub fn worker_states(&self) -> Vec<(WorkerState, usize)> {
        let mut counts: BTreeMap<u8, (WorkerState, usize)> = BTreeMap::new();
        for w in self.workers.values() {
            counts.entry(w.state as u8).or_insert((w.state, 0)).1 += 1;
        }
        counts.into_values().collect()
    }

    /// Mean CPU, memory and (when reported) GPU use of running workers with reports.
    pub fn cluster_use(&self) -> Option<(f32, f32, Option<f32>)> {
        let samples: Vec<HwSample> = self
            .workers
            .values()
            .filter(|w| w.state == WorkerState::Running)
            .filter_map(|w| w.overview.as_ref())
            .map(crate::common::hwsummary::sample)
            .collect();
        if samples.is_empty() {
            return None;
        }
        let n = samples.len() as f32;
        let gpus: Vec<f32> = samples.iter().filter_map(|s| s.gpu_percent).collect();
        Some((
            samples.iter().map(|s| s.cpu_percent).sum::<f32>() / n,
            samples.iter().map(|s| s.mem_percent).sum::<f32>() / n,
            (!gpus.is_empty()).then(|| gpus.iter().sum::<f32>() / gpus.len() as f32),
        ))
    }
}

#[cfg(test)]
#[path = "data_tests.rs"]
pub(crate) mod tests;
