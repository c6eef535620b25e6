//! Tasks the server queues on a busy worker ahead of time (behind a running task) are not
//! stuck there: another worker with room gets them back, and a lost worker's queued tasks run
//! elsewhere without counting a crash.

use crate::utils::{wait_until, HqEnv};

/// Task 1 waits until the file `release` exists; every other task ends at once.
fn blocking_array(env: &HqEnv, ids: &str) -> u32 {
    let script = format!(
        "if [ $HQ_TASK_ID = 1 ]; then while [ ! -e {} ]; do sleep 0.05; done; fi",
        env.file("release").display()
    );
    env.submit(&["--array", ids, "--", "bash", "-c", &script])
}

fn task_info(env: &HqEnv, job: u32, task: u32) -> serde_json::Value {
    env.run(&[
        "task",
        "info",
        &job.to_string(),
        &task.to_string(),
        "--output-mode",
        "json",
    ])
    .json()[0]
        .clone()
}

fn state(env: &HqEnv, job: u32, task: u32) -> String {
    task_info(env, job, task)["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn an_idle_worker_takes_a_task_queued_on_a_busy_one() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "1"]);
    let job = blocking_array(&env, "1-2");
    wait_until("task 1 to run", || state(&env, job, 1) == "running");
    // Task 2 waits on worker 1 behind task 1; worker 2 has room for it.
    env.start_worker(&["--cpus", "1"]);
    wait_until("task 2 to finish", || state(&env, job, 2) == "finished");
    assert_eq!(task_info(&env, job, 2)["worker"], 2);
    assert_eq!(state(&env, job, 1), "running");
    env.write("release", "");
    env.wait_job(job);
}

#[test]
fn tasks_queued_on_a_lost_worker_run_elsewhere_without_a_crash() {
    let mut env = HqEnv::with_server();
    let first = env.start_worker(&["--cpus", "1"]);
    let job = blocking_array(&env, "1-2");
    wait_until("task 1 to run", || state(&env, job, 1) == "running");
    env.signal(first, libc::SIGKILL);
    env.wait_exit(first);
    env.write("release", "");
    env.start_worker(&["--cpus", "2"]);
    env.wait_job(job);
    let (one, two) = (task_info(&env, job, 1), task_info(&env, job, 2));
    assert_eq!(
        (&one["state"], &two["state"]),
        (&"finished".into(), &"finished".into())
    );
    assert_eq!(
        one["crash_count"], 1,
        "task 1 ran on the lost worker: {one}"
    );
    assert_eq!(two["crash_count"], 0, "task 2 only waited there: {two}");
    assert_eq!(two["worker"], 2);
}
