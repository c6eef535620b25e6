//! Indexed pools: the free fraction of every label (in 1/10000 units), a bitset of fully free
//! labels and per-group counts, and how a request's amount is taken from them by its policy.

use super::{Indices, Scratch, FULL};
use crate::resources::policy::{self, Spread};
use crate::resources::{AllocationRequest, ResourceAmount};

/// State of one indexed pool.
#[derive(Clone, Debug)]
pub(super) struct IndexedPool {
    /// Free units of each label (`FULL` = untouched).
    pub(super) free: Vec<u32>,
    /// Bit `i` set ⇔ label `i` is fully free.
    pub(super) full_bits: Vec<u64>,
    pub(super) group_of: Vec<u32>,
    /// Group `g` holds labels `group_start[g]..group_start[g + 1]`.
    pub(super) group_start: Vec<u32>,
    /// Fully free labels per group.
    pub(super) group_full: Vec<u32>,
    /// Labels per group.
    pub(super) group_size: Vec<u32>,
    pub(super) total_full: u32,
    /// Labels that are neither fully free nor fully used.
    pub(super) partial: u32,
    /// Sums of the k largest group sizes, for the strict policies' minimal group count.
    pub(super) size_prefix: Vec<u32>,
}

/// How one entry of a request is split over groups: the policy, and whether it is strict.
pub(super) fn spread_of(req: &AllocationRequest) -> Option<(ResourceAmount, Spread, bool)> {
    Some(match *req {
        AllocationRequest::All => return None,
        AllocationRequest::Compact(a) => (a, Spread::Compact, false),
        AllocationRequest::ForceCompact(a) => (a, Spread::Compact, true),
        AllocationRequest::Tight(a) => (a, Spread::Tight, false),
        AllocationRequest::ForceTight(a) => (a, Spread::Tight, true),
        AllocationRequest::Scatter(a) => (a, Spread::Scatter, false),
    })
}

impl IndexedPool {
    pub(super) fn new(sizes: &[usize]) -> Self {
        let total: usize = sizes.iter().sum();
        let mut full_bits = vec![0u64; total.div_ceil(64)];
        for i in 0..total {
            full_bits[i / 64] |= 1 << (i % 64);
        }
        let mut group_start = vec![0u32];
        let mut group_of = Vec::with_capacity(total);
        for (g, &size) in sizes.iter().enumerate() {
            group_of.extend(std::iter::repeat_n(g as u32, size));
            group_start.push(group_start[g] + size as u32);
        }
        let mut sorted: Vec<u32> = sizes.iter().map(|&s| s as u32).collect();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let size_prefix = sorted
            .iter()
            .scan(0u32, |sum, &s| {
                *sum += s;
                Some(*sum)
            })
            .collect();
        IndexedPool {
            free: vec![FULL; total],
            full_bits,
            group_of,
            group_start,
            group_full: sizes.iter().map(|&s| s as u32).collect(),
            group_size: sizes.iter().map(|&s| s as u32).collect(),
            total_full: total as u32,
            partial: 0,
            size_prefix,
        }
    }

    pub(super) fn label_count(&self) -> u32 {
        self.free.len() as u32
    }

    /// Sets the free units of a label, keeping the bitset and counters in step.
    pub(super) fn set_free(&mut self, i: usize, new: u32) {
        let old = self.free[i];
        if old == new {
            return;
        }
        let g = self.group_of[i] as usize;
        if old == FULL {
            self.full_bits[i / 64] &= !(1 << (i % 64));
            self.group_full[g] -= 1;
            self.total_full -= 1;
        } else if old > 0 {
            self.partial -= 1;
        }
        if new == FULL {
            self.full_bits[i / 64] |= 1 << (i % 64);
            self.group_full[g] += 1;
            self.total_full += 1;
        } else if new > 0 {
            self.partial += 1;
        }
        self.free[i] = new;
    }

    /// The first fully free label in `from..end`.
    pub(super) fn next_full(&self, from: usize, end: usize) -> Option<usize> {
        if from >= end {
            return None;
        }
        let mut word = from / 64;
        let mut bits = self.full_bits[word] & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                let i = word * 64 + bits.trailing_zeros() as usize;
                return (i < end).then_some(i);
            }
            word += 1;
            if word * 64 >= end {
                return None;
            }
            bits = self.full_bits[word];
        }
    }

    /// Most groups a strict request of `n` labels may use (`usize::MAX` if not strict).
    pub(super) fn strict_limit(&self, n: u32, strict: bool) -> usize {
        if strict {
            policy::min_groups(&self.size_prefix, n)
        } else {
            usize::MAX
        }
    }

    /// Allocates one entry; `only` (a bit per group) restricts the whole labels to the groups
    /// that coupling chose, which the caller checked can hold them.
    pub(super) fn allocate(
        &mut self,
        req: &AllocationRequest,
        only: Option<u64>,
        scratch: &mut Scratch,
    ) -> Option<(ResourceAmount, Indices)> {
        let Some((amount, spread, strict)) = spread_of(req) else {
            return self.allocate_all();
        };
        if amount.whole_part() > u64::from(self.total_full) {
            return None;
        }
        let n = amount.whole_part() as u32;
        let frac = amount.fraction_part() as u32;
        let takes = &mut scratch.takes;
        takes.resize(self.group_full.len(), 0);
        let planned = match only {
            Some(mask) => {
                let masked = &mut scratch.masked;
                masked.clear();
                masked.extend(self.group_full.iter().enumerate().map(|(g, &f)| {
                    if g < 64 && mask & (1u64 << g) != 0 {
                        f
                    } else {
                        0
                    }
                }));
                policy::plan(masked, n, spread, usize::MAX, &mut scratch.plan, takes)
            }
            None => {
                let limit = self.strict_limit(n, strict);
                policy::plan(&self.group_full, n, spread, limit, &mut scratch.plan, takes)
            }
        };
        if !planned {
            return None;
        }
        let (partial_label, frac_group) = if frac > 0 {
            match self.best_partial(frac) {
                Some(i) => (Some(i), None),
                None => (None, Some(self.fraction_group(takes)?)),
            }
        } else {
            (None, None)
        };
        let mut indices = Indices::with_capacity(n as usize + usize::from(frac > 0));
        let mut frac_label = partial_label;
        for (g, &take) in takes.iter().enumerate() {
            let want = take + u32::from(frac_group == Some(g));
            let end = self.group_start[g + 1] as usize;
            let mut pos = self.group_start[g] as usize;
            for k in 0..want {
                // plan() only takes what the group's free count allows.
                let i = self.next_full(pos, end)?;
                pos = i + 1;
                if k == take {
                    frac_label = Some(i);
                } else {
                    self.set_free(i, 0);
                    indices.push((i as u32, ResourceAmount::ONE));
                }
            }
        }
        if let Some(i) = frac_label {
            self.set_free(i, self.free[i] - frac);
            indices.push((i as u32, ResourceAmount(u64::from(frac))));
        }
        Some((amount, indices))
    }

    pub(super) fn allocate_all(&mut self) -> Option<(ResourceAmount, Indices)> {
        if self.total_full == 0 || self.total_full != self.label_count() {
            return None;
        }
        let count = self.label_count() as usize;
        for i in 0..count {
            self.set_free(i, 0);
        }
        let indices = (0..count as u32)
            .map(|i| (i, ResourceAmount::ONE))
            .collect();
        Some((ResourceAmount::whole(count as u64), indices))
    }

    /// The partially used label with the least free units that still has `frac` free.
    pub(super) fn best_partial(&self, frac: u32) -> Option<usize> {
        if self.partial == 0 {
            return None;
        }
        (0..self.free.len())
            .filter(|&i| self.free[i] < FULL && self.free[i] >= frac)
            .min_by_key(|&i| (self.free[i], i))
    }

    /// The group that gives a fully free label for the fraction: one already used by the whole
    /// part if it has a label left, else the group with the fewest (but some) free labels.
    pub(super) fn fraction_group(&self, takes: &[u32]) -> Option<usize> {
        let left = |g: usize| self.group_full[g] - takes[g];
        (0..takes.len())
            .find(|&g| takes[g] > 0 && left(g) > 0)
            .or_else(|| {
                (0..takes.len())
                    .filter(|&g| left(g) > 0)
                    .min_by_key(|&g| (left(g), g))
            })
    }

    pub(super) fn release(&mut self, indices: &[(u32, ResourceAmount)]) {
        for &(i, amount) in indices {
            let i = i as usize;
            let back = self.free[i].saturating_add(amount.0 as u32);
            debug_assert!(back <= FULL, "released more than was allocated");
            self.set_free(i, back.min(FULL));
        }
    }

    pub(super) fn sanity_check(&self, name: &str) {
        let mut group_full = vec![0u32; self.group_full.len()];
        let mut partial = 0;
        for (i, &f) in self.free.iter().enumerate() {
            assert!(f <= FULL, "{name}: label {i} has {f} free units");
            let bit = self.full_bits[i / 64] & (1 << (i % 64)) != 0;
            assert_eq!(bit, f == FULL, "{name}: full bit of label {i}");
            if f == FULL {
                group_full[self.group_of[i] as usize] += 1;
            } else if f > 0 {
                partial += 1;
            }
        }
        assert_eq!(group_full, self.group_full, "{name}: group counts");
        assert_eq!(
            group_full.iter().sum::<u32>(),
            self.total_full,
            "{name}: total"
        );
        assert_eq!(partial, self.partial, "{name}: partial count");
    }

    pub(super) fn can_ever(&self, req: &AllocationRequest) -> bool {
        match req.amount() {
            None => self.label_count() > 0,
            Some(a) => {
                let needed = a.whole_part() + u64::from(!a.is_integral());
                needed <= u64::from(self.label_count())
            }
        }
    }
}
