//! Progress and results of waits on the command line: plain lines without control characters
//! when the output is not a terminal, and one line per job at the end with the first failures.

use crate::utils::*;

fn no_control_characters(text: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "control characters in {text:?}"
    );
}

#[test]
fn job_wait_into_a_file_has_no_escapes_and_ends_with_a_summary() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&[
        "--array",
        "1-3",
        "--",
        "sh",
        "-c",
        "sleep 0.2; test $HQ_TASK_ID != 2",
    ]);
    let log = std::fs::File::create(env.file("wait.log")).unwrap();
    let status = env
        .cmd(&["job", "wait", &job.to_string()])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    // Exit codes are the original's: a wait succeeds whatever its tasks did.
    assert_eq!(status.code(), Some(0));
    let text = env.read("wait.log");
    no_control_characters(&text);
    assert!(
        text.contains(&format!(
            "Job {job}: 3 tasks, 2 finished, 1 failed, 0 canceled, 0 aborted in"
        )),
        "{text}"
    );
    let stderr_path = env.path().join(format!("job-{job}/2.stderr"));
    assert!(
        text.contains(&format!(
            "  Task 2 failed: Program terminated with exit code 1. (stderr: {})",
            stderr_path.display()
        )),
        "{text}"
    );
}

#[test]
fn progress_and_submit_wait_print_plain_lines() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let r = env.run(&[
        "submit",
        "--progress",
        "--array",
        "1-4",
        "--",
        "sleep",
        "0.1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    no_control_characters(&r.stderr);
    assert!(
        r.stderr.contains("Waiting for 1 jobs with 4 tasks"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("] 0/1 jobs, "), "{}", r.stderr);
    assert!(
        r.stderr.contains("Job 1: 4 tasks, 4 finished"),
        "{}",
        r.stderr
    );
    let r = env.run(&["submit", "--wait", "--", "nonexistent-program-xyz"]);
    assert_eq!(r.code, 0, "exit code as the original's: {}", r.stderr);
    assert!(
        r.stderr.contains("Job 2: 1 tasks, 0 finished, 1 failed"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Task 0 failed: "), "{}", r.stderr);
    // JSON output stays one JSON document.
    let r = env.run(&["--output-mode", "json", "job", "wait", "all"]);
    assert_eq!(r.stdout.trim(), "{}");
    assert!(!r.stderr.contains("Job 1:"), "{}", r.stderr);
}
