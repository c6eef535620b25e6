//! Unit tests of the scheduling core: no sockets, no clock.

use super::*;
use crate::resources::descriptor::parse_cpu_definition;
use crate::resources::{
    AllocationRequest, ResourceDescriptor, ResourceDescriptorItem, ResourceRequest,
    ResourceRequestVariants,
};

pub(super) fn desc(cpus: &str, extra: &[(&str, &str)]) -> ResourceDescriptor {
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
    s.add_worker(1, &desc("1", &[]), "default".into(), None);
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
    assert_eq!(s.remove_job(7), 5);
    s.sanity_check();
    assert_eq!(s.ready_count(), 0);
}
