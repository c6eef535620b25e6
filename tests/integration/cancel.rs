//! Cancel and time limit stop the task's whole process group; worker stop requeues tasks.

use crate::utils::{pid_alive, read_pid, wait_until, HqEnv};

/// A task that records its own PID and the PID of a background child, then waits.
const TREE: &str = "echo $$ > task.pid; sleep 1000 & echo $! > child.pid; wait";

#[test]
fn cancel_kills_the_task_and_its_children() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&["--", "bash", "-c", TREE]);
    let task = read_pid(&env, "task.pid");
    let child = read_pid(&env, "child.pid");
    assert!(pid_alive(task) && pid_alive(child));
    env.ok(&["job", "cancel", &job.to_string()]);
    wait_until("the task process to die", || !pid_alive(task));
    wait_until("the child process to die", || !pid_alive(child));
    env.wait_job(job);
    assert_eq!(env.task_states(job), vec![(0, "canceled".to_string())]);
}

#[test]
fn cancel_kills_a_child_that_traps_sigint() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let script = "echo $$ > task.pid; \
                  bash -c 'trap \"\" INT; echo $$ > child.pid; while true; do sleep 0.2; done' & \
                  wait";
    let job = env.submit(&["--", "bash", "-c", script]);
    let task = read_pid(&env, "task.pid");
    let child = read_pid(&env, "child.pid");
    env.ok(&["job", "cancel", &job.to_string()]);
    wait_until("the task process to die", || !pid_alive(task));
    wait_until("the SIGINT-trapping child to die", || !pid_alive(child));
    assert_eq!(env.task_states(job), vec![(0, "canceled".to_string())]);
}

#[test]
fn cancel_sends_sigint_once_then_sigkill() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    // The handler logs each SIGINT and then blocks, so only SIGKILL ends the task; a second
    // SIGINT would run it again while it blocks.
    let script = "import os, signal, time\n\
                  def on_int(sig, frame):\n    \
                  open('ints', 'a').write('int\\n')\n    \
                  time.sleep(3600)\n\
                  signal.signal(signal.SIGINT, on_int)\n\
                  open('task.pid', 'w').write(str(os.getpid()))\n\
                  time.sleep(3600)\n";
    let job = env.submit(&["--", "python3", "-c", script]);
    let task = read_pid(&env, "task.pid");
    env.ok(&["job", "cancel", &job.to_string()]);
    wait_until("the SIGINT-handling task to die", || !pid_alive(task));
    assert_eq!(env.read("ints"), "int\n", "one SIGINT, then SIGKILL");
}

#[test]
fn time_limit_kills_the_process_group() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&["--time-limit", "2s", "--", "bash", "-c", TREE]);
    let task = read_pid(&env, "task.pid");
    let child = read_pid(&env, "child.pid");
    env.wait_job(job);
    wait_until("the task process to die", || !pid_alive(task));
    wait_until("the child process to die", || !pid_alive(child));
    let t = env
        .run(&["task", "info", "1", "0", "--output-mode", "json"])
        .json()[0]
        .clone();
    assert_eq!(t["state"], "failed");
    assert_eq!(t["error"], "Time limit reached");
}

#[test]
fn cancel_of_waiting_tasks_is_immediate_and_keeps_finished_ones() {
    let mut env = HqEnv::with_server();
    env.start_worker(&["--cpus", "1"]);
    let job = env.submit(&[
        "--array",
        "0-2",
        "--",
        "bash",
        "-c",
        "if [ $HQ_TASK_ID = 0 ]; then exit 0; fi; echo $$ > p$HQ_TASK_ID; sleep 1000",
    ]);
    read_pid(&env, "p1");
    let r = env.run(&["job", "cancel", &job.to_string()]);
    assert!(
        r.stderr
            .contains("Job 1 canceled (2 tasks canceled, 1 tasks already finished)"),
        "{}",
        r.stderr
    );
    env.wait_job(job);
    let states: Vec<String> = env.task_states(job).into_iter().map(|t| t.1).collect();
    assert_eq!(states, vec!["finished", "canceled", "canceled"]);
    assert!(!env.file("p2").exists(), "task 2 never started");
}

#[test]
fn stopped_worker_requeues_its_running_task() {
    let mut env = HqEnv::with_server();
    let w1 = env.start_worker(&[]);
    let job = env.submit(&[
        "--",
        "bash",
        "-c",
        "echo $HQ_INSTANCE_ID >> inst; [ $(wc -l < inst) -ge 2 ] || { echo $$ > task.pid; sleep 1000; }",
    ]);
    let task = read_pid(&env, "task.pid");
    env.ok(&["worker", "stop", "1"]);
    env.wait_exit(w1);
    wait_until("the task of the stopped worker to die", || !pid_alive(task));
    wait_until("the task to be waiting again", || {
        env.task_states(job) == vec![(0, "waiting".to_string())]
    });
    env.start_worker(&[]);
    env.wait_job(job);
    assert_eq!(env.task_states(job), vec![(0, "finished".to_string())]);
    let inst: Vec<u64> = env
        .read("inst")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(inst.len(), 2);
    assert!(inst[1] > inst[0]);
    let t = env
        .run(&["task", "info", "1", "0", "--output-mode", "json"])
        .json()[0]
        .clone();
    assert_eq!(t["crash_count"], 0, "a stopped worker is not a crash: {t}");
}

#[test]
fn time_limit_kills_a_task_that_ignores_sigint() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&[
        "--time-limit",
        "1s",
        "--",
        "bash",
        "-c",
        "trap '' INT; echo $$ > task.pid; while true; do sleep 0.1; done",
    ]);
    let task = read_pid(&env, "task.pid");
    env.wait_job(job);
    wait_until("the SIGINT-ignoring task to die", || !pid_alive(task));
    let t = env
        .run(&["task", "info", "1", "0", "--output-mode", "json"])
        .json()[0]
        .clone();
    assert_eq!(t["error"], "Time limit reached");
}
