//! The dashboard feed: bounded snapshots for a large job, updates that carry only changes,
//! a new page when the view moves, wait reasons in words.

use super::*;

/// Feed messages queued for `tx` in the outbox.
fn feeds(h: &mut Harness, tx: &mpsc::UnboundedSender<ClientResponse>) -> Vec<DashboardFeed> {
    let mut out = Vec::new();
    h.core.outbox.replies.retain(|(to, r)| {
        if let (true, ClientResponse::Dashboard(f)) = (to.same_channel(tx), r) {
            out.push((**f).clone());
            return false;
        }
        true
    });
    out
}

#[test]
fn a_large_job_ships_one_page_and_then_only_changes() {
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0-199999", body("1"))]));
    h.add_worker("2");
    let started = h.start();
    assert_eq!(started.len(), 2);
    let (tx, _rx) = mpsc::unbounded_channel();
    let view = DashboardView {
        job: Some(job),
        task_limit: 1_000_000,
        ..Default::default()
    };
    h.core
        .handle_request(ClientRequest::Dashboard { view }, tx.clone());
    let snapshot = feeds(&mut h, &tx).pop().expect("a snapshot");
    assert!(snapshot.full);
    let page = snapshot.tasks.as_ref().unwrap();
    assert_eq!(page.total, 200_000);
    assert_eq!(page.rows.len(), DASHBOARD_PAGE_LIMIT as usize);
    let bytes = postcard::to_allocvec(&snapshot).unwrap().len();
    assert!(bytes < 200_000, "snapshot of {bytes} bytes");
    assert_eq!(
        snapshot.job_detail.unwrap().wait_reasons,
        // Two run, sixteen are queued on the worker behind them (eight deep).
        vec!["199982 ready tasks wait for free resources on the connected workers"]
    );

    // Nothing changed: no update. Then one task finishes: the update has that job's row and
    // the page again, nothing else.
    h.tick(1_000);
    h.round();
    assert!(feeds(&mut h, &tx).is_empty());
    let (_, j, t, i) = started[0];
    h.result(j, t, i, TaskOutcome::Finished);
    h.tick(1_000);
    h.round();
    let update = feeds(&mut h, &tx).pop().expect("an update");
    assert!(!update.full);
    assert_eq!(update.jobs.len(), 1);
    assert!(update.workers.len() <= 1);
    assert_eq!(update.totals.finished, 1);

    // Moving the view answers at once with the page there.
    let moved = DashboardView {
        job: Some(job),
        task_offset: 150_000,
        task_limit: 10,
        ..Default::default()
    };
    h.core
        .handle_request(ClientRequest::DashboardView(moved), tx.clone());
    let page = feeds(&mut h, &tx).pop().unwrap().tasks.unwrap();
    assert_eq!(page.offset, 150_000);
    assert_eq!(page.rows.first().map(|r| r.id), Some(150_000));
    assert_eq!(page.rows.len(), 10);
}

#[test]
fn wait_reasons_name_what_no_worker_has() {
    let mut h = Harness::new();
    let mut gpu = body("1");
    gpu.resources.variants[0]
        .resources
        .push(crate::resources::ResourceRequestEntry {
            resource: "gpus".into(),
            request: AllocationRequest::Compact(crate::resources::ResourceAmount(10_000)),
        });
    let job = h.submit(new_job(vec![group("0", gpu)]));
    h.add_worker("2");
    h.round();
    let (tx, _rx) = mpsc::unbounded_channel();
    let view = DashboardView {
        job: Some(job),
        ..Default::default()
    };
    h.core
        .handle_request(ClientRequest::Dashboard { view }, tx.clone());
    let detail = feeds(&mut h, &tx).pop().unwrap().job_detail.unwrap();
    assert_eq!(detail.wait_reasons, vec!["no connected worker has `gpus`"]);
}

#[test]
fn queues_ship_without_allocations_and_the_viewed_queue_ships_its_newest() {
    use crate::autoalloc::params::tests::params;
    use crate::autoalloc::{AllocEvent, ManagerKind};
    let mut h = Harness::new();
    let job = h.submit(new_job(vec![group("0-9", body("1"))]));
    let state = &mut h.core.autoalloc.state;
    let now = h.core.now;
    let created = AllocEvent::QueueCreated {
        queue_id: 1,
        params: Box::new(params(ManagerKind::Slurm)),
    };
    state.apply(now, &created);
    for i in 0..300u32 {
        let queued = AllocEvent::AllocationQueued {
            queue_id: 1,
            allocation_id: (1000 + i).to_string(),
            worker_count: 1,
            index: i + 1,
            workdir: format!("/a/{i}"),
        };
        state.apply(now + i as u64, &queued);
    }
    h.tick(12 * 60_000 + 500);
    h.round();
    let (tx, _rx) = mpsc::unbounded_channel();
    let view = DashboardView {
        job: Some(job),
        ..Default::default()
    };
    h.core
        .handle_request(ClientRequest::Dashboard { view }, tx.clone());
    let snapshot = feeds(&mut h, &tx).pop().unwrap();
    let queues = snapshot.queues.unwrap();
    assert_eq!((queues.len(), queues[0].queued), (1, 300));
    assert!(snapshot.queue_detail.is_none(), "no queue on screen");
    let reasons = snapshot.job_detail.unwrap().wait_reasons;
    assert!(
        reasons.contains(
            &"allocation 1000 (queue 1) queued for 12m, 299 more allocations queued".to_string()
        ),
        "{reasons:?}"
    );
    let view = DashboardView {
        queue: Some(1),
        ..Default::default()
    };
    h.core
        .handle_request(ClientRequest::DashboardView(view), tx.clone());
    let detail = feeds(&mut h, &tx).pop().unwrap().queue_detail.unwrap();
    assert_eq!(detail.total, 300);
    assert_eq!(detail.allocations.len(), DASHBOARD_ALLOCATION_LIMIT);
    assert_eq!(detail.allocations[0].id, "1299", "newest first");
    // Nothing changed: the next update carries neither queues nor allocations.
    h.tick(1_000);
    h.round();
    assert!(feeds(&mut h, &tx).is_empty());
}
