//! Hostile input: selectors as wide as the ID space, oversized submissions, absurd numbers, and
//! strangers sending huge frames before authentication. Each attack is answered at once while
//! the server stays under 100 MiB and `hq job list` answers within a second.

use crate::utils::{assert_responsive, assert_small, wait_until, HqEnv};
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Long enough for any answer on a loaded 2-core machine; far shorter than what expanding
/// four billion IDs takes.
const ANSWER: Duration = Duration::from_secs(20);

fn spawn_client(env: &HqEnv, args: &[&str]) -> Child {
    env.cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a client started by [`spawn_client`]; returns (exit code, stderr).
fn finish(mut child: Child, what: &str) -> (i32, String) {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > ANSWER {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` got no answer within {ANSWER:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn selectors_as_wide_as_the_id_space_are_answered_at_once() {
    let mut env = HqEnv::new();
    let server = env.start_server(&[]);
    for _ in 0..3 {
        env.submit(&["--", "sleep", "100"]);
    }
    let attacks: &[&[&str]] = &[
        &["job", "info", "0-4294967295"],
        &["task", "list", "0-4294967295"],
        &["task", "info", "1", "0-4294967295"],
        &["job", "task-ids", "0-4294967295"],
        &["worker", "stop", "0-4294967295"],
        &["job", "close", "0-4294967295"],
        &["job", "cancel", "1-100000000"],
        &["job", "cancel", "0-4294967295"],
        &["job", "forget", "0-4294967295", "--filter", "finished"],
        &["job", "wait", "0-4294967295"],
    ];
    // All at once, so the server is answering them while `hq job list` asks.
    let running: Vec<Child> = attacks.iter().map(|a| spawn_client(&env, a)).collect();
    assert_responsive(&env, "during wide selectors");
    let results: Vec<(i32, String)> = running
        .into_iter()
        .zip(attacks)
        .map(|(c, a)| finish(c, &a.join(" ")))
        .collect();
    assert_small(server, "after wide selectors");
    assert_responsive(&env, "after wide selectors");
    for ((code, stderr), args) in results.iter().zip(attacks) {
        assert_eq!(*code, 0, "`hq {}`: {stderr}", args.join(" "));
    }
    // Unknown IDs are reported as ranges, never one line per ID.
    let info = &results[0].1;
    assert!(info.contains("Jobs 0,4-4294967295 not found"), "{info}");
    assert_eq!(info.lines().count(), 1, "{info}");
    assert!(
        results[2].1.contains("Tasks 1-4294967295 not found"),
        "{}",
        results[2].1
    );
    let cancel = env.run(&["job", "cancel", "0-4294967295"]);
    assert!(
        cancel
            .stderr
            .contains("Canceling jobs 0,4-4294967295 failed; jobs not found"),
        "{}",
        cancel.stderr
    );
    let jobs = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    let canceled: Vec<u64> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["task_stats"]["canceled"].as_u64().unwrap())
        .collect();
    assert_eq!(canceled, vec![1, 1, 1]);
}

#[test]
fn submissions_over_the_task_limit_and_absurd_numbers_are_refused() {
    let mut env = HqEnv::new();
    let server = env.start_server(&[]);
    let huge = spawn_client(&env, &["submit", "--array", "0-4294967295", "--", "true"]);
    assert_responsive(&env, "during a submission of 2^32 tasks");
    let (code, stderr) = finish(huge, "submit --array 0-4294967295");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("4294967296 tasks"), "{stderr}");
    assert!(stderr.contains("at most 50000000 tasks"), "{stderr}");
    assert!(stderr.contains("--max-tasks-per-job"), "{stderr}");
    assert_small(server, "after a submission of 2^32 tasks");
    assert_responsive(&env, "after a submission of 2^32 tasks");

    // With a limit of 1000, exactly the limit is fine; an open job counts what it holds.
    let mut env = HqEnv::new();
    let server = env.start_server(&["--max-tasks-per-job", "1000"]);
    let r = env.fails(&["submit", "--array", "0-1000", "--", "true"]);
    assert!(r.stderr.contains("at most 1000 tasks"), "{}", r.stderr);
    env.submit(&["--array", "1-1000", "--", "true"]);
    let open = env.ok(&["--output-mode", "quiet", "job", "open"]);
    let open = open.trim();
    env.ok(&["submit", "--job", open, "--array", "0-599", "--", "true"]);
    let r = env.fails(&["submit", "--job", open, "--array", "600-1199", "--", "true"]);
    assert!(
        r.stderr.contains("600 existing + 600 submitted"),
        "{}",
        r.stderr
    );
    assert_small(server, "after oversized submissions");
    assert_responsive(&env, "after oversized submissions");

    let absurd: &[(&[&str], &str)] = &[
        (&["--cpus", "4294967296"], "at most 4294967295"),
        (
            &["--resource", "gpus=99999999999999999999"],
            "at most 4294967295",
        ),
        (&["--time-limit", "99999999999999h"], "at most 10 years"),
        (&["--crash-limit", "70000"], "from 1 to 65535"),
        (&["--max-retries", "70000"], "70000"),
        (&["--array", "0-4294967295:2"], "at most 1000000 IDs"),
    ];
    for (flags, message) in absurd {
        let mut args = vec!["submit"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", "true"]);
        let r = env.run_within(&args, ANSWER);
        assert_eq!(
            r.code,
            2,
            "`{}` must be a usage error: {}",
            flags.join(" "),
            r.stderr
        );
        assert!(
            r.stderr.contains(message),
            "`{}`: {}",
            flags.join(" "),
            r.stderr
        );
    }
    let jobs = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    assert_eq!(
        jobs.as_array().unwrap().len(),
        2,
        "only the two valid jobs exist"
    );
}

/// Port of one side of the running server, from its access file.
fn port(env: &HqEnv, side: &str) -> u16 {
    let text = std::fs::read_to_string(env.server_dir.join("hq-current/access.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v[side]["port"].as_u64().unwrap() as u16
}

/// A stranger announcing a 120 MiB frame and sending data until the server hangs up; returns
/// how many bytes it could send.
fn flood(port: u16) -> u64 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let chunk = vec![0x41u8; 64 * 1024];
    let mut sent = 0u64;
    if s.write_all(&0x0780_0000u32.to_be_bytes()).is_err() {
        return 0;
    }
    while sent < 16 << 20 {
        match s.write(&chunk) {
            Ok(n) if n > 0 => sent += n as u64,
            _ => break,
        }
    }
    sent
}

#[test]
fn huge_frames_before_authentication_are_refused_without_buffering() {
    let mut env = HqEnv::new();
    let server = env.start_server(&[]);
    let ports = [port(&env, "client"), port(&env, "worker")];
    let attackers: Vec<_> = (0..32)
        .map(|i| {
            let p = ports[i % 2];
            std::thread::spawn(move || flood(p))
        })
        .collect();
    assert_responsive(&env, "during a flood of huge frames");
    let sent: Vec<u64> = attackers.into_iter().map(|a| a.join().unwrap()).collect();
    assert_small(server, "after a flood of huge frames");
    assert_responsive(&env, "after a flood of huge frames");
    // The server hung up long before 16 MiB per connection (socket buffers take a few MiB).
    assert!(sent.iter().all(|s| *s < 16 << 20), "{sent:?}");
    let log = env.proc_log(0);
    let refusals = log.matches("refused a ").count();
    assert!(refusals >= 1, "{log}");
    assert!(
        refusals <= 4,
        "the log is rate-limited: {refusals} lines\n{log}"
    );
    assert!(log.contains("larger than 4096 bytes"), "{log}");
    // A real worker still gets in.
    env.start_worker(&[]);
    wait_until("the worker to be listed", || env.worker_count() == 1);
}
