"""Python API of hq: build task graphs in Python and run them on an hq server.

    from hyperqueue import Client, Job
    job = Job()
    job.program(["echo", "hello"])
    client = Client()
    client.wait_for_jobs([client.submit(job)])

Names are loaded on first use, so a task that runs a Python function imports only what it needs.
"""

import importlib

__all__ = [
    "Client",
    "FailedJobsException",
    "Job",
    "SubmittedJob",
    "LocalCluster",
    "WorkerConfig",
    "StdioDef",
    "ResourceRequest",
    "PythonEnv",
    "visualize_job",
]

_WHERE = {
    "Client": "hyperqueue.client",
    "FailedJobsException": "hyperqueue.client",
    "Job": "hyperqueue.job",
    "SubmittedJob": "hyperqueue.job",
    "LocalCluster": "hyperqueue.cluster",
    "WorkerConfig": "hyperqueue.cluster",
    "StdioDef": "hyperqueue.output",
    "ResourceRequest": "hyperqueue.ffi.protocol",
    "PythonEnv": "hyperqueue.task.function",
    "visualize_job": "hyperqueue.visualization",
}

__version__ = "0.26.2"


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hyperqueue' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
