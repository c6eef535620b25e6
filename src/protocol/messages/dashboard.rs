//! The dashboard feed: what the dashboard views and the bounded rows the server sends.

use super::*;

/// Which rows the dashboard shows now: the server sends only these (a page of one job's tasks,
/// one worker's history), so a million-task job never ships a million rows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardView {
    /// The job whose details and tasks are shown.
    pub job: Option<JobId>,
    pub task_offset: u32,
    /// At most [`DASHBOARD_PAGE_LIMIT`] rows are sent.
    pub task_limit: u32,
    /// Only tasks in this state.
    pub task_filter: Option<TaskStatus>,
    /// The worker whose history and tasks are shown.
    pub worker: Option<WorkerId>,
    /// The allocation queue whose allocations are shown.
    pub queue: Option<QueueId>,
}

/// Most task rows in one feed message.
pub const DASHBOARD_PAGE_LIMIT: u32 = 500;
/// Most jobs in the feed (the newest ones); `job_count` tells how many exist.
pub const DASHBOARD_JOB_LIMIT: usize = 500;
/// Most workers in the feed (running ones first, then the most recent).
pub const DASHBOARD_WORKER_LIMIT: usize = 2000;
/// Most allocation queues in the feed.
pub const DASHBOARD_QUEUE_LIMIT: usize = 100;
/// Most allocations of the viewed queue in the feed (the newest ones).
pub const DASHBOARD_ALLOCATION_LIMIT: usize = 200;

/// One feed message. With `full`, the client replaces its model; otherwise it updates the rows
/// that are present, removes `removed_jobs`/`removed_workers` and keeps everything else.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DashboardFeed {
    pub full: bool,
    /// Server time (ms since the Unix epoch) of this message.
    pub now: u64,
    pub server_uid: String,
    pub server_started: u64,
    pub journal: Option<String>,
    pub workers: Vec<DashWorker>,
    pub removed_workers: Vec<WorkerId>,
    pub jobs: Vec<DashJob>,
    pub removed_jobs: Vec<JobId>,
    /// Number of jobs on the server (the feed carries at most [`DASHBOARD_JOB_LIMIT`]).
    pub job_count: u32,
    /// Task counts over all jobs.
    pub totals: TaskStats,
    /// The page of the viewed job (always in a full message; in an update only when changed).
    pub tasks: Option<TaskPage>,
    /// The viewed job's details, when changed.
    pub job_detail: Option<DashJobDetail>,
    /// The viewed worker's recent reports and tasks, when changed.
    pub worker_detail: Option<DashWorkerDetail>,
    /// (time, text) of past events, oldest first, when the server has them (a replayed
    /// journal); it replaces the timeline the client derives itself.
    pub timeline: Vec<(u64, String)>,
    /// Allocation queues without their allocations (always in a full message; in an update
    /// only when changed).
    pub queues: Option<Vec<DashQueue>>,
    /// The viewed queue's newest allocations, when changed.
    pub queue_detail: Option<DashQueueDetail>,
}

/// An allocation queue as the dashboard lists it: parameters, counts, and what it did last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashQueue {
    pub id: QueueId,
    pub manager: ManagerKind,
    pub name: Option<String>,
    pub state: QueueState,
    pub backlog: u32,
    pub workers_per_alloc: u32,
    pub max_worker_count: Option<u32>,
    pub time_limit_secs: u64,
    /// Arguments given to `sbatch`/`qsub`.
    pub args: Vec<String>,
    pub queued: u32,
    pub running: u32,
    /// Allocations the server remembers (active and recent finished ones).
    pub allocations: u32,
    pub last_decision: Option<DecisionInfo>,
    /// The last submission failure (stdout and stderr cut to a few thousand characters).
    pub last_failure: Option<SubmitFailure>,
    pub rate_limited_until: Option<u64>,
}

/// The viewed queue's allocations, newest first, at most [`DASHBOARD_ALLOCATION_LIMIT`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashQueueDetail {
    pub id: QueueId,
    /// Allocations the server remembers of this queue.
    pub total: u32,
    pub allocations: Vec<AllocationInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashWorker {
    pub id: WorkerId,
    pub hostname: String,
    pub state: WorkerState,
    pub group: String,
    /// One-line resources (`cpus 4; mem 15.6 GiB`).
    pub resources: String,
    pub running_tasks: u32,
    pub started_at: u64,
    pub ended_at: Option<u64>,
    pub overview_interval_ms: Option<u64>,
    pub overview: Option<HwState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashJob {
    pub id: JobId,
    pub name: String,
    pub is_open: bool,
    pub stats: TaskStats,
    pub submitted_at: u64,
    pub completed_at: Option<u64>,
    pub cancel_reason: Option<String>,
}

/// The viewed job: what it asks for, what it runs, and why it waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashJobDetail {
    pub id: JobId,
    /// One line per group of tasks (`cpus: 1 compact`).
    pub resources: Vec<String>,
    /// The first group's command line.
    pub command: String,
    pub submit_dir: String,
    /// E.g. `blocked by 40 unfinished dependencies`, `no connected worker has gpus`.
    pub wait_reasons: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskPage {
    pub job: JobId,
    pub offset: u32,
    pub filter: Option<TaskStatus>,
    /// Tasks matching the filter.
    pub total: u32,
    pub rows: Vec<DashTask>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashTask {
    pub id: TaskId,
    pub status: TaskStatus,
    pub worker: Option<(WorkerId, String)>,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub retries: u32,
    pub crash_count: u32,
    /// Cut to a few hundred characters.
    pub error: Option<String>,
    pub stdout: TaskOutput,
    pub stderr: TaskOutput,
}

/// Where a task's channel went, for the dashboard to read its tail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskOutput {
    None,
    File(String),
    /// In the job's stream directory (`--stream`).
    Stream(String),
}

/// A point of a worker's history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HwSample {
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    pub cpu_percent: f32,
    pub mem_percent: f32,
    /// Mean over the worker's GPUs, when it reports any.
    pub gpu_percent: Option<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashWorkerDetail {
    pub id: WorkerId,
    pub history: Vec<HwSample>,
    /// (job, task, started at) of what runs there now (at most a page).
    pub tasks: Vec<(JobId, TaskId, u64)>,
    pub work_dir: String,
    /// Allocation that started the worker (manager and ID), when known.
    pub allocation: Option<String>,
}
