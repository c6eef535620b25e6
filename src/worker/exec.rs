//! Exec threads: each runs one task process at a time, from its clone to its reaping, and
//! then starts the next of the successors handed to it meanwhile ([`Slot::hand_over`]) the
//! moment the process exits. The end of a task thus reaches the start of the task queued
//! behind it in one thread, without the worker's event loop, which learns of both afterwards.
//!
//! What a thread tells the worker loop about the processes it starts after the first of a
//! chain goes through the worker's [`Mailbox`], which the loop collects in batches.
//!
//! A thread blocks in `waitpid` while its process runs, so there are as many threads as task
//! processes at once (plus idle ones, which wait for the next start). They never end: the
//! kernel ties a process's parent-death signal to the thread that cloned it, and "the worker
//! died" must be what that signal means (see `spawn.rs`).

use super::mailbox::{Delivery, Mailbox};
use super::spawn::{self, Prepared, SpawnError};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use tokio::sync::oneshot;

/// Stack of an exec thread (it only clones, waits and sends).
const THREAD_STACK: usize = 256 * 1024;

/// Where a task's stdout and stderr go; `None` is `/dev/null`.
#[derive(Default)]
pub struct Outputs {
    pub stdout: Option<File>,
    pub stderr: Option<File>,
}

/// What makes the task's files (working directory, output files), run on the exec thread
/// right before the clone: for a handed-over task that is after its predecessor ended, as if
/// the worker loop had started it then.
pub type Setup = Box<dyn FnOnce() -> Result<Outputs, String> + Send>;

/// A task process ready to start.
pub struct Launch {
    pub prepared: Prepared,
    pub setup: Setup,
}

#[derive(Debug)]
pub enum StartError {
    Spawn(SpawnError),
    /// The setup failed (the task's error message).
    Setup(String),
}

pub type StartReply = Result<TaskProcess, StartError>;
pub type ReplyTx = oneshot::Sender<StartReply>;
pub type ExitTx = oneshot::Sender<ExitStatus>;

/// A start in progress; see [`Pending::started`].
pub enum Pending {
    Waiting(oneshot::Receiver<StartReply>),
    /// No exec thread could be started.
    Failed(io::Error),
}

impl Pending {
    /// The started process, or why it could not start; `None` if it was withdrawn
    /// ([`Slot::withdraw`]) before it started.
    pub async fn started(self) -> Option<StartReply> {
        match self {
            Pending::Waiting(rx) => rx.await.ok(),
            Pending::Failed(e) => Some(Err(StartError::Spawn(SpawnError::Io(e)))),
        }
    }
}

/// The chain of processes an exec thread runs one after another, as the worker sees it:
/// successors handed over ([`Slot::hand_over`]) start in order, each the moment the process
/// before it exits. Every process of the chain shares its slot.
#[derive(Default)]
pub struct Slot {
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    /// The last process exited with nobody behind it (what is handed over now would start
    /// late).
    ended: bool,
    successors: VecDeque<(Ticket, Launch, ReplyTx)>,
    tickets: u64,
}

/// Names a successor handed over, to withdraw it by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(u64);

impl Slot {
    /// Hands `launch` over to start after the processes of this chain that run or wait;
    /// `None` (and `launch` is dropped) if the chain has ended.
    pub fn hand_over(&self, launch: Launch) -> Option<(Pending, Ticket)> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.ended {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        state.tickets += 1;
        let ticket = Ticket(state.tickets);
        state.successors.push_back((ticket, launch, tx));
        Some((Pending::Waiting(rx), ticket))
    }

    /// Takes back a successor handed over, if it has not begun to start; returns whether it
    /// was taken back (its [`Pending`] then yields `None`). Those behind it move up.
    pub fn withdraw(&self, ticket: Ticket) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let found = state.successors.iter().position(|(t, ..)| *t == ticket);
        found.and_then(|i| state.successors.remove(i)).is_some()
    }

    /// The process exited (or did not start): the successor to start now, if any.
    fn end(&self) -> Option<(Launch, ReplyTx)> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let next = state.successors.pop_front();
        state.ended = next.is_none();
        next.map(|(_, launch, reply)| (launch, reply))
    }
}

/// A started task process.
pub struct TaskProcess {
    pid: libc::pid_t,
    exit: oneshot::Receiver<ExitStatus>,
    status: Option<ExitStatus>,
    slot: Arc<Slot>,
}

impl TaskProcess {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Kills it (its exec thread reaps it): nobody waits for it.
    pub(super) fn kill(self) {
        // SAFETY: a signal to our own child, which its exec thread has not reaped yet (it
        // waits for this process to exit).
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
        }
    }

    /// Its chain, where successors can be handed over while it runs.
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// Waits for the process to exit (cancel-safe); its exec thread reaps it.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        let status = (&mut self.exit)
            .await
            .map_err(|_| io::Error::other("the exec thread stopped"))?;
        self.status = Some(status);
        Ok(status)
    }
}

/// Starts `launch` on an exec thread, the first process of a new chain; what the thread
/// tells of the processes after it goes through `mailbox` (delivered at once without one).
pub fn start(launch: Launch, mailbox: Option<Arc<Mailbox>>) -> Pending {
    let (tx, rx) = oneshot::channel();
    match run_on_thread(Box::new(move || run_chain(launch, tx, mailbox))) {
        Ok(()) => Pending::Waiting(rx),
        Err(e) => Pending::Failed(e),
    }
}

/// Starts `launch`, then each successor handed over to the chain, in order: a successor is
/// cloned before its predecessor's end is told, so it starts without waiting for anyone. One
/// that cannot start is answered with its error, and the next one starts at once. The first
/// start is answered directly, as is the exit after which nobody waits in the chain.
fn run_chain(launch: Launch, reply: ReplyTx, mailbox: Option<Arc<Mailbox>>) {
    let slot = Arc::new(Slot::default());
    let (answer, mut running) = start_one(launch, &slot);
    if let Err(Ok(process)) = reply.send(answer) {
        // Nobody waits for it any more (the task was dropped meanwhile).
        running = None;
        spawn::kill_and_reap(process.pid);
    }
    loop {
        let ended = running.take().map(|(pid, exit)| (exit, wait_blocking(pid)));
        let Some((launch, reply)) = slot.end() else {
            if let Some((exit, status)) = ended {
                let _ = exit.send(status);
            }
            return;
        };
        let (answer, started) = start_one(launch, &slot);
        running = started;
        let mail = std::iter::once(Delivery::Started(reply, answer))
            .chain(ended.map(|(exit, status)| Delivery::Exited(exit, status)));
        match &mailbox {
            Some(mailbox) => mailbox.post(mail),
            None => mail.for_each(Delivery::deliver),
        }
    }
}

/// Sets up and clones one process of the chain `slot`: the answer for its task, and what to
/// wait for if it started.
fn start_one(launch: Launch, slot: &Arc<Slot>) -> (StartReply, Option<(libc::pid_t, ExitTx)>) {
    let outputs = match (launch.setup)() {
        Ok(outputs) => outputs,
        Err(e) => return (Err(StartError::Setup(e)), None),
    };
    let pid = match launch.prepared.start(outputs.stdout, outputs.stderr) {
        Ok(pid) => pid,
        Err(e) => return (Err(StartError::Spawn(e)), None),
    };
    let (exit_tx, exit_rx) = oneshot::channel();
    let process = TaskProcess {
        pid,
        exit: exit_rx,
        status: None,
        slot: slot.clone(),
    };
    (Ok(process), Some((pid, exit_tx)))
}

fn wait_blocking(pid: libc::pid_t) -> ExitStatus {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return ExitStatus::from_raw(status);
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    jobs: mpsc::Sender<Job>,
    queue: Mutex<mpsc::Receiver<Job>>,
    /// Threads waiting for a job.
    idle: AtomicUsize,
}

/// Runs `job` on an idle exec thread, or on a new one if none is idle.
fn run_on_thread(job: Job) -> io::Result<()> {
    static POOL: OnceLock<Pool> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let (jobs, queue) = mpsc::channel();
        Pool {
            jobs,
            queue: Mutex::new(queue),
            idle: AtomicUsize::new(0),
        }
    });
    let had_idle = pool
        .idle
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok();
    if had_idle {
        // The receiver lives in the static pool, so sending cannot fail.
        let _ = pool.jobs.send(job);
        return Ok(());
    }
    std::thread::Builder::new()
        .name("hq-exec".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            job();
            loop {
                pool.idle.fetch_add(1, Ordering::AcqRel);
                match pool.queue.lock().map(|q| q.recv()) {
                    Ok(Ok(job)) => job(),
                    _ => break,
                }
            }
        })
        .map(|_| ())
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
