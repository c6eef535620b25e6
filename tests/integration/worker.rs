//! `hq worker start|stop|list|info`, worker options and lifecycle states.

use crate::utils::{wait_until, HqEnv};

fn workers_json(env: &HqEnv, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["worker", "list", "--output-mode", "json"];
    args.extend_from_slice(extra);
    env.run(&args).json().as_array().unwrap().clone()
}

/// The state word of `hq worker list --all` in quiet mode (`<id> <STATE>` lines).
fn worker_state(env: &HqEnv, id: u64) -> String {
    let prefix = format!("{id} ");
    env.ok(&["worker", "list", "--all", "--output-mode", "quiet"])
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn list_and_info_in_all_output_modes() {
    let mut env = HqEnv::with_server();
    let work_dir = env.file("wd");
    env.start_worker(&[
        "--cpus",
        "3",
        "--hostname",
        "node-a",
        "--work-dir",
        work_dir.to_str().unwrap(),
        "--resource",
        "gpus=[0,1]",
    ]);
    let list = workers_json(&env, &[]);
    assert_eq!(list.len(), 1);
    let w = &list[0];
    assert_eq!(w["id"], 1);
    assert_eq!(w["ended"], serde_json::Value::Null);
    assert_eq!(w["configuration"]["hostname"], "node-a");
    assert_eq!(
        w["configuration"]["work_dir"].as_str().unwrap(),
        work_dir.to_str().unwrap()
    );
    let resources = w["configuration"]["resources"]["resources"].to_string();
    assert!(resources.contains("\"cpus\""), "{resources}");
    assert!(resources.contains("\"gpus\""), "{resources}");

    assert_eq!(
        env.ok(&["worker", "list", "--output-mode", "quiet"]),
        "1 RUNNING\n"
    );
    let table = env.ok(&["worker", "list"]);
    assert!(
        table.contains("node-a") && table.contains("RUNNING"),
        "{table}"
    );

    let info = env
        .run(&["worker", "info", "1", "--output-mode", "json"])
        .json();
    assert_eq!(info.as_array().unwrap().len(), 1);
    assert_eq!(info[0]["configuration"]["hostname"], "node-a");
    let cli = env.ok(&["worker", "info", "1"]);
    assert!(
        cli.contains("node-a") && cli.contains("Working directory"),
        "{cli}"
    );
    assert_eq!(
        env.ok(&["worker", "info", "1", "--output-mode", "quiet"]),
        ""
    );
    // Unknown worker: logged, not fatal.
    let r = env.run(&["worker", "info", "7"]);
    assert!(r.stderr.contains('7'), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn worker_start_prints_its_info_as_a_json_array() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--output-mode", "json", "--hostname", "jw"]);
    let log_index = 1;
    wait_until("the worker's JSON output", || {
        env.proc_log(log_index).contains("\"jw\"")
    });
    let log = env.proc_log(log_index);
    let start = log.find('[').unwrap();
    let end = log.rfind(']').unwrap();
    let v: serde_json::Value = serde_json::from_str(&log[start..=end]).unwrap();
    assert_eq!(v[0]["configuration"]["hostname"], "jw");
}

#[test]
fn stop_stops_the_worker_and_list_filters_it() {
    let mut env = HqEnv::with_server();
    let pid = env.start_worker(&[]);
    env.start_worker(&[]);
    let r = env.run(&["worker", "stop", "1"]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("Worker 1 stopped"), "{}", r.stderr);
    env.wait_exit(pid);
    wait_until("worker 1 to be STOPPED", || {
        worker_state(&env, 1) == "STOPPED"
    });
    let running: Vec<u64> = workers_json(&env, &[])
        .iter()
        .map(|w| w["id"].as_u64().unwrap())
        .collect();
    assert_eq!(running, vec![2]);
    let offline = workers_json(&env, &["--filter", "offline"]);
    assert_eq!(offline.len(), 1);
    assert_eq!(offline[0]["id"], 1);
    assert!(!offline[0]["ended"].is_null());
    // `last` and `all` selectors.
    env.ok(&["worker", "stop", "last"]);
    wait_until("worker 2 to be STOPPED", || {
        worker_state(&env, 2) == "STOPPED"
    });
    let r = env.run(&["worker", "stop", "all"]);
    assert!(!r.stderr.contains("panicked"));
    let r = env.run(&["worker", "stop", "9"]);
    assert!(
        r.stderr
            .contains("Stopping worker 9 failed; worker not found"),
        "{}",
        r.stderr
    );
}

#[test]
fn idle_timeout_stops_the_worker_with_exit_zero() {
    let mut env = HqEnv::with_server();
    let pid = env.start_worker(&["--idle-timeout", "1s"]);
    assert_eq!(env.wait_exit(pid), 0);
    wait_until("IDLE TIMEOUT state", || {
        worker_state(&env, 1) == "IDLE TIMEOUT"
    });
    let quiet = env.ok(&["worker", "list", "--all", "--output-mode", "quiet"]);
    assert_eq!(quiet, "1 IDLE TIMEOUT\n");
}

#[test]
fn server_idle_timeout_applies_to_workers_without_their_own() {
    let mut env = HqEnv::new();
    env.start_server(&["--idle-timeout", "1s"]);
    let pid = env.start_worker(&[]);
    assert_eq!(env.wait_exit(pid), 0);
    wait_until("IDLE TIMEOUT state", || {
        worker_state(&env, 1) == "IDLE TIMEOUT"
    });
}

#[test]
fn idle_timeout_does_not_fire_while_a_task_runs() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--idle-timeout", "1s"]);
    let job = env.submit(&["--", "bash", "-c", "sleep 3"]);
    env.wait_job(job);
    assert_eq!(env.task_states(job), vec![(0, "finished".to_string())]);
}

#[test]
fn time_limit_stops_the_worker() {
    let mut env = HqEnv::with_server();
    let pid = env.start_worker(&["--time-limit", "1s"]);
    env.wait_exit(pid);
    wait_until("TIME LIMIT REACHED state", || {
        worker_state(&env, 1) == "TIME LIMIT REACHED"
    });
    let w = &workers_json(&env, &["--all"])[0];
    assert_eq!(w["configuration"]["time_limit"], 1.0);
}

#[test]
fn work_dir_holds_task_directories() {
    let mut env = HqEnv::with_server();
    let wd = env.file("my-work");
    env.start_worker(&["--work-dir", wd.to_str().unwrap()]);
    let job = env.submit(&[
        "--task-dir",
        "--",
        "bash",
        "-c",
        "echo $HQ_TASK_DIR; test -d $HQ_TASK_DIR",
    ]);
    env.wait_job(job);
    assert_eq!(env.task_states(job), vec![(0, "finished".to_string())]);
    let dir = env.read("job-1/0.stdout");
    assert!(
        dir.trim().starts_with(wd.to_str().unwrap()),
        "{dir} not under {}",
        wd.display()
    );
    assert!(
        !std::path::Path::new(dir.trim()).exists(),
        "task dir is deleted"
    );
}

#[test]
fn task_needing_a_missing_resource_waits() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let blocked = env.submit(&["--resource", "gpus=1", "--", "bash", "-c", "touch ran-gpu"]);
    // A later job that fits runs to completion, so the scheduler has had its chance.
    let fits = env.submit(&["--", "true"]);
    env.wait_job(fits);
    assert_eq!(env.task_states(blocked), vec![(0, "waiting".to_string())]);
    assert!(!env.file("ran-gpu").exists());
    let explain = env.ok(&["task", "explain", &blocked.to_string(), "0"]);
    assert!(
        explain.contains("There is no worker where the task can run."),
        "{explain}"
    );
    // A worker with the resource makes it run.
    env.start_worker(&["--resource", "gpus=[0]"]);
    env.wait_job(blocked);
    assert_eq!(env.task_states(blocked), vec![(0, "finished".to_string())]);
}

#[test]
fn cpus_and_resource_cpus_together_are_rejected() {
    let env = HqEnv::with_server();
    let r = env.fails(&[
        "worker",
        "start",
        "--no-detect-resources",
        "--cpus",
        "2",
        "--resource",
        "cpus=2",
    ]);
    assert_ne!(r.code, 0);
    let r = env.fails(&["worker", "start", "--no-detect-resources"]);
    assert!(
        r.stderr.contains(
            "You have to specify --cpus explicitly when opting out of CPU automatic detection"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn worker_address_and_wait() {
    let mut env = crate::utils::HqEnv::with_server();
    env.start_worker(&["--hostname", "node-7.example"]);
    assert_eq!(env.ok(&["worker", "address", "1"]).trim(), "node-7.example");
    let r = env.fails(&["worker", "address", "9"]);
    assert!(r.stderr.contains("Worker 9 not found"), "{}", r.stderr);
    // One worker is running, so waiting for one returns at once.
    env.ok(&["worker", "wait", "1"]);
    // Waiting for two blocks until a second worker registers.
    let waiter = env.spawn(&["worker", "wait", "2"]);
    assert!(
        crate::utils::pid_alive(waiter as i32),
        "`worker wait 2` must block with one worker"
    );
    env.start_worker(&[]);
    assert_eq!(env.wait_exit(waiter), 0);
}
