//! Placeholders in paths as a user sees them: `hq job info` after submit, `hq task info` once a
//! task has run, the warnings and the error of `hq submit`.

use crate::utils::{row_value, HqEnv};

fn task_paths(env: &HqEnv, job: u32) -> (String, String, String) {
    let info = env.ok(&["task", "info", &job.to_string(), "0"]);
    let get = |key| row_value(&info, key).unwrap_or_else(|| panic!("no {key} in\n{info}"));
    (get("Workdir"), get("Stdout"), get("Stderr"))
}

#[test]
fn job_info_shows_paths_resolved_at_submit_and_task_info_the_final_ones() {
    let mut env = HqEnv::with_server();
    let dir = env.path().display().to_string();
    let job = env.submit(&["--cwd", "w-%{INSTANCE_ID}", "--", "true"]);
    let info = env.ok(&["job", "info", &job.to_string()]);
    assert_eq!(
        row_value(&info, "Stdout").unwrap(),
        format!("{dir}/w-%{{INSTANCE_ID}}/job-{job}/%{{TASK_ID}}.stdout")
    );
    assert_eq!(
        row_value(&info, "Working directory").unwrap(),
        format!("{dir}/w-%{{INSTANCE_ID}}")
    );
    let empty = (String::new(), String::new(), String::new());
    assert_eq!(
        task_paths(&env, job),
        empty,
        "a waiting task has no paths yet"
    );

    env.start_worker(&[]);
    env.wait_job(job);
    let cwd = format!("{dir}/w-0");
    assert_eq!(
        task_paths(&env, job),
        (
            cwd.clone(),
            format!("{cwd}/job-{job}/0.stdout"),
            format!("{cwd}/job-{job}/0.stderr")
        )
    );
    assert!(env.file(&format!("w-0/job-{job}/0.stdout")).is_file());
}

#[test]
fn server_uid_is_filled_at_submit() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let uid = env.run(&["server", "info", "--output-mode", "json"]).json()["server_uid"]
        .as_str()
        .unwrap()
        .to_string();
    let job = env.submit(&["--stdout", "out-%{SERVER_UID}", "--", "echo", "hi"]);
    env.wait_job(job);
    assert_eq!(env.read(&format!("out-{uid}")), "hi\n");
    let info = env.ok(&["job", "info", &job.to_string()]);
    let expected = format!("{}/out-{uid}", env.path().display());
    assert_eq!(row_value(&info, "Stdout"), Some(expected));
}

#[test]
fn submit_warns_about_shared_outputs_and_unknown_placeholders() {
    let env = HqEnv::with_server();
    let r = env.run(&[
        "submit",
        "--array",
        "1-2",
        "--stdout",
        "out",
        "--stream",
        "log-%{FOO}",
        "--stderr",
        "%{A}/%{B}-%{TASK_ID}",
        "--cwd",
        "%{A}",
        "--",
        "true",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for expected in [
        "the `stdout` path does not contain the task ID placeholder",
        "Found unknown placeholder `FOO` in log path",
        "Found unknown placeholders `A, B` in stderr path",
        "Found unknown placeholder `A` in working directory path",
    ] {
        assert!(r.stderr.contains(expected), "{expected:?} in {}", r.stderr);
    }
    assert!(
        !r.stderr.contains("`stderr` path does not contain"),
        "{}",
        r.stderr
    );

    // A task ID in the working directory makes `%{CWD}` paths per task.
    let r = env.run(&[
        "submit",
        "--array",
        "1-2",
        "--cwd",
        "t-%{TASK_ID}",
        "--stdout",
        "%{CWD}/o",
        "--",
        "true",
    ]);
    assert!(!r.stderr.contains("task ID placeholder"), "{}", r.stderr);
}

#[test]
fn cwd_placeholder_in_the_working_directory_is_refused() {
    let env = HqEnv::with_server();
    let r = env.fails(&["submit", "--cwd", "%{CWD}/x", "--", "true"]);
    assert!(
        r.stderr
            .contains("Working directory path cannot contain the working directory placeholder"),
        "{}",
        r.stderr
    );
    let listed = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    assert_eq!(listed, serde_json::json!([]), "nothing was submitted");
}
