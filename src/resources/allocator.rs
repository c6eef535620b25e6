//! The allocator: given a worker's pools and what is in use, pick concrete labels for a request.
//! The server keeps one per worker, so the worker just uses the labels it is sent.

use super::{
    AllocationRequest, ResourceAmount, ResourceDescriptor, ResourceDescriptorKind, ResourceRequest,
};
use serde::{Deserialize, Serialize};

const FULL: u64 = super::amount::FRACTIONS_PER_UNIT;

/// What one task got: per pool, the amount and (for indexed pools) which labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub resources: Vec<ResourceAllocation>,
}

/// `resource` is the index of the pool in the worker's descriptor; `indices` are label indices
/// within that pool (flattened over groups) with the amount taken from each (the partial one last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAllocation {
    pub resource: u32,
    pub amount: ResourceAmount,
    pub indices: Vec<(u32, ResourceAmount)>,
}

#[derive(Clone, Debug)]
enum PoolState {
    Indexed {
        /// Free units per label (FULL = untouched).
        free: Vec<u64>,
        /// Label indices of each group.
        groups: Vec<Vec<u32>>,
    },
    Sum {
        free: u64,
        size: u64,
    },
}

#[derive(Clone, Debug)]
struct Pool {
    name: String,
    state: PoolState,
}

/// Tracks free resources of one worker and allocates requests against them.
#[derive(Clone, Debug)]
pub struct WorkerAllocator {
    pools: Vec<Pool>,
    running: u32,
}

impl WorkerAllocator {
    pub fn new(desc: &ResourceDescriptor) -> Self {
        let pools = desc
            .resources
            .iter()
            .map(|item| {
                let state = match &item.kind {
                    ResourceDescriptorKind::Sum { size } => PoolState::Sum {
                        free: size.0,
                        size: size.0,
                    },
                    kind => {
                        let mut next = 0u32;
                        let groups: Vec<Vec<u32>> = kind
                            .groups()
                            .iter()
                            .map(|g| {
                                let ids: Vec<u32> = (next..next + g.len() as u32).collect();
                                next += g.len() as u32;
                                ids
                            })
                            .collect();
                        PoolState::Indexed {
                            free: vec![FULL; next as usize],
                            groups,
                        }
                    }
                };
                Pool {
                    name: item.name.clone(),
                    state,
                }
            })
            .collect();
        WorkerAllocator { pools, running: 0 }
    }

    /// Whether nothing is allocated.
    pub fn is_idle(&self) -> bool {
        self.running == 0
    }

    /// Number of allocations currently held.
    pub fn running(&self) -> u32 {
        self.running
    }

    /// Whether the request could run on an empty worker of this shape.
    pub fn can_ever_run(&self, req: &ResourceRequest) -> bool {
        let mut empty = self.clone();
        empty.reset();
        empty.try_allocate(req).is_some()
    }

    fn reset(&mut self) {
        self.running = 0;
        for pool in &mut self.pools {
            match &mut pool.state {
                PoolState::Indexed { free, .. } => free.iter_mut().for_each(|f| *f = FULL),
                PoolState::Sum { free, size } => *free = *size,
            }
        }
    }

    /// Allocates every entry of the request, or nothing.
    pub fn try_allocate(&mut self, req: &ResourceRequest) -> Option<Allocation> {
        let mut out = Allocation::default();
        for entry in &req.resources {
            let Some(idx) = self.pools.iter().position(|p| p.name == entry.resource) else {
                self.undo(&out);
                return None;
            };
            match allocate_in_pool(&mut self.pools[idx].state, &entry.request) {
                Some((amount, indices)) => out.resources.push(ResourceAllocation {
                    resource: idx as u32,
                    amount,
                    indices,
                }),
                None => {
                    self.undo(&out);
                    return None;
                }
            }
        }
        self.running += 1;
        Some(out)
    }

    fn undo(&mut self, partial: &Allocation) {
        for r in &partial.resources {
            release_in_pool(&mut self.pools[r.resource as usize].state, r);
        }
    }

    /// Returns an allocation's resources to the pools.
    pub fn release(&mut self, alloc: &Allocation) {
        self.undo(alloc);
        self.running = self.running.saturating_sub(1);
    }
}

fn release_in_pool(state: &mut PoolState, r: &ResourceAllocation) {
    match state {
        PoolState::Sum { free, .. } => *free += r.amount.0,
        PoolState::Indexed { free, .. } => {
            for (i, a) in &r.indices {
                free[*i as usize] += a.0;
            }
        }
    }
}

fn allocate_in_pool(
    state: &mut PoolState,
    req: &AllocationRequest,
) -> Option<(ResourceAmount, Vec<(u32, ResourceAmount)>)> {
    match state {
        PoolState::Sum { free, size } => {
            let want = req.amount().unwrap_or(ResourceAmount(*size)).0;
            if want == 0 || want > *free || (req.amount().is_none() && *free != *size) {
                return None;
            }
            *free -= want;
            Some((ResourceAmount(want), vec![]))
        }
        PoolState::Indexed { free, groups } => {
            let indices = match req.amount() {
                None => {
                    if free.iter().any(|f| *f != FULL) || free.is_empty() {
                        return None;
                    }
                    (0..free.len() as u32).collect::<Vec<_>>()
                }
                Some(amount) => pick_whole(free, groups, req, amount.whole_part() as usize)?,
            };
            let mut taken: Vec<(u32, ResourceAmount)> =
                indices.iter().map(|i| (*i, ResourceAmount(FULL))).collect();
            let frac = req.amount().map(|a| a.fraction_part()).unwrap_or(0);
            if frac > 0 {
                let best = (0..free.len())
                    .filter(|i| !indices.contains(&(*i as u32)) && free[*i] >= frac)
                    .min_by_key(|i| free[*i])?;
                taken.push((best as u32, ResourceAmount(frac)));
            }
            for (i, a) in &taken {
                free[*i as usize] -= a.0;
            }
            let total = taken.iter().map(|(_, a)| a.0).sum();
            Some((ResourceAmount(total), taken))
        }
    }
}

/// Chooses `count` fully free labels following the group policy.
fn pick_whole(
    free: &[u64],
    groups: &[Vec<u32>],
    req: &AllocationRequest,
    count: usize,
) -> Option<Vec<u32>> {
    if count == 0 {
        return Some(vec![]);
    }
    let mut per_group: Vec<Vec<u32>> = groups
        .iter()
        .map(|g| {
            g.iter()
                .copied()
                .filter(|i| free[*i as usize] == FULL)
                .collect()
        })
        .collect();
    let available: usize = per_group.iter().map(|g| g.len()).sum();
    if available < count {
        return None;
    }
    let mut order: Vec<usize> = (0..per_group.len()).collect();
    order.sort_by_key(|g| std::cmp::Reverse(per_group[*g].len()));
    let mut picked = Vec::with_capacity(count);
    match req {
        AllocationRequest::Scatter(_) => {
            let mut round = 0;
            while picked.len() < count {
                for g in &order {
                    if picked.len() < count && round < per_group[*g].len() {
                        picked.push(per_group[*g][round]);
                    }
                }
                round += 1;
            }
        }
        _ => {
            // Fewest groups: take the largest groups first.
            let mut needed = 0;
            let mut acc = 0;
            for g in &order {
                if acc >= count {
                    break;
                }
                acc += per_group[*g].len();
                needed += 1;
            }
            if matches!(
                req,
                AllocationRequest::ForceCompact(_) | AllocationRequest::ForceTight(_)
            ) {
                let max_group = groups.iter().map(|g| g.len()).max().unwrap_or(1).max(1);
                if needed > count.div_ceil(max_group) {
                    return None;
                }
            }
            let chosen = &order[..needed];
            if matches!(
                req,
                AllocationRequest::Compact(_) | AllocationRequest::ForceCompact(_)
            ) && needed > 1
            {
                // Take evenly from the chosen groups.
                let mut round = 0;
                while picked.len() < count {
                    for g in chosen {
                        if picked.len() < count && round < per_group[*g].len() {
                            picked.push(per_group[*g][round]);
                        }
                    }
                    round += 1;
                }
            } else {
                for g in chosen {
                    let group = std::mem::take(&mut per_group[*g]);
                    for i in group {
                        if picked.len() < count {
                            picked.push(i);
                        }
                    }
                }
            }
        }
    }
    picked.sort_unstable();
    Some(picked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::descriptor::parse_cpu_definition;
    use crate::resources::ResourceDescriptorItem;

    fn worker(cpus: &str) -> WorkerAllocator {
        WorkerAllocator::new(&ResourceDescriptor {
            resources: vec![ResourceDescriptorItem {
                name: "cpus".into(),
                kind: parse_cpu_definition(cpus).unwrap(),
            }],
        })
    }

    fn req(text: &str) -> ResourceRequest {
        let mut r = ResourceRequest::default();
        r.add("cpus", AllocationRequest::parse(text).unwrap())
            .unwrap();
        r
    }

    #[test]
    fn allocates_until_full_then_releases() {
        let mut w = worker("4");
        let a = w.try_allocate(&req("3")).unwrap();
        assert!(w.try_allocate(&req("2")).is_none());
        w.release(&a);
        assert!(w.try_allocate(&req("4")).is_some());
    }

    #[test]
    fn fractions_share_one_label() {
        let mut w = worker("1");
        let a = w.try_allocate(&req("0.5")).unwrap();
        let b = w.try_allocate(&req("0.5")).unwrap();
        assert_eq!(a.resources[0].indices[0].0, b.resources[0].indices[0].0);
        assert!(w.try_allocate(&req("0.5")).is_none());
    }
}
