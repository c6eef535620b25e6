//! What a queue is configured with (`hq alloc add`), its checks, and the worker command line
//! every allocation of the queue runs.

use crate::common::duration::format_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which batch system a queue submits to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ManagerKind {
    Slurm,
    Pbs,
}

impl ManagerKind {
    /// `Slurm` / `PBS`, as tables and JSON show it.
    pub fn display_name(self) -> &'static str {
        match self {
            ManagerKind::Slurm => "Slurm",
            ManagerKind::Pbs => "PBS",
        }
    }

    /// `slurm` / `pbs`, as command lines spell it.
    pub fn flag_name(self) -> &'static str {
        match self {
            ManagerKind::Slurm => "slurm",
            ManagerKind::Pbs => "pbs",
        }
    }
}

/// Everything `hq alloc add` configures. Durations in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueParams {
    pub manager: ManagerKind,
    pub name: Option<String>,
    /// Most allocations waiting in the manager at once.
    pub backlog: u32,
    /// Walltime of each allocation.
    pub time_limit_secs: u64,
    pub max_workers_per_alloc: u32,
    /// Most workers queued and running at once (`None` = unlimited).
    pub max_worker_count: Option<u32>,
    /// Appended to the `#SBATCH`/`#PBS` directives.
    pub additional_args: Vec<String>,
    pub worker: WorkerParams,
}

/// How the queue's workers are started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerParams {
    pub cpus: Option<String>,
    pub resources: Vec<String>,
    pub coupling: Option<String>,
    pub group: Option<String>,
    pub no_hyper_threading: bool,
    pub detect_resources: Option<String>,
    pub idle_timeout_secs: u64,
    pub overview_interval_secs: Option<u64>,
    pub min_utilization: Option<f32>,
    /// `finish-running` or `stop`.
    pub on_server_lost: String,
    /// Defaults to the queue's time limit.
    pub time_limit_secs: Option<u64>,
    pub start_cmd: Option<String>,
    pub stop_cmd: Option<String>,
    pub wrap_cmd: Option<String>,
}

impl Default for WorkerParams {
    fn default() -> Self {
        WorkerParams {
            cpus: None,
            resources: vec![],
            coupling: None,
            group: None,
            no_hyper_threading: false,
            detect_resources: None,
            idle_timeout_secs: 300,
            overview_interval_secs: None,
            min_utilization: None,
            on_server_lost: "finish-running".into(),
            time_limit_secs: None,
            start_cmd: None,
            stop_cmd: None,
            wrap_cmd: None,
        }
    }
}

/// A queue configuration that cannot work.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParamsError {
    #[error("`--backlog` must be at least 1")]
    Backlog,
    #[error("`--max-workers-per-alloc` must be at least 1")]
    WorkersPerAlloc,
    #[error("`--max-worker-count` must be at least 1 (leave it out for no limit)")]
    MaxWorkerCount,
    #[error("`--time-limit` must be longer than zero")]
    TimeLimit,
    #[error(
        "`--worker-time-limit` ({worker}) must not exceed `--time-limit` ({queue}): the worker \
         would outlive its allocation"
    )]
    WorkerTimeLimit { worker: String, queue: String },
    #[error(
        "`--name {0}`: a queue name names allocations and a directory; use letters, digits, `-`, \
         `_` and `.`"
    )]
    Name(String),
    #[error("`--min-utilization` must be between 0.0 and 1.0, found {0}")]
    MinUtilization(f32),
    #[error(
        "the extra argument `{arg}` sets {what}, which `hq` sets itself; use {instead} instead"
    )]
    ForbiddenArg {
        arg: String,
        what: &'static str,
        instead: &'static str,
    },
}

impl QueueParams {
    /// Checks the parameters; returns warnings to show (e.g. a long idle timeout).
    pub fn validate(&self) -> Result<Vec<String>, ParamsError> {
        if self.backlog == 0 {
            return Err(ParamsError::Backlog);
        }
        if self.max_workers_per_alloc == 0 {
            return Err(ParamsError::WorkersPerAlloc);
        }
        if self.max_worker_count == Some(0) {
            return Err(ParamsError::MaxWorkerCount);
        }
        if self.time_limit_secs == 0 {
            return Err(ParamsError::TimeLimit);
        }
        if let Some(name) = &self.name {
            let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if name.is_empty() || name.starts_with('.') || !name.chars().all(ok) {
                return Err(ParamsError::Name(name.clone()));
            }
        }
        if let Some(w) = self.worker.time_limit_secs {
            if w > self.time_limit_secs {
                return Err(ParamsError::WorkerTimeLimit {
                    worker: secs(w),
                    queue: secs(self.time_limit_secs),
                });
            }
        }
        if let Some(u) = self.worker.min_utilization {
            if !(0.0..=1.0).contains(&u) {
                return Err(ParamsError::MinUtilization(u));
            }
        }
        self.check_extra_args()?;
        let mut warnings = Vec::new();
        if self.worker.cpus.is_none() && self.worker.resources.is_empty() {
            warnings.push(
                "No worker resources were given (`--cpus`, `--resource`): the queue will submit \
                 one allocation to learn what its workers offer before it submits more"
                    .to_string(),
            );
        }
        if self.worker.idle_timeout_secs > 600 {
            warnings.push(format!(
                "The idle timeout of the queue's workers is {}: idle allocations keep their nodes \
                 that long; consider a shorter `--idle-timeout`",
                secs(self.worker.idle_timeout_secs)
            ));
        }
        Ok(warnings)
    }

    fn check_extra_args(&self) -> Result<(), ParamsError> {
        let forbidden = |arg: &str, what: &'static str, instead: &'static str| {
            Err(ParamsError::ForbiddenArg {
                arg: arg.to_string(),
                what,
                instead,
            })
        };
        let mut prev = "";
        for arg in &self.additional_args {
            let a = arg.as_str();
            let flag = a.split('=').next().unwrap_or(a);
            match self.manager {
                ManagerKind::Slurm => {
                    if matches!(flag, "--nodes" | "-N") || a.starts_with("-N") {
                        return forbidden(a, "the node count", "`--max-workers-per-alloc`");
                    }
                    if matches!(flag, "--time" | "-t") || (a.starts_with("-t") && a.len() > 2) {
                        return forbidden(a, "the walltime", "`--time-limit`");
                    }
                }
                ManagerKind::Pbs => {
                    let value = if a == "-l" {
                        None
                    } else if prev == "-l" {
                        Some(a)
                    } else {
                        a.strip_prefix("-l")
                    };
                    for part in value.into_iter().flat_map(|v| v.split(',')) {
                        let key = part.split('=').next().unwrap_or(part);
                        if matches!(key, "select" | "nodes" | "nodect") {
                            return forbidden(a, "the node count", "`--max-workers-per-alloc`");
                        }
                        if key == "walltime" {
                            return forbidden(a, "the walltime", "`--time-limit`");
                        }
                    }
                }
            }
            prev = a;
        }
        Ok(())
    }

    /// The time limit the queue's workers get.
    pub fn worker_time_limit_secs(&self) -> u64 {
        self.worker.time_limit_secs.unwrap_or(self.time_limit_secs)
    }

    /// How long a new worker can run tasks: its time limit minus start-up (a tenth of it, at
    /// most one minute), so a task asking for the whole time limit never triggers an allocation.
    pub fn worker_lifetime_ms(&self) -> u64 {
        let limit = self.worker_time_limit_secs() * 1000;
        limit - (limit / 10).min(60_000)
    }

    /// `hq-<queue-id>` or the queue's name: the prefix of allocation names.
    pub fn allocation_name(&self, queue_id: u32, index: u32) -> String {
        match &self.name {
            Some(name) => format!("{name}-{index}"),
            None => format!("hq-{queue_id}-{index}"),
        }
    }

    /// The arguments after `hq worker start` that every worker of the queue gets (values in
    /// double quotes, as they appear in the submission script).
    pub fn worker_args(&self, server_dir: Option<&str>) -> Vec<String> {
        let w = &self.worker;
        let mut args = vec![
            "--idle-timeout".to_string(),
            dq(&secs(w.idle_timeout_secs)),
            "--manager".to_string(),
            dq(self.manager.flag_name()),
        ];
        if let Some(dir) = server_dir {
            args.extend(["--server-dir".to_string(), dq(dir)]);
        }
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(name.to_string());
                args.push(v);
            }
        };
        flag("--cpus", w.cpus.as_deref().map(dq));
        for r in &w.resources {
            flag("--resource", Some(dq(r)));
        }
        flag("--coupling", w.coupling.as_deref().map(dq));
        flag("--group", w.group.as_deref().map(dq));
        if w.no_hyper_threading {
            args.push("--no-hyper-threading".into());
        }
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(name.to_string());
                args.push(v);
            }
        };
        flag("--detect-resources", w.detect_resources.as_deref().map(dq));
        flag(
            "--overview-interval",
            w.overview_interval_secs.map(|s| dq(&secs(s))),
        );
        flag(
            "--min-utilization",
            w.min_utilization.map(|u| u.to_string()),
        );
        flag("--on-server-lost", Some(dq(&w.on_server_lost)));
        flag(
            "--time-limit",
            Some(dq(&secs(self.worker_time_limit_secs()))),
        );
        args
    }

    /// The whole command of one worker, as the submission script runs it.
    pub fn worker_command(&self, hq: &str, server_dir: &str, rust_log: Option<&str>) -> String {
        let w = &self.worker;
        let mut cmd = String::new();
        if let Some(start) = &w.start_cmd {
            cmd.push_str(&format!("{start} && "));
        }
        if let Some(log) = rust_log {
            cmd.push_str(&format!("RUST_LOG={} ", dq(log)));
        }
        if let Some(wrap) = &w.wrap_cmd {
            cmd.push_str(&format!("{wrap} "));
        }
        cmd.push_str(&format!("{} worker start", dq(hq)));
        for a in self.worker_args(Some(server_dir)) {
            cmd.push(' ');
            cmd.push_str(&a);
        }
        if let Some(stop) = &w.stop_cmd {
            cmd.push_str(&format!("; {stop}"));
        }
        cmd
    }
}

/// A duration in humantime form (`1h`, `30m`).
pub fn secs(s: u64) -> String {
    format_duration(Duration::from_secs(s))
}

/// Double-quotes a value for a POSIX shell.
pub fn dq(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn params(manager: ManagerKind) -> QueueParams {
        QueueParams {
            manager,
            name: None,
            backlog: 1,
            time_limit_secs: 3600,
            max_workers_per_alloc: 1,
            max_worker_count: None,
            additional_args: vec![],
            worker: WorkerParams::default(),
        }
    }

    #[test]
    fn worker_command_has_every_part_in_order() {
        let mut p = params(ManagerKind::Slurm);
        p.worker.cpus = Some("4".into());
        p.worker.resources = vec!["gpus=[0,1]".into()];
        p.worker.start_cmd = Some("module load x".into());
        p.worker.stop_cmd = Some("echo done".into());
        p.worker.wrap_cmd = Some("podman run img".into());
        p.worker.time_limit_secs = Some(1800);
        let cmd = p.worker_command("/opt/hq", "/home/u/.hq-server", Some("debug"));
        insta::assert_snapshot!(cmd, @r#"module load x && RUST_LOG="debug" podman run img "/opt/hq" worker start --idle-timeout "5m" --manager "slurm" --server-dir "/home/u/.hq-server" --cpus "4" --resource "gpus=[0,1]" --on-server-lost "finish-running" --time-limit "30m"; echo done"#);
    }

    #[test]
    fn worker_args_as_alloc_list_shows_them() {
        let p = params(ManagerKind::Pbs);
        assert_eq!(
            p.worker_args(None),
            vec![
                "--idle-timeout",
                "\"5m\"",
                "--manager",
                "\"pbs\"",
                "--on-server-lost",
                "\"finish-running\"",
                "--time-limit",
                "\"1h\""
            ]
        );
    }

    #[test]
    fn node_counts_and_walltime_in_extra_args_are_refused() {
        for (kind, arg) in [
            (ManagerKind::Slurm, "--nodes=2"),
            (ManagerKind::Slurm, "-N2"),
            (ManagerKind::Slurm, "--time=10"),
            (ManagerKind::Pbs, "-lselect=2"),
            (ManagerKind::Pbs, "-lwalltime=1:00:00"),
        ] {
            let mut p = params(kind);
            p.additional_args = vec![arg.into()];
            assert!(
                matches!(p.validate(), Err(ParamsError::ForbiddenArg { .. })),
                "{arg}"
            );
        }
        let mut p = params(ManagerKind::Pbs);
        p.additional_args = vec!["-l".into(), "walltime=1:00:00".into()];
        assert!(p.validate().is_err());
        let mut p = params(ManagerKind::Slurm);
        p.additional_args = vec!["--partition=p1".into(), "--account=A".into()];
        assert!(p.validate().is_ok());
        for bad in ["a/b", "two words", "", ".."] {
            p.name = Some(bad.into());
            assert!(matches!(p.validate(), Err(ParamsError::Name(_))), "{bad}");
        }
    }

    #[test]
    fn worker_time_limit_may_not_exceed_the_queue_limit() {
        let mut p = params(ManagerKind::Slurm);
        p.worker.time_limit_secs = Some(7200);
        assert!(matches!(
            p.validate(),
            Err(ParamsError::WorkerTimeLimit { .. })
        ));
    }

    #[test]
    fn lifetime_leaves_room_for_start_up() {
        let mut p = params(ManagerKind::Slurm);
        assert_eq!(p.worker_lifetime_ms(), 3_540_000);
        p.time_limit_secs = 60;
        assert_eq!(p.worker_lifetime_ms(), 54_000);
    }

    #[test]
    fn quoting_escapes_shell_specials() {
        assert_eq!(dq(r#"a"b$c`d\e"#), r#""a\"b\$c\`d\\e""#);
    }
}
