//! Scheduler knobs end to end: resource weights (resources.md "Weights") and
//! `hq server start --scheduler-time-limit` (cli.md).

use crate::utils::{wait_until, HqEnv};

#[test]
fn heavier_job_of_equal_priority_starts_first() {
    let mut env = HqEnv::with_server();
    // Submitted while no worker is connected, so the first pass sees both jobs.
    let record = "echo $HQ_JOB_ID >> order";
    let light = env.submit(&[
        "--array", "1-2", "--cpus", "2", "--weight", "1", "--", "bash", "-c", record,
    ]);
    let heavy = env.submit(&[
        "--array", "1-2", "--cpus", "2", "--weight", "5", "--", "bash", "-c", record,
    ]);
    // Two CPUs: one task at a time, so the file gets the start order.
    env.start_worker(&["--cpus", "2"]);
    env.wait_job(light);
    env.wait_job(heavy);
    let order: Vec<u32> = env
        .read("order")
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(
        order,
        [heavy, heavy, light, light],
        "the older, lighter job waits"
    );
}

#[test]
fn passes_cut_short_by_the_time_limit_go_on_without_new_events() {
    let mut env = HqEnv::new();
    // A zero limit stops every pass after its first 64 placements: the rest of the array is
    // placed by the passes the server runs right after, with no event to trigger them.
    env.start_server(&["--scheduler-time-limit", "0s"]);
    env.start_worker(&["--cpus", "150"]);
    let job = env.submit(&[
        "--array",
        "1-150",
        "--",
        "bash",
        "-c",
        "touch started-$HQ_TASK_ID; while [ ! -f release ]; do sleep 0.5; done",
    ]);
    let started = |env: &HqEnv| {
        std::fs::read_dir(env.path())
            .unwrap()
            .filter(|e| {
                let e = e.as_ref().unwrap();
                e.file_name().to_string_lossy().starts_with("started-")
            })
            .count()
    };
    wait_until("all 150 tasks to start at once", || started(&env) == 150);
    env.write("release", "");
    env.wait_job(job);
    let states = env.task_states(job);
    assert_eq!(states.len(), 150);
    assert!(states.iter().all(|(_, s)| s == "finished"), "{states:?}");
}
