//! `hq server start|stop|info|wait|generate-access` and the server directory layout.

use crate::utils::{wait_until, HqEnv};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn info_prints_json_cli_and_nothing_in_quiet_mode() {
    let env = HqEnv::with_server();
    let v = env.run(&["server", "info", "--output-mode", "json"]).json();
    for key in [
        "server_dir",
        "server_uid",
        "client_host",
        "worker_host",
        "client_port",
        "worker_port",
        "pid",
        "start_date",
        "version",
        "journal_path",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["client_host"], "127.0.0.1");
    assert_eq!(v["server_dir"], serde_json::Value::Null);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["server_uid"].as_str().unwrap().len(), 6);
    let cli = env.ok(&["server", "info"]);
    for row in [
        "Server UID",
        "Client port",
        "Worker port",
        "Pid",
        "Start date",
    ] {
        assert!(cli.contains(row), "no {row} in {cli}");
    }
    assert_eq!(env.ok(&["server", "info", "--output-mode", "quiet"]), "");
}

#[test]
fn start_creates_numbered_run_dirs_and_stop_removes_the_current_link() {
    let mut env = HqEnv::new();
    let pid = env.start_server(&[]);
    let sd = env.server_dir.clone();
    let access = sd.join("001/access.json");
    assert!(access.is_file());
    assert_eq!(mode(&access), 0o400);
    assert_eq!(
        std::fs::read_link(sd.join("hq-current")).unwrap(),
        std::path::PathBuf::from("001")
    );
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&access).unwrap()).unwrap();
    assert_eq!(rec["client"]["secret_key"].as_str().unwrap().len(), 64);
    assert_eq!(rec["worker"]["secret_key"].as_str().unwrap().len(), 64);
    assert!(env.proc_log(0).contains("Server directory"));

    let r = env.run(&["server", "stop"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Stopping server"), "{}", r.stderr);
    assert_eq!(env.wait_exit(pid), 0);
    assert!(std::fs::symlink_metadata(sd.join("hq-current")).is_err());
    assert!(sd.join("001").is_dir(), "run directories are kept");

    let pid2 = env.start_server(&[]);
    assert!(sd.join("002/access.json").is_file());
    assert_eq!(
        std::fs::read_link(sd.join("hq-current")).unwrap(),
        std::path::PathBuf::from("002")
    );
    env.ok(&["server", "stop"]);
    assert_eq!(env.wait_exit(pid2), 0);
}

#[test]
fn quiet_start_prints_the_server_dir() {
    let mut env = HqEnv::new();
    env.start_server(&["--output-mode", "quiet"]);
    let sd = env.server_dir.display().to_string();
    wait_until("the quiet start output", || env.proc_log(0).contains(&sd));
    assert!(!env.proc_log(0).contains("Server UID"));
}

#[test]
fn second_server_on_the_same_dir_is_refused() {
    let env = HqEnv::with_server();
    let r = env.fails(&["server", "start", "--host", "127.0.0.1"]);
    assert_eq!(r.code, 1);
    let sd = env.server_dir.display().to_string();
    assert!(
        r.stderr.contains(&format!(
            "Server at {sd} is already online, please stop it first using `hq server stop --server-dir {sd}`"
        )),
        "{}",
        r.stderr
    );
    env.ok(&["server", "info"]);
    assert!(!env.server_dir.join("002").exists());
}

#[test]
fn wait_times_out_without_a_server() {
    let env = HqEnv::new();
    let r = env.fails(&["server", "wait", "--timeout", "1s"]);
    assert_eq!(r.code, 1);
    let sd = env.server_dir.display().to_string();
    assert!(
        r.stderr.contains(&format!(
            "Timeout after 1s: Could not connect to server at `{sd}`. Make sure that the server is running."
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn wait_returns_once_a_server_starts() {
    let mut env = HqEnv::new();
    let mut waiter = env
        .cmd(&["server", "wait", "--timeout", "50s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    env.start_server(&[]);
    let mut status = None;
    wait_until("server wait to return", || {
        status = waiter.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(0));
    let out = waiter.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("Successfully connected to server"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn generate_access_writes_owner_only_files_and_never_overwrites() {
    let mut env = HqEnv::new();
    let (cp, wp) = (free_port(), free_port());
    let (cp_s, wp_s) = (cp.to_string(), wp.to_string());
    let full = env.file("full.json");
    let client = env.file("client.json");
    let worker = env.file("worker.json");
    let args = [
        "server",
        "generate-access",
        full.to_str().unwrap(),
        "--client-port",
        &cp_s,
        "--worker-port",
        &wp_s,
        "--host",
        "127.0.0.1",
        "--client-file",
        client.to_str().unwrap(),
        "--worker-file",
        worker.to_str().unwrap(),
    ];
    env.ok(&args);
    for f in [&full, &client, &worker] {
        assert_eq!(mode(f), 0o400, "{}", f.display());
    }
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let (f, c, w) = (read(&full), read(&client), read(&worker));
    assert_eq!(f["client"]["port"], cp);
    assert_eq!(f["worker"]["port"], wp);
    assert_eq!(c["client"], f["client"]);
    assert!(c.get("worker").is_none(), "client-only file: {c}");
    assert_eq!(w["worker"], f["worker"]);
    assert!(w.get("client").is_none(), "worker-only file: {w}");
    assert_eq!(c["version"], f["version"]);
    // Partial files carry only the version and their part.
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&c), ["client", "version"]);
    assert_eq!(keys(&w), ["version", "worker"]);
    assert!(f["server_uid"].as_str().is_some_and(|u| !u.is_empty()));

    let before = std::fs::read_to_string(&full).unwrap();
    let r = env.fails(&args);
    assert_eq!(r.code, 1);
    assert_eq!(std::fs::read_to_string(&full).unwrap(), before);

    // The server reuses ports and UID of the generated file.
    env.start_server(&["--access-file", full.to_str().unwrap()]);
    let info = env.run(&["server", "info", "--output-mode", "json"]).json();
    assert_eq!(info["client_port"], cp);
    assert_eq!(info["worker_port"], wp);
    assert_eq!(info["server_uid"], f["server_uid"]);
    // A client with only the client-only file (named access.json) can connect.
    let only = env.path().join("client-only");
    std::fs::create_dir(&only).unwrap();
    std::fs::copy(&client, only.join("access.json")).unwrap();
    env.ok(&["server", "info", "--server-dir", only.to_str().unwrap()]);
    // ... but a worker cannot use it.
    let r = env.fails(&[
        "worker",
        "start",
        "--cpus",
        "1",
        "--no-detect-resources",
        "--server-dir",
        only.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
}

#[test]
fn a_stale_current_link_of_a_killed_server_is_replaced() {
    let mut env = HqEnv::new();
    let pid = env.start_server(&[]);
    env.signal(pid, libc::SIGKILL);
    env.wait_exit(pid);
    // The link survives a crash; clients report the unreachable server.
    assert!(env.server_dir.join("hq-current").is_dir());
    let r = env.fails(&["job", "list"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is unreachable"), "{}", r.stderr);
    env.start_server(&[]);
    assert_eq!(
        std::fs::read_link(env.server_dir.join("hq-current")).unwrap(),
        std::path::PathBuf::from("002")
    );
    env.ok(&["job", "list"]);
}

#[test]
fn debug_dump_writes_the_scheduler_state_as_json() {
    let mut env = HqEnv::with_server();
    let job = env.submit(&["--array", "1-3", "--cpus", "2", "--", "true"]);
    env.start_worker(&["--cpus", "1"]);
    env.ok(&["server", "debug-dump", "dump.json"]);
    let dump: serde_json::Value = serde_json::from_str(&env.read("dump.json")).unwrap();
    // The tasks wait: the worker has one CPU, they want two.
    assert_eq!(dump["hyperqueue"]["jobs"][0]["id"], job);
    assert_eq!(dump["hyperqueue"]["jobs"][0]["waiting"], 3);
    let tako = &dump["tako"];
    assert_eq!(tako["ready_tasks"], 3);
    assert_eq!(tako["queues"][0]["job"], job);
    assert_eq!(tako["queues"][0]["ready"], 3);
    assert_eq!(tako["workers"][0]["free_cpus"], "1");
    let r = env.fails(&["server", "debug-dump", "/nonexistent-dir/x.json"]);
    assert!(
        r.stderr.contains("cannot write /nonexistent-dir/x.json"),
        "{}",
        r.stderr
    );
}
