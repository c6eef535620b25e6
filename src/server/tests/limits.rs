//! Hostile and unlucky input: selectors as wide as the ID space, submissions over the task
//! limit, and a journal that cannot be written.

use super::*;

fn everything() -> IdSelector {
    IdSelector::Ids(IdSet::from_range(0, u32::MAX))
}

fn log_lines(r: ClientResponse) -> Vec<LogLine> {
    match r {
        ClientResponse::Log { lines, .. } => lines,
        other => panic!("not a log: {other:?}"),
    }
}

#[test]
fn selectors_as_wide_as_the_id_space_stay_ranges() {
    let mut h = Harness::new();
    for _ in 0..3 {
        h.submit(new_job(vec![group("0", body("1"))]));
    }
    let details = h.request(ClientRequest::JobDetail {
        selector: everything(),
        include_tasks: true,
        tasks: Some(IdSet::from_range(0, u32::MAX)),
    });
    let ClientResponse::JobDetails { jobs, missing } = details else {
        panic!()
    };
    assert_eq!(jobs.len(), 3);
    assert_eq!(missing.to_string(), "0,4-4294967295");
    let lines = log_lines(h.request(ClientRequest::CancelJob {
        selector: everything(),
        reason: None,
    }));
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[3],
        LogLine::Error("Canceling jobs 0,4-4294967295 failed; jobs not found".into())
    );
    let lines = log_lines(h.request(ClientRequest::CloseJob {
        selector: IdSelector::Ids(IdSet::from_range(7, 7)),
    }));
    assert_eq!(
        lines,
        vec![LogLine::Error("Closing job 7 failed; job not found".into())]
    );
    let lines = log_lines(h.request(ClientRequest::ForgetJob {
        selector: everything(),
        filter: vec![],
    }));
    assert_eq!(
        lines,
        vec![LogLine::Info(
            "3 jobs were forgotten, 4294967293 were ignored due to wrong state or invalid ID"
                .into()
        )]
    );
    h.check_restore();
}

#[test]
fn submission_over_the_task_limit_is_refused_before_anything_exists() {
    let mut h = Harness::with_config(CoreConfig {
        max_tasks_per_job: 1000,
        ..CoreConfig::default()
    });
    let reply = h.request(ClientRequest::Submit(Box::new(new_job(vec![group(
        "0-4294967295",
        body("1"),
    )]))));
    let ClientResponse::Error(e) = reply else {
        panic!("{reply:?}")
    };
    assert!(e.contains("4294967296 tasks"), "{e}");
    assert!(e.contains("at most 1000 tasks"), "{e}");
    assert!(e.contains("--max-tasks-per-job"), "{e}");
    assert!(h.core.jobs.is_empty());
    assert_eq!(h.core.next_job_id, 1);
    // An open job counts what it already has.
    let ClientResponse::JobCreated { job } = h.request(ClientRequest::OpenJob {
        name: "open".into(),
        max_fails: None,
    }) else {
        panic!()
    };
    let mut part = new_job(vec![group("0-599", body("1"))]);
    part.target = JobTarget::Existing(job);
    h.submit(part.clone());
    part.groups[0].ids = IdSet::from_range(600, 1199);
    let reply = h.request(ClientRequest::Submit(Box::new(part)));
    assert!(
        matches!(&reply, ClientResponse::Error(e) if e.contains("600 existing + 600 submitted")),
        "{reply:?}"
    );
    assert_eq!(h.core.jobs[&job].tasks.len(), 600);
    h.check_restore();
}

#[test]
fn wide_common_dependencies_are_checked_by_range() {
    let mut h = Harness::new();
    let mut g = group("0-9", body("1"));
    g.deps.common = IdSet::from_range(100, u32::MAX);
    let reply = h.request(ClientRequest::Submit(Box::new(new_job(vec![g]))));
    assert_eq!(
        reply,
        ClientResponse::Error("Invalid dependency on 100".into())
    );
    let mut g = group("0-9", body("1"));
    g.deps.common = IdSet::from_range(5, 5);
    let reply = h.request(ClientRequest::Submit(Box::new(new_job(vec![g]))));
    assert_eq!(
        reply,
        ClientResponse::Error("Invalid dependency on 5".into())
    );
}

#[test]
fn a_journal_that_cannot_be_written_refuses_requests_and_changes_nothing() {
    let mut h = Harness::new();
    let kept = h.submit(new_job(vec![group("0-1", body("1"))]));
    h.break_journal();
    let before = snapshot(&h.core);
    let reply = h.request(ClientRequest::Submit(Box::new(new_job(vec![group(
        "0",
        body("1"),
    )]))));
    assert_eq!(
        reply,
        ClientResponse::Error(
            "cannot write the journal at /dev/full: No space left on device; nothing was submitted"
                .into()
        )
    );
    let reply = h.request(ClientRequest::CancelJob {
        selector: IdSelector::All,
        reason: None,
    });
    assert!(
        matches!(&reply, ClientResponse::Error(e) if e.ends_with("; no job was canceled")),
        "{reply:?}"
    );
    assert_eq!(
        snapshot(&h.core),
        before,
        "a refused request changes nothing"
    );
    assert_eq!(h.core.next_job_id, kept + 1);
    // Reads are still served.
    let ClientResponse::Jobs(jobs) = h.request(ClientRequest::JobList) else {
        panic!()
    };
    assert_eq!(jobs.len(), 1);
    h.core.sanity_check();
    // When the disk has room again, writes succeed and nothing acknowledged is lost.
    h.repair_journal();
    let next = h.submit(new_job(vec![group("0", body("1"))]));
    assert_eq!(next, kept + 1);
    h.check_restore();
}

#[test]
fn details_of_more_tasks_than_one_answer_carries_are_refused() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0-1000000", body("1"))]));
    let ask = |h: &mut Harness, tasks: Option<IdSet>| {
        h.request(ClientRequest::JobDetail {
            selector: IdSelector::Ids(IdSet::from_range(job, job)),
            include_tasks: true,
            tasks,
        })
    };
    let reply = ask(&mut h, None);
    assert!(
        matches!(&reply, ClientResponse::Error(e) if e.contains("1000001 tasks") && e.contains("--tasks")),
        "{reply:?}"
    );
    let ClientResponse::JobDetails { jobs, .. } = ask(&mut h, Some(IdSet::from_range(10, 19)))
    else {
        panic!()
    };
    assert_eq!(jobs[0].tasks.len(), 10);
    // Without tasks, the summary of any job is fine.
    let reply = h.request(ClientRequest::JobDetail {
        selector: IdSelector::All,
        include_tasks: false,
        tasks: None,
    });
    assert!(matches!(reply, ClientResponse::JobDetails { .. }));
}

#[test]
fn a_pass_cut_short_by_the_time_limit_leaves_the_rest_to_the_next_round() {
    let mut h = Harness::with_config(CoreConfig {
        scheduler_time_limit: std::time::Duration::ZERO,
        ..CoreConfig::default()
    });
    h.add_worker("200");
    h.submit(new_job(vec![group("0-149", body("1"))]));
    let per_pass = crate::scheduler::PLACEMENTS_PER_CHECK as usize;
    let mut sizes = Vec::new();
    loop {
        let assigned = h.assign();
        sizes.push(assigned.len());
        if !h.core.pass_cut_short {
            break;
        }
        // The next round schedules though no event came in.
        assert!(h.core.needs_schedule);
    }
    assert_eq!(sizes, [per_pass, per_pass, 150 - 2 * per_pass]);
}

#[tokio::test]
async fn the_actor_runs_the_next_pass_without_waiting_for_an_event() {
    use super::super::actor::{run_actor, Event};
    use tokio::sync::oneshot;
    let config = CoreConfig {
        scheduler_time_limit: std::time::Duration::ZERO,
        ..CoreConfig::default()
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let actor = tokio::spawn(run_actor(ServerCore::new(info(), config), rx));
    let (to_worker, mut worker) = mpsc::unbounded_channel();
    let (id, _) = oneshot::channel();
    let registration = Box::new(worker_config("200"));
    let _ = tx.send(Event::WorkerRegister(registration, vec![], to_worker, id));
    let (reply, _replies) = mpsc::unbounded_channel();
    let submit = new_job(vec![group("0-149", body("1"))]);
    let _ = tx.send(Event::Client(
        ClientRequest::Submit(Box::new(submit)),
        reply,
    ));
    // The worker never reports a start: only the actor's own follow-up passes assign the rest.
    let mut assigned = 0;
    while assigned < 150 {
        let wait = std::time::Duration::from_secs(10);
        let msg = tokio::time::timeout(wait, worker.recv()).await;
        match msg.expect("the rest of the array is assigned without new events") {
            Some(ToWorker::Compute { tasks, .. }) => assigned += tasks.len(),
            Some(_) => {}
            None => panic!("the actor dropped the worker"),
        }
    }
    assert_eq!(assigned, 150);
    let _ = tx.send(Event::Shutdown);
    actor.await.unwrap();
}
