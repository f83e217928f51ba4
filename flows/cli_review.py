"""`joinedup review`: the clerical-review queue and reviewers' decisions. Registered in
flows/cli.py.

The queue is read from the published warehouse (read-only, like `joinedup sql`); decisions are
written to the home's review decisions file (linkage/decisions.py), because the warehouse file is
rebuilt every night and the next run reads them from there. Nothing here prints a name, date of
birth, address or postcode: a pair is shown by its record keys (source and the source system's
own reference, which reviewers look up in that system), the model's scores and the comparison
levels, so that the listing can be read aloud, pasted into a ticket or shown on a screen.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from flows.cli_options import HomeOption, checked_settings, console
from flows.home import Home, resolve_home
from linkage.decisions import (
    MATCH,
    NON_MATCH,
    DecisionError,
    append_decisions,
    load_latest,
    ordered_pair,
    read_decisions,
    read_decisions_csv,
    write_csv,
)
from linkage.review import REASONS, known_records
from linkage.review import pending_queue as review_queue

review_app = typer.Typer(
    no_args_is_help=True,
    help="The clerical-review queue: list uncertain pairs and record match / non-match "
         "decisions, which override the model from the next run.")

def _live(home: Path | None) -> Home:
    target = resolve_home(home)
    if not target.live.exists():
        console.print(f"[red]{target.live} not found: run `joinedup run` first[/red]")
        raise typer.Exit(1)
    return target


def pending_queue(target: Home) -> pd.DataFrame:
    """The published queue without the pairs already decided (linkage.review.pending_queue)."""
    from warehouse.db import connect

    decided = load_latest(target.decisions)
    con = connect(target.live, read_only=True)
    try:
        return review_queue(con, decided)
    finally:
        con.close()


@review_app.command("list")
def list_command(
    home: HomeOption = None,
    reason: Annotated[str | None, typer.Option(
        "--reason", help=f"Only pairs queued for this reason: {', '.join(REASONS)}.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1,
                                       help="Show at most this many pairs.")] = 50,
) -> None:
    """List the pairs waiting for a decision (record keys, scores and comparison levels only)."""
    if reason is not None and reason not in REASONS:
        raise typer.BadParameter(f"--reason {reason!r}: use one of {', '.join(REASONS)}")
    target = _live(home)
    try:
        queue = pending_queue(target)
    except DecisionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    comparisons = queue.attrs.get("comparisons", [])
    prior = queue.attrs.get("prior_weight")
    if reason is not None:
        queue = queue[queue["reason"] == reason]
    # A block per pair rather than a table: record keys must never be cut short to fit a
    # terminal, since they are what the reviewer copies into the source systems.
    for number, rec in enumerate(queue.head(limit).itertuples(), start=1):
        steps = [_level_text(rec, c) for c in comparisons]
        if prior is not None and any(pd.notna(getattr(rec, f"weight_{c}", None))
                                     for c in comparisons):
            steps.insert(0, f"prior {prior:+.2f}")
        levels = " · ".join(steps)
        console.print(Text.assemble(
            (f"{number:>3}. ", "dim"), (rec.record_key_l, "bold"), "  ",
            (rec.record_key_r, "bold"), f"   {rec.reason} ({rec.match_rule})"))
        console.print(Padding(Text(
            f"probability {rec.match_probability:.4f} (model {rec.model_probability:.4f}) · "
            f"weight {rec.match_weight:+.2f} · people {rec.person_id_l} / {rec.person_id_r}"),
            (0, 0, 0, 5)))
        console.print(Padding(Text(levels, style="dim"), (0, 0, 0, 5)))
    shown = min(limit, len(queue))
    console.print(f"{len(queue):,} pairs waiting for a decision"
                  + (f" ({shown:,} shown)" if shown < len(queue) else "")
                  + ". Look the records up in their source systems by record key, then "
                    "`joinedup review decide KEY_L KEY_R --match|--non-match`.")


def _level_text(rec, comparison: str) -> str:
    """A comparison's level and its part of the match weight (a step of the waterfall)."""
    text = f"{comparison} {getattr(rec, 'level_' + comparison)}"
    weight = getattr(rec, "weight_" + comparison, None)
    return text if weight is None or pd.isna(weight) else f"{text} {weight:+.2f}"


@review_app.command("decide")
def decide_command(
    record_key_l: Annotated[str, typer.Argument(help="One record, as source:person_ref.")],
    record_key_r: Annotated[str, typer.Argument(help="The other record.")],
    home: HomeOption = None,
    is_match: Annotated[bool | None, typer.Option(
        "--match/--non-match", help="The two records are the same child / different children.",
        show_default=False)] = None,
    note: Annotated[str, typer.Option("--note", help="Why (kept with the decision; "
                                                     "never printed by `review list`).")] = "",
    by: Annotated[str | None, typer.Option("--by", help="Who decided (default: your login "
                                                        "name).")] = None,
) -> None:
    """Record that two records are (--match) or are not (--non-match) the same child; the next
    run links or separates them whatever the model says."""
    from warehouse.db import connect

    if is_match is None:
        raise typer.BadParameter("say --match or --non-match")
    target = _live(home)
    try:
        left, right = ordered_pair(record_key_l, record_key_r, "review decide")
    except DecisionError as exc:
        raise typer.BadParameter(str(exc)) from None
    con = connect(target.live, read_only=True)
    try:
        known = known_records(con, [left, right])
    finally:
        con.close()
    missing = [k for k in (left, right) if k not in known]
    if missing:
        raise typer.BadParameter(f"no record {', '.join(missing)} in the published warehouse; "
                                 "copy the keys from `joinedup review list`")
    path = target.decisions
    try:
        earlier = load_latest(path)
    except DecisionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    decision = MATCH if is_match else NON_MATCH
    append_decisions(path, [{"record_key_l": left, "record_key_r": right, "decision": decision,
                             "note": note, "by": by or _login()}])
    before = earlier[(earlier["record_key_l"] == left) & (earlier["record_key_r"] == right)]
    replaced = (f" (replaces the earlier {before['decision'].iloc[0]})"
                if len(before) and before["decision"].iloc[0] != decision else "")
    console.print(f"recorded {decision} for {left} / {right}{replaced}; it applies from the "
                  "next run")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


@review_app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    home: HomeOption = None,
    decided: Annotated[bool, typer.Option(
        "--decided", help="Export the decisions recorded so far instead of the pending "
                          "queue.")] = False,
) -> None:
    """Write the pending queue as CSV with an empty decision column, for reviewing in bulk and
    bringing back with `review import` (or, with --decided, the decisions so far)."""
    target = resolve_home(home)
    try:
        if decided:
            frame = read_decisions(target.decisions)
        else:
            frame = pending_queue(_live(home))
            frame = frame.drop(columns=["person_id_l", "person_id_r", "blocking_rule"])
            frame["decision"], frame["note"] = "", ""
    except DecisionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    rows = write_csv(frame, out)
    console.print(f"wrote {rows:,} {'decisions' if decided else 'pending pairs'} to {out}"
                  + ("" if decided else "; fill in decision (match / non_match) and run "
                                        "`joinedup review import`"))


@review_app.command("import")
def import_command(
    csv_file: Annotated[Path, typer.Argument(help="CSV with record_key_l, record_key_r, "
                                                  "decision (and optionally note, by).")],
    home: HomeOption = None,
    by: Annotated[str | None, typer.Option("--by", help="Who decided, where the file has no "
                                                        "'by' column.")] = None,
) -> None:
    """Record the decisions of a reviewed CSV (rows with an empty decision are skipped)."""
    target = resolve_home(home)
    try:
        frame = read_decisions_csv(csv_file)
    except DecisionError as exc:
        raise typer.BadParameter(str(exc)) from None
    rows = frame.to_dict("records")
    for row in rows:
        row["by"] = row.get("by") or by or _login()
    added = append_decisions(target.decisions, rows)
    console.print(f"recorded {added:,} decisions from {csv_file}; they apply from the next run")


@review_app.command("evaluate")
def evaluate_command(home: HomeOption = None) -> None:
    """How far the published people agree with reviewers' decisions (counts only)."""
    from linkage.evaluate import evaluate_decisions
    from warehouse.db import connect

    target = _live(home)
    try:
        decisions = load_latest(target.decisions)
    except DecisionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if decisions.empty:
        console.print("no decisions recorded yet: `joinedup review list` shows the queue")
        return
    threshold = _threshold(target)
    con = connect(target.live, read_only=True)
    try:
        result = evaluate_decisions(con, decisions[["record_key_l", "record_key_r", "decision"]],
                                    threshold)
    finally:
        con.close()
    console.print(f"decisions: {result['decisions']:,} ({result['match']:,} match, "
                  f"{result['non_match']:,} non-match); {result['not_in_warehouse']:,} name a "
                  "record not in the published warehouse")
    table = Table("", "pairs", "tp", "fn", "tn", "fp", "precision", "recall")
    for label, key in (("published people", "clusters"),
                       ("  decided before the build", "clusters_applied"),
                       ("  decided since (held out)", "clusters_held_out"),
                       ("model alone (pairwise)", "model")):
        row = result[key]
        table.add_row(label, f"{row['pairs']:,}", f"{row['tp']:,}", f"{row['fn']:,}",
                      f"{row['tn']:,}", f"{row['fp']:,}", _rate(row["precision"]),
                      _rate(row["recall"]))
    console.print(table)
    console.print("tp: decided match in one person; fn: decided match split; tn: decided "
                  "non-match split; fp: decided non-match in one person. Decisions made before "
                  "the build were applied by it; those made since are held-out labels.")
    console.print(f"model alone: the pair's probability before decisions was at least "
                  f"{threshold:g}; pairs it never scored count as not linked")


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _threshold(target: Home) -> float:
    from linkage.settings import load_settings

    overrides = checked_settings(target).linkage_overrides()
    return float(load_settings(overrides)["clustering"]["threshold"])
