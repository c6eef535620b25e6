//! `hq job list|info|wait|progress|cancel|forget|task-ids`, selectors and the "also accept" forms.

use crate::utils::{wait_until, HqEnv};

fn list_ids(env: &HqEnv, extra: &[&str]) -> Vec<u64> {
    let mut args = vec!["job", "list", "--output-mode", "json"];
    args.extend_from_slice(extra);
    env.run(&args)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_u64().unwrap())
        .collect()
}

fn info_ids(env: &HqEnv, selector: &str) -> Vec<u64> {
    env.run(&["job", "info", selector, "--output-mode", "json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["info"]["id"].as_u64().unwrap())
        .collect()
}

/// Jobs 1 (finished), 2 (failed), 3 (waiting: needs a resource nobody has).
fn three_jobs(env: &mut HqEnv) {
    env.start_worker(&[]);
    let j1 = env.submit(&["--name", "good", "--", "true"]);
    let j2 = env.submit(&["--", "false"]);
    env.wait_job(j1);
    env.wait_job(j2);
    env.submit(&["--resource", "foo=1", "--", "true"]);
}

#[test]
fn list_shows_active_jobs_by_default() {
    let mut env = HqEnv::with_server();
    three_jobs(&mut env);
    assert_eq!(list_ids(&env, &[]), vec![3]);
    assert_eq!(list_ids(&env, &["--all"]), vec![1, 2, 3]);
    assert_eq!(list_ids(&env, &["--filter", "finished,failed"]), vec![1, 2]);
    assert_eq!(list_ids(&env, &["--filter", "waiting"]), vec![3]);
    let quiet = env.ok(&["job", "list", "--all", "--output-mode", "quiet"]);
    assert_eq!(quiet, "1 FINISHED\n2 FAILED\n3 WAITING\n");
    let cli = env.ok(&["job", "list"]);
    assert!(
        cli.contains("There are 3 jobs in total. Use `--all` to display all jobs."),
        "{cli}"
    );
    let all = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    let j = &all[0];
    assert_eq!(j["name"], "good");
    assert_eq!(j["task_count"], 1);
    assert_eq!(j["is_open"], false);
    assert_eq!(j["cancel_reason"], serde_json::Value::Null);
    assert_eq!(j["task_stats"]["finished"], 1);
    assert_eq!(all[1]["task_stats"]["failed"], 1);
    let r = env.fails(&["job", "list", "--filter", "bogus"]);
    assert_eq!(r.code, 2);
    // Also-accept forms.
    let r = env.run(&["--output-mode", "json", "jobs"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let quiet = env.ok(&["--output-mode", "quiet", "jobs", "finished"]);
    assert_eq!(quiet, "1 FINISHED\n");
}

#[test]
fn info_with_selectors() {
    let mut env = HqEnv::with_server();
    three_jobs(&mut env);
    for _ in 0..4 {
        env.submit(&["--resource", "foo=1", "--", "true"]);
    }
    assert_eq!(info_ids(&env, "1-5,7"), vec![1, 2, 3, 4, 5, 7]);
    assert_eq!(info_ids(&env, "last"), vec![7]);
    assert_eq!(info_ids(&env, "all"), vec![1, 2, 3, 4, 5, 6, 7]);
    let r = env.run(&["job", "info", "42"]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("Job 42 not found"), "{}", r.stderr);
    let cli = env.ok(&["job", "info", "1"]);
    for row in [
        "ID",
        "Name",
        "State",
        "Command",
        "Submission directory",
        "good",
    ] {
        assert!(cli.contains(row), "no {row}: {cli}");
    }
    assert!(cli.contains("FINISHED"));
    let failed = env.ok(&["job", "info", "2"]);
    assert!(failed.contains("1 tasks failed."), "{failed}");
    let v = env
        .run(&["job", "info", "2", "--output-mode", "json"])
        .json()[0]
        .clone();
    assert_eq!(v["tasks"][0]["state"], "failed");
    assert_eq!(v["tasks"][0]["worker"], 1);
    assert!(v["finished_at"].is_string());
    assert_eq!(v["submits"][0]["array"]["program"]["args"][0], "false");
    assert_eq!(env.ok(&["job", "info", "2", "--output-mode", "quiet"]), "");
    // `hq job 5` = `hq job info 5`.
    let alias = env.run(&["--output-mode", "json", "job", "5"]).json();
    assert_eq!(alias[0]["info"]["id"], 5);
    let r = env.fails(&["job", "info", "3-1"]);
    assert_eq!(r.code, 2);
}

#[test]
fn wait_exits_zero_for_failed_and_canceled_tasks() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let failed = env.submit(&["--", "false"]);
    let r = env.run(&["job", "wait", &failed.to_string()]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, "");
    let canceled = env.submit(&["--resource", "foo=1", "--", "true"]);
    env.ok(&["job", "cancel", &canceled.to_string()]);
    let r = env.run(&["job", "wait", "all", "--output-mode", "json"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.json(), serde_json::json!({}));
    // `hq wait SEL`.
    assert_eq!(env.run(&["wait", "1-2"]).code, 0);
    // Unknown IDs are logged, not fatal.
    let r = env.run(&["job", "wait", "77"]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("Job 77 not found"), "{}", r.stderr);
}

#[test]
fn wait_blocks_until_the_job_completes() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&["--", "bash", "-c", "sleep 1; touch done-marker"]);
    env.wait_job(job);
    assert!(env.file("done-marker").exists());
    assert_eq!(env.task_states(job), vec![(0, "finished".to_string())]);
}

#[test]
fn progress_and_its_short_form() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    // The tasks wait for a file, so `hq job progress` surely starts before the job completes.
    let script = "while [ ! -e go ]; do sleep 0.05; done";
    let job = env.submit(&["--array", "1-4", "--", "bash", "-c", script]);
    let progress = env
        .cmd(&["job", "progress", &job.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::utils::wait_until("a task to run", || {
        env.task_states(job).iter().any(|(_, s)| s == "running")
    });

    env.write("go", "");
    let r = progress.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(0));
    assert!(stderr.contains("1/1 jobs, 4/4 tasks"), "{stderr}");

    // The job is complete now: nothing is left to wait for.
    let r = env.run(&["progress", &job.to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("There are no jobs to wait for"),
        "{}",
        r.stderr
    );
    let r = env.run(&["job", "progress", "1", "--output-mode", "json"]);
    assert_eq!(r.json(), serde_json::json!({}));
}

#[test]
fn cancel_with_reason_and_its_short_form() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let done = env.submit(&["--", "true"]);
    env.wait_job(done);
    let job = env.submit(&["--array", "1-3", "--resource", "foo=1", "--", "true"]);
    let r = env.run(&["job", "cancel", &job.to_string(), "--reason", "not needed"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Job 2 canceled (3 tasks canceled, 0 tasks already finished)"),
        "{}",
        r.stderr
    );
    let list = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    assert_eq!(list[1]["cancel_reason"], "not needed");
    assert_eq!(list[1]["task_stats"]["canceled"], 3);
    let verbose = env.ok(&["job", "list", "--all", "--verbose"]);
    assert!(verbose.contains("Cancel Reason") && verbose.contains("not needed"));
    let r = env.run(&["job", "cancel", "1"]);
    assert!(
        r.stderr
            .contains("Canceling job 1 failed; all tasks are already finished"),
        "{}",
        r.stderr
    );
    let r = env.run(&["job", "cancel", "9"]);
    assert!(r.stderr.contains("Canceling job 9 failed; job not found"));
    // `hq cancel SEL`.
    let third = env.submit(&["--resource", "foo=1", "--", "true"]);
    env.ok(&["cancel", &third.to_string()]);
    assert_eq!(env.task_states(third), vec![(0, "canceled".to_string())]);
}

#[test]
fn forget_drops_completed_jobs() {
    let mut env = HqEnv::with_server();
    three_jobs(&mut env);
    let r = env.run(&["job", "forget", "all", "--filter", "finished"]);
    assert_eq!(r.code, 0);
    // "1 job were forgotten": the reference's wording (docs/cli.md).
    assert!(r.stderr.contains("1 job were forgotten"), "{}", r.stderr);
    assert_eq!(list_ids(&env, &["--all"]), vec![2, 3]);
    let r = env.run(&["job", "forget", "2-3"]);
    assert!(
        r.stderr
            .contains("1 job were forgotten, 1 were ignored due to wrong state or invalid ID"),
        "{}",
        r.stderr
    );
    assert_eq!(list_ids(&env, &["--all"]), vec![3]);
    // New jobs keep counting up.
    assert_eq!(env.submit(&["--", "true"]), 4);
}

#[test]
fn task_ids_filter_failed() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&[
        "--array",
        "1-6",
        "--",
        "bash",
        "-c",
        "test $((HQ_TASK_ID % 2)) -eq 0",
    ]);
    env.wait_job(job);
    assert_eq!(
        env.ok(&["job", "task-ids", "1", "--filter", "failed"]),
        "1,3,5\n"
    );
    assert_eq!(
        env.ok(&["job", "task-ids", "1", "--filter", "finished"]),
        "2,4,6\n"
    );
    let v = env
        .run(&[
            "job",
            "task-ids",
            "1",
            "--filter",
            "failed",
            "--output-mode",
            "json",
        ])
        .json();
    assert_eq!(v, serde_json::json!({"1": [1, 3, 5]}));
    // Resubmitting the failed IDs.
    let again = env.submit(&["--array", "1,3,5", "--", "true"]);
    env.wait_job(again);
    assert_eq!(env.ok(&["job", "task-ids", "2"]), "1,3,5\n");
    let two = env.ok(&["job", "task-ids", "1-2", "--filter", "finished"]);
    assert_eq!(two, "1: 2,4,6\n2: 1,3,5\n");
}

#[test]
fn task_list_info_and_explain() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--hostname", "tw"]);
    let job = env.submit(&[
        "--array",
        "0-2",
        "--",
        "bash",
        "-c",
        "test $HQ_TASK_ID -ne 1 || { echo a-long-error-message-here; exit 7; }",
    ]);
    env.wait_job(job);
    let v = env
        .run(&["task", "list", "1", "--output-mode", "json"])
        .json();
    let tasks = v["1"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[1]["state"], "failed");
    assert_eq!(tasks[1]["error"], "Program terminated with exit code 7.");
    let cli = env.ok(&["task", "list", "1"]);
    assert!(cli.contains("FAILED") && cli.contains("tw"), "{cli}");
    let only = env
        .run(&[
            "task",
            "list",
            "1",
            "--task-status",
            "failed",
            "--output-mode",
            "json",
        ])
        .json();
    assert_eq!(only["1"].as_array().unwrap().len(), 1);
    let info = env
        .run(&["task", "info", "1", "0-1", "--output-mode", "json"])
        .json();
    assert_eq!(info.as_array().unwrap().len(), 2);
    assert_eq!(info[0]["state"], "finished");
    assert!(info[0]["stdout"]
        .as_str()
        .unwrap()
        .ends_with("job-1/0.stdout"));
    let cli = env.ok(&["task", "info", "last", "1"]);
    for row in ["Task ID", "State", "Command", "Workdir", "Stdout", "Error"] {
        assert!(cli.contains(row), "no {row}: {cli}");
    }
    // explain on a waiting task
    let waiting = env.submit(&["--cpus", "2", "--", "true"]);
    let waiting_s = waiting.to_string();
    // The worker has 2 CPUs: the task can run (it may already have done so).
    let r = env.run(&["task", "explain", &waiting_s, "0"]);
    assert!(!r.stderr.contains("panicked"));
    let blocked = env.submit(&["--cpus", "8", "--", "true"]);
    wait_until("the blocked job to exist", || {
        env.task_states(blocked).len() == 1
    });
    let e = env.ok(&["task", "explain", &blocked.to_string(), "0"]);
    assert!(
        e.contains(&format!(
            "Task {blocked}@0 is ready to run because it has no dependencies."
        )),
        "{e}"
    );
    assert!(
        e.contains("There is no worker where the task can run."),
        "{e}"
    );
    assert!(e.contains("Worker Id"), "{e}");
}

#[test]
fn unknown_jobs_in_task_commands_are_logged_with_exit_zero() {
    let env = HqEnv::with_server();
    let r = env.run(&["task", "info", "9", "0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Job 9 not found"), "{}", r.stderr);
    let r = env.run(&["task", "info", "9", "0", "--output-mode", "json"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.json(), serde_json::json!([]));
    let r = env.run(&["job", "cat", "9", "stdout"]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("Job 9 not found"), "{}", r.stderr);
    for args in [
        &["job", "cancel", "9"][..],
        &["job", "forget", "9"],
        &["worker", "stop", "9"],
        &["worker", "info", "9"],
        &["task", "list", "9"],
        &["job", "task-ids", "9"],
    ] {
        let r = env.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let job = env.submit(&["--", "true"]);
    let r = env.run(&["task", "info", &job.to_string(), "5"]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("Task 5 not found"), "{}", r.stderr);
}

#[test]
fn cancel_all_reports_only_jobs_it_cancels() {
    let mut env = HqEnv::with_server();
    three_jobs(&mut env);
    let r = env.run(&["job", "cancel", "all"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].contains("Job 3 canceled (1 tasks canceled"),
        "{}",
        r.stderr
    );
    let r = env.run(&["job", "cancel", "all"]);
    assert!(
        r.stderr.contains("There is nothing to cancel"),
        "{}",
        r.stderr
    );
}

#[test]
fn list_footer_counts_hidden_jobs_in_words() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&["--", "true"]);
    env.wait_job(job);
    let cli = env.ok(&["job", "list"]);
    assert!(
        cli.contains("There is 1 job in total. Use `--all` to display all jobs."),
        "{cli}"
    );
}

#[test]
fn cat_names_missing_tasks_and_an_empty_last() {
    let mut env = HqEnv::with_server();
    let r = env.run(&["job", "cat", "last", "stdout"]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("No jobs were found"), "{}", r.stderr);
    env.start_worker(&[]);
    let job = env.submit(&["--array", "1-2", "--", "bash", "-c", "echo $HQ_TASK_ID"]);
    env.wait_job(job);
    let j = job.to_string();
    let r = env.run(&["job", "cat", &j, "stdout", "--tasks", "0-1"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "1\n"));
    assert!(
        r.stderr.contains(&format!("Task 0 of job {job} not found")),
        "{}",
        r.stderr
    );
}

#[test]
fn job_info_lists_workers_by_id_without_spaces() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--hostname", "wa", "--cpus", "1"]);
    env.start_worker(&["--hostname", "wb", "--cpus", "1"]);
    let job = env.submit(&["--array", "1-2", "--", "sleep", "0.5"]);
    env.wait_job(job);
    let info = env.ok(&["job", "info", &job.to_string()]);
    assert_eq!(
        crate::utils::row_value(&info, "Workers").as_deref(),
        Some("wa,wb"),
        "{info}"
    );
}
