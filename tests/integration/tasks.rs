//! Task execution: the environment of tasks.md, default output paths, task directories.

use crate::utils::{HqEnv, HQ};
use std::collections::HashMap;

/// Runs one task printing `env -0` and returns its environment.
fn task_env(env: &mut HqEnv, submit: &[&str]) -> HashMap<String, String> {
    let mut args = submit.to_vec();
    args.extend_from_slice(&["--stdout", "env.out", "--", "env", "-0"]);
    let job = env.submit(&args);
    env.wait_job(job);
    assert_eq!(env.task_states(job)[0].1, "finished");
    let text = env.read("env.out");
    text.split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn single_node_task_environment() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4"]);
    let vars = task_env(&mut env, &["--name", "envjob", "--cpus", "2"]);
    let submit_dir = env.path().display().to_string();
    assert_eq!(vars["HQ_JOB_ID"], "1");
    assert_eq!(vars["HQ_TASK_ID"], "0");
    assert_eq!(vars["HQ_INSTANCE_ID"], "0");
    assert_eq!(vars["HQ_SUBMIT_DIR"], submit_dir);
    assert_eq!(vars["HQ_JOB_NAME"], "envjob");
    assert_eq!(vars["HQ"], HQ);
    assert!(vars.contains_key("HQ_ACCESS_KEY"));
    assert!(!vars.contains_key("HQ_ENTRY"), "no entry for a plain task");
    assert!(!vars.contains_key("HQ_TASK_DIR"));
    let cpus: Vec<&str> = vars["HQ_CPUS"].split(',').collect();
    assert_eq!(cpus.len(), 2);
    assert!(cpus.iter().all(|c| c.parse::<u32>().unwrap() < 4));
    assert_eq!(vars["OMP_NUM_THREADS"], "2");
    assert_eq!(vars["HQ_RESOURCE_REQUEST_cpus"], "2 compact");
    assert_eq!(vars["HQ_RESOURCE_VALUES_cpus"], vars["HQ_CPUS"]);
    assert!(!vars.contains_key("HQ_RESOURCE_VARIANT"));
    assert!(!vars.contains_key("HQ_PIN"));
}

#[test]
fn array_task_entry_and_instance_variables() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.write("entries", "one\ntwo\n");
    let job = env.submit(&[
        "--each-line",
        "entries",
        "--array",
        "1",
        "--",
        "bash",
        "-c",
        "echo \"$HQ_JOB_ID $HQ_TASK_ID $HQ_INSTANCE_ID $HQ_ENTRY\"",
    ]);
    env.wait_job(job);
    assert_eq!(env.read("job-1/1.stdout"), "1 1 0 two\n");
    let job = env.submit(&[
        "--array",
        "3",
        "--",
        "bash",
        "-c",
        "echo \"${HQ_ENTRY-none}\"",
    ]);
    env.wait_job(job);
    assert_eq!(env.read("job-2/3.stdout"), "none\n");
}

#[test]
fn user_omp_num_threads_is_kept_and_generic_resource_values_set() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "2", "--resource", "gpus/nvidia=[7,8]"]);
    let vars = task_env(
        &mut env,
        &["--env", "OMP_NUM_THREADS=5", "--resource", "gpus/nvidia=1"],
    );
    assert_eq!(vars["OMP_NUM_THREADS"], "5");
    assert_eq!(vars["HQ_RESOURCE_REQUEST_gpus_nvidia"], "1 compact");
    let value = &vars["HQ_RESOURCE_VALUES_gpus_nvidia"];
    assert!(value == "7" || value == "8", "{value}");
    assert_eq!(vars["CUDA_VISIBLE_DEVICES"], *value);
    assert_eq!(vars["HQ_CPUS"].split(',').count(), 1);
}

#[test]
fn task_dir_and_error_file() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let vars = task_env(&mut env, &["--task-dir"]);
    let dir = &vars["HQ_TASK_DIR"];
    assert_eq!(vars["HQ_ERROR_FILENAME"], format!("{dir}/hq-error"));
    assert!(
        !std::path::Path::new(dir).exists(),
        "deleted after the task"
    );
    // The error file's content becomes the error message of a failing task.
    let job = env.submit(&[
        "--task-dir",
        "--",
        "bash",
        "-c",
        "echo 'custom failure' > $HQ_ERROR_FILENAME; exit 1",
    ]);
    env.wait_job(job);
    let t = env
        .run(&[
            "task",
            "info",
            &job.to_string(),
            "0",
            "--output-mode",
            "json",
        ])
        .json()[0]
        .clone();
    assert_eq!(t["state"], "failed");
    assert!(
        t["error"].as_str().unwrap().contains("custom failure"),
        "{t}"
    );
}

#[test]
fn default_output_files_are_under_the_cwd() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&[
        "--array",
        "2-3",
        "--",
        "bash",
        "-c",
        "echo out $HQ_TASK_ID; echo err $HQ_TASK_ID >&2",
    ]);
    env.wait_job(job);
    assert_eq!(env.read("job-1/2.stdout"), "out 2\n");
    assert_eq!(env.read("job-1/3.stderr"), "err 3\n");
    // With --cwd, the default paths follow the working directory.
    let job = env.submit(&["--cwd", "sub", "--", "bash", "-c", "echo in-sub"]);
    env.wait_job(job);
    assert_eq!(env.read("sub/job-2/0.stdout"), "in-sub\n");
    // `hq job cat` prints them.
    let cat = env.ok(&["job", "cat", "1", "stdout"]);
    assert_eq!(cat, "out 2\nout 3\n");
    let cat = env.ok(&["job", "cat", "1", "stderr", "--print-task-header"]);
    assert_eq!(cat, "# Job 1, task 2\nerr 2\n# Job 1, task 3\nerr 3\n");
}

#[test]
fn output_is_truncated_at_each_start() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.write("job-1/0.stdout", "old content that is long\n");
    let job = env.submit(&["--", "echo", "new"]);
    env.wait_job(job);
    assert_eq!(env.read("job-1/0.stdout"), "new\n");
}

#[test]
fn spawn_failure_fails_the_task_with_a_message() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&["--", "surely-not-a-program-xyz"]);
    env.wait_job(job);
    let t = env
        .run(&[
            "task",
            "info",
            &job.to_string(),
            "0",
            "--output-mode",
            "json",
        ])
        .json()[0]
        .clone();
    assert_eq!(t["state"], "failed");
    let err = t["error"].as_str().unwrap();
    assert!(
        err.starts_with("Cannot execute \"surely-not-a-program-xyz\""),
        "{err}"
    );
}

#[test]
fn killed_by_signal_reports_the_signal() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&["--", "bash", "-c", "kill -9 $$"]);
    env.wait_job(job);
    let t = env
        .run(&[
            "task",
            "info",
            &job.to_string(),
            "0",
            "--output-mode",
            "json",
        ])
        .json()[0]
        .clone();
    assert_eq!(
        t["error"],
        "Program terminated with exit code -1. Received signal 9 (SIGKILL)."
    );
}

#[test]
fn each_line_entries_keep_raw_bytes() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    std::fs::write(env.file("raw"), b"a\r\n\xffb\xfe\n").unwrap();
    let job = env.submit(&[
        "--each-line",
        "raw",
        "--",
        "bash",
        "-c",
        "printf '%s' \"$HQ_ENTRY\"",
    ]);
    env.wait_job(job);
    assert_eq!(std::fs::read(env.file("job-1/0.stdout")).unwrap(), b"a\r");
    assert_eq!(
        std::fs::read(env.file("job-1/1.stdout")).unwrap(),
        b"\xffb\xfe"
    );
}

#[test]
fn task_runs_in_its_own_process_group_with_null_stdin() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&[
        "--",
        "bash",
        "-c",
        "echo $$ $(cut -d' ' -f5 /proc/$$/stat); readlink /proc/$$/fd/0",
    ]);
    env.wait_job(job);
    let out = env.read("job-1/0.stdout");
    let mut lines = out.lines();
    let ids: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(ids[0], ids[1], "the task leads its process group: {out}");
    assert_eq!(lines.next(), Some("/dev/null"));
}

#[test]
fn a_task_that_reads_part_of_its_stdin_does_not_hurt_the_worker() {
    use std::io::Write;
    let mut env = HqEnv::with_server();
    let worker = env.start_worker(&[]);
    // More than a pipe holds, so the worker is still writing when the task exits.
    let data = "line\n".repeat(100_000);
    let mut child = env
        .cmd(&[
            "--output-mode",
            "quiet",
            "submit",
            "--stdin",
            "--",
            "head",
            "-n",
            "1",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let job: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    env.wait_job(job);
    assert_eq!(env.task_states(job)[0].1, "finished");
    assert_eq!(env.read(&format!("job-{job}/0.stdout")), "line\n");
    let next = env.submit(&["--", "true"]);
    env.wait_job(next);
    assert!(
        crate::utils::pid_alive(worker as i32),
        "the worker is still running"
    );
}

#[test]
fn a_task_shown_running_has_started_and_opened_its_outputs() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "2"]);
    let job = env.submit(&["--array", "1-6", "--", "sleep", "0.3"]);
    let mut seen_running = 0;
    crate::utils::wait_until("the job to finish", || {
        let v = env
            .run(&["task", "list", &job.to_string(), "--output-mode", "json"])
            .json();
        for t in v[job.to_string()].as_array().unwrap() {
            match t["state"].as_str().unwrap() {
                "running" => {
                    seen_running += 1;
                    let out = t["stdout"].as_str().expect("a running task has its paths");
                    assert!(std::path::Path::new(out).is_file(), "{out} exists: {t}");
                    assert!(t["started_at"].is_string(), "{t}");
                }
                "waiting" => assert!(t.get("worker").is_none(), "{t}"),
                _ => {}
            }
        }
        env.task_states(job).iter().all(|(_, s)| s == "finished")
    });
    assert!(seen_running > 0, "some task was seen running");
}
