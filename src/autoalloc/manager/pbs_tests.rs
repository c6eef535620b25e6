//! PBS output parsing with canned `qstat -F json` text.

use super::*;
use crate::autoalloc::manager::fake::{block, FakeRunner};
use crate::autoalloc::params::{QueueParams, WorkerParams};

const QSTAT: &str = r#"{
  "timestamp": 1700000000,
  "pbs_version": "2022.1.0",
  "Jobs": {
    "11.pbs1": {"job_state": "Q"},
    "12.pbs1": {"job_state": "R", "stime": "Mon Nov  6 10:00:00 2023"},
    "13.pbs1": {"job_state": "F", "Exit_status": 0},
    "14.pbs1": {"job_state": "F", "Exit_status": 1},
    "15.pbs1": {"job_state": "F", "Exit_status": 271},
    "16.pbs1": {"job_state": "F", "Exit_status": -30}
  }
}"#;

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn script_for_two_nodes_held_for_a_dry_run() {
    let p = QueueParams {
        manager: ManagerKind::Pbs,
        name: Some("big".into()),
        backlog: 1,
        time_limit_secs: 5400,
        max_workers_per_alloc: 2,
        max_worker_count: None,
        additional_args: vec!["-q".into(), "qprod".into(), "-A".into(), "A1".into()],
        worker: WorkerParams::default(),
    };
    let spec = SubmitSpec {
        params: &p,
        name: "big-3",
        workers: 2,
        dir: Path::new("/srv/d"),
        worker_command: "/bin/hq worker start --x 'y'",
        dry_run: true,
    };
    insta::assert_snapshot!(Pbs.script(&spec), @r"
    #!/bin/bash
    #PBS -l select=2
    #PBS -N big-3
    #PBS -o /srv/d/stdout
    #PBS -e /srv/d/stderr
    #PBS -l walltime=01:30:00
    #PBS -q qprod -A A1
    #PBS -h

    pbsdsh -- bash -l -c '/bin/hq worker start --x '\''y'\'''
    ");
}

#[test]
fn qsub_prints_the_id() {
    let r = FakeRunner::default().answer(0, "4711.pbs1\n", "");
    let id = block(Pbs.submit(&r, Path::new("/d/s.sh"), Path::new("/d"))).unwrap();
    assert_eq!(id, "4711.pbs1");
    let r = FakeRunner::default().answer(0, "job submitted as 4711\n", "");
    assert!(block(Pbs.submit(&r, Path::new("/d/s.sh"), Path::new("/d"))).is_err());
}

#[test]
fn one_qstat_for_all_allocations() {
    let r = FakeRunner::default().answer(0, QSTAT, "");
    let answers = block(Pbs.status(&r, &ids(&["11.pbs1", "12.pbs1", "13.pbs1"])));
    assert_eq!(
        r.calls(),
        vec!["qstat -f 11.pbs1 12.pbs1 13.pbs1 -F json -x"]
    );
    let states: Vec<StatusAnswer> = answers.into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        states,
        vec![
            StatusAnswer::Known(ManagerState::Queued),
            StatusAnswer::Known(ManagerState::Running),
            StatusAnswer::Known(ManagerState::Finished),
        ]
    );
}

#[test]
fn exit_statuses_classify_finished_jobs() {
    let all = parse_qstat_states(QSTAT, "", true, &ids(&["14.pbs1", "15.pbs1", "16.pbs1"]));
    assert!(matches!(
        all[0].1,
        StatusAnswer::Known(ManagerState::Failed { counted: true, .. })
    ));
    assert!(matches!(
        all[1].1,
        StatusAnswer::Known(ManagerState::Failed { counted: false, .. })
    ));
    assert_eq!(all[2].1, StatusAnswer::Known(ManagerState::Finished));
}

#[test]
fn unknown_ids_and_failures() {
    let stderr = "qstat: Unknown Job Id 99.pbs1\n";
    let a = parse_qstat_states(QSTAT, stderr, false, &ids(&["11", "99.pbs1"]));
    assert_eq!(a[0].1, StatusAnswer::Known(ManagerState::Queued));
    assert_eq!(a[1].1, StatusAnswer::Unknown);
    let a = parse_qstat_states("", "qstat: cannot connect to server", false, &ids(&["11"]));
    assert!(matches!(&a[0].1, StatusAnswer::Error(e) if e.contains("cannot connect")));
}

#[test]
fn remaining_walltime_from_qstat() {
    let text = r#"{"Jobs": {"x1234": {"Resource_List": {"walltime": "01:12:34"},
        "resources_used": {"walltime": "00:13:45"}}}}"#;
    assert_eq!(pbs_remaining_walltime(text, "x1234"), Some(3529));
    assert_eq!(pbs_remaining_walltime("{}", "x1234"), None);
}
