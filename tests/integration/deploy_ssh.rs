//! `hq worker deploy-ssh`: one worker per host of a file, through `ssh` (a stand-in on `PATH`
//! that runs the remote command locally and records its arguments).

use crate::utils::HqEnv;
use std::os::unix::fs::PermissionsExt;

/// A fake `ssh`: appends its arguments to `ssh.log`, fails for host `bad`, otherwise runs the
/// command after `--` here.
fn fake_ssh(env: &HqEnv) -> String {
    let bin = env.file("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/bash\necho \"$*\" >> {}\n[ \"$1\" = bad ] && {{ echo no route >&2; exit 255; }}\n\
         while [ \"$1\" != -- ]; do shift; done; shift\nexec \"$@\"\n",
        env.file("ssh.log").display()
    );
    let path = bin.join("ssh");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn starts_a_worker_per_host_and_waits_for_them() {
    let mut env = HqEnv::new();
    env.start_server(&[]);
    let path = fake_ssh(&env);
    env.write("nodes", "node-a\n\n# a comment\nnode-b:2222\n");
    let r = env.run_env(
        &[
            "worker",
            "deploy-ssh",
            "--show-output",
            "nodes",
            "--cpus",
            "1",
            "--no-detect-resources",
            "--time-limit",
            "2s",
        ],
        &[("PATH", &path)],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // The remote output is shown, prefixed with the host.
    assert!(
        r.stdout.contains("[node-a] ") && r.stdout.contains("[node-b] "),
        "{}",
        r.stdout
    );
    let mut log: Vec<String> = env.read("ssh.log").lines().map(str::to_string).collect();
    log.sort();
    let hq = std::fs::canonicalize(crate::utils::HQ).unwrap();
    let tail = format!(
        "-- {} worker start --cpus 1 --no-detect-resources --time-limit 2s",
        hq.display()
    );
    assert_eq!(
        log,
        [
            format!("node-a -t -t {tail}"),
            format!("node-b -t -t -p 2222 {tail}")
        ]
    );
    // Both workers ran until their time limit.
    let states = env.ok(&["worker", "list", "--all", "--output-mode", "quiet"]);
    assert_eq!(states, "1 TIME LIMIT REACHED\n2 TIME LIMIT REACHED\n");
}

#[test]
fn a_failing_host_fails_the_command_and_bad_flags_are_refused() {
    let env = HqEnv::new();
    let path = fake_ssh(&env);
    env.write("nodes", "bad\n");
    let r = env.run_env(&["worker", "deploy-ssh", "nodes"], &[("PATH", &path)]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("Worker exited with code 255 (host bad)"),
        "{}",
        r.stderr
    );
    // Without --show-output the remote output is discarded.
    assert!(!r.stdout.contains("no route") && !r.stderr.contains("no route"));

    let r = env.run_env(
        &["worker", "deploy-ssh", "nodes", "--no-such-flag"],
        &[("PATH", &path)],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--no-such-flag"), "{}", r.stderr);
    assert!(
        std::fs::read_to_string(env.file("ssh.log"))
            .unwrap()
            .lines()
            .count()
            == 1
    );

    env.write("ports", "cn1:http\n");
    let r = env.run_env(&["worker", "deploy-ssh", "ports"], &[("PATH", &path)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("ports:1: invalid port"), "{}", r.stderr);
}
