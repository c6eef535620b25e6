//! Open jobs: `hq job open`, submits into them (`hq submit --job`, `hq job submit-task`,
//! `hq job submit-file --job`), continuing IDs, reused IDs, `hq job close`, `hq job wait`.

use crate::utils::{pid_alive, wait_until, HqEnv};
use std::time::Duration;

fn ids(env: &HqEnv, job: u32) -> Vec<u64> {
    env.task_states(job).iter().map(|(id, _)| *id).collect()
}

fn job_json(env: &HqEnv, job: u32) -> serde_json::Value {
    let all = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    all.as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == job)
        .unwrap_or_else(|| panic!("job {job} not listed: {all}"))
        .clone()
}

#[test]
fn an_open_job_accepts_submissions_with_continuing_ids_until_closed() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4"]);
    let out = env.ok(&["job", "open", "--name", "campaign"]);
    assert_eq!(out.trim(), "Job 1 is open.");
    let j = job_json(&env, 1);
    assert_eq!(j["is_open"], true, "{j}");
    assert_eq!(j["name"], "campaign", "{j}");
    let list = env.ok(&["job", "list"]);
    assert!(list.contains("*1") && list.contains("campaign"), "{list}");

    // IDs continue after the largest one: 0, 1; explicit 5-6; then 7; entries 8-9.
    assert_eq!(env.submit(&["--job", "1", "--", "sh", "-c", "echo a"]), 1);
    env.submit(&["--job", "1", "--", "sh", "-c", "echo b"]);
    assert_eq!(ids(&env, 1), vec![0, 1]);
    env.submit(&["--job", "1", "--array", "5-6", "--", "true"]);
    env.submit(&["--job", "1", "--", "sh", "-c", "echo c"]);
    env.write("lines.txt", "x\ny\n");
    env.submit(&[
        "--job",
        "1",
        "--each-line",
        "lines.txt",
        "--",
        "sh",
        "-c",
        "echo \"$HQ_TASK_ID=$HQ_ENTRY\"",
    ]);
    // The alias used by tutorials.
    env.ok(&["job", "submit-task", "1", "--", "sh", "-c", "echo alias"]);
    assert_eq!(ids(&env, 1), vec![0, 1, 5, 6, 7, 8, 9, 10]);

    // A job file with explicit IDs, depending on a task of the job.
    env.write(
        "more.toml",
        "name = \"ignored\"\nmax_fails = 0\n[[task]]\nid = 20\ndeps = [0]\ncommand = [\"sh\", \"-c\", \"echo file\"]\n",
    );
    let out = env.ok(&["job", "submit-file", "--job", "1", "more.toml"]);
    assert!(out.contains("job ID: 1"), "{out}");
    assert_eq!(ids(&env, 1), vec![0, 1, 5, 6, 7, 8, 9, 10, 20]);
    assert_eq!(job_json(&env, 1)["name"], "campaign");

    // Reusing an ID is an error and adds nothing.
    let r = env.fails(&["submit", "--job", "1", "--array", "3-6", "--", "true"]);
    assert!(
        r.stderr.contains("Task 5 already exists in job 1."),
        "{}",
        r.stderr
    );
    env.write(
        "dup.toml",
        "[[task]]\nid = 30\ncommand = [\"true\"]\n[[task]]\nid = 20\ncommand = [\"true\"]\n",
    );
    let r = env.fails(&["job", "submit-file", "--job", "1", "dup.toml"]);
    assert!(
        r.stderr.contains("Task 20 already exists in job 1."),
        "{}",
        r.stderr
    );
    assert_eq!(ids(&env, 1), vec![0, 1, 5, 6, 7, 8, 9, 10, 20]);

    // Job-level options cannot change an open job.
    let r = env.fails(&["submit", "--job", "1", "--name", "x", "--", "true"]);
    assert!(r.stderr.contains("--name is not allowed"), "{}", r.stderr);
    let r = env.fails(&["submit", "--job", "1", "--max-fails", "2", "--", "true"]);
    assert!(
        r.stderr.contains("--max-fails is not allowed"),
        "{}",
        r.stderr
    );
    let r = env.fails(&["submit", "--job", "99", "--", "true"]);
    assert!(r.stderr.contains("Job 99 not found."), "{}", r.stderr);

    env.ok(&["job", "close", "1"]);
    env.wait_job(1);
    assert!(env.task_states(1).iter().all(|(_, s)| s == "finished"));
    assert_eq!(env.read("job-1/0.stdout"), "a\n");
    assert_eq!(env.read("job-1/7.stdout"), "c\n");
    assert_eq!(env.read("job-1/8.stdout"), "8=x\n");
    assert_eq!(env.read("job-1/9.stdout"), "9=y\n");
    assert_eq!(env.read("job-1/10.stdout"), "alias\n");
    assert_eq!(env.read("job-1/20.stdout"), "file\n");
    let j = job_json(&env, 1);
    assert_eq!(j["is_open"], false, "{j}");

    // A closed job accepts nothing.
    let r = env.fails(&["submit", "--job", "1", "--", "true"]);
    assert!(r.stderr.contains("Job 1 is not opened."), "{}", r.stderr);
    env.write("one.toml", "[[task]]\nid = 40\ncommand = [\"true\"]\n");
    let r = env.fails(&["job", "submit-file", "--job", "1", "one.toml"]);
    assert!(r.stderr.contains("Job 1 is not opened."), "{}", r.stderr);
    let r = env.fails(&["job", "submit-task", "1", "--", "true"]);
    assert!(r.stderr.contains("Job 1 is not opened."), "{}", r.stderr);
    let r = env.run(&["job", "close", "1"]);
    assert!(r.stderr.contains("already closed"), "{}", r.stderr);
    assert_eq!(ids(&env, 1).len(), 9);
}

#[test]
fn an_empty_open_job_starts_at_id_zero_and_a_new_job_is_not_open() {
    let env = HqEnv::with_server();
    let out = env.ok(&["--output-mode", "json", "job", "open"]);
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"].clone();
    assert_eq!(id, 1, "{out}");
    assert_eq!(job_json(&env, 1)["task_count"], 0);
    // A plain submit creates a new (closed) job.
    let job = env.submit(&["--", "true"]);
    assert_eq!(job, 2);
    assert_eq!(job_json(&env, 2)["is_open"], false);
    env.submit(&["--job", "1", "--", "true"]);
    assert_eq!(ids(&env, 1), vec![0]);
}

#[test]
fn job_wait_returns_only_after_close_and_all_tasks_done() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.ok(&["job", "open"]);
    env.submit(&["--job", "1", "--", "true"]);
    wait_until("task 0 to finish", || {
        env.task_states(1) == vec![(0, "finished".to_string())]
    });
    // Tasks are done but the job is open: `hq job wait` keeps waiting.
    let waiter = env.spawn(&["job", "wait", "1"]);
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        pid_alive(waiter as i32),
        "`hq job wait` returned while the job was open"
    );
    // ... unless told to ignore the open state.
    env.ok(&["job", "wait", "--without-close", "1"]);
    assert_eq!(job_json(&env, 1)["is_open"], true);

    // Closed while a task still runs: the wait ends only when the task is done.
    env.submit(&["--job", "1", "--", "sh", "-c", "sleep 1; touch slow-done"]);
    env.ok(&["job", "close", "1"]);
    assert_eq!(env.wait_exit(waiter), 0, "{}", env.proc_log(2));
    assert!(
        env.file("slow-done").exists(),
        "wait returned before the task finished"
    );
    assert!(env.task_states(1).iter().all(|(_, s)| s == "finished"));
}
