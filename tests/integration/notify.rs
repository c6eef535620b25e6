//! `hq task notify` and `hq submit --wait --on-notify`: messages from running tasks reach the
//! waiting client's callback, in order per task, and only from the task they claim to be.

use crate::utils::HqEnv;

const CALLBACK: &str = "bash -c 'echo $HQ_JOB_ID $HQ_TASK_ID $HQ_WORKER_ID $0 >> log'";

#[test]
fn notifications_reach_the_callback_in_order_per_task() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "2"]);
    env.ok(&[
        "submit",
        "--array",
        "1-2",
        "--wait",
        "--on-notify",
        CALLBACK,
        "--",
        "bash",
        "-c",
        "$HQ task notify first && $HQ task notify \"second one\"",
    ]);
    // The wait returns after every callback ran.
    let log = env.read("log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "{log}");
    for task in ["1", "2"] {
        let first = lines.iter().position(|l| *l == format!("1 {task} 1 first"));
        let second = lines
            .iter()
            .position(|l| *l == format!("1 {task} 1 second one"));
        assert!(first.is_some() && first < second, "{log}");
    }
}

#[test]
fn notify_outside_a_task_or_with_a_forged_key_fails() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let r = env.fails(&["task", "notify", "hello"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "HQ_ACCESS_KEY variable not found. Are you running this command inside a task?"
        ),
        "{}",
        r.stderr
    );
    // A key with another secret is refused; a message over 1 KiB too.
    let script = "HQ_ACCESS_KEY=${HQ_ACCESS_KEY%?}x $HQ task notify forged 2> forged.err; echo $? > forged.rc; \
                  $HQ task notify $(head -c 1025 /dev/zero | tr '\\0' a) 2> long.err; echo $? > long.rc";
    env.ok(&[
        "submit",
        "--wait",
        "--on-notify",
        CALLBACK,
        "--",
        "bash",
        "-c",
        script,
    ]);
    assert_eq!(env.read("forged.rc"), "1\n");
    assert!(
        env.read("forged.err").contains("refused"),
        "{}",
        env.read("forged.err")
    );
    assert_eq!(env.read("long.rc"), "1\n");
    assert!(
        env.read("long.err").contains("at most 1024"),
        "{}",
        env.read("long.err")
    );
    assert!(!env.file("log").exists(), "no callback ran");
}

#[test]
fn on_notify_needs_wait() {
    let env = HqEnv::with_server();
    let r = env.fails(&["submit", "--on-notify", "true", "--", "true"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`--on-notify` requires `--wait`"),
        "{}",
        r.stderr
    );
}
