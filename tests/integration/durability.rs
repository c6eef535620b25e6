//! The journal under unlucky conditions: a full disk refuses requests instead of losing them,
//! the journal is private to its owner, and a restore gives back exactly the live state.

use crate::utils::{assert_responsive, assert_small, wait_until, HqEnv};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A 2 MiB tmpfs mounted for the test (needs root, as in CI) and unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs failed; this test needs root (as in CI)"
        );
        SmallDisk { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn fill(path: &Path, bytes: usize) {
    // Fails part-way on a full disk, which is what we want.
    let _ = std::fs::write(path, vec![0u8; bytes]);
}

fn job_ids(env: &HqEnv) -> Vec<u64> {
    let jobs = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    jobs.as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_full_disk_refuses_submits_and_loses_no_acknowledged_job() {
    let disk = SmallDisk::mount();
    let mut env = HqEnv::new();
    let journal = disk.path("journal");
    let journal = journal.to_str().unwrap();
    let server = env.start_server(&["--journal", journal]);
    fill(&disk.path("filler"), 1536 * 1024);
    // Each submission carries 64 KiB, so the rest of the disk fills after a few of them.
    let big = format!("BIG={}", "x".repeat(64 * 1024));
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for _ in 0..40 {
        let r = env.run(&[
            "--output-mode",
            "quiet",
            "submit",
            "--env",
            &big,
            "--",
            "true",
        ]);
        if r.code == 0 {
            acknowledged.push(r.stdout.trim().parse::<u64>().unwrap());
        } else {
            refusal = Some(r.stderr);
            break;
        }
    }
    let refusal = refusal.expect("the disk fills up");
    let expected = format!(
        "cannot write the journal at {journal}: No space left on device; nothing was submitted"
    );
    assert!(refusal.contains(&expected), "{refusal}");
    // Reads are served, and the refused submission left nothing behind.
    assert_responsive(&env, "with a full journal disk");
    assert_eq!(job_ids(&env), acknowledged);
    // Smaller requests still fit into the journal's last page; once it is full, they are
    // refused the same way.
    fill(&disk.path("rest"), 2048 * 1024);
    let name = "n".repeat(1000);
    let mut refused = false;
    for _ in 0..20 {
        let r = env.run(&["--output-mode", "quiet", "job", "open", "--name", &name]);
        if r.code != 0 {
            assert!(r.stderr.contains("; no job was opened"), "{}", r.stderr);
            refused = true;
            break;
        }
        acknowledged.push(r.stdout.trim().parse::<u64>().unwrap());
    }
    assert!(refused, "the journal's last page fills up");
    assert_eq!(job_ids(&env), acknowledged);
    assert_small(server, "with a full journal disk");

    // Space returns: writes succeed again.
    std::fs::remove_file(disk.path("filler")).unwrap();
    std::fs::remove_file(disk.path("rest")).unwrap();
    let next = env.submit(&["--", "true"]);
    acknowledged.push(next as u64);
    assert_eq!(
        next as u64,
        acknowledged[acknowledged.len() - 2] + 1,
        "no ID was used up by the refused submission"
    );

    // A crash loses no acknowledged job.
    env.signal(server, libc::SIGKILL);
    env.wait_exit(server);
    env.start_server(&["--journal", journal]);
    assert_eq!(job_ids(&env), acknowledged);
}

#[test]
fn the_journal_is_readable_only_by_its_owner() {
    let mut env = HqEnv::new();
    let journal = env.file("journal.bin");
    env.start_server(&["--journal", journal.to_str().unwrap()]);
    env.submit(&["--", "true"]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&journal), 0o600);
    env.ok(&["journal", "prune"]);
    assert_eq!(mode(&journal), 0o600, "a pruned journal is private too");
}

#[test]
fn crash_count_after_a_restore_equals_the_count_before() {
    let mut env = HqEnv::new();
    let journal = env.file("journal.bin");
    let journal = journal.to_str().unwrap().to_string();
    let server = env.start_server(&["--journal", &journal]);
    let job = env.submit(&["--crash-limit", "2", "--", "sleep", "100"]);
    for _ in 0..2 {
        let worker = env.start_worker(&[]);
        wait_until("the task to run", || env.task_states(job)[0].1 == "running");
        env.signal(worker, libc::SIGKILL);
        env.wait_exit(worker);
        wait_until("the task to leave its worker", || {
            env.task_states(job)[0].1 != "running"
        });
    }
    let crash_count = |env: &HqEnv| {
        let v = env
            .run(&["task", "list", &job.to_string(), "--output-mode", "json"])
            .json();
        let t = &v[job.to_string()][0];
        (
            t["state"].as_str().unwrap().to_string(),
            t["crash_count"].as_u64().unwrap(),
        )
    };
    let before = crash_count(&env);
    assert_eq!(before, ("failed".to_string(), 2));
    env.ok(&["server", "stop"]);
    env.wait_exit(server);
    env.start_server(&["--journal", &journal]);
    assert_eq!(crash_count(&env), before);
}
