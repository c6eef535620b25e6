//! Tasks queued on workers beyond their free resources, so a freed slot never waits for the
//! server: when every fitting resource is taken, a pass queues each remaining ready task behind
//! one running task of the same request on a worker, in a chain up to `QUEUE_DEPTH` deep (`core.rs`)
//! (breadth first: each running task gets one before any gets a second, and so on), so a slot
//! keeps running while the server has not yet heard of its last ends. The worker starts the
//! first in that task's allocation the moment the task ends, and the scheduler hands the
//! allocation over in [`Scheduler::task_done`] without releasing it; the rest move up. A queued task is still
//! waiting: it is not counted as ready and holds nothing. It returns to its ready queue when
//! its worker is lost. The pass asks its worker to give it back ([`Scheduler::take_retractions`],
//! answered through [`Scheduler::retracted`]) when another worker has room for it, when a
//! higher priority waits for resources (the slot it would take over), and when its worker is
//! kept free for a waiting multi-node task.

use super::core::{
    chain_head, chain_tail, deadline_ok, push_chainable, Chain, Placement, QueueKey, Queued,
    SWorker,
};
use super::{Assignment, Scheduler, TaskKey};
use crate::protocol::messages::WorkerId;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};

impl Scheduler {
    /// Queues tasks of `queue` behind running tasks of the same request, after the free
    /// resources are used up. The workers share the tasks evenly, each taking its share as a
    /// run of neighbouring IDs: a worker reports its tasks together, and neighbouring IDs are
    /// neighbours in the in-flight maps (see `task_map.rs`) and in the job's task table, where
    /// one task per worker in turn would put each report's tasks a worker count apart.
    /// `candidates` are the workers with running tasks of the request, busiest first.
    pub(super) fn queue_behind(
        &mut self,
        qkey: QueueKey,
        queue: &mut super::ready::ReadyQueue,
        mut candidates: Vec<WorkerId>,
        now_ms: u64,
        out: &mut Vec<Assignment>,
    ) {
        while !queue.is_empty() && !candidates.is_empty() {
            let share = queue.len().div_ceil(candidates.len());
            let mut i = 0;
            while i < candidates.len() && !queue.is_empty() {
                let taken = self.queue_share(qkey, candidates[i], share, queue, now_ms, out);
                if taken < share {
                    candidates.swap_remove(i);
                } else {
                    i += 1;
                }
            }
        }
    }

    /// Queues up to `share` tasks from the front of `queue` on `wid`; returns how many it
    /// queued (fewer when the worker has no more room).
    fn queue_share(
        &mut self,
        qkey: QueueKey,
        wid: WorkerId,
        share: usize,
        queue: &mut super::ready::ReadyQueue,
        now_ms: u64,
        out: &mut Vec<Assignment>,
    ) -> usize {
        let req_id = qkey.2;
        let mut taken = 0;
        while taken < share {
            let Some(task) = queue.front() else {
                break;
            };
            let key = TaskKey { job: qkey.1, task };
            let Some((after, variant, allocation)) = self.chain_slot(wid, req_id, now_ms, key)
            else {
                break;
            };
            queue.pop_front();
            let queued = Queued {
                after,
                next: None,
                worker: wid,
                qkey,
                variant,
                retracting: false,
            };
            self.queued.insert(key, queued);
            *self.queued_per_req.entry(req_id).or_default() += 1;
            *self.queued_per_level.entry(qkey.0).or_default() += 1;
            out.push(Assignment {
                key,
                workers: smallvec::smallvec![wid],
                variant,
                allocation,
                after: Some(after),
            });
            taken += 1;
        }
        taken
    }

    /// The end of a chain behind a running task of `req` on `wid` that has room for `next`
    /// (the running task itself, or the task queued behind it) and whose variant's time request
    /// the worker still allows; `next` is linked behind it, which is returned with the variant
    /// and the allocation `next` will take over. Chains fill breadth first: every running task
    /// gets one successor before any gets a second. Stale entries are dropped on the way.
    fn chain_slot(
        &mut self,
        wid: WorkerId,
        req: u32,
        now_ms: u64,
        next: TaskKey,
    ) -> Option<(TaskKey, u32, crate::resources::Allocation)> {
        let depth = self.queue_depth();
        let worker = self.workers.get_mut(&wid)?;
        let slots = worker.chainable.get_mut(&req)?;
        while let Some(key) = slots.pop_back() {
            let Some(p) = self.running.get_mut(&key) else {
                continue;
            };
            if p.workers[0] != wid {
                continue;
            }
            let variant = &self.requests[req as usize].variants[p.variant as usize];
            if !deadline_ok(worker.deadline_ms, variant.min_time_secs, now_ms) {
                continue;
            }
            let (after, chain) = match p.chain {
                None => (
                    key,
                    Chain {
                        first: next,
                        last: next,
                        len: 1,
                    },
                ),
                Some(c) if (c.len as usize) < depth => (
                    c.last,
                    Chain {
                        last: next,
                        len: c.len + 1,
                        ..c
                    },
                ),
                Some(_) => continue,
            };
            if let Some(q) = self.queued.get_mut(&after) {
                q.next = Some(next);
            }
            p.chain = Some(chain);
            if (chain.len as usize) < depth {
                // Room for another, after the other running tasks got theirs.
                slots.push_front(key);
            }
            return Some((after, p.variant, p.allocation.clone()));
        }
        None
    }

    /// The first task of `chain` starts in the allocation of `ended`, which just ended.
    pub(super) fn promote(&mut self, ended: TaskKey, chain: Chain, mut p: Placement) {
        let next = chain.first;
        p.chain = None;
        let wid = p.workers[0];
        let Some(q) = self.take_queued(next) else {
            debug_assert!(false, "a placement points to a task that is not queued");
            if let Some(w) = self.workers.get_mut(&wid) {
                w.allocator.release(&p.allocation);
            }
            return;
        };
        // The task queued behind it (its `after` is already `next`) is now first in line.
        p.chain = chain.without(next, ended, q.next);
        self.running.insert(next, p);
        // After the insert: compacting the list keeps only running tasks.
        let depth = self.queue_depth();
        if let Some(w) = self.workers.get_mut(&wid) {
            push_chainable(w, q.qkey.2, next, &self.running, depth);
        }
    }

    /// Queued tasks the pass wants back, with the worker to ask.
    pub fn take_retractions(&mut self) -> Vec<(WorkerId, TaskKey)> {
        std::mem::take(&mut self.retractions)
    }

    /// Whether the task is queued on a worker; returns that worker.
    pub fn queued_on(&self, key: TaskKey) -> Option<WorkerId> {
        self.queued.get(&key).map(|q| q.worker)
    }

    /// How many tasks are queued on workers.
    pub fn queued_count(&self) -> usize {
        self.queued.len()
    }

    /// The tasks queued on a worker, in order.
    pub fn queued_on_worker(&self, worker: WorkerId) -> Vec<TaskKey> {
        let mut keys: Vec<TaskKey> = self
            .queued
            .iter()
            .filter(|(_, q)| q.worker == worker)
            .map(|(k, _)| *k)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Forgets a queued task (it ended, or waits again: the server makes it ready then).
    pub(super) fn unqueue(&mut self, key: TaskKey) {
        self.unlink(key);
    }

    /// Drops the tasks queued on a worker that is going away.
    pub(super) fn unqueue_on(&mut self, worker: WorkerId) {
        for key in self.queued_on_worker(worker) {
            self.unlink(key);
        }
    }

    /// Removes a queued task from its chain; the task behind it (if any) moves up behind its
    /// predecessor, and the chain's running task may get another.
    fn unlink(&mut self, key: TaskKey) -> Option<Queued> {
        let q = self.take_queued(key)?;
        if let Some(behind) = q.next.and_then(|n| self.queued.get_mut(&n)) {
            behind.after = q.after;
        }
        let head = match self.queued.get_mut(&q.after) {
            Some(before) => {
                before.next = q.next;
                let up = before.after;
                chain_head(&self.queued, up)
            }
            None if self.running.contains_key(&q.after) => q.after,
            None => return Some(q),
        };
        if let Some(p) = self.running.get_mut(&head) {
            p.chain = p.chain.and_then(|c| c.without(key, q.after, q.next));
        }
        let depth = self.queue_depth();
        if let Some(w) = self.workers.get_mut(&q.worker) {
            push_chainable(w, q.qkey.2, head, &self.running, depth);
        }
        Some(q)
    }

    fn take_queued(&mut self, key: TaskKey) -> Option<Queued> {
        let q = self.queued.remove(&key)?;
        if let Some(n) = self.queued_per_req.get_mut(&q.qkey.2) {
            *n -= 1;
            if *n == 0 {
                self.queued_per_req.remove(&q.qkey.2);
            }
        }
        if let Some(n) = self.queued_per_level.get_mut(&q.qkey.0) {
            *n -= 1;
            if *n == 0 {
                self.queued_per_level.remove(&q.qkey.0);
            }
        }
        Some(q)
    }

    /// After a pass: queued tasks whose request has no ready task left and that fit the free
    /// resources of another worker are asked back, as many as fit there.
    /// Runs only while some request has queued tasks and no ready ones (the tail of a job),
    /// and then looks at every worker: one that went idle earlier is not in any pass's hints.
    pub(super) fn plan_retractions(&mut self, waiting_level: Option<Reverse<i32>>, now_ms: u64) {
        if self.queued_per_req.is_empty() {
            return;
        }
        self.retract_in_the_way(waiting_level);
        let waiting: HashSet<u32> = self.queues.keys().map(|k| k.2).collect();
        if self.queued_per_req.keys().all(|r| waiting.contains(r)) {
            return;
        }
        let mut by_req: BTreeMap<u32, Vec<(TaskKey, WorkerId)>> = BTreeMap::new();
        // Tasks asked back earlier and not given back yet will take free resources too.
        let mut in_flight: BTreeMap<u32, usize> = BTreeMap::new();
        for (k, q) in self.queued.iter() {
            if waiting.contains(&q.qkey.2) {
                continue;
            }
            match q.retracting {
                false => by_req.entry(q.qkey.2).or_default().push((*k, q.worker)),
                true => *in_flight.entry(q.qkey.2).or_default() += 1,
            }
        }
        if by_req.is_empty() {
            return;
        }
        // Largest first: each retraction takes the smallest key from the end.
        for list in by_req.values_mut() {
            list.sort_unstable_by(|a, b| b.cmp(a));
        }
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for wid in ids {
            self.retract_for(wid, &mut by_req, &mut in_flight, now_ms);
        }
    }

    /// Picks queued tasks (of any worker, its own included) that fit `wid`'s free resources,
    /// after the tasks already asked back (`in_flight`, by request) took their share.
    fn retract_for(
        &mut self,
        wid: WorkerId,
        by_req: &mut BTreeMap<u32, Vec<(TaskKey, WorkerId)>>,
        in_flight: &mut BTreeMap<u32, usize>,
        now_ms: u64,
    ) {
        if self.held_for_multi_node.contains(&wid) {
            return;
        }
        let Some(w) = self
            .workers
            .get_mut(&wid)
            .filter(|w| !w.reserved && w.min_busy_cpus.is_zero())
        else {
            return;
        };
        let mut held = Vec::new();
        let requests = &self.requests;
        let fit = |req: u32, w: &mut SWorker| {
            let variants = &requests[req as usize];
            variants.by_weight().find_map(|v| {
                let r = &variants.variants[v];
                if !deadline_ok(w.deadline_ms, r.min_time_secs, now_ms) {
                    return None;
                }
                w.allocator.try_allocate(r)
            })
        };
        for (req, n) in in_flight.iter_mut() {
            while *n > 0 {
                let Some(allocation) = fit(*req, w) else {
                    break;
                };
                held.push(allocation);
                *n -= 1;
            }
        }
        for (req, list) in by_req.iter_mut() {
            while !list.is_empty() {
                let Some(allocation) = fit(*req, w) else {
                    break;
                };
                held.push(allocation);
                let Some((key, on)) = list.pop() else {
                    break;
                };
                if let Some(q) = self.queued.get_mut(&key) {
                    q.retracting = true;
                }
                self.retractions.push((on, key));
            }
        }
        for a in &held {
            w.allocator.release(a);
        }
    }

    /// Queued tasks of a lower priority than `top`, the highest level with ready tasks waiting
    /// for resources, would take the slot that task
    /// waits for, and queued tasks on workers kept for a multi-node task keep them busy: both
    /// are asked back.
    fn retract_in_the_way(&mut self, top: Option<Reverse<i32>>) {
        let lower_queued = match (top, self.queued_per_level.keys().next_back()) {
            (Some(top), Some(lowest)) => *lowest > top,
            _ => false,
        };
        if !lower_queued && self.held_for_multi_node.is_empty() {
            return;
        }
        let mut keys: Vec<(TaskKey, WorkerId)> = self
            .queued
            .iter_mut()
            .filter(|(_, q)| !q.retracting)
            .filter(|(_, q)| {
                top.is_some_and(|t| q.qkey.0 > t) || self.held_for_multi_node.contains(&q.worker)
            })
            .map(|(k, q)| {
                q.retracting = true;
                (*k, q.worker)
            })
            .collect();
        keys.sort_unstable();
        self.retractions
            .extend(keys.into_iter().map(|(k, w)| (w, k)));
    }

    /// Invariants of queued tasks (tests call it through `sanity_check`).
    pub(super) fn sanity_check_queued(&self) {
        for (key, q) in self.queued.iter() {
            let behind_running = |after: &TaskKey| {
                self.running
                    .get(after)
                    .is_some_and(|p| p.workers.as_slice() == [q.worker])
            };
            let linked = match self.running.get(&q.after) {
                Some(p) => p.chain.map(|c| c.first) == Some(*key) && behind_running(&q.after),
                None => self.queued.get(&q.after).is_some_and(|b| {
                    let head = chain_head(&self.queued, b.after);
                    b.next == Some(*key) && b.worker == q.worker && behind_running(&head)
                }),
            };
            assert!(
                linked,
                "queued task {key:?} is not in a chain behind a running task of its worker"
            );
            if let Some(next) = q.next {
                assert!(
                    self.queued.get(&next).is_some_and(|n| n.after == *key),
                    "{key:?} points to {next:?}, which is not queued behind it"
                );
            }
            assert!(
                !self.running.contains_key(key),
                "{key:?} queued and running"
            );
        }
        for (key, p) in self.running.iter() {
            if let Some(chain) = p.chain {
                let next = chain.first;
                assert!(
                    self.queued.get(&next).is_some_and(|q| q.after == *key),
                    "{key:?} points to {next:?}, which is not queued behind it"
                );
                let tail = chain_tail(&self.queued, next);
                assert!(
                    tail.is_some_and(|(_, len)| len <= self.queue_depth()),
                    "the chain behind {key:?} is broken or deeper than the depth: {tail:?}"
                );
                assert_eq!(
                    Some((chain.last, chain.len as usize)),
                    tail,
                    "the chain summary of {key:?} is out of date"
                );
            }
        }
    }
}
