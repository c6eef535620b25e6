//! Output streaming (`--stream DIR`) and `hq output-log`: few files for many tasks, output in
//! task order, superseded output of restarted or retried tasks, explicit paths winning.

use crate::utils::{wait_until, HqEnv};

fn hqs_files(env: &HqEnv, dir: &str) -> usize {
    std::fs::read_dir(env.file(dir))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "hqs"))
            })
            .count()
        })
        .unwrap_or(0)
}

fn summary(env: &HqEnv, dir: &str) -> serde_json::Value {
    let v = env
        .run(&["output-log", dir, "summary", "--output-mode", "json"])
        .json();
    v["summary"].clone()
}

#[test]
fn array_job_streams_into_one_file_per_worker_and_reads_back_in_task_order() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4"]);
    let job = env.submit(&[
        "--array",
        "1-20",
        "--stream",
        "out",
        "--",
        "bash",
        "-c",
        "echo out-$HQ_TASK_ID; echo err-$HQ_TASK_ID >&2",
    ]);
    env.wait_job(job);
    assert_eq!(
        hqs_files(&env, "out"),
        1,
        "one file per worker, not per task"
    );
    let j = job.to_string();

    let expected: String = (1..=20).map(|t| format!("out-{t}\n")).collect();
    assert_eq!(
        env.ok(&["output-log", "out", "cat", &j, "stdout"]),
        expected
    );
    let expected: String = (1..=20).map(|t| format!("err-{t}\n")).collect();
    assert_eq!(
        env.ok(&["output-log", "out", "cat", &j, "stderr"]),
        expected
    );
    assert_eq!(
        env.ok(&["output-log", "out", "cat", &j, "stdout", "--task", "3-4"]),
        "out-3\nout-4\n"
    );
    // Selected tasks come in the order given.
    assert_eq!(
        env.ok(&["output-log", "out", "cat", &j, "stdout", "--task", "9,3-4"]),
        "out-9\nout-3\nout-4\n"
    );
    // The short forms: the only job in DIR, and `hq log`.
    assert_eq!(
        env.ok(&["output-log", "out", "stdout", "--task=7"]),
        "out-7\n"
    );
    assert_eq!(
        env.ok(&["log", "out", "cat", &j, "stderr", "--task=7"]),
        "err-7\n"
    );

    assert_eq!(env.ok(&["output-log", "out", "jobs"]), format!("{job}\n"));

    let shown = env.ok(&["output-log", "out", "show", "--channel", "stdout"]);
    let mut lines: Vec<&str> = shown.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 20);
    assert!(
        lines.contains(&format!("{job}.07:0> out-7").as_str()),
        "{shown}"
    );
    let shown = env.ok(&["output-log", "out", "show", "--job", &j]);
    assert!(shown.contains(&format!("{job}.13:1> err-13\n")), "{shown}");

    let exported = env
        .run(&["output-log", "out", "export", &j, "--task", "2,5"])
        .json();
    assert_eq!(
        exported,
        serde_json::json!([
            {"id": 2, "finished": true, "stdout": "out-2\n", "stderr": "err-2\n"},
            {"id": 5, "finished": true, "stdout": "out-5\n", "stderr": "err-5\n"},
        ])
    );

    let s = summary(&env, "out");
    assert_eq!(s["n_files"], 1);
    assert_eq!(s["n_jobs"], 1);
    assert_eq!(s["n_tasks"], 20);
    assert_eq!(s["n_opened"], 0);
    assert_eq!(s["n_superseded"], 0);
    assert_eq!(s["stdout_size"], expected.len());
    let table = env.ok(&["output-log", "out", "summary"]);
    for row in [
        "Path",
        "Files",
        "Tasks",
        "Opened streams",
        "Superseded streams",
    ] {
        assert!(table.contains(row), "{table}");
    }

    // A second worker adds at most one more file, however many tasks it runs.
    env.start_worker(&["--cpus", "4"]);
    let job2 = env.submit(&["--array", "1-30", "--stream", "out", "--", "echo", "x"]);
    env.wait_job(job2);
    assert!(hqs_files(&env, "out") <= 2);
    assert_eq!(
        env.ok(&["output-log", "out", "jobs"]),
        format!("{job}\n{job2}\n")
    );
    let r = env.fails(&["output-log", "out", "stdout"]);
    assert!(r.stderr.contains("several jobs"), "{}", r.stderr);
}

#[test]
fn unfinished_streams_and_missing_files() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let r = env.fails(&["output-log", "nothing", "summary"]);
    assert!(r.stderr.contains("No log files found"), "{}", r.stderr);

    let job = env.submit(&[
        "--stream",
        "s",
        "--",
        "bash",
        "-c",
        "echo started; sleep 30",
    ]);
    let j = job.to_string();
    wait_until("the running task's output", || {
        env.run(&["output-log", "s", "cat", &j, "stdout", "--allow-unfinished"])
            .stdout
            == "started\n"
    });
    let r = env.fails(&["output-log", "s", "cat", &j, "stdout"]);
    assert!(
        r.stderr.contains("Stream for task 0 is not finished"),
        "{}",
        r.stderr
    );
    assert_eq!(summary(&env, "s")["n_opened"], 1);
    let exported = env.run(&["output-log", "s", "export", &j]).json();
    assert_eq!(exported[0]["finished"], false);
    env.ok(&["job", "cancel", &j]);
}

#[test]
fn retried_task_output_is_superseded() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&[
        "--stream",
        "s",
        "--max-retries",
        "1",
        "--",
        "bash",
        "-c",
        "echo try-$HQ_RETRIES; test $HQ_RETRIES = 1",
    ]);
    env.wait_job(job);
    let j = job.to_string();
    assert_eq!(env.ok(&["output-log", "s", "cat", &j, "stdout"]), "try-1\n");
    let s = summary(&env, "s");
    assert_eq!(s["n_superseded"], 1);
    assert_eq!(s["superseded_stdout_size"], "try-0\n".len());
    assert!(!env.ok(&["output-log", "s", "show"]).contains("try-0"));
}

#[test]
fn output_of_a_task_restarted_after_a_worker_crash_is_superseded() {
    let mut env = HqEnv::with_server();
    let w1 = env.start_worker(&[]);
    // The first instance prints, then kills its worker (its parent).
    let job = env.submit(&[
        "--stream",
        "s",
        "--",
        "bash",
        "-c",
        "echo run-$HQ_INSTANCE_ID; if [ ! -e marker ]; then touch marker; sleep 0.5; kill -9 $PPID; sleep 5; fi",
    ]);
    env.wait_exit(w1);
    env.start_worker(&[]);
    env.wait_job(job);
    let j = job.to_string();
    let out = env.ok(&["output-log", "s", "cat", &j, "stdout"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_ne!(out, "run-0\n");
    assert_eq!(hqs_files(&env, "s"), 2);
    let s = summary(&env, "s");
    assert_eq!(s["n_superseded"], 1, "{s}");
    assert_eq!(s["superseded_stdout_size"], "run-0\n".len());
}

#[test]
fn job_file_stream_key_and_explicit_paths_win() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.write(
        "job.toml",
        r#"
stream = "streams/%{JOB_ID}"
[[task]]
id = 1
command = ["bash", "-c", "echo to-stream; echo to-file >&2"]
stderr = "err.txt"
"#,
    );
    let out = env.ok(&["--output-mode", "quiet", "job", "submit-file", "job.toml"]);
    let job: u32 = out.trim().parse().unwrap();
    env.wait_job(job);
    let dir = format!("streams/{job}");
    let j = job.to_string();
    assert_eq!(
        env.ok(&["output-log", &dir, "cat", &j, "stdout"]),
        "to-stream\n"
    );
    assert_eq!(env.ok(&["output-log", &dir, "cat", &j, "stderr"]), "");
    assert_eq!(env.read("err.txt"), "to-file\n");

    // The same on the command line: an explicit `--stdout` path is not streamed.
    let job = env.submit(&[
        "--stream",
        "s2",
        "--stdout",
        "out.txt",
        "--",
        "bash",
        "-c",
        "echo file; echo streamed >&2",
    ]);
    env.wait_job(job);
    let j = job.to_string();
    assert_eq!(env.read("out.txt"), "file\n");
    assert_eq!(env.ok(&["output-log", "s2", "cat", &j, "stdout"]), "");
    assert_eq!(
        env.ok(&["output-log", "s2", "cat", &j, "stderr"]),
        "streamed\n"
    );
}

#[test]
fn show_prints_a_line_written_in_pieces_once() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&[
        "--stream",
        "s",
        "--",
        "bash",
        "-c",
        "printf 'Ok'; sleep 0.3; printf '\\n'; echo next",
    ]);
    env.wait_job(job);
    assert_eq!(
        env.ok(&["output-log", "s", "show"]),
        format!("{job}.0:0> Ok\n{job}.0:0> next\n")
    );
    // Export leaves out the channel the task wrote nothing to.
    let exported = env
        .run(&["output-log", "s", "export", &job.to_string()])
        .json();
    assert_eq!(
        exported,
        serde_json::json!([{"id": 0, "finished": true, "stdout": "Ok\nnext\n"}])
    );
}

#[test]
fn cat_of_a_job_that_wrote_nothing_says_so() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&["--stream", "quiet", "--array", "1-2", "--", "true"]);
    env.wait_job(job);
    let j = job.to_string();
    let r = env.run(&["output-log", "quiet", "cat", &j, "stdout"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert!(
        r.stderr.contains(&format!(
            "Job {job} wrote nothing to stdout (2 tasks, all empty)"
        )),
        "{}",
        r.stderr
    );
    let r = env.run(&["output-log", "quiet", "cat", "99", "stdout"]);
    assert!(
        r.stderr.contains(&format!(
            "Job 99 has no streams in this directory (jobs here: {job})"
        )),
        "{}",
        r.stderr
    );
}
