"""A job: a graph of tasks built in Python, submitted as one unit."""

import dataclasses
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from .common import GenericPath
from .ffi import JobId
from .ffi.protocol import ResourceRequest
from .output import StdioDef
from .task.function import PickleCache, PythonEnv, PythonFunction
from .task.program import ExternalProgram
from .task.task import Dependency, Task

Resources = Union[None, ResourceRequest, Sequence[ResourceRequest]]
Stdio = Union[None, GenericPath, StdioDef]


class Job:
    """Tasks get IDs 0, 1, 2, ... in the order they are added. `max_fails`: once more tasks
    than this have failed, the remaining ones are canceled (None: never). `default_workdir`
    and `default_env` apply to tasks that do not set their own."""

    def __init__(
        self,
        default_workdir: Optional[GenericPath] = None,
        max_fails: Optional[int] = 1,
        default_env: Optional[Dict[str, str]] = None,
        name: Optional[str] = None,
    ):
        self.default_workdir = default_workdir
        self.max_fails = max_fails
        self.default_env = dict(default_env or {})
        self.name = name
        self.tasks: List[Task] = []

    def program(
        self,
        args: Sequence[GenericPath],
        *,
        env: Optional[Dict[str, str]] = None,
        cwd: Optional[GenericPath] = None,
        stdout: Stdio = None,
        stderr: Stdio = None,
        stdin: Union[None, bytes, str] = None,
        deps: Sequence[Dependency] = (),
        name: Optional[str] = None,
        task_dir: bool = False,
        priority: int = 0,
        resources: Resources = None,
        crash_limit: Union[None, int, str] = None,
    ) -> ExternalProgram:
        """Adds a task running `args` (the program and its arguments)."""
        task = ExternalProgram(
            self, len(self.tasks), args=args, stdin=stdin, env=env, cwd=cwd, stdout=stdout,
            stderr=stderr, deps=deps, name=name, task_dir=task_dir, priority=priority,
            resources=resources, crash_limit=crash_limit,
        )
        self.tasks.append(task)
        return task

    def function(
        self,
        fn: Callable,
        *,
        args: Sequence[Any] = (),
        kwargs: Optional[Dict[str, Any]] = None,
        env: Union[None, PythonEnv, Dict[str, str]] = None,
        cwd: Optional[GenericPath] = None,
        stdout: Stdio = None,
        stderr: Stdio = None,
        deps: Sequence[Dependency] = (),
        name: Optional[str] = None,
        task_dir: bool = False,
        priority: int = 0,
        resources: Resources = None,
        crash_limit: Union[None, int, str] = None,
        python_env: Optional[PythonEnv] = None,
    ) -> PythonFunction:
        """Adds a task calling `fn(*args, **kwargs)` on a worker. `env` is either the
        `PythonEnv` to run it in or environment variables; the interpreter defaults to the
        client's `python_env`."""
        if isinstance(env, PythonEnv):
            python_env, env = env, None
        task = PythonFunction(
            self, len(self.tasks), fn=fn, args=args, kwargs=kwargs, python_env=python_env,
            env=env, cwd=cwd, stdout=stdout, stderr=stderr, deps=deps, name=name,
            task_dir=task_dir, priority=priority, resources=resources, crash_limit=crash_limit,
        )
        self.tasks.append(task)
        return task

    def task_by_id(self, task_id: int) -> Optional[Task]:
        return self.tasks[task_id] if 0 <= task_id < len(self.tasks) else None

    def _build(self, python_env: PythonEnv) -> dict:
        ctx = _BuildContext(self, python_env)
        return {
            "name": self.name or "python-job",
            "max_fails": self.max_fails,
            "submit_dir": os.getcwd(),
            "tasks": [t._build(ctx) for t in self.tasks],
        }


class _BuildContext:
    def __init__(self, job: Job, python_env: PythonEnv):
        self.default_env = job.default_env
        self.default_workdir = job.default_workdir
        self.python_env = python_env
        self.pickled = PickleCache()


@dataclasses.dataclass(frozen=True)
class SubmittedJob:
    """A job the server accepted; `str()` gives its ID."""

    job: Job
    id: JobId

    def __str__(self):
        return str(self.id)
