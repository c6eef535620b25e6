//! The compact order of the workers a pass may place on: busiest first (fewest wholly free
//! CPUs; idle workers last; ties by ID). A pass sorts it once and then moves only the workers
//! it placed on or held from, so a queue costs what it places, not the size of the cluster.

use crate::protocol::messages::WorkerId;

/// Where a worker stands in the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct OrderKey {
    pub(super) idle: bool,
    /// Wholly free CPUs (`WorkerAllocator::free_hint`).
    pub(super) free: u64,
    pub(super) id: WorkerId,
    /// Some CPU is free, if only part of one: a request with a CPU entry can fit only then.
    pub(super) cpus_left: bool,
}

/// The open workers in compact order.
#[derive(Clone, Debug, Default)]
pub(super) struct Order {
    sorted: Vec<OrderKey>,
}

impl Order {
    pub(super) fn new(mut keys: Vec<OrderKey>) -> Order {
        keys.sort_unstable();
        Order { sorted: keys }
    }

    /// Every worker, busiest first.
    pub(super) fn all(&self) -> impl DoubleEndedIterator<Item = WorkerId> + '_ {
        self.sorted.iter().map(|k| k.id)
    }

    /// The workers a request can fit on now, busiest first: all of them, or only those with
    /// some CPU free for a request that `needs_cpus`.
    pub(super) fn placeable(&self, needs_cpus: bool) -> impl Iterator<Item = WorkerId> + '_ {
        let sorted = self.sorted.iter();
        sorted
            .filter(move |k| k.cpus_left || !needs_cpus)
            .map(|k| k.id)
    }

    /// Moves worker `id` to where `key` puts it (`None`: it is no longer open).
    pub(super) fn update(&mut self, id: WorkerId, key: Option<OrderKey>) {
        if let Some(at) = self.sorted.iter().position(|k| k.id == id) {
            self.sorted.remove(at);
        }
        if let Some(key) = key {
            let at = self.sorted.partition_point(|k| *k < key);
            self.sorted.insert(at, key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(idle: bool, free: u64, id: WorkerId) -> OrderKey {
        OrderKey {
            idle,
            free,
            id,
            cpus_left: free > 0,
        }
    }

    #[test]
    fn busiest_first_and_idle_last() {
        let order = Order::new(vec![key(true, 8, 1), key(false, 3, 2), key(false, 0, 3)]);
        assert_eq!(order.all().collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(order.placeable(true).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(order.placeable(false).collect::<Vec<_>>(), [3, 2, 1]);
    }

    #[test]
    fn an_updated_worker_moves_to_its_new_place() {
        let mut order = Order::new(vec![key(true, 8, 1), key(false, 3, 2), key(true, 8, 3)]);
        order.update(3, Some(key(false, 1, 3)));
        assert_eq!(order.all().collect::<Vec<_>>(), [3, 2, 1]);
        order.update(2, None);
        assert_eq!(order.all().collect::<Vec<_>>(), [3, 1]);
    }
}
