//! The recorded changes of autoalloc state. Live handling and journal replay both apply them
//! through [`super::AutoAllocState::apply`], so a restored server has the same queues, pause
//! states, allocations and failure counters.

use super::params::QueueParams;
use crate::resources::ResourceDescriptor;
use serde::{Deserialize, Serialize};

pub type QueueId = u32;
/// The manager's job ID (Slurm `12345`, PBS `12345.server`).
pub type AllocationId = String;

/// One autoalloc state change. Names and fields appear in `hq journal export` as
/// `autoalloc-<name>` with kebab-case fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocEvent {
    #[serde(rename_all = "kebab-case")]
    QueueCreated {
        queue_id: QueueId,
        params: Box<QueueParams>,
    },
    #[serde(rename_all = "kebab-case")]
    QueueRemoved { queue_id: QueueId },
    /// By the user (`reason: None`) or automatically after repeated failures.
    #[serde(rename_all = "kebab-case")]
    QueuePaused {
        queue_id: QueueId,
        reason: Option<String>,
    },
    #[serde(rename_all = "kebab-case")]
    QueueResumed { queue_id: QueueId },
    /// The resources of the queue's first connected worker: from now on demand is computed
    /// for workers of exactly this shape.
    #[serde(rename_all = "kebab-case")]
    WorkerResources {
        queue_id: QueueId,
        resources: ResourceDescriptor,
    },
    #[serde(rename_all = "kebab-case")]
    SubmissionFailed {
        queue_id: QueueId,
        index: u32,
        failure: SubmitFailure,
    },
    #[serde(rename_all = "kebab-case")]
    AllocationQueued {
        queue_id: QueueId,
        allocation_id: AllocationId,
        worker_count: u32,
        index: u32,
        workdir: String,
    },
    #[serde(rename_all = "kebab-case")]
    AllocationStarted {
        queue_id: QueueId,
        allocation_id: AllocationId,
    },
    /// The manager put a started allocation back into its queue (requeue, preemption).
    #[serde(rename_all = "kebab-case")]
    AllocationRequeued {
        queue_id: QueueId,
        allocation_id: AllocationId,
    },
    #[serde(rename_all = "kebab-case")]
    AllocationFinished {
        queue_id: QueueId,
        allocation_id: AllocationId,
        end: AllocationEnd,
    },
}

impl AllocEvent {
    /// One line for a timeline (`hq dashboard replay`); `None` for bookkeeping.
    pub fn summary(&self) -> Option<String> {
        Some(match self {
            AllocEvent::QueueCreated { queue_id, params } => format!(
                "allocation queue {queue_id} created ({})",
                params.manager.display_name()
            ),
            AllocEvent::QueueRemoved { queue_id } => format!("allocation queue {queue_id} removed"),
            AllocEvent::QueuePaused { queue_id, reason } => match reason {
                Some(r) => format!("allocation queue {queue_id} {r}"),
                None => format!("allocation queue {queue_id} paused"),
            },
            AllocEvent::QueueResumed { queue_id } => format!("allocation queue {queue_id} resumed"),
            AllocEvent::WorkerResources { .. } => return None,
            AllocEvent::SubmissionFailed {
                queue_id, failure, ..
            } => format!("queue {queue_id}: submission failed: {}", failure.message),
            AllocEvent::AllocationQueued {
                queue_id,
                allocation_id,
                worker_count,
                ..
            } => format!(
                "queue {queue_id}: allocation {allocation_id} queued ({worker_count} worker(s))"
            ),
            AllocEvent::AllocationStarted {
                queue_id,
                allocation_id,
            } => format!("queue {queue_id}: allocation {allocation_id} started"),
            AllocEvent::AllocationRequeued {
                queue_id,
                allocation_id,
            } => format!("queue {queue_id}: allocation {allocation_id} requeued"),
            AllocEvent::AllocationFinished {
                queue_id,
                allocation_id,
                end,
            } => match end {
                AllocationEnd::Finished => {
                    format!("queue {queue_id}: allocation {allocation_id} finished")
                }
                AllocationEnd::Failed { reason, .. } | AllocationEnd::Cancelled { reason } => {
                    format!("queue {queue_id}: allocation {allocation_id} ended: {reason}")
                }
            },
        })
    }
}

/// How an allocation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocationEnd {
    /// Normally (workers ended by idle timeout, time limit, stop; or the manager says so).
    Finished,
    /// Failed; `counted` failures raise the rate limit and may pause the queue, others
    /// (preemption, node failure, cancellation) do not.
    Failed { counted: bool, reason: String },
    /// Cancelled by `hq` (scale-in, queue removal); shown as finished.
    Cancelled { reason: String },
}

/// Why a submission (or a dry run) failed, as the manager answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitFailure {
    /// The command line that was run.
    pub command: String,
    /// What went wrong, in one line.
    pub message: String,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The submission script, kept for inspection.
    pub script: Option<String>,
}

impl SubmitFailure {
    /// Multi-line text: the message, exit code, stderr, stdout, script path.
    pub fn describe(&self) -> String {
        let mut out = self.message.clone();
        if let Some(code) = self.exit_code {
            out.push_str(&format!("\nExit code: {code}"));
        }
        let stderr = self.stderr.trim();
        if !stderr.is_empty() {
            out.push_str(&format!("\nStderr: {stderr}"));
        }
        let stdout = self.stdout.trim();
        if !stdout.is_empty() {
            out.push_str(&format!("\nStdout: {stdout}"));
        }
        if let Some(script) = &self.script {
            out.push_str(&format!("\nScript: {script}"));
        }
        out
    }
}
