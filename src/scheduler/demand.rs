//! What-if scheduling for automatic allocation: how many workers of a given shape the ready
//! tasks could use right now. It walks the real ready queues in the real order with the real
//! allocator, on copies: connected workers' free capacity first, then the workers of allocations
//! already waiting in the manager, then new hypothetical workers, filled first-fit so demand is
//! packed into as few workers as possible. Tasks queued on a worker behind a running task count
//! as ready: they wait for that task, and a new worker could run them now. Nothing in the
//! scheduler changes.

use super::core::{deadline_ok, QueueKey, SWorker, Scheduler};
use crate::resources::fit::why_never_runs_on;
use crate::resources::{
    ResourceDescriptor, ResourceRequest, ResourceRequestVariants, WorkerAllocator,
    CPU_RESOURCE_NAME,
};
use std::collections::{BTreeMap, HashSet};

/// The question: workers of this shape, this many of them.
#[derive(Clone, Debug)]
pub struct DemandQuery<'a> {
    /// Resources of one worker of the queue.
    pub worker: &'a ResourceDescriptor,
    /// The shape is only what the user declared: a real worker may have more resources, so a
    /// task that needs an undeclared resource counts as `undeclared`, not as unrunnable.
    pub partial: bool,
    /// How long a new worker lives once it can take tasks (ms); `None` = unlimited.
    pub lifetime_ms: Option<u64>,
    /// Allocations of the queue already waiting in the manager: their worker counts.
    pub queued: &'a [u32],
    /// How many more workers the queue may add on top of `queued`.
    pub max_new_workers: u32,
    /// The largest allocation (nodes); multi-node tasks needing more cannot be served.
    pub max_nodes: u32,
    /// A new worker counts only if at least this fraction of its CPUs would be used.
    pub min_utilization: f32,
}

/// The answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemandReport {
    /// Per queued allocation: how many of its workers would get tasks.
    pub queued_used: Vec<u32>,
    /// New single-node workers that would get tasks (each reaching the minimal utilization).
    pub new_workers: u32,
    /// New allocations multi-node tasks need: node counts, in priority order.
    pub new_multi_node: Vec<u32>,
    /// Ready tasks in total.
    pub ready: u64,
    /// Ready tasks that fit the free capacity of connected workers.
    pub fit_existing: u64,
    /// Tasks that need a resource the declared shape does not name (partial knowledge).
    pub undeclared: u64,
    /// Tasks that would fit a worker of this shape but not within the queue's limits.
    pub over_limit: u64,
    /// Tasks no worker of this shape could ever run, with the reason.
    pub unrunnable: Vec<Unrunnable>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unrunnable {
    pub tasks: u64,
    pub reason: String,
}

/// Whether a request can run on an empty worker of the shape.
enum Fit {
    Yes,
    /// Only resources the shape does not declare stand in the way.
    Undeclared,
    No(String),
}

/// A copy of a worker used by the simulation.
struct SimWorker {
    allocator: WorkerAllocator,
    deadline_ms: Option<u64>,
    /// Index of its allocation (hypothetical workers) or its group (connected workers).
    group: usize,
    busy_multi_node: bool,
    tasks: u32,
}

impl SimWorker {
    fn accepts(&mut self, req: &ResourceRequestVariants, now_ms: u64) -> bool {
        if self.busy_multi_node {
            return false;
        }
        let deadline = self.deadline_ms;
        let placed = req.by_weight().any(|v| {
            let r = &req.variants[v];
            deadline_ok(deadline, r.min_time_secs, now_ms)
                && self.allocator.try_allocate(r).is_some()
        });
        if placed {
            self.tasks += 1;
        }
        placed
    }
}

struct Sim<'q> {
    query: &'q DemandQuery<'q>,
    shape: WorkerAllocator,
    now_ms: u64,
    existing: Vec<SimWorker>,
    /// Workers of queued allocations, then new ones.
    hyp: Vec<SimWorker>,
    queued_workers: usize,
    new_budget: u32,
    next_group: usize,
    report: DemandReport,
    /// Reasons in the order they were first seen, with task counts.
    reasons: Vec<(String, u64)>,
}

impl Scheduler {
    /// How many workers of the queried shape the ready tasks could use now (see module docs).
    pub fn demand(&self, query: &DemandQuery<'_>, now_ms: u64) -> DemandReport {
        let mut sim = Sim::new(self, query, now_ms);
        let mut blocked: HashSet<u32> = HashSet::new();
        // Tasks queued on a worker behind a running one wait for that task to end: a new
        // worker could run them now, so they count like ready tasks of their queue.
        let mut counts: BTreeMap<QueueKey, u64> = self
            .queues
            .iter()
            .map(|(key, queue)| (*key, queue.len() as u64))
            .collect();
        for q in self.queued.values() {
            *counts.entry(q.qkey).or_default() += 1;
        }
        let mut keys: Vec<QueueKey> = counts.keys().copied().collect();
        self.sort_for_pass(&mut keys);
        for key in keys {
            let count = counts[&key];
            sim.report.ready += count;
            let req = &self.requests[key.2 as usize];
            if blocked.contains(&key.2) {
                sim.leftover(req, count);
                continue;
            }
            let left = sim.place_queue(req, count);
            if left > 0 {
                blocked.insert(key.2);
                sim.leftover(req, left);
            }
        }
        sim.finish()
    }
}

impl<'q> Sim<'q> {
    fn new(s: &Scheduler, query: &'q DemandQuery<'q>, now_ms: u64) -> Self {
        let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
        let existing: Vec<SimWorker> = s
            .workers
            .values()
            .filter(|w| !w.reserved)
            .map(|w: &SWorker| {
                let next = groups.len();
                let group = *groups.entry(w.group.as_str()).or_insert(next);
                SimWorker {
                    allocator: w.allocator.clone(),
                    deadline_ms: w.deadline_ms,
                    group,
                    busy_multi_node: false,
                    tasks: 0,
                }
            })
            .collect();
        let mut sim = Sim {
            query,
            shape: WorkerAllocator::new(query.worker),
            now_ms,
            existing,
            hyp: Vec::new(),
            queued_workers: 0,
            new_budget: query.max_new_workers,
            next_group: 0,
            report: DemandReport::default(),
            reasons: Vec::new(),
        };
        for &n in query.queued {
            let g = sim.fresh_group();
            for _ in 0..n {
                sim.hyp.push(sim.hyp_worker(g));
            }
        }
        sim.queued_workers = sim.hyp.len();
        sim
    }

    fn fresh_group(&mut self) -> usize {
        self.next_group += 1;
        self.next_group - 1
    }

    fn hyp_worker(&self, group: usize) -> SimWorker {
        SimWorker {
            allocator: self.shape.clone(),
            deadline_ms: self.query.lifetime_ms.map(|l| self.now_ms + l),
            group,
            busy_multi_node: false,
            tasks: 0,
        }
    }

    /// Places up to `count` tasks of one queue; returns how many found no place.
    fn place_queue(&mut self, req: &ResourceRequestVariants, count: u64) -> u64 {
        if req.is_multi_node() {
            return self.place_multi_node(req, count);
        }
        let mut left = count;
        let now = self.now_ms;
        // First fit with a moving cursor: a worker that refuses a request once refuses it for
        // the rest of the pass (its free resources only shrink).
        let mut cursor = 0;
        while left > 0 && cursor < self.existing.len() {
            if self.existing[cursor].accepts(req, now) {
                left -= 1;
                self.report.fit_existing += 1;
            } else {
                cursor += 1;
            }
        }
        if left == 0 || !matches!(self.fit(req), Fit::Yes) {
            return left;
        }
        let mut cursor = 0;
        while left > 0 {
            if cursor == self.hyp.len() {
                if self.new_budget == 0 {
                    break;
                }
                self.new_budget -= 1;
                let g = self.fresh_group();
                let w = self.hyp_worker(g);
                self.hyp.push(w);
            }
            if self.hyp[cursor].accepts(req, now) {
                left -= 1;
            } else {
                cursor += 1;
            }
        }
        left
    }

    fn place_multi_node(&mut self, req: &ResourceRequestVariants, count: u64) -> u64 {
        let mut left = count;
        while left > 0 {
            let placed = req
                .by_weight()
                .any(|v| self.place_one_multi_node(&req.variants[v]));
            if !placed {
                break;
            }
            left -= 1;
        }
        left
    }

    fn place_one_multi_node(&mut self, r: &ResourceRequest) -> bool {
        let n = r.n_nodes as usize;
        let now = self.now_ms;
        for pool in [&mut self.existing, &mut self.hyp] {
            let mut by_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for (i, w) in pool.iter().enumerate() {
                let idle = w.tasks == 0 && !w.busy_multi_node && w.allocator.is_idle();
                if idle && deadline_ok(w.deadline_ms, r.min_time_secs, now) {
                    by_group.entry(w.group).or_default().push(i);
                }
            }
            if let Some(members) = by_group.into_values().find(|m| m.len() >= n) {
                for &i in &members[..n] {
                    pool[i].busy_multi_node = true;
                    pool[i].tasks += 1;
                }
                return true;
            }
        }
        let lifetime_ok = self
            .query
            .lifetime_ms
            .is_none_or(|l| l >= r.min_time_secs * 1000);
        if n as u32 > self.query.max_nodes || self.new_budget < n as u32 || !lifetime_ok {
            return false;
        }
        self.new_budget -= n as u32;
        self.report.new_multi_node.push(n as u32);
        true
    }

    /// Why tasks of a request that found no place stay without one.
    fn leftover(&mut self, req: &ResourceRequestVariants, tasks: u64) {
        match self.fit(req) {
            Fit::Yes => self.report.over_limit += tasks,
            Fit::Undeclared => self.report.undeclared += tasks,
            Fit::No(reason) => match self.reasons.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, n)) => *n += tasks,
                None => self.reasons.push((reason, tasks)),
            },
        }
    }

    /// Whether any variant could run on an empty worker of the shape (a fresh allocation).
    fn fit(&self, req: &ResourceRequestVariants) -> Fit {
        let mut first_reason = None;
        let mut undeclared = false;
        for r in &req.variants {
            match self.fit_variant(r) {
                Fit::Yes => return Fit::Yes,
                Fit::Undeclared => undeclared = true,
                Fit::No(reason) => {
                    first_reason.get_or_insert(reason);
                }
            }
        }
        match (undeclared, first_reason) {
            (true, _) => Fit::Undeclared,
            (false, Some(reason)) => Fit::No(reason),
            (false, None) => Fit::No("the task has no resource variant".into()),
        }
    }

    fn fit_variant(&self, r: &ResourceRequest) -> Fit {
        if let Some(lifetime) = self.query.lifetime_ms {
            if r.min_time_secs * 1000 > lifetime {
                return Fit::No(format!(
                    "time request {} exceeds what a new worker can offer ({}: the time limit \
                     minus start-up)",
                    secs(r.min_time_secs),
                    secs(lifetime / 1000)
                ));
            }
        }
        if r.n_nodes > 0 {
            if r.n_nodes > self.query.max_nodes {
                return Fit::No(format!(
                    "needs {} nodes, but allocations of this queue have at most {} workers",
                    r.n_nodes, self.query.max_nodes
                ));
            }
            return Fit::Yes;
        }
        // What the shape declares is checked by the allocator's rules (`resources::fit`);
        // with partial knowledge, resources it does not name may still exist.
        let worker = self.query.worker;
        let mut declared = r.clone();
        declared
            .resources
            .retain(|e| worker.get(&e.resource).is_some() || !self.query.partial);
        let one = ResourceRequestVariants::single(declared);
        match why_never_runs_on(&one, &[worker], "worker of this queue") {
            Some(reason) => Fit::No(reason),
            None if one.variants[0].resources.len() < r.resources.len() => Fit::Undeclared,
            None => Fit::Yes,
        }
    }

    fn finish(mut self) -> DemandReport {
        let mut used_per_group: BTreeMap<usize, u32> = BTreeMap::new();
        for w in &self.hyp[..self.queued_workers] {
            *used_per_group.entry(w.group).or_default() += u32::from(w.tasks > 0);
        }
        let groups = self.query.queued.len();
        self.report.queued_used = (0..groups)
            .map(|g| used_per_group.get(&g).copied().unwrap_or(0))
            .collect();
        let total_cpus = self
            .query
            .worker
            .get(CPU_RESOURCE_NAME)
            .map(|k| k.size().0)
            .unwrap_or(0);
        let min = self.query.min_utilization;
        self.report.new_workers = self.hyp[self.queued_workers..]
            .iter()
            .filter(|w| w.tasks > 0 && utilization(w, total_cpus) >= min)
            .count() as u32;
        self.report.unrunnable = self
            .reasons
            .into_iter()
            .map(|(reason, tasks)| Unrunnable { tasks, reason })
            .collect();
        self.report
    }
}

fn utilization(w: &SimWorker, total_cpus: u64) -> f32 {
    if total_cpus == 0 {
        return 1.0;
    }
    let free = w
        .allocator
        .free_amount(CPU_RESOURCE_NAME)
        .map(|a| a.0)
        .unwrap_or(total_cpus);
    (total_cpus - free.min(total_cpus)) as f32 / total_cpus as f32
}

fn secs(s: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(s)).to_string()
}
