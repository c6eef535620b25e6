//! CPU topology through hwloc (cargo feature `hwloc`, crate `hwlocality`): NUMA nodes with
//! their CPUs and the first hardware thread of every core. Used by host detection instead of
//! the /sys reader when the feature is on; the pool itself is built by the same pure
//! [`super::cpu_pool`] as for /sys, so affinity and `--no-hyper-threading` behave alike.

use super::cpu_pool;
use crate::resources::ResourceDescriptorKind;
use hwlocality::bitmap::BitmapRef;
use hwlocality::cpu::cpuset::CpuSet;
use hwlocality::object::types::ObjectType;
use hwlocality::Topology;
use std::collections::BTreeSet;

/// What hwloc tells about the CPUs: OS indices per NUMA node, and the first thread per core.
#[derive(Debug, PartialEq, Eq)]
pub struct HwlocCpus {
    pub nodes: Vec<Vec<u32>>,
    pub first_threads: BTreeSet<u32>,
}

fn ids(set: &BitmapRef<'_, CpuSet>) -> Vec<u32> {
    set.iter_set().map(|i| usize::from(i) as u32).collect()
}

/// Reads NUMA nodes and cores from a loaded topology. Without NUMA information all CPUs of
/// the topology form one node.
pub fn read_topology(topology: &Topology) -> HwlocCpus {
    let mut nodes: Vec<Vec<u32>> = topology
        .objects_with_type(ObjectType::NUMANode)
        .filter_map(|node| node.cpuset().map(|set| ids(&set)))
        .filter(|cpus| !cpus.is_empty())
        .collect();
    if nodes.is_empty() {
        nodes.push(ids(&topology.cpuset()));
    }
    let first_threads = topology
        .objects_with_type(ObjectType::Core)
        .filter_map(|core| core.cpuset()?.first_set())
        .map(|i| usize::from(i) as u32)
        .collect();
    HwlocCpus {
        nodes,
        first_threads,
    }
}

/// The CPU pool of this host from hwloc, or `None` (with a warning) when hwloc fails, so the
/// caller falls back to /sys.
pub fn host_cpus(
    no_hyper_threading: bool,
    affinity: Option<&[u32]>,
) -> (Option<ResourceDescriptorKind>, Vec<String>) {
    match Topology::new() {
        Ok(topology) => pool(read_topology(&topology), no_hyper_threading, affinity),
        Err(e) => (
            None,
            vec![format!(
                "hwloc could not load the topology ({e}); reading /sys instead"
            )],
        ),
    }
}

/// Builds the pool; with `--no-hyper-threading` keeps only first threads of cores (all CPUs
/// when hwloc reports no cores).
pub fn pool(
    cpus: HwlocCpus,
    no_hyper_threading: bool,
    affinity: Option<&[u32]>,
) -> (Option<ResourceDescriptorKind>, Vec<String>) {
    let filter = no_hyper_threading && !cpus.first_threads.is_empty();
    let first = cpus.first_threads;
    cpu_pool(cpus.nodes, affinity, |cpu| !filter || first.contains(&cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(description: &str) -> Topology {
        Topology::builder()
            .from_synthetic(description)
            .unwrap()
            .build()
            .unwrap()
    }

    #[test]
    fn numa_nodes_and_first_threads_of_a_synthetic_topology() {
        // 2 NUMA nodes x 2 cores x 2 threads; synthetic OS indices are consecutive.
        let cpus = read_topology(&synthetic("node:2 core:2 pu:2"));
        assert_eq!(cpus.nodes, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
        assert_eq!(cpus.first_threads, BTreeSet::from([0, 2, 4, 6]));
        let (all, _) = pool(read_topology(&synthetic("node:2 core:2 pu:2")), false, None);
        assert_eq!(all.unwrap().full_description(), "[[0,1,2,3],[4,5,6,7]]");
        let (no_ht, _) = pool(cpus, true, Some(&[0, 2, 4]));
        assert_eq!(no_ht.unwrap().full_description(), "[[0,2],[4]]");
    }

    #[test]
    fn without_numa_nodes_all_cpus_form_one_group() {
        let cpus = read_topology(&synthetic("core:3 pu:1"));
        assert_eq!(cpus.nodes, vec![vec![0, 1, 2]]);
        let (pool, warnings) = pool(cpus, true, None);
        assert_eq!(pool.unwrap().full_description(), "[0,1,2]");
        assert!(warnings.is_empty());
    }
}
