//! The map of the scheduler's in-flight records (placements of running tasks, tasks queued on
//! workers): a small hash index from key to slot, and the records in a dense slab whose freed
//! slots are reused first. With many workers tens of thousands of tasks are in flight; a hash
//! map of the records themselves spreads each insert and lookup over megabytes (several cache
//! misses per task event), while here the index entries are 12 bytes and a new record lands in
//! the slot the last ended task left, which is still in the cache. The index hashes keys so that
//! neighbouring task IDs (which a worker runs and reports together) share buckets: see
//! [`NeighbourHasher`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Consecutive IDs that share a run of buckets in the index (a power of two).
const RUN: u64 = 64;

/// Hashes the `u32` words of a key (a [`super::TaskKey`] is two: job, task) so that the last
/// word's `RUN` neighbours land in neighbouring buckets of the index (the bucket is the hash's
/// low bits) while runs spread like a good hash over the table. A batch of results of tasks
/// 1000..1250 reads a few contiguous cache lines instead of 250 random ones. The top seven
/// bits (which `hashbrown` compares before the key) mix every bit, so neighbours in a run are
/// told apart without comparing keys. IDs with a stride (every 64th task) share the first
/// bucket of their runs, which makes probes at most `RUN` entries longer, never unbounded.
#[derive(Default)]
pub struct NeighbourHasher {
    words: u64,
}

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

pub struct SlabMap<K, V> {
    index: HashMap<K, u32, BuildHasherDefault<NeighbourHasher>>,
    slots: Vec<Option<(K, V)>>,
    /// Empty slots, the most recently freed last.
    free: Vec<u32>,
}

impl<K, V> Default for SlabMap<K, V> {
    fn default() -> Self {
        SlabMap {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<K: Copy + Eq + Hash, V> SlabMap<K, V> {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.index.contains_key(key)
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        let slot = *self.index.get(key)?;
        self.slots[slot as usize].as_ref().map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let slot = *self.index.get(key)?;
        self.slots[slot as usize].as_mut().map(|(_, v)| v)
    }

    /// Inserts or replaces; returns the value that was there.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(slot) = self.index.get(&key) {
            let old = self.slots[*slot as usize].replace((key, value));
            return old.map(|(_, v)| v);
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some((key, value));
                slot
            }
            None => {
                self.slots.push(Some((key, value)));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, slot);
        None
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.index.remove(key)?;
        let value = self.slots[slot as usize].take().map(|(_, v)| v);
        if self.index.is_empty() {
            // Nothing in flight: the slab does not keep the size of an old peak.
            self.slots.clear();
            self.free.clear();
        } else {
            self.free.push(slot);
        }
        value
    }

    /// Entries in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().flatten().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.slots.iter_mut().flatten().map(|(k, v)| (&*k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().flatten().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::{NeighbourHasher, SlabMap, RUN};
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

    #[test]
    fn strided_and_huge_ids_stay_fast() {
        let mut m: SlabMap<TaskKey, u32> = SlabMap::default();
        for i in 0..100_000u32 {
            let key = TaskKey {
                job: 1,
                task: i.wrapping_mul(64),
            };
            m.insert(key, i);
            m.insert(
                TaskKey {
                    job: i,
                    task: u32::MAX - i,
                },
                i,
            );
        }
        assert_eq!(m.len(), 200_000);
        assert_eq!(
            m.get(&TaskKey {
                job: 1,
                task: 64 * 777
            }),
            Some(&777)
        );
        assert_eq!(
            m.get(&TaskKey {
                job: 5,
                task: u32::MAX - 5
            }),
            Some(&5)
        );
    }

    #[test]
    fn behaves_like_a_map_and_reuses_the_last_freed_slot() {
        let mut m: SlabMap<u32, String> = SlabMap::default();
        assert_eq!(m.insert(1, "a".into()), None);
        assert_eq!(m.insert(2, "b".into()), None);
        assert_eq!(m.insert(1, "c".into()).as_deref(), Some("a"));
        assert_eq!(m.get(&1).map(String::as_str), Some("c"));
        assert_eq!(m.len(), 2);
        assert_eq!(m.remove(&1).as_deref(), Some("c"));
        assert_eq!(m.remove(&1), None);
        assert!(!m.contains_key(&1));
        m.insert(3, "d".into());
        // Slot 0, freed by key 1, holds key 3 now: the slab did not grow.
        assert_eq!(m.slots.len(), 2);
        m.get_mut(&3).unwrap().push('!');
        let mut all: Vec<(u32, String)> = m.iter().map(|(k, v)| (*k, v.clone())).collect();
        all.sort();
        assert_eq!(all, vec![(2, "b".into()), (3, "d!".into())]);
        assert_eq!(m.values().count(), 2);
        m.values_mut().for_each(|v| v.clear());
        assert_eq!(m.get(&2).map(String::as_str), Some(""));
    }

    #[test]
    fn an_empty_map_drops_its_slots() {
        let mut m: SlabMap<u32, u32> = SlabMap::default();
        for k in 0..100 {
            m.insert(k, k);
        }
        for k in 0..100 {
            assert_eq!(m.remove(&k), Some(k));
        }
        assert_eq!(m.len(), 0);
        assert!(m.slots.is_empty() && m.free.is_empty());
        assert_eq!(m.get(&5), None);
    }
}
