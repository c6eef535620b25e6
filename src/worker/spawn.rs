//! Starting task processes cheaply. `std`/`tokio` start a process with a `pre_exec` hook (which
//! we need for `PR_SET_PDEATHSIG`) by `fork`: that copies the worker's page tables and makes the
//! worker take a copy-on-write fault for every page it touches afterwards, which costs more than
//! the task itself for tiny tasks. Here the child is made like glibc's `posix_spawn` does it,
//! with `clone(CLONE_VM | CLONE_VFORK)` on a small stack of its own, and it runs only
//! async-signal-safe calls before `execve`. The exit is awaited through a pidfd.
//!
//! `CLONE_VFORK` suspends the calling thread until the child has called `execve` (a few hundred
//! microseconds for a small program), so the clone runs on dedicated spawner threads, not on
//! the worker's event loop: the loop keeps taking results and messages meanwhile, and several
//! tasks start at once on several cores. The threads live as long as the worker, so the
//! parent-death signal (which the kernel ties to the creating thread) still means "the worker
//! died".
//!
//! The child ends up as `std::process::Command` would make it: stdio on fds 0-2, the working
//! directory, its own process group, handled signals and SIGPIPE back to default, an empty
//! signal mask, the parent-death signal, and `PATH` looked up like `execvp` (with the `PATH`
//! from the task's environment when it sets one). Cases this does not cover (a script without
//! `#!`, which `execvp` hands to `/bin/sh`) report [`SpawnError::Unsupported`], and the caller
//! falls back to `tokio::process`.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Stack of the short-lived child between `clone` and `execve`.
const CHILD_STACK: usize = 64 * 1024;

/// Most spawner threads (at most one per core is useful: each waits for its child's `execve`).
const MAX_SPAWNERS: usize = 8;

thread_local! {
    static CHILD_STACKS: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// What the task process gets.
pub struct SpawnRequest<'a> {
    pub args: &'a [String],
    /// Added to (or replacing entries of) the worker's own environment, in order.
    pub env: &'a [(&'a OsStr, &'a OsStr)],
    pub cwd: &'a Path,
    /// `None` means `/dev/null`.
    pub stdout: Option<&'a File>,
    pub stderr: Option<&'a File>,
    /// Signal sent to the task when the worker thread that started it dies.
    pub death_signal: libc::c_int,
}

#[derive(Debug)]
pub enum SpawnError {
    /// The process could not be started (like `Command::spawn`'s error).
    Io(io::Error),
    /// Needs a feature this spawner does not have; use `tokio::process` instead.
    Unsupported,
}

/// A started task process.
pub struct TaskProcess {
    pid: libc::pid_t,
    pidfd: AsyncFd<OwnedFd>,
    status: Option<ExitStatus>,
}

/// Whether this kernel has pidfds (Linux 5.3+); checked once.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| match pidfd_open(std::process::id() as libc::pid_t) {
        Ok(_) => true,
        Err(e) => {
            log::debug!("pidfd_open is unavailable ({e}); tasks are started with fork");
            false
        }
    })
}

fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: a plain syscall; on success it returns a new file descriptor that we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    })
}

/// `/dev/null`, opened once for all tasks.
fn dev_null() -> io::Result<RawFd> {
    static NULL: OnceLock<File> = OnceLock::new();
    if let Some(f) = NULL.get() {
        return Ok(f.as_raw_fd());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    Ok(NULL.get_or_init(|| file).as_raw_fd())
}

/// Everything the child reads, prepared by the parent (the child must not allocate).
struct ChildArgs {
    candidates: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    cwd: CString,
    fds: [RawFd; 3],
    death_signal: libc::c_int,
    /// Written by the child when it fails: (errno, whether it was ENOEXEC).
    error: libc::c_int,
}

/// A child ready to be cloned on a spawner thread: [`ChildArgs`] with the data its pointers
/// point into, and its own copies of the output files (open until the clone returned).
struct Prepared {
    child: ChildArgs,
    _args: Vec<CString>,
    _env: BTreeMap<OsString, CString>,
    _files: Vec<File>,
}

// SAFETY: the raw pointers in `child.argv` and `child.envp` point into the heap buffers of
// `_args` and `_env` (which move with the value without moving those buffers) or into the
// static base environment; nothing else refers to them.
unsafe impl Send for Prepared {}

/// Paths `execvp` would try for `program`, given the `PATH` in effect.
fn candidates(program: &str, env: &[(&OsStr, &OsStr)]) -> io::Result<Vec<CString>> {
    if program.contains('/') {
        return Ok(vec![cstring(program.as_bytes())?]);
    }
    let path: OsString = match env.iter().rev().find(|(k, _)| *k == "PATH") {
        Some((_, v)) => (*v).into(),
        None => std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into()),
    };
    path.as_bytes()
        .split(|b| *b == b':')
        .map(|dir| {
            if dir.is_empty() {
                cstring(program.as_bytes())
            } else {
                let mut full = dir.to_vec();
                full.push(b'/');
                full.extend_from_slice(program.as_bytes());
                cstring(&full)
            }
        })
        .collect()
}

/// The worker's own environment as `KEY=VALUE` strings, read once: the worker never changes it.
fn base_environment() -> &'static [(OsString, CString)] {
    static BASE: OnceLock<Vec<(OsString, CString)>> = OnceLock::new();
    BASE.get_or_init(|| {
        std::env::vars_os()
            .filter_map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).ok().map(|kv| (k, kv))
            })
            .collect()
    })
}

/// The task's variables as `KEY=VALUE` strings (the last one wins, as with `Command::envs`).
fn task_environment(env: &[(&OsStr, &OsStr)]) -> io::Result<BTreeMap<OsString, CString>> {
    env.iter()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            Ok(((*k).to_owned(), cstring(&kv)?))
        })
        .collect()
}

/// Starts the process described by `req` on a spawner thread.
pub async fn spawn(req: &SpawnRequest<'_>) -> Result<TaskProcess, SpawnError> {
    let prepared = prepare(req)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    run_on_spawner(Box::new(move || {
        // Nobody waits any more (the task was dropped meanwhile): do not leave the child behind.
        if let Err(Ok((pid, _))) = tx.send(prepared.start()) {
            kill_and_reap(pid);
        }
    }));
    let (pid, pidfd) = rx
        .await
        .map_err(|_| SpawnError::Io(io::Error::other("the spawner thread stopped")))??;
    // SAFETY: the AsyncFd owns the pidfd, which stays open and the same until it is dropped.
    let pidfd = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }
        .map_err(|e| SpawnError::Io(e.into()))?;
    Ok(TaskProcess {
        pid,
        pidfd,
        status: None,
    })
}

/// Ends a child of ours that nobody will wait for.
fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

type SpawnJob = Box<dyn FnOnce() + Send>;

/// Hands a job to the spawner threads, started on first use (one per core, at most
/// [`MAX_SPAWNERS`]); they never end, see the module docs.
fn run_on_spawner(job: SpawnJob) {
    static JOBS: OnceLock<mpsc::Sender<SpawnJob>> = OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..threads.clamp(1, MAX_SPAWNERS) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hq-spawner-{i}"))
                .spawn(move || loop {
                    let job = rx.lock().map(|r| r.recv());
                    match job {
                        Ok(Ok(job)) => job(),
                        _ => break,
                    }
                });
            if let Err(e) = spawned {
                log::warn!("cannot start a spawner thread: {e}");
            }
        }
        tx
    });
    if let Err(mpsc::SendError(job)) = jobs.send(job) {
        // No spawner thread could be started: start here (drops the reply if that fails).
        job();
    }
}

/// Builds everything the child needs, on the caller's thread.
fn prepare(req: &SpawnRequest) -> Result<Prepared, SpawnError> {
    let Some(program) = req.args.first() else {
        return Err(SpawnError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty command",
        )));
    };
    let prepared = (|| -> io::Result<_> {
        let null = dev_null()?;
        let args: Vec<CString> = req
            .args
            .iter()
            .map(|a| cstring(a.as_bytes()))
            .collect::<io::Result<_>>()?;
        let env = task_environment(req.env)?;
        let cwd = cstring(OsStr::new(req.cwd).as_bytes())?;
        let stdout = req.stdout.map(File::try_clone).transpose()?;
        let stderr = req.stderr.map(File::try_clone).transpose()?;
        let files = (stdout, stderr);
        Ok((null, args, env, cwd, candidates(program, req.env)?, files))
    })();
    let (null, args, env, cwd, candidates, (stdout, stderr)) = prepared.map_err(SpawnError::Io)?;
    let end = std::iter::once(std::ptr::null());
    let argv = args.iter().map(|c| c.as_ptr()).chain(end.clone()).collect();
    let envp = base_environment()
        .iter()
        .filter(|(k, _)| !env.contains_key(k))
        .map(|(_, kv)| kv.as_ptr())
        .chain(env.values().map(|kv| kv.as_ptr()))
        .chain(end)
        .collect();
    let child = ChildArgs {
        argv,
        envp,
        candidates,
        cwd,
        fds: [
            null,
            stdout.as_ref().map_or(null, |f| f.as_raw_fd()),
            stderr.as_ref().map_or(null, |f| f.as_raw_fd()),
        ],
        death_signal: req.death_signal,
        error: 0,
    };
    Ok(Prepared {
        child,
        _args: args,
        _env: env,
        _files: stdout.into_iter().chain(stderr).collect(),
    })
}

impl Prepared {
    /// Clones the child (this thread waits until it called `execve`); returns its PID and a
    /// pidfd. The copies of the output files are closed on return.
    fn start(mut self) -> Result<(libc::pid_t, OwnedFd), SpawnError> {
        let child = &mut self.child;
        // One stack per thread, reused: CLONE_VFORK suspends this thread until the child is
        // done with it, so two children never share it (a fresh zeroed 64 KiB per task cost a
        // memset and page faults).
        let mut stack = CHILD_STACKS.with(|s| s.take());
        stack.resize(CHILD_STACK, 0);
        // SAFETY: the child shares our memory but runs on `stack` and only makes
        // async-signal-safe calls on data that outlives it: CLONE_VFORK suspends this thread
        // until the child has called execve or exited. All signals are blocked meanwhile, so no
        // handler of ours runs in the child before it resets them.
        let pid = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            let top = stack.as_mut_ptr().add(CHILD_STACK);
            let top = top.sub(top as usize % 16);
            let pid = libc::clone(
                child_main,
                top as *mut libc::c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                child as *mut ChildArgs as *mut libc::c_void,
            );
            let clone_error = io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            if pid < 0 {
                return Err(SpawnError::Io(clone_error));
            }
            pid
        };
        CHILD_STACKS.with(|s| s.set(stack));
        // SAFETY: the child wrote it (if at all) before `clone` returned.
        let child_error = unsafe { std::ptr::read_volatile(&child.error) };
        if child_error != 0 {
            // The child has exited; reap it.
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            return Err(if child_error == ENOEXEC_MARK {
                SpawnError::Unsupported
            } else {
                SpawnError::Io(io::Error::from_raw_os_error(child_error))
            });
        }
        match pidfd_open(pid) {
            Ok(fd) => Ok((pid, fd)),
            Err(e) => {
                // A child we cannot watch must not run.
                kill_and_reap(pid);
                Err(SpawnError::Io(e))
            }
        }
    }
}

/// What the child reports for ENOEXEC: `execvp` would retry with `/bin/sh`.
const ENOEXEC_MARK: libc::c_int = -1;

/// Runs in the cloned child, on its own stack, sharing the parent's memory.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points to the parent's `ChildArgs`, alive while the parent is suspended;
    // only async-signal-safe libc calls follow.
    unsafe {
        let error_slot = std::ptr::addr_of_mut!((*(arg as *mut ChildArgs)).error);
        let a = &*(arg as *const ChildArgs);
        let fail = |err: libc::c_int| -> ! {
            std::ptr::write_volatile(error_slot, if err == 0 { libc::EINVAL } else { err });
            libc::_exit(127)
        };
        let errno = || *libc::__errno_location();
        for (target, fd) in a.fds.into_iter().enumerate() {
            let target = target as RawFd;
            if fd == target {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    fail(errno());
                }
            } else if libc::dup2(fd, target) < 0 {
                fail(errno());
            }
        }
        if libc::chdir(a.cwd.as_ptr()) < 0 {
            fail(errno());
        }
        if libc::setpgid(0, 0) < 0 {
            fail(errno());
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        for sig in 1..=libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            if libc::sigaction(sig, std::ptr::null(), &mut action) == 0
                && (sig == libc::SIGPIPE || action.sa_sigaction != libc::SIG_IGN)
                && action.sa_sigaction != libc::SIG_DFL
            {
                action.sa_sigaction = libc::SIG_DFL;
                action.sa_flags = 0;
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, a.death_signal);
        // Like execvp: try each PATH entry; remember EACCES; stop at other real errors.
        let mut error = libc::ENOENT;
        let mut eacces = false;
        for path in &a.candidates {
            libc::execve(path.as_ptr(), a.argv.as_ptr(), a.envp.as_ptr());
            match errno() {
                libc::EACCES => eacces = true,
                libc::ENOENT | libc::ESTALE | libc::ENOTDIR | libc::ENODEV | libc::ETIMEDOUT => {}
                libc::ENOEXEC => fail(ENOEXEC_MARK),
                e => {
                    error = e;
                    break;
                }
            }
        }
        if eacces && error == libc::ENOENT {
            error = libc::EACCES;
        }
        fail(error)
    }
}

impl TaskProcess {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child, without blocking.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if r == 0 {
                return Ok(None);
            }
            let s = ExitStatus::from_raw(status);
            self.status = Some(s);
            return Ok(Some(s));
        }
    }

    /// Waits for the process to exit (cancel-safe).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(s) = self.try_reap()? {
                return Ok(s);
            }
            let mut ready = self.pidfd.readable().await?;
            ready.clear_ready();
        }
    }
}

impl Drop for TaskProcess {
    fn drop(&mut self) {
        // Do not leave a zombie behind if the task ended while nobody was waiting.
        let _ = self.try_reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(args: &'a [String], env: &'a [(&'a OsStr, &'a OsStr)]) -> SpawnRequest<'a> {
        SpawnRequest {
            args,
            env,
            cwd: Path::new("/"),
            stdout: None,
            stderr: None,
            death_signal: libc::SIGTERM,
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn exit_codes_and_path_lookup() {
        if !available() {
            return;
        }
        let ok = args(&["true"]);
        let mut p = spawn(&request(&ok, &[])).await.unwrap();
        assert!(p.wait().await.unwrap().success());
        let fail = args(&["sh", "-c", "exit 3"]);
        let mut p = spawn(&request(&fail, &[])).await.unwrap();
        assert_eq!(p.wait().await.unwrap().code(), Some(3));
        let missing = args(&["surely-not-a-program-xyz"]);
        match spawn(&request(&missing, &[])).await {
            Err(SpawnError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
            _ => panic!("expected NotFound"),
        }
        let no_path = [(OsStr::new("PATH"), OsStr::new("/nonexistent"))];
        assert!(matches!(
            spawn(&request(&ok, &no_path)).await,
            Err(SpawnError::Io(_))
        ));
    }

    #[tokio::test]
    async fn env_cwd_and_stdout() {
        if !available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = File::create(dir.path().join("out")).unwrap();
        let a = args(&["sh", "-c", "echo $HQ_X $(pwd)"]);
        let env = [(OsStr::new("HQ_X"), OsStr::new("y"))];
        let mut req = request(&a, &env);
        req.cwd = dir.path();
        req.stdout = Some(&out);
        let mut p = spawn(&req).await.unwrap();
        assert!(p.wait().await.unwrap().success());
        let text = std::fs::read_to_string(dir.path().join("out")).unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(text, format!("y {}\n", cwd.display()));
    }

    #[tokio::test]
    async fn script_without_shebang_is_unsupported() {
        if !available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, "exit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let a = vec![script.display().to_string()];
        assert!(matches!(
            spawn(&request(&a, &[])).await,
            Err(SpawnError::Unsupported)
        ));
    }
}
