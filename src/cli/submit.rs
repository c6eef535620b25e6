//! The flags of `hq submit` and `hq run`, and how they become a [`SubmitRequest`] (arrays,
//! entries, resources, outputs). Sending it is the job of `submission.rs`.

use super::CliError;
use crate::common::duration::parse_duration;
use crate::common::idset::IdSet;
use crate::common::placeholders;
use crate::protocol::messages::*;
use crate::resources::flags::variants_from_cli;
use crate::resources::{ResourceAmount, ResourceRequestVariants};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub opts: SubmitOpts,
    /// The program and its arguments (use `--` before a program starting with `-`)
    #[arg(trailing_var_arg = true, required = true, num_args = 1.., value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Options shared by `hq submit` and `hq run`.
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize)]
pub struct SubmitOpts {
    /// Job name (default: the program's file name)
    #[arg(long)]
    pub name: Option<String>,
    /// Abort the remaining tasks once more than N tasks failed
    #[arg(long)]
    pub max_fails: Option<u32>,
    /// One task per ID, e.g. `1-100`, `0-10:2`, `1,3,5-8`
    #[arg(long)]
    pub array: Option<String>,
    /// One task per line of FILE (the line is in HQ_ENTRY)
    #[arg(long, conflicts_with = "from_json")]
    pub each_line: Option<PathBuf>,
    /// One task per element of the JSON array in FILE (compact JSON in HQ_ENTRY)
    #[arg(long)]
    pub from_json: Option<PathBuf>,
    /// CPU request: `N`, `N compact|compact!|tight|tight!|scatter`, `all`, or `A-B` (variants)
    #[arg(long)]
    pub cpus: Option<String>,
    /// Resource request `NAME=AMOUNT[ POLICY]` (repeatable; a repeated name starts a variant)
    #[arg(long = "resource", value_name = "NAME=REQ")]
    pub resources: Vec<String>,
    /// Multi-node task owning N whole workers
    #[arg(long, default_value_t = 0, conflicts_with_all = ["cpus", "pin"])]
    pub nodes: u32,
    /// Minimal remaining worker lifetime needed to start
    #[arg(long, value_parser = parse_duration)]
    pub time_request: Option<Duration>,
    /// Kill and fail a task running longer than this
    #[arg(long, value_parser = parse_duration)]
    pub time_limit: Option<Duration>,
    /// Resource weight (> 0, default 1): within one priority, heavier tasks are placed first and
    /// a task takes its heaviest variant that fits
    #[arg(long)]
    pub weight: Option<f64>,
    /// Higher runs first
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i32,
    /// CPU pinning: `taskset` or `omp`
    #[arg(long, value_parser = ["taskset", "omp"])]
    pub pin: Option<String>,
    /// Working directory (placeholders allowed; default %{SUBMIT_DIR})
    #[arg(long)]
    pub cwd: Option<String>,
    /// `none`, `PATH`, `PATH:rm-if-finished` or `:rm-if-finished`
    #[arg(long)]
    pub stdout: Option<String>,
    /// `none`, `PATH`, `PATH:rm-if-finished` or `:rm-if-finished`
    #[arg(long)]
    pub stderr: Option<String>,
    /// Stream outputs into this directory
    #[arg(long)]
    pub stream: Option<String>,
    /// Environment variable `KEY=VAL` (repeatable)
    #[arg(long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Give each task a temporary directory (HQ_TASK_DIR)
    #[arg(long)]
    pub task_dir: bool,
    /// Worker losses a task survives: 1 ≤ N ≤ 65535, `never-restart` or `unlimited`
    #[arg(long, default_value = "5")]
    pub crash_limit: String,
    /// Retry a task whose program fails up to N more times (at most 65535)
    #[arg(long, default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=MAX_COUNT_LIMIT as i64))]
    pub max_retries: u32,
    /// Read stdin and feed it to every task
    #[arg(long)]
    pub stdin: bool,
    /// `#HQ` directives: auto, file, stdin, off
    #[arg(long, default_value = "auto")]
    pub directives: String,
    /// Add the tasks to this open job
    #[arg(long)]
    pub job: Option<JobId>,
    /// Wait until the job completes
    #[arg(long, conflicts_with = "progress")]
    pub wait: bool,
    /// Show a progress bar until the job completes
    #[arg(long)]
    pub progress: bool,
    /// With `--wait`: run CMD (split as a shell would) with each message a task sends by
    /// `hq task notify MESSAGE`, appended as the last argument
    #[arg(long, value_name = "CMD")]
    pub on_notify: Option<String>,
}

/// [`SubmitOpts`] alone, to learn its defaults and flag names.
#[derive(clap::Parser)]
#[command(no_binary_name = true)]
struct OnlySubmitOpts {
    #[command(flatten)]
    opts: SubmitOpts,
}

impl SubmitOpts {
    /// The options as clap fills them when none is given.
    pub fn defaults() -> SubmitOpts {
        <OnlySubmitOpts as clap::Parser>::try_parse_from(Vec::<String>::new())
            .map(|a| a.opts)
            .unwrap_or_default()
    }

    /// The flags (`--cpus`, ...) whose values differ from the defaults, in declaration order.
    pub fn given_flags(&self) -> Vec<String> {
        let (Ok(mine), Ok(defaults)) = (
            serde_json::to_value(self),
            serde_json::to_value(Self::defaults()),
        ) else {
            return vec![];
        };
        let command = <OnlySubmitOpts as clap::CommandFactory>::command();
        command
            .get_arguments()
            .filter(|a| mine.get(a.get_id().as_str()) != defaults.get(a.get_id().as_str()))
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect()
    }
}

/// All of stdin, read once (`--stdin`; `--directives stdin` parses the same bytes).
pub fn captured_stdin() -> Result<&'static [u8], CliError> {
    static DATA: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    if let Some(data) = DATA.get() {
        return Ok(data);
    }
    eprintln!("Reading data from stdin. In the interactive mode press Ctrl-D to submit.");
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
        .map_err(|e| CliError::Runtime(format!("cannot read stdin: {e}")))?;
    Ok(DATA.get_or_init(|| buf))
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Builds the submission from the flags and the command.
pub fn build_request(o: &SubmitOpts, command: &[String]) -> Result<SubmitRequest, CliError> {
    if o.job.is_some() && o.name.is_some() {
        return Err(CliError::Runtime(
            "Parameter --name is not allowed when submitting to an open job.".into(),
        ));
    }
    if o.job.is_some() && o.max_fails.is_some() {
        return Err(CliError::Runtime(
            "Parameter --max-fails is not allowed when submitting to an open job.".into(),
        ));
    }
    let submit_dir = std::env::current_dir()
        .map_err(|e| CliError::Runtime(format!("cannot read the current directory: {e}")))?;
    let (ids, entries) = task_ids_and_entries(o)?;
    let body = build_body(o, command)?;
    warn_about_outputs(o, &body, ids.as_ref().map(|i| i.len()).unwrap_or(1));
    let ids_after_existing = o.job.is_some() && o.array.is_none();
    let ids = ids.unwrap_or_else(|| IdSet::from_range(0, 0));
    let target = match o.job {
        Some(job) => JobTarget::Existing(job),
        None => JobTarget::New {
            name: job_name(o, command)?,
            max_fails: o.max_fails,
        },
    };
    let group = TaskGroup {
        ids,
        entries,
        body,
        deps: GroupDeps::default(),
    };
    Ok(SubmitRequest {
        target,
        submit_dir: submit_dir.display().to_string(),
        stream_dir: o.stream.clone(),
        groups: vec![group],
        ids_after_existing,
    })
}

fn job_name(o: &SubmitOpts, command: &[String]) -> Result<String, CliError> {
    let name = match &o.name {
        Some(n) => n.clone(),
        None => command
            .first()
            .and_then(|c| Path::new(c).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "job".into()),
    };
    if name.contains('\n') || name.contains('\t') {
        return Err(usage(
            "invalid value for `--name`: the name must not contain a newline or a tab",
        ));
    }
    Ok(name)
}

/// IDs from `--array`, entries from `--each-line`/`--from-json` (intersected when both).
/// Task IDs (if not the single task 0) and their `HQ_ENTRY` values.
type IdsAndEntries = (Option<IdSet>, Option<Vec<Vec<u8>>>);

fn task_ids_and_entries(o: &SubmitOpts) -> Result<IdsAndEntries, CliError> {
    let array = match &o.array {
        Some(text) => Some(
            IdSet::parse(text)
                .map_err(|e| usage(format!("invalid value `{text}` for `--array`: {e}")))?,
        ),
        None => None,
    };
    let entries = if let Some(path) = &o.each_line {
        Some(read_lines(path)?)
    } else if let Some(path) = &o.from_json {
        Some(read_json_entries(path)?)
    } else {
        None
    };
    Ok(match (array, entries) {
        (array, None) => (array, None),
        (None, Some(entries)) => {
            let n = entries.len() as u32;
            let ids = if n == 0 {
                IdSet::new()
            } else {
                IdSet::from_range(0, n - 1)
            };
            (Some(ids), Some(entries))
        }
        (Some(array), Some(entries)) => {
            let ids = array.below(entries.len() as u32);
            let picked = ids.iter().map(|i| entries[i as usize].clone()).collect();
            (Some(ids), Some(picked))
        }
    })
}

fn read_file(path: &Path, flag: &str) -> Result<Vec<u8>, CliError> {
    let data = std::fs::read(path).map_err(|e| {
        CliError::Runtime(format!(
            "cannot read `{}` given to `{flag}`: {e}",
            path.display()
        ))
    })?;
    if data.len() > 100 * 1024 * 1024 {
        log::warn!("{} is larger than 100 MB", path.display());
    }
    Ok(data)
}

fn read_lines(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let data = read_file(path, "--each-line")?;
    let mut lines: Vec<Vec<u8>> = data.split(|b| *b == b'\n').map(|l| l.to_vec()).collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    Ok(lines)
}

fn read_json_entries(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let data = read_file(path, "--from-json")?;
    let value: serde_json::Value = serde_json::from_slice(&data)
        .map_err(|e| CliError::Runtime(format!("{}: invalid JSON: {e}", path.display())))?;
    let serde_json::Value::Array(items) = value else {
        return Err(CliError::Runtime(format!(
            "{}: The top element of the provided JSON file has to be an array",
            path.display()
        )));
    };
    Ok(items
        .iter()
        .map(|v| serde_json::to_vec(v).unwrap_or_default())
        .collect())
}

fn parse_stdio(
    text: Option<&str>,
    default: &str,
    stream: bool,
    flag: &str,
) -> Result<StdioDef, CliError> {
    let Some(text) = text else {
        return Ok(if stream {
            StdioDef::Stream
        } else {
            StdioDef::File {
                path: default.into(),
                rm_if_finished: false,
            }
        });
    };
    if text == "none" {
        return Ok(StdioDef::Null);
    }
    let (path, rm) = match text.rsplit_once(':') {
        Some((p, "rm-if-finished")) => (if p.is_empty() { default } else { p }, true),
        _ => (text, false),
    };
    if path.is_empty() {
        return Err(usage(format!("invalid value for `{flag}`: empty path")));
    }
    Ok(StdioDef::File {
        path: path.into(),
        rm_if_finished: rm,
    })
}

pub fn parse_crash_limit(text: &str) -> Result<CrashLimit, CliError> {
    match text {
        "never-restart" => Ok(CrashLimit::NeverRestart),
        "unlimited" => Ok(CrashLimit::Unlimited),
        n => match n.parse::<u32>() {
            Ok(n @ 1..=MAX_COUNT_LIMIT) => Ok(CrashLimit::Limit(n)),
            _ => Err(usage(format!(
                "invalid value `{n}` for `--crash-limit`: use a number from 1 to {MAX_COUNT_LIMIT}, `never-restart` or `unlimited`"
            ))),
        },
    }
}

fn build_body(o: &SubmitOpts, command: &[String]) -> Result<TaskBody, CliError> {
    let stream = o.stream.is_some();
    let stdout = parse_stdio(
        o.stdout.as_deref(),
        "%{CWD}/job-%{JOB_ID}/%{TASK_ID}.stdout",
        stream,
        "--stdout",
    )?;
    let stderr = parse_stdio(
        o.stderr.as_deref(),
        "%{CWD}/job-%{JOB_ID}/%{TASK_ID}.stderr",
        stream,
        "--stderr",
    )?;
    if o.cwd.as_ref().is_some_and(|c| c.trim().is_empty()) {
        return Err(usage(
            "invalid value for `--cwd`: the working directory must not be empty; leave `--cwd` out to run in the submit directory",
        ));
    }
    let cwd = o.cwd.clone().unwrap_or_else(|| "%{SUBMIT_DIR}".into());
    placeholders::check_cwd(&cwd).map_err(|e| usage(e.to_string()))?;
    let mut env: Vec<(String, String)> = Vec::new();
    for item in &o.env {
        let (k, v) = item.split_once('=').unwrap_or((item.as_str(), ""));
        if k.is_empty() {
            return Err(usage(format!(
                "invalid value `{item}` for `--env`: expected KEY=VALUE"
            )));
        }
        if env.iter().any(|(n, _)| n == k) {
            log::warn!("Environment variable {k} is set more than once; the later value is used");
            env.retain(|(n, _)| n != k);
        }
        env.push((k.to_string(), v.to_string()));
    }
    let stdin = if o.stdin {
        captured_stdin()?.to_vec()
    } else {
        vec![]
    };
    Ok(TaskBody {
        program: ProgramDesc {
            args: command.to_vec(),
            env,
            cwd,
            stdout,
            stderr,
            stdin,
        },
        resources: request_variants(o)?,
        pin: match o.pin.as_deref() {
            Some("taskset") => PinMode::TaskSet,
            Some("omp") => PinMode::OpenMp,
            _ => PinMode::None,
        },
        task_dir: o.task_dir,
        time_limit_ms: o.time_limit.map(|d| d.as_millis() as u64),
        priority: o.priority,
        crash_limit: parse_crash_limit(&o.crash_limit)?,
        max_retries: o.max_retries,
        retry_growth: vec![],
        template: None,
    })
}

/// Resource variants from `--cpus`, `--resource`, `--nodes`, `--time-request`, `--weight`.
fn request_variants(o: &SubmitOpts) -> Result<ResourceRequestVariants, CliError> {
    let weight = match o.weight {
        Some(w) if w <= 0.0 || !w.is_finite() => {
            return Err(usage("invalid value for `--weight`: it must be positive"))
        }
        Some(w) => ResourceAmount((w * 10_000.0).round() as u64),
        None => ResourceAmount::ONE,
    };
    let time_request = o
        .time_request
        .map(crate::common::duration::whole_secs_up)
        .unwrap_or(0);
    let mut variants = variants_from_cli(o.cpus.as_deref(), &o.resources, time_request, o.nodes)
        .map_err(|e| usage(e.to_string()))?;
    for v in &mut variants.variants {
        v.weight = weight;
    }
    Ok(variants)
}

fn warn_about_outputs(o: &SubmitOpts, body: &TaskBody, task_count: u64) {
    let p = &body.program;
    let cwd_has_task_id = placeholders::uses(&p.cwd, placeholders::TASK_ID);
    let mut paths: Vec<(&str, &str)> = vec![];
    let mut files = 0;
    for (channel, def) in [("stdout", &p.stdout), ("stderr", &p.stderr)] {
        if let StdioDef::File { path, .. } = def {
            paths.push((channel, path));
            files += 1;
            let per_task = placeholders::uses(path, placeholders::TASK_ID)
                || (cwd_has_task_id && placeholders::uses(path, placeholders::CWD));
            if task_count > 1 && !per_task {
                log::warn!(
                    "You have submitted an array job, but the `{channel}` path does not contain the task ID placeholder.\n\
                     Individual tasks might thus overwrite the file. Consider adding `%{{TASK_ID}}` to the `--{channel}` value."
                );
            }
        }
    }
    paths.push(("working directory", &p.cwd));
    if let Some(s) = &o.stream {
        paths.insert(0, ("log", s));
    }
    for (what, path) in paths {
        match placeholders::unknown(path).as_slice() {
            [] => {}
            [one] => log::warn!("Found unknown placeholder `{one}` in {what} path"),
            many => log::warn!(
                "Found unknown placeholders `{}` in {what} path",
                many.join(", ")
            ),
        }
    }
    let total = files as u64 * task_count;
    if o.stream.is_none() && total > 999 {
        log::warn!(
            "The job will create {total} files for stdout and stderr. Consider using the `--stream` option to reduce the number of files"
        );
    }
}
