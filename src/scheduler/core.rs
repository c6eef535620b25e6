//! The scheduler state: ready queues ordered by priority, per-worker allocators, placements.

use crate::protocol::messages::{JobId, TaskId, WorkerId};
use crate::resources::{
    Allocation, ResourceDescriptor, ResourceRequestEntry, ResourceRequestVariants, WorkerAllocator,
};
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
}

pub(super) struct SWorker {
    pub(super) allocator: WorkerAllocator,
    pub(super) group: String,
    /// Time (ms) when the worker stops; tasks with a longer time request do not start here.
    pub(super) deadline_ms: Option<u64>,
    /// Owned by a multi-node task.
    pub(super) reserved: bool,
}

struct Placement {
    workers: Vec<WorkerId>,
    allocation: Allocation,
    multi_node: bool,
}

/// The scheduling core. See the module docs.
#[derive(Default)]
pub struct Scheduler {
    pub(super) requests: Vec<ResourceRequestVariants>,
    request_ids: HashMap<ResourceRequestVariants, ReqId>,
    pub(super) queues: BTreeMap<QueueKey, VecDeque<TaskId>>,
    pub(super) workers: BTreeMap<WorkerId, SWorker>,
    running: HashMap<TaskKey, Placement>,
    ready_count: usize,
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
        };
        self.workers.insert(id, worker);
    }

    /// Removes a worker; returns the tasks that were running on it (multi-node tasks included
    /// when it was any of their nodes), whose other nodes are released.
    pub fn remove_worker(&mut self, id: WorkerId) -> Vec<TaskKey> {
        self.workers.remove(&id);
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
    }

    /// Drops every ready task of a job (cancel, abort); returns how many were dropped.
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
                let before = q.len();
                q.retain(|t| !tasks.contains(t));
                self.ready_count -= before - q.len();
            }
        }
        self.queues.retain(|_, q| !q.is_empty());
    }

    /// A running task ended (any outcome): its resources return to the worker(s).
    pub fn task_done(&mut self, key: TaskKey) {
        let Some(p) = self.running.remove(&key) else {
            return;
        };
        if p.multi_node {
            for w in &p.workers {
                if let Some(worker) = self.workers.get_mut(w) {
                    worker.reserved = false;
                }
            }
        } else if let Some(worker) = p.workers.first().and_then(|w| self.workers.get_mut(w)) {
            worker.allocator.release(&p.allocation);
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
        let mut blocked: HashSet<ReqId> = HashSet::new();
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
                self.schedule_queue(qkey, &mut queue, now_ms, &mut out);
            }
            self.ready_count -= before - queue.len();
            if !queue.is_empty() {
                blocked.insert(req_id);
                self.queues.insert(qkey, queue);
            }
        }
        out
    }

    /// Round-robin over workers with room, one task at a time, so load spreads evenly.
    fn schedule_queue(
        &mut self,
        qkey: QueueKey,
        queue: &mut VecDeque<TaskId>,
        now_ms: u64,
        out: &mut Vec<Assignment>,
    ) {
        let req = &self.requests[qkey.2 as usize];
        let mut candidates: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| !w.reserved)
            .map(|(id, _)| *id)
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
                    self.running.insert(
                        key,
                        Placement {
                            workers: vec![wid],
                            allocation: allocation.clone(),
                            multi_node: false,
                        },
                    );
                    out.push(Assignment {
                        key,
                        workers: vec![wid],
                        variant,
                        allocation,
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
        queue: &mut VecDeque<TaskId>,
        now_ms: u64,
        out: &mut Vec<Assignment>,
    ) {
        let req = self.requests[qkey.2 as usize].clone();
        while let Some(task) = queue.front().copied() {
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
                },
            );
            out.push(Assignment {
                key,
                workers: nodes,
                variant,
                allocation: Allocation::default(),
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
    }
}

fn time_ok(w: &SWorker, min_time_secs: u64, now_ms: u64) -> bool {
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
