#!/usr/bin/env python3
"""Snakemake's cluster status command for hq: prints `running`, `success` or `failed` for the
job ID given as the argument, from `hq --output-mode json job info ID`."""

import json
import subprocess
import sys


def status(job_id: str) -> str:
    out = subprocess.run(
        ["hq", "--output-mode", "json", "job", "info", job_id],
        capture_output=True, text=True, check=True,
    ).stdout
    jobs = json.loads(out)
    if not jobs:
        return "failed"  # forgotten or unknown: it will not finish
    stats = jobs[0]["info"]["task_stats"]
    if stats["waiting"] or stats["running"]:
        return "running"
    if stats["failed"] or stats["canceled"] or stats["aborted"]:
        return "failed"
    return "success"


if __name__ == "__main__":
    print(status(sys.argv[1]))
