"""`Client`: submits jobs to an hq server and waits for them."""

import dataclasses
import gc
import sys
from typing import Callable, Dict, List, Optional, Sequence, Union

from . import _hq
from .common import GenericPath
from .ffi import JobId, TaskId
from .job import Job, SubmittedJob
from .task.function import PythonEnv

JobRef = Union[SubmittedJob, JobId]


@dataclasses.dataclass(frozen=True)
class TaskCounts:
    waiting: int = 0
    running: int = 0
    finished: int = 0
    failed: int = 0
    canceled: int = 0
    aborted: int = 0

    @property
    def total(self) -> int:
        return sum(dataclasses.astuple(self))


@dataclasses.dataclass(frozen=True)
class JobProgress:
    """One job in a progress report: its task counts and whether it is done."""

    id: JobId
    counts: TaskCounts
    done: bool


@dataclasses.dataclass(frozen=True)
class FailedTaskContext:
    """A failed task: its error (for a function, the traceback), and where it ran and wrote."""

    error: str
    cwd: str
    stdout: Optional[str]
    stderr: Optional[str]


FailedTaskMap = Dict[TaskId, FailedTaskContext]


class FailedJobsException(Exception):
    """Raised by `wait_for_jobs` when a task did not finish; `failed_jobs` maps each such job
    to its failed tasks, `counts` to its task counts."""

    def __init__(self, failed_jobs: Dict[JobId, FailedTaskMap], counts: Dict[JobId, TaskCounts],
                 jobs: Dict[JobId, Optional[Job]]):
        self.failed_jobs = failed_jobs
        self.counts = counts
        self._jobs = jobs
        super().__init__(self._message())

    def _message(self) -> str:
        lines = [f"{len(self.counts)} job(s) did not finish:"]
        for job_id, counts in self.counts.items():
            what = [f"{n} {word}" for n, word in ((counts.failed, "failed"), (counts.canceled, "canceled"),
                                                  (counts.aborted, "aborted")) if n]
            lines.append(f"Job {job_id}: {', '.join(what)} of {counts.total} tasks")
            job = self._jobs.get(job_id)
            for task_id, ctx in sorted(self.failed_jobs.get(job_id, {}).items()):
                task = job.task_by_id(task_id) if job else None
                label = task.label if task else str(task_id)
                error = ctx.error.strip().replace("\n", "\n    ")
                lines.append(f"  Task {label} failed: {error}")
                if ctx.stderr:
                    lines.append(f"    stderr: {ctx.stderr}")
        return "\n".join(lines)


def _job_id(job: JobRef) -> JobId:
    return job.id if isinstance(job, SubmittedJob) else int(job)


def _job_ids(jobs: Union[JobRef, Sequence[JobRef]]) -> List[JobId]:
    if isinstance(jobs, (SubmittedJob, int)):
        return [_job_id(jobs)]
    return [_job_id(j) for j in jobs]


class Client:
    """A connection to the server of `server_dir` (default: `HQ_SERVER_DIR`, else
    `~/.hq-server`, as for the `hq` command). `python_env` is the default interpreter of
    function tasks."""

    def __init__(self, server_dir: Optional[GenericPath] = None, python_env: Optional[PythonEnv] = None):
        self.connection = _hq.ClientConnection(None if server_dir is None else str(server_dir))
        self.python_env = python_env or PythonEnv()

    @property
    def server_dir(self) -> str:
        return self.connection.server_dir

    def submit(self, job: Job) -> SubmittedJob:
        """Plans the job (cycles, unknown dependencies and empty jobs raise
        `hyperqueue.errors.InvalidJobError`) and submits it."""
        # The cyclic GC would scan the growing heap many times while 100,000 task tuples are
        # built and converted; none of them is part of a cycle.
        enabled = gc.isenabled()
        gc.disable()
        try:
            job_id = self.connection.submit(job._build(self.python_env))
        finally:
            if enabled:
                gc.enable()
        return SubmittedJob(job=job, id=job_id)

    def wait_for_jobs(
        self,
        jobs: Sequence[JobRef],
        raise_on_error: bool = True,
        progress: Optional[Callable[[List[JobProgress]], None]] = None,
    ) -> bool:
        """Waits until the jobs complete; True when every task finished. With
        `raise_on_error`, raises `FailedJobsException` instead of returning False.
        `progress` is called with the jobs' state whenever it changes (by default a line on
        stderr when it is a terminal)."""
        jobs = list(jobs)
        ids = _job_ids(jobs)
        if progress is None and sys.stderr.isatty():
            progress = _print_progress
        callback = None
        if progress is not None:
            def callback(states):
                progress([_progress(s) for s in states])
        states, missing = self.connection.wait_for_jobs(ids, callback)
        if progress is _print_progress:
            sys.stderr.write("\n")
        if missing:
            raise ValueError(f"unknown job(s): {', '.join(map(str, missing))}")
        unfinished = {p.id: p.counts for p in map(_progress, states) if p.counts.finished != p.counts.total}
        if unfinished and raise_on_error:
            by_id = {j.id: j.job for j in jobs if isinstance(j, SubmittedJob)}
            failed = self._failed(list(unfinished))
            raise FailedJobsException(failed, unfinished, by_id)
        return not unfinished

    def get_failed_tasks(self, job: JobRef) -> FailedTaskMap:
        """The failed tasks of a job, by task ID."""
        return self._failed([_job_id(job)]).get(_job_id(job), {})

    def _failed(self, ids: List[JobId]) -> Dict[JobId, FailedTaskMap]:
        return {
            job_id: {t[0]: FailedTaskContext(error=t[1], cwd=t[2], stdout=t[3], stderr=t[4]) for t in tasks}
            for job_id, tasks in self.connection.failed_tasks(ids)
        }

    def cancel(self, jobs: Union[JobRef, Sequence[JobRef]]) -> None:
        """Cancels the jobs' tasks that have not completed."""
        self.connection.cancel(_job_ids(jobs))

    def forget(self, jobs: Union[JobRef, Sequence[JobRef]]) -> None:
        """Drops completed jobs from the server's memory (jobs still running are kept)."""
        self.connection.forget(_job_ids(jobs))


def _progress(state) -> JobProgress:
    job_id, counts, done = state
    return JobProgress(id=job_id, counts=TaskCounts(*counts), done=done)


def _print_progress(jobs: List[JobProgress]) -> None:
    done = sum(1 for j in jobs if j.done)
    total = TaskCounts(*(sum(x) for x in zip(*(dataclasses.astuple(j.counts) for j in jobs))))
    completed = total.finished + total.failed + total.canceled + total.aborted
    sys.stderr.write(
        f"\r\x1b[2K{done}/{len(jobs)} jobs, {completed}/{total.total} tasks"
        f" ({total.running} running, {total.failed} failed)"
    )
    sys.stderr.flush()
