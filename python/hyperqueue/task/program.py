"""A task that runs an external program."""

import os
from typing import Optional, Sequence

from ..common import GenericPath
from .task import Task


class ExternalProgram(Task):
    def __init__(self, job, task_id, *, args: Sequence[GenericPath], stdin: Optional[bytes], **kw):
        if isinstance(args, (str, bytes)) or not args:
            raise ValueError(
                "args must be a non-empty list of the program and its arguments, "
                "e.g. [\"echo\", \"hello\"]"
            )
        super().__init__(job, task_id, **kw)
        self.args = [os.fspath(a) for a in args]
        if isinstance(stdin, str):
            stdin = stdin.encode()
        self.stdin = stdin

    def _program(self, ctx):
        return self.args, self.stdin
