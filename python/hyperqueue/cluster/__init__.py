"""`LocalCluster`: an hq server and workers as child processes of this one, for scripts,
notebooks and tests. A context manager: leaving it stops everything it started."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from ..common import GenericPath
from ..errors import HqConnectionError

STARTUP_TIMEOUT = 30.0


class WorkerConfig:
    """A local worker: `cores` CPUs (default: all of this machine), `resources` as for
    `hq worker start --resource` (`{"gpus": "range(0-1)"}`), and extra `args`."""

    def __init__(self, cores: Optional[int] = None, resources: Optional[Dict[str, str]] = None,
                 args: Sequence[str] = ()):
        if cores is not None and (not isinstance(cores, int) or cores < 1):
            raise ValueError(f"cores must be a positive integer, not {cores!r}")
        self.cores = cores
        self.resources = dict(resources or {})
        self.args = list(args)

    def _args(self) -> List[str]:
        args = [] if self.cores is None else ["--cpus", str(self.cores)]
        for name, value in self.resources.items():
            args += ["--resource", f"{name}={value}"]
        return args + self.args


class LocalCluster:
    """Starts `hq server start` in `server_dir` (default: a new temporary directory, removed
    at the end). `hq` is the command to run (default: this package's, `python -m hyperqueue`).
    Logs of the server and each worker are in the server directory (`server.log`,
    `worker-N.log`)."""

    def __init__(self, server_dir: Optional[GenericPath] = None, hq: Optional[Sequence[str]] = None):
        self._owned_dir = server_dir is None
        self.server_dir = str(server_dir) if server_dir else tempfile.mkdtemp(prefix="hq-cluster-")
        os.makedirs(self.server_dir, exist_ok=True)
        self._hq = list(hq) if hq else [sys.executable, "-m", "hyperqueue"]
        self._workers: List[subprocess.Popen] = []
        self._logs = []
        self._server = self._spawn(["server", "start"], "server.log")
        try:
            self._connection = self._wait_for_server()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, args: List[str], log_name: str) -> subprocess.Popen:
        log = open(os.path.join(self.server_dir, log_name), "wb")
        self._logs.append(log)
        return subprocess.Popen(
            [*self._hq, *args, "--server-dir", self.server_dir],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )

    def _log(self, name: str) -> str:
        try:
            with open(os.path.join(self.server_dir, name), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def _wait_for_server(self):
        from .. import _hq

        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self._server.poll() is not None:
                raise HqConnectionError(f"the server exited with {self._server.returncode}:\n{self._log('server.log')}")
            try:
                return _hq.ClientConnection(self.server_dir)
            except HqConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def start_worker(self, config: Optional[WorkerConfig] = None, *, wait: bool = True) -> None:
        """Starts a worker; with `wait`, returns once the server lists it."""
        config = config or WorkerConfig()
        before = set(self._connection.connected_workers())
        log_name = f"worker-{len(self._workers) + 1}.log"
        worker = self._spawn(["worker", "start", *config._args()], log_name)
        self._workers.append(worker)
        if not wait:
            return
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not set(self._connection.connected_workers()) - before:
            if worker.poll() is not None:
                raise HqConnectionError(f"the worker exited with {worker.returncode}:\n{self._log(log_name)}")
            if time.monotonic() > deadline:
                raise HqConnectionError(f"the worker did not connect within {STARTUP_TIMEOUT} s")
            time.sleep(0.05)

    def client(self, python_env=None):
        """A `Client` of this cluster's server."""
        from ..client import Client

        return Client(self.server_dir, python_env=python_env)

    def stop(self) -> None:
        """Stops the server (which stops its workers) and waits for every process."""
        connection = getattr(self, "_connection", None)
        if connection is not None and self._server.poll() is None:
            try:
                connection.stop_server()
            except Exception:
                pass
        for process in [*self._workers, self._server]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()
        self._logs = []
        self._connection = None
        if self._owned_dir:
            shutil.rmtree(self.server_dir, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
