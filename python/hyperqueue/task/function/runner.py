"""Runs one pickled Python call on a worker (the program of a function task).

Reads `(pickled function, pickled (args, kwargs))` from stdin and calls it. An exception's
traceback goes to stderr and to `HQ_ERROR_FILENAME`, so it becomes the task's error; the exit
code is then 1. Imports nothing of the package but this module."""

import os
import pickle
import sys
import traceback

# The worker keeps the first 2 KiB of the error file; keep the end of a long traceback, where
# the exception is.
MAX_ERROR = 2000


def _error_text(text: str) -> str:
    data = text.encode()
    if len(data) <= MAX_ERROR:
        return text
    return "...\n" + data[-(MAX_ERROR - 4):].decode(errors="ignore")


def main() -> int:
    try:
        fn_data, call_data = pickle.loads(sys.stdin.buffer.read())
        fn = pickle.loads(fn_data)
        args, kwargs = pickle.loads(call_data)
        fn(*args, **kwargs)
    except SystemExit:
        raise
    except BaseException:
        text = traceback.format_exc()
        sys.stderr.write(text)
        sys.stderr.flush()
        path = os.environ.get("HQ_ERROR_FILENAME")
        if path:
            with open(path, "w") as f:
                f.write(_error_text(text))
        return 1
    finally:
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
