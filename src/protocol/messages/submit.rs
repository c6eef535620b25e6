//! Submissions: task bodies, groups and what `hq submit` / job files send.

use super::*;

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
