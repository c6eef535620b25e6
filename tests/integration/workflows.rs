//! Workflow managers on top of the CLI. Nextflow cannot be installed here (no Java downloads),
//! so this replays the commands its `hq` executor runs for a task: the `.command.run` wrapper
//! with `#HQ` directives, `hq --output-mode=quiet submit --directives=file .command.run` in the
//! task's work directory (first line of output: the job ID), polling `hq --output-mode=quiet job
//! list --all` (`ID STATE` lines), and `hq job cancel 3,4,5`. Snakemake is tested in
//! python/tests/test_workflows.py.

use crate::utils::{wait_until, HqEnv, Run};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A Nextflow task directory: `.command.sh` (the process script) and the `.command.run`
/// wrapper that Nextflow submits, with the directives its executor writes.
fn nextflow_task(env: &HqEnv, name: &str, cpus: u32, script: &str) -> PathBuf {
    let dir = env.path().join("work").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".command.sh"),
        format!("#!/bin/bash -ue\n{script}\n"),
    )
    .unwrap();
    let d = dir.display();
    let wrapper = format!(
        "#!/bin/bash\n\
         #HQ --name nf-{name}\n\
         #HQ --log {d}/.command.log\n\
         #HQ --cwd {d}\n\
         #HQ --cpus {cpus}\n\
         #HQ --resource mem=512\n\
         #HQ --time-limit 3600s\n\
         # NEXTFLOW TASK: {name}\n\
         set -e\n\
         bash .command.sh > .command.out 2> .command.err && code=0 || code=$?\n\
         echo $code > .exitcode\n\
         exit $code\n"
    );
    std::fs::write(dir.join(".command.run"), wrapper).unwrap();
    dir
}

/// Runs `hq ARGS` in `dir` as Nextflow's executor does.
fn hq_in(env: &HqEnv, dir: &Path, args: &[&str]) -> Run {
    let out = env
        .cmd(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run hq");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `hq --output-mode=quiet submit --directives=file .command.run`; the job ID is the first
/// line with digits, as the executor parses it.
fn submit(env: &HqEnv, dir: &Path) -> String {
    let run = hq_in(
        env,
        dir,
        &[
            "--output-mode=quiet",
            "submit",
            "--directives=file",
            ".command.run",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = run.stdout.lines().next().unwrap_or_default().to_string();
    assert!(
        first.chars().all(|c| c.is_ascii_digit()) && !first.is_empty(),
        "{}",
        run.stdout
    );
    first
}

/// `hq --output-mode=quiet job list --all`, parsed as the executor parses it.
fn queue_status(env: &HqEnv) -> HashMap<String, String> {
    let out = env.ok(&["--output-mode=quiet", "job", "list", "--all"]);
    out.lines()
        .map(|line| {
            let (id, state) = line.split_once(' ').expect("`ID STATE`");
            (id.to_string(), state.to_string())
        })
        .collect()
}

fn wait_state(env: &HqEnv, id: &str, state: &str) {
    wait_until(&format!("job {id} to be {state}"), || {
        queue_status(env).get(id).map(String::as_str) == Some(state)
    });
}

#[test]
fn nextflow_task_runs_with_its_directives() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "4", "--resource", "mem=sum(2048)"]);
    let dir = nextflow_task(&env, "sayHello_1", 2, "echo hello cpus=$HQ_CPUS");
    let id = submit(&env, &dir);
    wait_state(&env, &id, "FINISHED");
    assert_eq!(
        std::fs::read_to_string(dir.join(".exitcode")).unwrap(),
        "0\n"
    );
    let out = std::fs::read_to_string(dir.join(".command.out")).unwrap();
    let cpus = out
        .trim()
        .strip_prefix("hello cpus=")
        .expect("the script's output");
    assert_eq!(cpus.split(',').count(), 2, "{out}");
    // The directives reached the job: name, cwd, time limit, memory; the log went to a stream.
    let info = env
        .run(&["--output-mode", "json", "job", "info", &id])
        .json();
    assert_eq!(info[0]["info"]["name"], "nf-sayHello_1");
    let text = info.to_string();
    assert!(text.contains("3600"), "{text}");
    assert!(text.contains("\"mem\""), "{text}");
    assert!(dir.join(".command.log").is_dir(), "`--log` streams into it");
    let stats = &info[0]["info"]["task_stats"];
    assert_eq!(stats["finished"], 1);
}

#[test]
fn nextflow_failed_and_canceled_tasks() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "1", "--resource", "mem=sum(2048)"]);
    let failing = nextflow_task(&env, "fails_1", 1, "exit 3");
    let id = submit(&env, &failing);
    wait_state(&env, &id, "FAILED");
    assert_eq!(
        std::fs::read_to_string(failing.join(".exitcode")).unwrap(),
        "3\n"
    );

    // Three tasks that would run for long; Nextflow kills them with one comma-joined call.
    let ids: Vec<String> = (1..=3)
        .map(|i| {
            submit(
                &env,
                &nextflow_task(&env, &format!("slow_{i}"), 1, "sleep 100"),
            )
        })
        .collect();
    wait_state(&env, &ids[0], "RUNNING");
    env.ok(&["job", "cancel", &ids.join(",")]);
    for id in &ids {
        wait_state(&env, id, "CANCELED");
    }
    // Killing jobs that already completed is not an error for the executor.
    let again = env.run(&["job", "cancel", &ids.join(",")]);
    assert_eq!(again.code, 0, "{}", again.stderr);
}
