//! Workers with `--min-utilization F`: tasks are placed there only as a set that keeps at least
//! F of the worker's CPUs busy (resources.md). They are filled at the end of a pass from the
//! queues that still have tasks.
//!
//! The set is found by a bounded depth-first search over the queues in pass order, taking
//! as many tasks of a queue as fit before trying fewer, so the first set found prefers higher
//! priorities (then heavier requests, older jobs) the way ordinary placement does. Once the worker is busy enough,
//! further tasks only add to it and are placed like anywhere else.

use super::core::{QueueKey, Scheduler, TaskKey};
use super::pass::Pass;
use crate::protocol::messages::WorkerId;
use crate::resources::{Allocation, ResourceAmount, CPU_RESOURCE_NAME};

/// Queues the search looks at (the first ones in pass order).
const MAX_QUEUES: usize = 32;
/// Allocation attempts per worker and pass before the search gives up (assigning nothing).
const BUDGET: u32 = 10_000;

struct Search {
    wid: WorkerId,
    now_ms: u64,
    target: ResourceAmount,
    total: ResourceAmount,
    queues: Vec<(QueueKey, usize)>,
    budget: u32,
}

impl Scheduler {
    pub(super) fn fill_min_utilization_workers(&mut self, now_ms: u64, pass: &mut Pass) {
        let ids: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(id, w)| {
                !w.min_busy_cpus.is_zero() && !w.reserved && !pass.held_workers.contains(id)
            })
            .map(|(id, _)| *id)
            .collect();
        for wid in ids {
            self.fill_worker(wid, now_ms, pass);
        }
    }

    fn fill_worker(&mut self, wid: WorkerId, now_ms: u64, pass: &mut Pass) {
        let Some(w) = self.workers.get(&wid) else {
            return;
        };
        let mut search = Search {
            wid,
            now_ms,
            target: w.min_busy_cpus,
            total: w.cpu_total,
            queues: self
                .pass_order()
                .into_iter()
                .filter(|k| !self.requests[k.2 as usize].is_multi_node())
                .take(MAX_QUEUES)
                .filter_map(|k| self.queues.get(&k).map(|q| (k, q.len())))
                .collect(),
            budget: BUDGET,
        };
        if search.queues.is_empty() {
            return;
        }
        let mut picks = vec![Vec::new(); search.queues.len()];
        if !self.search(&mut search, 0, &mut picks) {
            return;
        }
        for (i, taken) in picks.into_iter().enumerate() {
            let qkey = search.queues[i].0;
            for (variant, allocation) in taken {
                let Some(task) = self.queues.get_mut(&qkey).and_then(|q| q.pop_front()) else {
                    self.release_on(wid, &allocation);
                    continue;
                };
                self.ready_count -= 1;
                self.commit(
                    TaskKey { job: qkey.1, task },
                    qkey.2,
                    wid,
                    variant,
                    allocation,
                    pass,
                );
            }
            if self.queues.get(&qkey).is_some_and(|q| q.is_empty()) {
                self.queues.remove(&qkey);
            }
        }
    }

    /// Whether queues `i..` can bring the worker to its target; on success `picks[j]` holds
    /// what queue `j` places there (allocated), and once the target is reached every queue
    /// adds what still fits.
    fn search(&mut self, s: &mut Search, i: usize, picks: &mut [Vec<(u32, Allocation)>]) -> bool {
        let reached = self.busy(s) >= s.target;
        if i == s.queues.len() {
            return reached;
        }
        let (qkey, len) = s.queues[i];
        let mut taken = Vec::new();
        while taken.len() < len && s.budget > 0 {
            s.budget -= 1;
            match self.try_place(qkey.2, s.wid, s.now_ms) {
                Some(p) => taken.push(p),
                None => break,
            }
        }
        loop {
            if self.search(s, i + 1, picks) {
                picks[i] = taken;
                return true;
            }
            // Once the target is reached the rest always succeeds, so only a search below the
            // target backtracks.
            match taken.pop() {
                Some((_, a)) => self.release_on(s.wid, &a),
                None => return false,
            }
        }
    }

    fn busy(&self, s: &Search) -> ResourceAmount {
        let free = self
            .workers
            .get(&s.wid)
            .and_then(|w| w.allocator.free_amount(CPU_RESOURCE_NAME))
            .unwrap_or_default();
        ResourceAmount(s.total.0.saturating_sub(free.0))
    }

    fn release_on(&mut self, wid: WorkerId, allocation: &Allocation) {
        if let Some(w) = self.workers.get_mut(&wid) {
            w.allocator.release(allocation);
        }
    }
}
