//! Malformed input and missing servers: clear messages, the spec's exit codes, never a panic.

use crate::utils::HqEnv;

#[test]
fn unknown_flags_are_usage_errors() {
    let env = HqEnv::with_server();
    for args in [
        &["submit", "--no-such-flag", "--", "true"][..],
        &["job", "list", "--bogus"],
        &["worker", "list", "--nope"],
        &["server", "info", "--x"],
        &["no-such-command"],
        &["job", "info"],
        &["submit"],
    ] {
        let r = env.fails(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.is_empty(), "{args:?}");
    }
    // Nothing was submitted.
    let jobs = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    assert_eq!(jobs, serde_json::json!([]));
}

#[test]
fn bad_array_syntax_is_a_usage_error() {
    let env = HqEnv::with_server();
    for bad in [
        "5-1", "1-", "a", "1,,2", "0-10:0", "1-3,2-4", "-1", "all", "last",
    ] {
        let flag = format!("--array={bad}");
        let r = env.fails(&["submit", &flag, "--", "true"]);
        assert_eq!(r.code, 2, "--array {bad}: {}", r.stderr);
        assert!(r.stderr.contains("--array"), "--array {bad}: {}", r.stderr);
    }
    let r = env.fails(&["submit", "--array", "1-3,2-4", "--", "true"]);
    assert!(r.stderr.contains("Ranges overlap"), "{}", r.stderr);
}

#[test]
fn bad_entry_files_are_runtime_errors() {
    let env = HqEnv::with_server();
    let r = env.fails(&["submit", "--each-line", "missing.txt", "--", "true"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("missing.txt"), "{}", r.stderr);
    env.write("obj.json", r#"{"a": 1}"#);
    let r = env.fails(&["submit", "--from-json", "obj.json", "--", "true"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("obj.json: The top element of the provided JSON file has to be an array"),
        "{}",
        r.stderr
    );
    env.write("broken.json", "[1, 2");
    let r = env.fails(&["submit", "--from-json", "broken.json", "--", "true"]);
    assert_eq!(r.code, 1);
    env.write("l.txt", "a\n");
    let r = env.fails(&[
        "submit",
        "--from-json",
        "obj.json",
        "--each-line",
        "l.txt",
        "--",
        "true",
    ]);
    assert_eq!(r.code, 2, "conflicting flags: {}", r.stderr);
    let jobs = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    assert_eq!(jobs, serde_json::json!([]));
}

#[test]
fn invalid_values_are_usage_errors() {
    let env = HqEnv::with_server();
    for args in [
        &["submit", "--time-limit", "forever", "--", "true"][..],
        &["submit", "--priority", "high", "--", "true"],
        &["submit", "--cpus", "two", "--", "true"],
        &["submit", "--cwd", "%{CWD}/x", "--", "true"],
        &["submit", "--name", "a\tb", "--", "true"],
        &["job", "info", "x-y"],
        &["job", "task-ids", "1", "--filter", "nope"],
        &["--output-mode", "yaml", "job", "list"],
        &["server", "wait", "--timeout", "soon"],
    ] {
        let r = env.fails(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn no_server_gives_a_clear_message_and_exit_one() {
    let env = HqEnv::new();
    let sd = env.server_dir.display().to_string();
    for args in [
        &["job", "list"][..],
        &["submit", "--", "true"],
        &["job", "wait", "1"],
        &["jobs"],
        &["worker", "list"],
        &["server", "info"],
        &["server", "stop"],
        &["task", "list", "1"],
    ] {
        let r = env.fails(args);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(
            r.stderr
                .contains(&format!("No running instance of HQ found at \"{sd}\"")),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains("Try to start the server: `hq server start --server-dir "),
            "{}",
            r.stderr
        );
    }
    let r = env.fails(&["--output-mode", "json", "job", "list"]);
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("No running instance of HQ found"),
        "{v}"
    );
    let r = env.fails(&["worker", "start", "--cpus", "1", "--no-detect-resources"]);
    assert_eq!(r.code, 1);
}

#[test]
fn help_and_version_exit_zero() {
    let env = HqEnv::new();
    let r = env.run(&["--version"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.trim(), format!("hq {}", env!("CARGO_PKG_VERSION")));
    for args in [
        &["--help"][..],
        &["submit", "--help"],
        &["job", "list", "-h"],
    ] {
        let r = env.run(args);
        assert_eq!(r.code, 0, "{args:?}");
        assert!(!r.stdout.is_empty());
    }
    let r = env.fails(&["help"]);
    assert_eq!(r.code, 2);
}

#[test]
fn garbage_on_the_client_port_does_not_kill_the_server() {
    use std::io::Write;
    let env = HqEnv::with_server();
    let info = env.run(&["server", "info", "--output-mode", "json"]).json();
    for port in [&info["client_port"], &info["worker_port"]] {
        let port = port.as_u64().unwrap() as u16;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        // A frame header announcing 2 GiB, then junk.
        let _ = s.write_all(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
        drop(s);
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
        drop(s);
    }
    // A silent peer holding both ports open does not block anyone.
    let _idle: Vec<std::net::TcpStream> = [&info["client_port"], &info["worker_port"]]
        .iter()
        .map(|p| std::net::TcpStream::connect(("127.0.0.1", p.as_u64().unwrap() as u16)).unwrap())
        .collect();
    env.ok(&["server", "info"]);
    env.ok(&["job", "list"]);
}
