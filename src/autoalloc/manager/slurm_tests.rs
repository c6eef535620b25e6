//! Slurm output parsing and the command sequence of a status refresh, with canned answers.

use super::*;
use crate::autoalloc::manager::fake::{block, FakeRunner};
use crate::autoalloc::params::{QueueParams, WorkerParams};

const SCONTROL_PENDING: &str = "JobId=7 JobName=hq-1-1
   UserId=root(0) GroupId=root(0) MCS_label=N/A
   JobState=PENDING Reason=BeginTime Dependency=(null)
   RunTime=00:00:00 TimeLimit=01:00:00 TimeMin=N/A
";

fn params() -> QueueParams {
    QueueParams {
        manager: ManagerKind::Slurm,
        name: None,
        backlog: 1,
        time_limit_secs: 3600 * 30 + 61,
        max_workers_per_alloc: 2,
        max_worker_count: None,
        additional_args: vec!["--partition=p1".into(), "--account=A1".into()],
        worker: WorkerParams::default(),
    }
}

#[test]
fn script_for_two_nodes() {
    let p = params();
    let spec = SubmitSpec {
        params: &p,
        name: "hq-1-3",
        workers: 2,
        dir: Path::new("/srv/hq/001/autoalloc/1/003"),
        worker_command: "/bin/hq worker start",
        dry_run: false,
    };
    insta::assert_snapshot!(Slurm.script(&spec), @r"
    #!/bin/bash
    #SBATCH --nodes=2
    #SBATCH --job-name=hq-1-3
    #SBATCH --output=/srv/hq/001/autoalloc/1/003/stdout
    #SBATCH --error=/srv/hq/001/autoalloc/1/003/stderr
    #SBATCH --time=30:01:01
    #SBATCH --partition=p1 --account=A1

    srun --overlap --ntasks=2 --nodes=2 /bin/hq worker start
    ");
}

#[test]
fn sbatch_output_gives_the_id() {
    assert_eq!(
        parse_sbatch("sbatch: warning: x\nSubmitted batch job 4711\n"),
        Some("4711".into())
    );
    assert_eq!(
        parse_sbatch("Submitted batch job 12 on cluster c"),
        Some("12".into())
    );
    assert_eq!(parse_sbatch("hello\n"), None);
}

#[test]
fn garbage_from_sbatch_is_a_failure_with_the_output() {
    let r = FakeRunner::default().answer(0, "all fine\n", "");
    let err = block(Slurm.submit(&r, Path::new("/d/hq-submit.sh"), Path::new("/d"))).unwrap_err();
    assert!(err.message.contains("Submitted batch job"), "{err:?}");
    assert_eq!(err.stdout, "all fine\n");
}

#[test]
fn failing_sbatch_keeps_exit_code_and_stderr() {
    let r = FakeRunner::default().answer(
        1,
        "",
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n",
    );
    let err = block(Slurm.submit(&r, Path::new("/d/s.sh"), Path::new("/d"))).unwrap_err();
    assert_eq!(err.exit_code, Some(1));
    assert!(err.stderr.contains("Invalid partition"));
    assert_eq!(err.command, "sbatch /d/s.sh");
}

#[test]
fn one_squeue_for_all_and_scontrol_only_for_unknown_ids() {
    let r = FakeRunner::default()
        .answer(0, "5 RUNNING\n6 PENDING\n", "")
        .answer(0, SCONTROL_PENDING, "")
        .answer(1, "", "slurm_load_jobs error: Invalid job id specified\n");
    let ids: Vec<String> = ["5", "6", "7", "8"].iter().map(|s| s.to_string()).collect();
    let answers = block(Slurm.status(&r, &ids));
    assert_eq!(
        r.calls(),
        vec![
            "squeue -h -t all -j 5,6,7,8 -o %i %T",
            "scontrol show job 7",
            "scontrol show job 8"
        ]
    );
    let states: Vec<StatusAnswer> = answers.into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        states,
        vec![
            StatusAnswer::Known(ManagerState::Running),
            StatusAnswer::Known(ManagerState::Queued),
            StatusAnswer::Known(ManagerState::Queued),
            StatusAnswer::Unknown,
        ]
    );
}

#[test]
fn a_failing_squeue_falls_back_to_scontrol_for_every_id() {
    let r = FakeRunner::default()
        .fail_spawn("squeue")
        .answer(0, SCONTROL_PENDING, "")
        .answer(
            1,
            "",
            "slurm_load_jobs error: Unable to contact slurm controller\n",
        );
    let ids: Vec<String> = vec!["7".into(), "9".into()];
    let answers = block(Slurm.status(&r, &ids));
    assert_eq!(r.calls().len(), 3);
    assert_eq!(answers[0].1, StatusAnswer::Known(ManagerState::Queued));
    assert!(
        matches!(&answers[1].1, StatusAnswer::Error(e) if e.contains("Unable to contact")),
        "{answers:?}"
    );
}

#[test]
fn states_map_to_allocation_states() {
    assert_eq!(slurm_state("CONFIGURING"), ManagerState::Queued);
    assert_eq!(slurm_state("COMPLETING"), ManagerState::Running);
    assert_eq!(slurm_state("TIMEOUT"), ManagerState::Finished);
    assert!(matches!(
        slurm_state("PREEMPTED"),
        ManagerState::Failed { counted: false, .. }
    ));
    assert!(matches!(
        slurm_state("NODE_FAIL"),
        ManagerState::Failed { counted: false, .. }
    ));
    assert!(matches!(
        slurm_state("FAILED"),
        ManagerState::Failed { counted: true, .. }
    ));
    assert!(matches!(
        slurm_state("OUT_OF_MEMORY"),
        ManagerState::Failed { counted: true, .. }
    ));
}

#[test]
fn durations_in_slurm_form() {
    assert_eq!(parse_slurm_duration("00:15:00"), Some(900));
    assert_eq!(parse_slurm_duration("1-02:00:00"), Some(93_600));
    assert_eq!(parse_slurm_duration("1-02"), Some(93_600));
    assert_eq!(parse_slurm_duration("30"), Some(1800));
    assert_eq!(parse_slurm_duration("01:30"), Some(90));
    assert_eq!(parse_slurm_duration("UNLIMITED"), None);
}

#[test]
fn scontrol_fields_are_key_value_words() {
    let f = scontrol_fields(SCONTROL_PENDING);
    assert_eq!(f.get("JobState"), Some(&"PENDING"));
    assert_eq!(f.get("TimeLimit"), Some(&"01:00:00"));
}
