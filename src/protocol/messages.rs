//! Every message that crosses a socket, in one versioned file. Any change to a type here must
//! bump [`PROTOCOL_VERSION`]: peers compare it in the handshake and refuse a mismatch.

use crate::autoalloc::info::QueueInfo;
use crate::autoalloc::{ManagerKind, QueueId, QueueParams};
use crate::common::idset::IdSet;
use crate::resources::{Allocation, ResourceAmount, ResourceDescriptor, ResourceRequestVariants};
use serde::{Deserialize, Serialize};

/// Version of the wire format; compared in the handshake.
pub const PROTOCOL_VERSION: u32 = 4;
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

impl TaskBody {
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
    pub listen_address: String,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub id: WorkerId,
    pub state: WorkerState,
    pub configuration: WorkerConfiguration,
    pub started_at: u64,
    pub ended_at: Option<u64>,
    pub running_tasks: u32,
    pub last_task_started: Option<(JobId, TaskId, u64)>,
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
    pub task: TaskId,
    pub deps_total: u32,
    pub deps_unfinished: u32,
    pub workers: Vec<WorkerExplanation>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerExplanation {
    pub worker: WorkerId,
    pub runnable: bool,
    /// (variant index, resource or `time`/`nodes`, provided, requested, satisfied)
    pub checks: Vec<(u32, String, String, String, bool)>,
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
    /// Allocation queues with their allocations.
    AllocQueues(Vec<QueueInfo>),
    Ok,
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
}

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
    },
    /// Bodies first, then assignments that use them.
    Compute {
        bodies: Vec<BodyMsg>,
        tasks: Vec<TaskAssignment>,
    },
    /// Stop these executions (cancel, abort); answered with `Stopped` results.
    Cancel(Vec<(JobId, TaskId, InstanceId)>),
    /// Forget cached bodies of a job that is done.
    ForgetJob(JobId),
    /// Stop the worker (`hq worker stop`, server shutdown).
    Stop,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromWorker {
    /// First message of a worker; `late_results` are executions it finished while it had no
    /// server (after `--on-server-lost finish-running`), applied before anything is scheduled.
    Register {
        config: Box<WorkerConfiguration>,
        late_results: Vec<TaskResult>,
    },

    Results(Vec<TaskResult>),
    Heartbeat,
    /// The worker is going away for this reason (idle timeout, time limit).
    Leaving(WorkerState),
}
