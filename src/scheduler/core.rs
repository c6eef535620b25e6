//! The scheduler state: ready queues ordered by priority, per-worker allocators, placements,
//! and the tasks queued on workers beyond their free resources (`queued.rs`).

use super::queued::worker_time_ok;
use super::ready::ReadyQueue;
use crate::protocol::messages::{JobId, TaskId, WorkerId};
use crate::resources::{
    Allocation, ResourceDescriptor, ResourceRequestEntry, ResourceRequestVariants, WorkerAllocator,
};
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A task across jobs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    pub job: JobId,
    pub task: TaskId,
}

/// An interned request: every task of an array shares one.
pub type ReqId = u32;

/// Ready tasks with the same priority, job and request form one queue; higher priority first,
/// then older jobs first.
pub(super) type QueueKey = (Reverse<i32>, JobId, ReqId);

/// What a pass decided for one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub key: TaskKey,
    /// One worker, or all nodes of a multi-node task (root first).
    pub workers: Vec<WorkerId>,
    pub variant: u32,
    pub allocation: Allocation,
    /// `None`: the task starts now in free resources. `Some(r)`: the task is queued on the
    /// worker and starts there in the allocation of the running task `r` when `r` ends (the
    /// scheduler then reports it in [`Scheduler::take_started`]).
    pub after: Option<TaskKey>,
}

pub(super) struct SWorker {
    pub(super) allocator: WorkerAllocator,
    group: String,
    /// Time (ms) when the worker stops; tasks with a longer time request do not start here.
    pub(super) deadline_ms: Option<u64>,
    /// Owned by a multi-node task.
    pub(super) reserved: bool,
    /// Running single-node tasks per request that may still get a task queued behind them
    /// (checked when used: entries of ended or already chained tasks are skipped).
    pub(super) chainable: FxHashMap<ReqId, Vec<TaskKey>>,
}

pub(super) struct Placement {
    pub(super) workers: Vec<WorkerId>,
    pub(super) allocation: Allocation,
    multi_node: bool,
    pub(super) variant: u32,
    /// The task queued on the worker to start in this allocation when this one ends.
    pub(super) next: Option<TaskKey>,
}

/// A ready task sent to a worker ahead of time, to start in the allocation of `after`.
pub(super) struct Queued {
    pub(super) after: TaskKey,
    pub(super) worker: WorkerId,
    pub(super) qkey: QueueKey,
    /// The server asked the worker to give it back (another worker has room for it).
    pub(super) retracting: bool,
}

/// The scheduling core. See the module docs.
#[derive(Default)]
pub struct Scheduler {
    pub(super) requests: Vec<ResourceRequestVariants>,
    request_ids: HashMap<ResourceRequestVariants, ReqId>,
    pub(super) queues: BTreeMap<QueueKey, ReadyQueue>,
    pub(super) workers: BTreeMap<WorkerId, SWorker>,
    pub(super) running: FxHashMap<TaskKey, Placement>,
    pub(super) ready_count: usize,
    /// Tasks queued on workers (not counted as ready, not running yet).
    pub(super) queued: FxHashMap<TaskKey, Queued>,
    /// Queued tasks that took over the allocation of an ended one, not yet taken.
    pub(super) started: Vec<Assignment>,
    /// Queued tasks the worker should give back, not yet taken.
    pub(super) retractions: Vec<(WorkerId, TaskKey)>,
    /// Workers that may have gained room since the last pass (added, resources released). A
    /// pass leaves every worker it tried unable to fit any task still queued, so the next one
    /// only needs these, unless tasks were queued since (`rescan`): then it tries all. This
    /// keeps a pass's cost independent of the number of busy workers.
    pub(super) roomy: BTreeSet<WorkerId>,
    /// Workers that got a task that others may be queued behind since the last pass.
    pub(super) chainers: BTreeSet<WorkerId>,
    /// Tasks became ready since the last pass: try every worker.
    pub(super) rescan: bool,
    /// How many tasks of each request are queued on workers.
    pub(super) queued_per_req: FxHashMap<ReqId, usize>,
}

impl Scheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Interns a request so identical tasks share it.
    pub fn intern(&mut self, req: &ResourceRequestVariants) -> ReqId {
        if let Some(id) = self.request_ids.get(req) {
            return *id;
        }
        let id = self.requests.len() as ReqId;
        self.requests.push(req.clone());
        self.request_ids.insert(req.clone(), id);
        id
    }

    pub fn request(&self, id: ReqId) -> &ResourceRequestVariants {
        &self.requests[id as usize]
    }

    pub fn add_worker(
        &mut self,
        id: WorkerId,
        desc: &ResourceDescriptor,
        group: String,
        deadline_ms: Option<u64>,
    ) {
        let worker = SWorker {
            allocator: WorkerAllocator::new(desc),
            group,
            deadline_ms,
            reserved: false,
            chainable: FxHashMap::default(),
        };
        self.workers.insert(id, worker);
        self.roomy.insert(id);
    }

    /// Removes a worker; returns the tasks that were running on it (multi-node tasks included
    /// when it was any of their nodes), whose other nodes are released. Tasks queued on it are
    /// ready again.
    pub fn remove_worker(&mut self, id: WorkerId) -> Vec<TaskKey> {
        self.requeue_queued_on(id);
        self.workers.remove(&id);
        self.roomy.remove(&id);
        self.chainers.remove(&id);
        let lost: Vec<TaskKey> = self
            .running
            .iter()
            .filter(|(_, p)| p.workers.contains(&id))
            .map(|(k, _)| *k)
            .collect();
        for key in &lost {
            self.task_done(*key);
        }
        lost
    }

    /// A task whose dependencies are done enters its queue.
    pub fn add_ready(&mut self, key: TaskKey, req: ReqId, priority: i32) {
        self.queues
            .entry((Reverse(priority), key.job, req))
            .or_default()
            .push_back(key.task);
        self.ready_count += 1;
        self.rescan = true;
    }

    /// Tasks `first..=last` of a job, all with the same request and priority, enter their queue.
    pub fn add_ready_range(
        &mut self,
        job: JobId,
        first: TaskId,
        last: TaskId,
        req: ReqId,
        priority: i32,
    ) {
        self.queues
            .entry((Reverse(priority), job, req))
            .or_default()
            .push_range(first, last);
        self.ready_count += (last - first) as usize + 1;
        self.rescan = true;
    }

    /// Drops every ready task of a job (cancel, abort), queued ones included; returns the
    /// tasks that were queued on workers, which must be told to drop them.
    pub fn remove_job(&mut self, job: JobId) -> Vec<(WorkerId, TaskKey)> {
        let keys: Vec<QueueKey> = self.queues.keys().filter(|k| k.1 == job).copied().collect();
        let mut removed = 0;
        for k in keys {
            removed += self.queues.remove(&k).map(|q| q.len()).unwrap_or(0);
        }
        self.ready_count -= removed;
        self.unqueue_where(|k| k.job == job)
    }

    /// Drops some ready tasks of a job (e.g. aborted by a failed dependency); returns those
    /// that were queued on workers, as [`Scheduler::remove_job`].
    pub fn remove_ready(
        &mut self,
        job: JobId,
        tasks: &HashSet<TaskId>,
    ) -> Vec<(WorkerId, TaskKey)> {
        let dropped = self.unqueue_where(|k| k.job == job && tasks.contains(&k.task));
        for (k, q) in self.queues.iter_mut() {
            if k.1 == job {
                self.ready_count -= q.remove(tasks);
            }
        }
        self.queues.retain(|_, q| !q.is_empty());
        dropped
    }

    /// A running task ended (any outcome): its resources return to the worker(s), or pass to
    /// the task queued behind it, which has started on the worker.
    pub fn task_done(&mut self, key: TaskKey) {
        let Some(p) = self.running.remove(&key) else {
            return;
        };
        if let Some(next) = p.next {
            self.promote(next, p);
            return;
        }
        if p.multi_node {
            for w in &p.workers {
                if let Some(worker) = self.workers.get_mut(w) {
                    worker.reserved = false;
                    self.roomy.insert(*w);
                }
            }
        } else if let Some(worker) = p.workers.first().and_then(|w| self.workers.get_mut(w)) {
            worker.allocator.release(&p.allocation);
            self.roomy.insert(p.workers[0]);
        }
    }

    /// The tasks placed on a worker (multi-node tasks when it is any of their nodes).
    pub fn tasks_on(&self, worker: WorkerId) -> Vec<TaskKey> {
        let mut keys: Vec<TaskKey> = self
            .running
            .iter()
            .filter(|(_, p)| p.workers.contains(&worker))
            .map(|(k, _)| *k)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Whether the task holds resources on some worker.
    pub fn is_running(&self, key: TaskKey) -> bool {
        self.running.contains_key(&key)
    }

    /// How many tasks hold resources.
    pub fn running_count(&self) -> usize {
        self.running.len()
    }

    pub fn ready_count(&self) -> usize {
        self.ready_count
    }

    pub fn running_on(&self, worker: WorkerId) -> usize {
        self.running
            .values()
            .filter(|p| p.workers.contains(&worker))
            .count()
    }

    /// Tasks running on `worker` (for a multi-node task: on any of its nodes).
    pub fn running_tasks_on(&self, worker: WorkerId) -> Vec<TaskKey> {
        self.running
            .iter()
            .filter(|(_, p)| p.workers.contains(&worker))
            .map(|(k, _)| *k)
            .collect()
    }

    /// Whether the worker runs nothing and is not reserved.
    pub fn worker_is_idle(&self, worker: WorkerId) -> bool {
        self.workers
            .get(&worker)
            .is_some_and(|w| w.allocator.is_idle() && !w.reserved)
    }

    pub fn worker_ids(&self) -> Vec<WorkerId> {
        self.workers.keys().copied().collect()
    }

    /// Whether variant `v` of `req` could ever run on `worker` (empty worker, time allowing;
    /// a multi-node variant needs enough workers in the worker's group).
    pub fn could_run(&self, worker: WorkerId, req: ReqId, v: usize, now_ms: u64) -> bool {
        let Some(w) = self.workers.get(&worker) else {
            return false;
        };
        let r = &self.requests[req as usize].variants[v];
        if !time_ok(w, r.min_time_secs, now_ms) {
            return false;
        }
        if r.n_nodes > 0 {
            return self.group_size(&w.group) >= r.n_nodes as usize;
        }
        w.allocator.can_ever_run(r)
    }

    /// Whether one resource entry fits `worker` when it is empty (`hq task explain`).
    pub fn entry_could_run(&self, worker: WorkerId, entry: &ResourceRequestEntry) -> bool {
        self.workers
            .get(&worker)
            .is_some_and(|w| w.allocator.can_ever_run_entry(entry))
    }

    /// Number of workers in a worker group.
    pub fn group_size(&self, group: &str) -> usize {
        self.workers.values().filter(|w| w.group == group).count()
    }

    /// Whether `worker` lives long enough for a time request (true without a time limit).
    pub fn time_allows(&self, worker: WorkerId, min_time_secs: u64, now_ms: u64) -> bool {
        self.workers
            .get(&worker)
            .is_some_and(|w| time_ok(w, min_time_secs, now_ms))
    }

    /// One scheduling pass: assigns as many ready tasks as fit, in priority order.
    pub fn schedule(&mut self, now_ms: u64) -> Vec<Assignment> {
        let mut out = Vec::new();
        let mut blocked: FxHashSet<ReqId> = FxHashSet::default();
        let (pool, chainers) = self.pass_candidates();
        let keys: Vec<QueueKey> = self.queues.keys().copied().collect();
        for qkey in keys {
            let req_id = qkey.2;
            if blocked.contains(&req_id) {
                continue;
            }
            let Some(mut queue) = self.queues.remove(&qkey) else {
                continue;
            };
            let before = queue.len();
            if self.requests[req_id as usize].is_multi_node() {
                self.schedule_multi_node(qkey, &mut queue, now_ms, &mut out);
            } else {
                self.schedule_queue(qkey, &mut queue, &pool, now_ms, &mut out);
                self.queue_behind(qkey, &mut queue, &chainers, now_ms, &mut out);
            }
            self.ready_count -= before - queue.len();
            if !queue.is_empty() {
                blocked.insert(req_id);
                self.queues.insert(qkey, queue);
            }
        }
        self.plan_retractions(now_ms);
        out
    }

    /// The workers a pass tries for free resources and for queueing behind (see `roomy`);
    /// resets the hints for the next pass.
    fn pass_candidates(&mut self) -> (Vec<WorkerId>, Vec<WorkerId>) {
        let rescan = std::mem::take(&mut self.rescan);
        let roomy = std::mem::take(&mut self.roomy);
        let chainers = std::mem::take(&mut self.chainers);
        let unreserved = |id: &WorkerId| self.workers.get(id).is_some_and(|w| !w.reserved);
        match rescan {
            true => {
                let all: Vec<WorkerId> = self.workers.keys().copied().filter(unreserved).collect();
                (all.clone(), all)
            }
            false => (
                roomy.into_iter().filter(unreserved).collect(),
                chainers.into_iter().filter(unreserved).collect(),
            ),
        }
    }

    /// Round-robin over workers with room, one task at a time, so load spreads evenly.
    fn schedule_queue(
        &mut self,
        qkey: QueueKey,
        queue: &mut ReadyQueue,
        pool: &[WorkerId],
        now_ms: u64,
        out: &mut Vec<Assignment>,
    ) {
        let req = &self.requests[qkey.2 as usize];
        // Multi-node tasks placed earlier in the pass may have reserved some.
        let mut candidates: Vec<WorkerId> = pool
            .iter()
            .copied()
            .filter(|id| self.workers.get(id).is_some_and(|w| !w.reserved))
            .collect();
        let mut i = 0;
        while !queue.is_empty() && !candidates.is_empty() {
            if i >= candidates.len() {
                i = 0;
            }
            let wid = candidates[i];
            let Some(worker) = self.workers.get_mut(&wid) else {
                candidates.swap_remove(i);
                continue;
            };
            let placed = req.variants.iter().enumerate().find_map(|(v, r)| {
                if !time_ok(worker, r.min_time_secs, now_ms) {
                    return None;
                }
                worker.allocator.try_allocate(r).map(|a| (v as u32, a))
            });
            match placed {
                Some((variant, allocation)) => {
                    let task = queue.pop_front().unwrap_or_default();
                    let key = TaskKey { job: qkey.1, task };
                    push_chainable(worker, qkey.2, key, &self.running);
                    self.chainers.insert(wid);
                    self.running.insert(
                        key,
                        Placement {
                            workers: vec![wid],
                            allocation: allocation.clone(),
                            multi_node: false,
                            variant,
                            next: None,
                        },
                    );
                    out.push(Assignment {
                        key,
                        workers: vec![wid],
                        variant,
                        allocation,
                        after: None,
                    });
                    i += 1;
                }
                None => {
                    candidates.swap_remove(i);
                }
            }
        }
    }

    /// Multi-node tasks take whole idle workers of one group.
    fn schedule_multi_node(
        &mut self,
        qkey: QueueKey,
        queue: &mut ReadyQueue,
        now_ms: u64,
        out: &mut Vec<Assignment>,
    ) {
        let req = self.requests[qkey.2 as usize].clone();
        while let Some(task) = queue.front() {
            let found = req.variants.iter().enumerate().find_map(|(v, r)| {
                let mut by_group: BTreeMap<&str, Vec<WorkerId>> = BTreeMap::new();
                for (id, w) in &self.workers {
                    if !w.reserved && w.allocator.is_idle() && time_ok(w, r.min_time_secs, now_ms) {
                        by_group.entry(w.group.as_str()).or_default().push(*id);
                    }
                }
                by_group
                    .into_values()
                    .find(|ws| ws.len() >= r.n_nodes as usize)
                    .map(|ws| (v as u32, ws[..r.n_nodes as usize].to_vec()))
            });
            let Some((variant, nodes)) = found else { break };
            queue.pop_front();
            for n in &nodes {
                if let Some(w) = self.workers.get_mut(n) {
                    w.reserved = true;
                }
            }
            let key = TaskKey { job: qkey.1, task };
            self.running.insert(
                key,
                Placement {
                    workers: nodes.clone(),
                    allocation: Allocation::default(),
                    multi_node: true,
                    variant,
                    next: None,
                },
            );
            out.push(Assignment {
                key,
                workers: nodes,
                variant,
                allocation: Allocation::default(),
                after: None,
            });
        }
    }

    /// Checks internal invariants; tests call it after every step.
    pub fn sanity_check(&self) {
        let queued: usize = self.queues.values().map(|q| q.len()).sum();
        assert_eq!(queued, self.ready_count, "ready counter out of sync");
        for (key, p) in &self.running {
            for w in &p.workers {
                assert!(
                    self.workers.contains_key(w),
                    "task {key:?} placed on unknown worker {w}"
                );
            }
        }
        for (id, w) in &self.workers {
            let single = self
                .running
                .values()
                .filter(|p| p.workers == [*id] && !w.reserved)
                .count();
            if !w.reserved {
                assert_eq!(
                    single as u32,
                    w.allocator.running(),
                    "allocation count of worker {id}"
                );
            }
        }
        self.sanity_check_queued();
    }
}

/// Records a running task others may queue behind; entries of ended or chained tasks are only
/// dropped when used, so the list is compacted when it outgrows the running tasks.
pub(super) fn push_chainable(
    w: &mut SWorker,
    req: ReqId,
    key: TaskKey,
    running: &FxHashMap<TaskKey, Placement>,
) {
    let slots = w.chainable.entry(req).or_default();
    slots.push(key);
    if slots.len() > 2 * w.allocator.running() as usize + 16 {
        slots.retain(|k| running.get(k).is_some_and(|p| p.next.is_none()));
    }
}

fn time_ok(w: &SWorker, min_time_secs: u64, now_ms: u64) -> bool {
    worker_time_ok(w.deadline_ms, min_time_secs, now_ms)
}
