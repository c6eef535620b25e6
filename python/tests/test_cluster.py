"""`LocalCluster` with this package's own `hq`, and the README's example unchanged."""

import os
import subprocess
import sys
import textwrap

from hyperqueue import Job, LocalCluster
from hyperqueue.cluster import WorkerConfig

EXAMPLE = """
from hyperqueue import Client, Job
from hyperqueue.task.function import PythonEnv
client = Client()
env = PythonEnv()
job = Job()
t1 = job.function(lambda: {"preprocessed": True}, name="preprocess", env=env)
t2 = job.function(lambda: {"analyzed": True}, name="analyze", env=env, deps=[t1])
t3 = job.function(lambda: print("Pipeline complete!"), name="report", env=env, deps=[t2])
submitted = client.submit(job)
client.wait_for_jobs([submitted])
print(f"Job {submitted} finished.")
"""


def test_local_cluster_runs_a_job_and_cleans_up(work_dir):
    with LocalCluster() as cluster:
        directory = cluster.server_dir
        cluster.start_worker(WorkerConfig(cores=1))
        client = cluster.client()
        job = Job()
        job.program(["bash", "-c", 'echo "$HQ" > hq-path.txt'])
        assert client.wait_for_jobs([client.submit(job)])
    assert not os.path.exists(directory)
    # Tasks see an `hq` they can run (the package's script, not the interpreter).
    hq = open(work_dir / "hq-path.txt").read().strip()
    assert subprocess.run([hq, "--version"], capture_output=True).returncode == 0


def test_the_issue_example_runs_unchanged(cluster, work_dir):
    cluster.start_worker(WorkerConfig(cores=2))
    (work_dir / "example.py").write_text(textwrap.dedent(EXAMPLE))
    env = {**os.environ, "HQ_SERVER_DIR": cluster.server_dir}
    result = subprocess.run([sys.executable, "example.py"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Job 1 finished.\n"
    assert open(work_dir / "job-1" / "2.stdout").read() == "Pipeline complete!\n"
