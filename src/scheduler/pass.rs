//! One scheduling pass: ready queues in priority order, each placed on workers compactly (the
//! busiest worker that fits first, so other workers stay idle and can time out or take large
//! tasks); what a queue cannot place now holds back resources from lower priorities.
//!
//! Holding back (so large tasks are not starved by a stream of small lower-priority ones): a
//! queue left with tasks keeps, against queues of lower priority (equal priorities do not hold
//! from each other), on as many workers where it could run as it has tasks left, the free
//! amount of every resource it is short of there; other resources stay usable. A waiting
//! multi-node task keeps whole workers of a group that could host it. Holds last for the pass;
//! the next pass makes them again, so a task gathers resources as they are freed. A request
//! that could never run on a worker holds nothing there.
//!
//! Workers with `--min-utilization` are filled last, from what is left (`utilization`).
//!
//! Within one priority, heavier requests (`--weight`) are placed first ([`Scheduler::pass_order`])
//! and a task takes its heaviest variant that fits; weights hold nothing back, so lighter
//! tasks fill what is left.
//!
//! Time limit (`--scheduler-time-limit`): the caller's `out_of_time` is asked every
//! [`PLACEMENTS_PER_CHECK`] placements; once it says yes, the pass stops placing and leaves
//! the remaining ready tasks for the next pass, which the caller runs soon ([`PassResult`]).
//!
//! What a queue cannot place in free resources is queued behind running tasks of the same
//! request (`queued`), unless a higher priority level still waits: its tasks get the resources
//! that running tasks free. Queued tasks that stand in the way of a waiting higher priority or
//! a multi-node task, or that an idle worker could run now, are asked back at the end.

use super::core::{
    push_chainable, time_ok, Assignment, Placement, QueueKey, ReqId, SWorker, Scheduler, TaskKey,
    Workers,
};
use super::order::{Order, OrderKey};
use super::ready::ReadyQueue;
use crate::protocol::messages::WorkerId;
use crate::resources::{
    Allocation, AllocationRequest, ResourceAmount, ResourceRequest, CPU_RESOURCE_NAME,
};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

/// Placements between two looks at the clock: a pass always places this many tasks (or all it
/// can), so even a zero time limit makes progress.
pub const PLACEMENTS_PER_CHECK: u32 = 64;

/// What one pass decided.
#[derive(Debug, Default)]
pub struct PassResult {
    pub assignments: Vec<Assignment>,
    /// The pass stopped at its time limit; ready tasks it did not get to wait for another pass,
    /// which should run soon (no event may come to trigger it).
    pub cut_short: bool,
}

/// State of one pass.
pub(super) struct Pass<'t> {
    pub(super) out: Vec<Assignment>,
    out_of_time: &'t mut dyn FnMut() -> bool,
    since_check: u32,
    /// The time limit was reached: nothing more is placed.
    pub(super) stopped: bool,
    /// Requests that left tasks in an earlier (higher) queue: later queues with the same
    /// request wait, so jobs of equal priority keep their order.
    blocked: HashSet<ReqId>,
    /// Resources held for waiting higher-priority tasks, given back at the end.
    holds: Vec<(WorkerId, Allocation)>,
    /// Workers kept whole for waiting multi-node tasks.
    pub(super) held_workers: HashSet<WorkerId>,
    /// The compact order of the open workers, sorted once (`None` until the first queue, and
    /// after a multi-node task changed which workers are open) and then kept up to date.
    order: Option<Rc<Order>>,
    /// Workers placed on or held from since the order was last brought up to date.
    touched: Vec<WorkerId>,
    /// Workers that may have running tasks of a request to queue behind (a superset: checked
    /// when used), found at the first queue that queues any and then kept up to date.
    chainable_on: Option<FxHashMap<ReqId, Vec<WorkerId>>>,
}

impl<'t> Pass<'t> {
    fn new(out_of_time: &'t mut dyn FnMut() -> bool) -> Self {
        Pass {
            out: Vec::new(),
            out_of_time,
            since_check: 0,
            stopped: false,
            blocked: HashSet::new(),
            holds: Vec::new(),
            held_workers: HashSet::new(),
            order: None,
            touched: Vec::new(),
            chainable_on: None,
        }
    }

    /// Something was placed on or held from the worker: it may move in the order.
    pub(super) fn touched(&mut self, wid: WorkerId) {
        if self.touched.last() != Some(&wid) {
            self.touched.push(wid);
        }
    }

    /// A task of `req` was placed on the worker: others may queue behind it.
    fn placed_on(&mut self, req: ReqId, wid: WorkerId) {
        if let Some(on) = self.chainable_on.as_mut() {
            let on = on.entry(req).or_default();
            if on.last() != Some(&wid) {
                on.push(wid);
            }
        }
    }

    /// Which workers are open changed: the order is sorted again.
    fn reopened(&mut self) {
        self.order = None;
        self.touched.clear();
    }

    /// Counts a placement; returns whether the pass must stop (time limit reached).
    fn placed(&mut self) -> bool {
        self.since_check += 1;
        if self.since_check >= PLACEMENTS_PER_CHECK {
            self.since_check = 0;
            self.stopped = (self.out_of_time)();
        }
        self.stopped
    }
}

impl Scheduler {
    /// One scheduling pass without a time limit: assigns as many ready tasks as fit, in pass
    /// order.
    pub fn schedule(&mut self, now_ms: u64) -> Vec<Assignment> {
        self.schedule_within(now_ms, &mut || false).assignments
    }

    /// One scheduling pass that stops placing once `out_of_time` says so (asked every
    /// [`PLACEMENTS_PER_CHECK`] placements; the scheduler itself reads no clock).
    pub fn schedule_within(
        &mut self,
        now_ms: u64,
        out_of_time: &mut dyn FnMut() -> bool,
    ) -> PassResult {
        let mut pass = Pass::new(out_of_time);
        let keys = self.pass_order();
        // Holds of the current priority level, applied before the first lower-priority queue:
        // tasks of equal priority do not hold resources from each other.
        let mut pending: Vec<(ReqId, usize)> = Vec::new();
        let mut level = None;
        // The highest level that left tasks waiting for some worker: lower ones queue nothing
        // behind running tasks, so the resources those free go to the waiting tasks.
        let mut waiting_level = None;
        for qkey in keys {
            if pass.stopped {
                break;
            }
            if level != Some(qkey.0) {
                for (req, count) in pending.drain(..) {
                    if self.hold_for(req, count, now_ms, &mut pass) {
                        waiting_level = waiting_level.or(level);
                    }
                }
                level = Some(qkey.0);
            }
            if pass.blocked.contains(&qkey.2) {
                continue;
            }
            let Some(mut queue) = self.queues.remove(&qkey) else {
                continue;
            };
            let before = queue.len();
            if self.requests[qkey.2 as usize].is_multi_node() {
                self.schedule_multi_node(qkey, &mut queue, now_ms, &mut pass);
            } else {
                self.schedule_queue(qkey, &mut queue, now_ms, &mut pass);
                if !queue.is_empty() && waiting_level.is_none() && !pass.stopped {
                    let on = self.chain_candidates(qkey.2, &mut pass);
                    self.queue_behind(qkey, &mut queue, on, now_ms, &mut pass.out);
                }
            }
            self.ready_count -= before - queue.len();
            if !queue.is_empty() {
                pass.blocked.insert(qkey.2);
                pending.push((qkey.2, queue.len()));
                self.queues.insert(qkey, queue);
            }
        }
        // After the last level only multi-node holds matter (workers with `--min-utilization`
        // and the reservation shown by `hq worker info`).
        let lower_queued = |s: &Self| {
            level.is_some_and(|l| {
                s.queued_per_level
                    .keys()
                    .next_back()
                    .is_some_and(|q| *q > l)
            })
        };
        for (req, count) in pending {
            let waits = match self.requests[req as usize].is_multi_node() {
                true => self.hold_for_multi_node(req, count, now_ms, &mut pass),
                false => {
                    waiting_level.is_none()
                        && lower_queued(self)
                        && self.runnable_somewhere(req, now_ms)
                }
            };
            if waits {
                waiting_level = waiting_level.or(level);
            }
        }
        if !pass.stopped {
            self.fill_min_utilization_workers(now_ms, &mut pass);
        }
        for (wid, alloc) in pass.holds.drain(..) {
            if let Some(w) = self.workers.get_mut(&wid) {
                w.allocator.release(&alloc);
            }
        }
        self.held_for_multi_node = std::mem::take(&mut pass.held_workers);
        self.plan_retractions(waiting_level, now_ms);
        PassResult {
            cut_short: pass.stopped,
            assignments: pass.out,
        }
    }

    /// Holds for a queue left with tasks; returns whether they wait for some worker (false:
    /// no worker could run them).
    fn hold_for(&mut self, req: ReqId, count: usize, now_ms: u64, pass: &mut Pass) -> bool {
        if self.requests[req as usize].is_multi_node() {
            self.hold_for_multi_node(req, count, now_ms, pass)
        } else {
            self.hold_for_queue(req, count, now_ms, pass)
        }
    }

    /// Whether ordinary placement may use the worker in this pass.
    pub(super) fn open_for_single_node(w: &SWorker, wid: WorkerId, pass: &Pass) -> bool {
        !w.reserved && w.min_busy_cpus.is_zero() && !pass.held_workers.contains(&wid)
    }

    /// Workers a single-node queue may use, in compact order (see [`Order`]): sorted for the
    /// first queue; after that only the workers touched since the last queue move.
    fn compact_order(&self, pass: &mut Pass) -> Rc<Order> {
        let mut touched = std::mem::take(&mut pass.touched);
        let order = match pass.order.take() {
            Some(mut order) => {
                touched.sort_unstable();
                touched.dedup();
                if !touched.is_empty() {
                    let order = Rc::make_mut(&mut order);
                    for wid in touched.drain(..) {
                        let w = self.workers.get(&wid);
                        order.update(wid, w.and_then(|w| self.order_key(wid, w, pass)));
                    }
                }
                order
            }
            None => Rc::new(Order::new(
                self.workers
                    .iter()
                    .filter_map(|(id, w)| self.order_key(*id, w, pass))
                    .collect(),
            )),
        };
        touched.clear();
        pass.touched = touched;
        pass.order = Some(order.clone());
        order
    }

    /// Where an open worker stands in the compact order; `None` if it is not open.
    fn order_key(&self, wid: WorkerId, w: &SWorker, pass: &Pass) -> Option<OrderKey> {
        Self::open_for_single_node(w, wid, pass).then(|| OrderKey {
            idle: w.allocator.is_idle(),
            free: w.allocator.free_hint(CPU_RESOURCE_NAME).unwrap_or_default(),
            id: wid,
            cpus_left: !w.allocator.exhausted(CPU_RESOURCE_NAME),
        })
    }

    /// Whether every variant of the request asks for CPUs (a worker with none free is no use).
    fn needs_cpus(&self, req: ReqId) -> bool {
        self.requests[req as usize]
            .variants
            .iter()
            .all(|v| v.resources.iter().any(|e| e.resource == CPU_RESOURCE_NAME))
    }

    /// Fills the busiest worker that fits, then the next: a worker that cannot take one more
    /// task of this request in this pass cannot take a later one either.
    fn schedule_queue(
        &mut self,
        qkey: QueueKey,
        queue: &mut ReadyQueue,
        now_ms: u64,
        pass: &mut Pass,
    ) {
        let order = self.compact_order(pass);
        'workers: for wid in order.placeable(self.needs_cpus(qkey.2)) {
            while !queue.is_empty() {
                let Some((variant, allocation)) = self.try_place(qkey.2, wid, now_ms) else {
                    break;
                };
                let task = queue.pop_front().unwrap_or_default();
                self.commit(
                    TaskKey { job: qkey.1, task },
                    qkey.2,
                    wid,
                    variant,
                    allocation,
                    pass,
                );
                if pass.placed() {
                    break 'workers;
                }
            }
            if queue.is_empty() {
                break;
            }
        }
    }

    /// The open workers where tasks of `req` can queue behind running ones, busiest first.
    fn chain_candidates(&self, req: ReqId, pass: &mut Pass) -> Vec<WorkerId> {
        let index = pass.chainable_on.get_or_insert_with(|| {
            let mut index: FxHashMap<ReqId, Vec<WorkerId>> = FxHashMap::default();
            for (wid, w) in &self.workers {
                for (r, slots) in &w.chainable {
                    if !slots.is_empty() {
                        index.entry(*r).or_default().push(*wid);
                    }
                }
            }
            index
        });
        let Some(mut on) = index.remove(&req) else {
            return Vec::new();
        };
        on.sort_unstable();
        on.dedup();
        let mut keys: Vec<OrderKey> = on
            .iter()
            .filter_map(|wid| {
                let w = self.workers.get(wid)?;
                let slots = w.chainable.get(&req).is_some_and(|c| !c.is_empty());
                slots.then(|| self.order_key(*wid, w, pass)).flatten()
            })
            .collect();
        if let Some(index) = pass.chainable_on.as_mut() {
            index.insert(req, on);
        }
        keys.sort_unstable();
        keys.into_iter().map(|k| k.id).collect()
    }

    /// The heaviest variant of a request that fits the worker now (equal weights: the first),
    /// allocated.
    pub(super) fn try_place(
        &mut self,
        req: ReqId,
        wid: WorkerId,
        now_ms: u64,
    ) -> Option<(u32, Allocation)> {
        let worker = self.workers.get_mut(&wid)?;
        let req = &self.requests[req as usize];
        req.by_weight().find_map(|v| {
            let r = &req.variants[v];
            if !time_ok(worker, r.min_time_secs, now_ms) {
                return None;
            }
            worker.allocator.try_allocate(r).map(|a| (v as u32, a))
        })
    }

    /// Records a single-node placement and its assignment.
    pub(super) fn commit(
        &mut self,
        key: TaskKey,
        req: ReqId,
        wid: WorkerId,
        variant: u32,
        allocation: Allocation,
        pass: &mut Pass,
    ) {
        pass.touched(wid);
        pass.placed_on(req, wid);
        self.running.insert(
            key,
            Placement {
                workers: smallvec::smallvec![wid],
                variant,
                allocation: allocation.clone(),
                multi_node: false,
                chain: None,
            },
        );
        // After the insert: compacting the list keeps only running tasks.
        let depth = self.queue_depth();
        if let Some(w) = self.workers.get_mut(&wid) {
            push_chainable(w, req, key, &self.running, depth);
        }
        pass.out.push(Assignment {
            key,
            workers: smallvec::smallvec![wid],
            variant,
            allocation,
            after: None,
        });
    }

    /// Holds, on up to `count` workers where the request could run, what it is short of.
    fn hold_for_queue(
        &mut self,
        req_id: ReqId,
        count: usize,
        now_ms: u64,
        pass: &mut Pass,
    ) -> bool {
        let order = self.compact_order(pass);
        let mut held = 0;
        // Most free first: the worker closest to fitting.
        for wid in order.all().rev() {
            if held == count {
                break;
            }
            let Some(variant) = (0..self.requests[req_id as usize].variants.len())
                .find(|&v| self.could_run(wid, req_id, v, now_ms))
            else {
                continue;
            };
            let request = self.requests[req_id as usize].variants[variant].clone();
            let Some(w) = self.workers.get_mut(&wid) else {
                continue;
            };
            let wants = shortfall(&mut w.allocator, &request);
            if let Some(alloc) = w.allocator.hold(&wants) {
                pass.holds.push((wid, alloc));
                pass.touched(wid);
            }
            held += 1;
        }
        held > 0
    }

    /// Whether some worker could run the request (it waits for resources, not in vain).
    fn runnable_somewhere(&self, req_id: ReqId, now_ms: u64) -> bool {
        let variants = self.requests[req_id as usize].variants.len();
        self.workers
            .keys()
            .any(|&wid| (0..variants).any(|v| self.could_run(wid, req_id, v, now_ms)))
    }

    /// Keeps whole workers of one group for each waiting multi-node task (up to `count`).
    fn hold_for_multi_node(
        &mut self,
        req_id: ReqId,
        count: usize,
        now_ms: u64,
        pass: &mut Pass,
    ) -> bool {
        let req = self.requests[req_id as usize].clone();
        let mut any = false;
        for _ in 0..count {
            let found = req.variants.iter().find_map(|r| {
                let mut by_group: BTreeMap<&str, Vec<(bool, u32, WorkerId)>> = BTreeMap::new();
                for (id, w) in &self.workers {
                    let free = !pass.held_workers.contains(id) && !w.reserved;
                    if free && time_ok(w, r.min_time_secs, now_ms) {
                        let load = (!w.allocator.is_idle(), w.allocator.running(), *id);
                        by_group.entry(w.group.as_str()).or_default().push(load);
                    }
                }
                by_group.into_values().find_map(|mut ws| {
                    (ws.len() >= r.n_nodes as usize).then(|| {
                        ws.sort_unstable();
                        ws[..r.n_nodes as usize]
                            .iter()
                            .map(|w| w.2)
                            .collect::<Vec<_>>()
                    })
                })
            });
            let Some(nodes) = found else { return any };
            pass.held_workers.extend(nodes);
            pass.reopened();
            any = true;
        }
        any
    }

    /// Multi-node tasks take whole idle workers of one group.
    fn schedule_multi_node(
        &mut self,
        qkey: QueueKey,
        queue: &mut ReadyQueue,
        now_ms: u64,
        pass: &mut Pass,
    ) {
        let req = self.requests[qkey.2 as usize].clone();
        while let Some(task) = queue.front() {
            let found = req.by_weight().find_map(|v| {
                let r = &req.variants[v];
                let mut by_group: BTreeMap<&str, Vec<WorkerId>> = BTreeMap::new();
                for (id, w) in &self.workers {
                    let free = !w.reserved && w.allocator.is_idle();
                    if free
                        && !pass.held_workers.contains(id)
                        && time_ok(w, r.min_time_secs, now_ms)
                    {
                        by_group.entry(w.group.as_str()).or_default().push(*id);
                    }
                }
                by_group
                    .into_values()
                    .find(|ws| ws.len() >= r.n_nodes as usize)
                    .map(|ws| (v as u32, Workers::from(&ws[..r.n_nodes as usize])))
            });
            let Some((variant, nodes)) = found else { break };
            queue.pop_front();
            pass.reopened();
            for (i, n) in nodes.iter().enumerate() {
                if let Some(w) = self.workers.get_mut(n) {
                    w.reserved = true;
                    w.main_node = i == 0;
                }
            }
            let key = TaskKey { job: qkey.1, task };
            self.running.insert(
                key,
                Placement {
                    workers: nodes.clone(),
                    variant,
                    allocation: Allocation::default(),
                    multi_node: true,
                    chain: None,
                },
            );
            pass.out.push(Assignment {
                key,
                workers: nodes,
                variant,
                allocation: Allocation::default(),
                after: None,
            });
            if pass.placed() {
                return;
            }
        }
    }
}

/// The entries of `request` the worker cannot satisfy now (each tried alone), with the amount
/// to hold (`None` = everything, for `all`).
fn shortfall<'r>(
    allocator: &mut crate::resources::WorkerAllocator,
    request: &'r ResourceRequest,
) -> Vec<(&'r str, Option<ResourceAmount>)> {
    let mut wants = Vec::new();
    for entry in &request.resources {
        let alone = ResourceRequest {
            resources: vec![entry.clone()],
            ..Default::default()
        };
        match allocator.try_allocate(&alone) {
            Some(a) => allocator.release(&a),
            None => {
                let amount = match entry.request {
                    AllocationRequest::All => None,
                    ref other => other.amount(),
                };
                wants.push((entry.resource.as_str(), amount));
            }
        }
    }
    wants
}
