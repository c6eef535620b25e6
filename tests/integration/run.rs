//! `hq run`: requests its local worker can never satisfy are refused at once, the local
//! worker takes `--worker-cpus`/`--worker-resource`, and a small job's output is printed.

use crate::utils::*;

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn refuses_what_the_local_worker_can_never_run() {
    let env = HqEnv::new();
    let r = env.fails(&["run", "--worker-cpus", "2", "--cpus", "4", "--", "true"]);
    assert!(
        r.stderr
            .contains("task 0 can never run here: no local worker offers `cpus: 4 compact` (the largest has 2)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--worker-cpus"), "{}", r.stderr);
    let r = env.fails(&["run", "--resource", "gpus=1", "--", "true"]);
    assert!(
        r.stderr.contains("no local worker has `gpus`"),
        "{}",
        r.stderr
    );
    let r = env.fails(&["run", "--worker-cpus", "2", &example("gpu-variants.toml")]);
    assert!(
        r.stderr.contains("none of the 2 variants fits"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("Job 1"), "nothing ran: {}", r.stdout);
}

#[test]
fn local_worker_takes_declared_resources() {
    let env = HqEnv::new();
    let out = env.ok(&[
        "run",
        "--worker-resource",
        "gpus=[0,1]",
        "--resource",
        "gpus=2",
        "--",
        "sh",
        "-c",
        "echo gpus=$HQ_RESOURCE_VALUES_gpus",
    ]);
    assert!(out.starts_with("gpus=0,1\n"), "{out}");
    let bad = env.fails(&["run", "--worker-resource", "gpus", "--", "true"]);
    assert!(
        bad.stderr.contains("invalid local worker resources"),
        "{}",
        bad.stderr
    );
}

#[test]
fn prints_the_output_of_a_small_job() {
    let env = HqEnv::new();
    let out = env.ok(&["run", "--", "echo", "hello"]);
    assert!(
        out.starts_with("hello\nJob 1: 1 tasks, 1 finished"),
        "{out}"
    );
    let out = env.ok(&[
        "run",
        "--array",
        "1-2",
        "--",
        "sh",
        "-c",
        "echo line-$HQ_TASK_ID",
    ]);
    assert!(out.contains("# Task 1 ("), "{out}");
    assert!(out.contains("line-1\n# Task 2 ("), "{out}");
    assert!(out.contains("line-2\n"), "{out}");
    // A larger job says where the output went instead.
    let out = env.ok(&["run", "--array", "1-11", "--", "true"]);
    assert!(out.contains("Output of task 1:"), "{out}");
}
