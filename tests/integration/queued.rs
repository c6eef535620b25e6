//! Tasks the server queues on a busy worker ahead of time (behind a running task) are not
//! stuck there: another worker with room gets them back, and a lost worker's queued tasks run
//! elsewhere without counting a crash. A worker hands back by itself queued tasks whose time
//! request outlives it (`--retract-check-interval`).

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

fn scheduler_dump(env: &HqEnv) -> serde_json::Value {
    env.ok(&["server", "debug-dump", "dump.json"]);
    let dump: serde_json::Value = serde_json::from_str(&env.read("dump.json")).unwrap();
    dump["tako"].clone()
}

#[test]
fn a_worker_hands_back_queued_tasks_whose_time_request_it_no_longer_lives_for() {
    let mut env = HqEnv::with_server();
    // Lives 8 s; the tasks ask for 5 s, so task 2 queues there at once but no longer fits
    // after 3 s.
    env.start_worker(&[
        "--cpus",
        "1",
        "--time-limit",
        "8s",
        "--retract-check-interval",
        "200ms",
    ]);
    let script = format!(
        "if [ $HQ_TASK_ID = 1 ]; then while [ ! -e {} ]; do sleep 0.05; done; fi",
        env.file("release").display()
    );
    let job = env.submit(&[
        "--array",
        "1-2",
        "--time-request",
        "5s",
        "--",
        "bash",
        "-c",
        &script,
    ]);
    wait_until("task 2 to be queued on worker 1", || {
        scheduler_dump(&env)["queued"][0]["task"] == 2
    });
    // Given back while worker 1 still runs task 1 (not when the worker ends).
    wait_until("task 2 to be handed back", || {
        let d = scheduler_dump(&env);
        d["ready_tasks"] == 1
            && d["running"][0]["task"] == 1
            && d["queued"] == serde_json::json!([])
    });
    assert_eq!(state(&env, job, 2), "waiting");
    env.start_worker(&["--cpus", "1"]);
    wait_until("task 2 to finish", || state(&env, job, 2) == "finished");
    assert_eq!(task_info(&env, job, 2)["worker"], 2);
    env.write("release", "");
    env.wait_job(job);
}

/// A task queued behind a running one is handed over to start the moment its predecessor's
/// process exits (`worker/exec.rs`); its files are still made only then: both tasks write the
/// same output file, and the second one's truncation must not cut into the first's output.
#[test]
fn a_task_queued_behind_another_makes_its_files_only_when_that_one_ends() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "1"]);
    let script = format!(
        "if [ $HQ_TASK_ID = 1 ]; then printf '%0200d\\n' 0; \
         while [ ! -e {} ]; do sleep 0.05; done; echo end; else echo two; fi",
        env.file("release").display()
    );
    let out = env.file("shared.txt").display().to_string();
    let job = env.submit(&[
        "--array", "1-2", "--stdout", &out, "--", "bash", "-c", &script,
    ]);
    wait_until("task 2 to be queued on the worker", || {
        scheduler_dump(&env)["queued"][0]["task"] == 2
    });
    assert_eq!(state(&env, job, 1), "running");
    env.write("release", "");
    env.wait_job(job);
    assert_eq!(env.read("shared.txt"), "two\n");
}

/// A canceled task that waited behind a running one never starts, also when it was already
/// handed over to start when that one ends.
#[test]
fn a_canceled_queued_task_never_starts() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "1"]);
    let first = blocking_array(&env, "1");
    wait_until("task 1 to run", || state(&env, first, 1) == "running");
    let marker = env.file("second-ran").display().to_string();
    let second = env.submit(&["--", "touch", &marker]);
    wait_until("the second job to be queued on the worker", || {
        scheduler_dump(&env)["queued"][0]["job"] == second
    });
    env.ok(&["job", "cancel", &second.to_string()]);
    env.write("release", "");
    env.wait_job(first);
    // A third task runs on the same slot after the first; the second never did.
    let third = env.submit(&["--", "true"]);
    env.wait_job(third);
    assert!(!env.file("second-ran").exists());
    assert_eq!(state(&env, second, 0), "canceled");
}

/// Eight tasks queue behind a running one, in one chain (each moves up as the one before it
/// starts), and all start there in turn, each at its predecessor's exit; the tenth waits at
/// the server.
#[test]
fn a_chain_of_eight_tasks_queues_behind_a_running_one() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "1"]);
    let job = blocking_array(&env, "1-10");
    wait_until("tasks 2 to 9 to be queued on the worker", || {
        let queued = scheduler_dump(&env)["queued"].clone();
        queued.as_array().is_some_and(|q| q.len() == 8)
    });
    let dump = scheduler_dump(&env);
    assert_eq!(
        dump["ready_tasks"], 1,
        "task 10 waits at the server: {dump}"
    );
    env.write("release", "");
    env.wait_job(job);
    for task in 1..=10 {
        assert_eq!(state(&env, job, task), "finished");
        assert_eq!(task_info(&env, job, task)["worker"], 1);
    }
}

/// A task canceled in the middle of a chain handed over to the exec thread never starts; the
/// ones before and after it run in order, in the same slot.
#[test]
fn a_task_canceled_in_the_middle_of_a_chain_never_starts() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "1"]);
    let first = blocking_array(&env, "1");
    wait_until("task 1 to run", || state(&env, first, 1) == "running");
    let log = env.file("order.txt").display().to_string();
    let jobs: Vec<u32> = ["b", "c", "d"]
        .iter()
        .map(|name| env.submit(&["--", "bash", "-c", &format!("echo {name} >> {log}")]))
        .collect();
    wait_until("three jobs to be queued on the worker", || {
        scheduler_dump(&env)["queued"]
            .as_array()
            .is_some_and(|q| q.len() == 3)
    });
    env.ok(&["job", "cancel", &jobs[1].to_string()]);
    env.write("release", "");
    for job in [first, jobs[0], jobs[2]] {
        env.wait_job(job);
    }
    assert_eq!(env.read("order.txt"), "b\nd\n");
    assert_eq!(state(&env, jobs[1], 0), "canceled");
}

/// Every task that ran has its start on record, also one handed over behind another that
/// ends before the worker reports its predecessor's end (the start must reach the server before
/// the result). Tiny tasks on two CPUs hit that order often; forty jobs make a miss certain.
#[test]
fn every_task_that_ran_has_a_start_on_record() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "2"]);
    for _ in 0..40 {
        let job = env.submit(&["--array", "1-4", "--", "echo", "tt"]);
        env.wait_job(job);
        let info = env
            .run(&["job", "info", &job.to_string(), "--output-mode", "json"])
            .json();
        for task in info[0]["tasks"].as_array().unwrap() {
            assert!(task["started_at"].is_string(), "job {job}: {task}");
        }
    }
}

/// With several busy workers, each takes its share of the queued tasks as one run of
/// neighbouring IDs (a worker reports its tasks together), not one task each in turn.
#[test]
fn busy_workers_take_runs_of_neighbouring_queued_tasks() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "1"]);
    env.start_worker(&["--cpus", "1"]);
    let script = format!(
        "if [ $HQ_TASK_ID -le 2 ]; then while [ ! -e {} ]; do sleep 0.05; done; fi",
        env.file("release").display()
    );
    let job = env.submit(&["--array", "1-6", "--", "bash", "-c", &script]);
    let mut queued = Vec::new();
    wait_until("tasks 3 to 6 to be queued on the workers", || {
        queued = scheduler_dump(&env)["queued"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        queued.len() == 4
    });
    let on = |task: u64| {
        let q = queued.iter().find(|q| q["task"] == task).unwrap();
        q["worker"].as_u64().unwrap()
    };
    assert_eq!(on(3), on(4), "{queued:?}");
    assert_eq!(on(5), on(6), "{queued:?}");
    assert_ne!(on(3), on(5), "{queued:?}");
    env.write("release", "");
    env.wait_job(job);
}

/// The end of a task in the middle of a chain is reported while the task behind it runs: the
/// exec thread leaves both the end and the next start in the worker's mailbox without waking
/// the worker loop (`worker/mailbox.rs`), which must still collect them by the report delay.
#[test]
fn an_end_in_a_chain_is_reported_while_the_next_task_runs() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "1"]);
    let script = format!(
        "if [ $HQ_TASK_ID != 2 ]; then while [ ! -e {}$HQ_TASK_ID ]; do sleep 0.05; done; fi",
        env.file("release").display()
    );
    let job = env.submit(&["--array", "1-3", "--", "bash", "-c", &script]);
    wait_until("tasks 2 and 3 to be queued on the worker", || {
        scheduler_dump(&env)["queued"]
            .as_array()
            .is_some_and(|q| q.len() == 2)
    });
    env.write("release1", "");
    wait_until("task 2 to finish", || state(&env, job, 2) == "finished");
    assert_eq!(state(&env, job, 3), "running");
    env.write("release3", "");
    env.wait_job(job);
    assert_eq!(state(&env, job, 3), "finished");
}
