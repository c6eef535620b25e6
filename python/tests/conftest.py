"""Fixtures: a real hq server and workers (child processes) in a temporary directory.

The `hq` that runs them is `HQ_TEST_BINARY` when set (scripts/test.sh passes the binary cargo
already built), else this package's own (`python -m hyperqueue`)."""

import os
import shlex
import subprocess
import sys

import pytest

from hyperqueue import Client, LocalCluster
from hyperqueue.cluster import WorkerConfig
from hyperqueue.task.function import PythonEnv

# Function tasks run `python3` from the worker's PATH: make it this interpreter.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


def hq_command():
    binary = os.environ.get("HQ_TEST_BINARY")
    return shlex.split(binary) if binary else [sys.executable, "-m", "hyperqueue"]


@pytest.fixture
def work_dir(tmp_path, monkeypatch):
    """Tests run in a fresh directory: the jobs' submit directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cluster(work_dir):
    """A server without workers; `cluster.start_worker(...)` adds them."""
    c = LocalCluster(server_dir=work_dir / "server", hq=hq_command())
    yield c
    c.stop()


@pytest.fixture
def client(cluster):
    """A client of a server with one 2-CPU worker."""
    cluster.start_worker(WorkerConfig(cores=2))
    return cluster.client(python_env=PythonEnv(python_bin=sys.executable))


def run_hq(*args, cwd=None, env=None, check=True):
    """Runs an `hq` command line; returns the completed process (text)."""
    return subprocess.run(
        [*hq_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, check=check, timeout=60,
    )


def read(path) -> str:
    with open(path) as f:
        return f.read()


__all__ = ["Client", "run_hq", "read", "hq_command"]
