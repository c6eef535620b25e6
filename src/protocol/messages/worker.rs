//! Worker <-> server: task bodies, assignments, results, notifications.

use super::*;

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
