//! The allocator: given a worker's pools and what is in use, pick concrete labels for a request.
//! The server keeps one per worker (it runs for every task, so it avoids per-call work beyond
//! building the returned [`Allocation`]); the worker just uses the labels it is sent.
//!
//! Indexed pools track the free fraction of every label (in 1/10000 units) plus a bitset of
//! fully free labels and per-group counts (`indexed`); sum pools track one number. Group
//! policies are in `policy`.

use super::amount::FRACTIONS_PER_UNIT;
use super::coupling::CouplingTable;
use super::policy::{PlanScratch, Spread};
use super::{
    AllocationRequest, ResourceAmount, ResourceDescriptor, ResourceDescriptorKind, ResourceRequest,
    ResourceRequestEntry, ResourceRequestVariants,
};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::HashMap;

mod coupled;
mod indexed;

use indexed::{spread_of, IndexedPool};

const FULL: u32 = FRACTIONS_PER_UNIT as u32;

/// What one task got: per pool, the amount and (for indexed pools) which labels. Kept inline
/// for the common single-pool case (no heap block per placement; same encoding as a `Vec`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub resources: SmallVec<[ResourceAllocation; 1]>,
}

/// Labels taken from one pool with the amount of each; up to two are kept inline.
pub type Indices = SmallVec<[(u32, ResourceAmount); 2]>;

/// `resource` is the index of the pool in the worker's descriptor; `indices` are label indices
/// within that pool (flattened over groups) with the amount taken from each: whole labels in
/// ascending order, then the partially used label (if any) last. Empty for sum pools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAllocation {
    pub resource: u32,
    pub amount: ResourceAmount,
    pub indices: Indices,
}

impl Allocation {
    /// The allocation of one pool, by its index in the descriptor.
    pub fn get(&self, resource: u32) -> Option<&ResourceAllocation> {
        self.resources.iter().find(|r| r.resource == resource)
    }
}

#[derive(Clone, Debug)]
enum PoolState {
    Indexed(IndexedPool),
    Sum { free: u64, size: u64 },
}

#[derive(Clone, Debug)]
struct Pool {
    name: String,
    state: PoolState,
}

#[derive(Clone, Debug, Default)]
struct Scratch {
    plan: PlanScratch,
    takes: Vec<u32>,
    masked: Vec<u32>,
}

/// Tracks free resources of one worker and allocates requests against them.
#[derive(Clone, Debug)]
pub struct WorkerAllocator {
    pools: Vec<Pool>,
    running: u32,
    scratch: Scratch,
    /// `--coupling` of the worker, if any.
    coupling: Option<CouplingTable>,
    /// Best coupling score of a request on the empty worker (what strict policies demand), by
    /// the request's coupled entries.
    optimum: HashMap<Vec<(u32, AllocationRequest)>, u32>,
}

/// An entry of a request on a coupled pool, with the pool's state.
struct CoupledEntry<'a> {
    entry_idx: usize,
    pool_idx: u32,
    pool: &'a IndexedPool,
    request: &'a AllocationRequest,
    n: u32,
    spread: Spread,
    strict: bool,
}

impl<'a> CoupledEntry<'a> {
    /// As the group chooser sees it: free labels now, or of the empty worker (`empty`).
    fn entry(&self, empty: bool) -> coupled::Entry<'a> {
        coupled::Entry {
            pool: self.pool_idx,
            free: if empty {
                &self.pool.group_size
            } else {
                &self.pool.group_full
            },
            n: self.n,
            spread: self.spread,
            limit: self.pool.strict_limit(self.n, self.strict),
        }
    }
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
                    kind => PoolState::Indexed(IndexedPool::new(&kind.group_sizes())),
                };
                Pool {
                    name: item.name.clone(),
                    state,
                }
            })
            .collect();
        let coupling = (!desc.coupling.is_empty())
            .then(|| CouplingTable::new(&desc.coupling, desc.resources.len()));
        WorkerAllocator {
            pools,
            running: 0,
            scratch: Scratch::default(),
            coupling,
            optimum: HashMap::new(),
        }
    }

    /// Whether nothing is allocated.
    pub fn is_idle(&self) -> bool {
        self.running == 0
    }

    /// Number of allocations currently held.
    pub fn running(&self) -> u32 {
        self.running
    }

    /// How much of a pool is wholly free, cheaply (fully free labels; a sum pool's free
    /// amount), for ordering workers by load.
    pub fn free_hint(&self, name: &str) -> Option<u64> {
        let pool = self.pools.iter().find(|p| p.name == name)?;
        Some(match &pool.state {
            PoolState::Sum { free, .. } => *free,
            PoolState::Indexed(p) => u64::from(p.total_full),
        })
    }

    /// Whether nothing of a pool is free, not even part of a label (also when the worker has no
    /// such pool): no request with an entry for it fits now.
    pub fn exhausted(&self, name: &str) -> bool {
        self.pools
            .iter()
            .find(|p| p.name == name)
            .is_none_or(|pool| match &pool.state {
                PoolState::Sum { free, .. } => *free == 0,
                PoolState::Indexed(p) => p.total_full == 0 && p.partial == 0,
            })
    }

    /// Free amount of a pool (fully and partially free labels together), if it exists.
    pub fn free_amount(&self, name: &str) -> Option<ResourceAmount> {
        let pool = self.pools.iter().find(|p| p.name == name)?;
        Some(match &pool.state {
            PoolState::Sum { free, .. } => ResourceAmount(*free),
            PoolState::Indexed(p) => ResourceAmount(p.free.iter().map(|&f| u64::from(f)).sum()),
        })
    }

    /// Whether the request could run on an empty worker of this shape. Multi-node requests
    /// (`n_nodes > 0`) are not the allocator's business and always answer true.
    pub fn can_ever_run(&self, req: &ResourceRequest) -> bool {
        if req.n_nodes > 0 {
            return true;
        }
        req.resources
            .iter()
            .all(|entry| self.can_ever_run_entry(entry))
    }

    /// Whether one entry of a request fits this worker when it is empty (`hq task explain`).
    pub fn can_ever_run_entry(&self, entry: &ResourceRequestEntry) -> bool {
        let Some(pool) = self.pools.iter().find(|p| p.name == entry.resource) else {
            return false;
        };
        match &pool.state {
            PoolState::Indexed(p) => p.can_ever(&entry.request),
            PoolState::Sum { size, .. } => match entry.request.amount() {
                None => *size > 0,
                Some(a) => a.0 <= *size,
            },
        }
    }

    /// Allocates every entry of a single-node request, or nothing. Multi-node requests get
    /// `None`: they reserve whole workers, which the scheduler tracks itself (see `is_idle`).
    pub fn try_allocate(&mut self, req: &ResourceRequest) -> Option<Allocation> {
        if req.n_nodes > 0 {
            return None;
        }
        let groups = match self.coupling.is_some() {
            true => self.coupled_groups(req)?,
            false => Vec::new(),
        };
        let mut out = Allocation {
            resources: SmallVec::with_capacity(req.resources.len()),
        };
        for (i, entry) in req.resources.iter().enumerate() {
            let only = groups.iter().find(|(e, _)| *e == i).map(|(_, m)| *m);
            let granted = self
                .pools
                .iter()
                .position(|p| p.name == entry.resource)
                .and_then(|idx| {
                    let got = match &mut self.pools[idx].state {
                        PoolState::Indexed(p) => {
                            p.allocate(&entry.request, only, &mut self.scratch)
                        }
                        PoolState::Sum { free, size } => allocate_sum(free, *size, &entry.request),
                    };
                    got.map(|(amount, indices)| ResourceAllocation {
                        resource: idx as u32,
                        amount,
                        indices,
                    })
                });
            match granted {
                Some(r) => out.resources.push(r),
                None => {
                    self.give_back(&out);
                    return None;
                }
            }
        }
        self.running += 1;
        Some(out)
    }

    /// For the entries of `req` on coupled pools: the groups each must use (entry index, bit per
    /// group). `None` when they cannot be placed now, or when a strict policy asks for the
    /// coupling-optimal placement and the free groups no longer allow it.
    fn coupled_groups(&mut self, req: &ResourceRequest) -> Option<Vec<(usize, u64)>> {
        let table = self.coupling.as_ref()?;
        let picked = coupled_entries(&self.pools, req, table);
        if picked.is_empty() {
            return Some(Vec::new());
        }
        let now: Vec<coupled::Entry> = picked.iter().map(|p| p.entry(false)).collect();
        let (sets, score) = coupled::choose(&now, table, &mut self.scratch.plan)?;
        if picked.iter().any(|p| p.strict) {
            let key: Vec<(u32, AllocationRequest)> = picked
                .iter()
                .map(|p| (p.pool_idx, p.request.clone()))
                .collect();
            let best = match self.optimum.get(&key) {
                Some(best) => *best,
                None => {
                    let empty: Vec<coupled::Entry> = picked.iter().map(|p| p.entry(true)).collect();
                    let best = coupled::choose(&empty, table, &mut self.scratch.plan)
                        .map_or(0, |(_, s)| s);
                    self.optimum.insert(key, best);
                    best
                }
            };
            if score < best {
                return None;
            }
        }
        Some(picked.iter().map(|p| p.entry_idx).zip(sets).collect())
    }

    /// Tries the variants in order; returns the index of the first that fits and its allocation.
    pub fn try_allocate_variants(
        &mut self,
        variants: &ResourceRequestVariants,
    ) -> Option<(usize, Allocation)> {
        variants
            .variants
            .iter()
            .enumerate()
            .find_map(|(i, v)| self.try_allocate(v).map(|a| (i, a)))
    }

    /// Takes what is free of some pools, up to an amount each (indexed pools: fully free
    /// labels, up to the amount rounded up), whatever the group policies. The scheduler holds
    /// resources this way for a waiting task of higher priority during a pass, and gives them
    /// back with [`Self::release`]. `None` (and nothing held) when none of it is free.
    pub fn hold(&mut self, wants: &[(&str, Option<ResourceAmount>)]) -> Option<Allocation> {
        let mut out = Allocation::default();
        for &(name, amount) in wants {
            let Some(idx) = self.pools.iter().position(|p| p.name == name) else {
                continue;
            };
            let got = match &mut self.pools[idx].state {
                PoolState::Sum { free, .. } => {
                    let take = amount.map_or(*free, |a| a.0.min(*free));
                    *free -= take;
                    (ResourceAmount(take), Indices::new())
                }
                PoolState::Indexed(p) => {
                    let max = amount.map_or(u64::MAX, |a| a.0.div_ceil(u64::from(FULL)));
                    let mut indices = Indices::new();
                    let mut pos = 0;
                    while (indices.len() as u64) < max {
                        let Some(i) = p.next_full(pos, p.free.len()) else {
                            break;
                        };
                        p.set_free(i, 0);
                        indices.push((i as u32, ResourceAmount::ONE));
                        pos = i + 1;
                    }
                    (ResourceAmount::whole(indices.len() as u64), indices)
                }
            };
            if !got.0.is_zero() {
                out.resources.push(ResourceAllocation {
                    resource: idx as u32,
                    amount: got.0,
                    indices: got.1,
                });
            }
        }
        if out.resources.is_empty() {
            return None;
        }
        self.running += 1;
        Some(out)
    }

    /// Returns an allocation's resources to the pools.
    pub fn release(&mut self, alloc: &Allocation) {
        self.give_back(alloc);
        self.running = self.running.saturating_sub(1);
    }

    /// Panics if the internal bookkeeping is inconsistent (counters vs. per-label state).
    /// Cheap enough for tests to call after every step.
    pub fn sanity_check(&self) {
        for pool in &self.pools {
            match &pool.state {
                PoolState::Sum { free, size } => {
                    assert!(free <= size, "{}: free > size", pool.name)
                }
                PoolState::Indexed(p) => p.sanity_check(&pool.name),
            }
        }
    }

    fn give_back(&mut self, alloc: &Allocation) {
        for r in &alloc.resources {
            let Some(pool) = self.pools.get_mut(r.resource as usize) else {
                debug_assert!(false, "allocation of an unknown pool {}", r.resource);
                continue;
            };
            match &mut pool.state {
                PoolState::Sum { free, size } => *free = (*free + r.amount.0).min(*size),
                PoolState::Indexed(p) => p.release(&r.indices),
            }
        }
    }
}

/// The entries of `req` whose coupling matters: whole labels from a coupled pool with
/// several groups.
fn coupled_entries<'a>(
    pools: &'a [Pool],
    req: &'a ResourceRequest,
    table: &CouplingTable,
) -> Vec<CoupledEntry<'a>> {
    let mut out = Vec::new();
    for (entry_idx, entry) in req.resources.iter().enumerate() {
        let Some(idx) = pools.iter().position(|p| p.name == entry.resource) else {
            continue;
        };
        let PoolState::Indexed(pool) = &pools[idx].state else {
            continue;
        };
        let Some((amount, spread, strict)) = spread_of(&entry.request) else {
            continue;
        };
        let n = amount.whole_part() as u32;
        if n == 0 || !table.is_coupled(idx as u32) || pool.group_full.len() < 2 {
            continue;
        }
        out.push(CoupledEntry {
            entry_idx,
            pool_idx: idx as u32,
            pool,
            request: &entry.request,
            n,
            spread,
            strict,
        });
    }
    out
}

fn allocate_sum(
    free: &mut u64,
    size: u64,
    req: &AllocationRequest,
) -> Option<(ResourceAmount, Indices)> {
    let want = match req.amount() {
        None if size > 0 && *free == size => size,
        None => return None,
        Some(a) if a.0 <= *free => a.0,
        Some(_) => return None,
    };
    *free -= want;
    Some((ResourceAmount(want), Indices::new()))
}

#[cfg(test)]
mod tests;
