"""What every task of a job has: an ID, dependencies, environment, paths, resources."""

import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ..common import GenericPath
from ..ffi import TaskId
from ..ffi.protocol import ResourceRequest, build_requests
from ..output import StdioDef, build_stdio

Dependency = Union["Task", TaskId]


class Task:
    def __init__(
        self,
        job,
        task_id: TaskId,
        *,
        name: Optional[str],
        deps: Sequence[Dependency],
        env: Optional[Dict[str, str]],
        cwd: Optional[GenericPath],
        stdout: Union[None, GenericPath, StdioDef],
        stderr: Union[None, GenericPath, StdioDef],
        task_dir: bool,
        priority: int,
        resources: Union[None, ResourceRequest, Sequence[ResourceRequest]],
        crash_limit: Union[None, int, str],
    ):
        self._job = job
        self.task_id = task_id
        self.name = name
        self.dependencies: List[Dependency] = list(deps or ())
        for dep in self.dependencies:
            if isinstance(dep, Task) and dep._job is not job:
                raise ValueError(
                    f"task {task_id} depends on task {dep.task_id} of another job; "
                    "dependencies name tasks of the same job"
                )
        self.env = dict(env or {})
        self.cwd = cwd
        self.stdout = stdout
        self.stderr = stderr
        self.task_dir = bool(task_dir)
        if not isinstance(priority, int):
            raise ValueError(f"priority must be an integer, not {priority!r}")
        self.priority = priority
        self.resources = resources
        self.crash_limit = crash_limit
        # Checked now, so a mistake points at the line that made the task.
        self._requests = build_requests(resources)

    @property
    def label(self) -> str:
        return f"{self.task_id} ({self.name})" if self.name else str(self.task_id)

    def _dep_ids(self) -> List[TaskId]:
        return [d.task_id if isinstance(d, Task) else int(d) for d in self.dependencies]

    def _program(self, ctx) -> Tuple[List[str], Optional[bytes]]:
        """The program's arguments and stdin."""
        raise NotImplementedError

    def _build(self, ctx) -> tuple:
        """The task as the native planner takes it (a tuple: 100,000 of them convert fast)."""
        args, stdin = self._program(ctx)
        env = {**ctx.default_env, **self.env}
        cwd = self.cwd if self.cwd is not None else ctx.default_workdir
        crash = self.crash_limit
        return (
            self.task_id,
            args,
            [(str(k), str(v)) for k, v in env.items()],
            os.fspath(cwd) if cwd is not None else "%{SUBMIT_DIR}",
            build_stdio(self.stdout),
            build_stdio(self.stderr),
            stdin,
            self._dep_ids(),
            self.task_dir or self._needs_task_dir,
            self.priority,
            self._requests,
            None if crash is None else str(crash),
        )

    #: Function tasks need one for their error file.
    _needs_task_dir = False

    def __repr__(self):
        return f"<{type(self).__name__} {self.label}>"
