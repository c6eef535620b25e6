//! Nothing lost: journal restore after kill -9 of the server, worker loss, crash limits, torn
//! journal tails.

use crate::utils::{wait_until, HqEnv};

fn count_lines(env: &HqEnv, name: &str) -> std::collections::BTreeMap<String, usize> {
    let text = std::fs::read_to_string(env.file(name)).unwrap_or_default();
    let mut counts = std::collections::BTreeMap::new();
    for line in text.lines() {
        *counts.entry(line.to_string()).or_insert(0) += 1;
    }
    counts
}

fn finished_count(env: &HqEnv, job: u32) -> usize {
    env.task_states(job)
        .iter()
        .filter(|(_, s)| s == "finished")
        .count()
}

#[test]
fn killed_server_restarts_from_journal_and_runs_each_task_once() {
    let mut env = HqEnv::new();
    let journal = env.file("journal.bin");
    let journal = journal.to_str().unwrap().to_string();
    let server = env.start_server(&["--journal", &journal]);
    env.start_worker(&["--cpus", "2"]);
    let out = env.file("out.txt");
    let script = format!("sleep 0.2; echo $HQ_TASK_ID >> {}", out.display());
    let job = env.submit(&["--array", "1-12", "--", "bash", "-c", &script]);

    // Kill the server at several points of the running job, restarting it each time.
    let mut server = server;
    for round in 0..3 {
        let target = 2 + round * 3;
        wait_until("some tasks to finish", || {
            finished_count(&env, job) >= target
        });
        env.signal(server, libc::SIGKILL);
        env.wait_exit(server);
        server = env.start_server(&["--journal", &journal]);
        env.start_worker(&["--cpus", "2"]);
    }
    env.wait_job(job);
    let counts = count_lines(&env, "out.txt");
    assert_eq!(counts.len(), 12, "every task ran: {counts:?}");
    assert!(
        counts.values().all(|c| *c == 1),
        "each side effect happened once: {counts:?}"
    );
    assert!(env.task_states(job).iter().all(|(_, s)| s == "finished"));
    // Numbering continues after a restore.
    let next = env.submit(&["--", "true"]);
    assert_eq!(next, job + 1);
}

#[test]
fn restored_server_keeps_open_jobs_names_and_finished_state() {
    let mut env = HqEnv::new();
    let journal = env.file("j.bin").display().to_string();
    let server = env.start_server(&["--journal", &journal]);
    env.start_worker(&[]);
    let done = env.submit(&["--name", "first", "--", "true"]);
    env.wait_job(done);
    let failed = env.submit(&["--name", "broken", "--", "bash", "-c", "exit 3"]);
    env.wait_job(failed);
    env.ok(&["job", "open", "--name", "campaign"]);
    env.signal(server, libc::SIGKILL);
    env.wait_exit(server);
    env.start_server(&["--journal", &journal]);
    let jobs = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0]["name"], "first");
    assert_eq!(jobs[0]["task_stats"]["finished"], 1);
    assert_eq!(jobs[1]["task_stats"]["failed"], 1);
    assert_eq!(jobs[2]["name"], "campaign");
    assert_eq!(jobs[2]["is_open"], true);
    let tasks = env
        .run(&["task", "list", &failed.to_string(), "--output-mode", "json"])
        .json();
    let error = tasks[failed.to_string()][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("exit code 3"), "error restored: {error}");
}

#[test]
fn torn_journal_tail_is_cut_with_a_warning() {
    let mut env = HqEnv::new();
    let journal = env.file("j.bin");
    let jpath = journal.display().to_string();
    let server = env.start_server(&["--journal", &jpath]);
    let job = env.submit(&["--", "true"]);
    env.ok(&["server", "stop"]);
    env.wait_exit(server);
    // Simulate a crash in the middle of writing a record.
    let mut data = std::fs::read(&journal).unwrap();
    data.extend_from_slice(&[0x13, 0x37, 0x00]);
    std::fs::write(&journal, &data).unwrap();
    let restarted = env.start_server(&["--journal", &jpath]);
    let index = 1; // second spawned process
    let _ = restarted;
    assert!(
        env.proc_log(index).contains("not fully written"),
        "log: {}",
        env.proc_log(index)
    );
    let jobs = env
        .run(&["job", "list", "--all", "--output-mode", "json"])
        .json();
    assert_eq!(jobs[0]["id"], job);
}

#[test]
fn corrupted_journal_middle_refuses_to_start() {
    let mut env = HqEnv::new();
    let journal = env.file("j.bin");
    let jpath = journal.display().to_string();
    let server = env.start_server(&["--journal", &jpath]);
    for _ in 0..3 {
        env.submit(&["--", "true"]);
    }
    env.ok(&["server", "stop"]);
    env.wait_exit(server);
    let mut data = std::fs::read(&journal).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0xff;
    std::fs::write(&journal, &data).unwrap();
    let r = env.fails(&["server", "start", "--journal", &jpath]);
    assert!(
        r.stderr.contains("corrupted at byte offset"),
        "stderr: {}",
        r.stderr
    );
}

#[test]
fn killed_worker_mid_task_requeues_onto_another_worker() {
    let mut env = HqEnv::with_server();
    let w1 = env.start_worker(&["--cpus", "1"]);
    let job = env.submit(&["--array", "1-3", "--", "bash", "-c", "sleep 0.5; echo done"]);
    wait_until("a task to run on worker 1", || {
        env.task_states(job).iter().any(|(_, s)| s == "running")
    });
    env.signal(w1, libc::SIGKILL);
    env.wait_exit(w1);
    env.start_worker(&["--cpus", "1"]);
    env.wait_job(job);
    assert!(env.task_states(job).iter().all(|(_, s)| s == "finished"));
    let info = env
        .run(&["task", "list", &job.to_string(), "--output-mode", "json"])
        .json();
    let restarted = info[job.to_string()]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["instance_id"].as_u64() == Some(1));
    assert!(
        restarted,
        "the interrupted task ran again with a new instance ID: {info}"
    );
}

#[test]
fn task_that_kills_its_workers_fails_at_the_crash_limit() {
    let mut env = HqEnv::with_server();
    let w1 = env.start_worker(&[]);
    // The task's parent is the worker process: killing it loses the worker.
    let job = env.submit(&[
        "--crash-limit",
        "2",
        "--",
        "bash",
        "-c",
        "kill -9 $PPID; sleep 5",
    ]);
    env.wait_exit(w1);
    // The second worker dies as soon as it gets the task, maybe before it is ever listed.
    let w2 = env.spawn(&["worker", "start", "--no-detect-resources", "--cpus", "2"]);
    env.wait_exit(w2);

    env.wait_job(job);
    let v = env
        .run(&["task", "list", &job.to_string(), "--output-mode", "json"])
        .json();
    let task = &v[job.to_string()][0];
    assert_eq!(task["state"], "failed");
    let error = task["error"].as_str().unwrap();
    assert!(
        error.contains("the task has occurred 2 times"),
        "error: {error}"
    );
}

#[test]
fn cancel_kills_a_descendant_that_left_the_process_group() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    // `setsid` starts a new session and process group; the double fork detaches it from the task.
    let script = "setsid bash -c 'trap \"\" INT; echo $$ > escaped.pid; while true; do sleep 0.2; done' & sleep 1000";
    let job = env.submit(&["--", "bash", "-c", script]);
    let pid = crate::utils::read_pid(&env, "escaped.pid");
    env.ok(&["job", "cancel", &job.to_string()]);
    wait_until("the escaped process to die", || {
        !crate::utils::pid_alive(pid)
    });
}

#[test]
fn garbage_on_both_ports_leaves_the_server_running() {
    use std::io::Write;
    let mut env = HqEnv::with_server();
    let access: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.server_dir.join("hq-current/access.json")).unwrap(),
    )
    .unwrap();
    for side in ["client", "worker"] {
        let port = access[side]["port"].as_u64().unwrap() as u16;
        let payloads: [&[u8]; 4] = [
            b"",
            b"GET / HTTP/1.0\r\n\r\n",
            &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
            &[0, 0, 0, 3, 9, 9],
        ];
        for payload in payloads {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let _ = s.write_all(payload);
        }
    }
    env.start_worker(&[]);
    let job = env.submit(&["--", "true"]);
    env.wait_job(job);
    assert_eq!(env.task_states(job), vec![(0, "finished".to_string())]);
}

#[test]
fn finish_running_worker_reconnects_and_reports_work_done_while_the_server_was_away() {
    let mut env = HqEnv::new();
    let journal = env.file("j.bin").display().to_string();
    let server = env.start_server(&["--journal", &journal]);
    env.start_worker(&["--cpus", "2", "--on-server-lost", "finish-running"]);
    let out = env.file("out.txt");
    let script = format!(
        "echo started > started-$HQ_TASK_ID; sleep 1; echo $HQ_TASK_ID >> {}",
        out.display()
    );
    let job = env.submit(&["--array", "1-2", "--", "bash", "-c", &script]);
    wait_until("both tasks to start", || {
        env.file("started-1").exists() && env.file("started-2").exists()
    });
    env.signal(server, libc::SIGKILL);
    env.wait_exit(server);
    // The worker lets its tasks finish without a server.
    wait_until("the tasks to finish", || {
        count_lines(&env, "out.txt").len() == 2
    });
    env.start_server(&["--journal", &journal]);
    wait_until("the worker to reconnect", || env.worker_count() == 1);
    env.wait_job(job);
    assert!(env.task_states(job).iter().all(|(_, s)| s == "finished"));
    let counts = count_lines(&env, "out.txt");
    assert!(
        counts.values().all(|c| *c == 1),
        "no task ran twice: {counts:?}"
    );
}

#[test]
fn journal_export_replay_stream_and_prune() {
    let mut env = HqEnv::new();
    let journal = env.file("j.bin").display().to_string();
    env.start_server(&["--journal", &journal]);
    env.start_worker(&[]);
    let stream = env.spawn(&["journal", "stream"]);
    let job = env.submit(&["--array", "1-3", "--", "true"]);
    env.wait_job(job);
    let replay = env.ok(&["journal", "replay"]);
    let types: Vec<String> = replay
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(types.contains(&"job-created".to_string()), "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "task-finished").count(), 3);
    let stream_index = 2; // server, worker, stream
    wait_until("the live stream to see the tasks finish", || {
        env.proc_log(stream_index).matches("task-finished").count() == 3
    });
    let _ = stream;
    env.ok(&["journal", "flush"]);
    let exported = env.run(&["journal", "export", &journal]);
    assert_eq!(exported.code, 0);
    assert!(exported.stdout.lines().count() >= replay.lines().count());
    assert!(exported.stderr.contains("Outputted"));
    // Pruning drops the completed job but keeps the ID counter.
    let before = std::fs::metadata(&journal).unwrap().len();
    env.ok(&["journal", "prune"]);
    let after = std::fs::metadata(&journal).unwrap().len();
    assert!(
        after < before,
        "prune shrinks the journal: {before} -> {after}"
    );
    let exported = env.ok(&["journal", "export", &journal]);
    assert!(!exported.contains("task-finished"));
    env.ok(&["server", "stop"]);
    wait_until("the server to stop", || {
        env.run(&["server", "info"]).code != 0
    });
    env.start_server(&["--journal", &journal]);
    assert_eq!(
        env.submit(&["--", "true"]),
        job + 1,
        "job IDs continue after a prune"
    );
}

#[test]
fn journal_report_writes_an_html_page() {
    let mut env = HqEnv::new();
    let journal = env.file("j.bin").display().to_string();
    let server = env.start_server(&["--journal", &journal]);
    env.start_worker(&[]);
    let job = env.submit(&["--array", "1-4", "--", "true"]);
    env.wait_job(job);
    env.ok(&["server", "stop"]);
    env.wait_exit(server);
    let out = env.file("report.html");
    env.ok(&["journal", "report", &journal, out.to_str().unwrap()]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("Tasks finished</th><td>4"), "{html}");
    assert!(html.contains("<svg"));
}
