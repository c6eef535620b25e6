//! The test harness: an `HqEnv` owns a temporary directory with a server directory, starts the
//! real `hq` binary as server and workers (separate processes, loopback, port 0), runs client
//! commands, and kills every process it started, by PID, when dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const HQ: &str = env!("CARGO_BIN_EXE_hq");
/// Upper bound for anything a test waits for; generous because CI machines have 2 cores.
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub struct HqEnv {
    pub dir: tempfile::TempDir,
    pub server_dir: PathBuf,
    children: Vec<Child>,
    /// Variables set for every process this environment starts.
    envs: Vec<(String, String)>,
}

/// A finished command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr: {}", self.stdout, self.stderr))
    }
}

impl HqEnv {
    #[must_use]
    pub fn new() -> HqEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let server_dir = dir.path().join("sd");
        HqEnv {
            dir,
            server_dir,
            children: Vec::new(),
            envs: Vec::new(),
        }
    }

    /// An environment with a running server.
    #[must_use]
    pub fn with_server() -> HqEnv {
        let mut env = HqEnv::new();
        env.start_server(&[]);
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.file(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name))
            .unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    /// `hq` with this environment's server directory, run in the temporary directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(HQ);
        c.args(args)
            .current_dir(self.dir.path())
            .env("HQ_SERVER_DIR", &self.server_dir)
            .env_remove("HQ_OUTPUT_MODE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        c
    }

    /// Sets a variable for every process started from now on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.envs.retain(|(k, _)| k != key);
        self.envs.push((key.to_string(), value.to_string()));
    }

    /// Puts `dir` in front of `PATH` for every process started from now on.
    pub fn prepend_path(&mut self, dir: &Path) {
        let current = self
            .envs
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
        self.set_env("PATH", &format!("{}:{current}", dir.display()));
    }

    /// Runs a client command to completion (bounded by [`TIMEOUT`]).
    pub fn run(&self, args: &[&str]) -> Run {
        let child = self
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hq");
        wait_output(child, TIMEOUT, args)
    }

    /// Like [`Self::run`], with extra environment variables.
    pub fn run_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = self.cmd(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hq");
        wait_output(child, TIMEOUT, args)
    }

    /// Runs a client command that must finish within `timeout` (a hang fails the test).
    pub fn run_within(&self, args: &[&str], timeout: Duration) -> Run {
        let child = self
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hq");
        wait_output(child, timeout, args)
    }

    /// Runs and asserts exit code 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code,
            0,
            "`hq {}` failed\nstdout: {}\nstderr: {}",
            args.join(" "),
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// Runs and asserts a non-zero exit code; returns the run.
    pub fn fails(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_ne!(
            r.code,
            0,
            "`hq {}` should fail\nstdout: {}",
            args.join(" "),
            r.stdout
        );
        assert!(!r.stderr.contains("panicked"), "hq panicked: {}", r.stderr);
        r
    }

    /// Starts a long-running `hq` process (server, worker) owned by this environment.
    pub fn spawn(&mut self, args: &[&str]) -> u32 {
        self.spawn_env(args, &[])
    }

    /// [`spawn`](Self::spawn) with extra environment variables.
    pub fn spawn_env(&mut self, args: &[&str], vars: &[(&str, String)]) -> u32 {
        let log = self.file(&format!("proc-{}.log", self.children.len()));
        let log = std::fs::File::create(log).unwrap();
        let mut cmd = self.cmd(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn hq");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Takes ownership of a process started with [`cmd`], so it is ended with the others.
    pub fn adopt(&mut self, child: Child) {
        self.children.push(child);
    }

    /// Output of the `index`-th spawned process so far.
    pub fn proc_log(&self, index: usize) -> String {
        std::fs::read_to_string(self.file(&format!("proc-{index}.log"))).unwrap_or_default()
    }

    pub fn start_server(&mut self, extra: &[&str]) -> u32 {
        let mut args = vec!["server", "start", "--host", "127.0.0.1"];
        args.extend_from_slice(extra);
        let pid = self.spawn(&args);
        let env = &*self;
        wait_until("the server to answer", || {
            env.run(&["server", "info"]).code == 0
        });
        pid
    }

    /// Starts a worker and waits until the server lists it.
    pub fn start_worker(&mut self, extra: &[&str]) -> u32 {
        self.start_worker_env(extra, &[])
    }

    /// [`start_worker`](Self::start_worker) with extra environment variables.
    pub fn start_worker_env(&mut self, extra: &[&str], vars: &[(&str, String)]) -> u32 {
        let before = self.worker_count();
        let mut args = vec!["worker", "start", "--no-detect-resources"];
        if !extra.iter().any(|a| a.starts_with("--cpus")) {
            args.extend_from_slice(&["--cpus", "2"]);
        }
        args.extend_from_slice(extra);
        let pid = self.spawn_env(&args, vars);
        let env = &*self;
        wait_until("the worker to register", || env.worker_count() > before);
        pid
    }

    pub fn worker_count(&self) -> usize {
        let r = self.run(&["worker", "list", "--output-mode", "json"]);
        if r.code != 0 {
            return 0;
        }
        r.json().as_array().map(|a| a.len()).unwrap_or(0)
    }

    /// Submits and returns the job ID (via quiet output).
    pub fn submit(&self, args: &[&str]) -> u32 {
        let mut full = vec!["--output-mode", "quiet", "submit"];
        full.extend_from_slice(args);
        let out = self.ok(&full);
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("no job ID in {out:?}"))
    }

    pub fn wait_job(&self, job: u32) {
        self.ok(&["job", "wait", &job.to_string()]);
    }

    /// Task states of a job from `hq task list --output-mode json`, by task ID.
    pub fn task_states(&self, job: u32) -> Vec<(u64, String)> {
        let v = self
            .run(&["task", "list", &job.to_string(), "--output-mode", "json"])
            .json();
        v[job.to_string()]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_u64().unwrap(),
                    t["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Kills a process started by [`spawn`] with a signal, by PID.
    pub fn signal(&self, pid: u32, sig: i32) {
        // SAFETY: plain kill(2) on a PID this environment started.
        unsafe {
            libc::kill(pid as i32, sig);
        }
    }

    /// Waits for a spawned process to exit; returns its exit code.
    pub fn wait_exit(&mut self, pid: u32) -> i32 {
        let child = self
            .children
            .iter_mut()
            .find(|c| c.id() == pid)
            .expect("known pid");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(start.elapsed() < TIMEOUT, "process {pid} did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HqEnv {
    fn drop(&mut self) {
        for child in &mut self.children {
            // SAFETY: signalling our own child by PID.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
        let start = Instant::now();
        for child in &mut self.children {
            while child.try_wait().ok().flatten().is_none()
                && start.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_output(mut child: Child, timeout: Duration, args: &[&str]) -> Run {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return Run::from(child.wait_with_output().unwrap());
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "`hq {}` did not finish in {timeout:?}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls `cond` until it holds (bounded by [`TIMEOUT`]); panics naming `what` otherwise.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits until the file `name` in the environment's directory holds a PID, and returns it.
pub fn read_pid(env: &HqEnv, name: &str) -> i32 {
    let mut pid = 0;
    wait_until(name, || {
        pid = std::fs::read_to_string(env.file(name))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid > 0
    });
    pid
}

/// Whether a process with this PID exists.
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    if rc != 0 {
        return false;
    }
    // A zombie counts as dead.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
        .unwrap_or(false)
}

/// The value of row `key` in a vertical table printed by `hq` (`| Key | value |`); only the
/// first line of a multi-line cell.
pub fn row_value(table: &str, key: &str) -> Option<String> {
    table.lines().find_map(|line| {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        match cells.as_slice() {
            ["", k, v, ""] if *k == key => Some(v.to_string()),
            _ => None,
        }
    })
}

/// Peak resident memory (VmHWM) of a process in MiB.
pub fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib / 1024
}

/// Runs `hq job list` and checks it answers within a second; returns the time it took.
pub fn assert_responsive(env: &HqEnv, when: &str) -> Duration {
    let start = Instant::now();
    let r = env.run_within(&["job", "list", "--all"], Duration::from_secs(10));
    let took = start.elapsed();
    assert_eq!(r.code, 0, "`hq job list` {when} failed: {}", r.stderr);
    assert!(
        took < Duration::from_secs(1),
        "`hq job list` {when} took {took:?}"
    );
    took
}

/// Checks that the server stays small: its peak resident memory is below 100 MiB.
pub fn assert_small(pid: u32, when: &str) -> u64 {
    let peak = peak_rss_mib(pid);
    assert!(peak < 100, "the server's peak RSS {when} is {peak} MiB");
    peak
}
