"""`python -m tests.run_cli_with_crash_hook ARGS`: the `joinedup` command line with the crash
tests' checkpoint hook installed (see tests/crash_hook.py)."""

from tests.crash_hook import install

if __name__ == "__main__":
    install()
    from flows.cli import app

    app(prog_name="joinedup")
