//! Unit tests of weights (order of queues within a priority, choice of variant), of the time
//! limit of one pass, and of the worker order a pass keeps from queue to queue.

use super::tests::desc;
use super::*;
use crate::resources::{
    AllocationRequest, ResourceAmount, ResourceRequest, ResourceRequestVariants,
};

fn cpus(n: &str, weight: f64) -> ResourceRequest {
    let mut r = ResourceRequest {
        weight: ResourceAmount((weight * 10_000.0) as u64),
        ..Default::default()
    };
    r.add("cpus", AllocationRequest::parse(n).unwrap()).unwrap();
    r
}

fn one(r: ResourceRequest) -> ResourceRequestVariants {
    ResourceRequestVariants::single(r)
}

fn with_worker(cpu_count: &str) -> Scheduler {
    let mut s = Scheduler::new();
    s.add_worker(
        1,
        &desc(cpu_count, &[]),
        "default".into(),
        None,
        ResourceAmount::ZERO,
    );
    s
}

fn key(job: u32, task: u32) -> TaskKey {
    TaskKey { job, task }
}

fn started_jobs(a: &[Assignment]) -> Vec<u32> {
    a.iter()
        .filter(|a| a.after.is_none())
        .map(|a| a.key.job)
        .collect()
}

#[test]
fn heavier_request_of_equal_priority_is_placed_first() {
    let mut s = with_worker("4");
    let light = s.intern(&one(cpus("2", 1.0)));
    let heavy = s.intern(&one(cpus("2", 5.0)));
    for t in 0..3 {
        s.add_ready(key(1, t), light, 0);
        s.add_ready(key(2, t), heavy, 0);
    }
    let a = s.schedule(0);
    s.sanity_check();
    assert_eq!(
        started_jobs(&a),
        [2, 2],
        "the newer, heavier job takes the worker"
    );
}

#[test]
fn priority_still_beats_weight() {
    let mut s = with_worker("2");
    let heavy = s.intern(&one(cpus("2", 9.0)));
    let light = s.intern(&one(cpus("2", 1.0)));
    s.add_ready(key(1, 0), heavy, 0);
    s.add_ready(key(2, 0), light, 1);
    let a = s.schedule(0);
    assert_eq!(started_jobs(&a), [2]);
}

#[test]
fn lighter_tasks_fill_what_the_heavier_leave() {
    let mut s = with_worker("5");
    let heavy = s.intern(&one(cpus("2", 3.0)));
    let light = s.intern(&one(cpus("1", 1.0)));
    for t in 0..2 {
        s.add_ready(key(1, t), light, 0);
        s.add_ready(key(2, t), heavy, 0);
    }
    let a = s.schedule(0);
    s.sanity_check();
    // Heavy ones first (4 CPUs), then a light one in the fifth CPU: weights block nothing.
    assert_eq!(started_jobs(&a), [2, 2, 1]);
}

#[test]
fn a_task_takes_its_heaviest_variant_that_fits() {
    let mut s = with_worker("4");
    let r = s.intern(&ResourceRequestVariants {
        variants: vec![cpus("1", 1.0), cpus("2", 4.0), cpus("3", 2.0)],
    });
    for t in 0..3 {
        s.add_ready(key(1, t), r, 0);
    }
    let a = s.schedule(0);
    s.sanity_check();
    let variants: Vec<u32> = a
        .iter()
        .filter(|a| a.after.is_none())
        .map(|a| a.variant)
        .collect();
    // 2 + 2 CPUs with the heaviest variant; nothing else fits the remaining 0 CPUs.
    assert_eq!(variants, [1, 1]);
}

#[test]
fn demand_walks_queues_in_pass_order() {
    // The connected worker (2 CPUs) takes the heavy job's two 1-CPU tasks first; the light
    // 2-CPU task is left, and a new 1-CPU worker could never run it: no new worker is asked
    // for. Light first, it would take the worker and send both heavy tasks to new workers.
    let mut s = with_worker("2");
    let light = s.intern(&one(cpus("2", 1.0)));
    let heavy = s.intern(&one(cpus("1", 2.0)));
    s.add_ready(key(1, 0), light, 0);
    s.add_ready(key(2, 0), heavy, 0);
    s.add_ready(key(2, 1), heavy, 0);
    let shape = desc("1", &[]);
    let query = DemandQuery {
        worker: &shape,
        partial: false,
        lifetime_ms: None,
        queued: &[],
        max_new_workers: 5,
        max_nodes: 1,
        min_utilization: 0.0,
    };
    let r = s.demand(&query, 0);
    assert_eq!((r.fit_existing, r.new_workers), (2, 0));
}

#[test]
fn a_pass_out_of_time_still_places_some_and_the_next_passes_the_rest() {
    let mut s = Scheduler::new();
    for w in 1..=4 {
        s.add_worker(
            w,
            &desc("100", &[]),
            "default".into(),
            None,
            ResourceAmount::ZERO,
        );
    }
    let r = s.intern(&one(cpus("1", 1.0)));
    s.add_ready_range(1, 0, 299, r, 0);
    let mut started = 0;
    let mut passes = 0;
    loop {
        // A zero limit: always out of time.
        let pass = s.schedule_within(0, &mut || true);
        s.sanity_check();
        passes += 1;
        assert!(!pass.assignments.is_empty(), "every pass makes progress");
        started += pass.assignments.len();
        if !pass.cut_short {
            break;
        }
        assert_eq!(pass.assignments.len(), PLACEMENTS_PER_CHECK as usize);
    }
    assert_eq!((started, s.ready_count()), (300, 0));
    assert_eq!(passes, 300usize.div_ceil(PLACEMENTS_PER_CHECK as usize));
}

#[test]
fn a_pass_within_its_time_is_not_cut_short() {
    let mut s = with_worker("8");
    let r = s.intern(&one(cpus("1", 1.0)));
    s.add_ready_range(1, 0, 199, r, 0);
    let mut asked = 0;
    let pass = s.schedule_within(0, &mut || {
        asked += 1;
        false
    });
    assert!(!pass.cut_short);
    assert_eq!(asked, 0, "8 placements: the clock is never read");
    // 8 start, the others queue behind them, as deep as a chain goes.
    assert_eq!(
        pass.assignments.len(),
        8 + 8 * super::core::QUEUE_DEPTH.min(191 / 8)
    );
}

#[test]
fn a_later_queue_sees_the_workers_as_earlier_queues_left_them() {
    // Worker 2 is busy with 2 of 4 CPUs, worker 1 idle: busiest first is 2, then 1.
    let mut s = Scheduler::new();
    let four = desc("4", &[]);
    s.add_worker(2, &four, "default".into(), None, ResourceAmount::ZERO);
    let two = s.intern(&one(cpus("2", 1.0)));
    s.add_ready(key(1, 0), two, 0);
    assert_eq!(s.schedule(0)[0].workers[0], 2);
    s.add_worker(1, &four, "default".into(), None, ResourceAmount::ZERO);
    // Job 2's task of 3 CPUs only fits worker 1, which then has 1 CPU free against 2's two:
    // job 3's task of 1 CPU goes there, though worker 2 came first when the pass began.
    let three = s.intern(&one(cpus("3", 1.0)));
    let single = s.intern(&one(cpus("1", 1.0)));
    s.add_ready(key(2, 0), three, 0);
    s.add_ready(key(3, 0), single, 0);
    let a = s.schedule(0);
    s.sanity_check();
    let placed: Vec<(u32, u32)> = a.iter().map(|a| (a.key.job, a.workers[0])).collect();
    assert_eq!(placed, [(2, 1), (3, 1)]);
}

#[test]
fn a_request_without_cpus_still_fits_a_worker_whose_cpus_are_all_busy() {
    let mut s = Scheduler::new();
    let d = desc("2", &[("gpus", "[0]")]);
    s.add_worker(1, &d, "default".into(), None, ResourceAmount::ZERO);
    let both = s.intern(&one(cpus("2", 1.0)));
    let mut gpu = ResourceRequest::default();
    gpu.add("gpus", AllocationRequest::parse("1").unwrap())
        .unwrap();
    let gpu = s.intern(&one(gpu));
    s.add_ready(key(1, 0), both, 0);
    s.add_ready(key(2, 0), gpu, 0);
    let a = s.schedule(0);
    s.sanity_check();
    assert_eq!(started_jobs(&a), [1, 2]);
}
