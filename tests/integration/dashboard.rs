//! `hq dashboard` against a real server and worker: one frame with `--once`, and the
//! interactive UI in a real terminal (tmux) driven by keys.

use crate::utils::*;
use std::process::Command;

#[test]
fn once_prints_one_frame_of_each_screen() {
    let mut env = HqEnv::with_server();
    let empty = env.ok(&["dashboard", "--once", "--size", "100x20"]);
    assert!(empty.contains("hq worker start"), "{empty}");
    env.start_worker(&[]);
    let job = env.submit(&["--array", "0-2", "--", "sh", "-c", "echo out-$HQ_TASK_ID"]);
    env.wait_job(job);
    let gpu = env.submit(&["--resource", "gpus=1", "--", "true"]);
    let overview = env.ok(&["dashboard", "--once", "--size", "120x30"]);
    assert!(overview.contains("1 running"), "{overview}");
    assert!(overview.contains("FINISHED"), "{overview}");
    let frame = env.ok(&["dashboard", "--once", "--job", &gpu.to_string()]);
    assert!(frame.contains("no connected worker has `gpus`"), "{frame}");
    let output = env.ok(&["dashboard", "--once", "--job", "1", "--task", "2"]);
    assert!(output.contains("out-2"), "{output}");
    let workers = env.ok(&["dashboard", "--once", "--screen", "workers"]);
    assert!(workers.contains("RUNNING"), "{workers}");
    let bad = env.fails(&["dashboard", "--once", "--size", "10"]);
    assert!(bad.stderr.contains("WIDTHxHEIGHT"), "{}", bad.stderr);
}

#[test]
fn without_a_terminal_it_says_what_to_do() {
    let env = HqEnv::with_server();
    let r = env.fails(&["dashboard"]);
    assert!(r.stderr.contains("--once"), "{}", r.stderr);
}

/// A tmux server of its own (`-L`), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed (scripts/test.sh installs it)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "dash"]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "dash"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    fn wait_for(&self, text: &str) {
        let mut last = String::new();
        let start = std::time::Instant::now();
        while !last.contains(text) {
            assert!(
                start.elapsed() < TIMEOUT,
                "`{text}` did not appear on the screen:\n{last}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
            last = self.screen();
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn navigates_into_a_job_and_a_task_output_in_a_real_terminal() {
    let mut env = HqEnv::new();
    let journal = env.file("j.bin").display().to_string();
    env.start_server(&["--journal", &journal]);
    env.start_worker(&[]);
    let job = env.submit(&[
        "--array",
        "0-2",
        "--",
        "sh",
        "-c",
        "echo hello-from-task-$HQ_TASK_ID",
    ]);
    env.wait_job(job);
    let exit_file = env.file("dashboard.exit");
    let command = format!(
        "env HQ_SERVER_DIR={} {HQ} dashboard; echo $? > {}; sleep 60",
        env.server_dir.display(),
        exit_file.display()
    );
    let tmux = Tmux {
        socket: format!(
            "hq-test-{}",
            env.path().file_name().unwrap().to_string_lossy()
        ),
    };
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "dash",
        "-x",
        "120",
        "-y",
        "40",
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    tmux.wait_for("Jobs (newest first");
    tmux.keys(&["2"]);
    tmux.wait_for("Jobs: 1");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Job 1 `sh`");
    tmux.wait_for("Tasks 1-3 of 3");
    tmux.keys(&["Enter"]);
    tmux.wait_for("hello-from-task-0");
    // With a journal, the timeline has the past from before the dashboard started.
    tmux.keys(&["4"]);
    tmux.wait_for("Timeline of the journal");
    tmux.wait_for("job 1 `sh` submitted");
    tmux.keys(&["5"]);
    tmux.wait_for("hq alloc add slurm --time-limit 1h -- -p PARTITION");
    tmux.keys(&["?"]);
    tmux.wait_for("Keys");
    // `q` quits even with the help pop-up open.
    tmux.keys(&["q"]);
    let mut code = String::new();
    wait_until("the dashboard to exit", || {
        code = std::fs::read_to_string(&exit_file).unwrap_or_default();
        !code.is_empty()
    });
    assert_eq!(code.trim(), "0");
}

#[test]
fn replay_shows_a_journal_offline() {
    let mut env = HqEnv::new();
    env.start_server(&["--journal", "j.bin"]);
    env.start_worker(&["--overview-interval", "100ms"]);
    let job = env.submit(&["--array", "0-2", "--", "sh", "-c", "test $HQ_TASK_ID != 1"]);
    env.wait_job(job);
    wait_until("a hardware report", || {
        !env.run(&["worker", "info", "1", "--output-mode", "json"])
            .json()[0]["overview"]
            .is_null()
    });
    env.ok(&["server", "stop"]);
    let before = std::fs::read(env.file("j.bin")).unwrap();
    let replay = |extra: &[&str]| {
        let mut args = vec!["dashboard", "replay", "j.bin", "--once", "--size", "120x30"];
        args.extend_from_slice(extra);
        env.ok(&args)
    };
    let timeline = replay(&["--screen", "timeline"]);
    assert!(timeline.contains("Timeline of the journal"), "{timeline}");
    assert!(timeline.contains("job 1 `sh` submitted"), "{timeline}");
    assert!(
        timeline.contains("job 1 task 1 failed: Program terminated with exit code 1"),
        "{timeline}"
    );
    assert!(timeline.contains("server stopped"), "{timeline}");
    let job_screen = replay(&["--job", "1"]);
    assert!(job_screen.contains("Tasks 1-3 of 3"), "{job_screen}");
    assert!(job_screen.contains("FAILED"), "{job_screen}");
    let worker = replay(&["--worker", "1"]);
    assert!(worker.contains("CPU over time"), "{worker}");
    assert!(worker.contains("State: STOPPED"), "{worker}");
    assert_eq!(
        std::fs::read(env.file("j.bin")).unwrap(),
        before,
        "the journal was changed"
    );
    let r = env.fails(&["dashboard", "replay", "--once"]);
    assert!(r.stderr.contains("needs the journal file"), "{}", r.stderr);
}

/// A server whose PATH starts with fake Slurm commands, with one queue (no dry run).
fn env_with_slurm_fakes(fakes: &[(&str, &str)], extra_env: &[(&str, &str)]) -> HqEnv {
    let mut env = HqEnv::new();
    for (name, body) in fakes {
        let dir = crate::autoalloc::fake_program(&env, name, body);
        env.prepend_path(&dir);
    }
    env.set_env("HQ_AUTOALLOC_DELAYS_MS", "0,50");
    for (k, v) in extra_env {
        env.set_env(k, v);
    }
    env.start_server(&[]);
    env.ok(&[
        "alloc",
        "add",
        "slurm",
        "--time-limit",
        "1h",
        "--no-dry-run",
        "--cpus",
        "1",
        "--",
        "-p",
        "nowhere",
    ]);
    env
}

#[test]
fn a_failing_sbatch_is_on_the_allocations_screen() {
    let env = env_with_slurm_fakes(
        &[(
            "sbatch",
            "echo 'sbatch: error: invalid partition specified: nowhere' >&2; exit 3",
        )],
        &[("HQ_AUTOALLOC_MAX_SUBMISSION_FAILS", "1")],
    );
    env.submit(&["--", "true"]);
    wait_until("the queue to pause", || {
        crate::autoalloc::queues(&env)[0]["state"] == "Paused"
    });
    let frame = env.ok(&[
        "dashboard",
        "--once",
        "--size",
        "120x30",
        "--screen",
        "allocations",
    ]);
    for text in [
        "Allocation queues: 1",
        "Slurm",
        "PAUSED",
        "-p nowhere",
        "`sbatch` exited with code 3",
        "Exit code: 3",
        "invalid partition specified: nowhere",
        "hq alloc resume 1",
    ] {
        assert!(frame.contains(text), "`{text}` is missing:\n{frame}");
    }
    let queue = env.ok(&["dashboard", "--once", "--size", "120x30", "--queue", "1"]);
    assert!(queue.contains("Allocations: none submitted yet"), "{queue}");
    assert!(queue.contains("Last decision"), "{queue}");
}

#[test]
fn a_queued_allocation_is_why_a_job_waits() {
    let env = env_with_slurm_fakes(
        &[
            ("sbatch", "echo 'Submitted batch job 77'"),
            ("squeue", "echo '77 PENDING'"),
            ("scancel", "exit 0"),
        ],
        &[],
    );
    let job = env.submit(&["--", "true"]);
    crate::autoalloc::wait_allocations(&env, 1, "the allocation", |a| !a.is_empty());
    let frame = env.ok(&[
        "dashboard",
        "--once",
        "--size",
        "120x30",
        "--job",
        &job.to_string(),
    ]);
    assert!(
        frame.contains("Waiting: allocation 77 (queue 1) queued for"),
        "{frame}"
    );
    let overview = env.ok(&["dashboard", "--once", "--size", "120x30"]);
    assert!(
        overview.contains("Allocations: 1 queue, 1 queued, 0 running"),
        "{overview}"
    );
    let queue = env.ok(&["dashboard", "--once", "--size", "120x30", "--queue", "1"]);
    assert!(queue.contains("Allocations: 1 (newest first)"), "{queue}");
    assert!(queue.contains("77") && queue.contains("QUEUED"), "{queue}");
    let r = env.fails(&["dashboard", "--once", "--queue", "1", "--job", "1"]);
    assert!(r.stderr.contains("--queue"), "{}", r.stderr);
}
