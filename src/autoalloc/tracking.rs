//! Allocation state tracking: workers connecting and leaving (the main source), and the
//! manager's answers to status queries (for what workers cannot tell: an allocation that never
//! started, was requeued, or whose workers all crashed). Functions return the recorded changes
//! to apply; bookkeeping that is not recorded (connected workers, error counts) happens here.

use super::events::{AllocEvent, AllocationEnd, AllocationId, QueueId};
use super::params::ManagerKind;
use super::state::{AllocStatus, Allocation, AutoAllocState};
use crate::protocol::messages::WorkerId;
use crate::resources::ResourceDescriptor;

/// A worker lost by a crash this soon after connecting counts as failing fast.
pub const FAST_FAIL_MS: u64 = 60_000;
/// Failed status queries in a row after which an allocation is given up.
pub const MAX_QUEUED_QUERY_ERRORS: u32 = 10;
pub const MAX_RUNNING_QUERY_ERRORS: u32 = 20;

/// What the manager says about an allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManagerState {
    Queued,
    Running,
    Finished,
    /// `counted`: whether this counts as a failure of the queue (preemption, node failure and
    /// cancellation do not).
    Failed {
        counted: bool,
        reason: String,
    },
}

/// The answer for one allocation of a status query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusAnswer {
    Known(ManagerState),
    /// The manager does not know the allocation (any more).
    Unknown,
    Error(String),
}

/// What a lost worker means for its allocation.
#[derive(Debug, PartialEq)]
pub enum LostOutcome {
    Nothing,
    Record(AllocEvent),
    /// Every worker crashed soon after connecting: ask the manager before counting a failure.
    Verify(QueueId, AllocationId),
}

impl AutoAllocState {
    fn locate(&mut self, kind: ManagerKind, id: &str) -> Option<(QueueId, &mut Allocation)> {
        self.queues
            .values_mut()
            .filter(|q| q.params.manager == kind)
            .find_map(|q| {
                let qid = q.id;
                q.allocation_mut(id).map(|a| (qid, a))
            })
    }

    /// A worker of allocation `id` connected.
    pub fn worker_connected(
        &mut self,
        kind: ManagerKind,
        id: &str,
        worker: WorkerId,
        resources: &ResourceDescriptor,
        now: u64,
    ) -> Vec<AllocEvent> {
        let Some((queue_id, a)) = self.locate(kind, id) else {
            return vec![];
        };
        let mut events = Vec::new();
        if !a.status.is_active() {
            // It ended as far as we knew (its workers stopped on a signal), but the manager
            // requeued it and it runs again.
            events.push(AllocEvent::AllocationRequeued {
                queue_id,
                allocation_id: id.to_string(),
            });
        }
        a.connected.push((worker, now));
        a.had_worker = true;
        a.verifying = false;
        if !matches!(a.status, AllocStatus::Running) {
            events.push(AllocEvent::AllocationStarted {
                queue_id,
                allocation_id: id.to_string(),
            });
        }
        let known = self
            .queues
            .get(&queue_id)
            .is_some_and(|q| q.known_resources.is_some());
        if !known {
            events.push(AllocEvent::WorkerResources {
                queue_id,
                resources: resources.clone(),
            });
        }
        events
    }

    /// A worker of allocation `id` went away; `crashed` for connection or heartbeat loss.
    pub fn worker_lost(
        &mut self,
        kind: ManagerKind,
        id: &str,
        worker: WorkerId,
        crashed: bool,
        now: u64,
    ) -> LostOutcome {
        let Some((queue_id, a)) = self.locate(kind, id) else {
            return LostOutcome::Nothing;
        };
        let Some(pos) = a.connected.iter().position(|(w, _)| *w == worker) else {
            return LostOutcome::Nothing;
        };
        let (_, connected_at) = a.connected.remove(pos);
        a.ended_workers
            .push(crashed && now.saturating_sub(connected_at) < FAST_FAIL_MS);
        if !a.connected.is_empty() || (a.ended_workers.len() as u32) < a.target_workers {
            return LostOutcome::Nothing;
        }
        if a.ended_workers.iter().all(|fast| *fast) {
            a.verifying = true;
            return LostOutcome::Verify(queue_id, id.to_string());
        }
        LostOutcome::Record(AllocEvent::AllocationFinished {
            queue_id,
            allocation_id: id.to_string(),
            end: AllocationEnd::Finished,
        })
    }

    /// Applies the answers of a status query of queue `queue_id`; returns changes to record.
    pub fn status_answers(
        &mut self,
        queue_id: QueueId,
        answers: &[(AllocationId, StatusAnswer)],
    ) -> Vec<AllocEvent> {
        let Some(q) = self.queues.get_mut(&queue_id) else {
            return vec![];
        };
        let mut events = Vec::new();
        for (id, answer) in answers {
            let Some(a) = q.allocation_mut(id) else {
                continue;
            };
            if !a.status.is_active() {
                continue;
            }
            let record = |end: AllocationEnd| AllocEvent::AllocationFinished {
                queue_id,
                allocation_id: id.clone(),
                end,
            };
            let change = match answer {
                StatusAnswer::Known(state) => {
                    a.query_errors = 0;
                    on_state(a, state).map(|c| c.into_event(queue_id, id))
                }
                StatusAnswer::Unknown => Some(record(gone(a))),
                StatusAnswer::Error(e) => {
                    a.query_errors += 1;
                    let limit = match a.status {
                        AllocStatus::Queued => MAX_QUEUED_QUERY_ERRORS,
                        _ => MAX_RUNNING_QUERY_ERRORS,
                    };
                    (a.query_errors > limit).then(|| {
                        record(match started(a) {
                            true => AllocationEnd::Finished,
                            false => AllocationEnd::Failed {
                                counted: true,
                                reason: format!(
                                    "its state could not be queried {} times in a row: {e}",
                                    a.query_errors
                                ),
                            },
                        })
                    })
                }
            };
            events.extend(change);
        }
        events
    }
}

/// A change of an allocation's state.
enum Change {
    Started,
    Requeued,
    Ended(AllocationEnd),
}

impl Change {
    fn into_event(self, queue_id: QueueId, id: &str) -> AllocEvent {
        let allocation_id = id.to_string();
        match self {
            Change::Started => AllocEvent::AllocationStarted {
                queue_id,
                allocation_id,
            },
            Change::Requeued => AllocEvent::AllocationRequeued {
                queue_id,
                allocation_id,
            },
            Change::Ended(end) => AllocEvent::AllocationFinished {
                queue_id,
                allocation_id,
                end,
            },
        }
    }
}

fn on_state(a: &Allocation, state: &ManagerState) -> Option<Change> {
    if a.verifying {
        return match state {
            // The node went back to the queue: its workers will come again.
            ManagerState::Queued => Some(Change::Requeued),
            ManagerState::Running => None,
            ManagerState::Failed { counted: false, .. } => Some(Change::Ended(ended_with(state))),
            _ => Some(Change::Ended(AllocationEnd::Failed {
                counted: true,
                reason: "every worker was lost within a minute of connecting".into(),
            })),
        };
    }
    match (a.status, state) {
        (AllocStatus::Queued, ManagerState::Running) => Some(Change::Started),
        (AllocStatus::Running, ManagerState::Queued) if a.connected.is_empty() => {
            Some(Change::Requeued)
        }
        (_, ManagerState::Finished | ManagerState::Failed { counted: true, .. })
            if !a.had_worker =>
        {
            let detail = match state {
                ManagerState::Failed { reason, .. } => format!("{reason}; "),
                _ => String::new(),
            };
            Some(Change::Ended(AllocationEnd::Failed {
                counted: true,
                reason: format!(
                    "the allocation ended before any worker connected ({detail}see `hq alloc \
                     log {} stderr`)",
                    a.id
                ),
            }))
        }
        (_, ManagerState::Finished | ManagerState::Failed { .. }) => {
            Some(Change::Ended(ended_with(state)))
        }
        _ => None,
    }
}

fn ended_with(state: &ManagerState) -> AllocationEnd {
    match state {
        ManagerState::Failed { counted, reason } => AllocationEnd::Failed {
            counted: *counted,
            reason: reason.clone(),
        },
        _ => AllocationEnd::Finished,
    }
}

/// An allocation the manager no longer knows: failed if it never started.
fn gone(a: &Allocation) -> AllocationEnd {
    if started(a) {
        AllocationEnd::Finished
    } else {
        AllocationEnd::Failed {
            counted: true,
            reason: "the manager does not know the allocation".into(),
        }
    }
}

fn started(a: &Allocation) -> bool {
    a.had_worker || a.status == AllocStatus::Running
}
