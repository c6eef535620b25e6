//! Micro-benchmark of one scheduling pass. The cluster grows with the task count, so a bigger
//! case is more work, not the same work capped: N ready tasks (25k, 50k, 100k) over N / 100
//! workers (128 CPUs and 4 GPUs each: 1,000 workers at 100k), N / 100 distinct requests
//! (cpus 1–4, every fifth with a GPU share of 0.25–1, every seventh with a second variant) and
//! N / 10,000 priorities, over N / 250 jobs. Each (priority, job, request) is a queue.
//! Only the pass is timed: the set-up runs before and the scheduler is dropped after the timed
//! routine. Run: `cargo bench --bench scheduler`; it prints what one pass places.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use hyperqueue::resources::descriptor::{parse_cpu_definition, parse_resource_definition};
use hyperqueue::resources::{
    AllocationRequest, ResourceAmount, ResourceDescriptor, ResourceDescriptorItem, ResourceRequest,
    ResourceRequestVariants,
};
use hyperqueue::scheduler::{Scheduler, TaskKey};

fn worker() -> ResourceDescriptor {
    let mut d = ResourceDescriptor::new(vec![ResourceDescriptorItem {
        name: "cpus".into(),
        kind: parse_cpu_definition("2x64").unwrap(),
    }]);
    d.add("gpus", parse_resource_definition("[0,1,2,3]").unwrap())
        .unwrap();
    d
}

/// The i-th distinct request; `i` also sets a time request so requests stay distinct however
/// many there are.
fn request(i: u32) -> ResourceRequestVariants {
    let cpus = 1 + i % 4;
    let mut main = ResourceRequest::default();
    main.add("cpus", AllocationRequest::parse(&cpus.to_string()).unwrap())
        .unwrap();
    if i.is_multiple_of(5) {
        let gpu = ["0.25", "0.5", "1"][(i / 5 % 3) as usize];
        main.add("gpus", AllocationRequest::parse(gpu).unwrap())
            .unwrap();
    }
    main.min_time_secs = u64::from(i / 40);
    let mut variants = vec![main];
    if i.is_multiple_of(7) {
        let mut alt = ResourceRequest::default();
        alt.add(
            "cpus",
            AllocationRequest::parse(&(cpus * 2).to_string()).unwrap(),
        )
        .unwrap();
        variants.push(alt);
    }
    ResourceRequestVariants { variants }
}

/// A scheduler with `tasks` ready tasks and a cluster sized to them (see the module docs).
fn setup(tasks: u32) -> Scheduler {
    let mut s = Scheduler::new();
    let desc = worker();
    for w in 1..=tasks / 100 {
        s.add_worker(w, &desc, "default".into(), None, ResourceAmount::ZERO);
    }
    let n_reqs = tasks / 100;
    let n_prios = (tasks / 10_000).max(1);
    let n_jobs = tasks / 250;
    let reqs: Vec<_> = (0..n_reqs).map(|i| s.intern(&request(i))).collect();
    for t in 0..tasks {
        let job = 1 + t % n_jobs;
        let req = reqs[(t % n_reqs) as usize];
        let priority = (t / 7 % n_prios) as i32;
        s.add_ready(TaskKey { job, task: t }, req, priority);
    }
    s
}

fn scheduling_pass(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduling pass");
    group.sample_size(10);
    for tasks in [25_000u32, 50_000, 100_000] {
        let mut s = setup(tasks);
        let out = s.schedule(0);
        let now = out.iter().filter(|a| a.after.is_none()).count();
        eprintln!(
            "{tasks} ready tasks, {} workers: one pass starts {now} and queues {} behind them",
            tasks / 100,
            out.len() - now
        );
        group.bench_with_input(BenchmarkId::from_parameter(tasks), &tasks, |b, &tasks| {
            b.iter_batched(
                || setup(tasks),
                // Returned, so the scheduler and the assignments are dropped untimed.
                |mut s| {
                    let out = s.schedule(0);
                    (s, out)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, scheduling_pass);
criterion_main!(benches);
