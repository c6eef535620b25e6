//! The server side of autoalloc. The core tells it what happens (a worker connected or was
//! lost with its allocation, a round of events ended, an operation finished) and forwards
//! `hq alloc` requests; it answers with the changes to commit (`AllocEvent`s, which the core
//! journals and applies through `ServerCore::apply` like every other event) and client replies,
//! and runs manager commands as separate tasks so the actor never waits for them.

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

pub(super) use super::outbox::Reply;

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
    /// The earliest end of a queue's rate limit seen by the last pass: a pass then.
    wake_at: Option<u64>,
    pub(super) replies: HashMap<u64, Reply>,
    pub(super) next_token: u64,
    pub(super) dry_runs: u32,
    /// Where allocation directories go, known once the run directory exists.
    setup: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// What a finished operation leads to.
#[derive(Default)]
pub struct ResultOutput {
    /// Changes to commit.
    pub events: Vec<AllocEvent>,
    /// Answers to clients, sent after the round's journal flush.
    pub replies: Vec<(Reply, ClientResponse)>,
    /// The dry run of `hq alloc add` succeeded: create the queue (committed like a request).
    pub create: Option<(QueueParams, Reply, LogLine)>,
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
            wake_at: None,
            replies: HashMap::new(),
            next_token: 0,
            dry_runs: 0,
            setup: None,
        }
    }

    /// Names the run directory (allocation directories) and the server directory (given to
    /// workers) before the server runs.
    pub fn configure(&mut self, run_dir: std::path::PathBuf, server_dir: std::path::PathBuf) {
        self.setup = Some((run_dir, server_dir));
    }

    /// Starts the service when the actor runs: results come back on `events`. Allocations
    /// restored from the journal are asked about at once.
    pub fn attach(&mut self, events: UnboundedSender<super::actor::Event>) {
        let Some((run_dir, server_dir)) = self.setup.clone() else {
            return;
        };
        self.ctx = Some(Arc::new(OpsContext {
            events,
            runner: crate::autoalloc::manager::ProcessRunner {
                timeout: self.knobs.command_timeout,
            },
            run_dir,
            server_dir,
            hq_path: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "hq".into()),
            rust_log: std::env::var("RUST_LOG").ok(),
        }));
        self.last_refresh.clear();
        self.prune_dirs();
    }

    /// Deletes directories of finished allocations beyond the kept ones.
    pub fn prune_dirs(&mut self) {
        if self.ctx.is_some() {
            ops::prune_dirs(self.state.take_dirs_to_prune());
        }
    }

    pub fn worker_connected(
        &mut self,
        id: WorkerId,
        config: &WorkerConfiguration,
        now: u64,
    ) -> Vec<AllocEvent> {
        let Some(a) = &config.allocation else {
            return vec![];
        };
        self.dirty = true;
        self.state
            .worker_connected(a.manager, &a.id, id, &config.resources, now)
    }

    pub fn worker_lost(
        &mut self,
        id: WorkerId,
        allocation: Option<&WorkerAllocation>,
        reason: WorkerState,
        now: u64,
    ) -> Vec<AllocEvent> {
        let Some(a) = allocation else {
            return vec![];
        };
        self.dirty = true;
        let crashed = matches!(
            reason,
            WorkerState::ConnectionLost | WorkerState::HeartbeatLost
        );
        match self.state.worker_lost(a.manager, &a.id, id, crashed, now) {
            LostOutcome::Nothing => vec![],
            LostOutcome::Record(e) => vec![e],
            // Asked at the next check: was the node preempted or did the workers fail?
            LostOutcome::Verify(queue, _) => {
                self.last_refresh.insert(queue, 0);
                vec![]
            }
        }
    }

    /// A result of an operation started earlier.
    pub fn on_result(&mut self, result: AllocResult) -> ResultOutput {
        let mut out = ResultOutput::default();
        self.dirty = true;
        match result {
            AllocResult::DryRunDone {
                token,
                params,
                create,
                outcome,
                commands: _,
            } => {
                if let Some(reply) = self.replies.remove(&token) {
                    dry_run_done(*params, create, outcome, reply, &mut out);
                }
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
                out.events
                    .push(submitted(queue, index, workers, workdir, outcome));
            }
            AllocResult::Cancelled {
                queue,
                id,
                outcome,
                commands,
            } => {
                self.count(queue, |c| c.cancel += commands);
                match outcome {
                    // Still tracked: the next status query tells what became of it.
                    Err(f) => log::warn!("Cancelling allocation {id} failed: {}", f.describe()),
                    Ok(()) => {
                        log::info!("Allocation {id} of queue {queue} was cancelled");
                        out.events.push(AllocEvent::AllocationFinished {
                            queue_id: queue,
                            allocation_id: id,
                            end: AllocationEnd::Cancelled {
                                reason: "cancelled by hq (scale-in or queue removal)".into(),
                            },
                        });
                    }
                }
            }
            AllocResult::BatchDone { queue, remove } => {
                self.busy.remove(&queue);
                if let Some(token) = remove {
                    out.events
                        .push(AllocEvent::QueueRemoved { queue_id: queue });
                    if let Some(reply) = self.replies.remove(&token) {
                        out.replies.push((reply, removed(queue)));
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
                out.events = self.state.status_answers(queue, &answers);
            }
        }
        out
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

    /// Pauses for queues whose submissions or allocations keep failing (after their failures
    /// were applied).
    pub fn pauses_due(&self) -> Vec<AllocEvent> {
        let config = &self.state.config;
        let mut events = Vec::new();
        for q in self.state.queues.values().filter(|q| q.paused.is_none()) {
            if let Some(reason) = q.pause_reason(config) {
                let what = match q.limiter.submission_fails >= config.max_submission_fails {
                    true => "failed submissions",
                    false => "failed allocations",
                };
                log::warn!("The queue {} had too many {what}, it will be paused.", q.id);
                events.push(AllocEvent::QueuePaused {
                    queue_id: q.id,
                    reason: Some(reason),
                });
            }
        }
        events
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
        if self.wake_at.is_some_and(|t| now >= t) {
            self.wake_at = None;
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
            let sizes = q.expected_sizes();
            let report = scheduler.demand(&q.demand_query(&shape, &sizes), now);
            let decision = decide(q, &report, now);
            if let Some(until) = q.limiter.limited_until(now) {
                self.wake_at = Some(self.wake_at.map_or(until, |t| t.min(until)));
            }
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

    /// Server shutdown: cancels every queued and running allocation; returns the changes.
    pub async fn shutdown(&mut self) -> Vec<AllocEvent> {
        let Some(ctx) = self.ctx.clone() else {
            return vec![];
        };
        let all: Vec<(QueueId, QueueParams, String)> = self
            .state
            .queues
            .values()
            .flat_map(|q| q.active().map(|a| (q.id, q.params.clone(), a.id.clone())))
            .collect();
        if all.is_empty() {
            return vec![];
        }
        let limit = std::time::Duration::from_secs(30);
        ops::cancel_all(&ctx, all, limit)
            .await
            .into_iter()
            .map(|(queue_id, allocation_id)| AllocEvent::AllocationFinished {
                queue_id,
                allocation_id,
                end: AllocationEnd::Cancelled {
                    reason: "cancelled when the server stopped".into(),
                },
            })
            .collect()
    }
}

/// The answer to a test submission; on success of `hq alloc add` the queue is created.
fn dry_run_done(
    params: QueueParams,
    create: bool,
    outcome: Result<(), crate::autoalloc::SubmitFailure>,
    reply: Reply,
    out: &mut ResultOutput,
) {
    let ok = LogLine::Info(
        "A trial allocation was submitted successfully. It was immediately canceled to avoid \
         wasting resources."
            .into(),
    );
    match (outcome, create) {
        (Err(f), _) => {
            let text = format!(
                "Dry-run (test allocation submission) has failed\n{}",
                f.describe()
            );
            out.replies.push((reply, ClientResponse::Error(text)));
        }
        (Ok(()), true) => out.create = Some((params, reply, ok)),
        (Ok(()), false) => {
            let lines = vec![ok];
            out.replies
                .push((reply, ClientResponse::Log { lines, ok: true }));
        }
    }
}

/// The recorded change of one submission.
fn submitted(
    queue: QueueId,
    index: u32,
    workers: u32,
    workdir: String,
    outcome: Result<String, crate::autoalloc::SubmitFailure>,
) -> AllocEvent {
    match outcome {
        Ok(id) => {
            log::info!("Queued allocation {id} with {workers} worker(s) for queue {queue}");
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
    }
}
