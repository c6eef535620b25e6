"""A task that calls a Python function on a worker, and the interpreter it runs in.

The call (function, arguments) is pickled with cloudpickle into the task's stdin; the worker
runs `python -m hyperqueue.task.function.runner`, which unpickles and calls it. When the
function raises, the traceback becomes the task's error (through `HQ_ERROR_FILENAME`, so a
function task always gets a task directory)."""

import pickle
import shlex
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import cloudpickle

from ..task import Task

RUNNER = "hyperqueue.task.function.runner"


class PythonEnv:
    """How a worker starts Python for function tasks: `python_bin` (found on the worker's
    PATH; it needs this package and cloudpickle), and an optional `prologue`, shell lines run
    first by `shell` (e.g. `module load Python; source venv/bin/activate`)."""

    def __init__(self, python_bin: str = "python3", prologue: Optional[str] = None, shell: str = "bash"):
        self.python_bin = python_bin
        self.prologue = prologue
        self.shell = shell

    def command(self) -> list:
        if self.prologue:
            line = f"{self.prologue}\nexec {shlex.quote(self.python_bin)} -m {RUNNER}"
            return [self.shell, "-c", line]
        return [self.python_bin, "-m", RUNNER]

    def __repr__(self):
        return f"PythonEnv(python_bin={self.python_bin!r}, prologue={self.prologue!r}, shell={self.shell!r})"


class PythonFunction(Task):
    def __init__(
        self,
        job,
        task_id,
        *,
        fn: Callable,
        args: Sequence[Any],
        kwargs: Optional[Dict[str, Any]],
        python_env: Optional[PythonEnv],
        **kw,
    ):
        if not callable(fn):
            raise ValueError(f"fn must be callable, not {fn!r}")
        super().__init__(job, task_id, **kw)
        self.fn = fn
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.python_env = python_env

    _needs_task_dir = True

    def _program(self, ctx):
        env = self.python_env or ctx.python_env
        stdin = pickle.dumps((ctx.pickled(self.fn), _dumps((self.args, self.kwargs))))
        return env.command(), stdin

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def _dumps(value) -> bytes:
    """Plain pickle when it can (fast), cloudpickle for lambdas and local objects."""
    try:
        return pickle.dumps(value)
    except Exception:
        return cloudpickle.dumps(value)


class PickleCache:
    """Pickles each function object once per submission (a sweep calls one function often)."""

    def __init__(self):
        self._cache: Dict[int, Tuple[Callable, bytes]] = {}

    def __call__(self, fn: Callable) -> bytes:
        hit = self._cache.get(id(fn))
        if hit is None or hit[0] is not fn:
            hit = (fn, cloudpickle.dumps(fn))
            self._cache[id(fn)] = hit
        return hit[1]
