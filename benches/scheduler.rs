//! Micro-benchmark of one scheduling pass: waiting tasks with mixed requests (cpus 1–8, some
//! GPUs 0.25–1, some with two variants) over 64 simulated workers of 128 CPUs and 4 GPUs.
//! Run: `cargo bench --bench scheduler`.

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

fn request(i: u32) -> ResourceRequestVariants {
    let cpus = 1 + i % 8;
    let mut main = ResourceRequest::default();
    main.add("cpus", AllocationRequest::parse(&cpus.to_string()).unwrap())
        .unwrap();
    if i.is_multiple_of(5) {
        let gpu = ["0.25", "0.5", "1"][(i / 5 % 3) as usize];
        main.add("gpus", AllocationRequest::parse(gpu).unwrap())
            .unwrap();
    }
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

/// A scheduler with 64 workers and `tasks` waiting tasks spread over 100 jobs.
fn setup(tasks: u32) -> Scheduler {
    let mut s = Scheduler::new();
    let desc = worker();
    for w in 1..=64 {
        s.add_worker(w, &desc, "default".into(), None, ResourceAmount::ZERO);
    }
    let reqs: Vec<_> = (0..80).map(|i| s.intern(&request(i))).collect();
    for t in 0..tasks {
        let job = 1 + t % 100;
        s.add_ready(
            TaskKey { job, task: t },
            reqs[(t % 80) as usize],
            (t % 3) as i32,
        );
    }
    s
}

fn scheduling_pass(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduling pass");
    group.sample_size(20);
    for tasks in [25_000u32, 50_000, 100_000] {
        group.bench_with_input(BenchmarkId::from_parameter(tasks), &tasks, |b, &tasks| {
            b.iter_batched(
                || setup(tasks),
                |mut s| s.schedule(0),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, scheduling_pass);
criterion_main!(benches);
