//! The first end-to-end path: server, worker, submit, wait, output.

use crate::utils::HqEnv;

#[test]
fn submit_runs_a_real_task_and_writes_its_output() {
    let mut env = HqEnv::with_server();
    env.start_worker(&[]);
    let job = env.submit(&[
        "--",
        "bash",
        "-c",
        "echo out-$HQ_JOB_ID-$HQ_TASK_ID; echo err >&2",
    ]);
    env.wait_job(job);
    assert_eq!(env.read("job-1/0.stdout"), "out-1-0\n");
    assert_eq!(env.read("job-1/0.stderr"), "err\n");
    assert_eq!(env.task_states(job), vec![(0, "finished".to_string())]);
}
