//! The dashboard feed: a bounded snapshot for each subscribed `hq dashboard`, then, at most
//! twice a second, the rows that changed since. Subscribers say what is on their screen
//! ([`DashboardView`]); only that job's page of tasks and that worker's history are sent.
//!
//! The feed is computed by comparing what a subscriber was last sent with the current state, so
//! it needs no hooks in the state transitions: the actor calls [`ServerCore::dashboard_tick`]
//! once per round, and the overview handler keeps each worker's recent history here.

use super::core::ServerCore;
use super::state::Job;
use crate::common::placeholders;
use crate::protocol::messages::*;
use crate::resources::fit::{request_line, why_never_runs};
use std::collections::{HashMap, VecDeque};
use tokio::sync::mpsc::UnboundedSender;

/// Reports kept per worker for the history chart.
pub(super) const HISTORY_LEN: usize = 120;
/// Least time between two updates to one subscriber.
const UPDATE_PERIOD_MS: u64 = 500;
/// Errors in task rows are cut to this many characters.
const ERROR_CHARS: usize = 300;

/// Subscribers and the recent history of each worker.
#[derive(Default)]
pub struct DashboardHub {
    subscribers: Vec<Subscriber>,
    history: HashMap<WorkerId, VecDeque<HwSample>>,
}

struct Subscriber {
    sender: UnboundedSender<ClientResponse>,
    state: FeedState,
    /// Core clock (ms) of the last message.
    last_sent: u64,
}

/// What one dashboard shows and what it was last sent, to compute changes.
#[derive(Default)]
pub(super) struct FeedState {
    pub(super) view: DashboardView,
    jobs: HashMap<JobId, DashJob>,
    workers: HashMap<WorkerId, DashWorker>,
    page: Option<TaskPage>,
    job_detail: Option<DashJobDetail>,
    worker_detail: Option<DashWorkerDetail>,
    queues: Option<Vec<DashQueue>>,
    queue_detail: Option<DashQueueDetail>,
    totals: TaskStats,
    job_count: u32,
}

impl DashboardHub {
    /// Adds a worker's report to its history.
    pub fn push_report(&mut self, id: WorkerId, state: &HwState) {
        let h = self.history.entry(id).or_default();
        if h.len() == HISTORY_LEN {
            h.pop_front();
        }
        h.push_back(crate::common::hwsummary::sample(state));
    }
}

impl ServerCore {
    /// `ClientRequest::Dashboard`: registers the subscriber and sends its snapshot.
    pub(super) fn dashboard_subscribe(
        &mut self,
        view: DashboardView,
        sender: UnboundedSender<ClientResponse>,
    ) {
        let mut sub = Subscriber {
            sender,
            state: FeedState::new(view),
            last_sent: self.now,
        };
        let (feed, _) = self.feed_for(&mut sub.state, true);
        self.outbox.reply(&sub.sender, wrap(feed));
        self.dashboard.subscribers.push(sub);
    }

    /// `ClientRequest::DashboardView` on a subscriber's connection: what it shows changed.
    pub(super) fn dashboard_view(
        &mut self,
        view: DashboardView,
        sender: &UnboundedSender<ClientResponse>,
    ) {
        let mut subs = std::mem::take(&mut self.dashboard.subscribers);
        if let Some(sub) = subs.iter_mut().find(|s| s.sender.same_channel(sender)) {
            sub.state.view = clamp(view);
            // Answer at once: the user waits for the rows of the new view.
            let (feed, _) = self.feed_for(&mut sub.state, false);
            self.outbox.reply(&sub.sender, wrap(feed));
        }
        self.dashboard.subscribers = subs;
    }

    /// Sends each subscriber what changed, at most every [`UPDATE_PERIOD`].
    pub fn dashboard_tick(&mut self) {
        if self.dashboard.subscribers.is_empty() {
            return;
        }
        let mut subs = std::mem::take(&mut self.dashboard.subscribers);
        subs.retain_mut(|sub| {
            if sub.sender.is_closed() {
                return false;
            }
            if self.now < sub.last_sent + UPDATE_PERIOD_MS {
                return true;
            }
            let (feed, changed) = self.feed_for(&mut sub.state, false);
            sub.last_sent = self.now;
            if changed {
                self.outbox.reply(&sub.sender, wrap(feed));
            }
            true
        });
        self.dashboard.subscribers = subs;
    }

    /// A full snapshot, or the changes since what `sub` was last sent, and whether anything
    /// changed; updates `sub`.
    pub(super) fn feed_for(&self, sub: &mut FeedState, full: bool) -> (DashboardFeed, bool) {
        let mut feed = DashboardFeed {
            full,
            now: self.now,
            server_uid: self.info.server_uid.clone(),
            server_started: self.info.start_date,
            journal: self.info.journal_path.clone(),
            ..Default::default()
        };
        let jobs: Vec<DashJob> = self
            .jobs
            .values()
            .rev()
            .take(DASHBOARD_JOB_LIMIT)
            .map(dash_job)
            .collect();
        diff_rows(
            &mut sub.jobs,
            jobs,
            full,
            |j| j.id,
            &mut feed.jobs,
            &mut feed.removed_jobs,
        );
        let workers = self.dash_workers();
        diff_rows(
            &mut sub.workers,
            workers,
            full,
            |w| w.id,
            &mut feed.workers,
            &mut feed.removed_workers,
        );
        let mut totals = TaskStats::default();
        for job in self.jobs.values() {
            totals.add(&job.stats);
        }
        feed.totals = totals;
        feed.job_count = self.jobs.len() as u32;
        let page = sub.view.job.and_then(|id| self.task_page(id, &sub.view));
        let detail = sub.view.job.and_then(|id| self.job_detail_row(id));
        let wdetail = sub.view.worker.and_then(|id| self.worker_detail(id));
        feed.tasks = changed(&mut sub.page, page, full);
        feed.job_detail = changed(&mut sub.job_detail, detail, full);
        feed.worker_detail = changed(&mut sub.worker_detail, wdetail, full);
        feed.queues = changed(&mut sub.queues, Some(self.dash_queues()), full);
        let qdetail = sub.view.queue.and_then(|id| self.dash_queue_detail(id));
        feed.queue_detail = changed(&mut sub.queue_detail, qdetail, full);
        let changed = full
            || (sub.totals, sub.job_count) != (feed.totals, feed.job_count)
            || !is_empty(&feed);
        sub.totals = feed.totals;
        sub.job_count = feed.job_count;
        (feed, changed)
    }

    fn dash_workers(&self) -> Vec<DashWorker> {
        let mut ids: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| w.connected)
            .map(|(id, _)| *id)
            .collect();
        let room = DASHBOARD_WORKER_LIMIT.saturating_sub(ids.len());
        ids.extend(
            self.workers
                .iter()
                .rev()
                .filter(|(_, w)| !w.connected)
                .take(room)
                .map(|(id, _)| *id),
        );
        ids.sort_unstable();
        ids.iter()
            .filter_map(|id| {
                let w = self.workers.get(id)?;
                let c = &w.info.configuration;
                Some(DashWorker {
                    id: *id,
                    hostname: c.hostname.clone(),
                    state: w.info.state,
                    group: c.group.clone(),
                    resources: c.resources.summary(),
                    running_tasks: if w.connected {
                        self.scheduler.running_on(*id) as u32
                    } else {
                        0
                    },
                    started_at: w.info.started_at,
                    ended_at: w.info.ended_at,
                    overview_interval_ms: c.overview_interval_ms,
                    overview: w.info.overview.clone(),
                })
            })
            .collect()
    }

    fn task_page(&self, id: JobId, view: &DashboardView) -> Option<TaskPage> {
        let job = self.jobs.get(&id)?;
        let (total, rows): (u32, Vec<usize>) = match view.task_filter {
            None => {
                let start = (view.task_offset as usize).min(job.tasks.len());
                let end = (start + view.task_limit as usize).min(job.tasks.len());
                (job.tasks.len() as u32, (start..end).collect())
            }
            Some(status) => {
                let rows = (0..job.tasks.len())
                    .filter(|i| job.tasks[*i].status == status)
                    .skip(view.task_offset as usize)
                    .take(view.task_limit as usize)
                    .collect();
                (count_of(&job.stats, status), rows)
            }
        };
        Some(TaskPage {
            job: id,
            offset: view.task_offset,
            filter: view.task_filter,
            total,
            rows: rows.into_iter().map(|i| self.dash_task(job, i)).collect(),
        })
    }

    fn dash_task(&self, job: &Job, idx: usize) -> DashTask {
        let t = &job.tasks[idx];
        let started = t.next_instance > 0 && t.started_ms.ms() > 0;
        let body = &job.groups[t.group as usize].body;
        let output = |def: &StdioDef| match def {
            StdioDef::Null => TaskOutput::None,
            StdioDef::Stream => TaskOutput::Stream(job.stream_dir.clone().unwrap_or_default()),
            StdioDef::File { path, .. } => {
                TaskOutput::File(task_path(&job.submit_dir, &body.program.cwd, path, t))
            }
        };
        DashTask {
            id: t.id,
            status: t.status,
            worker: (t.worker != 0).then(|| {
                let host = self
                    .workers
                    .get(&t.worker)
                    .map(|w| w.info.configuration.hostname.clone())
                    .unwrap_or_default();
                (t.worker, host)
            }),
            started_at: started.then_some(t.started_ms.ms()),
            finished_at: (t.status.is_terminal() && t.finished_ms.ms() > 0)
                .then_some(t.finished_ms.ms()),
            retries: t.retries as u32,
            crash_count: t.crash_count as u32,
            error: job
                .errors
                .get(&t.id)
                .map(|e| e.chars().take(ERROR_CHARS).collect()),
            stdout: output(&body.program.stdout),
            stderr: output(&body.program.stderr),
        }
    }

    fn job_detail_row(&self, id: JobId) -> Option<DashJobDetail> {
        let job = self.jobs.get(&id)?;
        let resources = job
            .groups
            .iter()
            .map(|g| {
                let vs: Vec<String> = g.body.resources.variants.iter().map(request_line).collect();
                vs.join(" | ")
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let command = job
            .groups
            .first()
            .map(|g| g.body.program.args.join(" "))
            .unwrap_or_default();
        Some(DashJobDetail {
            id,
            resources,
            command,
            submit_dir: job.submit_dir.clone(),
            wait_reasons: self.wait_reasons(job),
        })
    }

    /// Why waiting tasks of a job do not run: dependencies, resources no worker has, or busy
    /// workers. One scan of the job's tasks.
    fn wait_reasons(&self, job: &Job) -> Vec<String> {
        if job.stats.waiting == 0 {
            return vec![];
        }
        let mut blocked_tasks = 0u32;
        let mut blocked_deps = 0u64;
        let mut ready_per_group = vec![0u32; job.groups.len()];
        for t in job.tasks.iter().filter(|t| t.status == TaskStatus::Waiting) {
            if t.unfinished_deps > 0 {
                blocked_tasks += 1;
                blocked_deps += t.unfinished_deps as u64;
            } else {
                ready_per_group[t.group as usize] += 1;
            }
        }
        let mut reasons = Vec::new();
        if blocked_tasks == 1 {
            reasons.push(format!("blocked by {blocked_deps} unfinished dependencies"));
        } else if blocked_tasks > 1 {
            reasons.push(format!(
                "{blocked_tasks} tasks blocked by unfinished dependencies"
            ));
        }
        let live: Vec<&crate::resources::ResourceDescriptor> = self
            .workers
            .values()
            .filter(|w| w.connected)
            .map(|w| &w.info.configuration.resources)
            .collect();
        let mut busy = 0;
        for (g, ready) in job.groups.iter().zip(&ready_per_group) {
            if *ready == 0 {
                continue;
            }
            match why_never_runs(&g.body.resources, &live) {
                Some(why) if !reasons.contains(&why) => reasons.push(why),
                Some(_) => {}
                None => busy += ready,
            }
        }
        if busy > 0 {
            reasons.push(format!(
                "{busy} ready tasks wait for free resources on the connected workers"
            ));
        }
        if ready_per_group.iter().any(|n| *n > 0) {
            reasons.extend(self.allocation_wait_reason());
        }
        reasons
    }

    fn worker_detail(&self, id: WorkerId) -> Option<DashWorkerDetail> {
        let w = self.workers.get(&id)?;
        let mut tasks: Vec<(JobId, TaskId, u64)> = self
            .scheduler
            .running_tasks_on(id)
            .into_iter()
            .take(DASHBOARD_PAGE_LIMIT as usize)
            .map(|k| {
                let started = self
                    .jobs
                    .get(&k.job)
                    .and_then(|j| j.index_of(k.task).map(|i| j.tasks[i].started_ms.ms()))
                    .unwrap_or(0);
                (k.job, k.task, started)
            })
            .collect();
        tasks.sort_unstable();
        Some(DashWorkerDetail {
            id,
            history: self
                .dashboard
                .history
                .get(&id)
                .map(|h| h.iter().cloned().collect())
                .unwrap_or_default(),
            tasks,
            work_dir: w.info.configuration.work_dir.clone(),
            allocation: w
                .info
                .configuration
                .allocation
                .as_ref()
                .map(|a| format!("{} {}", a.manager.display_name(), a.id)),
        })
    }
}

impl FeedState {
    /// Nothing sent yet.
    pub(super) fn new(view: DashboardView) -> FeedState {
        FeedState {
            view: clamp(view),
            ..Default::default()
        }
    }
}

fn wrap(feed: DashboardFeed) -> ClientResponse {
    ClientResponse::Dashboard(Box::new(feed))
}

/// The page limit is capped so no view asks for more than a page.
fn clamp(mut view: DashboardView) -> DashboardView {
    if view.task_limit == 0 || view.task_limit > DASHBOARD_PAGE_LIMIT {
        view.task_limit = DASHBOARD_PAGE_LIMIT;
    }
    view
}

/// No rows in an update.
fn is_empty(f: &DashboardFeed) -> bool {
    f.jobs.is_empty()
        && f.removed_jobs.is_empty()
        && f.workers.is_empty()
        && f.removed_workers.is_empty()
        && f.tasks.is_none()
        && f.job_detail.is_none()
        && f.worker_detail.is_none()
        && f.queues.is_none()
        && f.queue_detail.is_none()
}

fn dash_job(j: &Job) -> DashJob {
    DashJob {
        id: j.id,
        name: j.name.clone(),
        is_open: j.is_open,
        stats: j.stats,
        submitted_at: j.submitted_at,
        completed_at: j.completed_at,
        cancel_reason: j.cancel_reason.clone(),
    }
}

fn count_of(s: &TaskStats, status: TaskStatus) -> u32 {
    match status {
        TaskStatus::Waiting => s.waiting,
        TaskStatus::Running => s.running,
        TaskStatus::Finished => s.finished,
        TaskStatus::Failed => s.failed,
        TaskStatus::Canceled => s.canceled,
        TaskStatus::Aborted => s.aborted,
    }
}

/// The task's stdout/stderr path with its placeholders filled, relative paths under its cwd.
fn task_path(submit_dir: &str, cwd: &str, path: &str, t: &super::state::Task) -> String {
    let fill = |text: &str, cwd: Option<&str>| {
        placeholders::fill(text, |n| match n {
            "TASK_ID" => Some(t.id.to_string()),
            "INSTANCE_ID" => Some(t.instance().to_string()),
            "CWD" => cwd.map(String::from),
            _ => None,
        })
    };
    let join = |base: &str, p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{}/{p}", base.trim_end_matches('/'))
        }
    };
    let cwd = join(submit_dir, &fill(cwd, None));
    join(&cwd, &fill(path, Some(&cwd)))
}

/// Rows that differ from what was sent (all of them when `full`), and IDs no longer shown.
fn diff_rows<K: std::hash::Hash + Eq + Copy, R: Clone + PartialEq>(
    sent: &mut HashMap<K, R>,
    current: Vec<R>,
    full: bool,
    key: impl Fn(&R) -> K,
    changed: &mut Vec<R>,
    removed: &mut Vec<K>,
) {
    let mut now: HashMap<K, R> = HashMap::with_capacity(current.len());
    for row in current {
        let k = key(&row);
        if full || sent.get(&k) != Some(&row) {
            changed.push(row.clone());
        }
        now.insert(k, row);
    }
    if !full {
        removed.extend(sent.keys().filter(|k| !now.contains_key(k)).copied());
    }
    *sent = now;
}

/// The new value if it differs from the last one sent (always when `full`).
fn changed<T: Clone + PartialEq>(last: &mut Option<T>, now: Option<T>, full: bool) -> Option<T> {
    let differs = full || *last != now;
    *last = now.clone();
    if differs {
        now
    } else {
        None
    }
}
