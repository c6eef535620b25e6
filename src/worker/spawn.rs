//! Starting task processes cheaply. `std`/`tokio` start a process with a `pre_exec` hook (which
//! we need for `PR_SET_PDEATHSIG`) by `fork`: that copies the worker's page tables and makes the
//! worker take a copy-on-write fault for every page it touches afterwards, which costs more than
//! the task itself for tiny tasks. Here the child is made like glibc's `posix_spawn` does it,
//! with `clone(CLONE_VM | CLONE_VFORK)` on a small stack of its own, and it runs only
//! async-signal-safe calls before `execve`. The thread that cloned it reaps it (`exec.rs`).
//!
//! `CLONE_VFORK` suspends the calling thread until the child has called `execve` (a few hundred
//! microseconds for a small program), so the clone runs on an exec thread (`exec.rs`), not on
//! the worker's event loop, and that thread is also the one that reaps the process.
//!
//! The child ends up as `std::process::Command` would make it: stdio on fds 0-2, the working
//! directory, its own process group, handled signals and SIGPIPE back to default, an empty
//! signal mask, the parent-death signal, and `PATH` looked up like `execvp` (with the `PATH`
//! from the task's environment when it sets one). Cases this does not cover (a script without
//! `#!`, which `execvp` hands to `/bin/sh`) report [`SpawnError::Unsupported`], and the caller
//! falls back to `tokio::process`.

use rustc_hash::FxHashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// Stack of the short-lived child between `clone` and `execve`.
const CHILD_STACK: usize = 64 * 1024;

thread_local! {
    static CHILD_STACKS: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// What the task process gets.
pub struct SpawnRequest<'a> {
    pub args: &'a [String],
    /// Added to (or replacing entries of) the worker's own environment, in order.
    pub env: &'a [(&'a OsStr, &'a OsStr)],
    pub cwd: &'a Path,
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

fn nul_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "nul byte found in provided data",
    )
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| nul_error())
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
    candidates: Arc<[CString]>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    cwd: CString,
    fds: [RawFd; 3],
    death_signal: libc::c_int,
    /// Written by the child when it fails: (errno, whether it was ENOEXEC).
    error: libc::c_int,
}

/// A child ready to be cloned on an exec thread: [`ChildArgs`] with the data its pointers
/// point into. Its output files are given to [`Prepared::start`].
pub struct Prepared {
    child: ChildArgs,
    _args: Vec<CString>,
    _env: Vec<EnvEntry>,
}

// SAFETY: the raw pointers in `child.argv` and `child.envp` point into the heap buffers of
// `_args` and `_env` (which move with the value without moving those buffers) or into the
// static base environment; nothing else refers to them.
unsafe impl Send for Prepared {}

/// Paths `execvp` would try for `program`, given the `PATH` in effect: the task's, or the
/// worker's own (which never changes, so those lists are kept by program name).
fn candidates(program: &str, env: &[(&OsStr, &OsStr)]) -> io::Result<Arc<[CString]>> {
    if program.contains('/') {
        return Ok(Arc::from([cstring(program.as_bytes())?]));
    }
    if let Some((_, path)) = env.iter().rev().find(|(k, _)| *k == "PATH") {
        return search_list(program, path.as_bytes());
    }
    /// Programs whose lists are kept (the cache starts over when it is full).
    const KEPT: usize = 256;
    static LISTS: OnceLock<Mutex<FxHashMap<String, Arc<[CString]>>>> = OnceLock::new();
    let lists = LISTS.get_or_init(Default::default);
    if let Some(list) = lists.lock().unwrap_or_else(|e| e.into_inner()).get(program) {
        return Ok(list.clone());
    }
    static WORKER_PATH: OnceLock<OsString> = OnceLock::new();
    let path = WORKER_PATH
        .get_or_init(|| std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into()));
    let list = search_list(program, path.as_bytes())?;
    let mut lists = lists.lock().unwrap_or_else(|e| e.into_inner());
    if lists.len() >= KEPT {
        lists.clear();
    }
    lists.insert(program.to_owned(), list.clone());
    Ok(list)
}

/// `program` in each directory of the `PATH` value `path` (an empty entry is the working
/// directory).
fn search_list(program: &str, path: &[u8]) -> io::Result<Arc<[CString]>> {
    path.split(|b| *b == b':')
        .map(|dir| {
            if dir.is_empty() {
                cstring(program.as_bytes())
            } else {
                key_value(dir, b'/', program.as_bytes())
            }
        })
        .collect()
}

/// `a`, `sep` and `b` as one C string, allocated once.
fn key_value(a: &[u8], sep: u8, b: &[u8]) -> io::Result<CString> {
    let mut kv = Vec::with_capacity(a.len() + b.len() + 2);
    kv.extend_from_slice(a);
    kv.push(sep);
    kv.extend_from_slice(b);
    cstring_from(kv)
}

fn cstring_from(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| nul_error())
}

/// The worker's own environment as `KEY=VALUE` strings, read once: the worker never changes it.
fn base_environment() -> &'static [(OsString, CString)] {
    static BASE: OnceLock<Vec<(OsString, CString)>> = OnceLock::new();
    BASE.get_or_init(|| {
        std::env::vars_os()
            .filter_map(|(k, v)| {
                let kv = key_value(k.as_bytes(), b'=', v.as_bytes()).ok()?;
                Some((k, kv))
            })
            .collect()
    })
}

/// A task variable: the length of its name, and `NAME=VALUE`.
type EnvEntry = (usize, CString);

fn name_of(entry: &EnvEntry) -> &[u8] {
    &entry.1.as_bytes()[..entry.0]
}

/// The task's variables as `KEY=VALUE` strings (the last one wins, as with `Command::envs`).
fn task_environment(env: &[(&OsStr, &OsStr)]) -> io::Result<Vec<EnvEntry>> {
    let mut entries: Vec<EnvEntry> = Vec::with_capacity(env.len());
    for (k, v) in env {
        let entry = (k.len(), key_value(k.as_bytes(), b'=', v.as_bytes())?);
        match entries.iter_mut().find(|e| name_of(e) == k.as_bytes()) {
            Some(e) => *e = entry,
            None => entries.push(entry),
        }
    }
    Ok(entries)
}

/// Ends a child of ours that nobody will wait for.
pub(super) fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// Builds everything the child needs, on the caller's thread.
pub fn prepare(req: &SpawnRequest) -> Result<Prepared, SpawnError> {
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
        Ok((null, args, env, cwd, candidates(program, req.env)?))
    })();
    let (null, args, env, cwd, candidates) = prepared.map_err(SpawnError::Io)?;
    let end = std::iter::once(std::ptr::null());
    let argv = args.iter().map(|c| c.as_ptr()).chain(end.clone()).collect();
    let envp = base_environment()
        .iter()
        .filter(|(k, _)| !env.iter().any(|e| name_of(e) == k.as_bytes()))
        .map(|(_, kv)| kv.as_ptr())
        .chain(env.iter().map(|(_, kv)| kv.as_ptr()))
        .chain(end)
        .collect();
    let child = ChildArgs {
        argv,
        envp,
        candidates,
        cwd,
        fds: [null; 3],
        death_signal: req.death_signal,
        error: 0,
    };
    Ok(Prepared {
        child,
        _args: args,
        _env: env,
    })
}

impl Prepared {
    /// Clones the child with `stdout` and `stderr` (`None`: `/dev/null`); this thread waits
    /// until it called `execve`. Returns its PID; the caller reaps it.
    pub fn start(
        mut self,
        stdout: Option<File>,
        stderr: Option<File>,
    ) -> Result<libc::pid_t, SpawnError> {
        let child = &mut self.child;
        let null = child.fds[0];
        child.fds[1] = stdout.as_ref().map_or(null, |f| f.as_raw_fd());
        child.fds[2] = stderr.as_ref().map_or(null, |f| f.as_raw_fd());
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
        // The files stay open until here: the child has its own copies after `execve`.
        drop((stdout, stderr));
        Ok(pid)
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
        for path in a.candidates.iter() {
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
