//! Automatic allocation end to end: against the real single-node Slurm (../shared/slurm), the
//! PBS stand-in in `tests/integration/pbs/`, and fake `sbatch` scripts for error paths.

mod errors;
mod manager;
mod pbs;
mod restart;
mod slurm;
mod status;

use crate::utils::{wait_until, HqEnv};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Condvar, Mutex};

/// Slurm tests running at once; each takes one CPU per allocation of the node.
const SLURM_TESTS_AT_ONCE: usize = 3;
static SLURM_SLOTS: Mutex<usize> = Mutex::new(0);
static SLURM_FREED: Condvar = Condvar::new();

/// Holds a Slurm slot; on drop cancels every Slurm job whose name starts with the prefix.
pub struct SlurmTest {
    pub prefix: String,
}

impl Drop for SlurmTest {
    fn drop(&mut self) {
        for id in slurm_jobs(&self.prefix) {
            let _ = Command::new("scancel").arg(&id.0).status();
        }
        *SLURM_SLOTS.lock().unwrap() -= 1;
        SLURM_FREED.notify_one();
    }
}

/// A Slurm test named `name`, or `None` (the test is skipped) when there is no cluster.
/// With `HQ_REQUIRE_SLURM` set (CI), a missing cluster fails the test instead.
pub fn slurm_test(name: &str) -> Option<SlurmTest> {
    let up = Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success());
    if !up {
        assert!(
            std::env::var_os("HQ_REQUIRE_SLURM").is_none(),
            "HQ_REQUIRE_SLURM is set but `sinfo -h` fails: no Slurm cluster"
        );
        eprintln!("skipped: no Slurm cluster (run ../shared/slurm/start-slurm.sh as root)");
        return None;
    }
    let mut slots = SLURM_SLOTS.lock().unwrap();
    while *slots >= SLURM_TESTS_AT_ONCE {
        slots = SLURM_FREED.wait(slots).unwrap();
    }
    *slots += 1;
    Some(SlurmTest {
        prefix: format!("hqt{}-{name}", std::process::id()),
    })
}

/// (ID, state) of Slurm jobs whose name starts with `prefix`, finished ones included.
pub fn slurm_jobs(prefix: &str) -> Vec<(String, String)> {
    let out = Command::new("squeue")
        .args(["-h", "-t", "all", "-o", "%i %T %j"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 3 && w[2].starts_with(prefix)).then(|| (w[0].to_string(), w[1].to_string()))
        })
        .collect()
}

/// Slurm state of one job (`squeue -t all`), if Slurm knows it.
pub fn slurm_state(id: &str) -> Option<String> {
    let out = Command::new("squeue")
        .args(["-h", "-t", "all", "-j", id, "-o", "%T"])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Puts the PBS stand-in on the environment's PATH with its own state directory.
pub fn use_pbs_standin(env: &mut HqEnv) -> PathBuf {
    let state = env.file("pbs-state");
    std::fs::create_dir_all(&state).unwrap();
    env.set_env("PBS_STANDIN_DIR", &state.display().to_string());
    env.prepend_path(&PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/integration/pbs"
    )));
    state
}

/// Kills what PBS stand-in jobs of a state directory still run (by process group ID).
pub struct PbsCleanup(pub PathBuf);

impl Drop for PbsCleanup {
    fn drop(&mut self) {
        let Ok(dir) = std::fs::read_dir(self.0.join("jobs")) else {
            return;
        };
        for entry in dir.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let Ok(job) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if job["state"] == "R" {
                if let Some(pgid) = job["pgid"].as_i64() {
                    // SAFETY: signalling the process group of a job this test started.
                    unsafe {
                        libc::killpg(pgid as i32, libc::SIGKILL);
                    }
                }
            }
        }
    }
}

/// State of a PBS stand-in job (`Q`, `H`, `R`, `F`).
pub fn pbs_state(state_dir: &std::path::Path, id: &str) -> String {
    let text = std::fs::read_to_string(state_dir.join("jobs").join(format!("{id}.json")))
        .unwrap_or_default();
    serde_json::from_str::<Value>(&text)
        .map(|v| v["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// `hq alloc list` as JSON.
pub fn queues(env: &HqEnv) -> Vec<Value> {
    let v = env.run(&["alloc", "list", "--output-mode", "json"]).json();
    v.as_array().cloned().unwrap_or_default()
}

/// `hq alloc info QUEUE` as JSON (the allocations).
pub fn allocations(env: &HqEnv, queue: u32) -> Vec<Value> {
    let v = env
        .run(&["alloc", "info", &queue.to_string(), "--output-mode", "json"])
        .json();
    v.as_array().cloned().unwrap_or_default()
}

/// Waits until the queue's allocations satisfy `cond`; returns them.
pub fn wait_allocations(
    env: &HqEnv,
    queue: u32,
    what: &str,
    cond: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut last = Vec::new();
    wait_until(what, || {
        last = allocations(env, queue);
        cond(&last)
    });
    last
}

/// Allocations in a state.
pub fn with_status<'a>(allocs: &'a [Value], status: &str) -> Vec<&'a Value> {
    allocs.iter().filter(|a| a["status"] == status).collect()
}

/// `hq alloc explain QUEUE` as JSON.
pub fn explain(env: &HqEnv, queue: u32) -> Value {
    env.run(&[
        "alloc",
        "explain",
        &queue.to_string(),
        "--output-mode",
        "json",
    ])
    .json()
}

/// The queue's last decision (`hq alloc explain`).
pub fn last_decision(env: &HqEnv, queue: u32) -> Value {
    explain(env, queue)["last_decision"].clone()
}

/// Writes an executable script into the environment's `bin/` and returns that directory.
pub fn fake_program(env: &HqEnv, name: &str, body: &str) -> PathBuf {
    let path = env.write(&format!("bin/{name}"), &format!("#!/bin/bash\n{body}\n"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.parent().unwrap().to_path_buf()
}

/// The words of a command line (no quoting: for arguments without spaces).
pub fn w(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}
