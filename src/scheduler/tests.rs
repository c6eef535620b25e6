//! Unit tests of the scheduling core: no sockets, no clock.

use super::*;
use crate::protocol::messages::WorkerId;
use crate::resources::descriptor::parse_cpu_definition;
use crate::resources::{
    AllocationRequest, ResourceAmount, ResourceDescriptor, ResourceDescriptorItem, ResourceRequest,
    ResourceRequestVariants,
};

pub(super) fn desc(cpus: &str, extra: &[(&str, &str)]) -> ResourceDescriptor {
    let mut d = ResourceDescriptor::new(vec![ResourceDescriptorItem {
        name: "cpus".into(),
        kind: parse_cpu_definition(cpus).unwrap(),
    }]);
    for (n, def) in extra {
        d.add(
            n,
            crate::resources::descriptor::parse_resource_definition(def).unwrap(),
        )
        .unwrap();
    }
    d
}

fn req(entries: &[(&str, &str)]) -> ResourceRequestVariants {
    let mut r = ResourceRequest::default();
    for (n, a) in entries {
        r.add(n, AllocationRequest::parse(a).unwrap()).unwrap();
    }
    ResourceRequestVariants::single(r)
}

fn key(job: u32, task: u32) -> TaskKey {
    TaskKey { job, task }
}

#[test]
fn fills_capacity_and_no_more() {
    let mut s = Scheduler::new();
    s.add_worker(
        1,
        &desc("4", &[]),
        "default".into(),
        None,
        ResourceAmount::ZERO,
    );
    let r = s.intern(&req(&[("cpus", "1")]));
    for t in 0..10 {
        s.add_ready(key(1, t), r, 0);
    }
    let a = s.schedule(0);
    s.sanity_check();
    assert_eq!(a.len(), 4);
    assert_eq!(s.ready_count(), 6);
    s.task_done(a[0].key);
    let b = s.schedule(0);
    s.sanity_check();
    assert_eq!(b.len(), 1);
}

#[test]
fn higher_priority_first_and_missing_resource_waits() {
    let mut s = Scheduler::new();
    s.add_worker(
        1,
        &desc("1", &[]),
        "default".into(),
        None,
        ResourceAmount::ZERO,
    );
    let cpu = s.intern(&req(&[("cpus", "1")]));
    let gpu = s.intern(&req(&[("cpus", "1"), ("gpus", "1")]));
    s.add_ready(key(1, 0), cpu, 0);
    s.add_ready(key(2, 0), cpu, 5);
    s.add_ready(key(3, 0), gpu, 10);
    let a = s.schedule(0);
    s.sanity_check();
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].key,
        key(2, 0),
        "the GPU task cannot run; the higher priority CPU task goes first"
    );
    assert_eq!(s.ready_count(), 2);
}

#[test]
fn time_request_respects_worker_deadline() {
    let mut s = Scheduler::new();
    s.add_worker(
        1,
        &desc("2", &[]),
        "default".into(),
        Some(60_000),
        ResourceAmount::ZERO,
    );
    let mut long = ResourceRequest::default_cpu();
    long.min_time_secs = 120;
    let r = s.intern(&ResourceRequestVariants::single(long));
    s.add_ready(key(1, 0), r, 0);
    assert!(s.schedule(0).is_empty());
    s.add_worker(
        2,
        &desc("2", &[]),
        "default".into(),
        None,
        ResourceAmount::ZERO,
    );
    let a = s.schedule(0);
    assert_eq!(a[0].workers, vec![2]);
}

#[test]
fn variants_fall_back_in_order() {
    let mut s = Scheduler::new();
    s.add_worker(
        1,
        &desc("4", &[("gpus", "[0]")]),
        "default".into(),
        None,
        ResourceAmount::ZERO,
    );
    let mut v0 = ResourceRequest::default();
    v0.add("cpus", AllocationRequest::parse("1").unwrap())
        .unwrap();
    v0.add("gpus", AllocationRequest::parse("1").unwrap())
        .unwrap();
    let v1 = ResourceRequest::default_cpu();
    let r = s.intern(&ResourceRequestVariants {
        variants: vec![v0, v1],
    });
    for t in 0..3 {
        s.add_ready(key(1, t), r, 0);
    }
    let a = s.schedule(0);
    s.sanity_check();
    let variants: Vec<u32> = a.iter().map(|a| a.variant).collect();
    assert_eq!(variants, vec![0, 1, 1]);
}

#[test]
fn multi_node_takes_whole_workers_of_one_group() {
    let mut s = Scheduler::new();
    s.add_worker(1, &desc("2", &[]), "a".into(), None, ResourceAmount::ZERO);
    s.add_worker(2, &desc("2", &[]), "b".into(), None, ResourceAmount::ZERO);
    s.add_worker(3, &desc("2", &[]), "a".into(), None, ResourceAmount::ZERO);
    let mut r = ResourceRequest {
        n_nodes: 2,
        ..Default::default()
    };
    r.resources.clear();
    let mn = s.intern(&ResourceRequestVariants::single(r));
    let cpu = s.intern(&req(&[("cpus", "1")]));
    s.add_ready(key(1, 0), mn, 0);
    s.add_ready(key(2, 0), cpu, 0);
    s.add_ready(key(2, 1), cpu, 0);
    let a = s.schedule(0);
    s.sanity_check();
    let mn_a = a.iter().find(|a| a.key == key(1, 0)).unwrap();
    assert_eq!(mn_a.workers, vec![1, 3]);
    assert!(a
        .iter()
        .filter(|a| a.key.job == 2)
        .all(|a| a.workers == vec![2]));
    assert_eq!(s.multi_node_role(1), Some(true));
    assert_eq!(s.multi_node_role(3), Some(false));
    assert_eq!(s.multi_node_role(2), None);
    // Losing another node leaves the task running on its main node; losing that ends it.
    assert!(s.remove_worker(3).is_empty());
    s.sanity_check();
    assert!(!s.worker_is_idle(1));
    s.add_worker(4, &desc("2", &[]), "a".into(), None, ResourceAmount::ZERO);
    assert_eq!(s.remove_worker(1), vec![key(1, 0)]);
    assert!(s.worker_is_idle(4));
    s.sanity_check();
}

#[test]
fn remove_job_drops_ready_tasks() {
    let mut s = Scheduler::new();
    let r = s.intern(&req(&[("cpus", "1")]));
    for t in 0..5 {
        s.add_ready(key(7, t), r, 0);
    }
    assert_eq!(s.remove_job(7), 5);
    s.sanity_check();
    assert_eq!(s.ready_count(), 0);
}

fn worker(s: &mut Scheduler, id: WorkerId, cpus: &str) {
    s.add_worker(
        id,
        &desc(cpus, &[]),
        "default".into(),
        None,
        ResourceAmount::ZERO,
    );
}

fn on_workers(a: &[Assignment]) -> Vec<WorkerId> {
    a.iter().map(|a| a.workers[0]).collect()
}

#[test]
fn compact_placement_fills_the_busiest_worker_first() {
    let mut s = Scheduler::new();
    worker(&mut s, 1, "4");
    worker(&mut s, 2, "4");
    let r = s.intern(&req(&[("cpus", "1")]));
    s.add_ready(key(1, 0), r, 0);
    assert_eq!(on_workers(&s.schedule(0)), vec![1]);
    for t in 1..5 {
        s.add_ready(key(1, t), r, 0);
    }
    // Worker 1 is busy: it gets its three free CPUs before worker 2 gets anything.
    assert_eq!(on_workers(&s.schedule(0)), vec![1, 1, 1, 2]);
    s.sanity_check();
}

#[test]
fn a_waiting_higher_priority_task_holds_what_it_is_short_of() {
    let mut s = Scheduler::new();
    worker(&mut s, 1, "4");
    let one = s.intern(&req(&[("cpus", "1")]));
    let four = s.intern(&req(&[("cpus", "4")]));
    let two = s.intern(&req(&[("cpus", "2")]));
    s.add_ready(key(1, 0), one, 1000);
    assert_eq!(s.schedule(0).len(), 1);
    s.add_ready(key(2, 0), four, 100);
    for t in 0..5 {
        s.add_ready(key(3, t), two, 50);
    }
    // Three CPUs are free, but they are kept for the 4-CPU task.
    assert!(s.schedule(0).is_empty());
    s.sanity_check();
    assert!(!s.worker_is_idle(1) && s.running_on(1) == 1);
    s.task_done(key(1, 0));
    let a = s.schedule(0);
    assert_eq!(a.iter().map(|a| a.key).collect::<Vec<_>>(), vec![key(2, 0)]);
    s.sanity_check();
}

#[test]
fn resources_a_waiting_task_has_enough_of_stay_usable() {
    let mut s = Scheduler::new();
    s.add_worker(
        1,
        &desc("8", &[("foo", "[1,2,3,4]")]),
        "default".into(),
        None,
        ResourceAmount::ZERO,
    );
    let foo = s.intern(&req(&[("cpus", "1"), ("foo", "2")]));
    let cpus = s.intern(&req(&[("cpus", "2")]));
    for job in 1..5 {
        s.add_ready(key(job, 0), foo, 0);
    }
    s.add_ready(key(5, 0), cpus, -1);
    let jobs: Vec<u32> = s.schedule(0).iter().map(|a| a.key.job).collect();
    // Jobs 3 and 4 wait for `foo`; they do not keep CPUs from job 5.
    assert_eq!(jobs, vec![1, 2, 5]);
    s.sanity_check();
}

#[test]
fn requests_that_can_never_run_hold_nothing() {
    let mut s = Scheduler::new();
    s.add_worker(1, &desc("1", &[]), "a".into(), None, ResourceAmount::ZERO);
    s.add_worker(2, &desc("1", &[]), "b".into(), None, ResourceAmount::ZERO);
    let mn = s.intern(&ResourceRequestVariants::single(ResourceRequest {
        n_nodes: 2,
        ..Default::default()
    }));
    let gpu = s.intern(&req(&[("cpus", "1"), ("gpus", "1")]));
    let cpu = s.intern(&req(&[("cpus", "1")]));
    s.add_ready(key(1, 0), mn, 10);
    s.add_ready(key(2, 0), gpu, 5);
    s.add_ready(key(3, 0), cpu, 0);
    s.add_ready(key(3, 1), cpu, 0);
    assert_eq!(s.schedule(0).len(), 2);
    assert!(!s.is_held_for_multi_node(1) && !s.is_held_for_multi_node(2));
}

#[test]
fn a_waiting_multi_node_task_keeps_workers_of_one_group() {
    let mut s = Scheduler::new();
    worker(&mut s, 1, "2");
    worker(&mut s, 2, "2");
    let cpu = s.intern(&req(&[("cpus", "1")]));
    s.add_ready(key(1, 0), cpu, 0);
    assert_eq!(on_workers(&s.schedule(0)), vec![1]);
    let mn = s.intern(&ResourceRequestVariants::single(ResourceRequest {
        n_nodes: 2,
        ..Default::default()
    }));
    s.add_ready(key(2, 0), mn, 10);
    s.add_ready(key(3, 0), cpu, 0);
    assert!(
        s.schedule(0).is_empty(),
        "both workers are kept for the multi-node task"
    );
    assert!(s.is_held_for_multi_node(1) && s.is_held_for_multi_node(2));
    s.task_done(key(1, 0));
    let a = s.schedule(0);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].key, key(2, 0));
    assert!(!s.is_held_for_multi_node(1));
    s.sanity_check();
}

/// The conformance suite's three `--min-utilization=1` cases on a 12-CPU worker.
#[test]
fn min_utilization_places_only_sets_that_keep_the_cpus_busy() {
    let run = |second: (&str, u32)| -> Vec<(u32, usize)> {
        let mut s = Scheduler::new();
        let three = s.intern(&req(&[("cpus", "3")]));
        let other = s.intern(&req(&[("cpus", second.0)]));
        let first_count = if second.1 == 0 { 4 } else { 3 };
        for t in 0..first_count {
            s.add_ready(key(1, t), three, 0);
        }
        for t in 0..second.1.max(1) {
            s.add_ready(key(2, t), other, 0);
        }
        s.add_worker(
            1,
            &desc("12", &[]),
            "default".into(),
            None,
            ResourceAmount::ONE,
        );
        let a = s.schedule(0);
        s.sanity_check();
        let mut per_job = std::collections::BTreeMap::new();
        for x in &a {
            *per_job.entry(x.key.job).or_insert(0) += 1;
        }
        per_job.into_iter().collect()
    };
    // 3 × 3 CPUs would leave 3 idle: the all-CPU task runs instead.
    assert_eq!(run(("all", 1)), vec![(2, 1)]);
    // 4 × 3 CPUs fill the worker: the older job runs.
    assert_eq!(run(("all", 0)), vec![(1, 4)]);
    // 2 × 3 + 1 × 6 = 12.
    assert_eq!(run(("6", 3)), vec![(1, 2), (2, 1)]);
}

#[test]
fn min_utilization_that_cannot_be_met_places_nothing() {
    let mut s = Scheduler::new();
    let half = ResourceAmount::parse("0.5").unwrap();
    s.add_worker(1, &desc("8", &[]), "default".into(), None, half);
    let one = s.intern(&req(&[("cpus", "1")]));
    for t in 0..3 {
        s.add_ready(key(1, t), one, 0);
    }
    assert!(s.schedule(0).is_empty());
    s.add_ready(key(1, 3), one, 0);
    assert_eq!(s.schedule(0).len(), 4);
    // Now busy enough: one more task is fine.
    s.add_ready(key(1, 4), one, 0);
    assert_eq!(s.schedule(0).len(), 1);
    s.sanity_check();
}

#[test]
fn equal_priorities_do_not_hold_from_each_other() {
    let mut s = Scheduler::new();
    worker(&mut s, 1, "4");
    let one = s.intern(&req(&[("cpus", "1")]));
    let four = s.intern(&req(&[("cpus", "4")]));
    let two = s.intern(&req(&[("cpus", "2")]));
    s.add_ready(key(1, 0), one, 0);
    s.schedule(0);
    s.add_ready(key(2, 0), four, 0);
    s.add_ready(key(3, 0), two, 0);
    let a = s.schedule(0);
    assert_eq!(a.iter().map(|a| a.key).collect::<Vec<_>>(), vec![key(3, 0)]);
    s.sanity_check();
}
