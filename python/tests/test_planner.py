"""A Python job goes through the job files' planner: same checks, same messages."""

import pytest

from conftest import run_hq

from hyperqueue import Job
from hyperqueue.errors import InvalidJobError

CYCLE_FILE = """
[[task]]
id = 0
command = ["true"]
deps = [1]

[[task]]
id = 1
command = ["true"]
deps = [0]
"""

UNKNOWN_FILE = """
[[task]]
id = 0
command = ["true"]

[[task]]
id = 1
command = ["true"]
deps = [17]
"""


def job_file_error(work_dir, text) -> str:
    (work_dir / "job.toml").write_text(text)
    result = run_hq("job", "submit-file", "--dry-run", "job.toml", cwd=work_dir, check=False)
    assert result.returncode == 1
    return result.stderr


def test_cycle_gets_the_job_file_message(client, work_dir):
    job = Job()
    job.program(["true"], deps=[1])
    job.program(["true"], deps=[0])
    with pytest.raises(InvalidJobError) as info:
        client.submit(job)
    assert str(info.value) == "Task 0 is part of dependency cycle: 0 -> 1 -> 0"
    assert str(info.value) in job_file_error(work_dir, CYCLE_FILE)


def test_unknown_dependency_gets_the_job_file_message(client, work_dir):
    job = Job()
    job.program(["true"])
    job.program(["true"], deps=[17])
    with pytest.raises(InvalidJobError) as info:
        client.submit(job)
    assert "Task 1 has an invalid dependency on 17" in str(info.value)
    assert str(info.value) in job_file_error(work_dir, UNKNOWN_FILE)


def test_empty_job(client):
    with pytest.raises(InvalidJobError, match="^Submitted job must have at least a single task$"):
        client.submit(Job())


def test_dependency_on_another_jobs_task_is_refused():
    other = Job()
    task = other.program(["true"])
    with pytest.raises(ValueError, match="of another job"):
        Job().program(["true"], deps=[task])


def test_refused_jobs_reach_no_server_state(client):
    job = Job()
    job.program(["true"], deps=[0])
    with pytest.raises(InvalidJobError, match="cycle: 0 -> 0"):
        client.submit(job)
    assert client.connection.job_list() == []
