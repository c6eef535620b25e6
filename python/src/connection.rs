//! `ClientConnection`: one authenticated session with the server, over the crate's client
//! layer, with the GIL released while it talks to the server.

use crate::errors::client_error;
use crate::job::JobDesc;
use hyperqueue::client::{ClientError, Session, WaitProgress};
use hyperqueue::common::idset::IdSet;
use hyperqueue::common::serverdir;
use hyperqueue::protocol::messages::*;
use hyperqueue::protocol::ProtocolError;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Task counts as `(waiting, running, finished, failed, canceled, aborted)`.
type Stats = (u32, u32, u32, u32, u32, u32);
/// `(job ID, counts, done)`.
type JobState = (u32, Stats, bool);
/// `(task ID, error, cwd, stdout, stderr)`.
type Failed = (u32, String, String, Option<String>, Option<String>);

fn stats(s: &TaskStats) -> Stats {
    (
        s.waiting, s.running, s.finished, s.failed, s.canceled, s.aborted,
    )
}

fn states(p: &WaitProgress) -> Vec<JobState> {
    p.jobs
        .iter()
        .map(|j| (j.id, stats(&j.stats), j.done))
        .collect()
}

fn selector(ids: Vec<u32>) -> IdSelector {
    IdSelector::Ids(IdSet::from_ids(ids))
}

struct Inner {
    runtime: tokio::runtime::Runtime,
    server_dir: PathBuf,
    /// `None` after an interrupted wait (its replies would still arrive): reconnect first.
    session: Option<Session>,
}

impl Inner {
    /// Runs a request on the session, connecting first when needed.
    fn run<T>(
        &mut self,
        f: impl AsyncFnOnce(&mut Session) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let Inner {
            runtime,
            server_dir,
            session,
        } = self;
        runtime.block_on(async {
            if session.is_none() {
                *session = Some(Session::connect(server_dir).await?);
            }
            let s = session.as_mut().expect("connected above");
            let result = f(s).await;
            let refused = matches!(
                result,
                Err(ClientError::Protocol(ProtocolError::TooLarge { .. }))
            );
            if !refused
                && matches!(
                    result,
                    Err(ClientError::Disconnected | ClientError::Protocol(_))
                )
            {
                *session = None;
            }
            result
        })
    }
}

/// A connection to the server named by a server directory (the argument, `HQ_SERVER_DIR`, or
/// `~/.hq-server`, as for the CLI).
#[pyclass(module = "hyperqueue._hq")]
pub struct ClientConnection {
    inner: Mutex<Inner>,
    /// The thread holding `inner` (0: none).
    owner: AtomicU64,
}

impl ClientConnection {
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl AsyncFnOnce(&mut Session) -> Result<T, ClientError> + Send,
    ) -> PyResult<T> {
        let mut guard = self.lock()?;
        let inner: &mut Inner = &mut guard;
        py.detach(|| inner.run(f)).map_err(client_error)
    }

    /// The session, for this thread. A callback of this connection's own wait that uses the
    /// connection would deadlock: that is an error instead.
    fn lock(&self) -> PyResult<Guard<'_>> {
        let me = thread_id();
        if self.owner.load(Ordering::Acquire) == me {
            return Err(crate::errors::HqError::new_err(
                "this client is busy waiting for jobs; use another Client inside the progress callback",
            ));
        }
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.owner.store(me, Ordering::Release);
        Ok(Guard {
            inner: guard,
            owner: &self.owner,
        })
    }
}

/// The locked session; unlocking clears the owner.
struct Guard<'a> {
    inner: std::sync::MutexGuard<'a, Inner>,
    owner: &'a AtomicU64,
}

impl std::ops::Deref for Guard<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl std::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.inner
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.owner.store(0, Ordering::Release);
    }
}

/// A number per thread (never 0).
fn thread_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    ID.with(|id| *id)
}

#[pymethods]
impl ClientConnection {
    #[new]
    #[pyo3(signature = (server_dir=None))]
    fn new(py: Python<'_>, server_dir: Option<PathBuf>) -> PyResult<Self> {
        let server_dir = server_dir
            .or_else(|| std::env::var_os("HQ_SERVER_DIR").map(PathBuf::from))
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| serverdir::absolute(&p))
            .unwrap_or_else(serverdir::default_server_dir);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::errors::HqError::new_err(format!("cannot start a runtime: {e}")))?;
        let connection = ClientConnection {
            inner: Mutex::new(Inner {
                runtime,
                server_dir,
                session: None,
            }),
            owner: AtomicU64::new(0),
        };
        // Connect now, so a missing server is reported where the client is created.
        connection.with(py, async |_| Ok(()))?;
        Ok(connection)
    }

    /// The server directory this connection uses.
    #[getter]
    fn server_dir(&self) -> PyResult<String> {
        Ok(self.lock()?.server_dir.display().to_string())
    }

    /// Plans and submits a job (a dictionary from `Job._build()`); returns the job ID.
    fn submit(&self, py: Python<'_>, job: JobDesc) -> PyResult<u32> {
        let request = py.detach(|| job.plan())?;
        self.with(py, async move |s| s.submit(request).await)
    }

    /// Waits until the jobs complete. `callback`, when given, is called with a list of
    /// `(job ID, counts, done)` of every job whenever the server reports progress. Returns the
    /// final list and the IDs that name no job. Ctrl-C interrupts the wait.
    #[pyo3(signature = (ids, callback=None))]
    fn wait_for_jobs(
        &self,
        py: Python<'_>,
        ids: Vec<u32>,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<(Vec<JobState>, Vec<u32>)> {
        let mut guard = self.lock()?;
        wait(py, &mut guard, selector(ids), callback.as_ref())
    }

    /// Failed tasks of the jobs: `[(job ID, [(task ID, error, cwd, stdout, stderr)])]`.
    fn failed_tasks(&self, py: Python<'_>, ids: Vec<u32>) -> PyResult<Vec<(u32, Vec<Failed>)>> {
        let failed = self.with(py, async move |s| s.failed_tasks(selector(ids)).await)?;
        Ok(failed
            .jobs
            .into_iter()
            .map(|(job, tasks)| {
                let tasks = tasks
                    .into_iter()
                    .map(|t| (t.id, t.error, t.cwd, t.stdout, t.stderr))
                    .collect();
                (job, tasks)
            })
            .collect())
    }

    /// Cancels the jobs; returns the server's messages.
    fn cancel(&self, py: Python<'_>, ids: Vec<u32>) -> PyResult<Vec<String>> {
        let log = self.with(py, async move |s| s.cancel_jobs(selector(ids), None).await)?;
        Ok(log_text(&log.lines))
    }

    /// Drops the completed jobs among `ids` from the server's memory; returns its messages.
    fn forget(&self, py: Python<'_>, ids: Vec<u32>) -> PyResult<Vec<String>> {
        let filter = hyperqueue::client::COMPLETED_STATES.to_vec();
        let log = self.with(py, async move |s| {
            s.forget_jobs(selector(ids), filter).await
        })?;
        Ok(log_text(&log.lines))
    }

    /// `[(job ID, name, counts, open)]` of every job the server knows.
    fn job_list(&self, py: Python<'_>) -> PyResult<Vec<(u32, String, Stats, bool)>> {
        let jobs = self.with(py, async |s| s.job_list().await)?;
        Ok(jobs
            .iter()
            .map(|j| (j.id, j.name.clone(), stats(&j.stats), j.is_open))
            .collect())
    }

    /// IDs of the connected workers.
    fn connected_workers(&self, py: Python<'_>) -> PyResult<Vec<u32>> {
        let workers = self.with(py, async |s| s.worker_list().await)?;
        Ok(workers
            .iter()
            .filter(|w| w.state == WorkerState::Running)
            .map(|w| w.id)
            .collect())
    }

    /// Stops the server.
    fn stop_server(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, async |s| s.stop_server().await)
    }
}

fn log_text(lines: &[LogLine]) -> Vec<String> {
    lines
        .iter()
        .map(|l| match l {
            LogLine::Info(t) | LogLine::Warn(t) | LogLine::Error(t) => t.clone(),
        })
        .collect()
}

/// The wait: polled in slices of the runtime, so that between them (outside the runtime and
/// with the GIL) the callback can run (it may use other connections) and Ctrl-C is noticed.
fn wait(
    py: Python<'_>,
    inner: &mut Inner,
    selector: IdSelector,
    callback: Option<&Py<PyAny>>,
) -> PyResult<(Vec<JobState>, Vec<u32>)> {
    py.detach(|| inner.run(async |_| Ok(())))
        .map_err(client_error)?;
    let Inner {
        runtime, session, ..
    } = inner;
    let Some(s) = session.as_mut() else {
        return Err(client_error(ClientError::Disconnected));
    };
    let latest: Mutex<Option<Vec<JobState>>> = Mutex::new(None);
    let changed = tokio::sync::Notify::new();
    let mut on_progress = |p: &WaitProgress| {
        *latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(states(p));
        changed.notify_one();
    };
    let progress: Option<&mut (dyn FnMut(&WaitProgress) + Send)> = match callback {
        Some(_) => Some(&mut on_progress),
        None => None,
    };
    let mut waiting = Box::pin(s.wait_for_jobs(selector, false, progress, None));
    let outcome = loop {
        let step = py.detach(|| {
            runtime.block_on(async {
                tokio::select! {
                    result = &mut waiting => Some(result),
                    _ = changed.notified() => None,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => None,
                }
            })
        });
        let snapshot = latest.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let (Some(cb), Some(snapshot)) = (callback, snapshot) {
            if let Err(e) = cb.call1(py, (snapshot,)) {
                break Err(e);
            }
        }
        match step {
            Some(Ok(result)) => {
                return Ok((states(&result.state), result.missing.iter().collect()))
            }
            Some(Err(e)) => break Err(client_error(e)),
            None => {
                if let Err(e) = py.check_signals() {
                    break Err(e);
                }
            }
        }
    };
    // An abandoned or failed wait leaves the session unusable (the server still answers it).
    drop(waiting);
    *session = None;
    outcome
}
