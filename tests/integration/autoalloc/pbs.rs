//! PBS through the stand-in: held dry runs, multi-node allocations, failing and requeued
//! allocations, forced removal.

use super::*;
use crate::utils::{wait_until, HqEnv};

/// A server that submits to the PBS stand-in, with fast status refreshes and short delays.
fn pbs_env(extra: &[(&str, &str)]) -> (HqEnv, PbsCleanup) {
    let mut env = HqEnv::new();
    let state = use_pbs_standin(&mut env);
    env.set_env("HQ_AUTOALLOC_QUEUED_REFRESH_INTERVAL_MS", "200");
    env.set_env("HQ_AUTOALLOC_REFRESH_INTERVAL_MS", "200");
    env.set_env("HQ_AUTOALLOC_DELAYS_MS", "0,50");
    for (k, v) in extra {
        env.set_env(k, v);
    }
    env.start_server(&[]);
    (env, PbsCleanup(state))
}

#[test]
fn a_pbs_allocation_of_two_nodes_runs_multi_node_and_single_tasks() {
    let (env, cleanup) = pbs_env(&[]);
    let r = env.run(&w("alloc add pbs --time-limit 10m --workers-per-alloc 2 --cpus 1 --max-worker-count 2 --idle-timeout 1m -- -q qexp"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The dry run was a held job, deleted at once.
    assert_eq!(pbs_state(&cleanup.0, "1.standin"), "F");
    let script = std::fs::read_to_string(cleanup.0.join("jobs/1.standin.json")).unwrap();
    assert!(script.contains("\"held\": true"), "{script}");

    let mn = env.submit(&["--nodes", "2", "--", "bash", "-c", "echo $PBS_JOBID > mn"]);
    let single = env.submit(&[
        "--array",
        "1-4",
        "--",
        "bash",
        "-c",
        "echo $PBS_JOBID > s-$HQ_TASK_ID",
    ]);
    env.wait_job(mn);
    env.wait_job(single);
    let allocs = allocations(&env, 1);
    assert_eq!(allocs.len(), 1, "{allocs:?}");
    assert_eq!(allocs[0]["target_worker_count"], 2);
    let id = allocs[0]["id"].as_str().unwrap().to_string();
    assert_eq!(env.read("mn").trim(), id);
    for t in 1..=4 {
        assert_eq!(env.read(&format!("s-{t}")).trim(), id);
    }
    let workers = env.run(&["worker", "list", "--output-mode", "json"]).json();
    let workers = workers.as_array().unwrap();
    assert_eq!(workers.len(), 2);
    for w in workers {
        assert_eq!(w["allocation"]["manager"], "PBS");
        assert_eq!(w["allocation"]["id"], id.as_str());
        assert_eq!(w["configuration"]["group"], id.as_str());
        let limit = w["configuration"]["time_limit"].as_f64().unwrap();
        assert!(limit <= 600.0 && limit > 500.0, "time limit {limit}");
    }
    let info = env.ok(&["worker", "info", "1"]);
    assert!(
        info.contains("| Manager ") && info.contains("PBS"),
        "{info}"
    );

    // The workers idle on: removal needs --force and then deletes the allocation.
    let r = env.fails(&["alloc", "remove", "1"]);
    assert!(
        r.stderr.contains("Allocation queue has running jobs"),
        "{}",
        r.stderr
    );
    let r = env.run(&["alloc", "remove", "1", "--force"]);
    assert!(r.stderr.contains("successfully removed"), "{}", r.stderr);
    wait_until("the allocation to be deleted", || {
        pbs_state(&cleanup.0, &id) == "F"
    });
    assert!(queues(&env).is_empty());
}

#[test]
fn allocations_that_end_before_a_worker_connects_pause_the_queue() {
    let (env, _cleanup) = pbs_env(&[]);
    env.ok(&w(
        "alloc add pbs --time-limit 10m --cpus 1 --no-dry-run --worker-start-cmd false",
    ));
    env.submit(&["--", "true"]);
    let mut q = serde_json::Value::Null;
    wait_until("the queue to pause", || {
        q = queues(&env)[0].clone();
        q["state"] == "Paused"
    });
    let reason = q["pause_reason"].as_str().unwrap();
    assert!(reason.contains("3 failed allocations"), "{reason}");
    assert!(reason.contains("before any worker connected"), "{reason}");
    let allocs = allocations(&env, 1);
    assert_eq!(with_status(&allocs, "FAILED").len(), 3, "{allocs:?}");
    assert!(env
        .run(&["alloc", "list"])
        .stderr
        .contains("3 failed allocations"));
    assert!(env
        .proc_log(0)
        .contains("The queue 1 had too many failed allocations, it will be paused."));
}

#[test]
fn workers_that_fail_fast_pause_the_queue() {
    let (env, _cleanup) = pbs_env(&[("HQ_AUTOALLOC_MAX_ALLOCATION_FAILS", "2")]);
    env.ok(&[
        "alloc",
        "add",
        "pbs",
        "--time-limit",
        "10m",
        "--cpus",
        "1",
        "--no-dry-run",
        "--worker-wrap-cmd",
        "timeout -s KILL 1",
    ]);
    env.submit(&["--", "sleep", "100"]);
    let mut q = serde_json::Value::Null;
    wait_until("the queue to pause", || {
        q = queues(&env)[0].clone();
        q["state"] == "Paused"
    });
    let reason = q["pause_reason"].as_str().unwrap();
    assert!(reason.contains("2 failed allocations"), "{reason}");
    assert!(reason.contains("lost within a minute"), "{reason}");
}

#[test]
fn requeued_allocations_run_again_and_do_not_count_as_failures() {
    let (env, cleanup) = pbs_env(&[("HQ_AUTOALLOC_MAX_ALLOCATION_FAILS", "1")]);
    // One worker at most: while hq asks PBS what became of the lost worker, it submits no
    // other allocation for the task.
    env.ok(&w(
        "alloc add pbs --time-limit 10m --cpus 1 --no-dry-run --idle-timeout 1m --max-worker-count 1",
    ));
    // A task that needs the allocation: a requeued allocation waits in the queue (for 0.6 s
    // here, so hq sees it queued), and a queued allocation that nobody needs is scaled in.
    env.submit(&["--", "sleep", "100"]);
    let a = wait_allocations(&env, 1, "a running allocation", |a| {
        a.first().is_some_and(|x| x["connected_workers"] == 1)
    });
    let id = a[0]["id"].as_str().unwrap().to_string();
    for round in 0..2 {
        let before = all_workers(&env);
        let r = std::process::Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/integration/pbs/qrerun"
        ))
        .arg(&id)
        .env("PBS_STANDIN_DIR", &cleanup.0)
        .env("PBS_STANDIN_REQUEUE_DELAY", "0.6")
        .output()
        .unwrap();
        assert!(
            r.status.success(),
            "round {round}: qrerun: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        wait_until("the worker to come back", || all_workers(&env) > before);
        let a = wait_allocations(&env, 1, "the allocation to run again", |a| {
            a[0]["status"] == "RUNNING" && a[0]["connected_workers"] == 1
        });
        assert_eq!(a.len(), 1, "round {round}: {a:?}");
    }
    let q = &queues(&env)[0];
    assert_eq!(q["state"], "Active", "{q}");
    assert_eq!(q["failures_in_a_row"]["allocations"], 0);
}

/// Workers ever registered (`hq worker list --all`).
fn all_workers(env: &HqEnv) -> usize {
    let v = env
        .run(&["worker", "list", "--all", "--output-mode", "json"])
        .json();
    v.as_array().map(|a| a.len()).unwrap_or(0)
}

#[test]
fn a_queue_without_declared_resources_probes_with_one_allocation_first() {
    let (env, _cleanup) = pbs_env(&[]);
    let r = env.run(&w(
        "alloc add pbs --time-limit 10m --no-dry-run --backlog 3 --idle-timeout 1m",
    ));
    assert!(
        r.stderr.contains("No worker resources were given"),
        "{}",
        r.stderr
    );
    // More tasks than one worker of this machine (2 CPUs) runs at once.
    let job = env.submit(&["--array", "1-6", "--cpus", "1", "--", "sleep", "2"]);
    let a = wait_allocations(&env, 1, "more allocations after the probe", |a| {
        a.len() >= 2
    });
    // The probe was alone until its worker told what workers of the queue offer.
    let probe_started = a[0]["started_at"].as_str().expect("the probe started");
    assert!(
        a[1]["queued_at"].as_str().unwrap() >= probe_started,
        "{a:?}"
    );
    let q = &queues(&env)[0];
    assert!(
        q["known_worker_resources"].to_string().contains("cpus"),
        "{q}"
    );
    env.wait_job(job);
}
