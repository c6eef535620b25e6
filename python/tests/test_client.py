"""The client: where it finds the server, waits with progress, cancel, forget, errors."""

import signal
import subprocess
import sys

import pytest

from conftest import hq_command

from hyperqueue import Client, Job
from hyperqueue.client import FailedJobsException, JobProgress
from hyperqueue.errors import HqConnectionError, HqError


def test_server_dir_from_the_environment(cluster, monkeypatch):
    monkeypatch.setenv("HQ_SERVER_DIR", cluster.server_dir)
    assert Client().server_dir == cluster.server_dir


def test_no_server_is_a_connection_error(tmp_path):
    with pytest.raises(HqConnectionError, match="No running instance of HQ found"):
        Client(tmp_path / "nothing")


def test_progress_callback_sees_per_job_counts(cluster):
    client = cluster.client()
    jobs = []
    for n in (3, 1):
        job = Job()
        for _ in range(n):
            job.program(["true"])
        jobs.append(client.submit(job))
    seen = []

    def progress(states):
        seen.append(states)
        if len(seen) == 1:
            # Nothing can run before there is a worker.
            cluster.start_worker(wait=False)

    assert client.wait_for_jobs(jobs, progress=progress) is True
    first = {p.id: p for p in seen[0]}
    assert [first[j.id].counts.waiting for j in jobs] == [3, 1]
    assert all(isinstance(p, JobProgress) and not p.done for p in seen[0])


def test_cancel_and_forget(cluster):
    client = cluster.client()
    job = Job()
    job.program(["sleep", "100"])
    submitted = client.submit(job)
    client.cancel(submitted)
    with pytest.raises(FailedJobsException) as info:
        client.wait_for_jobs([submitted])
    assert info.value.counts[submitted.id].canceled == 1
    assert "1 canceled of 1 tasks" in str(info.value)
    client.forget([submitted])
    assert client.connection.job_list() == []


def test_waiting_for_an_unknown_job(client):
    with pytest.raises(ValueError, match="unknown job"):
        client.wait_for_jobs([99])


def test_the_cli_of_the_package(cluster):
    out = subprocess.run(
        [*hq_command(), "--server-dir", cluster.server_dir, "server", "info", "--output-mode", "json"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert '"server_uid"' in out
    version = subprocess.run([sys.executable, "-m", "hyperqueue", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "0.26" in version.stdout


INTERRUPTED = """
import sys
from hyperqueue import Client, Job
client = Client(sys.argv[1])
job = Job()
job.program(["true"])
submitted = client.submit(job)
try:
    print("waiting", flush=True)
    client.wait_for_jobs([submitted])
except KeyboardInterrupt:
    # The same client goes on working after an interrupted wait.
    print("interrupted", len(client.connection.job_list()), flush=True)
"""


def test_ctrl_c_interrupts_a_wait(cluster, work_dir):
    (work_dir / "wait.py").write_text(INTERRUPTED)
    process = subprocess.Popen(
        [sys.executable, "wait.py", cluster.server_dir], stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout.readline() == "waiting\n"
        process.send_signal(signal.SIGINT)
        assert process.stdout.readline() == "interrupted 1\n"
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()


def test_using_the_waiting_client_in_its_callback_is_an_error(cluster):
    client = cluster.client()
    job = Job()
    job.program(["true"])
    submitted = client.submit(job)

    def progress(states):
        client.connection.job_list()

    with pytest.raises(HqError, match="busy waiting for jobs"):
        client.wait_for_jobs([submitted], progress=progress)
