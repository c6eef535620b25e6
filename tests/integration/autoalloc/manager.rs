//! `hq worker start --manager`: the allocation comes from the environment, its remaining
//! walltime becomes the time limit, its ID the group.

use super::*;
use crate::utils::{wait_until, HqEnv};

fn worker_json(env: &HqEnv) -> serde_json::Value {
    env.run(&["worker", "list", "--output-mode", "json"]).json()[0].clone()
}

#[test]
fn an_explicit_manager_without_its_allocation_is_an_error() {
    let mut env = HqEnv::with_server();
    for manager in ["slurm", "pbs"] {
        let pid = env.spawn(&["worker", "start", "--cpus", "1", "--manager", manager]);
        assert_eq!(env.wait_exit(pid), 1);
    }
    let log = env.proc_log(1) + &env.proc_log(2);
    assert!(
        log.contains("`--manager slurm` needs a Slurm allocation"),
        "{log}"
    );
    assert!(
        log.contains("`--manager pbs` needs a PBS allocation"),
        "{log}"
    );
}

#[test]
fn manager_none_ignores_the_environment() {
    let mut env = HqEnv::new();
    env.set_env("SLURM_JOB_ID", "4242");
    env.start_server(&[]);
    env.start_worker(&["--manager", "none"]);
    let w = worker_json(&env);
    assert!(w["allocation"].is_null(), "{w}");
    assert_eq!(w["configuration"]["group"], "default");
    assert!(env.ok(&["worker", "list"]).contains("| None "));
}

#[test]
fn a_pbs_allocation_gives_manager_group_and_time_limit() {
    let mut env = HqEnv::new();
    let state = use_pbs_standin(&mut env);
    let _cleanup = PbsCleanup(state);
    // A held job: the worker pretends to run in it.
    env.write(
        "job.sh",
        "#!/bin/bash\n#PBS -l walltime=01:00:00\n#PBS -h\ntrue\n",
    );
    let qsub = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/integration/pbs/qsub"
    ))
    .arg(env.file("job.sh"))
    .current_dir(env.path())
    .env("PBS_STANDIN_DIR", env.file("pbs-state"))
    .output()
    .unwrap();
    let id = String::from_utf8_lossy(&qsub.stdout).trim().to_string();
    assert!(!id.is_empty(), "{}", String::from_utf8_lossy(&qsub.stderr));
    env.set_env("PBS_ENVIRONMENT", "PBS_BATCH");
    env.set_env("PBS_JOBID", &id);
    env.start_server(&[]);
    env.start_worker(&[]);
    let w = worker_json(&env);
    assert_eq!(
        w["allocation"],
        serde_json::json!({"manager": "PBS", "id": id})
    );
    assert_eq!(w["configuration"]["group"], id.as_str());
    assert_eq!(w["configuration"]["time_limit"], 3600.0);
    let info = env.ok(&["worker", "info", "1"]);
    assert!(
        info.contains("| Time Limit ") && info.contains("1h"),
        "{info}"
    );
    // An explicit, shorter time limit wins.
    env.start_worker(&["--time-limit", "10m"]);
    wait_until("two workers", || env.worker_count() == 2);
    let all = env.run(&["worker", "list", "--output-mode", "json"]).json();
    assert_eq!(all[1]["configuration"]["time_limit"], 600.0);
}
