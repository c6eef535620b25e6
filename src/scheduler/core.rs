//! The scheduler state: ready queues ordered by priority, per-worker allocators, placements,
//! and the events that change them. The pass itself is in `pass`; tasks queued on workers
//! beyond their free resources are in `queued`.

use super::ready::ReadyQueue;
use super::task_map::TaskMap;
use crate::protocol::messages::{JobId, TaskId, WorkerId};
use crate::resources::{
    Allocation, ResourceAmount, ResourceDescriptor, ResourceRequestEntry, ResourceRequestVariants,
    WorkerAllocator, CPU_RESOURCE_NAME,
};
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// A task across jobs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    pub job: JobId,
    pub task: TaskId,
}

/// An interned request: every task of an array shares one.
pub type ReqId = u32;

/// The workers of a placement: one, or the nodes of a multi-node task (root first); one is
/// kept inline, so a single-node placement allocates nothing for it.
pub type Workers = smallvec::SmallVec<[WorkerId; 1]>;

/// Ready tasks with the same priority, job and request form one queue. Passes visit them in
/// [`Scheduler::pass_order`].
pub(super) type QueueKey = (Reverse<i32>, JobId, ReqId);

/// What a pass decided for one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub key: TaskKey,
    /// One worker, or all nodes of a multi-node task (root first).
    pub workers: Workers,
    pub variant: u32,
    pub allocation: Allocation,
    /// `None`: the task starts now in free resources. `Some(r)`: the task is queued on the
    /// worker and starts there in the allocation of the running task `r` when `r` ends (the
    /// scheduler hands the allocation over in [`Scheduler::task_done`]).
    pub after: Option<TaskKey>,
}

pub(super) struct SWorker {
    pub(super) allocator: WorkerAllocator,
    pub(super) group: String,
    /// Time (ms) when the worker stops; tasks with a longer time request do not start here.
    pub(super) deadline_ms: Option<u64>,
    /// `--min-utilization`: the CPU amount that must be busy for tasks to be placed here
    /// (zero without the flag).
    pub(super) min_busy_cpus: ResourceAmount,
    /// Size of the worker's CPU pool.
    pub(super) cpu_total: ResourceAmount,
    /// Owned by a multi-node task.
    pub(super) reserved: bool,
    /// The first node of that multi-node task (where its command runs).
    pub(super) main_node: bool,
    /// Running single-node tasks per request that may still get a task queued behind them
    /// (checked when used: entries of ended or already chained tasks are skipped), taken from
    /// the back; one that got its first successor goes back in at the front.
    pub(super) chainable: FxHashMap<ReqId, VecDeque<TaskKey>>,
}

pub(super) struct Placement {
    pub(super) workers: Workers,
    pub(super) variant: u32,
    pub(super) allocation: Allocation,
    pub(super) multi_node: bool,
    /// The tasks queued on the worker behind this one.
    pub(super) chain: Option<Chain>,
}

/// The chain of tasks queued behind a running one: the first starts in its allocation when it
/// ends. The last task and the length are kept as the chain grows and shrinks, so finding
/// room behind a running task walks no chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Chain {
    pub(super) first: TaskKey,
    pub(super) last: TaskKey,
    pub(super) len: u32,
}

impl Chain {
    /// The chain without its task `key`, which was queued behind `after` with `next` behind
    /// it; `None` when nothing is left.
    pub(super) fn without(
        self,
        key: TaskKey,
        after: TaskKey,
        next: Option<TaskKey>,
    ) -> Option<Self> {
        if self.len <= 1 {
            return None;
        }
        Some(Chain {
            first: if self.first == key { next? } else { self.first },
            last: if self.last == key { after } else { self.last },
            len: self.len - 1,
        })
    }
}

/// A ready task sent to a worker ahead of time, to start in the allocation of `after`: a
/// running task, or a task queued behind one. Two may wait behind a running task, so the one
/// right behind it can start while the server has not yet heard of the end and sent the next
/// (a round trip is often longer than a small task).
pub(super) struct Queued {
    pub(super) after: TaskKey,
    /// The task queued behind this one.
    pub(super) next: Option<TaskKey>,
    pub(super) worker: WorkerId,
    pub(super) qkey: QueueKey,
    /// The variant of `after`'s placement, which this task takes over.
    pub(super) variant: u32,
    /// The server asked the worker to give it back (another worker has room for it, or a
    /// higher priority waits for its slot).
    pub(super) retracting: bool,
}

/// The scheduling core. See the module docs.
#[derive(Default)]
pub struct Scheduler {
    pub(super) requests: Vec<ResourceRequestVariants>,
    request_ids: HashMap<ResourceRequestVariants, ReqId>,
    pub(super) queues: BTreeMap<QueueKey, ReadyQueue>,
    pub(super) workers: BTreeMap<WorkerId, SWorker>,
    pub(super) running: TaskMap<TaskKey, Placement>,
    pub(super) ready_count: usize,
    /// Tasks queued on workers (not counted as ready, not running yet).
    pub(super) queued: TaskMap<TaskKey, Queued>,
    /// Queued tasks the worker should give back, not yet taken.
    pub(super) retractions: Vec<(WorkerId, TaskKey)>,
    /// How many tasks of each request are queued on workers.
    pub(super) queued_per_req: FxHashMap<ReqId, usize>,
    /// How many tasks of each priority are queued on workers.
    pub(super) queued_per_level: BTreeMap<Reverse<i32>, usize>,
    /// Workers the last pass kept free for a waiting multi-node task of higher priority.
    pub(super) held_for_multi_node: HashSet<WorkerId>,
    /// How deep a chain of queued tasks may be; `None` is [`QUEUE_DEPTH`].
    depth: Option<usize>,
}

impl Scheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many tasks may be queued behind one running task.
    pub(super) fn queue_depth(&self) -> usize {
        self.depth.unwrap_or(QUEUE_DEPTH)
    }

    /// Sets how many tasks may be queued behind one running task (at least one).
    #[cfg(test)]
    pub fn set_queue_depth(&mut self, depth: usize) {
        self.depth = Some(depth.max(1));
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

    /// The ready queues in the order a pass (and the what-if of `demand`) visits them: higher
    /// priority first; within one priority, heavier requests first (the largest weight of
    /// their variants: a request worth more per unit of resource it takes); then older jobs.
    pub(super) fn pass_order(&self) -> Vec<QueueKey> {
        let mut keys: Vec<QueueKey> = self.queues.keys().copied().collect();
        self.sort_for_pass(&mut keys);
        keys
    }

    /// Sorts queue keys given in (priority, job, request) order into [`Self::pass_order`].
    pub(super) fn sort_for_pass(&self, keys: &mut [QueueKey]) {
        // Stable: ties keep the (priority, job, request) order.
        keys.sort_by_cached_key(|k| (k.0, Reverse(self.requests[k.2 as usize].max_weight())));
    }

    /// A worker joins. `min_utilization` (0 to 1) is its `--min-utilization`.
    pub fn add_worker(
        &mut self,
        id: WorkerId,
        desc: &ResourceDescriptor,
        group: String,
        deadline_ms: Option<u64>,
        min_utilization: ResourceAmount,
    ) {
        let cpus = desc
            .get(CPU_RESOURCE_NAME)
            .map_or(ResourceAmount::ZERO, |k| k.size());
        // Fixed point times fixed point: 1.0 × 12 CPUs = 12 CPUs, rounded up.
        let min_busy = (u128::from(cpus.0) * u128::from(min_utilization.0))
            .div_ceil(u128::from(ResourceAmount::ONE.0));
        let worker = SWorker {
            allocator: WorkerAllocator::new(desc),
            group,
            deadline_ms,
            min_busy_cpus: ResourceAmount(min_busy as u64),
            cpu_total: cpus,
            reserved: false,
            main_node: false,
            chainable: FxHashMap::default(),
        };
        self.workers.insert(id, worker);
    }

    /// Removes a worker; returns the tasks that were running on it, whose resources elsewhere
    /// are released. A multi-node task is lost only with its main node (where its command
    /// runs); losing another of its nodes leaves it running there, as the reference does.
    /// Tasks queued on it are dropped (the server makes them ready: `TaskRetracted`).
    pub fn remove_worker(&mut self, id: WorkerId) -> Vec<TaskKey> {
        self.unqueue_on(id);
        let lost = self.tasks_lost_with(id);
        self.workers.remove(&id);
        self.held_for_multi_node.remove(&id);
        for p in self.running.values_mut() {
            if p.multi_node && p.workers.first() != Some(&id) {
                p.workers.retain(|w| *w != id);
            }
        }
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
    }

    /// A task that was assigned but never started (given back by a worker) enters its queue
    /// at its place in ID order.
    pub fn return_ready(&mut self, key: TaskKey, req: ReqId, priority: i32) {
        self.queues
            .entry((Reverse(priority), key.job, req))
            .or_default()
            .insert_in_order(key.task);
        self.ready_count += 1;
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
    }

    /// Drops every ready task of a job (cancel, abort); returns how many were dropped. (Tasks
    /// queued on workers are assigned: they leave through [`Scheduler::task_done`].)
    pub fn remove_job(&mut self, job: JobId) -> usize {
        let keys: Vec<QueueKey> = self.queues.keys().filter(|k| k.1 == job).copied().collect();
        let mut removed = 0;
        for k in keys {
            removed += self.queues.remove(&k).map(|q| q.len()).unwrap_or(0);
        }
        self.ready_count -= removed;
        removed
    }

    /// Drops some ready tasks of a job (e.g. aborted by a failed dependency).
    pub fn remove_ready(&mut self, job: JobId, tasks: &HashSet<TaskId>) {
        for (k, q) in self.queues.iter_mut() {
            if k.1 == job {
                self.ready_count -= q.remove(tasks);
            }
        }
        self.queues.retain(|_, q| !q.is_empty());
    }

    /// A placed task ended (any outcome): its resources return to the worker(s), or pass to
    /// the task queued behind it, which has started on the worker. A task queued on a worker
    /// (canceled, retracted) just leaves its place in the queue.
    pub fn task_done(&mut self, key: TaskKey) {
        let Some(p) = self.running.remove(&key) else {
            self.unqueue(key);
            return;
        };
        if let Some(chain) = p.chain {
            self.promote(key, chain, p);
            return;
        }
        if p.multi_node {
            for w in &p.workers {
                if let Some(worker) = self.workers.get_mut(w) {
                    worker.reserved = false;
                    worker.main_node = false;
                }
            }
        } else if let Some(worker) = p.workers.first().and_then(|w| self.workers.get_mut(w)) {
            worker.allocator.release(&p.allocation);
        }
    }

    /// Where a placed task runs (root first) and with which resource variant; a queued task
    /// runs where and as its predecessor does.
    pub fn placement(&self, key: TaskKey) -> Option<(&[WorkerId], u32)> {
        if let Some(q) = self.queued.get(&key) {
            return Some((std::slice::from_ref(&q.worker), q.variant));
        }
        self.running
            .get(&key)
            .map(|p| (p.workers.as_slice(), p.variant))
    }

    /// The tasks that end when the worker is lost: those placed on it, and multi-node tasks
    /// whose main node it is (their command runs there; another node's loss leaves them
    /// running, see [`Self::remove_worker`]).
    pub fn tasks_lost_with(&self, worker: WorkerId) -> Vec<TaskKey> {
        let mut keys: Vec<TaskKey> = self
            .running
            .iter()
            .filter(|(_, p)| match p.multi_node {
                true => p.workers.first() == Some(&worker),
                false => p.workers.contains(&worker),
            })
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

    /// Tasks holding resources on the worker (a multi-node task counts on each of its nodes).
    pub fn running_on(&self, worker: WorkerId) -> usize {
        self.workers.get(&worker).map_or(0, |w| {
            w.allocator.running() as usize + usize::from(w.reserved)
        })
    }

    /// `Some(true)` if the worker is the main node of a running multi-node task, `Some(false)`
    /// if it is one of its other nodes, `None` otherwise.
    pub fn multi_node_role(&self, worker: WorkerId) -> Option<bool> {
        self.workers
            .get(&worker)
            .filter(|w| w.reserved)
            .map(|w| w.main_node)
    }

    /// Whether the last pass kept the worker free for a waiting multi-node task.
    pub fn is_held_for_multi_node(&self, worker: WorkerId) -> bool {
        self.held_for_multi_node.contains(&worker)
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

    /// How long `worker` still lives (`None`: it has no time limit).
    pub fn remaining_ms(&self, worker: WorkerId, now_ms: u64) -> Option<u64> {
        let deadline = self.workers.get(&worker)?.deadline_ms?;
        Some(deadline.saturating_sub(now_ms))
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

    /// Checks internal invariants; tests call it after every step.
    pub fn sanity_check(&self) {
        let queued: usize = self.queues.values().map(|q| q.len()).sum();
        assert_eq!(queued, self.ready_count, "ready counter out of sync");
        for (key, p) in self.running.iter() {
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
                .filter(|p| p.workers.as_slice() == [*id] && !w.reserved)
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
/// dropped when used, so the list is compacted when it outgrows the running tasks. The
/// compaction keeps what `chain_slot` would take: a running task with room behind it or behind
/// its one queued successor.
pub(super) fn push_chainable(
    w: &mut SWorker,
    req: ReqId,
    key: TaskKey,
    running: &TaskMap<TaskKey, Placement>,
    depth: usize,
) {
    let slots = w.chainable.entry(req).or_default();
    slots.push_back(key);
    if slots.len() > 2 * w.allocator.running() as usize + 16 {
        let room = |p: &Placement| p.chain.is_none_or(|c| (c.len as usize) < depth);
        slots.retain(|k| running.get(k).is_some_and(room));
    }
}

/// How many tasks may be queued behind one running task. A worker reports its ends in batches
/// (up to `worker/report.rs`'s delay, which the runtime's timer makes 1–2 ms), and the server
/// answers with the next tasks: for tasks shorter than that round trip, a slot runs through
/// several queued tasks before the server hears of the first end. Eight keep a slot busy for
/// tasks down to about a quarter of a millisecond.
pub(super) const QUEUE_DEPTH: usize = 8;

/// The last task of the chain of queued tasks that starts with `first`, and the chain's length;
/// `None` if the chain is broken (a link points to a task that is not queued).
pub(super) fn chain_tail(
    queued: &TaskMap<TaskKey, Queued>,
    first: TaskKey,
) -> Option<(TaskKey, usize)> {
    let (mut tail, mut len) = (first, 1);
    loop {
        match queued.get(&tail)?.next {
            None => return Some((tail, len)),
            Some(next) => (tail, len) = (next, len + 1),
        }
    }
}

/// The task a queued task's chain runs behind: following `after` links from `after` to the
/// first task that is not queued (the running task at the head of the chain).
pub(super) fn chain_head(queued: &TaskMap<TaskKey, Queued>, after: TaskKey) -> TaskKey {
    let mut head = after;
    while let Some(q) = queued.get(&head) {
        head = q.after;
    }
    head
}

pub(super) fn time_ok(w: &SWorker, min_time_secs: u64, now_ms: u64) -> bool {
    deadline_ok(w.deadline_ms, min_time_secs, now_ms)
}

/// Whether a worker that stops at `deadline_ms` lives long enough for a time request.
pub(super) fn deadline_ok(deadline_ms: Option<u64>, min_time_secs: u64, now_ms: u64) -> bool {
    match deadline_ms {
        Some(deadline) if min_time_secs > 0 => {
            deadline.saturating_sub(now_ms) >= min_time_secs * 1000
        }
        _ => true,
    }
}
