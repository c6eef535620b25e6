"""Function tasks: the call is pickled to the worker; an exception becomes the task's error."""

import os
import sys

import cloudpickle
import pytest

from hyperqueue import Job
from hyperqueue.client import FailedJobsException

# Functions of this module are pickled by value: the worker cannot import test modules.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def write(path, text, *, suffix=""):
    with open(path, "a") as f:
        f.write(text + suffix)


def boom(message):
    raise ValueError(message)


def test_function_with_args_kwargs_and_closures(client, work_dir):
    factor = 7
    job = Job()
    job.function(write, args=(str(work_dir / "a.txt"), "x"), kwargs={"suffix": "y"})
    job.function(lambda: write(work_dir / "b.txt", str(6 * factor)))
    client.wait_for_jobs([client.submit(job)])
    assert open(work_dir / "a.txt").read() == "xy"
    assert open(work_dir / "b.txt").read() == "42"


def test_functions_respect_dependencies(client, work_dir):
    path = str(work_dir / "log.txt")
    job = Job()
    a = job.function(write, args=(path, "a"))
    b = job.function(write, args=(path, "b"), deps=[a])
    job.function(write, args=(path, "c"), deps=[b])
    client.wait_for_jobs([client.submit(job)])
    assert open(path).read() == "abc"


def test_exception_traceback_becomes_the_error(client):
    job = Job(max_fails=None)
    job.function(write, args=(os.devnull, "fine"), name="good")
    bad = job.function(boom, args=("the reason",), name="bad")
    submitted = client.submit(job)
    with pytest.raises(FailedJobsException) as info:
        client.wait_for_jobs([submitted])
    failed = info.value.failed_jobs[submitted.id]
    assert list(failed) == [bad.task_id]
    error = failed[bad.task_id].error
    assert "Traceback (most recent call last)" in error
    assert "ValueError: the reason" in error
    assert f"Task {bad.task_id} (bad) failed" in str(info.value)
    # The same through get_failed_tasks, and without raising.
    assert client.get_failed_tasks(submitted)[bad.task_id].error == error
    assert client.wait_for_jobs([submitted], raise_on_error=False) is False


def test_a_failed_dependency_aborts_dependents(client, work_dir):
    job = Job()
    a = job.function(boom, args=("first",))
    job.function(write, args=(str(work_dir / "never.txt"), "x"), deps=[a])
    submitted = client.submit(job)
    with pytest.raises(FailedJobsException) as info:
        client.wait_for_jobs([submitted])
    counts = info.value.counts[submitted.id]
    assert (counts.failed, counts.aborted) == (1, 1)
    assert not os.path.exists(work_dir / "never.txt")


def test_prologue_runs_before_python(client, work_dir):
    from hyperqueue.task.function import PythonEnv

    env = PythonEnv(python_bin=sys.executable, prologue="export FROM_PROLOGUE=yes")
    job = Job()
    job.function(lambda: write(work_dir / "p.txt", os.environ["FROM_PROLOGUE"]), env=env)
    client.wait_for_jobs([client.submit(job)])
    assert open(work_dir / "p.txt").read() == "yes"
