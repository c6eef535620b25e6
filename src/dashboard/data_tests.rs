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
        ..Default::default()
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
