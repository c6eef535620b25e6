"""Exceptions of the package; all derive from `HqError`.

- `HqConnectionError`: no server at the server directory, a server of another version, or a
  lost connection.
- `InvalidJobError`: the planner refused the job (a cycle, an unknown dependency, no tasks, a bad
  resource request), with the message a job file would get.
"""

from ._hq import HqConnectionError, HqError, InvalidJobError

__all__ = ["HqError", "HqConnectionError", "InvalidJobError"]
