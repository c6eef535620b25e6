//! Which groups the entries of one request use when their pools are coupled (resources.md,
//! "Coupling"). Pure: works on the free-label counts per group.
//!
//! Every entry uses as few groups as its policy allows now (scatter: as many), exactly as
//! without coupling; coupling only decides *which* groups. The score of a choice is the sum of
//! the weights of coupled pairs among the chosen groups (across entries, and inside one pool).
//! The first entry's candidate group sets are each tried, the other entries then pick their best
//! set greedily; ties keep the choice the policy makes without coupling. Pools with more than 64
//! groups, or entries with more than [`MAX_CANDIDATES`] candidate sets, only consider that
//! default choice (plus the first candidates).

use super::super::coupling::CouplingTable;
use super::super::policy::{self, PlanScratch, Spread};

/// Candidate group sets considered per entry.
const MAX_CANDIDATES: usize = 256;

/// One request entry on a coupled pool.
pub(super) struct Entry<'a> {
    pub pool: u32,
    /// Fully free labels per group.
    pub free: &'a [u32],
    /// Whole labels wanted (at least 1).
    pub n: u32,
    pub spread: Spread,
    /// Most groups a strict policy allows (`usize::MAX` otherwise).
    pub limit: usize,
}

/// The chosen groups of each entry (bit `g` = group `g`) and the coupling score, or `None` when
/// some entry cannot be placed now.
pub(super) fn choose(
    entries: &[Entry],
    table: &CouplingTable,
    scratch: &mut PlanScratch,
) -> Option<(Vec<u64>, u32)> {
    let candidates: Vec<Vec<u64>> = entries
        .iter()
        .map(|e| candidates(e, scratch))
        .collect::<Option<_>>()?;
    let mut best: Option<(Vec<u64>, u32)> = None;
    for &first in &candidates[0] {
        let mut chosen = vec![first];
        let mut score = internal(table, entries[0].pool, first);
        for (i, cands) in candidates.iter().enumerate().skip(1) {
            let (set, gain) = cands
                .iter()
                .map(|&set| (set, gain(table, entries, &chosen, i, set)))
                .fold(None, |acc: Option<(u64, u32)>, (set, g)| match acc {
                    Some((_, best_gain)) if best_gain >= g => acc,
                    _ => Some((set, g)),
                })?;
            chosen.push(set);
            score += gain;
        }
        if best.as_ref().is_none_or(|(_, s)| score > *s) {
            best = Some((chosen, score));
        }
    }
    best
}

/// What adding `set` for entry `i` adds to the score of the sets already chosen.
fn gain(table: &CouplingTable, entries: &[Entry], chosen: &[u64], i: usize, set: u64) -> u32 {
    let mut sum = internal(table, entries[i].pool, set);
    for (j, &other) in chosen.iter().enumerate() {
        for g in bits(set) {
            for h in bits(other) {
                sum += table.weight(entries[i].pool, g, entries[j].pool, h);
            }
        }
    }
    sum
}

/// Weights between chosen groups of the same pool.
fn internal(table: &CouplingTable, pool: u32, set: u64) -> u32 {
    let mut sum = 0;
    for g in bits(set) {
        for h in bits(set).filter(|&h| h > g) {
            sum += table.weight(pool, g, pool, h);
        }
    }
    sum
}

fn bits(set: u64) -> impl Iterator<Item = u32> {
    (0..64u32).filter(move |g| set & (1u64 << g) != 0)
}

/// The group sets an entry may use now: the policy's own choice first, then every other set of
/// the same number of groups that holds the request.
fn candidates(e: &Entry, scratch: &mut PlanScratch) -> Option<Vec<u64>> {
    let mut takes = vec![0u32; e.free.len()];
    if !policy::plan(e.free, e.n, e.spread, e.limit, scratch, &mut takes) {
        return None;
    }
    let default = takes
        .iter()
        .enumerate()
        .filter(|(_, &t)| t > 0)
        .fold(0u64, |m, (g, _)| m | (1u64 << g));
    let mut out = vec![default];
    if e.free.len() > 64 {
        return Some(out);
    }
    let k = default.count_ones() as usize;
    let usable: Vec<u32> = (0..e.free.len() as u32)
        .filter(|&g| e.free[g as usize] > 0)
        .collect();
    let mut pick = Vec::with_capacity(k);
    subsets(&usable, k, 0, &mut pick, &mut |set: &[u32]| {
        let total: u32 = set.iter().map(|&g| e.free[g as usize]).sum();
        let mask = set.iter().fold(0u64, |m, &g| m | (1u64 << g));
        if total >= e.n && mask != default {
            out.push(mask);
        }
        out.len() < MAX_CANDIDATES
    });
    Some(out)
}

/// Calls `f` with every `k`-subset of `items` (in lexicographic order) until it returns false.
fn subsets(
    items: &[u32],
    k: usize,
    from: usize,
    pick: &mut Vec<u32>,
    f: &mut impl FnMut(&[u32]) -> bool,
) -> bool {
    if pick.len() == k {
        return f(pick);
    }
    for i in from..items.len() {
        if items.len() - i < k - pick.len() {
            break;
        }
        pick.push(items[i]);
        let go_on = subsets(items, k, i + 1, pick, f);
        pick.pop();
        if !go_on {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::coupling::{parse_coupling, resolve_coupling};
    use crate::resources::descriptor::parse_resource_definition;
    use crate::resources::ResourceDescriptor;

    /// Pools 0 and 1, three groups each, coupled 0–0, 1–1, 2–2.
    fn table() -> CouplingTable {
        let mut d = ResourceDescriptor::default();
        d.add("a", parse_resource_definition("3x4").unwrap())
            .unwrap();
        d.add("b", parse_resource_definition("3x2").unwrap())
            .unwrap();
        let c = resolve_coupling(
            &parse_coupling("a[0]:b[0],a[1]:b[1],a[2]:b[2]").unwrap(),
            &d,
        );
        CouplingTable::new(&c.unwrap(), 2)
    }

    fn entry(pool: u32, free: &[u32], n: u32, spread: Spread) -> Entry<'_> {
        Entry {
            pool,
            free,
            n,
            spread,
            limit: usize::MAX,
        }
    }

    #[test]
    fn the_first_entry_follows_the_second() {
        // Without coupling `a` would take group 0 (best fit); `b` has room only in group 1.
        let (a_free, b_free) = ([2, 3, 0], [1, 2, 0]);
        let entries = [
            entry(0, &a_free, 1, Spread::Compact),
            entry(1, &b_free, 2, Spread::Compact),
        ];
        let (sets, score) = choose(&entries, &table(), &mut PlanScratch::default()).unwrap();
        assert_eq!(sets, vec![0b010, 0b010]);
        assert_eq!(score, 256);
    }

    #[test]
    fn two_groups_each_overlap_as_much_as_possible() {
        let (a_free, b_free) = ([4, 4, 4], [2, 2, 2]);
        let entries = [
            entry(0, &a_free, 6, Spread::Tight),
            entry(1, &b_free, 4, Spread::Compact),
        ];
        let (sets, score) = choose(&entries, &table(), &mut PlanScratch::default()).unwrap();
        assert_eq!(sets[0], sets[1]);
        assert_eq!(score, 512);
        // The spec's example: a free [4,4,0], b free [0,2,2] can only share one group.
        let (a_free, b_free) = ([4, 4, 0], [0, 2, 2]);
        let entries = [
            entry(0, &a_free, 8, Spread::Compact),
            entry(1, &b_free, 4, Spread::Compact),
        ];
        let (_, score) = choose(&entries, &table(), &mut PlanScratch::default()).unwrap();
        assert_eq!(score, 256);
    }

    #[test]
    fn nothing_when_an_entry_does_not_fit_or_exceeds_its_strict_limit() {
        let (a_free, b_free) = ([1, 0, 0], [2, 2, 2]);
        let entries = [
            entry(0, &a_free, 2, Spread::Compact),
            entry(1, &b_free, 1, Spread::Compact),
        ];
        assert!(choose(&entries, &table(), &mut PlanScratch::default()).is_none());
        let a_free = [2, 2, 0];
        let mut strict = entry(0, &a_free, 3, Spread::Compact);
        strict.limit = 1;
        assert!(choose(&[strict], &table(), &mut PlanScratch::default()).is_none());
    }

    #[test]
    fn subsets_in_order_and_stoppable() {
        let mut seen = Vec::new();
        subsets(&[1, 2, 3], 2, 0, &mut Vec::new(), &mut |s: &[u32]| {
            seen.push(s.to_vec());
            seen.len() < 2
        });
        assert_eq!(seen, vec![vec![1, 2], vec![1, 3]]);
    }
}
