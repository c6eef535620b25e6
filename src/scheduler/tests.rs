//! Unit tests of the scheduling core: no sockets, no clock.

use super::*;
use crate::resources::descriptor::parse_cpu_definition;
use crate::resources::{
    AllocationRequest, ResourceDescriptor, ResourceDescriptorItem, ResourceRequest,
    ResourceRequestVariants,
};

fn desc(cpus: &str, extra: &[(&str, &str)]) -> ResourceDescriptor {
    let mut d = ResourceDescriptor {
        resources: vec![ResourceDescriptorItem {
            name: "cpus".into(),
            kind: parse_cpu_definition(cpus).unwrap(),
        }],
    };
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
    s.add_worker(1, &desc("4", &[]), "default".into(), None);
    let r = s.intern(&req(&[("cpus", "1")]));
    for t in 0..10 {
        s.add_ready(key(1, t), r, 0);
    }
    let a = s.schedule(0);
    s.sanity_check();
    assert_eq!(starts(&a).len(), 4);
    // One more behind each running task.
    assert_eq!(a.len(), 8);
    assert_eq!(s.ready_count(), 2);
    s.task_done(a[0].key);
    assert_eq!(
        s.take_started().len(),
        1,
        "the task queued behind it took over"
    );
    let b = s.schedule(0);
    s.sanity_check();
    assert_eq!((starts(&b).len(), b.len()), (0, 1));
}

/// The assignments that start now (not queued behind a running task).
fn starts(a: &[Assignment]) -> Vec<&Assignment> {
    a.iter().filter(|a| a.after.is_none()).collect()
}

#[test]
fn higher_priority_first_and_missing_resource_waits() {
    let mut s = Scheduler::new();
    s.add_worker(1, &desc("1", &[]), "default".into(), None);
    let cpu = s.intern(&req(&[("cpus", "1")]));
    let gpu = s.intern(&req(&[("cpus", "1"), ("gpus", "1")]));
    s.add_ready(key(1, 0), cpu, 0);
    s.add_ready(key(2, 0), cpu, 5);
    s.add_ready(key(3, 0), gpu, 10);
    let a = s.schedule(0);
    s.sanity_check();
    assert_eq!(starts(&a).len(), 1);
    assert_eq!(
        a[0].key,
        key(2, 0),
        "the GPU task cannot run; the higher priority CPU task goes first"
    );
    assert_eq!(
        a[1].after,
        Some(key(2, 0)),
        "the other CPU task queues behind it"
    );
    assert_eq!(s.ready_count(), 1);
}

#[test]
fn time_request_respects_worker_deadline() {
    let mut s = Scheduler::new();
    s.add_worker(1, &desc("2", &[]), "default".into(), Some(60_000));
    let mut long = ResourceRequest::default_cpu();
    long.min_time_secs = 120;
    let r = s.intern(&ResourceRequestVariants::single(long));
    s.add_ready(key(1, 0), r, 0);
    assert!(s.schedule(0).is_empty());
    s.add_worker(2, &desc("2", &[]), "default".into(), None);
    let a = s.schedule(0);
    assert_eq!(a[0].workers, vec![2]);
}

#[test]
fn variants_fall_back_in_order() {
    let mut s = Scheduler::new();
    s.add_worker(1, &desc("4", &[("gpus", "[0]")]), "default".into(), None);
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
    s.add_worker(1, &desc("2", &[]), "a".into(), None);
    s.add_worker(2, &desc("2", &[]), "b".into(), None);
    s.add_worker(3, &desc("2", &[]), "a".into(), None);
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
    let lost = s.remove_worker(3);
    assert_eq!(lost, vec![key(1, 0)]);
    assert!(s.worker_is_idle(1));
    s.sanity_check();
}

#[test]
fn remove_job_drops_ready_tasks() {
    let mut s = Scheduler::new();
    let r = s.intern(&req(&[("cpus", "1")]));
    for t in 0..5 {
        s.add_ready(key(7, t), r, 0);
    }
    assert_eq!(s.remove_job(7), vec![]);
    s.sanity_check();
    assert_eq!(s.ready_count(), 0);
}

/// One worker with 2 CPUs and 5 tasks of one CPU: 2 start, 2 queue behind them.
fn two_running_two_queued() -> (Scheduler, Vec<Assignment>) {
    let mut s = Scheduler::new();
    s.add_worker(1, &desc("2", &[]), "default".into(), None);
    let r = s.intern(&req(&[("cpus", "1")]));
    for t in 0..5 {
        s.add_ready(key(1, t), r, 0);
    }
    let a = s.schedule(0);
    s.sanity_check();
    (s, a)
}

#[test]
fn queues_one_task_behind_each_running_one() {
    let (mut s, a) = two_running_two_queued();
    let now: Vec<_> = a
        .iter()
        .filter(|a| a.after.is_none())
        .map(|a| a.key)
        .collect();
    let queued: Vec<_> = a.iter().filter_map(|a| Some((a.key, a.after?))).collect();
    assert_eq!(now, vec![key(1, 0), key(1, 1)]);
    assert_eq!(queued.len(), 2);
    assert_eq!(s.ready_count(), 1);
    // The queued task gets the allocation of the task it waits for.
    let (q, after) = queued[0];
    let alloc_of = |k| a.iter().find(|x| x.key == k).unwrap().allocation.clone();
    assert_eq!(alloc_of(q), alloc_of(after));
    // That task ends: the queued one has started in its allocation, nothing was freed.
    s.task_done(after);
    let started = s.take_started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].key, q);
    assert!(s.is_running(q));
    assert!(s.take_started().is_empty());
    s.sanity_check();
    // The next pass queues the remaining task behind the one that just started (or the other).
    let b = s.schedule(0);
    s.sanity_check();
    assert_eq!(b.len(), 1);
    assert!(b[0].after.is_some());
    assert_eq!(s.ready_count(), 0);
}

#[test]
fn lost_worker_makes_queued_tasks_ready_again() {
    let (mut s, _) = two_running_two_queued();
    let lost = s.remove_worker(1);
    assert_eq!(lost.len(), 2);
    assert_eq!(s.ready_count(), 3);
    assert!(s.take_started().is_empty());
    s.sanity_check();
}

#[test]
fn canceled_job_drops_its_queued_tasks() {
    let (mut s, a) = two_running_two_queued();
    let mut dropped = s.remove_job(1);
    dropped.sort();
    let mut queued: Vec<_> = a
        .iter()
        .filter(|a| a.after.is_some())
        .map(|a| (1, a.key))
        .collect();
    queued.sort();
    assert_eq!(dropped, queued);
    s.sanity_check();
    // The running tasks end normally and free their CPUs.
    for x in a.iter().filter(|a| a.after.is_none()) {
        s.task_done(x.key);
    }
    assert!(s.take_started().is_empty());
    assert!(s.worker_is_idle(1));
    s.sanity_check();
}

#[test]
fn idle_worker_takes_queued_tasks_back() {
    let (mut s, a) = two_running_two_queued();
    let r = s.intern(&req(&[("cpus", "1")]));
    // The fifth task is taken by a new worker of one CPU; queued tasks stay.
    s.add_worker(2, &desc("1", &[]), "default".into(), None);
    let b = s.schedule(0);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].workers, vec![2]);
    assert!(s.take_retractions().is_empty());
    // A third worker with 2 CPUs and nothing ready: both queued tasks are asked back.
    s.add_worker(3, &desc("2", &[]), "default".into(), None);
    assert!(s.schedule(0).is_empty());
    let asked = s.take_retractions();
    assert_eq!(asked.len(), 2);
    assert!(s.schedule(0).is_empty());
    assert!(s.take_retractions().is_empty(), "asked once");
    // Worker 1 gives back one; the other started meanwhile.
    let queued: Vec<_> = a.iter().filter(|a| a.after.is_some()).collect();
    s.retracted(1, queued[0].key);
    s.task_done(queued[1].after.unwrap());
    assert_eq!(s.take_started().len(), 1);
    assert_eq!(s.ready_count(), 1);
    s.sanity_check();
    let c = s.schedule(0);
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].key, c[0].workers.clone()), (queued[0].key, vec![3]));
    let _ = r;
    s.sanity_check();
}
