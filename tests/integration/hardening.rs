//! Small holes closed: `hq run` listens on loopback only, a mistyped `--pin` mode is an error
//! rather than the program to run, and an empty `--cwd` is refused.

use crate::utils::{wait_until, HqEnv};

/// Local addresses (hex, as in /proc/net/tcp) of the listening TCP sockets on `port`.
fn listen_addresses(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (cols.get(1), cols.get(3)) else {
                continue;
            };
            let Some((addr, p)) = local.rsplit_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(p, 16) == Ok(port) {
                found.push(addr.to_string());
            }
        }
    }
    found
}

#[test]
fn hq_run_listens_on_loopback_only() {
    let mut env = HqEnv::new();
    let tmp = env.file("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = env.cmd(&["run", "--", "sleep", "30"]);
    cmd.env("TMPDIR", &tmp);
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    env.adopt(child);
    let mut access = None;
    wait_until("the embedded server's access file", || {
        access = glob::glob(&format!("{}/hq-run-*/server/*/access.json", tmp.display()))
            .unwrap()
            .flatten()
            .next();
        access.is_some()
    });
    let text = std::fs::read_to_string(access.unwrap()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for side in ["client", "worker"] {
        let port = v[side]["port"].as_u64().unwrap() as u16;
        let addrs = listen_addresses(port);
        assert_eq!(addrs, vec!["0100007F".to_string()], "{side} port {port}");
    }
    env.signal(pid, libc::SIGINT);
    env.wait_exit(pid);
}

#[test]
fn a_word_after_bare_pin_that_is_no_pin_mode_nor_program_is_an_error() {
    let env = HqEnv::with_server();
    let r = env.fails(&["submit", "--pin", "bogus", "prog"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("'bogus'") && r.stderr.contains("--pin"),
        "{}",
        r.stderr
    );
    // The bare form still works before a program.
    env.ok(&["submit", "--pin", "sleep", "0"]);
    let jobs = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    assert_eq!(
        jobs.as_array().unwrap().len(),
        1,
        "only the valid submission exists"
    );
    assert_eq!(jobs[0]["name"], "sleep");
}

#[test]
fn an_empty_cwd_is_refused() {
    let env = HqEnv::with_server();
    let r = env.fails(&["submit", "--cwd", "", "--", "true"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`--cwd`") && r.stderr.contains("empty"),
        "{}",
        r.stderr
    );
    let toml = env.write("job.toml", "[[task]]\ncommand = [\"true\"]\ncwd = \"\"\n");
    let r = env.fails(&["job", "submit-file", toml.to_str().unwrap()]);
    assert!(r.stderr.contains("`cwd` must not be empty"), "{}", r.stderr);
    let jobs = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    assert_eq!(jobs, serde_json::json!([]));
}
