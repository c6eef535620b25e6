//! What clients see of queues and allocations (`hq alloc list/info`, the dashboard): plain
//! serialisable snapshots built from the state.

use super::events::{AllocationEnd, AllocationId, QueueId, SubmitFailure};
use super::params::QueueParams;
use super::state::{AllocStatus, Allocation, CommandCounts, DecisionInfo, Queue};
use crate::resources::ResourceDescriptor;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum QueueState {
    Active,
    /// `reason: None` when paused by the user.
    Paused {
        reason: Option<String>,
    },
}

/// A queue with its allocations and what it did last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueInfo {
    pub id: QueueId,
    pub params: QueueParams,
    pub state: QueueState,
    pub known_resources: Option<ResourceDescriptor>,
    /// Arguments of `hq worker start` in the submission scripts.
    pub worker_args: Vec<String>,
    pub allocations: Vec<AllocationInfo>,
    pub last_decision: Option<DecisionInfo>,
    /// The last submission failure, until a submission succeeds.
    pub last_failure: Option<SubmitFailure>,
    pub rate_limited_until: Option<u64>,
    pub submission_fails: u32,
    pub allocation_fails: u32,
    pub commands: CommandCounts,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocationInfo {
    pub id: AllocationId,
    pub target_worker_count: u32,
    pub connected_workers: u32,
    pub status: AllocStatus,
    pub queued_at: u64,
    pub started_at: Option<u64>,
    pub ended_at: Option<u64>,
    pub workdir: String,
    pub end: Option<AllocationEnd>,
}

impl Queue {
    pub fn info(&self, now: u64) -> QueueInfo {
        QueueInfo {
            id: self.id,
            params: self.params.clone(),
            state: match &self.paused {
                None => QueueState::Active,
                Some(reason) => QueueState::Paused {
                    reason: reason.clone(),
                },
            },
            known_resources: self.known_resources.clone(),
            worker_args: self.params.worker_args(None),
            allocations: self.allocations.iter().map(allocation_info).collect(),
            last_decision: self.last_decision.clone(),
            last_failure: self.last_failure.clone(),
            rate_limited_until: self.limiter.limited_until(now),
            submission_fails: self.limiter.submission_fails,
            allocation_fails: self.limiter.allocation_fails,
            commands: self.commands,
        }
    }
}

fn allocation_info(a: &Allocation) -> AllocationInfo {
    AllocationInfo {
        id: a.id.clone(),
        target_worker_count: a.target_workers,
        connected_workers: a.connected.len() as u32,
        status: a.status,
        queued_at: a.queued_at,
        started_at: a.started_at,
        ended_at: a.ended_at,
        workdir: a.workdir.clone(),
        end: a.end.clone(),
    }
}
