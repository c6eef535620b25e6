"""Where a task's stdout and stderr go."""

from typing import Optional, Tuple, Union

from .common import GenericPath


class StdioDef:
    """A file for stdout or stderr. Paths may use placeholders (`%{TASK_ID}`, `%{JOB_ID}`,
    `%{CWD}`, ...); relative ones are relative to the task's working directory. The default is
    `%{CWD}/job-%{JOB_ID}/%{TASK_ID}.stdout` (and `.stderr`), as for `hq submit`."""

    def __init__(self, path: Optional[GenericPath], remove_if_finished: bool):
        self.path = None if path is None else str(path)
        self.remove_if_finished_flag = remove_if_finished

    @staticmethod
    def from_path(path: GenericPath) -> "StdioDef":
        return StdioDef(path, False)

    @staticmethod
    def remove_if_finished(path: Optional[GenericPath] = None) -> "StdioDef":
        """The file (default path when None) is deleted once the task has finished; it is
        kept when the task fails or is canceled."""
        return StdioDef(path, True)

    def __repr__(self):
        return f"StdioDef(path={self.path!r}, remove_if_finished={self.remove_if_finished_flag})"


def build_stdio(value: Union[None, GenericPath, StdioDef]) -> Tuple[Optional[str], bool]:
    if value is None:
        return (None, False)
    if isinstance(value, StdioDef):
        return (value.path, value.remove_if_finished_flag)
    return (str(value), False)
