//! Access files and authentication: wrong or missing secrets, version mismatch.

use crate::utils::HqEnv;

/// Copies the running server's access.json into `<tmp>/<name>/access.json`, edited by `edit`.
fn copied_access(
    env: &HqEnv,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(env.server_dir.join("hq-current/access.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut v);
    let dir = env.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("access.json"), v.to_string()).unwrap();
    dir
}

fn flip_key(key: &serde_json::Value) -> serde_json::Value {
    let k = key.as_str().unwrap();
    let first = if k.starts_with('0') { "1" } else { "0" };
    format!("{first}{}", &k[1..]).into()
}

#[test]
fn wrong_client_secret_is_refused_and_the_server_keeps_running() {
    let env = HqEnv::with_server();
    let dir = copied_access(&env, "wrong", |v| {
        v["client"]["secret_key"] = flip_key(&v["client"]["secret_key"]);
    });
    let r = env.fails(&["job", "list", "--server-dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(!r.stderr.is_empty());
    let r = env.fails(&[
        "submit",
        "--server-dir",
        dir.to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!(r.code, 1);
    // The real client still works and nothing was submitted.
    env.ok(&["server", "info"]);
    let jobs = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    assert_eq!(jobs, serde_json::json!([]));
    // The copy with the right key works, so the copy itself is fine.
    let good = copied_access(&env, "good", |_| {});
    env.ok(&["job", "list", "--server-dir", good.to_str().unwrap()]);
}

#[test]
fn client_without_a_key_is_refused_by_a_keyed_server() {
    let env = HqEnv::with_server();
    let dir = copied_access(&env, "nokey", |v| {
        v["client"]["secret_key"] = serde_json::Value::Null;
    });
    let r = env.fails(&["job", "list", "--server-dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    env.ok(&["server", "info"]);
}

#[test]
fn wrong_worker_secret_is_refused() {
    let mut env = HqEnv::with_server();
    let dir = copied_access(&env, "wrong-worker", |v| {
        v["worker"]["secret_key"] = flip_key(&v["worker"]["secret_key"]);
    });
    let r = env.fails(&[
        "worker",
        "start",
        "--cpus",
        "1",
        "--no-detect-resources",
        "--server-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(env.worker_count(), 0);
    // A correct worker can still register.
    env.start_worker(&[]);
    assert_eq!(env.worker_count(), 1);
}

#[test]
fn missing_access_file_means_no_server() {
    let env = HqEnv::new();
    let r = env.fails(&["job", "list"]);
    assert_eq!(r.code, 1);
    let sd = env.server_dir.display().to_string();
    assert!(
        r.stderr
            .contains(&format!("No running instance of HQ found at \"{sd}\"")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--server-dir"), "{}", r.stderr);
}

#[test]
fn access_file_of_a_dead_server_is_unreachable() {
    let mut env = HqEnv::new();
    let pid = env.start_server(&[]);
    // Keep a copy of the access file, then stop the server.
    let dir = copied_access(&env, "stale", |_| {});
    env.ok(&["server", "stop"]);
    env.wait_exit(pid);
    let r = env.fails(&["job", "list", "--server-dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("Access token found but HQ server"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("is unreachable"), "{}", r.stderr);
}

#[test]
fn version_mismatch_names_both_versions() {
    let env = HqEnv::with_server();
    let dir = copied_access(&env, "old", |v| {
        v["version"] = "0.1.0".into();
    });
    let r = env.fails(&["job", "list", "--server-dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    let expected = format!(
        "Hyperqueue version mismatch detected. Access record contains version 0.1.0, but the current version is {}.",
        env!("CARGO_PKG_VERSION")
    );
    assert!(r.stderr.contains(&expected), "{}", r.stderr);
    let r = env.fails(&[
        "worker",
        "start",
        "--cpus",
        "1",
        "--no-detect-resources",
        "--server-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(r.stderr.contains(&expected), "{}", r.stderr);
}

#[test]
fn server_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = HqEnv::with_server();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.server_dir), 0o700);
    assert_eq!(mode(&env.server_dir.join("001")), 0o700);
    assert_eq!(mode(&env.server_dir.join("001/access.json")), 0o400);
}

#[test]
fn a_worker_on_the_client_port_is_refused() {
    let env = HqEnv::with_server();
    let dir = copied_access(&env, "crossed", |v| {
        v["worker"] = v["client"].clone();
    });
    let r = env.fails(&[
        "worker",
        "start",
        "--cpus",
        "1",
        "--no-detect-resources",
        "--server-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(env.worker_count(), 0);
    env.ok(&["server", "info"]);
}
