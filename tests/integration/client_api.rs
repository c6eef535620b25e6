//! The library's client layer (`hyperqueue::client`, used by the CLI and the Python package)
//! against a real server process: waits with per-job progress snapshots, failed tasks with
//! their paths, typed errors.

use crate::utils::{wait_until, HqEnv, TIMEOUT};
use hyperqueue::client::{ClientError, Session, WaitProgress};
use hyperqueue::common::idset::IdSet;
use hyperqueue::protocol::messages::{IdSelector, JobTarget, LogLine, SubmitRequest, TaskStats};
use std::sync::{Arc, Mutex};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { tokio::time::timeout(TIMEOUT, f).await.expect("timed out") })
}

fn ids(a: u32, b: u32) -> IdSelector {
    IdSelector::Ids(IdSet::from_range(a, b))
}

#[test]
fn wait_reports_per_job_snapshots_and_final_counts() {
    let mut env = HqEnv::with_server();
    let a = env.submit(&["--array", "1-3", "--", "true"]);
    let b = env.submit(&["--", "false"]);
    let seen: Arc<Mutex<Vec<WaitProgress>>> = Arc::default();
    let waiter = {
        let (dir, seen) = (env.server_dir.clone(), seen.clone());
        std::thread::spawn(move || {
            block_on(async move {
                let mut session = Session::connect(&dir).await.unwrap();
                let mut record = |p: &WaitProgress| seen.lock().unwrap().push(p.clone());
                session
                    .wait_for_jobs(ids(a, b + 5), false, Some(&mut record), None)
                    .await
            })
        })
    };
    // No worker yet: the first snapshot names both jobs with all their tasks waiting.
    wait_until("the first snapshot", || !seen.lock().unwrap().is_empty());
    let first = seen.lock().unwrap()[0].clone();
    let waiting = |n| TaskStats {
        waiting: n,
        ..Default::default()
    };
    assert_eq!(
        first.job(a).map(|j| (j.stats, j.done)),
        Some((waiting(3), false))
    );
    assert_eq!(
        first.job(b).map(|j| (j.stats, j.done)),
        Some((waiting(1), false))
    );
    env.start_worker(&[]);
    let result = waiter.join().unwrap().unwrap();
    assert_eq!(result.missing, IdSet::from_range(b + 1, b + 5));
    let final_a = result.state.job(a).unwrap();
    assert!(final_a.done);
    assert_eq!(final_a.stats.finished, 3);
    assert_eq!(result.state.job(b).unwrap().stats.failed, 1);
    assert_eq!(result.state.completed_jobs(), 2);
    assert!(!result.all_finished());
    // Snapshots only move forward: completed tasks never decrease.
    let seen = seen.lock().unwrap();
    assert!(seen
        .windows(2)
        .all(|w| w[0].totals().completed() <= w[1].totals().completed()));
}

#[test]
fn failed_tasks_carry_errors_and_resolved_paths() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&["--array", "0-2", "--", "bash", "-c", "[ $HQ_TASK_ID != 1 ]"]);
    env.wait_job(job);
    let failed = block_on(async {
        let mut session = Session::connect(&env.server_dir).await.unwrap();
        session.failed_tasks(ids(job, job + 1)).await.unwrap()
    });
    assert_eq!(failed.missing, IdSet::from_range(job + 1, job + 1));
    let (id, tasks) = &failed.jobs[0];
    assert_eq!(*id, job);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let t = &tasks[0];
    assert_eq!(t.id, 1);
    assert!(t.error.contains("exit code 1"), "{}", t.error);
    let cwd = env.path().canonicalize().unwrap();
    assert_eq!(std::path::Path::new(&t.cwd).canonicalize().unwrap(), cwd);
    let stdout = t.stdout.as_deref().unwrap();
    assert!(stdout.ends_with(&format!("job-{job}/1.stdout")), "{stdout}");
    assert!(std::path::Path::new(stdout).exists());
}

#[test]
fn errors_are_typed() {
    let env = HqEnv::new();
    let err = block_on(Session::connect(&env.server_dir)).err().unwrap();
    assert!(matches!(err, ClientError::NoServer { .. }), "{err}");

    let env = HqEnv::with_server();
    let (log, err) = block_on(async {
        let mut session = Session::connect(&env.server_dir).await.unwrap();
        let log = session.cancel_jobs(ids(7, 7), None).await.unwrap();
        let request = SubmitRequest {
            target: JobTarget::Existing(99),
            submit_dir: "/".into(),
            stream_dir: None,
            groups: vec![],
            ids_after_existing: false,
        };
        (log, session.submit(request).await.err().unwrap())
    });
    assert_eq!(
        log.lines,
        vec![LogLine::Error(
            "Canceling job 7 failed; job not found".into()
        )]
    );
    match err {
        ClientError::Server(message) => assert_eq!(message, "Job 99 not found."),
        other => panic!("{other}"),
    }
}
