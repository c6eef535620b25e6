//! Group allocation policies (resources.md): how many fully free labels to take from each group.
//!
//! Pure functions over per-group free counts; the allocator turns the counts into labels.
//! - `compact`: as few groups as currently possible, then evenly from them.
//! - `tight`: as few groups as currently possible, the largest filled first, then the next.
//! - `scatter`: one label per group in turn, over as many groups as possible.
//! - strict (`compact!`, `tight!`): additionally wait until the number of groups is the minimum
//!   this worker could ever achieve.
//!
//! When several groups could complete a placement, the one with the fewest free labels that
//! still suffices is used (best fit), so larger free groups stay available for later requests.

/// How labels are spread over groups.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Spread {
    Compact,
    Tight,
    Scatter,
}

/// Reusable buffers so planning does not allocate per call.
#[derive(Clone, Debug, Default)]
pub(crate) struct PlanScratch {
    order: Vec<u32>,
}

/// Minimal number of groups that can hold `n` labels on an empty worker, from group sizes
/// sorted in descending order and summed (`size_prefix[k]` = sum of the k+1 largest groups).
pub(crate) fn min_groups(size_prefix: &[u32], n: u32) -> usize {
    size_prefix.partition_point(|&sum| sum < n) + 1
}

/// Fills `takes[g]` with the number of fully free labels to take from group `g`, given the free
/// counts `free[g]`. Returns false when the request cannot be placed now. `strict_limit` is the
/// maximal number of groups allowed (strict policies), or `usize::MAX`.
pub(crate) fn plan(
    free: &[u32],
    n: u32,
    spread: Spread,
    strict_limit: usize,
    scratch: &mut PlanScratch,
    takes: &mut [u32],
) -> bool {
    takes.fill(0);
    if n == 0 {
        return true;
    }
    if free.len() == 1 {
        takes[0] = n;
        return free[0] >= n;
    }
    if free.iter().map(|&f| u64::from(f)).sum::<u64>() < u64::from(n) {
        return false;
    }
    let order = &mut scratch.order;
    order.clear();
    order.extend((0..free.len() as u32).filter(|&g| free[g as usize] > 0));
    // Most free first; ties keep the lower group index first.
    order.sort_unstable_by_key(|&g| (std::cmp::Reverse(free[g as usize]), g));
    if spread == Spread::Scatter {
        scatter(free, n, order, takes);
        return true;
    }
    // k = fewest groups that can hold n: the k largest free counts suffice.
    let mut sum = 0;
    let mut k = 0;
    while sum < n {
        sum += free[order[k] as usize];
        k += 1;
    }
    if k > strict_limit {
        return false;
    }
    let before_last: u32 = order[..k - 1].iter().map(|&g| free[g as usize]).sum();
    let rest = n - before_last;
    // Best fit for the last group: the smallest free count that still holds the rest.
    let last_pos = (k - 1..order.len())
        .filter(|&p| free[order[p] as usize] >= rest)
        .min_by_key(|&p| (free[order[p] as usize], order[p]))
        .unwrap_or(k - 1);
    order.swap(k - 1, last_pos);
    let chosen = &mut order[..k];
    match spread {
        Spread::Tight => {
            for &g in &chosen[..k - 1] {
                takes[g as usize] = free[g as usize];
            }
            takes[chosen[k - 1] as usize] = rest;
        }
        _ => even(free, n, chosen, takes),
    }
    true
}

/// Spreads `n` over the chosen groups as evenly as their free counts allow.
fn even(free: &[u32], n: u32, chosen: &mut [u32], takes: &mut [u32]) {
    // Water filling: smallest capacity first, each takes its fair share of what is left.
    chosen.sort_unstable_by_key(|&g| (free[g as usize], g));
    let mut left = n;
    let count = chosen.len() as u32;
    for (i, &g) in chosen.iter().enumerate() {
        let share = left.div_ceil(count - i as u32);
        let take = share.min(free[g as usize]);
        takes[g as usize] = take;
        left -= take;
    }
    debug_assert_eq!(left, 0);
}

/// One label from each group with free labels in turn, most free groups first.
fn scatter(free: &[u32], n: u32, order: &[u32], takes: &mut [u32]) {
    let mut left = n;
    while left > 0 {
        for &g in order {
            let g = g as usize;
            if left > 0 && takes[g] < free[g] {
                takes[g] += 1;
                left -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(free: &[u32], n: u32, spread: Spread, limit: usize) -> Option<Vec<u32>> {
        let mut takes = vec![0; free.len()];
        plan(
            free,
            n,
            spread,
            limit,
            &mut PlanScratch::default(),
            &mut takes,
        )
        .then_some(takes)
    }

    fn any(free: &[u32], n: u32, spread: Spread) -> Option<Vec<u32>> {
        run(free, n, spread, usize::MAX)
    }

    #[test]
    fn spec_example_three_groups_of_four() {
        assert_eq!(any(&[4, 4, 4], 6, Spread::Compact), Some(vec![3, 3, 0]));
        assert_eq!(any(&[4, 4, 4], 6, Spread::Tight), Some(vec![4, 2, 0]));
        assert_eq!(any(&[4, 4, 4], 6, Spread::Scatter), Some(vec![2, 2, 2]));
    }

    #[test]
    fn fewest_groups_with_best_fit() {
        // One group suffices: the smallest that fits.
        assert_eq!(any(&[4, 2, 3], 2, Spread::Compact), Some(vec![0, 2, 0]));
        assert_eq!(any(&[4, 2, 3], 3, Spread::Tight), Some(vec![0, 0, 3]));
        // Two groups: the largest, then the best fit for the rest.
        assert_eq!(any(&[4, 3, 2], 6, Spread::Tight), Some(vec![4, 0, 2]));
        assert_eq!(any(&[4, 3, 2], 6, Spread::Compact), Some(vec![4, 0, 2]));
        assert_eq!(any(&[4, 4, 1], 7, Spread::Compact), Some(vec![4, 3, 0]));
        assert_eq!(any(&[1, 4, 4], 8, Spread::Compact), Some(vec![0, 4, 4]));
        assert_eq!(any(&[2, 2, 2], 7, Spread::Compact), None);
    }

    #[test]
    fn scatter_prefers_most_free() {
        assert_eq!(any(&[1, 4, 2], 2, Spread::Scatter), Some(vec![0, 1, 1]));
        assert_eq!(any(&[1, 4, 2], 5, Spread::Scatter), Some(vec![1, 2, 2]));
        assert_eq!(any(&[0, 3, 0], 3, Spread::Scatter), Some(vec![0, 3, 0]));
    }

    #[test]
    fn strict_limits_groups() {
        let sizes = [4, 8, 12]; // prefix sums of 4-label groups, 3 groups
        assert_eq!(min_groups(&sizes, 1), 1);
        assert_eq!(min_groups(&sizes, 4), 1);
        assert_eq!(min_groups(&sizes, 5), 2);
        assert_eq!(min_groups(&sizes, 12), 3);
        // 4 of 4-per-group must be one group: [3,3,3] free cannot serve it.
        assert_eq!(
            run(&[3, 3, 3], 4, Spread::Compact, min_groups(&sizes, 4)),
            None
        );
        assert_eq!(
            run(&[4, 3, 3], 4, Spread::Compact, min_groups(&sizes, 4)),
            Some(vec![4, 0, 0])
        );
        // 8 is always two groups.
        assert_eq!(
            run(&[4, 3, 3], 8, Spread::Tight, min_groups(&sizes, 8)),
            None
        );
        assert_eq!(
            run(&[4, 1, 4], 8, Spread::Tight, min_groups(&sizes, 8)),
            Some(vec![4, 0, 4])
        );
    }

    #[test]
    fn single_group() {
        assert_eq!(any(&[5], 5, Spread::Compact), Some(vec![5]));
        assert_eq!(any(&[5], 6, Spread::Scatter), None);
        assert_eq!(any(&[5], 0, Spread::Scatter), Some(vec![0]));
    }
}
