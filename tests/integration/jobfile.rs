//! Job files through the real binary: every example planned and (without a GPU) run end to end,
//! every malformed fixture rejected with its line and message and nothing submitted, `hq run`.

use crate::utils::{HqEnv, Run};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn example(name: &str) -> String {
    Path::new(ROOT)
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// `examples/open-job-step.toml` depends on tasks that are already in the open job.
fn needs_open_job(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "open-job-step.toml")
}

/// Submits a job file and returns the job ID.
fn submit_file(env: &HqEnv, args: &[&str]) -> u32 {
    let mut full = vec!["--output-mode", "quiet", "job", "submit-file"];
    full.extend_from_slice(args);
    let out = env.ok(&full);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("no job ID in {out:?}"))
}

fn assert_all_finished(env: &HqEnv, job: u32, count: usize) {
    let states = env.task_states(job);
    assert_eq!(states.len(), count, "job {job}: {states:?}");
    assert!(
        states.iter().all(|(_, s)| s == "finished"),
        "job {job}: {states:?}"
    );
}

fn job_count(env: &HqEnv) -> usize {
    env.run(&["job", "list", "--all", "--output-mode", "json"])
        .json()
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn every_example_is_planned_by_a_dry_run_without_a_server() {
    // No server is started: the server directory does not exist.
    let env = HqEnv::new();
    let files = examples();
    assert!(files.len() >= 8, "only {} examples", files.len());
    for path in &files {
        let p = path.display().to_string();
        let r = if needs_open_job(path) {
            env.run(&["job", "submit-file", "--dry-run", "--job", "1", &p])
        } else {
            env.run(&["job", "submit-file", "--dry-run", &p])
        };
        assert_eq!(r.code, 0, "{p}:\n{}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(" tasks in "), "{p}: {}", r.stdout);
        assert!(r.stdout.contains("DAG depth"), "{p}: {}", r.stdout);
    }
    // Without `--job`, the open-job example's dependencies are unknown.
    let r = env.fails(&[
        "job",
        "submit-file",
        "--dry-run",
        &example("open-job-step.toml"),
    ]);
    assert!(r.stderr.contains("invalid dependency on 0"), "{}", r.stderr);

    let r = env.run(&[
        "job",
        "submit-file",
        "--dry-run",
        &example("product-sweep.toml"),
    ]);
    for text in [
        "Job `product-sweep`: 15 tasks",
        "DAG depth 4",
        "step `generate`: 6 tasks, IDs 1-6",
        "product(model[2] x seed[3])",
        "deps: generate (matching parameters)",
        "sh -c 'mkdir -p sweep && echo linear 1 > sweep/linear-1.in'",
    ] {
        assert!(r.stdout.contains(text), "missing {text:?} in\n{}", r.stdout);
    }
    let r = env.run(&[
        "job",
        "submit-file",
        "--dry-run",
        &example("gpu-variants.toml"),
    ]);
    assert!(r.stdout.contains("gpus/nvidia"), "{}", r.stdout);
}

#[test]
fn examples_without_gpus_run_end_to_end() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4"]);
    // `--wait` returns once the job completed.
    let pipeline = submit_file(&env, &["--wait", &example("pipeline.toml")]);
    assert_eq!(env.read("out/sum.txt"), "5050\n");
    let array = submit_file(&env, &[&example("array.toml")]);
    let each = submit_file(&env, &[&example("each-line-json.toml")]);
    let glob = submit_file(&env, &[&example("glob-fan-in.toml")]);
    let sweep = submit_file(&env, &[&example("product-sweep.toml")]);
    let study = submit_file(&env, &[&example("param-study.toml")]);
    let streamed = submit_file(&env, &[&example("streamed-array.toml")]);

    // The open-job example, fed from a loop as its comment shows.
    let open: u32 = env
        .ok(&["--output-mode", "quiet", "job", "open", "--name", "feed"])
        .trim()
        .parse()
        .unwrap();
    for i in 1..=5 {
        let cmd = format!("echo chunk {i}");
        env.ok(&["submit", "--job", &open.to_string(), "--", "sh", "-c", &cmd]);
    }
    submit_file(
        &env,
        &["--job", &open.to_string(), &example("open-job-step.toml")],
    );
    env.ok(&["job", "close", &open.to_string()]);

    for job in [pipeline, array, each, glob, sweep, study, streamed, open] {
        env.wait_job(job);
    }

    assert_all_finished(&env, pipeline, 3);
    assert_eq!(env.read("out/sum.txt"), "5050\n");
    assert_eq!(
        env.read(&format!("out/report-{pipeline}.txt")),
        "sum: 5050\n"
    );
    assert!(env.file("logs/prepare.out").exists());
    // rm-if-finished removed the stderr of the finished task.
    assert!(!env.file("logs/prepare.err").exists());

    assert_all_finished(&env, array, 3);
    for (id, lr) in [(10, "0.1"), (11, "0.01"), (12, "0.001")] {
        assert_eq!(
            env.read(&format!("job-{array}/{id}.stdout")),
            format!("training with lr={lr} (task {id})\n")
        );
    }

    assert_all_finished(&env, each, 6);
    for (id, fruit) in [(1, "apple"), (2, "banana"), (3, "cherry")] {
        assert_eq!(
            env.read(&format!("job-{each}/{id}.stdout")),
            format!("processing {fruit} (item {})\n", id - 1)
        );
    }
    for (name, size) in [("small", 10), ("medium", 100), ("large", 1000)] {
        assert_eq!(
            env.read(&format!("job-{each}/{name}.out")).trim(),
            size.to_string()
        );
    }

    assert_all_finished(&env, glob, 4);
    assert_eq!(env.read("counts/alpha-1.txt").trim(), "3");
    assert_eq!(env.read("counts/alpha-2.txt").trim(), "2");
    assert_eq!(env.read("counts/beta-1.txt").trim(), "1");
    assert_eq!(env.read(&format!("job-{glob}/4.stdout")), "6\n");

    assert_all_finished(&env, sweep, 15);
    assert_eq!(
        env.read("sweep/linear.summary"),
        "linear 1\nlinear 2\nlinear 3\n"
    );
    assert_eq!(env.read("sweep/tree.summary"), "tree 1\ntree 2\ntree 3\n");
    assert_eq!(
        env.read(&format!("job-{sweep}/15.stdout")),
        "linear 1\nlinear 2\nlinear 3\ntree 1\ntree 2\ntree 3\n"
    );

    assert_all_finished(&env, study, 11);
    assert_eq!(env.read("study/solver.txt"), "cg\n");
    assert_eq!(
        env.read("study/MEDIUM.txt"),
        "cg n=32 rep=1 tol=1e-6\ncg n=32 rep=2 tol=1e-6\n"
    );
    let collected = env.read(&format!("study/job-{study}/11.stdout"));
    assert_eq!(collected.lines().count(), 6, "{collected}");
    assert!(collected.starts_with("cg n=16 rep=1"), "{collected}");
    assert!(
        collected.ends_with("cg n=64 rep=2 tol=1e-6\n"),
        "{collected}"
    );

    assert_all_finished(&env, streamed, 4);

    assert_all_finished(&env, open, 7);
    let ids: Vec<u64> = env.task_states(open).iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![0, 1, 2, 3, 4, 100, 101]);
    assert_eq!(env.read(&format!("job-{open}/4.stdout")), "chunk 5\n");
    assert_eq!(
        env.read(&format!("job-{open}/101.stdout")),
        "summary-only\n"
    );
}

/// Reads the `# key: value` header of a fixture.
fn header(text: &str, key: &str, path: &Path) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
        .unwrap_or_else(|| panic!("{} has no `# {key}:` line", path.display()))
        .trim()
        .to_string()
}

#[test]
fn malformed_job_files_are_rejected_and_nothing_is_submitted() {
    let env = HqEnv::with_server();
    let dir = Path::new(ROOT).join("tests/fixtures/jobfiles/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "only {} fixtures", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let line = header(&text, "expect-line", path);
        let expect = header(&text, "expect", path);
        let p = path.display().to_string();
        let r: Run = env.run(&["job", "submit-file", &p]);
        let location = format!("{p}:{line}:");
        let mut problems = Vec::new();
        if r.code == 0 {
            problems.push("exit code 0".to_string());
        }
        if r.stderr.contains("panicked") {
            problems.push("panicked".to_string());
        }
        if !r.stderr.contains(&location) {
            problems.push(format!("no `{location}`"));
        }
        if !r.stderr.contains(&expect) {
            problems.push(format!("no {expect:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\nstdout: {}\nstderr: {}",
                path.file_name().unwrap().to_string_lossy(),
                problems.join(", "),
                r.stdout,
                r.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(job_count(&env), 0, "a malformed file submitted a job");
}

#[test]
fn a_malformed_file_is_rejected_also_when_adding_to_an_open_job() {
    let env = HqEnv::with_server();
    env.ok(&["job", "open"]);
    let file = Path::new(ROOT).join("tests/fixtures/jobfiles/bad/cycle-of-three.toml");
    let r = env.fails(&[
        "job",
        "submit-file",
        "--job",
        "1",
        &file.display().to_string(),
    ]);
    assert!(r.stderr.contains("1 -> 2 -> 3 -> 1"), "{}", r.stderr);
    let tasks = env
        .run(&["task", "list", "1", "--output-mode", "json"])
        .json();
    assert_eq!(tasks["1"].as_array().map(|a| a.len()), Some(0), "{tasks}");
}

#[test]
fn run_executes_a_job_file_on_an_embedded_server() {
    // No server directory of the environment is used by `hq run`.
    let env = HqEnv::new();
    let r = env.run(&["run", &example("pipeline.toml")]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("3 tasks, 3 finished, 0 failed"),
        "{}",
        r.stdout
    );
    assert_eq!(env.read("out/sum.txt"), "5050\n");
    assert_eq!(env.read("out/report-1.txt"), "sum: 5050\n");

    // A file whose task fails: non-zero exit, the error is listed.
    env.write(
        "failing.toml",
        "[[task]]\nid = 1\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n\
         [[task]]\nid = 2\ndeps = [1]\ncommand = [\"true\"]\n",
    );
    let r = env.run(&["run", "failing.toml"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("1 failed, 0 canceled, 1 aborted"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("exit code 3"), "{}", r.stdout);
}

#[test]
fn run_dry_run_prints_the_plan_and_runs_nothing() {
    let env = HqEnv::new();
    let out = env.ok(&["run", "--dry-run", &example("pipeline.toml")]);
    assert!(
        out.contains("Job `pipeline`: 3 tasks in 3 groups, DAG depth 3"),
        "{out}"
    );
    assert!(out.contains("(deps: 1)"), "{out}");
    assert!(!env.file("out").exists(), "the dry run ran a task");
    // A bad file fails the dry run with its location.
    let bad = Path::new(ROOT).join("tests/fixtures/jobfiles/bad/unknown-dependency.toml");
    let r = env.fails(&["run", "--dry-run", &bad.display().to_string()]);
    assert!(
        r.stderr.contains("unknown-dependency.toml:"),
        "{}",
        r.stderr
    );
    // `--dry-run` needs a file.
    env.fails(&["run", "--dry-run", "--", "echo", "x"]);
}

#[test]
fn run_command_exits_zero_only_if_every_task_finished() {
    let env = HqEnv::new();
    env.ok(&["run", "--", "sh", "-c", "echo ran > ran.txt"]);
    assert_eq!(env.read("ran.txt"), "ran\n");
    let r = env.fails(&["run", "--", "sh", "-c", "exit 3"]);
    assert!(r.stdout.contains("exit code 3"), "{}", r.stdout);
    // One failing task of an array is enough.
    let r = env.fails(&[
        "run",
        "--array",
        "1-3",
        "--",
        "sh",
        "-c",
        "test $HQ_TASK_ID != 2",
    ]);
    assert!(r.stdout.contains("2 finished, 1 failed"), "{}", r.stdout);
}
