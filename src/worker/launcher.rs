//! Starts one task execution as a real process in its own process group, enforces its time
//! limit, and stops the whole group on cancel (SIGINT, then SIGKILL after a grace period).

use super::env::{prepare, program_of, Prepared, WorkerContext};
use super::exec::{self, StartError};
use super::mailbox::Mailbox;
use super::streamer::TaskStreams;

use super::spawn;
use crate::protocol::messages::{BodyMsg, StdioDef, TaskAssignment, TaskOutcome};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::oneshot;

/// How long a stopped task gets between SIGINT and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// What the worker loop hands an execution besides its assignment.
pub struct Link {
    /// Fires when the execution must stop (cancel, worker shutdown).
    pub cancel: oneshot::Receiver<()>,
    /// Called once the process runs (outputs open, task directory made).
    pub started: Box<dyn FnOnce() + Send>,
    /// The execution's `HQ_ACCESS_KEY`.
    pub access_key: String,
    /// Where the worker loop can hand a successor over while the process runs (set once it
    /// runs, if it was started by an exec thread).
    pub slot: Arc<OnceLock<Arc<exec::Slot>>>,
}

/// Runs the task to its end (or until it is canceled) and reports the outcome.
pub async fn run_task(
    ctx: Arc<WorkerContext>,
    a: TaskAssignment,
    body: Arc<BodyMsg>,
    link: Link,
) -> TaskOutcome {
    let program = match program_of(&a, &body) {
        Ok(p) => p,
        Err(e) => return TaskOutcome::Failed(e),
    };
    let p = prepare(&ctx, &a, &body, &program, &link.access_key);
    let mut streams = match TaskStreams::attach(&ctx, &a, &body, &program) {
        Ok(s) => s,
        Err(e) => return TaskOutcome::Failed(e),
    };
    let pipes = streams.as_mut().map(TaskStreams::take_pipes);
    let pipes = pipes.unwrap_or_default();
    let mut outcome = execute(&p, &a, &body, link, pipes, &ctx.mailbox).await;
    if let Some(streams) = streams {
        outcome = streams.finish(outcome).await;
    }
    clean_up(&p, outcome)
}

/// A task to start behind a running process, built on the worker loop (see
/// [`exec::Slot::hand_over`]); `None` for one that must start the usual way when its
/// predecessor's end is reported: it reads stdin, streams its output, or fails before its
/// process could start.
pub fn prepare_handover(
    ctx: &WorkerContext,
    a: &TaskAssignment,
    body: &BodyMsg,
    access_key: &str,
) -> Option<(Prepared, exec::Launch)> {
    let program = program_of(a, body).ok()?;
    let streamed = [&program.stdout, &program.stderr].contains(&&StdioDef::Stream);
    if streamed || !program.stdin.is_empty() {
        return None;
    }
    let p = prepare(ctx, a, body, &program, access_key);
    let launch = fast_launch(&p, a, Default::default())?.ok()?;
    Some((p, launch))
}

/// Runs a task handed over behind a running process to its end; `None` if the worker loop
/// took it back before it started.
pub async fn run_handed(
    p: Prepared,
    a: TaskAssignment,
    body: Arc<BodyMsg>,
    link: Link,
    pending: exec::Pending,
) -> Option<TaskOutcome> {
    let child = match pending.started().await? {
        Ok(process) => Ok(TaskChild::Fast(process)),
        Err(e) => match start_failed(&p, &e) {
            Some(outcome) => return Some(outcome),
            None => start_tokio(&p, &a, &body.body.program.stdin, Default::default()),
        },
    };
    let outcome = match child {
        Ok(child) => supervise(child, &p, &a, &body, link).await,
        Err(e) => TaskOutcome::Failed(e),
    };
    Some(clean_up(&p, outcome))
}

/// Removes the task directory, and the output files asked to go on success.
fn clean_up(p: &Prepared, outcome: TaskOutcome) -> TaskOutcome {
    if let Some(dir) = &p.task_dir {
        let _ = fs::remove_dir_all(dir);
    }
    if outcome == TaskOutcome::Finished {
        for (path, rm) in [&p.stdout, &p.stderr].into_iter().flatten() {
            if *rm {
                let _ = fs::remove_file(path);
            }
        }
    }
    outcome
}

/// The file for a task's stdout or stderr; `None` means `/dev/null`.
fn open_output(target: &Option<(std::path::PathBuf, bool)>) -> Result<Option<fs::File>, String> {
    let Some((path, _)) = target else {
        return Ok(None);
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("Cannot create directory {}: {e}", parent.display()))?;
    }
    let file = fs::File::create(path)
        .map_err(|e| format!("Cannot create file {}: {e}", path.display()))?;
    Ok(Some(file))
}

fn write_node_files(task_dir: Option<&Path>, nodes: &[String]) -> Result<(), String> {
    let Some(dir) = task_dir else {
        return Ok(());
    };
    fs::create_dir_all(dir)
        .map_err(|e| format!("Cannot create task directory {}: {e}", dir.display()))?;
    if !nodes.is_empty() {
        let short: Vec<String> = nodes
            .iter()
            .map(|h| {
                if h.parse::<std::net::IpAddr>().is_ok() {
                    h.clone()
                } else {
                    h.split('.').next().unwrap_or(h).to_string()
                }
            })
            .collect();
        let write = |name: &str, lines: &[String]| {
            fs::write(dir.join(name), lines.join("\n") + "\n")
                .map_err(|e| format!("Cannot write {name}: {e}"))
        };
        write("hq-nodefile", &short)?;
        write("hq-hostfile", nodes)?;
    }
    Ok(())
}

type Pipes = (Option<fs::File>, Option<fs::File>);

/// What a task needs on disk before its process starts: the working directory, the task
/// directory with its node files, and the output files (a channel without a file of its own
/// goes to its stream pipe, if any).
struct Setup {
    cwd: PathBuf,
    task_dir: Option<PathBuf>,
    nodes: Vec<String>,
    stdout: Option<(PathBuf, bool)>,
    stderr: Option<(PathBuf, bool)>,
    pipes: Pipes,
}

impl Setup {
    fn of(p: &Prepared, a: &TaskAssignment, pipes: Pipes) -> Setup {
        Setup {
            cwd: p.cwd.clone(),
            task_dir: p.task_dir.clone(),
            nodes: a.nodes.clone(),
            stdout: p.stdout.clone(),
            stderr: p.stderr.clone(),
            pipes,
        }
    }

    fn run(self) -> Result<exec::Outputs, String> {
        fs::create_dir_all(&self.cwd).map_err(|e| {
            format!(
                "Cannot create working directory {}: {e}",
                self.cwd.display()
            )
        })?;
        write_node_files(self.task_dir.as_deref(), &self.nodes)?;
        let stdout = open_output(&self.stdout)?;
        let stderr = open_output(&self.stderr)?;
        Ok(exec::Outputs {
            stdout: stdout.or(self.pipes.0),
            stderr: stderr.or(self.pipes.1),
        })
    }
}

/// The start of the task's process by an exec thread (its setup runs there too); `None` if
/// it needs `tokio::process` (stdin).
fn fast_launch(
    p: &Prepared,
    a: &TaskAssignment,
    pipes: Pipes,
) -> Option<Result<exec::Launch, std::io::Error>> {
    // Entries need not be UTF-8 (tasks.md): pass the raw bytes, not the lossy `String`.
    let entry = a.entry.as_deref().map(OsStr::from_bytes);
    let mut env: Vec<(&OsStr, &OsStr)> = p
        .env
        .iter()
        .map(|(k, v)| (OsStr::new(k), OsStr::new(v)))
        .collect();
    if let Some(entry) = entry {
        env.push((OsStr::new("HQ_ENTRY"), entry));
    }
    let req = spawn::SpawnRequest {
        args: &p.args,
        env: &env,
        cwd: &p.cwd,
        death_signal: libc::SIGTERM,
    };
    let setup = Setup::of(p, a, pipes);
    Some(match spawn::prepare(&req) {
        Ok(prepared) => Ok(exec::Launch {
            prepared,
            setup: Box::new(move || setup.run()),
        }),
        Err(spawn::SpawnError::Io(e)) => Err(e),
        Err(spawn::SpawnError::Unsupported) => return None,
    })
}

/// The task's outcome for a start that failed; `None` if it must start with
/// `tokio::process` instead.
fn start_failed(p: &Prepared, e: &StartError) -> Option<TaskOutcome> {
    match e {
        StartError::Setup(msg) => Some(TaskOutcome::Failed(msg.clone())),
        StartError::Spawn(spawn::SpawnError::Io(e)) => {
            Some(TaskOutcome::Failed(spawn_error(&p.args, &p.cwd, e)))
        }
        StartError::Spawn(spawn::SpawnError::Unsupported) => None,
    }
}

fn dup_pipes(pipes: &Pipes) -> std::io::Result<Pipes> {
    let dup = |f: &Option<fs::File>| f.as_ref().map(fs::File::try_clone).transpose();
    Ok((dup(&pipes.0)?, dup(&pipes.1)?))
}

async fn execute(
    p: &Prepared,
    a: &TaskAssignment,
    body: &BodyMsg,
    link: Link,
    pipes: Pipes,
    mailbox: &Arc<Mailbox>,
) -> TaskOutcome {
    if p.args.is_empty() {
        return TaskOutcome::Failed("Cannot execute an empty command".into());
    }
    let stdin_data = &body.body.program.stdin;
    if stdin_data.is_empty() {
        // The exec thread gets its own copies: the pipes are needed again if it cannot start it.
        let copies = match dup_pipes(&pipes) {
            Ok(c) => c,
            Err(e) => return TaskOutcome::Failed(format!("Cannot set up the output pipes: {e}")),
        };
        let started = match fast_launch(p, a, copies) {
            Some(Ok(launch)) => exec::start(launch, Some(mailbox.clone())).started().await,
            Some(Err(e)) => return TaskOutcome::Failed(spawn_error(&p.args, &p.cwd, &e)),
            None => None,
        };
        match started {
            Some(Ok(process)) => {
                drop(pipes);
                return supervise(TaskChild::Fast(process), p, a, body, link).await;
            }
            Some(Err(e)) => {
                if let Some(outcome) = start_failed(p, &e) {
                    return outcome;
                }
            }
            None => {}
        }
    }
    match start_tokio(p, a, stdin_data, pipes) {
        Ok(child) => supervise(child, p, a, body, link).await,
        Err(e) => TaskOutcome::Failed(e),
    }
}

/// Starts the task with `tokio::process` (which forks), its files made on this thread; the
/// error is the task's.
fn start_tokio(
    p: &Prepared,
    a: &TaskAssignment,
    stdin_data: &[u8],
    pipes: Pipes,
) -> Result<TaskChild, String> {
    let outputs = Setup::of(p, a, pipes).run()?;
    start_process(p, a, stdin_data, outputs.stdout, outputs.stderr)
        .map(TaskChild::Tokio)
        .map_err(|e| spawn_error(&p.args, &p.cwd, &e))
}

/// Follows a started task process to its end: its time limit, a cancel, the group's end.
async fn supervise(
    mut child: TaskChild,
    p: &Prepared,
    a: &TaskAssignment,
    body: &BodyMsg,
    link: Link,
) -> TaskOutcome {
    let Link {
        cancel,
        started,
        slot,
        ..
    } = link;
    if let TaskChild::Fast(process) = &child {
        let _ = slot.set(process.slot().clone());
    }
    started();
    let pgid = child.id().map(|id| id as i32);
    let marker = p
        .env
        .iter()
        .find(|(k, _)| k == super::reaper::MARKER_VAR)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if let Some(mut stdin) = child.take_stdin() {
        let data = body.body.program.stdin.clone();
        tokio::spawn(async move {
            let _ = stdin.write_all(&data).await;
        });
    }
    let limit = body
        .body
        .time_limit_after(a.retries)
        .map(Duration::from_millis);

    let time_limit = async {
        match limit {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let status = tokio::select! {
        status = child.wait() => status,
        _ = time_limit => {
            stop_group(&mut child, pgid, marker).await;
            return TaskOutcome::Failed("Time limit reached".into());
        }
        _ = cancel => {
            stop_group(&mut child, pgid, marker).await;
            return TaskOutcome::Stopped;
        }
    };
    // Leftover members of the group (e.g. background children) do not outlive the task.
    if let Some(pgid) = pgid {
        kill_group(pgid, libc::SIGKILL);
    }
    match status {
        Ok(s) if s.success() => TaskOutcome::Finished,
        Ok(s) => TaskOutcome::Failed(exit_error(s, p.task_dir.as_deref())),
        Err(e) => TaskOutcome::Failed(format!("Cannot wait for the task process: {e}")),
    }
}

fn kill_group(pgid: i32, signal: i32) {
    // SAFETY: killpg only sends a signal; a stale group ID yields ESRCH, which we ignore.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// A task's process: started by [`spawn`], or by `tokio::process` when that cannot.
enum TaskChild {
    Fast(exec::TaskProcess),
    Tokio(tokio::process::Child),
}

impl TaskChild {
    fn id(&self) -> Option<u32> {
        match self {
            TaskChild::Fast(p) => Some(p.id()),
            TaskChild::Tokio(c) => c.id(),
        }
    }

    fn take_stdin(&mut self) -> Option<tokio::process::ChildStdin> {
        match self {
            TaskChild::Fast(_) => None,
            TaskChild::Tokio(c) => c.stdin.take(),
        }
    }

    async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self {
            TaskChild::Fast(p) => p.wait().await,
            TaskChild::Tokio(c) => c.wait().await,
        }
    }
}

/// Starts the task's process with `tokio::process`, in its own process group, with the
/// parent-death signal set.
fn start_process(
    p: &Prepared,
    a: &TaskAssignment,
    stdin_data: &[u8],
    stdout: Option<fs::File>,
    stderr: Option<fs::File>,
) -> std::io::Result<tokio::process::Child> {
    let entry = a.entry.as_deref().map(OsStr::from_bytes);
    let mut cmd = Command::new(&p.args[0]);
    cmd.args(&p.args[1..])
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&p.cwd)
        .stdout(stdout.map_or_else(Stdio::null, Stdio::from))
        .stderr(stderr.map_or_else(Stdio::null, Stdio::from))
        .stdin(if stdin_data.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .process_group(0)
        .kill_on_drop(false);
    if let Some(entry) = entry {
        cmd.env("HQ_ENTRY", entry);
    }
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to signal us when the worker dies.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.spawn()
}

/// SIGINT to the group (and to descendants that left it), up to [`KILL_GRACE`] for the leader
/// to exit, then SIGKILL to all of them.
async fn stop_group(child: &mut TaskChild, pgid: Option<i32>, marker: &str) {
    if let Some(pgid) = pgid {
        kill_group(pgid, libc::SIGINT);
        if !marker.is_empty() {
            super::reaper::signal_marked(marker, libc::SIGINT, pgid);
        }
        let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
        kill_group(pgid, libc::SIGKILL);
        if !marker.is_empty() {
            super::reaper::signal_marked(marker, libc::SIGKILL, pgid);
        }
    }
    let _ = child.wait().await;
}

fn exit_error(status: std::process::ExitStatus, task_dir: Option<&Path>) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(dir) = task_dir {
        if let Ok(content) = fs::read(dir.join("hq-error")) {
            if content.is_empty() {
                return "Task created an error file, but it is empty".into();
            }
            let mut text =
                String::from_utf8_lossy(&content[..content.len().min(2048)]).into_owned();
            if content.len() > 2048 {
                text.push_str("\n[The message was truncated]");
            }
            return text;
        }
    }
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("Program terminated with exit code {code}."),
        (None, Some(sig)) => format!(
            "Program terminated with exit code -1. Received signal {sig} ({}).",
            signal_name(sig)
        ),
        _ => "Program terminated abnormally.".into(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => "UNKNOWN",
    }
}

/// The task's error for a program that could not be started, with a hint for the usual
/// mistakes (the reference's wording).
fn spawn_error(args: &[String], cwd: &Path, e: &std::io::Error) -> String {
    let mut msg = format!("Cannot execute \"{}\": {e}", args.join(" "));
    let program = &args[0];
    let file = cwd.join(program);
    if e.kind() == std::io::ErrorKind::NotFound {
        msg.push_str(&format!(
            "\nThe program that you have tried to execute (`{program}`) was not found."
        ));
        if !program.contains('/') && file.exists() {
            msg.push_str(&format!(
                "\nThe file `{}` exists, maybe you have meant `./{program}` instead?",
                file.display()
            ));
        }
    } else if e.kind() == std::io::ErrorKind::PermissionDenied && file.is_file() {
        msg.push_str(&format!(
            "\nThe script that you have tried to execute (`{program}`) is not executable.\n\
             Try making it executable or add a shebang line to it."
        ));
    }
    msg
}
