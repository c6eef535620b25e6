//! Dependencies of job files run as declared: order (checked by marker files and timestamps the
//! tasks write), aborts after a failed dependency, dependencies on tasks already in an open job.

use crate::utils::HqEnv;

fn submit_file(env: &HqEnv, args: &[&str]) -> u32 {
    let mut full = vec!["--output-mode", "quiet", "job", "submit-file"];
    full.extend_from_slice(args);
    let out = env.ok(&full);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("no job ID in {out:?}"))
}

fn state(states: &[(u64, String)], id: u64) -> &str {
    states
        .iter()
        .find(|(t, _)| *t == id)
        .map(|(_, s)| s.as_str())
        .unwrap_or_else(|| panic!("no task {id} in {states:?}"))
}

/// Nanosecond timestamps written by tasks.
fn stamp(env: &HqEnv, name: &str) -> u128 {
    env.read(name)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("bad timestamp in {name}"))
}

/// A task that records its start, sleeps, then records its end.
fn timed(name: &str, sleep: &str) -> String {
    format!(
        "[\"sh\", \"-c\", \"date +%s%N > {name}.start; sleep {sleep}; date +%s%N > {name}.end\"]"
    )
}

#[test]
fn a_dependent_task_starts_only_after_its_dependencies_finished() {
    let mut env = HqEnv::with_server();
    // Enough CPUs to run everything at once if the dependencies were ignored.
    env.start_worker(&["--cpus", "8"]);
    // Listed out of order: 3 after 1 and 2 (fan-in), 4 after 3.
    let file = format!(
        "[[task]]\nid = 4\ndeps = [3]\ncommand = {}\n\
         [[task]]\nid = 3\ndeps = [1, 2]\ncommand = {}\n\
         [[task]]\nid = 1\ncommand = {}\n\
         [[task]]\nid = 2\ncommand = {}\n",
        timed("t4", "0"),
        timed("t3", "0.2"),
        timed("t1", "0.6"),
        timed("t2", "0.3"),
    );
    env.write("deps.toml", &file);
    let job = submit_file(&env, &["deps.toml"]);
    env.wait_job(job);
    assert!(env.task_states(job).iter().all(|(_, s)| s == "finished"));
    // 1 and 2 ran concurrently (no dependency between them).
    assert!(stamp(&env, "t2.start") < stamp(&env, "t1.end"));
    assert!(stamp(&env, "t3.start") >= stamp(&env, "t1.end"));
    assert!(stamp(&env, "t3.start") >= stamp(&env, "t2.end"));
    assert!(stamp(&env, "t4.start") >= stamp(&env, "t3.end"));
    let info = env.ok(&["task", "info", &job.to_string(), "3"]);
    // The dependencies as an ID set (`1,3`, or `1-2` for a range).
    assert!(info.contains("| 1-2 ") || info.contains("| 1,2 "), "{info}");
}

#[test]
fn element_wise_and_fan_in_step_dependencies_are_respected() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "8"]);
    // `make` tasks sleep longer for smaller i, so a wrong pairing would see a missing file.
    env.write(
        "steps.toml",
        r#"
[axes.i]
range = "1-3"

[[step]]
name = "make"
product = ["i"]
command = ["sh", "-c", "sleep {{ [1.2, 0.8, 0.2][i - 1] }}; echo {{ i }} > made-{{ i }}; date +%s%N > make-{{ i }}.end"]

[[step]]
name = "use"
product = ["i"]
deps = ["make"]
command = ["sh", "-c", "date +%s%N > use-{{ i }}.start; test -f made-{{ i }} && cat made-{{ i }} > used-{{ i }}"]

[[step]]
name = "all"
deps_all = ["use"]
command = ["sh", "-c", "date +%s%N > all.start; cat used-1 used-2 used-3"]
"#,
    );
    let job = submit_file(&env, &["steps.toml"]);
    env.wait_job(job);
    let states = env.task_states(job);
    assert_eq!(states.len(), 7);
    assert!(states.iter().all(|(_, s)| s == "finished"), "{states:?}");
    for i in 1..=3 {
        assert_eq!(env.read(&format!("used-{i}")), format!("{i}\n"));
        assert!(stamp(&env, &format!("use-{i}.start")) >= stamp(&env, &format!("make-{i}.end")));
    }
    // Element-wise: `use-3` did not wait for the slowest `make` task (make-1).
    assert!(stamp(&env, "use-3.start") < stamp(&env, "make-1.end"));
    for i in 1..=3 {
        assert!(stamp(&env, "all.start") >= stamp(&env, &format!("make-{i}.end")));
    }
    assert_eq!(env.read(&format!("job-{job}/7.stdout")), "1\n2\n3\n");
}

#[test]
fn a_failed_dependency_aborts_its_dependents_transitively() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.write(
        "fail.toml",
        r#"
[[task]]
id = 1
command = ["sh", "-c", "exit 1"]

[[task]]
id = 2
deps = [1]
command = ["touch", "ran-2"]

[[task]]
id = 3
deps = [2]
command = ["touch", "ran-3"]

[[task]]
id = 4
command = ["touch", "ran-4"]

[[task]]
id = 5
deps = [4]
command = ["touch", "ran-5"]
"#,
    );
    let job = submit_file(&env, &["fail.toml"]);
    env.wait_job(job);
    let states = env.task_states(job);
    assert_eq!(state(&states, 1), "failed");
    assert_eq!(state(&states, 2), "aborted");
    assert_eq!(state(&states, 3), "aborted");
    assert_eq!(state(&states, 4), "finished");
    assert_eq!(state(&states, 5), "finished");
    assert!(!env.file("ran-2").exists() && !env.file("ran-3").exists());
    assert!(env.file("ran-5").exists());
    let table = env.ok(&["task", "list", &job.to_string()]);
    assert_eq!(table.matches("ABORTED").count(), 2, "{table}");
    let info = env.ok(&["job", "info", &job.to_string()]);
    assert!(info.contains("FAILED"), "{info}");
}

#[test]
fn a_failed_step_task_aborts_only_its_element_wise_dependents_and_the_fan_in() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.write(
        "steps.toml",
        r#"
[axes.i]
range = "1-3"

[[step]]
name = "make"
product = ["i"]
command = ["sh", "-c", "test {{ i }} != 2"]

[[step]]
name = "use"
product = ["i"]
deps = ["make"]
command = ["true"]

[[step]]
name = "all"
deps_all = ["use"]
command = ["true"]
"#,
    );
    let job = submit_file(&env, &["steps.toml"]);
    env.wait_job(job);
    let states = env.task_states(job);
    // make: 1-3, use: 4-6, all: 7.
    assert_eq!(state(&states, 2), "failed");
    assert_eq!(state(&states, 5), "aborted");
    assert_eq!(state(&states, 7), "aborted");
    for t in [1, 3, 4, 6] {
        assert_eq!(state(&states, t), "finished", "{states:?}");
    }
}

#[test]
fn dependencies_may_name_tasks_already_in_an_open_job() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4"]);
    let job = env
        .ok(&["--output-mode", "quiet", "job", "open"])
        .trim()
        .to_string();
    // Task 0: still running when the file arrives; task 1: failed; task 2: finished.
    env.ok(&[
        "submit",
        "--job",
        &job,
        "--",
        "sh",
        "-c",
        "sleep 1; date +%s%N > t0.end",
    ]);
    env.ok(&["submit", "--job", &job, "--", "sh", "-c", "exit 1"]);
    env.ok(&["submit", "--job", &job, "--", "true"]);
    crate::utils::wait_until("tasks 1 and 2 to complete", || {
        let s = env.task_states(job.parse().unwrap());
        state(&s, 1) == "failed" && state(&s, 2) == "finished"
    });
    env.write(
        "more.toml",
        r#"
[[task]]
id = 10
deps = [0]
command = ["sh", "-c", "date +%s%N > t10.start"]

[[task]]
id = 11
deps = [1]
command = ["touch", "ran-11"]

[[task]]
id = 12
deps = [2]
command = ["touch", "ran-12"]

[[task]]
id = 13
deps = [11]
command = ["touch", "ran-13"]
"#,
    );
    submit_file(&env, &["--job", &job, "more.toml"]);
    // A dependency on a task that is neither in the job nor in the file is rejected.
    env.write(
        "unknown.toml",
        "[[task]]\nid = 20\ndeps = [7]\ncommand = [\"true\"]\n",
    );
    let r = env.fails(&["job", "submit-file", "--job", &job, "unknown.toml"]);
    assert!(r.stderr.contains("Invalid dependency on 7"), "{}", r.stderr);
    env.ok(&["job", "close", &job]);
    env.wait_job(job.parse().unwrap());

    let states = env.task_states(job.parse().unwrap());
    assert_eq!(
        states.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![0, 1, 2, 10, 11, 12, 13]
    );
    assert_eq!(state(&states, 10), "finished");
    assert_eq!(state(&states, 11), "aborted");
    assert_eq!(state(&states, 12), "finished");
    assert_eq!(state(&states, 13), "aborted");
    assert!(stamp(&env, "t10.start") >= stamp(&env, "t0.end"));
    assert!(env.file("ran-12").exists());
    assert!(!env.file("ran-11").exists() && !env.file("ran-13").exists());
}

#[test]
fn retry_growth_gives_a_retried_task_a_longer_time_limit() {
    let mut env = crate::utils::HqEnv::with_server();
    env.start_worker(&[]);
    let file = env.write(
        "grow.toml",
        "[[task]]\nid = 1\ncommand = [\"bash\", \"-c\", \"echo $HQ_RETRIES >> attempts; sleep 2\"]\ntime_limit = \"1s\"\nmax_retries = 1\nretry_growth = { time_limit = 4.0 }\n",
    );
    let out = env.ok(&[
        "--output-mode",
        "quiet",
        "job",
        "submit-file",
        file.to_str().unwrap(),
    ]);
    let job: u32 = out.trim().parse().unwrap();
    env.wait_job(job);
    assert_eq!(env.task_states(job), vec![(1, "finished".to_string())]);
    assert_eq!(
        env.read("attempts"),
        "0\n1\n",
        "the first attempt hit the 1 s limit, the retry had 4 s"
    );
}
