"""Submitting a large task graph from Python (issue: 100,000 tasks in under 2 seconds).

    pip install ./python                     # release build
    python benchmarks/python_submit.py [TASKS] [RUNS]

Builds a job of TASKS program tasks (default 100,000) where each task depends on the previous
one except every tenth (10,000 chains of 10), starts a LocalCluster without workers and times
`client.submit(job)` (conversion to the native planner, planning, sending, and the server
accepting it) RUNS times (default 3) on a fresh server each. Prints one line per run and the
server's RSS after the submission. `HQ=/path/to/hq` runs the server with that binary instead
of the package's own `hq` (whose process also holds a Python interpreter).
"""

import os
import sys
import time

from hyperqueue import Job, LocalCluster


def build(n: int) -> Job:
    job = Job()
    prev = None
    for i in range(n):
        deps = [prev] if prev is not None and i % 10 else ()
        prev = job.program(["sleep", "0"], deps=deps)
    return job


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    for run in range(runs):
        t0 = time.perf_counter()
        job = build(n)
        built = time.perf_counter() - t0
        hq = [os.environ["HQ"]] if os.environ.get("HQ") else None
        with LocalCluster(hq=hq) as cluster:
            client = cluster.client()
            t0 = time.perf_counter()
            client.submit(job)
            submit = time.perf_counter() - t0
            rss = rss_mib(cluster._server.pid)
        print(f"run {run + 1}: {n} tasks; building the Job {built:.2f} s; submit {submit:.2f} s; "
              f"server RSS {rss:.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
