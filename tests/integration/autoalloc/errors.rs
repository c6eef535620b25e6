//! Error paths with fake `sbatch` scripts (exit codes, garbage output, slow answers) and
//! command-line checks. No cluster needed.

use super::*;
use crate::utils::{wait_until, HqEnv};

/// A running server whose PATH starts with the fakes in `bin/`, with short delays.
fn env_with_fakes(fakes: &[(&str, &str)], extra_env: &[(&str, &str)]) -> HqEnv {
    let mut env = fakes_env(fakes, extra_env);
    env.start_server(&[]);
    env
}

fn fakes_env(fakes: &[(&str, &str)], extra_env: &[(&str, &str)]) -> HqEnv {
    let mut env = HqEnv::new();
    let mut dir = None;
    for (name, body) in fakes {
        dir = Some(fake_program(&env, name, body));
    }
    if let Some(d) = dir {
        env.prepend_path(&d);
    }
    env.set_env("HQ_AUTOALLOC_DELAYS_MS", "0,50");
    for (k, v) in extra_env {
        env.set_env(k, v);
    }
    env
}

fn add_queue(env: &HqEnv) {
    env.ok(&w("alloc add slurm --time-limit 1h --no-dry-run --cpus 1"));
}

#[test]
fn a_failing_sbatch_is_shown_with_its_exit_code_stderr_and_script_and_pauses_the_queue() {
    let env = env_with_fakes(
        &[(
            "sbatch",
            "echo 'sbatch: error: QOSMaxSubmitJobPerUserLimit' >&2; exit 3",
        )],
        &[("HQ_AUTOALLOC_MAX_SUBMISSION_FAILS", "2")],
    );
    add_queue(&env);
    env.submit(&["--", "true"]);
    let mut q = serde_json::Value::Null;
    wait_until("the queue to pause", || {
        q = queues(&env)[0].clone();
        q["state"] == "Paused"
    });
    let err = &q["last_submission_error"];
    assert_eq!(err["exit_code"], 3, "{q}");
    assert!(err["stderr"]
        .as_str()
        .unwrap()
        .contains("QOSMaxSubmitJobPerUserLimit"));
    let script = err["script"].as_str().unwrap();
    assert!(
        std::path::Path::new(script).is_file(),
        "the script {script} is kept"
    );
    assert!(
        q["pause_reason"]
            .as_str()
            .unwrap()
            .contains("2 failed submissions"),
        "{q}"
    );
    // The table on stdout, why the queue stopped on stderr.
    let list = env.run(&["alloc", "list"]);
    assert!(list.stdout.contains("PAUSED"), "{}", list.stdout);
    let notes = &list.stderr;
    assert!(notes.contains("Exit code: 3"), "{notes}");
    assert!(
        notes.contains("QOSMaxSubmitJobPerUserLimit") && notes.contains(script),
        "{notes}"
    );
    let info = env.run(&["alloc", "info", "1"]);
    assert!(
        info.stderr.contains("details: hq alloc explain 1"),
        "{}",
        info.stderr
    );
    let explain = env.ok(&["alloc", "explain", "1"]);
    assert!(
        explain.contains("Last submission error") && explain.contains("paused after 2"),
        "{explain}"
    );
    assert!(env
        .proc_log(0)
        .contains("The queue 1 had too many failed submissions, it will be paused."));
    let resumed = env.run(&["alloc", "resume", "1"]);
    assert!(resumed
        .stderr
        .contains("Allocation queue 1 successfully resumed"));
    assert_eq!(queues(&env)[0]["failures_in_a_row"]["submissions"], 0);
}

#[test]
fn sbatch_output_without_a_job_id_is_a_failed_submission() {
    let env = env_with_fakes(&[("sbatch", "echo 'all is well'")], &[]);
    add_queue(&env);
    env.submit(&["--", "true"]);
    let mut q = serde_json::Value::Null;
    wait_until("a failed submission", || {
        q = queues(&env)[0].clone();
        !q["last_submission_error"].is_null()
    });
    let err = &q["last_submission_error"];
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("Submitted batch job"),
        "{q}"
    );
    assert_eq!(err["stdout"].as_str().unwrap().trim(), "all is well");
}

#[test]
fn a_slow_sbatch_does_not_block_the_server() {
    // The fake answers only when the test lets it: if the server waited for it, the client
    // commands below could not be answered.
    let mut env = fakes_env(
        &[
            (
                "sbatch",
                "while [ ! -e \"$RELEASE\" ]; do sleep 0.05; done; echo 'Submitted batch job 77'",
            ),
            ("squeue", "echo '77 PENDING'"),
            ("scancel", "exit 0"),
        ],
        &[],
    );
    let release = env.file("release");
    env.set_env("RELEASE", &release.display().to_string());
    env.start_server(&[]);
    add_queue(&env);
    env.submit(&["--", "true"]);
    wait_until("sbatch to be running", || {
        env.path()
            .join("sd/001/autoalloc/1/001/hq-submit.sh")
            .exists()
    });
    let job = env.submit(&["--", "true"]);
    env.ok(&["job", "info", &job.to_string()]);
    assert!(allocations(&env, 1).is_empty());
    std::fs::write(&release, "").unwrap();
    let a = wait_allocations(&env, 1, "the allocation", |a| !a.is_empty());
    assert_eq!(a[0]["id"], "77");
    assert_eq!(env.read("sd/001/autoalloc/1/001/jobid").trim(), "77");
}

#[test]
fn bad_queue_parameters_are_refused_with_the_flag_named() {
    let env = HqEnv::with_server();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--time-limit", "1h", "--", "--nodes=2"],
            "`--max-workers-per-alloc`",
        ),
        (&["--time-limit", "1h", "--", "-t", "5"], "`--time-limit`"),
        (
            &["--time-limit", "1h", "--worker-time-limit", "2h"],
            "must not exceed `--time-limit`",
        ),
        (
            &["--time-limit", "1h", "--backlog", "0"],
            "`--backlog` must be at least 1",
        ),
        (&["--time-limit", "1h", "--cpus", "x"], "cpus"),
        (
            &["--time-limit", "1h", "--min-utilization", "2"],
            "between 0.0 and 1.0",
        ),
        (&["--backlog", "1"], "--time-limit"),
        (&["--time-limit", "1h", "--name", "a/b"], "`--name a/b`"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["alloc", "add", "slurm", "--no-dry-run"];
        full.extend_from_slice(args);
        let r = env.fails(&full);
        assert_eq!(r.code, 2, "{full:?}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{full:?}: {}", r.stderr);
    }
    let r = env.fails(&["alloc", "info", "7"]);
    assert!(
        r.stderr.contains("Allocation queue 7 not found"),
        "{}",
        r.stderr
    );
    let r = env.fails(&["alloc", "pause", "7"]);
    assert!(
        r.stderr.contains("Allocation queue 7 not found"),
        "{}",
        r.stderr
    );
    let r = env.fails(&["alloc", "log", "123", "stdout"]);
    assert!(
        r.stderr.contains("Allocation 123 not found"),
        "{}",
        r.stderr
    );
    assert!(queues(&env).is_empty());
}

#[test]
fn queues_are_listed_paused_resumed_and_removed() {
    let env = HqEnv::with_server();
    let r = env.run(&w("alloc add pbs --time-limit 30m --workers-per-alloc 3 --no-dry-run --name gpu --idle-timeout 20m -- -q qgpu"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("probing") || r.stderr.contains("No worker resources"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("idle timeout"), "{}", r.stderr);
    let q = &queues(&env)[0];
    assert_eq!(q["manager"], "PBS");
    assert_eq!(q["name"], "gpu");
    assert_eq!(q["max_workers_per_alloc"], 3);
    assert_eq!(q["timelimit"], 1800.0);
    assert_eq!(q["additional_args"], serde_json::json!(["-q", "qgpu"]));
    assert!(q["worker_args"].to_string().contains("\\\"20m\\\""), "{q}");
    let table = env.ok(&["alloc", "list"]);
    assert!(
        table.contains("<unknown>") && table.contains("-q,qgpu"),
        "{table}"
    );
    env.ok(&["alloc", "pause", "1"]);
    assert_eq!(queues(&env)[0]["state"], "Paused");
    assert!(env
        .run(&["alloc", "list"])
        .stderr
        .contains("paused by the user"));
    env.ok(&["alloc", "resume", "1"]);
    assert_eq!(queues(&env)[0]["state"], "Active");
    assert_eq!(
        env.ok(&["--output-mode", "json", "alloc", "remove", "1"])
            .trim(),
        "{}"
    );
    assert!(queues(&env).is_empty());
}
