"""Resource requests of tasks, as the native planner takes them."""

import datetime
from typing import Dict, List, Optional, Sequence, Tuple, Union

Amount = Union[int, float, str]


class ResourceRequest:
    """What one task needs: `cpus` (a number, `"4 compact!"`, `"all"`, ...), other resources by
    name (`{"gpus": 1, "mem": "2048"}`), or `n_nodes` whole workers; `min_time` is the
    remaining worker lifetime the task needs (seconds or a `timedelta`). A list of requests
    means variants: the scheduler picks the first one that fits a worker."""

    def __init__(
        self,
        *,
        n_nodes: int = 0,
        cpus: Amount = 1,
        resources: Optional[Dict[str, Amount]] = None,
        min_time: Union[None, float, datetime.timedelta] = None,
    ):
        if not isinstance(n_nodes, int) or n_nodes < 0:
            raise ValueError(f"n_nodes must be an integer >= 0, not {n_nodes!r}")
        self.n_nodes = n_nodes
        self.cpus = cpus
        self.resources = dict(resources or {})
        if isinstance(min_time, datetime.timedelta):
            min_time = min_time.total_seconds()
        self.min_time = float(min_time or 0)

    def _build(self) -> Tuple[int, Optional[str], List[Tuple[str, str]], float]:
        cpus = None if self.n_nodes > 0 else _amount(self.cpus)
        resources = [(str(name), _amount(value)) for name, value in self.resources.items()]
        return (self.n_nodes, cpus, resources, self.min_time)

    def __repr__(self):
        return (
            f"ResourceRequest(n_nodes={self.n_nodes}, cpus={self.cpus!r}, "
            f"resources={self.resources!r}, min_time={self.min_time})"
        )


def _amount(value: Amount) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"a resource amount is a number or a string, not {value!r}")
    return value if isinstance(value, str) else repr(value)


def build_requests(
    resources: Union[None, ResourceRequest, Sequence[ResourceRequest]],
) -> list:
    if resources is None:
        return []
    if isinstance(resources, ResourceRequest):
        return [resources._build()]
    requests = list(resources)
    for r in requests:
        if not isinstance(r, ResourceRequest):
            raise ValueError(f"resources must be ResourceRequest objects, not {r!r}")
    return [r._build() for r in requests]
