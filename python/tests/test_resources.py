"""Resource requests and variants reach the scheduler and the task's environment."""

import pytest

from hyperqueue import Job
from hyperqueue.cluster import WorkerConfig
from hyperqueue.errors import InvalidJobError
from hyperqueue.ffi.protocol import ResourceRequest


def test_variants_pick_the_first_that_fits(cluster, work_dir):
    cluster.start_worker(WorkerConfig(cores=2, resources={"foo": "range(1-2)"}))
    client = cluster.client()
    job = Job()
    job.program(
        ["bash", "-c", "echo $HQ_RESOURCE_VARIANT $HQ_CPUS $HQ_RESOURCE_VALUES_foo"],
        resources=[ResourceRequest(cpus=4), ResourceRequest(cpus=2, resources={"foo": 2})],
        stdout="variant.txt",
    )
    job.program(
        ["bash", "-c", "echo $HQ_RESOURCE_REQUEST_cpus"],
        resources=ResourceRequest(cpus="1 compact!"),
        stdout="policy.txt",
    )
    client.wait_for_jobs([client.submit(job)])
    assert open(work_dir / "variant.txt").read() == "1 0,1 1,2\n"
    assert open(work_dir / "policy.txt").read() == "1 compact!\n"


def test_invalid_requests_are_refused_at_submit(client):
    job = Job()
    job.program(["true"], resources=ResourceRequest(cpus=0))
    with pytest.raises(InvalidJobError, match="invalid task 0: invalid request for resource `cpus`"):
        client.submit(job)
    with pytest.raises(ValueError, match="n_nodes"):
        ResourceRequest(n_nodes=-1)


def test_multi_node_task_owns_whole_workers(cluster, work_dir):
    cluster.start_worker(WorkerConfig(cores=1))
    cluster.start_worker(WorkerConfig(cores=1))
    client = cluster.client()
    job = Job()
    job.program(
        ["bash", "-c", "echo $HQ_NUM_NODES $(wc -l < $HQ_NODE_FILE)"],
        resources=ResourceRequest(n_nodes=2),
        stdout="nodes.txt",
    )
    client.wait_for_jobs([client.submit(job)])
    assert open(work_dir / "nodes.txt").read() == "2 2\n"
