//! Tasks queued on a worker behind running ones: they start when their predecessor ends, come
//! back when the worker is lost (without counting a crash) or when another worker has room.

use super::*;

#[test]
fn queued_tasks_of_a_lost_worker_run_elsewhere_without_a_crash() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0-1", body("1"))]));
    let w1 = h.add_worker("1");
    let msgs = h.round();
    assert_eq!(started(&msgs), vec![(w1, job, 0, 0)]);
    assert_eq!(queued(&msgs), vec![(w1, job, 1, 0)]);
    h.core.on_worker_disconnected(w1);
    h.round();
    assert_eq!(h.task(job, 0).crash_count, 1, "the running task crashed");
    assert_eq!(h.task(job, 1).crash_count, 0, "the queued one never ran");
    let w2 = h.add_worker("2");
    let mut next = h.start();
    next.sort();
    // Each execution gets a new instance, the never-started one too.
    assert_eq!(next, vec![(w2, job, 0, 1), (w2, job, 1, 1)]);
    h.check_restore();
}

#[test]
fn an_idle_worker_gets_the_tasks_queued_elsewhere() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0-1", body("1"))]));
    let w1 = h.add_worker("1");
    assert_eq!(queued(&h.round()), vec![(w1, job, 1, 0)]);
    let w2 = h.add_worker("1");
    let msgs = h.round();
    assert!(started(&msgs).is_empty());
    assert!(
        msgs.contains(&(w1, ToWorker::Retract(vec![(job, 1, 0)]))),
        "{msgs:?}"
    );
    assert!(h.round().is_empty(), "asked once");
    h.core
        .on_worker_message(w1, FromWorker::Retracted(vec![(job, 1, 0)]));
    assert_eq!(h.start(), vec![(w2, job, 1, 1)]);
    h.check_restore();
}

#[test]
fn a_task_that_started_before_the_retraction_arrived_stays() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0-1", body("1"))]));
    let w1 = h.add_worker("1");
    h.round();
    h.add_worker("1");
    let asked = ToWorker::Retract(vec![(job, 1, 0)]);
    assert!(h.round().contains(&(w1, asked)));
    // The worker had started task 1 already: its answer does not name it.
    h.result(job, 0, 0, TaskOutcome::Finished);
    h.core.on_worker_message(w1, FromWorker::Retracted(vec![]));
    assert!(h.start().is_empty());
    assert_eq!(h.status(job, 1), TaskStatus::Running);
    assert_eq!(h.task(job, 1).worker, w1);
    h.result(job, 1, 0, TaskOutcome::Finished);
    h.round();
    assert!(h.core.jobs[&job].is_completed());
    h.check_restore();
}

#[test]
fn tasks_given_back_go_to_their_place_in_id_order() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0-9", body("1"))]));
    let w1 = h.add_worker("2");
    let mut queued_now: Vec<_> = queued(&h.round()).into_iter().map(|q| q.2).collect();
    queued_now.sort();
    // The other eight, in chains behind the two running tasks.
    assert_eq!(queued_now, (2..10).collect::<Vec<_>>());
    // Handed back (as the time-request check does, unasked), the higher ID first.
    h.core
        .on_worker_message(w1, FromWorker::Retracted(vec![(job, 3, 0), (job, 2, 0)]));
    assert!(!h.task(job, 2).is_assigned() && h.status(job, 2) == TaskStatus::Waiting);
    // A new worker takes the lowest waiting IDs: 2 and 3, not 4 and 5.
    h.add_worker("2");
    let mut next: Vec<_> = h.start().into_iter().map(|s| s.2).collect();
    next.sort();
    assert_eq!(next, vec![2, 3]);
    h.check_restore();
}
