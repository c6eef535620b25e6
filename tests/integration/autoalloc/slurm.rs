//! Against the real Slurm: the flow of the issue, the dry run, scale-in, server stop and the
//! demand rules.

use super::*;
use crate::utils::{wait_until, HqEnv};

#[test]
fn workers_start_inside_slurm_jobs_and_run_the_tasks() {
    let Some(slurm) = slurm_test("flow") else {
        return;
    };
    let mut env = HqEnv::new();
    env.start_server(&[]);
    let r = env.run(&w(&format!("alloc add slurm --time-limit 10m --workers-per-alloc 1 --backlog 2 --max-worker-count 2 --cpus 1 --idle-timeout 3s --name {} -- --partition=debug", slurm.prefix)));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("A trial allocation was submitted successfully"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Allocation queue 1 successfully created"),
        "{}",
        r.stderr
    );
    let job = env.submit(&[
        "--array",
        "1-8",
        "--",
        "bash",
        "-c",
        "echo $SLURM_JOB_ID > out-$HQ_TASK_ID",
    ]);
    env.wait_job(job);
    assert!(env.task_states(job).iter().all(|(_, s)| s == "finished"));

    let allocs = allocations(&env, 1);
    let ids: Vec<String> = allocs
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.is_empty() && ids.len() <= 2, "{allocs:?}");
    for t in 1..=8 {
        let seen = env.read(&format!("out-{t}")).trim().to_string();
        assert!(
            ids.contains(&seen),
            "task {t} saw SLURM_JOB_ID={seen:?}, allocations {ids:?}"
        );
    }
    let workers = env.run(&["worker", "list", "--output-mode", "json"]).json();
    for w in workers.as_array().unwrap() {
        let id = w["allocation"]["id"].as_str().unwrap();
        assert_eq!(w["allocation"]["manager"], "Slurm");
        assert!(ids.iter().any(|i| i == id));
        assert_eq!(w["configuration"]["group"], id);
        let limit = w["configuration"]["time_limit"].as_f64().unwrap();
        assert!(limit <= 600.0 && limit > 500.0, "time limit {limit}");
    }
    let table = env.ok(&["worker", "list"]);
    assert!(table.contains("SLURM"), "{table}");
    let q = &queues(&env)[0];
    assert!(!q["known_worker_resources"].is_null(), "{q}");

    // Idle workers stop after 3 s; their allocations end.
    wait_allocations(&env, 1, "allocations to finish", |a| {
        a.iter().all(|x| x["status"] == "FINISHED")
    });
    let log = env.ok(&["alloc", "log", &ids[0], "stderr"]);
    assert!(log.contains("registered"), "{log}");
    let removed = env.run(&["alloc", "remove", "1"]);
    assert!(
        removed
            .stderr
            .contains("Allocation queue 1 successfully removed"),
        "{}",
        removed.stderr
    );
    assert!(queues(&env).is_empty());
}

#[test]
fn the_dry_run_refuses_a_partition_slurm_does_not_know() {
    let Some(slurm) = slurm_test("dry") else {
        return;
    };
    let mut env = HqEnv::new();
    env.start_server(&[]);
    let r = env.fails(&w(&format!(
        "alloc add slurm --time-limit 5m --name {} -- --partition=nope",
        slurm.prefix
    )));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("Dry-run (test allocation submission) has failed"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Invalid partition"), "{}", r.stderr);
    assert!(r.stderr.contains("Exit code: 1"), "{}", r.stderr);
    assert!(r.stderr.contains("hq-submit.sh"), "{}", r.stderr);
    assert!(queues(&env).is_empty());

    let ok = env.run(&w(&format!(
        "alloc dry-run slurm --time-limit 5m --name {} -- --partition=debug",
        slurm.prefix
    )));
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stderr.contains("It was immediately canceled"),
        "{}",
        ok.stderr
    );
    // The trial allocation existed and was cancelled; no queue was created.
    let jobs = slurm_jobs(&format!("{}-dry-run", slurm.prefix));
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].1, "CANCELLED");
    assert!(queues(&env).is_empty());
}

/// A queue whose allocations wait in Slurm for an hour (`--begin`).
fn add_waiting_queue(env: &HqEnv, prefix: &str, extra: &[&str]) {
    let mut args = vec![
        "alloc",
        "add",
        "slurm",
        "--time-limit",
        "10m",
        "--no-dry-run",
        "--name",
        prefix,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "--begin=now+1hour"]);
    env.ok(&args);
}

#[test]
fn queued_allocations_without_demand_are_cancelled_and_server_stop_cancels_the_rest() {
    let Some(slurm) = slurm_test("scalein") else {
        return;
    };
    let mut env = HqEnv::new();
    let server = env.start_server(&[]);
    add_waiting_queue(&env, &slurm.prefix, &["--cpus", "1"]);

    // The job is cancelled: its allocation goes.
    let job = env.submit(&["--", "sleep", "100"]);
    let a = wait_allocations(&env, 1, "an allocation", |a| a.len() == 1);
    let first = a[0]["id"].as_str().unwrap().to_string();
    assert_eq!(slurm_state(&first).as_deref(), Some("PENDING"));
    env.ok(&["job", "cancel", &job.to_string()]);
    wait_allocations(&env, 1, "the allocation to be cancelled", |a| {
        a[0]["status"] == "FINISHED"
    });
    wait_until("Slurm to cancel it", || {
        slurm_state(&first).as_deref() == Some("CANCELLED")
    });

    // Another worker takes the task: the allocation goes too.
    env.submit(&["--", "sleep", "100"]);
    let a = wait_allocations(&env, 1, "a second allocation", |a| a.len() == 2);
    let second = a[1]["id"].as_str().unwrap().to_string();
    env.start_worker(&["--cpus", "1"]);
    wait_until("Slurm to cancel the second", || {
        slurm_state(&second).as_deref() == Some("CANCELLED")
    });

    // Server stop cancels what is still queued.
    env.submit(&["--", "sleep", "100"]);
    let a = wait_allocations(&env, 1, "a third allocation", |a| a.len() == 3);
    let third = a[2]["id"].as_str().unwrap().to_string();
    assert_eq!(slurm_state(&third).as_deref(), Some("PENDING"));
    env.ok(&["server", "stop"]);
    env.wait_exit(server);
    assert_eq!(slurm_state(&third).as_deref(), Some("CANCELLED"));
}

#[test]
fn only_tasks_a_new_worker_could_run_now_trigger_allocations() {
    let Some(slurm) = slurm_test("demand") else {
        return;
    };
    let mut env = HqEnv::new();
    env.start_server(&[]);
    add_waiting_queue(&env, &slurm.prefix, &["--cpus", "2", "--backlog", "5"]);
    // A connected worker's free capacity is used first.
    env.start_worker(&["--cpus", "2"]);
    let busy = env.submit(&["--array", "1-2", "--", "sleep", "100"]);
    wait_until("the worker to take both tasks", || {
        env.task_states(busy).iter().all(|(_, s)| s == "running")
    });
    // Too big for the queue's workers, too long for its time limit, blocked on a dependency.
    env.submit(&["--cpus", "4", "--", "true"]);
    env.submit(&["--time-request", "9m30s", "--", "true"]);
    env.write(
        "deps.toml",
        "[[task]]\nid = 1\ncommand = [\"true\"]\n[[task.request]]\nresources = { cpus = 3 }\n\
         [[task]]\nid = 2\ndeps = [1]\ncommand = [\"true\"]\n",
    );
    env.ok(&["job", "submit-file", "deps.toml"]);
    let mut decision = serde_json::Value::Null;
    wait_until("a decision that sees every job", || {
        decision = last_decision(&env, 1);
        decision["unrunnable"]
            .as_array()
            .is_some_and(|u| u.len() == 3)
    });
    let reasons = decision["unrunnable"].to_string();
    assert!(
        reasons.contains("no worker of this queue offers `cpus: 4 compact` (the largest has 2)"),
        "{reasons}"
    );
    assert!(reasons.contains("time request 9m 30s exceeds"), "{reasons}");
    assert!(reasons.contains("offers `cpus: 3 compact`"), "{reasons}");
    // Task 2 of the job file waits for task 1 and is not counted anywhere.
    assert!(!reasons.contains("\"tasks\":2"), "{reasons}");
    assert!(allocations(&env, 1).is_empty());
    let info = env.run(&["alloc", "info", "1"]);
    assert!(
        info.stderr
            .contains("task(s) no worker of this queue could run"),
        "{}",
        info.stderr
    );
    let why = env.ok(&["alloc", "explain", "1"]);
    assert!(
        why.contains("Tasks no worker of this queue could run"),
        "{why}"
    );

    // One task a new worker could run: exactly one allocation of one worker.
    env.submit(&["--", "true"]);
    let a = wait_allocations(&env, 1, "an allocation", |a| !a.is_empty());
    assert_eq!(a[0]["target_worker_count"], 1);
    wait_until("a later decision", || {
        last_decision(&env, 1)["reason"]
            .as_str()
            .is_some_and(|r| r.contains("queued allocations cover"))
    });
    assert_eq!(allocations(&env, 1).len(), 1);
}
