"""examples/python/pipeline.py runs as documented."""

import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "pipeline.py")


def expected_total() -> int:
    return sum((p * 100 + i) ** 2 for p in range(5) for i in range(10))


def test_pipeline_against_a_running_server(client, cluster, work_dir):
    env = {**os.environ, "HQ_SERVER_DIR": cluster.server_dir}
    result = subprocess.run([sys.executable, EXAMPLE, "--out", "data"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Job 1 finished; total.txt = {expected_total()}\n"
    # Stage 3 printed from its task.
    assert open(work_dir / "job-1" / "10.stdout").read() == f"sum of squares: {expected_total()}\n"


def test_pipeline_with_a_local_cluster(work_dir):
    result = subprocess.run([sys.executable, EXAMPLE, "--local", "--out", "data"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert open(work_dir / "data" / "total.txt").read() == f"{expected_total()}\n"
