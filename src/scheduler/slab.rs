//! The map of the scheduler's in-flight records (placements of running tasks, tasks queued on
//! workers): a small hash index from key to slot, and the records in a dense slab whose freed
//! slots are reused first. With many workers tens of thousands of tasks are in flight; a hash
//! map of the records themselves spreads each insert and lookup over megabytes (several cache
//! misses per task event), while here the index entries are 12 bytes and a new record lands in
//! the slot the last ended task left, which is still in the cache.

use rustc_hash::FxHashMap;
use std::hash::Hash;

pub struct SlabMap<K, V> {
    index: FxHashMap<K, u32>,
    slots: Vec<Option<(K, V)>>,
    /// Empty slots, the most recently freed last.
    free: Vec<u32>,
}

impl<K, V> Default for SlabMap<K, V> {
    fn default() -> Self {
        SlabMap {
            index: FxHashMap::default(),
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
    use super::SlabMap;

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
