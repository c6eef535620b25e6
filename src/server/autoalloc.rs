//! The server side of autoalloc. The actor tells it what happens (worker connected or lost
//! with its allocation, tasks became ready, a round of events ended, operation results) and
//! forwards `hq alloc` requests; it answers with recorded changes for the journal and client
//! replies, and runs manager commands as separate tasks so the actor never waits for them.

use super::autoalloc_ops::{self as ops, AllocResult, Knobs, OpsContext};
use super::autoalloc_requests::removed;
use crate::autoalloc::events::AllocationEnd;
use crate::autoalloc::tracking::LostOutcome;
use crate::autoalloc::{decide, AllocEvent, AutoAllocState, QueueId, QueueParams};
use crate::protocol::messages::{
    ClientResponse, LogLine, WorkerAllocation, WorkerConfiguration, WorkerId, WorkerState,
};
use crate::scheduler::Scheduler;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

pub(super) type Reply = UnboundedSender<ClientResponse>;

pub struct AutoAllocService {
    pub state: AutoAllocState,
    pub(super) knobs: Knobs,
    pub(super) ctx: Option<Arc<OpsContext>>,
    /// Queues with a batch of submissions/cancellations running.
    pub(super) busy: HashSet<QueueId>,
    /// Queues with a status query running.
    pub(super) querying: HashSet<QueueId>,
    /// Time of each queue's last status query.
    pub(super) last_refresh: BTreeMap<QueueId, u64>,
    pub(super) dirty: bool,
    /// Ready tasks at the last check: any change (submitted, started, cancelled) is a reason
    /// for a pass.
    pub(super) last_ready: usize,
    pub(super) last_pass_ms: u64,
    pub(super) last_tick_ms: u64,
    pub(super) replies: HashMap<u64, Reply>,
    pub(super) next_token: u64,
    pub(super) dry_runs: u32,
    /// Recorded changes not yet journaled.
    pub(super) records: Vec<AllocEvent>,
    /// Replies to send once the journal holds the changes they acknowledge.
    pub(super) outgoing: Vec<(Reply, ClientResponse)>,
}

impl AutoAllocService {
    pub fn new() -> Self {
        AutoAllocService {
            state: AutoAllocState::new(ops::limits_from_env()),
            knobs: Knobs::from_env(),
            ctx: None,
            busy: HashSet::new(),
            querying: HashSet::new(),
            last_refresh: BTreeMap::new(),
            dirty: false,
            last_ready: 0,
            last_pass_ms: 0,
            last_tick_ms: 0,
            replies: HashMap::new(),
            next_token: 0,
            dry_runs: 0,
            records: Vec::new(),
            outgoing: Vec::new(),
        }
    }

    /// Connects the service to the running server (after a journal replay, if any).
    pub fn attach(&mut self, ctx: OpsContext) {
        self.ctx = Some(Arc::new(ctx));
        // Restored allocations: ask the manager about them at once.
        self.last_refresh.clear();
        ops::prune_dirs(self.state.take_dirs_to_prune());
    }

    /// Applies and records a change.
    pub(super) fn emit(&mut self, now: u64, event: AllocEvent) {
        self.state.apply(now, &event);
        self.records.push(event);
        self.dirty = true;
    }

    pub fn take_records(&mut self) -> Vec<AllocEvent> {
        std::mem::take(&mut self.records)
    }

    /// Replies whose changes are now in the journal.
    pub fn send_replies(&mut self) {
        for (reply, response) in self.outgoing.drain(..) {
            let _ = reply.send(response);
        }
    }

    pub fn worker_connected(&mut self, id: WorkerId, config: &WorkerConfiguration, now: u64) {
        let Some(a) = &config.allocation else { return };
        let events = self
            .state
            .worker_connected(a.manager, &a.id, id, &config.resources, now);
        for e in events {
            self.emit(now, e);
        }
        self.dirty = true;
    }

    pub fn worker_lost(
        &mut self,
        id: WorkerId,
        allocation: Option<&WorkerAllocation>,
        reason: WorkerState,
        now: u64,
    ) {
        let Some(a) = allocation else { return };
        let crashed = matches!(
            reason,
            WorkerState::ConnectionLost | WorkerState::HeartbeatLost
        );
        match self.state.worker_lost(a.manager, &a.id, id, crashed, now) {
            LostOutcome::Nothing => {}
            LostOutcome::Record(e) => self.emit(now, e),
            // Asked at the next check: was the node preempted or did the workers fail?
            LostOutcome::Verify(queue, _) => {
                self.last_refresh.insert(queue, 0);
            }
        }
        self.dirty = true;
    }

    /// A result of an operation started earlier.
    pub fn on_result(&mut self, result: AllocResult, now: u64) {
        match result {
            AllocResult::DryRunDone {
                token,
                params,
                create,
                outcome,
                commands: _,
            } => {
                let Some(reply) = self.replies.remove(&token) else {
                    return;
                };
                let response = match outcome {
                    Err(f) => ClientResponse::Error(format!(
                        "Dry-run (test allocation submission) has failed\n{}",
                        f.describe()
                    )),
                    Ok(()) => {
                        let ok = LogLine::Info(
                            "A trial allocation was submitted successfully. It was immediately \
                             canceled to avoid wasting resources."
                                .into(),
                        );
                        match create {
                            true => self.create_queue(*params, now, vec![ok]),
                            false => ClientResponse::Log {
                                lines: vec![ok],
                                ok: true,
                            },
                        }
                    }
                };
                self.outgoing.push((reply, response));
            }
            AllocResult::Submitted {
                queue,
                index,
                workers,
                workdir,
                outcome,
                commands,
            } => {
                self.count(queue, |c| c.submit += commands);
                let event = match outcome {
                    Ok(id) => {
                        log::info!(
                            "Queued allocation {id} with {workers} worker(s) for queue {queue}"
                        );
                        AllocEvent::AllocationQueued {
                            queue_id: queue,
                            allocation_id: id,
                            worker_count: workers,
                            index,
                            workdir,
                        }
                    }
                    Err(failure) => {
                        log::error!(
                            "Submitting an allocation of queue {queue} failed: {}",
                            failure.describe()
                        );
                        AllocEvent::SubmissionFailed {
                            queue_id: queue,
                            index,
                            failure,
                        }
                    }
                };
                self.emit(now, event);
                self.check_pause(queue, now);
            }
            AllocResult::Cancelled {
                queue,
                id,
                outcome,
                commands,
            } => {
                self.count(queue, |c| c.cancel += commands);
                if let Err(f) = &outcome {
                    log::warn!("Cancelling allocation {id} failed: {}", f.describe());
                }
                log::info!("Allocation {id} of queue {queue} was cancelled");
                self.emit(
                    now,
                    AllocEvent::AllocationFinished {
                        queue_id: queue,
                        allocation_id: id,
                        end: AllocationEnd::Cancelled {
                            reason: "cancelled by hq (scale-in or queue removal)".into(),
                        },
                    },
                );
            }
            AllocResult::BatchDone { queue, remove } => {
                self.busy.remove(&queue);
                if let Some(token) = remove {
                    self.emit(now, AllocEvent::QueueRemoved { queue_id: queue });
                    if let Some(reply) = self.replies.remove(&token) {
                        self.outgoing.push((reply, removed(queue)));
                    }
                }
            }
            AllocResult::Status {
                queue,
                answers,
                commands,
            } => {
                self.querying.remove(&queue);
                self.count(queue, |c| c.status += commands);
                for e in self.state.status_answers(queue, &answers) {
                    self.emit(now, e);
                }
                self.check_pause(queue, now);
            }
        }
        ops::prune_dirs(self.state.take_dirs_to_prune());
    }

    fn count(
        &mut self,
        queue: QueueId,
        f: impl FnOnce(&mut crate::autoalloc::state::CommandCounts),
    ) {
        if let Some(q) = self.state.queues.get_mut(&queue) {
            f(&mut q.commands);
        }
    }

    /// Pauses a queue whose submissions or allocations keep failing.
    fn check_pause(&mut self, queue: QueueId, now: u64) {
        let Some(q) = self.state.queues.get(&queue) else {
            return;
        };
        if q.paused.is_some() {
            return;
        }
        if let Some(reason) = q.pause_reason(&self.state.config) {
            let what = match q.limiter.submission_fails >= self.state.config.max_submission_fails {
                true => "failed submissions",
                false => "failed allocations",
            };
            log::warn!("The queue {queue} had too many {what}, it will be paused.");
            self.emit(
                now,
                AllocEvent::QueuePaused {
                    queue_id: queue,
                    reason: Some(reason),
                },
            );
        }
    }

    /// At the end of each round of the actor: scheduling passes and status queries when due.
    pub fn after_round(&mut self, scheduler: &Scheduler, now: u64) {
        if self.ctx.is_none() || self.state.queues.is_empty() {
            self.dirty = false;
            return;
        }
        if scheduler.ready_count() != self.last_ready {
            self.last_ready = scheduler.ready_count();
            self.dirty = true;
        }
        let since_pass = now.saturating_sub(self.last_pass_ms);
        let tick = now.saturating_sub(self.last_tick_ms) >= self.knobs.tick_ms;
        if tick {
            self.last_tick_ms = now;
        }
        let due = (self.dirty && since_pass >= self.knobs.min_pass_gap_ms)
            || (tick && since_pass >= self.knobs.max_schedule_delay_ms);
        if due {
            self.dirty = false;
            self.last_pass_ms = now;
            self.pass(scheduler, now);
        }
        self.refresh(now);
    }

    /// One scheduling pass over the queues.
    fn pass(&mut self, scheduler: &Scheduler, now: u64) {
        let Some(ctx) = self.ctx.clone() else { return };
        let ids: Vec<QueueId> = self.state.queues.keys().copied().collect();
        for id in ids {
            if self.busy.contains(&id) {
                continue;
            }
            let Some(q) = self.state.queues.get_mut(&id) else {
                continue;
            };
            let shape = q.shape();
            let sizes = q.queued_sizes();
            let report = scheduler.demand(&q.demand_query(&shape, &sizes), now);
            let decision = decide(q, &report, now);
            log::debug!(
                "queue {id}: {} ({}); demand {report:?}",
                decision.info.action,
                decision.info.reason
            );
            q.last_decision = Some(decision.info);
            if decision.submit.is_empty() && decision.cancel.is_empty() {
                continue;
            }
            let first = q.submissions + 1;
            let planned: Vec<ops::PlannedSubmit> = decision
                .submit
                .iter()
                .enumerate()
                .map(|(i, workers)| (first + i as u32, *workers))
                .collect();
            q.submissions += planned.len() as u32;
            self.busy.insert(id);
            let batch = ops::run_batch(
                ctx.clone(),
                id,
                q.params.clone(),
                decision.cancel,
                planned,
                None,
            );
            tokio::spawn(batch);
        }
    }

    /// Starts status queries of queues that are due: often while allocations wait in the
    /// manager, rarely while they all run (their workers report themselves).
    fn refresh(&mut self, now: u64) {
        let Some(ctx) = self.ctx.clone() else { return };
        for q in self.state.queues.values() {
            if self.querying.contains(&q.id) {
                continue;
            }
            let Some(interval) =
                q.refresh_interval(self.knobs.refresh_queued_ms, self.knobs.refresh_running_ms)
            else {
                continue;
            };
            let last = self.last_refresh.get(&q.id).copied().unwrap_or(0);
            if now.saturating_sub(last) < interval {
                continue;
            }
            self.last_refresh.insert(q.id, now);
            self.querying.insert(q.id);
            let ids: Vec<String> = q.active().map(|a| a.id.clone()).collect();
            tokio::spawn(ops::query_status(ctx.clone(), q.id, q.params.clone(), ids));
        }
    }

    /// Whether `hq journal prune` keeps a recorded change: everything about queues that still
    /// exist except finished allocations and failed submissions; removals keep the queue IDs.
    pub fn keep_in_pruned_journal(&self, event: &AllocEvent) -> bool {
        let queue_exists = |id: &QueueId| self.state.queues.contains_key(id);
        let active = |q: &QueueId, a: &str| {
            self.state.queues.get(q).is_some_and(|q| {
                q.allocations
                    .iter()
                    .any(|x| x.id == a && x.status.is_active())
            })
        };
        match event {
            AllocEvent::QueueCreated { queue_id, .. }
            | AllocEvent::QueuePaused { queue_id, .. }
            | AllocEvent::QueueResumed { queue_id }
            | AllocEvent::WorkerResources { queue_id, .. } => queue_exists(queue_id),
            AllocEvent::QueueRemoved { .. } => true,
            AllocEvent::SubmissionFailed { .. } => false,
            AllocEvent::AllocationQueued {
                queue_id,
                allocation_id,
                ..
            }
            | AllocEvent::AllocationStarted {
                queue_id,
                allocation_id,
            }
            | AllocEvent::AllocationRequeued {
                queue_id,
                allocation_id,
            }
            | AllocEvent::AllocationFinished {
                queue_id,
                allocation_id,
                ..
            } => active(queue_id, allocation_id),
        }
    }

    /// Server shutdown: cancels every queued and running allocation.
    pub async fn shutdown(&mut self) {
        let Some(ctx) = self.ctx.clone() else { return };
        let all: Vec<(QueueParams, String)> = self
            .state
            .queues
            .values()
            .flat_map(|q| q.active().map(|a| (q.params.clone(), a.id.clone())))
            .collect();
        if !all.is_empty() {
            ops::cancel_all(&ctx, all, std::time::Duration::from_secs(30)).await;
        }
    }
}
