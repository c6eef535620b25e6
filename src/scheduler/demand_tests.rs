//! Unit tests of the what-if demand computation.

use super::tests::desc;
use super::*;
use crate::resources::ResourceAmount;
use crate::resources::{
    AllocationRequest, ResourceDescriptor, ResourceRequest, ResourceRequestVariants,
};

fn req(entries: &[(&str, &str)], time_secs: u64) -> ResourceRequestVariants {
    let mut r = ResourceRequest {
        min_time_secs: time_secs,
        ..Default::default()
    };
    for (n, a) in entries {
        r.add(n, AllocationRequest::parse(a).unwrap()).unwrap();
    }
    ResourceRequestVariants::single(r)
}

fn nodes(n: u32) -> ResourceRequestVariants {
    ResourceRequestVariants::single(ResourceRequest {
        n_nodes: n,
        ..Default::default()
    })
}

/// A scheduler with `count` ready tasks of `r` in job 1.
fn with_tasks(s: &mut Scheduler, job: u32, r: &ResourceRequestVariants, count: u32, prio: i32) {
    let id = s.intern(r);
    for t in 0..count {
        s.add_ready(TaskKey { job, task: t }, id, prio);
    }
}

fn query<'a>(shape: &'a ResourceDescriptor, queued: &'a [u32], max_new: u32) -> DemandQuery<'a> {
    DemandQuery {
        worker: shape,
        partial: false,
        lifetime_ms: Some(3_600_000),
        queued,
        max_new_workers: max_new,
        max_nodes: 4,
        min_utilization: 0.0,
    }
}

#[test]
fn packs_tasks_into_few_workers() {
    let mut s = Scheduler::new();
    with_tasks(&mut s, 1, &req(&[("cpus", "1")], 0), 10, 0);
    let shape = desc("4", &[]);
    let r = s.demand(&query(&shape, &[], 10), 0);
    assert_eq!(r.new_workers, 3);
    assert_eq!(r.ready, 10);
    assert_eq!(r.over_limit, 0);
    // The real scheduler is untouched.
    assert_eq!(s.ready_count(), 10);
    s.sanity_check();
}

#[test]
fn free_capacity_of_connected_workers_is_used_first() {
    let mut s = Scheduler::new();
    s.add_worker(
        1,
        &desc("2", &[]),
        "default".into(),
        None,
        ResourceAmount::ZERO,
    );
    with_tasks(&mut s, 1, &req(&[("cpus", "1")], 0), 10, 0);
    let shape = desc("4", &[]);
    let r = s.demand(&query(&shape, &[], 10), 0);
    assert_eq!((r.fit_existing, r.new_workers), (2, 2));
    // After a real pass the worker is full, with the other 8 tasks queued behind the two
    // running ones: the queued ones wait for a running task, so they still count: 8 tasks for
    // workers of 2 CPUs are 4 new workers.
    const { assert!(2 * super::core::QUEUE_DEPTH >= 8) };
    let placed = s.schedule(0);
    let queued = placed.iter().filter(|a| a.after.is_some()).count();
    assert_eq!((placed.len(), queued), (10, 8));
    let small = desc("2", &[]);
    let r = s.demand(&query(&small, &[], 10), 0);
    assert_eq!((r.ready, r.fit_existing, r.new_workers), (8, 0, 4));
}

#[test]
fn queued_allocations_count_toward_demand() {
    let mut s = Scheduler::new();
    with_tasks(&mut s, 1, &req(&[("cpus", "1")], 0), 6, 0);
    let shape = desc("4", &[]);
    let r = s.demand(&query(&shape, &[2], 10), 0);
    assert_eq!((r.queued_used.clone(), r.new_workers), (vec![2], 0));
    let r = s.demand(&query(&shape, &[1, 1, 1], 10), 0);
    assert_eq!((r.queued_used.clone(), r.new_workers), (vec![1, 1, 0], 0));
}

#[test]
fn limits_leave_tasks_over_limit() {
    let mut s = Scheduler::new();
    with_tasks(&mut s, 1, &req(&[("cpus", "4")], 0), 5, 0);
    let shape = desc("4", &[]);
    let r = s.demand(&query(&shape, &[], 2), 0);
    assert_eq!((r.new_workers, r.over_limit), (2, 3));
}

#[test]
fn tasks_no_worker_of_the_shape_could_run_are_reported() {
    let mut s = Scheduler::new();
    with_tasks(&mut s, 1, &req(&[("cpus", "8")], 0), 2, 0);
    with_tasks(&mut s, 2, &req(&[("cpus", "1"), ("gpus", "1")], 0), 3, 0);
    with_tasks(&mut s, 3, &req(&[("cpus", "1")], 7200), 4, 0);
    with_tasks(&mut s, 4, &nodes(8), 1, 0);
    let shape = desc("4", &[]);
    let r = s.demand(&query(&shape, &[], 10), 0);
    assert_eq!(r.new_workers, 0);
    assert!(r.new_multi_node.is_empty());
    let reasons: Vec<(u64, &str)> = r
        .unrunnable
        .iter()
        .map(|u| (u.tasks, u.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                2,
                "no worker of this queue offers `cpus: 8 compact` (the largest has 4)"
            ),
            (3, "no worker of this queue has `gpus`"),
            (
                4,
                "time request 2h exceeds what a new worker can offer (1h: the time limit minus \
                 start-up)"
            ),
            (
                1,
                "needs 8 nodes, but allocations of this queue have at most 4 workers"
            ),
        ]
    );
}

#[test]
fn partial_knowledge_marks_undeclared_resources() {
    let mut s = Scheduler::new();
    with_tasks(&mut s, 1, &req(&[("cpus", "1"), ("gpus", "1")], 0), 3, 0);
    let shape = desc("4", &[]);
    let mut q = query(&shape, &[], 10);
    q.partial = true;
    let r = s.demand(&q, 0);
    assert_eq!((r.new_workers, r.undeclared), (0, 3));
    assert!(r.unrunnable.is_empty());
}

#[test]
fn multi_node_tasks_get_allocations_of_their_size() {
    let mut s = Scheduler::new();
    with_tasks(&mut s, 1, &nodes(2), 2, 0);
    with_tasks(&mut s, 2, &req(&[("cpus", "1")], 0), 1, 0);
    let shape = desc("4", &[]);
    let r = s.demand(&query(&shape, &[], 10), 0);
    assert_eq!(r.new_multi_node, vec![2, 2]);
    assert_eq!(r.new_workers, 1);
    // A queued allocation of two workers serves one of them.
    let r = s.demand(&query(&shape, &[2], 10), 0);
    assert_eq!(
        (r.queued_used.clone(), r.new_multi_node.clone()),
        (vec![2], vec![2])
    );
}

#[test]
fn min_utilization_drops_underused_workers() {
    let mut s = Scheduler::new();
    with_tasks(&mut s, 1, &req(&[("cpus", "1")], 0), 5, 0);
    let shape = desc("4", &[]);
    let mut q = query(&shape, &[], 10);
    q.min_utilization = 0.5;
    assert_eq!(s.demand(&q, 0).new_workers, 1);
    q.min_utilization = 0.25;
    assert_eq!(s.demand(&q, 0).new_workers, 2);
}

#[test]
fn higher_priority_tasks_take_the_capacity_first() {
    let mut s = Scheduler::new();
    with_tasks(&mut s, 1, &req(&[("cpus", "1")], 0), 4, 0);
    with_tasks(&mut s, 2, &req(&[("cpus", "4")], 0), 1, 5);
    let shape = desc("4", &[]);
    let r = s.demand(&query(&shape, &[], 1), 0);
    assert_eq!((r.new_workers, r.over_limit), (1, 4));
}

#[test]
fn time_requests_use_the_real_rule_on_connected_workers() {
    let mut s = Scheduler::new();
    // The connected worker stops in 10 s: a task asking for a minute does not fit it.
    s.add_worker(
        1,
        &desc("4", &[]),
        "default".into(),
        Some(10_000),
        ResourceAmount::ZERO,
    );
    with_tasks(&mut s, 1, &req(&[("cpus", "1")], 60), 1, 0);
    let shape = desc("4", &[]);
    let r = s.demand(&query(&shape, &[], 1), 0);
    assert_eq!((r.fit_existing, r.new_workers), (0, 1));
}
