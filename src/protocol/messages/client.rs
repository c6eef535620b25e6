//! Client <-> server: selectors, job and task states and details, workers, explanations,
//! requests and responses.

use super::*;

/// A set of jobs or workers named on the command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdSelector {
    All,
    Last,
    Ids(IdSet),
}

impl IdSelector {
    /// The existing IDs (keys of `existing`) it names, and the IDs it names that do not exist,
    /// as ranges. Never expands a range: `0-4294967295` costs what the existing IDs cost.
    pub fn select<V>(&self, existing: &std::collections::BTreeMap<u32, V>) -> (Vec<u32>, IdSet) {
        match self {
            IdSelector::All => (existing.keys().copied().collect(), IdSet::new()),
            IdSelector::Last => (
                existing.keys().next_back().copied().into_iter().collect(),
                IdSet::new(),
            ),
            IdSelector::Ids(set) => set.split_existing(existing),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskStatus {
    Waiting,
    Running,
    Finished,
    Failed,
    Canceled,
    Aborted,
}

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Finished | TaskStatus::Failed | TaskStatus::Canceled | TaskStatus::Aborted
        )
    }
}

/// Job states as `hq job list --filter` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    Waiting,
    Running,
    Finished,
    Failed,
    Canceled,
    Aborted,
    Opened,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStats {
    pub waiting: u32,
    pub running: u32,
    pub finished: u32,
    pub failed: u32,
    pub canceled: u32,
    pub aborted: u32,
}

impl TaskStats {
    /// The job state these counts give (tasks.md: the first matching rule wins).
    pub fn job_status(&self, is_open: bool) -> JobStatus {
        if self.running > 0 {
            JobStatus::Running
        } else if self.waiting > 0 {
            JobStatus::Waiting
        } else if self.failed > 0 {
            JobStatus::Failed
        } else if self.aborted > 0 {
            JobStatus::Aborted
        } else if self.canceled > 0 {
            JobStatus::Canceled
        } else if is_open {
            JobStatus::Opened
        } else {
            JobStatus::Finished
        }
    }

    pub fn completed(&self) -> u32 {
        self.finished + self.failed + self.canceled + self.aborted
    }

    /// Adds another job's counts to these.
    pub fn add(&mut self, other: &TaskStats) {
        self.waiting += other.waiting;
        self.running += other.running;
        self.finished += other.finished;
        self.failed += other.failed;
        self.canceled += other.canceled;
        self.aborted += other.aborted;
    }
    pub fn total(&self) -> u32 {
        self.completed() + self.waiting + self.running
    }
}

/// One job of a `WaitJobs`: its task counts and whether the wait considers it done (completed,
/// forgotten, or with `without_close` every task completed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    pub id: JobId,
    pub stats: TaskStats,
    pub done: bool,
}

/// A failed task as `get_failed_tasks` reports it: the error and where the task ran and wrote
/// (placeholders resolved; `None` for a channel that is not a file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTask {
    pub id: TaskId,
    pub error: String,
    pub cwd: String,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

/// A row of `hq job list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    pub id: JobId,
    pub name: String,
    pub task_count: u32,
    pub is_open: bool,
    pub cancel_reason: Option<String>,
    pub stats: TaskStats,
}

impl JobInfo {
    /// The job's state as `hq job list` shows it.
    pub fn status(&self) -> JobStatus {
        self.stats.job_status(self.is_open)
    }
}

/// One task as `hq task list/info` and `hq job info` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDetail {
    pub id: TaskId,
    pub status: TaskStatus,
    pub instance: InstanceId,
    pub crash_count: u32,
    pub retries: u32,
    pub workers: Vec<(WorkerId, String)>,
    /// Milliseconds since the Unix epoch.
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub error: Option<String>,
    /// Index into `JobDetail::groups`.
    pub group: u32,
    pub deps: Vec<TaskId>,
    pub entry: Option<Vec<u8>>,
}

/// `hq job info`: the job, its groups (bodies) and, when asked, its tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDetail {
    pub info: JobInfo,
    pub max_fails: Option<u32>,
    pub submit_dir: String,
    pub submitted_at: u64,
    pub completed_at: Option<u64>,
    pub groups: Vec<TaskGroupSummary>,
    pub tasks: Vec<TaskDetail>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskGroupSummary {
    pub ids: IdSet,
    pub body: TaskBody,
}

/// Log lines a command produces on the server's side (`Job 3 canceled ...`), printed by the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogLine {
    Info(String),
    Warn(String),
    Error(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerConfiguration {
    pub hostname: String,
    pub work_dir: String,
    pub group: String,
    pub resources: ResourceDescriptor,
    pub heartbeat_ms: u64,
    pub idle_timeout_ms: Option<u64>,
    pub time_limit_ms: Option<u64>,
    pub on_server_lost: String,
    pub pid: u32,
    /// `hostname:port` of the worker's end of its server connection (`hq` has no
    /// worker-to-worker data transfer, so this is the one address a worker has).
    pub listen_address: String,
    /// `--min-utilization` (0 to 1): plan tasks here only when at least this fraction of the
    /// worker's CPUs would be busy.
    pub min_utilization: ResourceAmount,
    /// Period of hardware reports (`--overview-interval`); `None` = off.
    pub overview_interval_ms: Option<u64>,
    /// The PBS/Slurm allocation the worker runs in (`--manager`).
    pub allocation: Option<WorkerAllocation>,
}

/// The batch-system allocation of a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerAllocation {
    pub manager: ManagerKind,
    /// The manager's job ID (`SLURM_JOB_ID`, `PBS_JOBID`).
    pub id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerState {
    Running,
    ConnectionLost,
    HeartbeatLost,
    IdleTimeout,
    Stopped,
    TimeLimitReached,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub id: WorkerId,
    pub state: WorkerState,
    pub configuration: WorkerConfiguration,
    pub started_at: u64,
    pub ended_at: Option<u64>,
    pub running_tasks: u32,
    /// `Some(true)` on the main node of a running multi-node task, `Some(false)` on its other
    /// nodes.
    pub multi_node_main: Option<bool>,
    /// Kept free by the scheduler for a waiting multi-node task.
    pub reserved: bool,
    pub last_task_started: Option<(JobId, TaskId, u64)>,
    /// The latest hardware report (`--overview-interval`).
    pub overview: Option<HwState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub server_uid: String,
    pub client_host: String,
    pub worker_host: String,
    pub client_port: u16,
    pub worker_port: u16,
    pub version: String,
    pub pid: u32,
    pub start_date: u64,
    pub journal_path: Option<String>,
}

/// `hq task explain`: per worker and variant, whether each requirement is met.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskExplanation {
    pub job: JobId,
    pub task: TaskId,
    pub deps_total: u32,
    pub deps_unfinished: u32,
    pub workers: Vec<WorkerExplanation>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerExplanation {
    pub worker: WorkerId,
    /// One entry per resource variant of the task, in its order.
    pub variants: Vec<VariantExplanation>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantExplanation {
    /// Whether the variant could run on the worker when it is idle.
    pub runnable: bool,
    /// Every requirement of the variant: time first, then nodes or resources in request order.
    pub checks: Vec<ExplainCheck>,
}

/// One requirement of a variant against what a worker offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExplainCheck {
    /// `--time-request` against the worker's remaining lifetime (`None`: no time limit).
    Time {
        min_time_secs: u64,
        remaining_ms: Option<u64>,
        ok: bool,
    },
    /// A resource request against the worker's amount of that resource (0 if it has none).
    Resource {
        resource: String,
        request: crate::resources::AllocationRequest,
        provided: ResourceAmount,
        ok: bool,
    },
    /// The node count of a multi-node task against the size of the worker's group.
    Nodes {
        n_nodes: u32,
        group_size: u32,
        ok: bool,
    },
}

/// Requests a client sends; each gets exactly one [`ClientResponse`] except `WaitJobs`, which
/// gets `Progress` messages before its final `WaitDone`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientRequest {
    /// Creates or extends a job.
    Submit(Box<SubmitRequest>),
    /// `hq job open`.
    OpenJob {
        name: String,
        max_fails: Option<u32>,
    },
    /// `hq job close`.
    CloseJob { selector: IdSelector },
    /// `hq job cancel`.
    CancelJob {
        selector: IdSelector,
        reason: Option<String>,
    },
    /// `hq job forget`: drop completed jobs in the given states.
    ForgetJob {
        selector: IdSelector,
        filter: Vec<JobStatus>,
    },
    /// `hq job list`: every job's summary.
    JobList,
    /// `hq job info`, `hq task list/info`: details, with tasks when `include_tasks` (only the
    /// IDs in `tasks`, when given).
    JobDetail {
        selector: IdSelector,
        include_tasks: bool,
        tasks: Option<IdSet>,
    },
    /// `hq job wait/progress`, `submit --wait`: answered when the jobs are completed.
    WaitJobs {
        selector: IdSelector,
        without_close: bool,
        progress: bool,
        /// Also send the `hq task notify` messages of the waited jobs' tasks (`Notification`).
        notifications: bool,
    },
    /// The failed tasks of jobs with their errors and paths (the Python API's
    /// `get_failed_tasks`); cheaper than `JobDetail` with every task.
    FailedTasks { selector: IdSelector },
    /// `hq task explain`.
    TaskExplain { job: JobId, task: TaskId },
    /// `hq worker list/info`.
    WorkerList,
    /// `hq worker stop`.
    StopWorker { selector: IdSelector },
    /// `hq server info`.
    ServerInfo,
    /// `hq server stop`.
    StopServer,
    /// `hq journal flush`: write the journal to disk now.
    JournalFlush,
    /// `hq journal prune`: rewrite the journal without completed jobs and gone workers.
    JournalPrune,
    /// `hq journal replay` (`live: false`) and `hq journal stream` (`live: true`): answered with
    /// `EventLines` messages, then `Ok` (replay) or more lines until the server stops (stream).
    JournalEvents { live: bool },
    /// `hq server debug-dump`: answered with `DebugDump`.
    DebugDump,
    /// `hq dashboard`: answered with a full `Dashboard` feed message, then with changes until
    /// the client leaves. Everything in the feed is bounded (pages, newest jobs).
    Dashboard { view: DashboardView },
    /// Sent on a `Dashboard` connection when the user moves to other rows; not answered.
    DashboardView(DashboardView),
    /// `hq alloc ...`: automatic allocation queues.
    Alloc(AllocRequest),
}

/// Requests about allocation queues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AllocRequest {
    /// `hq alloc add`: creates a queue, after a test submission unless `dry_run` is false.
    /// Answered with `Log` (the queue ID in the text) or `Error`.
    Add {
        params: Box<QueueParams>,
        dry_run: bool,
    },
    /// `hq alloc dry-run`: only the test submission.
    DryRun {
        params: Box<QueueParams>,
    },
    /// `hq alloc list/info/log`, the dashboard: every queue (`None`) or one, with allocations.
    /// Answered with `AllocQueues`.
    Queues {
        queue: Option<QueueId>,
    },
    Pause {
        queue: QueueId,
    },
    Resume {
        queue: QueueId,
    },
    /// Cancels the queue's allocations, then removes it; refused while allocations run unless
    /// `force`.
    Remove {
        queue: QueueId,
        force: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientResponse {
    /// A submission or `job open` was accepted.
    JobCreated {
        job: JobId,
    },
    /// The request failed as a whole; the message is for the user.
    Error(String),
    /// Lines to log; `ok` is false when the command as a whole failed.
    Log {
        lines: Vec<LogLine>,
        ok: bool,
    },
    Jobs(Vec<JobInfo>),
    JobDetails {
        jobs: Vec<JobDetail>,
        /// Selected job IDs that do not exist.
        missing: IdSet,
    },
    /// Progress of a `WaitJobs` (only with `progress: true`): the first message names every
    /// waited job, later ones only the jobs that changed since the previous message.
    Progress {
        jobs: Vec<JobProgress>,
    },
    /// A task of a waited job sent `hq task notify MESSAGE` (only with `notifications: true`);
    /// in arrival order, before the `WaitDone`.
    Notification(TaskNotification),
    /// End of a `WaitJobs`: the final state of every waited job, and the selected IDs that
    /// name no job.
    WaitDone {
        jobs: Vec<JobProgress>,
        missing: IdSet,
    },
    /// Answer to `FailedTasks`: per job, its failed tasks.
    FailedTasks {
        jobs: Vec<(JobId, Vec<FailedTask>)>,
        /// Selected job IDs that do not exist.
        missing: IdSet,
    },
    Explain(TaskExplanation),
    Workers(Vec<WorkerInfo>),
    ServerInfo(ServerInfo),
    /// NDJSON lines of journal events.
    EventLines(Vec<String>),
    /// The server's internal state as a JSON document (`hq server debug-dump`).
    DebugDump(String),
    /// A dashboard snapshot (`full`) or the changes since the previous message.
    Dashboard(Box<DashboardFeed>),
    /// Allocation queues with their allocations.
    AllocQueues(Vec<QueueInfo>),
    Ok,
}
