//! A task is running once its worker reports the process started, not when it is assigned:
//! what clients see in between, which reports count, and what a lost or stopped worker means
//! for an execution whose start was not reported yet.

use super::*;

/// (status, worker count, started_at) of a task as `hq job info` gets it, and the job's counts.
fn shown(h: &mut Harness, job: JobId) -> (TaskStatus, usize, Option<u64>, TaskStats) {
    let details = h.request(ClientRequest::JobDetail {
        selector: IdSelector::Ids(IdSet::from_range(job, job)),
        include_tasks: true,
        tasks: None,
    });
    let ClientResponse::JobDetails { jobs, .. } = details else {
        panic!("{details:?}")
    };
    let t = &jobs[0].tasks[0];
    (t.status, t.workers.len(), t.started_at, jobs[0].info.stats)
}

#[test]
fn assigned_task_is_shown_waiting_until_its_worker_starts_it() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0", body("1"))]));
    let w = h.add_worker("1");
    let (_, _, _, instance) = h.assign()[0];
    let (status, workers, started, stats) = shown(&mut h, job);
    assert_eq!((status, workers, started), (TaskStatus::Waiting, 0, None));
    assert_eq!((stats.waiting, stats.running), (1, 0));
    // Reports for another instance or from another worker change nothing.
    h.report_started(w, job, 0, instance + 1);
    h.report_started(w + 1, job, 0, instance);
    assert_eq!(shown(&mut h, job).0, TaskStatus::Waiting);
    h.tick(5);
    h.report_started(w, job, 0, instance);
    h.round();
    let (status, workers, started, stats) = shown(&mut h, job);
    assert_eq!((status, workers), (TaskStatus::Running, 1));
    assert_eq!(started, Some(h.core.now));
    assert_eq!((stats.waiting, stats.running), (0, 1));
    assert_eq!(
        h.core.workers[&w].info.last_task_started,
        Some((job, 0, h.core.now))
    );
    h.check_restore();
}

#[test]
fn a_result_without_a_start_is_accepted() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0", body("1"))]));
    h.add_worker("1");
    let (_, _, _, i) = h.assign()[0];
    // The program could not be started: the worker reports only the failure.
    h.result(job, 0, i, TaskOutcome::Failed("Cannot execute".into()));
    h.round();
    let (status, _, started, _) = shown(&mut h, job);
    assert_eq!((status, started), (TaskStatus::Failed, None));
    h.check_restore();
}

#[test]
fn losing_a_worker_before_the_start_report_still_counts() {
    // The worker may have started the task, and died of it, before its report arrived: a task
    // that kills its worker at once must still reach its crash limit.
    let mut h = Harness::new();
    let mut b = body("1");
    b.crash_limit = CrashLimit::Limit(2);
    let job = h.submit(new_job(vec![group("0", b)]));
    for round in 1..=2 {
        let w = h.add_worker("1");
        assert_eq!(h.assign().len(), 1);
        h.core.on_worker_disconnected(w);
        h.round();
        assert_eq!(h.task(job, 0).crash_count, round);
    }
    assert_eq!(h.status(job, 0), TaskStatus::Failed);
    h.check_restore();
}

#[test]
fn never_restart_task_fails_when_its_worker_is_stopped() {
    let mut h = Harness::new();
    let mut b = body("1");
    b.crash_limit = CrashLimit::NeverRestart;
    let never = h.submit(new_job(vec![group("0", b)]));
    let once = h.submit(new_job(vec![group("0", body("1"))]));
    let w = h.add_worker("2");
    assert_eq!(h.start().len(), 2);
    h.request(ClientRequest::StopWorker {
        selector: IdSelector::Ids(IdSet::from_range(w, w)),
    });
    h.round();
    assert_eq!(h.status(never, 0), TaskStatus::Failed);
    assert_eq!(
        h.core.jobs[&never].errors[&0],
        "Task was running on a lost worker while never restart flag was set."
    );
    assert_eq!(h.status(once, 0), TaskStatus::Waiting);
    h.check_restore();
}

#[test]
fn canceled_tasks_of_a_job_leave_the_rest_running() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0-3", body("1"))]));
    h.add_worker("1");
    let (_, _, running, _) = h.start()[0];
    // Cancel the running task and one waiting task, as a `TaskCanceled` of two tasks does.
    let waiting = if running == 3 { 2 } else { 3 };
    let mut tasks = IdSet::from_range(running, running);
    tasks = tasks.union(&IdSet::from_range(waiting, waiting));
    h.core
        .commit(crate::server::journal::JournalEvent::TaskCanceled { job, tasks });
    let msgs = h.round();
    assert!(
        msgs.iter().any(|(_, m)| matches!(m, ToWorker::Cancel(_))),
        "{msgs:?}"
    );
    assert_eq!(h.status(job, running), TaskStatus::Canceled);
    assert_eq!(h.status(job, waiting), TaskStatus::Canceled);
    // The freed CPU goes to one of the two tasks left, in the same round: the one queued
    // behind the canceled task takes its allocation over, and the other, queued behind that
    // one already, is now first in line there.
    let left: Vec<TaskId> = (0..4).filter(|t| ![running, waiting].contains(t)).collect();
    let key = |t: &TaskId| crate::scheduler::TaskKey { job, task: *t };
    let holds = |t: &TaskId| h.core.scheduler.is_running(key(t));
    assert_eq!(left.iter().filter(|t| holds(t)).count(), 1, "{msgs:?}");
    let behind: Vec<TaskId> = left.iter().copied().filter(|t| !holds(t)).collect();
    assert_eq!(behind.len(), 1, "{msgs:?}");
    assert!(h.task(job, behind[0]).is_assigned());
    assert!(h.core.scheduler.queued_on(key(&behind[0])).is_some());
    assert!(queued(&msgs).is_empty(), "nothing new was queued: {msgs:?}");
    h.check_restore();
}
