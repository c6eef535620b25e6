"""Snakemake on top of hq: the profile of examples/workflows/snakemake runs a small workflow,
every rule as an hq job (the cluster-generic executor, from the package registry)."""

import os
import shutil
import subprocess
import sys

from conftest import run_hq

from hyperqueue.cluster import WorkerConfig

PROFILE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "workflows", "snakemake")


def test_snakemake_workflow_runs_through_hq(cluster, work_dir):
    cluster.start_worker(WorkerConfig(cores=4))
    shutil.copy(os.path.join(PROFILE, "Snakefile"), work_dir)
    snakemake = os.path.join(os.path.dirname(sys.executable), "snakemake")
    env = {**os.environ, "HQ_SERVER_DIR": cluster.server_dir}
    result = subprocess.run(
        [snakemake, "--profile", os.path.abspath(PROFILE), "--seconds-between-status-checks", "1"],
        cwd=work_dir, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = open(work_dir / "summary.txt").read().splitlines()
    assert [line.split()[0] for line in lines] == ["a", "b", "c"]
    for line in lines:
        # Each rule ran as its own hq job, with the rule's two threads as two CPUs.
        _, job, cpus = line.split()
        assert job.startswith("job=") and int(job[4:]) >= 1
        assert len(cpus[len("cpus="):].split(",")) == 2
    jobs = run_hq("--server-dir", cluster.server_dir, "--output-mode", "quiet", "job", "list", "--all").stdout
    assert jobs.split() == ["1", "FINISHED", "2", "FINISHED", "3", "FINISHED", "4", "FINISHED"]
    names = run_hq("--server-dir", cluster.server_dir, "job", "list", "--all").stdout
    assert names.count("smk-make") == 3 and names.count("smk-summary") == 1
