"""Program tasks on a real server and worker: output, environment, stdin, dependencies."""

import os

from conftest import read

from hyperqueue import Job
from hyperqueue.output import StdioDef


def test_program_writes_its_stdout_where_the_cli_would(client, work_dir):
    job = Job()
    job.program(["bash", "-c", "echo out-$HQ_TASK_ID; echo err >&2"])
    submitted = client.submit(job)
    assert client.wait_for_jobs([submitted]) is True
    assert read(work_dir / f"job-{submitted.id}" / "0.stdout") == "out-0\n"
    assert read(work_dir / f"job-{submitted.id}" / "0.stderr") == "err\n"


def test_env_cwd_stdin_and_explicit_paths(client, work_dir):
    (work_dir / "sub").mkdir()
    job = Job(default_env={"A": "job", "B": "job"})
    job.program(
        ["bash", "-c", "echo $A $B $PWD; cat"],
        env={"B": "task"},
        cwd=work_dir / "sub",
        stdin=b"from stdin\n",
        stdout="out-%{TASK_ID}.txt",
        stderr=StdioDef.from_path(work_dir / "err.txt"),
    )
    client.wait_for_jobs([client.submit(job)])
    assert read(work_dir / "sub" / "out-0.txt") == f"job task {work_dir / 'sub'}\nfrom stdin\n"
    assert os.path.exists(work_dir / "err.txt")


def test_dependencies_order_tasks(client, work_dir):
    job = Job()
    first = job.program(["bash", "-c", "sleep 0.2; echo 1 > a.txt"])
    job.program(["bash", "-c", "cat a.txt > b.txt; echo 2 >> b.txt"], deps=[first])
    client.wait_for_jobs([client.submit(job)])
    assert read(work_dir / "b.txt") == "1\n2\n"


def test_remove_if_finished_and_task_dir(client, work_dir):
    job = Job()
    job.program(["bash", "-c", "test -d $HQ_TASK_DIR && echo ok"], task_dir=True, stdout="kept.txt")
    job.program(["echo", "gone"], stdout=StdioDef.remove_if_finished("gone.txt"))
    client.wait_for_jobs([client.submit(job)])
    assert read(work_dir / "kept.txt") == "ok\n"
    assert not os.path.exists(work_dir / "gone.txt")


def test_priority_decides_the_order_on_one_cpu(cluster, work_dir):
    from hyperqueue.cluster import WorkerConfig

    client = cluster.client()
    job = Job()
    for p in [1, 5, 3]:
        job.program(["bash", "-c", f"echo {p} >> order.txt"], priority=p)
    submitted = client.submit(job)
    cluster.start_worker(WorkerConfig(cores=1))
    client.wait_for_jobs([submitted])
    assert read(work_dir / "order.txt").split() == ["5", "3", "1"]
