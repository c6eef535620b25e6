//! `hq submit`: command forms, arrays, entries, resources, outputs, options and output modes.

use crate::utils::HqEnv;

fn job_info(env: &HqEnv, job: u32) -> serde_json::Value {
    env.run(&["job", "info", &job.to_string(), "--output-mode", "json"])
        .json()[0]
        .clone()
}

fn ids(env: &HqEnv, job: u32) -> Vec<u64> {
    env.task_states(job).into_iter().map(|(i, _)| i).collect()
}

fn all_finished(env: &HqEnv, job: u32) {
    for (id, state) in env.task_states(job) {
        assert_eq!(state, "finished", "task {id} of job {job}");
    }
}

#[test]
fn command_after_dashes_and_as_trailing_args() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    // Flags after the first command word belong to the command.
    let j1 = env.submit(&["--name", "first", "echo", "--name", "-x", "--array"]);
    let j2 = env.submit(&["--", "bash", "-c", "echo \"$@\"", "x", "--help"]);
    env.wait_job(j1);
    env.wait_job(j2);
    assert_eq!(env.read("job-1/0.stdout"), "--name -x --array\n");
    assert_eq!(env.read("job-2/0.stdout"), "--help\n");
    assert_eq!(job_info(&env, j1)["info"]["name"], "first");
    assert_eq!(job_info(&env, j2)["info"]["name"], "bash");
    let j3 = env.submit(&["--", "/bin/true"]);
    assert_eq!(job_info(&env, j3)["info"]["name"], "true");
}

#[test]
fn arrays_accept_ranges_steps_and_lists() {
    let env = HqEnv::with_server();
    let job = env.submit(&["--array", "1-3, 7,10-14:2,1_000", "--", "true"]);
    assert_eq!(ids(&env, job), vec![1, 2, 3, 7, 10, 12, 14, 1000]);
    let info = job_info(&env, job);
    assert_eq!(info["info"]["task_count"], 8);
    let out = env.ok(&["job", "task-ids", &job.to_string()]);
    assert_eq!(out.trim(), "1-3,7,10,12,14,1000");
}

#[test]
fn each_line_gives_one_task_per_line_with_hq_entry() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.write("lines.txt", "alpha\nbeta gamma\n\nlast\n");
    let job = env.submit(&[
        "--each-line",
        "lines.txt",
        "--",
        "bash",
        "-c",
        "printf '[%s]' \"$HQ_ENTRY\"",
    ]);
    env.wait_job(job);
    assert_eq!(ids(&env, job), vec![0, 1, 2, 3]);
    all_finished(&env, job);
    assert_eq!(env.read("job-1/0.stdout"), "[alpha]");
    assert_eq!(env.read("job-1/1.stdout"), "[beta gamma]");
    assert_eq!(env.read("job-1/2.stdout"), "[]");
    assert_eq!(env.read("job-1/3.stdout"), "[last]");
}

#[test]
fn from_json_entries_are_compact_with_sorted_keys() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.write(
        "data.json",
        r#"[ {"z": 1, "a": [1, 2,  3]}, 123, "text", {"k": {"y": null, "b": true}} ]"#,
    );
    let job = env.submit(&[
        "--from-json",
        "data.json",
        "--",
        "bash",
        "-c",
        "printf '%s' \"$HQ_ENTRY\"",
    ]);
    env.wait_job(job);
    all_finished(&env, job);
    assert_eq!(env.read("job-1/0.stdout"), r#"{"a":[1,2,3],"z":1}"#);
    assert_eq!(env.read("job-1/1.stdout"), "123");
    assert_eq!(env.read("job-1/2.stdout"), "\"text\"");
    assert_eq!(env.read("job-1/3.stdout"), r#"{"k":{"b":true,"y":null}}"#);
}

#[test]
fn entries_combined_with_array_keep_only_existing_ids() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.write("lines.txt", "a\nb\nc\nd\ne\n");
    env.write("data.json", r#"[10, 11, 12]"#);
    let j1 = env.submit(&[
        "--each-line",
        "lines.txt",
        "--array",
        "1,3,10-20",
        "--",
        "bash",
        "-c",
        "printf '%s' \"$HQ_ENTRY\"",
    ]);
    let j2 = env.submit(&[
        "--from-json",
        "data.json",
        "--array",
        "2-5",
        "--",
        "bash",
        "-c",
        "printf '%s' \"$HQ_ENTRY\"",
    ]);
    env.wait_job(j1);
    env.wait_job(j2);
    assert_eq!(ids(&env, j1), vec![1, 3]);
    assert_eq!(env.read("job-1/1.stdout"), "b");
    assert_eq!(env.read("job-1/3.stdout"), "d");
    assert_eq!(ids(&env, j2), vec![2]);
    assert_eq!(env.read("job-2/2.stdout"), "12");
}

#[test]
fn cpus_and_resource_requests_reach_the_task() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4", "--resource", "gpus=[a,b,c]"]);
    let job = env.submit(&[
        "--cpus",
        "2",
        "--resource",
        "gpus=2",
        "--",
        "bash",
        "-c",
        "echo $HQ_CPUS; echo $OMP_NUM_THREADS; echo $HQ_RESOURCE_REQUEST_cpus; \
         echo $HQ_RESOURCE_REQUEST_gpus; echo $HQ_RESOURCE_VALUES_gpus",
    ]);
    env.wait_job(job);
    all_finished(&env, job);
    let out = env.read("job-1/0.stdout");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].split(',').count(), 2, "{out}");
    assert_eq!(lines[1], "2");
    assert_eq!(lines[2], "2 compact");
    assert_eq!(lines[3], "2 compact");
    let gpus: Vec<&str> = lines[4].split(',').collect();
    assert_eq!(gpus.len(), 2, "{out}");
    assert!(gpus.iter().all(|g| ["a", "b", "c"].contains(g)), "{out}");
    let req = job_info(&env, job)["submits"][0]["array"]["resources"][0].clone();
    assert_eq!(req["resources"][0]["resource"], "cpus");
    assert_eq!(req["resources"][0]["request"]["Compact"], 20000);
}

#[test]
fn cwd_and_output_paths_with_placeholders() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&[
        "--array",
        "4-5",
        "--cwd",
        "work-%{JOB_ID}/t%{TASK_ID}",
        "--stdout",
        "out-%{JOB_ID}-%{TASK_ID}-%{INSTANCE_ID}.txt",
        "--stderr",
        "%{SUBMIT_DIR}/err/%{JOB_NAME}-%{TASK_ID}",
        "--name",
        "nm",
        "--",
        "bash",
        "-c",
        "pwd; echo e >&2",
    ]);
    env.wait_job(job);
    all_finished(&env, job);
    // Relative stdout is resolved against the task's cwd.
    let root = env.path().canonicalize().unwrap();
    let out = env.read("work-1/t4/out-1-4-0.txt");
    assert_eq!(
        std::path::Path::new(out.trim()).canonicalize().unwrap(),
        root.join("work-1/t4")
    );
    assert!(env.file("work-1/t5/out-1-5-0.txt").is_file());
    assert_eq!(env.read("err/nm-4"), "e\n");
    assert_eq!(env.read("err/nm-5"), "e\n");
    // job info shows the submit-time resolution; task objects the final paths.
    let info = job_info(&env, job);
    let t = &info["tasks"][0];
    assert!(t["stdout"]
        .as_str()
        .unwrap()
        .ends_with("work-1/t4/out-1-4-0.txt"));
    assert!(t["cwd"].as_str().unwrap().ends_with("work-1/t4"));
}

#[test]
fn none_and_rm_if_finished_outputs() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let j1 = env.submit(&[
        "--stdout", "none", "--stderr", "none", "--", "bash", "-c", "echo x",
    ]);
    let j2 = env.submit(&["--stdout", ":rm-if-finished", "--", "echo", "gone"]);
    let j3 = env.submit(&[
        "--stdout",
        "kept.txt:rm-if-finished",
        "--",
        "bash",
        "-c",
        "echo kept; exit 1",
    ]);
    for j in [j1, j2, j3] {
        env.wait_job(j);
    }
    assert!(!env.file("job-1").exists());
    assert!(!env.file("job-2/0.stdout").exists(), "removed after finish");
    assert!(env.file("job-2/0.stderr").exists());
    assert_eq!(env.read("kept.txt"), "kept\n", "kept on failure");
    let t = &job_info(&env, j1)["tasks"][0];
    assert!(t["stdout"].is_null(), "{t}");
}

#[test]
fn env_flags_set_variables() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&[
        "--env",
        "A=1",
        "--env",
        "B",
        "--env",
        "C=x=y",
        "--env",
        "HQ_JOB_ID=999",
        "--",
        "bash",
        "-c",
        "echo \"$A|${B-unset}|$C|$HQ_JOB_ID\"",
    ]);
    env.wait_job(job);
    assert_eq!(env.read("job-1/0.stdout"), "1||x=y|1\n");
    let program = &job_info(&env, job)["submits"][0]["array"]["program"];
    assert_eq!(program["env"]["A"], "1");
}

#[test]
fn higher_priority_runs_first_on_one_cpu() {
    let mut env = HqEnv::with_server();
    let low = env.submit(&["--priority", "-5", "--", "bash", "-c", "echo low >> order"]);
    let mid = env.submit(&["--", "bash", "-c", "echo mid >> order"]);
    let high = env.submit(&["--priority", "10", "--", "bash", "-c", "echo high >> order"]);
    env.start_worker(&["--cpus", "1"]);
    for j in [low, mid, high] {
        env.wait_job(j);
    }
    assert_eq!(env.read("order"), "high\nmid\nlow\n");
    assert_eq!(job_info(&env, high)["submits"][0]["array"]["priority"], 10);
}

#[test]
fn time_limit_fails_the_task() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&["--time-limit", "1s", "--", "sleep", "100"]);
    env.wait_job(job);
    let t = &job_info(&env, job)["tasks"][0];
    assert_eq!(t["state"], "failed");
    assert_eq!(t["error"], "Time limit reached");
    assert_eq!(
        job_info(&env, job)["submits"][0]["array"]["time_limit"],
        1.0
    );
}

#[test]
fn max_fails_aborts_the_rest() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "1"]);
    let job = env.submit(&["--array", "1-10", "--max-fails", "1", "--", "false"]);
    env.wait_job(job);
    let info = job_info(&env, job);
    let stats = &info["info"]["task_stats"];
    let failed = stats["failed"].as_u64().unwrap();
    let aborted = stats["aborted"].as_u64().unwrap();
    assert!(failed >= 2, "{stats}");
    assert!(aborted >= 1, "{stats}");
    assert_eq!(failed + aborted, 10, "{stats}");
    assert_eq!(info["max_fails"], 1);
}

#[test]
fn crash_limit_values() {
    let env = HqEnv::with_server();
    for bad in ["0", "abc", "-1"] {
        let r = env.fails(&["submit", "--crash-limit", bad, "--", "true"]);
        assert_eq!(r.code, 2, "--crash-limit {bad}: {}", r.stderr);
    }
    for (good, expected) in [
        ("3", serde_json::json!(3)),
        ("never-restart", serde_json::json!("never-restart")),
        ("unlimited", serde_json::json!("unlimited")),
    ] {
        let job = env.submit(&["--crash-limit", good, "--", "true"]);
        assert_eq!(
            job_info(&env, job)["submits"][0]["array"]["crash_limit"],
            expected
        );
    }
    let job = env.submit(&["--", "true"]);
    assert_eq!(job_info(&env, job)["submits"][0]["array"]["crash_limit"], 5);
}

#[test]
fn wait_and_progress_exit_zero_even_when_tasks_fail() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let r = env.run(&["submit", "--wait", "--", "bash", "-c", "exit 3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Job submitted successfully, job ID: 1"));
    assert_eq!(env.task_states(1), vec![(0, "failed".to_string())]);
    let err = &job_info(&env, 1)["tasks"][0]["error"];
    assert_eq!(err, "Program terminated with exit code 3.");

    let r = env.run(&["submit", "--progress", "--array", "1-3", "--", "true"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("1/1 jobs, 3/3 tasks"), "{}", r.stderr);
    assert_eq!(
        env.task_states(2)
            .iter()
            .filter(|t| t.1 == "finished")
            .count(),
        3
    );
    let r = env.fails(&["submit", "--wait", "--progress", "--", "true"]);
    assert_eq!(r.code, 2);
}

#[test]
fn max_retries_reruns_failed_programs_with_new_instances() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let flaky = env.submit(&[
        "--max-retries=3",
        "--",
        "bash",
        "-c",
        "echo $HQ_INSTANCE_ID >> attempts; echo $HQ_RETRIES >> retries; test $(wc -l < attempts) -ge 2",
    ]);
    env.wait_job(flaky);
    let t = env
        .run(&[
            "task",
            "info",
            &flaky.to_string(),
            "0",
            "--output-mode",
            "json",
        ])
        .json()[0]
        .clone();
    assert_eq!(t["state"], "finished", "{t}");
    assert_eq!(t["retries"], 1);
    let attempts: Vec<u64> = env
        .read("attempts")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(attempts.len(), 2);
    assert!(attempts[1] > attempts[0], "{attempts:?}");
    assert_eq!(
        env.read("retries"),
        "0\n1\n",
        "the task sees how often it was retried"
    );

    let always = env.submit(&["--max-retries", "2", "--", "bash", "-c", "exit 4"]);
    env.wait_job(always);
    let t = env
        .run(&[
            "task",
            "info",
            &always.to_string(),
            "0",
            "--output-mode",
            "json",
        ])
        .json()[0]
        .clone();
    assert_eq!(t["state"], "failed");
    assert_eq!(t["retries"], 2);
    assert!(t["instance_id"].as_u64().unwrap() >= 2);
    assert_eq!(t["error"], "Program terminated with exit code 4.");
    let cli = env.ok(&["task", "info", &always.to_string(), "0"]);
    assert!(cli.contains("2 of 2"), "{cli}");
}

#[test]
fn output_modes_of_submit() {
    let env = HqEnv::with_server();
    let r = env.run(&["submit", "--output-mode", "json", "--", "true"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.json(), serde_json::json!({"id": 1}));
    assert_eq!(env.ok(&["--output-mode", "quiet", "submit", "true"]), "2\n");
    assert_eq!(
        env.ok(&["submit", "true"]),
        "Job submitted successfully, job ID: 3\n"
    );
    let r = env
        .cmd(&["submit", "true"])
        .env("HQ_OUTPUT_MODE", "quiet")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&r.stdout), "4\n");
}

#[test]
fn submit_wait_exits_zero_when_the_job_is_canceled() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let mut waiter = env
        .cmd(&["submit", "--wait", "--array", "1-2", "--", "sleep", "1000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::utils::wait_until("both tasks to run", || {
        env.run(&["job", "info", "1", "--output-mode", "json"])
            .json()[0]["info"]["task_stats"]["running"]
            == 2
    });
    env.ok(&["job", "cancel", "1"]);
    let mut code = None;
    crate::utils::wait_until("submit --wait to return", || {
        code = waiter.try_wait().unwrap().map(|s| s.code());
        code.is_some()
    });
    assert_eq!(code.unwrap(), Some(0));
    let states: Vec<String> = env.task_states(1).into_iter().map(|t| t.1).collect();
    assert_eq!(states, vec!["canceled", "canceled"]);
}

#[test]
fn max_retries_also_covers_time_limits_and_spawn_errors() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let slow_first = env.submit(&[
        "--max-retries",
        "1",
        "--time-limit",
        "1s",
        "--",
        "bash",
        "-c",
        "[ $HQ_INSTANCE_ID -ge 1 ] || sleep 100",
    ]);
    let missing = env.submit(&["--max-retries", "2", "--", "no-such-program-abc"]);
    env.wait_job(slow_first);
    env.wait_job(missing);
    let info = |job: u32| {
        env.run(&[
            "task",
            "info",
            &job.to_string(),
            "0",
            "--output-mode",
            "json",
        ])
        .json()[0]
            .clone()
    };
    let t = info(slow_first);
    assert_eq!(t["state"], "finished", "{t}");
    assert_eq!(t["retries"], 1);
    let t = info(missing);
    assert_eq!(t["state"], "failed", "{t}");
    assert_eq!(t["retries"], 2);
    assert!(t["error"]
        .as_str()
        .unwrap()
        .starts_with("Cannot execute \"no-such-program-abc\""));
}

#[test]
fn hq_directives_in_a_script_are_options_and_the_command_line_wins() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4"]);
    // Not executable: the shebang is prepended to the command.
    env.write(
        "job.sh",
        "#!/bin/bash\n#HQ --name from-directive --cpus 2 --env A=file\n#HQ --array 1-2\necho \"$HQ_CPUS $A $B\" > out-$HQ_TASK_ID\n",
    );
    let job = env.submit(&["--env", "B=cli", "--cpus", "1", "job.sh"]);
    env.wait_job(job);
    assert!(
        env.task_states(job).iter().all(|(_, s)| s == "finished"),
        "{:?}",
        env.task_states(job)
    );
    let out = env.read("out-1");
    assert_eq!(out.split_whitespace().count(), 3, "{out}");
    assert!(
        out.ends_with(" file cli\n"),
        "file and command-line env merge: {out}"
    );
    assert_eq!(
        out.split_whitespace().next().unwrap().split(',').count(),
        1,
        "--cpus 1 of the command line wins"
    );
    let info = env
        .run(&["job", "info", &job.to_string(), "--output-mode", "json"])
        .json();
    assert_eq!(info[0]["info"]["name"], "from-directive");
    assert_eq!(
        info[0]["info"]["task_count"], 2,
        "the array comes from the directive"
    );

    env.write("bad.sh", "#HQ --no-such-flag\ntrue\n");
    let r = env.fails(&["submit", "bad.sh"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("invalid parameter(s) after a #HQ directive"),
        "{}",
        r.stderr
    );
    // With `--directives off` the directives are ignored: one task, the default name.
    let off = env.submit(&["--directives", "off", "--", "bash", "job.sh"]);
    env.wait_job(off);
    let info = env
        .run(&["job", "info", &off.to_string(), "--output-mode", "json"])
        .json();
    assert_eq!(info[0]["info"]["task_count"], 1);
    assert_eq!(info[0]["info"]["name"], "bash");

    // `--directives stdin` reads them from the data given on stdin.
    let mut child = env
        .cmd(&[
            "--output-mode",
            "quiet",
            "submit",
            "--stdin",
            "--directives",
            "stdin",
            "--",
            "bash",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"#HQ --name piped\necho from-stdin > piped.txt\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let piped: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    env.wait_job(piped);
    assert_eq!(env.read("piped.txt"), "from-stdin\n");
    let info = env
        .run(&["job", "info", &piped.to_string(), "--output-mode", "json"])
        .json();
    assert_eq!(info[0]["info"]["name"], "piped");
    // Without `--stdin` there is no data to read directives from.
    let r = env.fails(&["submit", "--directives", "stdin", "--", "bash"]);
    assert!(
        r.stderr
            .contains("You have to use `--stdin` when you specify `--directives=stdin`"),
        "{}",
        r.stderr
    );
}

#[test]
fn spawn_errors_hint_at_the_usual_mistakes() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    env.write("prog", "hostname\n");
    env.write("script.sh", "echo hi\n");
    let not_found = env.submit(&["--", "prog"]);
    let not_executable = env.submit(&["--", "./script.sh"]);
    env.wait_job(not_executable);
    env.wait_job(not_found);
    let error = |job: u32| {
        job_info(&env, job)["tasks"][0]["error"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let dir = env.path().display();
    assert_eq!(
        error(not_found),
        format!(
            "Cannot execute \"prog\": No such file or directory (os error 2)\n\
             The program that you have tried to execute (`prog`) was not found.\n\
             The file `{dir}/prog` exists, maybe you have meant `./prog` instead?"
        )
    );
    assert_eq!(
        error(not_executable),
        "Cannot execute \"./script.sh\": Permission denied (os error 13)\n\
         The script that you have tried to execute (`./script.sh`) is not executable.\n\
         Try making it executable or add a shebang line to it."
    );
}
