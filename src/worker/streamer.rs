//! Output streaming on the worker (server.md "Output streaming"): a task's `Stream` channels
//! go through pipes into one stream file per (server instance, worker, stream directory).
//!
//! The files live in a process-wide registry because a worker process writes one file per
//! directory for its whole life, across tasks and bodies; a new worker ID after reconnecting
//! starts new files, since the header names the worker.

use super::env::WorkerContext;
use crate::common::placeholders::{self, Values};
use crate::protocol::messages::{BodyMsg, ProgramDesc, StdioDef, TaskAssignment, TaskOutcome};
use crate::stream::writer::StreamWriter;
use crate::stream::{Channel, FileHeader, EXTENSION};
use rand::distributions::{Alphanumeric, DistString};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

type Ids = (u32, u32, u32);

/// One open stream file shared by all tasks that stream into its directory.
struct StreamFile {
    writer: Mutex<StreamWriter<File>>,
}

impl StreamFile {
    fn with<T>(&self, f: impl FnOnce(&mut StreamWriter<File>) -> io::Result<T>) -> io::Result<T> {
        let mut w = self
            .writer
            .lock()
            .map_err(|_| io::Error::other("stream writer poisoned"))?;
        f(&mut w)
    }
}

/// (directory, server UID, worker ID) → open file.
type Registry = Mutex<HashMap<(PathBuf, String, u32), Arc<StreamFile>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The file for `dir`, created (with `dir`) on first use.
fn stream_file(dir: &Path, ctx: &WorkerContext) -> io::Result<Arc<StreamFile>> {
    let key = (dir.to_path_buf(), ctx.server_uid.clone(), ctx.worker_id);
    let mut files = registry()
        .lock()
        .map_err(|_| io::Error::other("stream registry poisoned"))?;
    if let Some(f) = files.get(&key) {
        return Ok(f.clone());
    }
    std::fs::create_dir_all(dir)?;
    let (path, file) = loop {
        let name = Alphanumeric.sample_string(&mut rand::thread_rng(), 12);
        let path = dir.join(format!("{name}.{EXTENSION}"));
        match File::options().write(true).create_new(true).open(&path) {
            Ok(f) => break (path, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let header = FileHeader {
        server_uid: ctx.server_uid.clone(),
        worker_id: ctx.worker_id,
    };
    let writer = StreamWriter::create(file, &header)?;
    log::debug!("Streaming into {}", path.display());
    let f = Arc::new(StreamFile {
        writer: Mutex::new(writer),
    });
    files.insert(key, f.clone());
    Ok(f)
}

/// The job's stream directory (the server resolved it at submit; resolving is idempotent).
fn stream_dir(ctx: &WorkerContext, a: &TaskAssignment, body: &BodyMsg) -> Option<PathBuf> {
    let text = body.stream_dir.as_deref()?;
    let values = Values::at_submit(a.job, &body.job_name, &body.submit_dir, &ctx.server_uid);
    Some(PathBuf::from(placeholders::resolve_stream_dir(
        text, &values,
    )))
}

/// A pipe whose read end is non-blocking for tokio; both ends close on exec (the child gets the
/// write end by `dup2`, which clears the flag), so concurrently spawned tasks do not inherit it.
fn pipe() -> io::Result<(pipe::Receiver, File)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let receiver = pipe::Receiver::from_owned_fd(read)?;
    Ok((receiver, File::from(write)))
}

/// Copies one pipe into the stream file until EOF, then writes the channel's end record.
/// Each chunk is flushed at once, so that readers see running tasks' output and a crashing
/// worker loses little; the end record is flushed by [`TaskStreams::finish`].
async fn pump(
    mut rx: pipe::Receiver,
    file: Arc<StreamFile>,
    ids: Ids,
    channel: Channel,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = rx.read(&mut buf).await?;
        if n == 0 {
            return file.with(|w| w.end(ids, channel));
        }
        file.with(|w| {
            w.chunk(ids, channel, &buf[..n])?;
            w.flush()
        })?;
    }
}

/// The streamed channels of one running task.
pub struct TaskStreams {
    file: Arc<StreamFile>,
    pumps: Vec<JoinHandle<io::Result<()>>>,
    /// Write ends for the child, taken by the launcher.
    stdout: Option<File>,
    stderr: Option<File>,
}

impl TaskStreams {
    /// Pipes for the task's `Stream` channels; `None` if it streams nothing.
    pub fn attach(
        ctx: &WorkerContext,
        a: &TaskAssignment,
        body: &BodyMsg,
        program: &ProgramDesc,
    ) -> Result<Option<TaskStreams>, String> {
        let wanted = [
            (Channel::Stdout, program.stdout == StdioDef::Stream),
            (Channel::Stderr, program.stderr == StdioDef::Stream),
        ];
        if !wanted.iter().any(|(_, w)| *w) {
            return Ok(None);
        }
        let Some(dir) = stream_dir(ctx, a, body) else {
            return Ok(None);
        };
        let failed = |e: io::Error| {
            format!(
                "Streaming: cannot open a stream file in {}: {e}",
                dir.display()
            )
        };
        let file = stream_file(&dir, ctx).map_err(failed)?;
        let mut streams = TaskStreams {
            file,
            pumps: Vec::new(),
            stdout: None,
            stderr: None,
        };
        let ids = (a.job, a.task, a.instance);
        for (channel, wanted) in wanted {
            if !wanted {
                continue;
            }
            let (rx, tx) = pipe().map_err(|e| format!("Streaming: cannot create a pipe: {e}"))?;
            let pump = tokio::spawn(pump(rx, streams.file.clone(), ids, channel));
            streams.pumps.push(pump);
            match channel {
                Channel::Stdout => streams.stdout = Some(tx),
                Channel::Stderr => streams.stderr = Some(tx),
            }
        }
        Ok(Some(streams))
    }

    /// The write ends for the task's stdout and stderr (`None` for channels not streamed).
    pub fn take_pipes(&mut self) -> (Option<File>, Option<File>) {
        (self.stdout.take(), self.stderr.take())
    }

    /// After the task ended: a finished or failed task's output is written and flushed before
    /// its result is reported (a streaming error fails it); a stopped task's is dropped.
    pub async fn finish(mut self, outcome: TaskOutcome) -> TaskOutcome {
        drop(self.take_pipes());
        if outcome == TaskOutcome::Stopped {
            for pump in &self.pumps {
                pump.abort();
            }
            return outcome;
        }
        let mut error = None;
        for pump in self.pumps.drain(..) {
            match pump.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error = error.or(Some(e.to_string())),
                Err(e) => error = error.or(Some(e.to_string())),
            }
        }
        if let Err(e) = self.file.with(|w| w.flush()) {
            error = error.or(Some(e.to_string()));
        }
        match error {
            Some(e) => TaskOutcome::Failed(format!("Streaming: {e}")),
            None => outcome,
        }
    }
}
