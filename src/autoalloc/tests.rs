//! Unit tests of the pure core: recorded changes, tracking, decisions (insta snapshots).

use super::decide::decide;
use super::events::{AllocEvent, AllocationEnd, SubmitFailure};
use super::limiter::LimitsConfig;
use super::params::{ManagerKind, QueueParams, WorkerParams};
use super::state::{AllocStatus, AutoAllocState, KEPT_FINISHED_DIRS};
use super::tracking::{LostOutcome, ManagerState, StatusAnswer};
use crate::resources::ResourceDescriptor;
use crate::scheduler::{DemandReport, Unrunnable};

const Q: u32 = 1;
const SLURM: ManagerKind = ManagerKind::Slurm;

fn params() -> QueueParams {
    QueueParams {
        manager: SLURM,
        name: None,
        backlog: 4,
        time_limit_secs: 3600,
        max_workers_per_alloc: 2,
        max_worker_count: None,
        additional_args: vec![],
        worker: WorkerParams {
            cpus: Some("4".into()),
            ..Default::default()
        },
    }
}

fn state_with(params: QueueParams) -> AutoAllocState {
    let mut s = AutoAllocState::new(LimitsConfig::default());
    s.apply(
        0,
        &AllocEvent::QueueCreated {
            queue_id: Q,
            params: Box::new(params),
        },
    );
    s
}

fn queue_allocation(s: &mut AutoAllocState, id: &str, workers: u32, now: u64) {
    let index = s.queues[&Q].submissions + 1;
    s.apply(
        now,
        &AllocEvent::AllocationQueued {
            queue_id: Q,
            allocation_id: id.into(),
            worker_count: workers,
            index,
            workdir: format!("/run/autoalloc/1/{index:03}"),
        },
    );
}

fn apply_all(s: &mut AutoAllocState, now: u64, events: Vec<AllocEvent>) {
    for e in &events {
        s.apply(now, e);
    }
}

fn failure() -> SubmitFailure {
    SubmitFailure {
        command: "sbatch /x/hq-submit.sh".into(),
        message: "`sbatch` exited with code 1".into(),
        exit_code: Some(1),
        stderr: "sbatch: error: invalid partition".into(),
        script: Some("/x/hq-submit.sh".into()),
        ..Default::default()
    }
}

fn demand(new_workers: u32, queued_used: Vec<u32>) -> DemandReport {
    DemandReport {
        queued_used,
        new_workers,
        ready: 10,
        ..Default::default()
    }
}

/// One line per scenario: what the queue does and why.
fn render(name: &str, s: &AutoAllocState, d: &DemandReport, now: u64) -> String {
    let q = &s.queues[&Q];
    let dec = decide(q, d, now);
    let mut line = format!(
        "{name}: submit={:?} cancel={:?} | {} | {}",
        dec.submit, dec.cancel, dec.info.action, dec.info.reason
    );
    for (n, why) in &dec.info.unrunnable {
        line.push_str(&format!(" | {n} unrunnable: {why}"));
    }
    line
}

#[test]
fn decisions() {
    let mut out = Vec::new();
    let s = state_with(params());
    out.push(render("nothing ready", &s, &DemandReport::default(), 0));
    out.push(render(
        "three workers, two per allocation",
        &s,
        &demand(3, vec![]),
        0,
    ));
    let mut multi = demand(1, vec![]);
    multi.new_multi_node = vec![2];
    out.push(render("multi-node first", &s, &multi, 0));
    let mut unrunnable = demand(0, vec![]);
    unrunnable.unrunnable = vec![Unrunnable {
        tasks: 10,
        reason: "needs resource `gpus`, which workers of this queue do not have".into(),
    }];
    out.push(render("unrunnable", &s, &unrunnable, 0));
    let mut fits = demand(0, vec![]);
    fits.fit_existing = 10;
    out.push(render("connected workers suffice", &s, &fits, 0));

    let mut p = params();
    p.backlog = 1;
    let mut s = state_with(p);
    queue_allocation(&mut s, "7", 2, 0);
    let mut over = demand(0, vec![2]);
    over.over_limit = 5;
    out.push(render("backlog full", &s, &over, 0));
    out.push(render(
        "queued allocation covers it",
        &s,
        &demand(0, vec![2]),
        0,
    ));
    out.push(render("scale in", &s, &demand(0, vec![0]), 0));

    let mut p = params();
    p.max_worker_count = Some(2);
    let mut s = state_with(p);
    queue_allocation(&mut s, "8", 2, 0);
    s.apply(
        0,
        &AllocEvent::AllocationStarted {
            queue_id: Q,
            allocation_id: "8".into(),
        },
    );
    let mut over = demand(0, vec![]);
    over.over_limit = 3;
    out.push(render("max workers", &s, &over, 0));

    let mut s = state_with(params());
    s.apply(
        1_000,
        &AllocEvent::SubmissionFailed {
            queue_id: Q,
            index: 1,
            failure: failure(),
        },
    );
    out.push(render("rate-limited", &s, &demand(1, vec![]), 2_000));
    out.push(render("after the delay", &s, &demand(1, vec![]), 61_000));
    s.apply(
        2_000,
        &AllocEvent::QueuePaused {
            queue_id: Q,
            reason: None,
        },
    );
    out.push(render("paused by user", &s, &demand(1, vec![]), 99_000));

    let mut p = params();
    p.worker.cpus = None;
    let mut s = state_with(p);
    let mut probe = demand(0, vec![]);
    probe.undeclared = 10;
    out.push(render("probe", &s, &probe, 0));
    queue_allocation(&mut s, "9", 1, 0);
    probe.queued_used = vec![0];
    out.push(render("probe stays", &s, &probe, 0));
    insta::assert_snapshot!(out.join("\n"));
}

#[test]
fn workers_drive_allocation_states() {
    let mut s = state_with(params());
    queue_allocation(&mut s, "5", 2, 0);
    let desc = ResourceDescriptor::default();
    let events = s.worker_connected(SLURM, "5", 10, &desc, 1_000);
    assert!(matches!(events[0], AllocEvent::AllocationStarted { .. }));
    assert!(matches!(events[1], AllocEvent::WorkerResources { .. }));
    apply_all(&mut s, 1_000, events);
    let events = s.worker_connected(SLURM, "5", 11, &desc, 1_000);
    assert!(events.is_empty(), "{events:?}");
    // Other managers' allocations and unknown ones are not ours.
    assert!(s
        .worker_connected(ManagerKind::Pbs, "5", 12, &desc, 0)
        .is_empty());
    assert_eq!(
        s.worker_lost(SLURM, "5", 10, false, 500_000),
        LostOutcome::Nothing
    );
    let LostOutcome::Record(e) = s.worker_lost(SLURM, "5", 11, false, 500_000) else {
        panic!("the allocation should finish");
    };
    s.apply(500_000, &e);
    let a = &s.queues[&Q].allocations[0];
    assert_eq!(
        (a.status, a.started_at, a.ended_at),
        (AllocStatus::Finished, Some(1_000), Some(500_000))
    );
}

#[test]
fn workers_failing_fast_are_verified_before_they_count() {
    let mut s = state_with(params());
    queue_allocation(&mut s, "5", 1, 0);
    let e = s.worker_connected(SLURM, "5", 1, &ResourceDescriptor::default(), 0);
    apply_all(&mut s, 0, e);
    assert_eq!(
        s.worker_lost(SLURM, "5", 1, true, 10_000),
        LostOutcome::Verify(Q, "5".into())
    );
    // Slurm requeued the job after a preemption: it waits again, nothing counts.
    let e = s.status_answers(
        Q,
        &[("5".into(), StatusAnswer::Known(ManagerState::Queued))],
    );
    apply_all(&mut s, 11_000, e);
    let q = &s.queues[&Q];
    assert_eq!(q.allocations[0].status, AllocStatus::Queued);
    assert_eq!(q.limiter.allocation_fails, 0);
    // It runs again and its worker crashes again; this time Slurm says the node failed.
    let e = s.worker_connected(SLURM, "5", 2, &ResourceDescriptor::default(), 20_000);
    apply_all(&mut s, 20_000, e);
    assert!(matches!(
        s.worker_lost(SLURM, "5", 2, true, 21_000),
        LostOutcome::Verify(..)
    ));
    let node_fail = ManagerState::Failed {
        counted: false,
        reason: "Slurm reports NODE_FAIL".into(),
    };
    let e = s.status_answers(Q, &[("5".into(), StatusAnswer::Known(node_fail))]);
    apply_all(&mut s, 22_000, e);
    let q = &s.queues[&Q];
    assert_eq!(q.allocations[0].status, AllocStatus::Failed);
    assert_eq!(q.limiter.allocation_fails, 0);
    assert_eq!(q.limiter.limited_until(22_000), None);
}

#[test]
fn repeated_fast_failures_pause_the_queue() {
    let mut s = state_with(params());
    for i in 0..3 {
        let id = format!("{i}");
        queue_allocation(&mut s, &id, 1, 0);
        let e = s.worker_connected(SLURM, &id, i, &ResourceDescriptor::default(), 0);
        apply_all(&mut s, 0, e);
        assert!(matches!(
            s.worker_lost(SLURM, &id, i, true, 5_000),
            LostOutcome::Verify(..)
        ));
        let failed = ManagerState::Failed {
            counted: true,
            reason: "Slurm reports FAILED".into(),
        };
        let e = s.status_answers(Q, &[(id.clone(), StatusAnswer::Known(failed))]);
        apply_all(&mut s, 5_000, e);
        let reason = s.queues[&Q].pause_reason(&s.config);
        assert_eq!(reason.is_some(), i == 2, "after {} failures", i + 1);
    }
    insta::assert_snapshot!(s.queues[&Q].pause_reason(&s.config).unwrap(), @"paused after 3 failed allocations in a row; last: every worker was lost within a minute of connecting");
}

#[test]
fn submission_failures_pause_after_the_limit() {
    let mut s = state_with(params());
    for i in 1..=10 {
        s.apply(
            i,
            &AllocEvent::SubmissionFailed {
                queue_id: Q,
                index: i as u32,
                failure: failure(),
            },
        );
    }
    let q = &s.queues[&Q];
    assert_eq!(q.submissions, 10);
    insta::assert_snapshot!(q.pause_reason(&s.config).unwrap(), @"paused after 10 failed submissions in a row; last error: `sbatch` exited with code 1");
    s.apply(20, &AllocEvent::QueueResumed { queue_id: Q });
    let q = &s.queues[&Q];
    assert_eq!(
        (q.pause_reason(&s.config), q.limiter.limited_until(20)),
        (None, None)
    );
}

#[test]
fn status_answers_track_what_workers_cannot_tell() {
    let mut s = state_with(params());
    queue_allocation(&mut s, "1", 1, 0);
    queue_allocation(&mut s, "2", 1, 0);
    queue_allocation(&mut s, "3", 1, 0);
    let e = s.status_answers(
        Q,
        &[
            ("1".into(), StatusAnswer::Known(ManagerState::Running)),
            ("2".into(), StatusAnswer::Known(ManagerState::Finished)),
            ("3".into(), StatusAnswer::Unknown),
        ],
    );
    apply_all(&mut s, 100, e);
    let st: Vec<AllocStatus> = s.queues[&Q].allocations.iter().map(|a| a.status).collect();
    assert_eq!(
        st,
        vec![
            AllocStatus::Running,
            AllocStatus::Failed,
            AllocStatus::Failed
        ]
    );
    // Query errors: after more than 20 for a running allocation it is given up.
    for _ in 0..20 {
        let e = s.status_answers(Q, &[("1".into(), StatusAnswer::Error("down".into()))]);
        assert!(e.is_empty());
    }
    let e = s.status_answers(Q, &[("1".into(), StatusAnswer::Error("down".into()))]);
    assert!(matches!(
        &e[0],
        AllocEvent::AllocationFinished {
            end: AllocationEnd::Finished,
            ..
        }
    ));
}

#[test]
fn finished_directories_are_pruned_to_the_newest() {
    let mut s = state_with(params());
    for i in 0..(KEPT_FINISHED_DIRS as u32 + 5) {
        let id = i.to_string();
        queue_allocation(&mut s, &id, 1, 0);
        s.apply(
            1,
            &AllocEvent::AllocationFinished {
                queue_id: Q,
                allocation_id: id,
                end: AllocationEnd::Finished,
            },
        );
    }
    let pruned = s.take_dirs_to_prune();
    assert_eq!(pruned.len(), 5);
    assert_eq!(pruned[0], "/run/autoalloc/1/001");
    assert!(s.take_dirs_to_prune().is_empty());
}

#[test]
fn events_survive_the_journal_encoding() {
    let e = AllocEvent::QueueCreated {
        queue_id: 3,
        params: Box::new(params()),
    };
    let bytes = postcard::to_allocvec(&e).unwrap();
    let back: AllocEvent = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, e);
    let json = serde_json::to_value(AllocEvent::AllocationQueued {
        queue_id: 1,
        allocation_id: "5".into(),
        worker_count: 2,
        index: 1,
        workdir: "/d".into(),
    })
    .unwrap();
    assert_eq!(json["allocation-queued"]["worker-count"], 2);
}

#[test]
fn a_requeued_allocation_whose_workers_stopped_runs_again() {
    let mut s = state_with(params());
    queue_allocation(&mut s, "5", 1, 0);
    let desc = ResourceDescriptor::default();
    let e = s.worker_connected(SLURM, "5", 1, &desc, 0);
    apply_all(&mut s, 0, e);
    // Preempted: the worker stopped on SIGTERM as if it had finished.
    let LostOutcome::Record(e) = s.worker_lost(SLURM, "5", 1, false, 100_000) else {
        panic!("finished");
    };
    s.apply(100_000, &e);
    assert_eq!(s.queues[&Q].allocations[0].status, AllocStatus::Finished);
    assert_eq!(s.finished_dirs.len(), 1);
    // Slurm runs it again: its worker connects.
    let e = s.worker_connected(SLURM, "5", 2, &desc, 200_000);
    assert!(
        matches!(e[0], AllocEvent::AllocationRequeued { .. }),
        "{e:?}"
    );
    apply_all(&mut s, 200_000, e);
    let a = &s.queues[&Q].allocations[0];
    assert_eq!(
        (a.status, a.ended_at, a.connected.len()),
        (AllocStatus::Running, None, 1)
    );
    assert!(s.finished_dirs.is_empty());
}

#[test]
fn queued_allocations_are_polled_more_often_than_running_ones() {
    let mut s = state_with(params());
    assert_eq!(s.queues[&Q].refresh_interval(1, 100), None);
    queue_allocation(&mut s, "1", 1, 0);
    queue_allocation(&mut s, "2", 1, 0);
    assert_eq!(s.queues[&Q].refresh_interval(1, 100), Some(1));
    for id in ["1", "2"] {
        let e = s.worker_connected(SLURM, id, 1, &ResourceDescriptor::default(), 0);
        apply_all(&mut s, 0, e);
    }
    assert_eq!(s.queues[&Q].refresh_interval(1, 100), Some(100));
}

#[test]
fn allocations_started_before_their_workers_connected_still_count() {
    let mut s = state_with(params());
    queue_allocation(&mut s, "1", 2, 0);
    // The manager says it runs; no worker has connected yet.
    let e = s.status_answers(
        Q,
        &[("1".into(), StatusAnswer::Known(ManagerState::Running))],
    );
    apply_all(&mut s, 10, e);
    assert_eq!(s.queues[&Q].expected_sizes(), vec![2]);
    // Started allocations are not cancelled, even without demand.
    let d = decide(&s.queues[&Q], &demand(0, vec![0]), 20);
    assert!(d.cancel.is_empty() && d.submit.is_empty(), "{d:?}");
    let e = s.worker_connected(SLURM, "1", 7, &ResourceDescriptor::default(), 30);
    apply_all(&mut s, 30, e);
    assert_eq!(s.queues[&Q].expected_sizes(), vec![1]);
}
