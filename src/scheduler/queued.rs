//! Tasks queued on workers beyond their free resources, so a freed slot never waits for the
//! server: when every fitting resource is taken, a pass queues each remaining ready task behind
//! one running task of the same request on a worker (at most one behind each). The worker
//! starts it in that task's allocation the moment the task ends, and the scheduler hands the
//! allocation over in [`Scheduler::task_done`] without releasing it. A queued task is still
//! waiting: it is not counted as ready and holds nothing. It returns to its ready queue when
//! its worker is lost, and when another worker has room for it the pass asks its worker to give
//! it back ([`Scheduler::take_retractions`], answered through [`Scheduler::retracted`]).

use super::core::{push_chainable, Placement, QueueKey, Queued};
use super::{Assignment, Scheduler, TaskKey};
use crate::protocol::messages::WorkerId;
use std::collections::{BTreeMap, HashSet};

impl Scheduler {
    /// Queues tasks of `queue` behind running tasks of the same request, round-robin over the
    /// workers, after the free resources are used up.
    pub(super) fn queue_behind(
        &mut self,
        qkey: QueueKey,
        queue: &mut super::ready::ReadyQueue,
        pool: &[WorkerId],
        now_ms: u64,
        out: &mut Vec<Assignment>,
    ) {
        let req_id = qkey.2;
        let has_slots = |id: &WorkerId| {
            self.workers
                .get(id)
                .filter(|w| !w.reserved)
                .and_then(|w| w.chainable.get(&req_id))
                .is_some_and(|c| !c.is_empty())
        };
        let mut candidates: Vec<WorkerId> = pool.iter().copied().filter(has_slots).collect();
        let mut i = 0;
        while !queue.is_empty() && !candidates.is_empty() {
            if i >= candidates.len() {
                i = 0;
            }
            let wid = candidates[i];
            match self.chain_slot(wid, req_id, now_ms) {
                Some(after) => {
                    let task = queue.pop_front().unwrap_or_default();
                    let key = TaskKey { job: qkey.1, task };
                    let p = self.running.get_mut(&after).expect("chain slot is running");
                    p.next = Some(key);
                    let queued = Queued {
                        after,
                        worker: wid,
                        qkey,
                        retracting: false,
                    };
                    self.queued.insert(key, queued);
                    *self.queued_per_req.entry(req_id).or_default() += 1;
                    out.push(Assignment {
                        key,
                        workers: vec![wid],
                        variant: p.variant,
                        allocation: p.allocation.clone(),
                        after: Some(after),
                    });
                    i += 1;
                }
                None => {
                    candidates.swap_remove(i);
                }
            }
        }
    }

    /// A running task of `req` on `wid` with nothing queued behind it whose variant's time
    /// request the worker still allows; stale entries are dropped on the way.
    fn chain_slot(&mut self, wid: WorkerId, req: u32, now_ms: u64) -> Option<TaskKey> {
        let worker = self.workers.get_mut(&wid)?;
        let slots = worker.chainable.get_mut(&req)?;
        while let Some(key) = slots.pop() {
            let Some(p) = self.running.get(&key) else {
                continue;
            };
            if p.next.is_some() || p.workers[0] != wid {
                continue;
            }
            let variant = &self.requests[req as usize].variants[p.variant as usize];
            if worker_time_ok(worker.deadline_ms, variant.min_time_secs, now_ms) {
                return Some(key);
            }
        }
        None
    }

    /// The queued task `next` starts in the allocation of the task that just ended.
    pub(super) fn promote(&mut self, next: TaskKey, mut p: Placement) {
        let Some(q) = self.take_queued(next) else {
            debug_assert!(false, "a placement points to a task that is not queued");
            return;
        };
        p.next = None;
        let wid = p.workers[0];
        if let Some(w) = self.workers.get_mut(&wid) {
            push_chainable(w, q.qkey.2, next, &self.running);
            self.chainers.insert(wid);
        }
        self.started.push(Assignment {
            key: next,
            workers: p.workers.clone(),
            variant: p.variant,
            allocation: p.allocation.clone(),
            after: Some(q.after),
        });
        self.running.insert(next, p);
    }

    /// Queued tasks that started since the last call (each took over an ended task's
    /// allocation); the server records them as started.
    pub fn take_started(&mut self) -> Vec<Assignment> {
        std::mem::take(&mut self.started)
    }

    /// Queued tasks the pass wants back, with the worker to ask.
    pub fn take_retractions(&mut self) -> Vec<(WorkerId, TaskKey)> {
        std::mem::take(&mut self.retractions)
    }

    /// The worker gave a queued task back: it is ready again.
    pub fn retracted(&mut self, worker: WorkerId, key: TaskKey) {
        if self.queued.get(&key).is_some_and(|q| q.worker == worker) {
            self.unlink(key, true);
        }
    }

    /// Whether the task is queued on a worker; returns that worker.
    pub fn queued_on(&self, key: TaskKey) -> Option<WorkerId> {
        self.queued.get(&key).map(|q| q.worker)
    }

    /// How many tasks are queued on workers.
    pub fn queued_count(&self) -> usize {
        self.queued.len()
    }

    /// Forgets a queued task without making it ready (it no longer waits).
    pub fn unqueue(&mut self, key: TaskKey) {
        self.unlink(key, false);
    }

    /// Removes a queued task from behind its running task; back to its ready queue (front) when
    /// `requeue`, otherwise dropped.
    fn unlink(&mut self, key: TaskKey, requeue: bool) -> Option<Queued> {
        let q = self.take_queued(key)?;
        if let Some(p) = self.running.get_mut(&q.after) {
            p.next = None;
            if let Some(w) = self.workers.get_mut(&q.worker) {
                push_chainable(w, q.qkey.2, q.after, &self.running);
                self.chainers.insert(q.worker);
            }
        }
        if requeue {
            self.queues.entry(q.qkey).or_default().push_front(key.task);
            self.ready_count += 1;
            self.rescan = true;
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
        Some(q)
    }

    /// Drops the queued tasks that match; returns them with their workers.
    pub(super) fn unqueue_where(
        &mut self,
        matches: impl Fn(&TaskKey) -> bool,
    ) -> Vec<(WorkerId, TaskKey)> {
        if self.queued.is_empty() {
            return Vec::new();
        }
        let mut keys: Vec<TaskKey> = self.queued.keys().filter(|k| matches(k)).copied().collect();
        keys.sort_unstable();
        keys.into_iter()
            .filter_map(|k| self.unlink(k, false).map(|q| (q.worker, k)))
            .collect()
    }

    /// Every task queued on a lost worker is ready again.
    pub(super) fn requeue_queued_on(&mut self, worker: WorkerId) {
        let mut keys: Vec<TaskKey> = self
            .queued
            .iter()
            .filter(|(_, q)| q.worker == worker)
            .map(|(k, _)| *k)
            .collect();
        // Pushed to the front one by one: the highest ID first keeps the original order.
        keys.sort_unstable_by(|a, b| b.cmp(a));
        for k in keys {
            self.unlink(k, true);
        }
    }

    /// After a pass: queued tasks whose request has no ready task left and that fit the free
    /// resources of another worker are asked back, as many as fit there.
    /// Runs only while some request has queued tasks and no ready ones (the tail of a job),
    /// and then looks at every worker: one that went idle earlier is not in any pass's hints.
    pub(super) fn plan_retractions(&mut self, now_ms: u64) {
        if self.queued_per_req.is_empty() {
            return;
        }
        let waiting: HashSet<u32> = self.queues.keys().map(|k| k.2).collect();
        if self.queued_per_req.keys().all(|r| waiting.contains(r)) {
            return;
        }
        let mut by_req: BTreeMap<u32, Vec<(TaskKey, WorkerId)>> = BTreeMap::new();
        for (k, q) in &self.queued {
            if !q.retracting && !waiting.contains(&q.qkey.2) {
                by_req.entry(q.qkey.2).or_default().push((*k, q.worker));
            }
        }
        if by_req.is_empty() {
            return;
        }
        for list in by_req.values_mut() {
            list.sort_unstable();
        }
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for wid in ids {
            self.retract_for(wid, &mut by_req, now_ms);
        }
    }

    /// Picks queued tasks (of any worker, its own included) that fit `wid`'s free resources.
    fn retract_for(
        &mut self,
        wid: WorkerId,
        by_req: &mut BTreeMap<u32, Vec<(TaskKey, WorkerId)>>,
        now_ms: u64,
    ) {
        let Some(w) = self.workers.get_mut(&wid).filter(|w| !w.reserved) else {
            return;
        };
        let mut held = Vec::new();
        for (req, list) in by_req.iter_mut() {
            let variants = &self.requests[*req as usize].variants;
            while !list.is_empty() {
                let fits = variants.iter().find_map(|r| {
                    if !worker_time_ok(w.deadline_ms, r.min_time_secs, now_ms) {
                        return None;
                    }
                    w.allocator.try_allocate(r)
                });
                let Some(allocation) = fits else { break };
                held.push(allocation);
                let (key, on) = list.remove(0);
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

    /// Invariants of queued tasks (tests call it through `sanity_check`).
    pub(super) fn sanity_check_queued(&self) {
        for (key, q) in &self.queued {
            let p = self.running.get(&q.after);
            assert!(
                p.is_some_and(|p| p.next == Some(*key) && p.workers == [q.worker]),
                "queued task {key:?} is not behind a running task of its worker"
            );
            assert!(
                !self.running.contains_key(key),
                "{key:?} queued and running"
            );
        }
        for (key, p) in &self.running {
            if let Some(next) = p.next {
                assert!(
                    self.queued.get(&next).is_some_and(|q| q.after == *key),
                    "{key:?} points to {next:?}, which is not queued behind it"
                );
            }
        }
    }
}

pub(super) fn worker_time_ok(deadline_ms: Option<u64>, min_time_secs: u64, now_ms: u64) -> bool {
    match deadline_ms {
        Some(deadline) if min_time_secs > 0 => {
            deadline.saturating_sub(now_ms) >= min_time_secs * 1000
        }
        _ => true,
    }
}
