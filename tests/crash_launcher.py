"""`python -m tests.crash_launcher`: the `joinedup` command line imported once, with the crash
tests' checkpoint hook installed (tests/crash_hook.py), forking one real `joinedup` process per
request.

A crash story kills `joinedup run` several times. Each run is its own process, forked from this
one after the imports (Prefect and Great Expectations take some six seconds to import) and before
anything else has happened in it, so it starts at once and then does exactly what the command
a user types does. Requests are JSON lines on stdin: {"argv": [...], "env": {...}, "log": path}.
For each, the launcher prints {"pid": n} when the process has started and
{"pid": n, "returncode": rc} when it has ended (negative: killed by that signal); it exits at
the end of its input.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

from tests.crash_hook import install


def _child(app, request: dict) -> None:
    """Run one command with its output in `log`; never returns."""
    code = 1
    try:
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        app(request["argv"], prog_name="joinedup")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # noqa: BLE001 - reported in the log; the finally ends the child
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    install()
    import flows.nightly  # noqa: F401  (what `joinedup run` imports once its settings are read)
    from flows.cli import app

    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(app, request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "returncode": os.waitstatus_to_exitcode(status)}),
              flush=True)


if __name__ == "__main__":
    main()
