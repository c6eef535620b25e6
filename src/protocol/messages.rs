//! Every message that crosses a socket, in one versioned file. Any change to a type here must
//! bump [`PROTOCOL_VERSION`]: peers compare it in the handshake and refuse a mismatch.

use crate::autoalloc::info::{AllocationInfo, QueueInfo, QueueState};
use crate::autoalloc::state::DecisionInfo;
use crate::autoalloc::SubmitFailure;
use crate::autoalloc::{ManagerKind, QueueId, QueueParams};
use crate::common::idset::IdSet;
use crate::resources::{Allocation, ResourceAmount, ResourceDescriptor, ResourceRequestVariants};
use serde::{Deserialize, Serialize};

/// Version of the wire format; compared in the handshake.
pub const PROTOCOL_VERSION: u32 = 9;
/// Version of `hq` itself, also compared (access files carry it too).
pub const HQ_VERSION: &str = env!("CARGO_PKG_VERSION");

pub type JobId = u32;
pub type TaskId = u32;
pub type WorkerId = u32;
pub type InstanceId = u32;

// ---------------------------------------------------------------------------------------------
// Submissions
// ---------------------------------------------------------------------------------------------

/// Where a task's stdout or stderr goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StdioDef {
    /// Discarded (`none`).
    Null,
    /// A file path with placeholders; `rm_if_finished` deletes it after a finished task.
    File { path: String, rm_if_finished: bool },
    /// Sent to the job's stream directory.
    Stream,
}

/// The program a task runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramDesc {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Working directory with placeholders (default `%{SUBMIT_DIR}`).
    pub cwd: String,
    pub stdout: StdioDef,
    pub stderr: StdioDef,
    /// Bytes written to the task's stdin (empty: stdin is /dev/null).
    pub stdin: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PinMode {
    None,
    TaskSet,
    OpenMp,
}

/// How many worker losses a task survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrashLimit {
    Limit(u32),
    NeverRestart,
    Unlimited,
}

/// Everything tasks of one group share: stored once per group, not once per task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskBody {
    pub program: ProgramDesc,
    pub resources: ResourceRequestVariants,
    pub pin: PinMode,
    pub task_dir: bool,
    /// Kill and fail an execution running longer than this many milliseconds.
    pub time_limit_ms: Option<u64>,
    pub priority: i32,
    pub crash_limit: CrashLimit,
    /// Re-run a task whose program failed up to this many more times.
    pub max_retries: u32,
    /// Growth per retry: (`time_limit` or a resource name, factor); each retry multiplies by
    /// the factor again.
    pub retry_growth: Vec<(String, ResourceAmount)>,
    /// The program's strings are templates rendered per task by the worker (job-file steps).
    pub template: Option<BodyTemplate>,
}

/// Largest `--crash-limit` and `--max-retries`: the server counts crashes and retries of a task
/// in 16 bits, and a larger limit could never be reached.
pub const MAX_COUNT_LIMIT: u32 = u16::MAX as u32;

impl TaskBody {
    /// Checks the limits the server can honour; the error names the setting and its bound.
    pub fn check_limits(&self) -> Result<(), String> {
        if let CrashLimit::Limit(n) = self.crash_limit {
            if n == 0 || n > MAX_COUNT_LIMIT {
                return Err(format!(
                    "invalid crash limit {n}: use a number from 1 to {MAX_COUNT_LIMIT}, `never-restart` or `unlimited`"
                ));
            }
        }
        if self.max_retries > MAX_COUNT_LIMIT {
            return Err(format!(
                "invalid max retries {}: at most {MAX_COUNT_LIMIT}",
                self.max_retries
            ));
        }
        Ok(())
    }

    fn growth(&self, key: &str, retries: u32) -> Option<f64> {
        let (_, factor) = self.retry_growth.iter().find(|(k, _)| k == key)?;
        Some((factor.0 as f64 / 10_000.0).powi(retries as i32))
    }

    /// The time limit of an execution after `retries` retries.
    pub fn time_limit_after(&self, retries: u32) -> Option<u64> {
        let limit = self.time_limit_ms?;
        Some(match self.growth("time_limit", retries) {
            Some(f) => (limit as f64 * f).ceil() as u64,
            None => limit,
        })
    }

    /// The resource requests after `retries` retries, when any of them grows.
    pub fn resources_after(&self, retries: u32) -> Option<ResourceRequestVariants> {
        if retries == 0 || self.retry_growth.is_empty() {
            return None;
        }
        let grows = |name: &str| self.growth(name, retries);
        if !self
            .resources
            .variants
            .iter()
            .flat_map(|v| &v.resources)
            .any(|e| grows(&e.resource).is_some())
        {
            return None;
        }
        let mut grown = self.resources.clone();
        for entry in grown
            .variants
            .iter_mut()
            .flat_map(|v| v.resources.iter_mut())
        {
            if let Some(f) = grows(&entry.resource) {
                if let Some(amount) = entry.request.amount() {
                    let units = (amount.0 as f64 * f).ceil() as u64;
                    entry.request = entry.request.with_amount(ResourceAmount(units));
                }
            }
        }
        Some(grown)
    }
}

/// How a templated body becomes one task's program: the static variables as a JSON object;
/// each task adds its parameter values (its `HQ_ENTRY`) and `index = task ID - first_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyTemplate {
    pub context: String,
    pub first_id: TaskId,
}

/// Dependencies of every task `t` of a group: all IDs in `common`, and `t + o` for each offset.
/// Symbolic, so element-wise and fan-in dependencies of a million tasks stay small.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDeps {
    pub common: IdSet,
    pub offsets: Vec<i64>,
}

impl GroupDeps {
    pub fn is_empty(&self) -> bool {
        self.common.is_empty() && self.offsets.is_empty()
    }

    /// The concrete dependencies of task `task` (offsets that leave the u32 range are dropped).
    pub fn of_task(&self, task: TaskId) -> impl Iterator<Item = TaskId> + '_ {
        self.common.iter().chain(
            self.offsets
                .iter()
                .filter_map(move |o| u32::try_from(task as i64 + o).ok()),
        )
    }
}

/// Tasks sharing one body: an array (`--array`, `[array]`) or a single job-file task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskGroup {
    pub ids: IdSet,
    /// `HQ_ENTRY` values: the k-th entry belongs to the k-th smallest ID.
    pub entries: Option<Vec<Vec<u8>>>,
    pub body: TaskBody,
    pub deps: GroupDeps,
}

/// Which job a submission creates or extends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobTarget {
    New {
        name: String,
        max_fails: Option<u32>,
    },
    Existing(JobId),
}

/// One submission; groups are checked by the client's planner (no cycles, known deps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitRequest {
    pub target: JobTarget,
    pub submit_dir: String,
    /// `--stream DIR` with placeholders.
    pub stream_dir: Option<String>,
    pub groups: Vec<TaskGroup>,
    /// The IDs were chosen by the client without knowing the job (`hq submit --job` without
    /// `--array`): the server moves them to start after the job's largest task ID.
    pub ids_after_existing: bool,
}

// ---------------------------------------------------------------------------------------------
// Client <-> server
// ---------------------------------------------------------------------------------------------

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

// Field names of the hardware report follow the original's `hw-state` JSON (journal export,
// `hq worker info`), so scripts written for it read these unchanged. No `skip_serializing_if`:
// the journal encodes these with postcard, which needs every field.

/// One hardware report of a worker (`--overview-interval`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HwState {
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    pub cpu_usage: CpuUsage,
    pub memory_usage: MemoryUsage,
    /// Cumulative counters of all interfaces except loopback.
    pub network_usage: NetworkUsage,
    /// Cumulative bytes read and written on whole disks.
    pub disk_usage: DiskUsage,
    /// Rates since the previous report (bytes per second).
    pub rates: IoRates,
    /// `None`: the worker has no NVIDIA GPUs (or could not read them; see `gpu_note`).
    pub nvidia_gpus: Option<GpuFamilyState>,
    pub amd_gpus: Option<GpuFamilyState>,
    /// Why GPU state is missing, e.g. `no GPUs` or `nvidia: NVML not loaded, nvidia-smi failed`.
    pub gpu_note: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    pub cpu_per_core_percent_usage: Vec<f32>,
}

impl CpuUsage {
    /// Mean use over all cores, in percent.
    pub fn average(&self) -> f32 {
        let n = self.cpu_per_core_percent_usage.len();
        if n == 0 {
            return 0.0;
        }
        self.cpu_per_core_percent_usage.iter().sum::<f32>() / n as f32
    }
}

/// Bytes; `free` is what a new process could use (`MemAvailable`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryUsage {
    pub total: u64,
    pub free: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkUsage {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUsage {
    pub read_bytes: u64,
    pub write_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IoRates {
    pub net_rx_bytes_per_s: f64,
    pub net_tx_bytes_per_s: f64,
    pub disk_read_bytes_per_s: f64,
    pub disk_write_bytes_per_s: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuFamilyState {
    pub gpus: Vec<GpuState>,
}

/// Use of one GPU, in percent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuState {
    /// PCI bus ID.
    pub id: String,
    pub processor_usage: f32,
    pub mem_usage: f32,
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

// ---------------------------------------------------------------------------------------------
// Dashboard feed
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Worker <-> server
// ---------------------------------------------------------------------------------------------

/// Names a task body cached on a worker: (job, group index).
pub type BodyKey = (JobId, u32);

/// A body sent once per (job, group) before tasks that use it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyMsg {
    pub key: BodyKey,
    pub body: TaskBody,
    pub job_name: String,
    pub submit_dir: String,
    pub stream_dir: Option<String>,
}

/// One execution the worker must start now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAssignment {
    pub job: JobId,
    pub task: TaskId,
    pub instance: InstanceId,
    pub body: BodyKey,
    pub entry: Option<Vec<u8>>,
    pub variant: u32,
    /// Earlier failed attempts of this task that were retried (`--max-retries`).
    pub retries: u32,
    pub allocation: Allocation,

    /// Hostnames of all nodes of a multi-node task (root first); empty otherwise.
    pub nodes: Vec<String>,
    /// Queued behind this execution on the worker: start when it ends (at once if it already
    /// has), in its allocation, which `allocation` repeats. `None`: start now.
    pub after: Option<ExecutionKey>,
}

/// One execution of a task: job, task, instance.
pub type ExecutionKey = (JobId, TaskId, InstanceId);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskOutcome {
    Finished,
    Failed(String),
    /// Stopped on the server's request (cancel); not reported as failure.
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResult {
    pub job: JobId,
    pub task: TaskId,
    pub instance: InstanceId,
    pub outcome: TaskOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Answer to registration.
    Registered {
        worker_id: WorkerId,
        server_uid: String,
        server_idle_timeout_ms: Option<u64>,
        /// The server keeps a journal, so a restarted server will know this worker's tasks:
        /// only then does a `finish-running` worker wait for it to come back.
        server_has_journal: bool,
    },
    /// Bodies first, then assignments that use them.
    Compute {
        bodies: Vec<BodyMsg>,
        tasks: Vec<TaskAssignment>,
    },
    /// Stop these executions (cancel, abort); answered with `Stopped` results. A queued one is
    /// dropped without a result.
    Cancel(Vec<ExecutionKey>),
    /// Give back these queued executions if they have not started; answered with `Retracted`.
    Retract(Vec<ExecutionKey>),
    /// Forget cached bodies of a job that is done.
    ForgetJob(JobId),
    /// Whether the worker is held for a multi-node task: a node of a running one whose command
    /// runs elsewhere, or kept free for a waiting one. A held worker does not stop on its idle
    /// timeout; the timeout counts again from the release.
    SetReserved(bool),
    /// Stop the worker (`hq worker stop`).
    Stop,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    /// First message of a worker; `late_results` are executions it finished while it had no
    /// server (after `--on-server-lost finish-running`), applied before anything is scheduled.
    Register {
        config: Box<WorkerConfiguration>,
        late_results: Vec<TaskResult>,
    },

    Results(Vec<TaskResult>),
    Heartbeat,
    /// A hardware report (`--overview-interval`).
    Overview(Box<HwState>),
    /// The worker is going away for this reason (idle timeout, time limit).
    Leaving(WorkerState),
    /// The queued executions of a `Retract` that had not started; they never will here.
    Retracted(Vec<ExecutionKey>),
    /// These executions' processes were started (their output files are open): the server
    /// shows the tasks running from now on. Sent before any result of the same executions.
    Started(Vec<ExecutionKey>),
    /// A running execution sent `hq task notify MESSAGE` (checked by the worker).
    Notify {
        job: JobId,
        task: TaskId,
        instance: InstanceId,
        message: Vec<u8>,
    },
}

/// One `hq task notify` message as waiting clients get it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskNotification {
    pub job: JobId,
    pub task: TaskId,
    pub instance: InstanceId,
    pub worker: WorkerId,
    pub message: Vec<u8>,
}
