//! Folds recorded feed messages into the model; also the fixture the UI snapshots render.

use super::*;

pub const T0: u64 = 1_700_000_000_000;

pub fn stats(waiting: u32, running: u32, finished: u32, failed: u32) -> TaskStats {
    TaskStats {
        waiting,
        running,
        finished,
        failed,
        canceled: 0,
        aborted: 0,
    }
}

pub fn job(id: JobId, name: &str, s: TaskStats, completed_at: Option<u64>) -> DashJob {
    DashJob {
        id,
        name: name.into(),
        is_open: false,
        stats: s,
        submitted_at: T0 - 120_000,
        completed_at,
        cancel_reason: None,
    }
}

pub fn worker(id: WorkerId, host: &str, state: WorkerState, cpu: f32) -> DashWorker {
    DashWorker {
        id,
        hostname: host.into(),
        state,
        group: "default".into(),
        resources: "cpus 4; mem 15.6 GiB".into(),
        running_tasks: 2,
        started_at: T0 - 600_000,
        ended_at: (state != WorkerState::Running).then_some(T0 - 60_000),
        overview_interval_ms: Some(2000),
        overview: Some(HwState {
            timestamp: T0 / 1000,
            cpu_usage: CpuUsage {
                cpu_per_core_percent_usage: vec![cpu, cpu, cpu, cpu],
            },
            memory_usage: MemoryUsage {
                total: 16 << 30,
                free: 12 << 30,
            },
            gpu_note: Some("the worker has no GPUs".into()),
            ..Default::default()
        }),
    }
}

pub fn task(id: TaskId, status: TaskStatus, worker: Option<WorkerId>) -> DashTask {
    DashTask {
        id,
        status,
        worker: worker.map(|w| (w, format!("cn{w}"))),
        started_at: worker.map(|_| T0 - 30_000),
        finished_at: status.is_terminal().then_some(T0 - 10_000),
        retries: 0,
        crash_count: 0,
        error: (status == TaskStatus::Failed).then(|| "Program terminated with exit code 1".into()),
        stdout: TaskOutput::File(format!("/home/u/job-1/{id}.stdout")),
        stderr: TaskOutput::File(format!("/home/u/job-1/{id}.stderr")),
    }
}

/// A server with two running workers (one lost), a running job and a finished one.
pub fn snapshot() -> DashboardFeed {
    DashboardFeed {
        full: true,
        now: T0,
        server_uid: "AbC123".into(),
        server_started: T0 - 3_600_000,
        journal: None,
        workers: vec![
            worker(1, "cn1", WorkerState::Running, 75.0),
            worker(2, "cn2", WorkerState::Running, 25.0),
            worker(3, "cn3", WorkerState::HeartbeatLost, 0.0),
        ],
        jobs: vec![
            job(1, "simulate", stats(40, 4, 50, 6), None),
            job(2, "prepare", stats(0, 0, 10, 0), Some(T0 - 100_000)),
        ],
        job_count: 2,
        totals: stats(40, 4, 60, 6),
        tasks: Some(TaskPage {
            job: 1,
            offset: 0,
            filter: None,
            total: 100,
            rows: vec![
                task(0, TaskStatus::Finished, Some(1)),
                task(1, TaskStatus::Failed, Some(2)),
                task(2, TaskStatus::Running, Some(1)),
                task(3, TaskStatus::Waiting, None),
            ],
        }),
        job_detail: Some(DashJobDetail {
            id: 1,
            resources: vec!["cpus: 1 compact, gpus: 1 compact".into()],
            command: "./simulate.sh --steps 100".into(),
            submit_dir: "/home/u".into(),
            wait_reasons: vec![
                "40 tasks blocked by unfinished dependencies".into(),
                "no connected worker has `gpus`".into(),
            ],
        }),
        worker_detail: Some(DashWorkerDetail {
            id: 1,
            history: (0..40)
                .map(|i| HwSample {
                    timestamp: T0 / 1000 - 80 + i * 2,
                    cpu_percent: (i * 5 % 100) as f32,
                    mem_percent: 25.0,
                    gpu_percent: None,
                })
                .collect(),
            tasks: vec![(1, 2, T0 - 30_000), (1, 7, T0 - 20_000)],
            work_dir: "/tmp/hq-worker/work".into(),
            allocation: None,
        }),
        queues: Some(queues()),
        queue_detail: Some(queue_detail()),
        ..Default::default()
    }
}

/// A Slurm queue with one queued and one running allocation, and a PBS queue paused after
/// failed submissions.
pub fn queues() -> Vec<DashQueue> {
    use crate::autoalloc::info::QueueState;
    use crate::autoalloc::state::DecisionInfo;
    let slurm = DashQueue {
        id: 1,
        manager: crate::autoalloc::ManagerKind::Slurm,
        name: None,
        state: QueueState::Active,
        backlog: 1,
        workers_per_alloc: 1,
        max_worker_count: Some(10),
        time_limit_secs: 3600,
        args: vec!["-p".into(), "general".into()],
        queued: 1,
        running: 1,
        allocations: 3,
        last_decision: Some(DecisionInfo {
            at: T0 - 5_000,
            action: "nothing".into(),
            reason: "backlog full: 1 allocation(s) queued (backlog 1)".into(),
            unrunnable: vec![(
                2,
                "asks for `gpus`, which workers of this queue do not have".into(),
            )],
        }),
        last_failure: None,
        rate_limited_until: None,
    };
    let pbs = DashQueue {
        id: 2,
        manager: crate::autoalloc::ManagerKind::Pbs,
        name: Some("gpu".into()),
        state: QueueState::Paused {
            reason: Some("paused after 3 failed submissions in a row".into()),
        },
        backlog: 2,
        workers_per_alloc: 2,
        max_worker_count: None,
        time_limit_secs: 1800,
        args: vec!["-q".into(), "qgpu".into()],
        queued: 0,
        running: 0,
        allocations: 0,
        last_decision: None,
        last_failure: Some(crate::autoalloc::SubmitFailure {
            command: "qsub /srv/hq/autoalloc/2/003/hq-submit.sh".into(),
            message: "`qsub` exited with code 3".into(),
            exit_code: Some(3),
            stdout: String::new(),
            stderr: "qsub: Unknown queue qgpu\n".into(),
            script: Some("/srv/hq/autoalloc/2/003/hq-submit.sh".into()),
        }),
        rate_limited_until: None,
    };
    vec![slurm, pbs]
}

/// The allocations of queue 1, newest first.
pub fn queue_detail() -> DashQueueDetail {
    use crate::autoalloc::info::AllocationInfo;
    use crate::autoalloc::{AllocStatus, AllocationEnd};
    let alloc =
        |id: &str, status, queued: u64, started: Option<u64>, end: Option<AllocationEnd>| {
            AllocationInfo {
                id: id.into(),
                target_worker_count: 1,
                connected_workers: (status == AllocStatus::Running) as u32,
                status,
                queued_at: T0 - queued,
                started_at: started.map(|s| T0 - s),
                ended_at: end.is_some().then_some(T0 - 60_000),
                workdir: format!("/srv/hq/autoalloc/1/{id}"),
                end,
            }
        };
    DashQueueDetail {
        id: 1,
        total: 3,
        allocations: vec![
            alloc("1236", AllocStatus::Queued, 720_000, None, None),
            alloc(
                "1235",
                AllocStatus::Running,
                1_500_000,
                Some(1_400_000),
                None,
            ),
            alloc(
                "1234",
                AllocStatus::Failed,
                3_000_000,
                Some(2_900_000),
                Some(AllocationEnd::Failed {
                    counted: true,
                    reason: "the worker crashed 5s after it connected".into(),
                }),
            ),
        ],
    }
}

fn update(now: u64) -> DashboardFeed {
    DashboardFeed {
        full: false,
        now,
        server_uid: "AbC123".into(),
        server_started: T0 - 3_600_000,
        job_count: 2,
        ..Default::default()
    }
}

#[test]
fn snapshot_then_changes() {
    let mut d = DashboardData::default();
    assert!(!d.connected);
    d.apply(snapshot());
    assert!(d.connected);
    assert_eq!(d.jobs.len(), 2);
    assert_eq!(d.workers.len(), 3);
    assert_eq!(d.tasks.as_ref().unwrap().rows.len(), 4);

    // Ten more tasks of job 1 completed in 5 s; worker 2 was lost; job 2 was forgotten.
    let mut u = update(T0 + 5_000);
    u.jobs = vec![job(1, "simulate", stats(30, 4, 60, 6), None)];
    u.workers = vec![worker(2, "cn2", WorkerState::ConnectionLost, 0.0)];
    u.removed_jobs = vec![2];
    d.apply(u);
    assert_eq!(d.jobs[&1].stats.finished, 60);
    assert!(!d.jobs.contains_key(&2));
    assert_eq!(d.workers[&2].state, WorkerState::ConnectionLost);
    // Rows not in an update stay as they were.
    assert_eq!(d.tasks.as_ref().unwrap().rows.len(), 4);
    assert_eq!(d.workers[&1].state, WorkerState::Running);
    assert_eq!(d.throughput(1), Some(2.0));
    // 34 tasks left at 2 tasks/s.
    assert_eq!(d.eta_secs(1), Some(17));
    let texts: Vec<&str> = d.timeline.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, vec!["worker 2 lost: connection lost"]);
}

#[test]
fn throughput_before_two_observations_uses_the_submit_time() {
    let mut d = DashboardData::default();
    d.apply(snapshot());
    // Job 2: 10 tasks between submit and completion (20 s).
    assert_eq!(d.throughput(2), Some(0.5));
    assert_eq!(d.eta_secs(2), None, "nothing left");
    // Job 1: 56 completed in the 120 s since it was submitted.
    let rate = d.throughput(1).unwrap();
    assert!((rate - 56.0 / 120.0).abs() < 1e-9, "{rate}");
}

#[test]
fn new_jobs_and_completions_reach_the_timeline() {
    let mut d = DashboardData::default();
    d.apply(snapshot());
    let mut u = update(T0 + 1000);
    u.jobs = vec![
        job(3, "post", stats(1, 0, 0, 0), None),
        job(1, "simulate", stats(0, 0, 94, 6), Some(T0 + 1000)),
    ];
    d.apply(u);
    let texts: Vec<&str> = d.timeline.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        texts,
        vec!["job 3 `post` submitted", "job 1 `simulate` failed"]
    );
}

#[test]
fn queues_are_replaced_only_when_sent() {
    let mut d = DashboardData::default();
    d.apply(snapshot());
    assert_eq!(d.queues.len(), 2);
    assert_eq!(d.queue_detail.as_ref().unwrap().allocations.len(), 3);
    // An update without queues keeps them; one with them replaces the list.
    d.apply(update(T0 + 500));
    assert_eq!(d.queues.len(), 2);
    let mut u = update(T0 + 1000);
    u.queues = Some(queues().into_iter().skip(1).collect());
    d.apply(u);
    assert_eq!(d.queues.iter().map(|q| q.id).collect::<Vec<_>>(), vec![2]);
    assert!(
        d.queue_detail.is_some(),
        "the detail stays until a new one comes"
    );
}

#[test]
fn a_new_snapshot_replaces_the_rows() {
    let mut d = DashboardData::default();
    d.apply(snapshot());
    let mut s = snapshot();
    s.jobs.truncate(1);
    s.tasks = None;
    d.apply(s);
    assert_eq!(d.jobs.keys().copied().collect::<Vec<_>>(), vec![1]);
    assert!(d.tasks.is_none());
}

#[test]
fn cluster_use_averages_running_workers() {
    let mut d = DashboardData::default();
    d.apply(snapshot());
    let (cpu, mem, gpu) = d.cluster_use().unwrap();
    assert_eq!(cpu, 50.0);
    assert_eq!(mem, 25.0);
    assert_eq!(gpu, None);
    assert_eq!(
        d.worker_states(),
        vec![(WorkerState::Running, 2), (WorkerState::HeartbeatLost, 1)]
    );
}
