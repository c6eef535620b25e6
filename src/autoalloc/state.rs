//! The autoalloc state: queues with their allocations, failure counters and last decision.
//! Recorded changes go through [`AutoAllocState::apply`]; what is not recorded (which workers
//! are connected now, query error counts) is rebuilt after a restart by workers reconnecting
//! and by the next status refresh.

use super::events::{AllocEvent, AllocationEnd, AllocationId, QueueId, SubmitFailure};
use super::limiter::{LimitsConfig, RateLimiter};
use super::params::QueueParams;
use crate::protocol::messages::WorkerId;
use crate::resources::ResourceDescriptor;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Directories of finished allocations kept over all queues.
pub const KEPT_FINISHED_DIRS: usize = 20;
/// Finished allocations remembered per queue (for `hq alloc info`).
pub const KEPT_FINISHED_ALLOCATIONS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AllocStatus {
    Queued,
    Running,
    Finished,
    Failed,
}

impl AllocStatus {
    pub fn is_active(self) -> bool {
        matches!(self, AllocStatus::Queued | AllocStatus::Running)
    }
}

/// One submitted allocation.
#[derive(Clone, Debug)]
pub struct Allocation {
    pub id: AllocationId,
    pub target_workers: u32,
    pub status: AllocStatus,
    pub queued_at: u64,
    pub started_at: Option<u64>,
    pub ended_at: Option<u64>,
    pub workdir: String,
    pub end: Option<AllocationEnd>,
    /// Workers connected now, with the time they connected.
    pub connected: Vec<(WorkerId, u64)>,
    /// Workers that ended; true for those lost by a crash soon after connecting.
    pub ended_workers: Vec<bool>,
    /// Any worker ever connected.
    pub had_worker: bool,
    /// Status queries that failed in a row.
    pub query_errors: u32,
    /// All workers crashed soon after connecting: the manager is asked whether the node was
    /// preempted or failed before the failure counts.
    pub verifying: bool,
}

/// Why the queue made its last decision (`hq alloc info`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionInfo {
    pub at: u64,
    /// What the queue did: `submitted 2 allocations (1 worker each)`, `nothing`, ...
    pub action: String,
    /// Why, in one line.
    pub reason: String,
    /// Ready tasks that no worker of this queue could run, with the reason.
    pub unrunnable: Vec<(u64, String)>,
}

/// How many manager commands a queue ran, by purpose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandCounts {
    pub submit: u32,
    pub status: u32,
    pub cancel: u32,
}

impl CommandCounts {
    pub fn total(&self) -> u32 {
        self.submit + self.status + self.cancel
    }
}

pub struct Queue {
    pub id: QueueId,
    pub params: QueueParams,
    /// `Some` while paused: `None` inside = by the user, else the automatic reason.
    pub paused: Option<Option<String>>,
    pub known_resources: Option<ResourceDescriptor>,
    /// Active allocations and the most recent finished ones, in submission order.
    pub allocations: Vec<Allocation>,
    /// Submissions so far (numbers the allocation directories).
    pub submissions: u32,
    pub limiter: RateLimiter,
    pub last_failure: Option<SubmitFailure>,
    pub last_decision: Option<DecisionInfo>,
    pub commands: CommandCounts,
}

impl Queue {
    pub fn active(&self) -> impl Iterator<Item = &Allocation> {
        self.allocations.iter().filter(|a| a.status.is_active())
    }

    pub fn queued(&self) -> impl Iterator<Item = &Allocation> {
        self.allocations
            .iter()
            .filter(|a| a.status == AllocStatus::Queued)
    }

    /// Workers of queued and running allocations.
    pub fn worker_count(&self) -> u32 {
        self.active().map(|a| a.target_workers).sum()
    }

    pub fn allocation_mut(&mut self, id: &str) -> Option<&mut Allocation> {
        self.allocations.iter_mut().find(|a| a.id == id)
    }

    /// How many more workers the queue may add now: backlog room times allocation size,
    /// capped by the maximal worker count.
    pub fn room_for_workers(&self) -> u32 {
        let queued = self.queued().count() as u32;
        let backlog_room = self.params.backlog.saturating_sub(queued);
        let by_backlog = backlog_room.saturating_mul(self.params.max_workers_per_alloc);
        match self.params.max_worker_count {
            Some(max) => by_backlog.min(max.saturating_sub(self.worker_count())),
            None => by_backlog,
        }
    }

    /// How often the manager is asked about the queue's allocations: often while some wait in
    /// the manager (or must be verified), rarely while all run (their workers report
    /// themselves); never without active allocations.
    pub fn refresh_interval(&self, queued_ms: u64, running_ms: u64) -> Option<u64> {
        let mut active = self.active().peekable();
        active.peek()?;
        match active.any(|a| a.status == AllocStatus::Queued || a.verifying) {
            true => Some(queued_ms),
            false => Some(running_ms),
        }
    }

    /// Why the queue should pause itself now, if it should.
    pub fn pause_reason(&self, config: &LimitsConfig) -> Option<String> {
        let l = &self.limiter;
        let last = || {
            self.last_failure
                .as_ref()
                .map(|f| format!("; last error: {}", f.message))
                .unwrap_or_default()
        };
        if l.submission_fails >= config.max_submission_fails {
            Some(format!(
                "paused after {} failed submissions in a row{}",
                l.submission_fails,
                last()
            ))
        } else if l.allocation_fails >= config.max_allocation_fails {
            let why = self
                .allocations
                .iter()
                .rev()
                .find_map(|a| match &a.end {
                    Some(AllocationEnd::Failed {
                        counted: true,
                        reason,
                    }) => Some(reason.clone()),
                    _ => None,
                })
                .map(|r| format!("; last: {r}"))
                .unwrap_or_default();
            Some(format!(
                "paused after {} failed allocations in a row{why}",
                l.allocation_fails
            ))
        } else {
            None
        }
    }
}

#[derive(Default)]
pub struct AutoAllocState {
    pub queues: BTreeMap<QueueId, Queue>,
    pub next_queue_id: QueueId,
    pub config: LimitsConfig,
    /// Directories of finished allocations and failed submissions, oldest first.
    pub finished_dirs: VecDeque<String>,
}

impl AutoAllocState {
    pub fn new(config: LimitsConfig) -> Self {
        AutoAllocState {
            queues: BTreeMap::new(),
            next_queue_id: 1,
            config,
            finished_dirs: VecDeque::new(),
        }
    }

    /// Applies a recorded change (live or from the journal) at time `now`.
    pub fn apply(&mut self, now: u64, event: &AllocEvent) {
        let delays = self.config.delays_ms.clone();
        match event {
            AllocEvent::QueueCreated { queue_id, params } => {
                self.next_queue_id = self.next_queue_id.max(queue_id + 1);
                self.queues.insert(*queue_id, new_queue(*queue_id, params));
            }
            AllocEvent::QueueRemoved { queue_id } => {
                self.next_queue_id = self.next_queue_id.max(queue_id + 1);
                self.queues.remove(queue_id);
            }
            AllocEvent::QueuePaused { queue_id, reason } => {
                self.with_queue(*queue_id, |q| q.paused = Some(reason.clone()));
            }
            AllocEvent::QueueResumed { queue_id } => self.with_queue(*queue_id, |q| {
                q.paused = None;
                q.limiter.clear(now);
            }),
            AllocEvent::WorkerResources {
                queue_id,
                resources,
            } => self.with_queue(*queue_id, |q| q.known_resources = Some(resources.clone())),
            AllocEvent::SubmissionFailed {
                queue_id,
                index,
                failure,
            } => {
                if let Some(dir) = failure.script.as_ref().and_then(|s| parent_dir(s)) {
                    self.finished_dirs.push_back(dir);
                }
                self.with_queue(*queue_id, |q| {
                    q.submissions = q.submissions.max(*index);
                    q.limiter.on_submission_failure(now, &delays);
                    q.last_failure = Some(failure.clone());
                });
            }
            AllocEvent::AllocationQueued {
                queue_id,
                allocation_id,
                worker_count,
                index,
                workdir,
            } => self.with_queue(*queue_id, |q| {
                q.submissions = q.submissions.max(*index);
                q.limiter.on_submission_success(now);
                q.last_failure = None;
                q.allocations
                    .push(new_allocation(allocation_id, *worker_count, now, workdir));
            }),
            AllocEvent::AllocationStarted {
                queue_id,
                allocation_id,
            } => self.with_allocation(*queue_id, allocation_id, |a| {
                a.status = AllocStatus::Running;
                a.started_at.get_or_insert(now);
            }),
            AllocEvent::AllocationRequeued {
                queue_id,
                allocation_id,
            } => {
                let mut dir = None;
                self.with_allocation(*queue_id, allocation_id, |a| {
                    a.status = AllocStatus::Queued;
                    a.started_at = None;
                    a.ended_at = None;
                    a.end = None;
                    a.ended_workers.clear();
                    a.verifying = false;
                    dir = Some(a.workdir.clone());
                });
                if let Some(dir) = dir {
                    self.finished_dirs.retain(|d| *d != dir);
                }
            }
            AllocEvent::AllocationFinished {
                queue_id,
                allocation_id,
                end,
            } => self.finish(now, *queue_id, allocation_id, end),
        }
    }

    fn finish(&mut self, now: u64, queue_id: QueueId, id: &str, end: &AllocationEnd) {
        let delays = self.config.delays_ms.clone();
        let Some(q) = self.queues.get_mut(&queue_id) else {
            return;
        };
        let Some(a) = q.allocation_mut(id) else {
            return;
        };
        if !a.status.is_active() {
            return;
        }
        a.status = match end {
            AllocationEnd::Finished | AllocationEnd::Cancelled { .. } => AllocStatus::Finished,
            AllocationEnd::Failed { .. } => AllocStatus::Failed,
        };
        a.ended_at = Some(now);
        a.end = Some(end.clone());
        a.connected.clear();
        a.verifying = false;
        let dir = a.workdir.clone();
        match end {
            AllocationEnd::Failed { counted: true, .. } => {
                q.limiter.on_allocation_failure(now, &delays)
            }
            AllocationEnd::Finished => q.limiter.on_allocation_success(now),
            AllocationEnd::Failed { counted: false, .. } | AllocationEnd::Cancelled { .. } => {}
        }
        self.finished_dirs.push_back(dir);
        let finished = q.allocations.len() - q.active().count();
        if finished > KEPT_FINISHED_ALLOCATIONS {
            if let Some(pos) = q.allocations.iter().position(|a| !a.status.is_active()) {
                q.allocations.remove(pos);
            }
        }
    }

    /// Directories over the limit of kept finished ones, oldest first; the caller deletes them.
    pub fn take_dirs_to_prune(&mut self) -> Vec<String> {
        let excess = self.finished_dirs.len().saturating_sub(KEPT_FINISHED_DIRS);
        self.finished_dirs.drain(..excess).collect()
    }

    fn with_queue(&mut self, id: QueueId, f: impl FnOnce(&mut Queue)) {
        if let Some(q) = self.queues.get_mut(&id) {
            f(q);
        }
    }

    fn with_allocation(&mut self, queue: QueueId, id: &str, f: impl FnOnce(&mut Allocation)) {
        if let Some(a) = self
            .queues
            .get_mut(&queue)
            .and_then(|q| q.allocation_mut(id))
        {
            f(a);
        }
    }
}

fn parent_dir(path: &str) -> Option<String> {
    std::path::Path::new(path)
        .parent()
        .map(|p| p.display().to_string())
}

fn new_queue(id: QueueId, params: &QueueParams) -> Queue {
    Queue {
        id,
        params: params.clone(),
        paused: None,
        known_resources: None,
        allocations: Vec::new(),
        submissions: 0,
        limiter: RateLimiter::default(),
        last_failure: None,
        last_decision: None,
        commands: CommandCounts::default(),
    }
}

fn new_allocation(id: &str, workers: u32, now: u64, workdir: &str) -> Allocation {
    Allocation {
        id: id.to_string(),
        target_workers: workers,
        status: AllocStatus::Queued,
        queued_at: now,
        started_at: None,
        ended_at: None,
        workdir: workdir.to_string(),
        end: None,
        connected: Vec::new(),
        ended_workers: Vec::new(),
        had_worker: false,
        query_errors: 0,
        verifying: false,
    }
}
