"""A three-stage pipeline built in Python.

Stage 1 generates data in 5 tasks, stage 2 processes each part in 5 tasks (part i depends on
generated part i only), stage 3 aggregates everything stage 2 produced.

    hq server start &  hq worker start &      # or pass --local
    python examples/python/pipeline.py [--local] [--out DIR]

With --local, a server and a worker are started for the run (LocalCluster) and stopped after.
The result is DIR/total.txt (default DIR: ./pipeline-data).
"""

import argparse
import json
import os

from hyperqueue import Client, Job, LocalCluster
from hyperqueue.task.function import PythonEnv

PARTS = 5


def generate(out: str, part: int) -> None:
    numbers = [part * 100 + i for i in range(10)]
    with open(os.path.join(out, f"data-{part}.json"), "w") as f:
        json.dump(numbers, f)


def process(out: str, part: int) -> None:
    with open(os.path.join(out, f"data-{part}.json")) as f:
        numbers = json.load(f)
    with open(os.path.join(out, f"squares-{part}.json"), "w") as f:
        json.dump(sum(n * n for n in numbers), f)


def aggregate(out: str) -> None:
    total = 0
    for part in range(PARTS):
        with open(os.path.join(out, f"squares-{part}.json")) as f:
            total += json.load(f)
    with open(os.path.join(out, "total.txt"), "w") as f:
        f.write(f"{total}\n")
    print(f"sum of squares: {total}")


def build_job(out: str, env: PythonEnv) -> Job:
    job = Job(name="pipeline")
    generated = [job.function(generate, args=(out, p), name=f"generate-{p}", env=env) for p in range(PARTS)]
    processed = [
        job.function(process, args=(out, p), name=f"process-{p}", env=env, deps=[generated[p]])
        for p in range(PARTS)
    ]
    job.function(aggregate, args=(out,), name="aggregate", env=env, deps=processed)
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--local", action="store_true", help="start a server and a worker for this run")
    parser.add_argument("--out", default="pipeline-data", help="directory of the data files")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    env = PythonEnv()
    if args.local:
        with LocalCluster() as cluster:
            cluster.start_worker()
            run(cluster.client(), out, env)
    else:
        run(Client(), out, env)


def run(client: Client, out: str, env: PythonEnv) -> None:
    submitted = client.submit(build_job(out, env))
    client.wait_for_jobs([submitted])
    with open(os.path.join(out, "total.txt")) as f:
        print(f"Job {submitted} finished; total.txt = {f.read().strip()}")


if __name__ == "__main__":
    main()
