"""`hq` from the Python package: the whole command line of the native module."""

import os
import signal
import sys


def _hq_binary():
    """What tasks see as `$HQ`: this package's `hq` script (the executable is the interpreter)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "hq" and os.path.isfile(argv0):
        return os.path.abspath(argv0)
    script = os.path.join(os.path.dirname(sys.executable), "hq")
    return script if os.path.isfile(script) else None


def main():
    from hyperqueue import _hq

    # Behave like the native binary: Ctrl-C and closed pipes end the process.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    code = _hq.cli_main(["hq", *sys.argv[1:]], _hq_binary())
    sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
