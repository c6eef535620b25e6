//! The hash map of the scheduler's in-flight records (placements of running tasks, tasks queued
//! on workers). With many workers tens of thousands of tasks are in flight, and a worker reports
//! them in batches of neighbouring IDs (it got them assigned together); hashed the usual way, each
//! report of a batch touches its own random cache lines of a table of megabytes, several per
//! task. [`NeighbourHasher`] puts neighbouring IDs in neighbouring buckets, so a batch reads a few
//! contiguous lines instead.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Consecutive IDs that share a run of buckets (a power of two).
const RUN: u64 = 64;

/// Hashes the `u32` words of a key (a [`super::TaskKey`] is two: job, task) so that the last
/// word's `RUN` neighbours land in neighbouring buckets of the table (the bucket is the hash's
/// low bits) while runs spread like a good hash over the table. A batch of results of tasks
/// 1000..1250 reads a few contiguous cache lines instead of 250 random ones. The top seven
/// bits (which `hashbrown` compares before the key) mix every bit, so neighbours in a run are
/// told apart without comparing keys. IDs with a stride of 64 or more are each a run of their
/// own, so they spread like a good hash (all starting at a run's first bucket); whole runs
/// collide as randomly hashed keys do, which the unit tests below bound.
#[derive(Default)]
pub struct NeighbourHasher {
    words: u64,
}

/// A hash map keyed by tasks, with neighbouring IDs in neighbouring buckets.
pub type TaskMap<K, V> = HashMap<K, V, BuildHasherDefault<NeighbourHasher>>;

/// The 64-bit finaliser of MurmurHash3: every input bit moves every output bit.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Hasher for NeighbourHasher {
    fn write_u32(&mut self, word: u32) {
        self.words = self.words.rotate_left(32) ^ u64::from(word);
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.words = self.words.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn finish(&self) -> u64 {
        let last = self.words & 0xffff_ffff;
        let run = mix((self.words & !(RUN - 1)) ^ 0x9e37_79b9_7f4a_7c15);
        let tag = mix(self.words) & (0x7f << 57);
        tag | (run.wrapping_mul(RUN) & !(0x7f << 57)) | (last & (RUN - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::{NeighbourHasher, TaskMap, RUN};
    use crate::scheduler::TaskKey;
    use std::hash::{Hash, Hasher};

    fn hash(job: u32, task: u32) -> u64 {
        let mut h = NeighbourHasher::default();
        TaskKey { job, task }.hash(&mut h);
        h.finish()
    }

    #[test]
    fn neighbouring_tasks_get_neighbouring_buckets_and_distinct_tags() {
        let mask = (1u64 << 20) - 1;
        let base = hash(3, 1024) & mask;
        let mut tags = std::collections::HashSet::new();
        for t in 0..RUN as u32 {
            assert_eq!(hash(3, 1024 + t) & mask, base + u64::from(t));
            tags.insert(hash(3, 1024 + t) >> 57);
        }
        assert!(tags.len() > RUN as usize / 2, "{} tags", tags.len());
        // Other runs and other jobs start elsewhere.
        assert_ne!(hash(3, 1024 + RUN as u32) & mask, base + RUN);
        assert_ne!(hash(4, 1024) & mask, base);
    }

    /// Keys that are neighbours in no sense (strides, many jobs, the top of the ID range)
    /// spread their runs over the table like a good hash, so no probe walks far. (Whole runs
    /// collide like keys of a random hash do: a few runs share a slot now and then.)
    #[test]
    fn strided_and_scattered_ids_spread_their_runs_over_the_table() {
        let n = 100_000u32;
        let mask = (1u64 << 18) - 1;
        let patterns: [&dyn Fn(u32) -> (u32, u32); 5] = [
            &|i| (1, i),
            &|i| (1, i.wrapping_mul(64)),
            &|i| (1, i.wrapping_mul(1 << 16)),
            &|i| (i, 7),
            &|i| (i % 16, u32::MAX - i / 16),
        ];
        for (p, key) in patterns.iter().enumerate() {
            let mut per_run = std::collections::HashMap::<u64, u64>::new();
            for i in 0..n {
                let (job, task) = key(i);
                *per_run.entry((hash(job, task) & mask) / RUN).or_default() += 1;
            }
            // 100,000 keys over 4,096 run slots: a random hash puts at most ~50 single keys,
            // or ~3 runs of 64 neighbours, in one slot. A degenerate one puts thousands.
            let most = per_run.values().max().copied().unwrap_or(0);
            assert!(most <= 4 * RUN, "pattern {p}: {most} keys in one run slot");
            assert!(
                per_run.len() > 1_000,
                "pattern {p}: {} run slots",
                per_run.len()
            );
        }
        let mut m: TaskMap<TaskKey, u32> = TaskMap::default();
        for i in 0..n {
            m.insert(
                TaskKey {
                    job: 1,
                    task: i * 64,
                },
                i,
            );
        }
        assert_eq!(
            m.get(&TaskKey {
                job: 1,
                task: 64 * 777
            }),
            Some(&777)
        );
    }
}
