//! Tasks through their lives: scheduling, results, retries, dependencies, crashes, cancel,
//! worker stop, late results after a restore; each test ends with a replay comparison.

use super::*;

#[test]
fn array_runs_to_completion_and_workers_forget_the_job() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0-3", body("1"))]));
    let w = h.add_worker("2");
    let msgs = h.round();
    let first = started(&msgs);
    assert_eq!(first.len(), 2, "two CPUs, two tasks");
    // The other two wait on the worker, one behind each running task.
    let second = queued(&msgs);
    assert_eq!(second.iter().map(|s| s.2).collect::<Vec<_>>(), vec![2, 3]);
    // Assigned there (clients see them waiting until the worker reports their start).
    assert!(h.task(job, 2).is_assigned());
    for (_, j, t, i) in first {
        h.result(j, t, i, TaskOutcome::Finished);
    }
    // Their predecessors ended, so the worker started them: no new assignment.
    assert!(h.start().is_empty());
    h.core
        .on_worker_message(w, FromWorker::Started(vec![(job, 2, 0), (job, 3, 0)]));
    assert!(!h.task(job, 2).is_assigned() && !h.task(job, 3).is_assigned());
    assert_eq!(h.status(job, 3), TaskStatus::Running);
    for (_, j, t, i) in second {
        h.result(j, t, i, TaskOutcome::Finished);
    }
    let msgs = h.round();
    assert!(msgs.contains(&(w, ToWorker::ForgetJob(job))));
    assert!(h.core.jobs[&job].is_completed());
    assert_eq!(h.core.jobs[&job].completed_at, Some(h.core.now));
    h.check_restore();
}

#[test]
fn cwd_placeholders_are_filled_before_the_job_is_recorded() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0", body("1"))]));
    assert_eq!(
        h.core.jobs[&job].groups[0].body.program.cwd,
        format!("/submit/{job}")
    );
    h.check_restore();
}

#[test]
fn crash_count_is_the_same_after_a_restore_when_the_limit_is_hit() {
    let mut h = Harness::new();
    let mut b = body("1");
    b.crash_limit = CrashLimit::Limit(2);
    let job = h.submit(new_job(vec![group("0", b)]));
    for round in 1..=2 {
        let w = h.add_worker("1");
        assert_eq!(h.start().len(), 1);
        h.core.on_worker_disconnected(w);
        h.round();
        assert_eq!(h.task(job, 0).crash_count, round);
        h.check_restore();
    }
    assert_eq!(h.status(job, 0), TaskStatus::Failed);
    let restored = h.restored();
    let t = &restored.jobs[&job].tasks[0];
    assert_eq!((t.status, t.crash_count), (TaskStatus::Failed, 2));
}

#[test]
fn stopped_worker_requeues_without_counting_a_crash() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0", body("1"))]));
    let w = h.add_worker("1");
    h.start();
    let reply = h.request(ClientRequest::StopWorker {
        selector: IdSelector::Ids(IdSet::from_range(w, w)),
    });
    assert!(matches!(reply, ClientResponse::Log { .. }));
    let msgs = h.round();
    assert!(msgs.contains(&(w, ToWorker::Stop)));
    assert_eq!(h.status(job, 0), TaskStatus::Waiting);
    assert_eq!(h.task(job, 0).crash_count, 0);
    assert_eq!(h.core.workers[&w].info.state, WorkerState::Stopped);
    h.check_restore();
}

#[test]
fn retries_then_failure_aborts_dependents() {
    let mut h = Harness::new();
    let mut b = body("1");
    b.max_retries = 1;
    let mut dependent = group("1", body("1"));
    dependent.deps.common = IdSet::from_range(0, 0);
    let job = h.submit(new_job(vec![group("0", b), dependent]));
    h.add_worker("2");
    let (_, _, _, i) = h.start()[0];
    h.result(job, 0, i, TaskOutcome::Failed("boom".into()));
    assert_eq!(h.status(job, 0), TaskStatus::Waiting);
    let (_, _, _, i2) = h.start()[0];
    assert_eq!(i2, i + 1, "a retry is a new instance");
    h.result(job, 0, i2, TaskOutcome::Failed("boom again".into()));
    h.round();
    assert_eq!(h.status(job, 0), TaskStatus::Failed);
    assert_eq!(h.status(job, 1), TaskStatus::Aborted);
    assert_eq!(h.task(job, 0).retries, 1);
    h.check_restore();
}

#[test]
fn finished_dependency_releases_its_dependents() {
    let mut h = Harness::new();
    let mut second = group("1-2", body("1"));
    second.deps.offsets = vec![-1];
    let job = h.submit(new_job(vec![group("0", body("1")), second]));
    h.add_worker("4");
    let started = h.start();
    assert_eq!(started.len(), 1, "only the task without dependencies");
    h.result(job, 0, started[0].3, TaskOutcome::Finished);
    let next = h.start();
    assert_eq!(next.iter().map(|s| s.2).collect::<Vec<_>>(), vec![1]);
    h.check_restore();
}

#[test]
fn cancel_stops_running_tasks_and_keeps_the_reason() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0-2", body("1"))]));
    let w = h.add_worker("1");
    let (_, _, task, instance) = h.start()[0];
    let reply = h.request(ClientRequest::CancelJob {
        selector: IdSelector::Last,
        reason: Some("no longer needed".into()),
    });
    let ClientResponse::Log { lines, .. } = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(
        lines,
        vec![LogLine::Info(format!(
            "Job {job} canceled (3 tasks canceled, 0 tasks already finished)"
        ))]
    );
    let msgs = h.round();
    // The next two tasks waited on the worker behind the running one: dropped there too.
    let cancel = ToWorker::Cancel(vec![
        (job, task, instance),
        (job, task + 1, 0),
        (job, task + 2, 0),
    ]);
    assert!(msgs.contains(&(w, cancel)), "{msgs:?}");
    assert_eq!(h.core.jobs[&job].stats.canceled, 3);
    assert_eq!(
        h.core.jobs[&job].cancel_reason.as_deref(),
        Some("no longer needed")
    );
    h.result(job, task, instance, TaskOutcome::Stopped);
    h.round();
    h.check_restore();
}

#[test]
fn late_result_after_a_restore_is_accepted_instead_of_running_again() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0", body("1"))]));
    h.add_worker("1");
    let (_, _, _, instance) = h.start()[0];
    let mut restored = h.restored();
    assert_eq!(restored.jobs[&job].tasks[0].status, TaskStatus::Waiting);
    let late = TaskResult {
        job,
        task: 0,
        instance,
        outcome: TaskOutcome::Finished,
    };
    let mut config = h
        .core
        .workers
        .values()
        .next()
        .unwrap()
        .info
        .configuration
        .clone();
    config.hostname = "back".into();
    restored.register_worker(config, vec![late]);
    super::super::actor::end_round(&mut restored, false);
    restored.sanity_check();
    assert_eq!(restored.jobs[&job].tasks[0].status, TaskStatus::Finished);
    assert!(started(&restored.outbox.take_worker_messages()).is_empty());
}

#[test]
fn multi_node_task_keeps_running_without_a_secondary_node_and_restarts_without_its_main_node() {
    let mut h = Harness::new();
    let mut b = body("1");
    b.resources.variants[0].resources.clear();
    b.resources.variants[0].n_nodes = 2;
    let job = h.submit(new_job(vec![group("0", b)]));
    let w1 = h.add_worker("1");
    let w2 = h.add_worker("1");
    let (root, ..) = h.start()[0];
    assert_eq!(root, w1);
    // The command runs on the main node: losing the other node changes nothing (as the
    // reference does).
    h.core.on_worker_disconnected(w2);
    let msgs = h.round();
    assert!(msgs.iter().all(|(_, m)| !matches!(m, ToWorker::Cancel(_))));
    assert_eq!(h.status(job, 0), TaskStatus::Running);
    h.check_restore();
    // Losing the main node is a crash: the task waits again (one node is not enough now).
    h.core.on_worker_disconnected(w1);
    h.round();
    assert_eq!(h.status(job, 0), TaskStatus::Waiting);
    assert_eq!(h.task(job, 0).crash_count, 1);
    h.check_restore();
}

#[test]
fn open_job_takes_submissions_until_closed_then_can_be_forgotten() {
    let mut h = Harness::new();
    let ClientResponse::JobCreated { job } = h.request(ClientRequest::OpenJob {
        name: "open".into(),
        max_fails: None,
    }) else {
        panic!()
    };
    let mut more = new_job(vec![group("0", body("1"))]);
    more.target = JobTarget::Existing(job);
    more.ids_after_existing = true;
    h.submit(more.clone());
    h.submit(more);
    assert_eq!(h.core.jobs[&job].max_task_id(), Some(1));
    h.add_worker("2");
    for (_, j, t, i) in h.start() {
        h.result(j, t, i, TaskOutcome::Finished);
    }
    h.request(ClientRequest::CloseJob {
        selector: IdSelector::All,
    });
    h.round();
    assert!(h.core.jobs[&job].is_completed());
    h.check_restore();
    h.request(ClientRequest::ForgetJob {
        selector: IdSelector::All,
        filter: vec![],
    });
    assert!(h.core.jobs.is_empty());
    h.check_restore();
}

#[test]
fn silent_worker_is_lost_after_two_heartbeat_periods() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0", body("1"))]));
    let w = h.add_worker("1");
    h.start();
    h.tick(16_000);
    h.core.check_heartbeats();
    assert!(
        h.core.is_connected(w),
        "exactly two periods is not yet lost"
    );
    h.tick(1);
    h.core.check_heartbeats();
    h.round();
    assert_eq!(h.core.workers[&w].info.state, WorkerState::HeartbeatLost);
    assert_eq!(
        (h.status(job, 0), h.task(job, 0).crash_count),
        (TaskStatus::Waiting, 1)
    );
    h.check_restore();
}
