//! One status query per refresh for all allocations of a queue, not one per allocation.

use super::*;
use crate::utils::{wait_until, HqEnv};

fn which(program: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn one_squeue_answers_for_all_queued_allocations() {
    let Some(slurm) = slurm_test("status") else {
        return;
    };
    let mut env = HqEnv::new();
    // Wrappers record each call, then run the real programs.
    let log = env.file("calls.log").display().to_string();
    let mut bin = None;
    for program in ["squeue", "scontrol"] {
        let real = which(program);
        let body = format!("echo \"{program} $*\" >> {log}\nexec {real} \"$@\"");
        bin = Some(fake_program(&env, program, &body));
    }
    env.prepend_path(&bin.unwrap());
    env.set_env("HQ_AUTOALLOC_QUEUED_REFRESH_INTERVAL_MS", "300");
    env.start_server(&[]);
    env.ok(&w(&format!("alloc add slurm --time-limit 10m --no-dry-run --cpus 1 --backlog 3 --name {} -- --begin=now+1hour", slurm.prefix)));
    let job = env.submit(&["--array", "1-3", "--", "true"]);
    let allocs = wait_allocations(&env, 1, "three allocations", |a| a.len() == 3);
    let ids: Vec<&str> = allocs.iter().map(|a| a["id"].as_str().unwrap()).collect();
    let all = ids.join(",");
    let calls = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("two refreshes of all three", || {
        calls().lines().filter(|l| l.contains(&all)).count() >= 2
    });
    let text = calls();
    let since: Vec<&str> = text.lines().skip_while(|l| !l.contains(&all)).collect();
    assert!(
        since
            .iter()
            .all(|l| l.starts_with("squeue -h -t all -j ") && l.contains(&all)),
        "{text}"
    );
    assert!(
        !text.contains("scontrol"),
        "squeue knew every allocation: {text}"
    );
    let q = explain(&env, 1);
    let status = q["manager_commands"]["status"].as_u64().unwrap();
    assert!(
        status >= 2 && status as usize <= text.lines().count(),
        "{q}"
    );

    env.ok(&["job", "cancel", &job.to_string()]);
    wait_allocations(&env, 1, "scale-in", |a| {
        a.iter().all(|x| x["status"] == "FINISHED")
    });
}
