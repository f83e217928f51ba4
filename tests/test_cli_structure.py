"""The shape of the command line: each module imports on its own, no import cycle among the
flows modules, shared options declared once, every command registered, and `joinedup report`
writing the report alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from flows.cli import app
from flows.home import Home
from tests.builders.return_home import make_home

REPO = Path(__file__).resolve().parents[1]
FLOWS = REPO / "flows"
CLI_MODULES = sorted(p.stem for p in FLOWS.glob("cli*.py"))
COMMANDS = {"synth", "run", "demo", "evaluate", "sources", "link", "encode", "review", "runs",
            "rollback", "rebuild", "serve", "return", "report", "sql"}


def _imported_flows_modules(path: Path) -> set[str]:
    """The flows modules a module imports anywhere in it (top level or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n.split(".")[1] for n in names
                  if n.startswith("flows.") and (FLOWS / f"{n.split('.')[1]}.py").exists()}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in the graph, as the modules along it, or None."""
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return trail[trail.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, [*trail, nxt])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_cycle_finder_finds_cycles():
    assert _cycle({"cli": {"cli_ops"}, "cli_ops": {"cli"}}) == ["cli", "cli_ops", "cli"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_flows_modules():
    graph = {p.stem: _imported_flows_modules(p) - {p.stem} for p in FLOWS.glob("*.py")}
    assert graph["cli"] >= {"cli_sources", "cli_link", "cli_review", "cli_ops",
                            "cli_publication", "cli_options"}
    assert _cycle(graph) is None, _cycle(graph)
    importers = sorted(name for name, imports in graph.items() if "cli" in imports)
    assert importers == [], f"{importers} import flows.cli, which registers every command"


@pytest.mark.parametrize("module", CLI_MODULES)
def test_each_cli_module_imports_on_its_own(module):
    result = subprocess.run([sys.executable, "-c", f"import flows.{module}"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_shared_options_are_declared_once():
    for path in FLOWS.glob("cli*.py"):
        if path.stem == "cli_options":
            continue
        tree = ast.parse(path.read_text())
        declared = [t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name) and t.id.endswith("Option")]
        assert declared == [], f"{path.name} declares {declared}: put them in cli_options.py"
        for flag in ('"--home"', '"--as-of"', '"--quarter"'):
            assert flag not in path.read_text(), f"{path.name} spells {flag}"


def test_every_command_is_registered_and_has_help():
    commands = get_command(app).commands
    assert set(commands) == COMMANDS
    assert set(commands["sources"].commands) == {"check"}
    assert set(commands["review"].commands) == {"list", "decide", "export", "import", "evaluate"}
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in COMMANDS)
    paths = [[name] for name in COMMANDS] + [[group, sub] for group in ("sources", "review")
                                             for sub in commands[group].commands]
    for path in paths:
        sub = CliRunner().invoke(app, [*path, "--help"])
        assert sub.exit_code == 0, (path, sub.output)


def test_report_writes_the_report_alone(tmp_path):
    """(`joinedup return` writing the workbook, CSVs and report is tests/test_returns.py's.)"""
    home = Home(make_home(tmp_path, "Kestrelford"))
    out = CliRunner().invoke(app, ["report", "--home", str(home.root), "--quarter", "2025Q3"])
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in home.return_dir("2025Q3").iterdir()) == ["report_2025Q3.html"]


def test_progress_is_a_bar_on_a_terminal_and_a_log_line_per_stage_otherwise(caplog):
    """Every long command shows its stages through flows.progress, as `joinedup link` does."""
    import io
    import logging

    from rich.console import Console

    from flows.progress import showing, stage

    stage("nothing open")                      # without a display: nothing, no error
    with caplog.at_level(logging.INFO, logger="joinedup.progress"):
        with showing("run", Console(file=io.StringIO()), total=2):
            stage("receive")
            stage("ingest")
        logged = [r.getMessage() for r in caplog.records if r.name == "joinedup.progress"]
        assert logged[:2] == ["run: stage 1 of 2: receive", "run: stage 2 of 2: ingest"]
        caplog.clear()
        screen = io.StringIO()
        with showing("return", Console(file=screen, force_terminal=True, width=100)) as shown:
            stage("report", 3)
            assert shown.progress is not None and shown.total == 3
        assert not [r for r in caplog.records if r.name == "joinedup.progress"]
    assert "return: report" in screen.getvalue()


def test_the_run_stages_are_the_nightly_runs_own():
    """flows.progress counts the stages `run_nightly` marks, so the bar reaches its end."""
    from flows.progress import NIGHTLY_STAGES, RUN_STAGES, START_FLOW

    marked = [node.args[0].value for node in ast.walk(ast.parse((FLOWS / "nightly.py")
                                                                .read_text()))
              if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "at"]
    assert tuple(marked) == NIGHTLY_STAGES and (START_FLOW, *NIGHTLY_STAGES) == RUN_STAGES
    linked = (FLOWS / "cli_link.py").read_text()
    assert "from flows.progress import showing, stage" in linked      # one display for all
