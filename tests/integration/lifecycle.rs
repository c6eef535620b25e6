//! Process lifecycles across components: server shutdown, worker death, lost connections.

use crate::utils::{pid_alive, read_pid, wait_until, HqEnv};

#[test]
fn server_stop_stops_workers_and_kills_their_tasks() {
    let mut env = HqEnv::new();
    let server = env.start_server(&[]);
    let worker = env.start_worker(&[]);
    env.submit(&[
        "--",
        "bash",
        "-c",
        "echo $$ > task.pid; sleep 1000 & echo $! > child.pid; wait",
    ]);
    let task = read_pid(&env, "task.pid");
    let child = read_pid(&env, "child.pid");
    env.ok(&["server", "stop"]);
    assert_eq!(env.wait_exit(server), 0);
    // A worker whose server went away exits with 1, stopped or killed alike (as the reference).
    assert_eq!(env.wait_exit(worker), 1);
    wait_until("the task to die", || !pid_alive(task));
    wait_until("the task's child to die", || !pid_alive(child));
    assert!(std::fs::symlink_metadata(env.server_dir.join("hq-current")).is_err());
}

#[test]
fn sigint_and_sigterm_stop_the_server_cleanly() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let mut env = HqEnv::new();
        let server = env.start_server(&[]);
        env.signal(server, sig);
        assert_eq!(env.wait_exit(server), 0, "signal {sig}");
        assert!(
            std::fs::symlink_metadata(env.server_dir.join("hq-current")).is_err(),
            "signal {sig}"
        );
        let r = env.fails(&["server", "info"]);
        assert_eq!(r.code, 1);
    }
}

#[test]
fn killed_worker_takes_its_task_down() {
    let mut env = HqEnv::with_server();
    let worker = env.start_worker(&[]);
    env.submit(&["--", "bash", "-c", "echo $$ > task.pid; exec sleep 1000"]);
    let task = read_pid(&env, "task.pid");
    env.signal(worker, libc::SIGKILL);
    env.wait_exit(worker);
    wait_until("the orphaned task to get its parent-death signal", || {
        !pid_alive(task)
    });
    wait_until("CONNECTION LOST", || {
        env.ok(&["worker", "list", "--all", "--output-mode", "quiet"]) == "1 CONNECTION LOST\n"
    });
}

#[test]
fn sigterm_stops_a_worker_and_requeues_its_task() {
    let mut env = HqEnv::with_server();
    let worker = env.start_worker(&[]);
    let job = env.submit(&["--", "bash", "-c", "echo $$ > task.pid; exec sleep 1000"]);
    let task = read_pid(&env, "task.pid");
    env.signal(worker, libc::SIGTERM);
    env.wait_exit(worker);
    wait_until("the task to die", || !pid_alive(task));
    wait_until("the task to wait again", || {
        env.task_states(job) == vec![(0, "waiting".to_string())]
    });
    // SIGTERM leaves without a goodbye, as a killed worker: the server sees the connection go.
    assert_eq!(
        env.ok(&["worker", "list", "--all", "--output-mode", "quiet"]),
        "1 CONNECTION LOST\n"
    );
}

#[test]
fn sigint_stops_a_worker_orderly() {
    let mut env = HqEnv::with_server();
    let worker = env.start_worker(&[]);
    env.signal(worker, libc::SIGINT);
    assert_eq!(env.wait_exit(worker), 0);
    wait_until("STOPPED", || {
        env.ok(&["worker", "list", "--all", "--output-mode", "quiet"]) == "1 STOPPED\n"
    });
}

#[test]
fn job_wait_fails_when_the_server_goes_away() {
    let mut env = HqEnv::new();
    let server = env.start_server(&[]);
    let job = env.submit(&["--", "true"]);
    let mut waiter = env
        .cmd(&["job", "wait", &job.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut submit_wait = env
        .cmd(&["submit", "--wait", "--", "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Both clients are connected once the second job exists.
    wait_until("the second job", || {
        env.run(&["job", "info", "2", "--output-mode", "json"])
            .json()
            .as_array()
            .is_some_and(|a| a.len() == 1)
    });
    env.signal(server, libc::SIGINT);
    env.wait_exit(server);
    for (name, child) in [
        ("job wait", &mut waiter),
        ("submit --wait", &mut submit_wait),
    ] {
        let mut code = None;
        wait_until(name, || {
            code = child.try_wait().unwrap().map(|s| s.code());
            code.is_some()
        });
        assert_eq!(code.unwrap(), Some(1), "{name}");
    }
    let out = waiter.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn finish_running_worker_completes_its_task_after_the_server_is_gone() {
    let mut env = HqEnv::new();
    let server = env.start_server(&[]);
    // Without a journal a new server would not know the task: the worker does not wait for one.
    let worker = env.start_worker(&["--on-server-lost", "finish-running"]);
    env.submit(&[
        "--",
        "bash",
        "-c",
        "touch started; while [ ! -e go ]; do sleep 0.05; done; touch finished",
    ]);
    wait_until("the task to start", || env.file("started").exists());
    // Kill the server without letting it stop the worker.
    env.signal(server, libc::SIGKILL);
    env.wait_exit(server);
    // It keeps running until its task is done...
    assert!(pid_alive(worker as i32));
    env.write("go", "");
    wait_until("the task to finish", || env.file("finished").exists());
    // ...then exits with 1, at once.
    assert_eq!(env.wait_exit(worker), 1);
}

#[test]
fn stop_policy_worker_kills_its_task_when_the_server_is_gone() {
    let mut env = HqEnv::new();
    let server = env.start_server(&[]);
    let worker = env.start_worker(&[]);
    env.submit(&["--", "bash", "-c", "echo $$ > task.pid; exec sleep 1000"]);
    let task = read_pid(&env, "task.pid");
    env.signal(server, libc::SIGKILL);
    env.wait_exit(server);
    assert_eq!(env.wait_exit(worker), 1);
    wait_until("the task to die", || !pid_alive(task));
}
