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
    let (r, a) = one_cpu_tasks(&mut s, 10);
    assert_eq!(starts(&a).len(), 4);
    // The last 6 queue behind the running tasks, nothing stays ready.
    assert_eq!(a.len(), 10);
    assert_eq!(s.ready_count(), 0);
    s.task_done(a[0].key);
    let next = a.iter().find(|x| x.after == Some(a[0].key)).unwrap().key;
    assert!(s.is_running(next), "the task queued behind it took over");
    s.add_ready(key(1, 10), r, 0);
    s.add_ready(key(1, 11), r, 0);
    let b = s.schedule(0);
    s.sanity_check();
    // Two chains have room for one more: the one that moved up, and one of the others.
    assert_eq!((starts(&b).len(), b.len()), (0, 2));
    assert_eq!(s.ready_count(), 0);
}

/// Makes tasks 0..n of job 1, one CPU each, ready and runs a pass (state checked after it);
/// returns their request and the assignments.
fn one_cpu_tasks(s: &mut Scheduler, n: u32) -> (ReqId, Vec<Assignment>) {
    let r = s.intern(&req(&[("cpus", "1")]));
    for t in 0..n {
        s.add_ready(key(1, t), r, 0);
    }
    let a = s.schedule(0);
    s.sanity_check();
    (r, a)
}

/// The assignments that start now (not queued behind a running task).
fn starts(a: &[Assignment]) -> Vec<&Assignment> {
    a.iter().filter(|a| a.after.is_none()).collect()
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
    assert_eq!(a[0].workers.as_slice(), [2]);
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
    assert_eq!(mn_a.workers.as_slice(), [1, 3]);
    assert!(a
        .iter()
        .filter(|a| a.key.job == 2)
        .all(|a| a.workers.as_slice() == [2]));
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
    let a = s.schedule(0);
    let jobs: Vec<u32> = starts(&a).iter().map(|a| a.key.job).collect();
    // Jobs 3 and 4 wait for `foo` (queued behind jobs 1 and 2); they do not keep CPUs from
    // job 5.
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

/// One worker with 2 CPUs, chains two deep, and 7 tasks of one CPU: 2 start, 4 queue two deep
/// behind them (one behind each first, then one more behind each), 1 stays ready.
fn two_running_four_queued() -> (Scheduler, Vec<Assignment>) {
    let mut s = Scheduler::new();
    s.set_queue_depth(2);
    worker(&mut s, 1, "2");
    let (_, a) = one_cpu_tasks(&mut s, 7);
    (s, a)
}

/// The assignments queued behind a running task: (task, predecessor).
fn queued(a: &[Assignment]) -> Vec<(TaskKey, TaskKey)> {
    a.iter().filter_map(|a| Some((a.key, a.after?))).collect()
}

#[test]
fn queues_two_tasks_behind_each_running_one() {
    let (mut s, a) = two_running_four_queued();
    let now: Vec<_> = starts(&a).iter().map(|a| a.key).collect();
    let queued = queued(&a);
    assert_eq!(now, vec![key(1, 0), key(1, 1)]);
    // Breadth first: one behind each running task, then one behind each of those.
    let running: Vec<TaskKey> = queued[..2].iter().map(|q| q.1).collect();
    assert!(running.contains(&key(1, 0)) && running.contains(&key(1, 1)));
    let second: Vec<TaskKey> = queued[2..].iter().map(|q| q.1).collect();
    assert_eq!(second, vec![queued[0].0, queued[1].0]);
    assert_eq!(s.ready_count(), 1);
    // A queued task gets the allocation of the running task at the head of its chain.
    let alloc_of = |k| a.iter().find(|x| x.key == k).unwrap().allocation.clone();
    let (q, after) = queued[0];
    let (q2, _) = queued[2];
    assert_eq!(alloc_of(q), alloc_of(after));
    assert_eq!(alloc_of(q2), alloc_of(after));
    assert_eq!(s.placement(q2).map(|p| p.0.to_vec()), Some(vec![1]));
    // That task ends: the first queued one has started in its allocation, the second is now
    // right behind it, nothing was freed.
    s.task_done(after);
    assert!(s.is_running(q));
    assert_eq!(s.queued_count(), 3);
    s.sanity_check();
    // The next pass queues the remaining task at the end of that chain.
    let b = s.schedule(0);
    s.sanity_check();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].after, Some(q2));
    assert_eq!(s.ready_count(), 0);
}

/// Without a depth set, each running task gets a chain of `QUEUE_DEPTH` queued tasks, filled
/// breadth first, and what does not fit stays ready.
#[test]
fn chains_are_as_deep_as_the_queue_depth() {
    let depth = super::core::QUEUE_DEPTH;
    let mut s = Scheduler::new();
    worker(&mut s, 1, "2");
    let (_, a) = one_cpu_tasks(&mut s, 2 + 2 * depth as u32 + 1);
    assert_eq!(starts(&a).len(), 2);
    let queued = queued(&a);
    assert_eq!(queued.len(), 2 * depth);
    assert_eq!(s.ready_count(), 1);
    // Level by level: the tasks of level n sit behind those of level n - 1.
    for level in 1..depth {
        for q in &queued[2 * level..2 * level + 2] {
            assert!(queued[2 * (level - 1)..2 * level]
                .iter()
                .any(|p| p.0 == q.1));
        }
    }
    // The first running task ends: the one behind it starts, and the next pass fills its
    // chain up again with the task that was left ready.
    s.task_done(queued[0].1);
    let b = s.schedule(0);
    assert_eq!(b.len(), 1);
    assert!(b[0].after.is_some());
    assert_eq!(s.ready_count(), 0);
    s.sanity_check();
}

/// Each worker's share of the queued tasks is one run of neighbouring IDs (its reports then
/// touch neighbouring records), and the shares are even.
#[test]
fn workers_queue_even_runs_of_neighbouring_tasks() {
    let mut s = Scheduler::new();
    for w in 1..=3 {
        worker(&mut s, w, "2");
    }
    let (_, a) = one_cpu_tasks(&mut s, 15);
    assert_eq!(starts(&a).len(), 6);
    for w in 1..=3 {
        let mut mine: Vec<u32> = a
            .iter()
            .filter(|x| x.after.is_some() && x.workers[0] == w)
            .map(|x| x.key.task)
            .collect();
        mine.sort_unstable();
        assert_eq!(mine.len(), 3, "worker {w}: {mine:?}");
        assert_eq!(mine[2] - mine[0], 2, "worker {w}: {mine:?}");
    }
}

#[test]
fn lost_worker_drops_its_queued_tasks() {
    let (mut s, _) = two_running_four_queued();
    assert_eq!(s.queued_on_worker(1).len(), 4);
    let lost = s.remove_worker(1);
    assert_eq!(lost.len(), 2);
    // The server makes them ready again (`TaskRetracted`); the scheduler only forgets them.
    assert_eq!((s.ready_count(), s.queued_count()), (1, 0));
    s.sanity_check();
}

#[test]
fn a_queued_task_that_ends_leaves_its_place_to_the_one_behind_it() {
    let (mut s, a) = two_running_four_queued();
    let chains = queued(&a);
    let (q, after) = chains[0];
    let (behind, _) = chains[2];
    // Canceled while queued: the task behind it moves up, and the chain has room for the
    // last ready task.
    s.task_done(q);
    assert_eq!(s.queued_count(), 3);
    s.sanity_check();
    let b = s.schedule(0);
    assert_eq!(queued(&b), vec![(key(1, 6), behind)]);
    // The running task ends: its resources go to the task that moved up, not to the worker.
    s.task_done(after);
    assert!(s.is_running(behind));
    assert!(!s.worker_is_idle(1));
    s.sanity_check();
}

#[test]
fn idle_worker_takes_queued_tasks_back() {
    let (mut s, a) = two_running_four_queued();
    let r = s.intern(&req(&[("cpus", "1")]));
    // The fifth task is taken by a new worker of one CPU; queued tasks stay.
    worker(&mut s, 2, "1");
    let b = s.schedule(0);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].workers.as_slice(), [2]);
    assert!(s.take_retractions().is_empty());
    // A third worker with 2 CPUs and nothing ready: both queued tasks are asked back.
    worker(&mut s, 3, "2");
    assert!(s.schedule(0).is_empty());
    let asked = s.take_retractions();
    assert_eq!(asked.len(), 2);
    assert!(s.schedule(0).is_empty());
    assert!(s.take_retractions().is_empty(), "asked once");
    // Worker 1 gives back one (the server makes it ready); the other started meanwhile.
    let queued = queued(&a);
    s.task_done(queued[0].0);
    s.add_ready(queued[0].0, r, 0);
    s.task_done(queued[1].1);
    assert!(s.is_running(queued[1].0));
    assert_eq!(s.ready_count(), 1);
    s.sanity_check();
    let c = s.schedule(0);
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].key, c[0].workers.to_vec()), (queued[0].0, vec![3]));
    s.sanity_check();
}

#[test]
fn a_waiting_higher_priority_takes_back_queued_lower_ones_and_stops_queueing() {
    let (mut s, a) = two_running_four_queued();
    let two = s.intern(&req(&[("cpus", "2")]));
    s.add_ready(key(2, 0), two, 10);
    // The 2-CPU task waits for both CPUs: the queued 1-CPU tasks would take them over.
    let b = s.schedule(0);
    assert!(b.is_empty(), "nothing more is queued: {b:?}");
    let mut asked: Vec<TaskKey> = s.take_retractions().into_iter().map(|r| r.1).collect();
    asked.sort();
    let mut expected: Vec<TaskKey> = queued(&a).iter().map(|q| q.0).collect();
    expected.sort();
    assert_eq!(asked, expected);
    for k in &asked {
        s.task_done(*k);
    }
    for x in starts(&a) {
        s.task_done(x.key);
    }
    let c = s.schedule(0);
    assert_eq!(c.iter().map(|a| a.key).collect::<Vec<_>>(), vec![key(2, 0)]);
    s.sanity_check();
}

#[test]
fn nothing_is_queued_on_workers_with_min_utilization_or_held_for_multi_node() {
    let mut s = Scheduler::new();
    let half = ResourceAmount::parse("0.5").unwrap();
    s.add_worker(1, &desc("2", &[]), "default".into(), None, half);
    let one = s.intern(&req(&[("cpus", "1")]));
    for t in 0..4 {
        s.add_ready(key(1, t), one, 0);
    }
    let a = s.schedule(0);
    assert_eq!((starts(&a).len(), a.len()), (2, 2));
    s.sanity_check();
}

/// A placement's workers are kept inline but encode (in task events, in the journal) as the
/// vector they replaced.
#[test]
fn workers_encode_like_a_vector() {
    for ids in [vec![], vec![4u32], vec![1, 3, 9]] {
        let inline: Workers = ids.iter().copied().collect();
        let bytes = postcard::to_allocvec(&ids).unwrap();
        assert_eq!(postcard::to_allocvec(&inline).unwrap(), bytes);
        assert_eq!(postcard::from_bytes::<Workers>(&bytes).unwrap(), inline);
    }
}

/// A scheduler with worker 1 of `cpus`, and the request of one CPU.
fn one_worker_one_cpu_tasks(cpus: &str) -> (Scheduler, ReqId) {
    let mut s = Scheduler::new();
    s.add_worker(
        1,
        &desc(cpus, &[]),
        "default".into(),
        None,
        ResourceAmount::ZERO,
    );
    let r = s.intern(&req(&[("cpus", "1")]));
    (s, r)
}

#[test]
fn a_task_started_as_its_workers_list_is_compacted_can_still_be_queued_behind() {
    let (mut s, r) = one_worker_one_cpu_tasks("1");
    // Tasks that end without successors leave stale entries in the worker's list of tasks to
    // queue behind, until it outgrows its bound (2 × running + 16) and is compacted.
    for t in 0..19 {
        s.add_ready(key(1, t), r, 0);
        assert_eq!(starts(&s.schedule(0)).len(), 1);
        if t < 18 {
            s.task_done(key(1, t));
        }
    }
    s.add_ready(key(1, 19), r, 0);
    let a = s.schedule(0);
    s.sanity_check();
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].after,
        Some(key(1, 18)),
        "queued behind the running task"
    );
}

#[test]
fn compacting_the_workers_list_keeps_running_tasks_with_room_for_a_second_successor() {
    let (mut s, r) = one_worker_one_cpu_tasks("2");
    s.set_queue_depth(2);
    for t in 0..3 {
        s.add_ready(key(1, t), r, 0);
    }
    let a = s.schedule(0);
    assert_eq!(a[2].after, Some(key(1, 1)), "task 2 waits behind task 1");
    // The other slot runs tasks one by one, which leave stale entries until the list is
    // compacted (more than 2 × 2 + 16 entries).
    s.task_done(key(1, 0));
    for t in 3..22 {
        s.add_ready(key(1, t), r, 0);
        assert_eq!(starts(&s.schedule(0)).len(), 1);
        if t < 21 {
            s.task_done(key(1, t));
        }
    }
    // Two running tasks, two deep each: task 2 and three more fit.
    for t in 22..25 {
        s.add_ready(key(1, t), r, 0);
    }
    let a = s.schedule(0);
    s.sanity_check();
    assert_eq!(a.len(), 3, "all three queued: {a:?}");
}
