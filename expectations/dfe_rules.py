"""The DfE's own validation rules (dfe_rules.yaml) in the suite of a statutory return's map.

A data team fixes a return by the DfE rule code its validator gives ("8869", "217t"), so a row
quarantined or warned about for the same reason says that code and message. Some DfE rules are
checks the suite already makes (a sex code not in the list): those keep their check and take the
DfE name. The others read fields of the reader's flat row that the social-care kind has no
column for (UPNunknown, ReferralNFA, URN): they run on one helper column per rule, the rule's
parts joined with '|', matched by the rule's regular expression, so a rule is data.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import great_expectations.expectations as gxe
import numpy as np
import pandas as pd

from sources.common.yamlfiles import read_yaml

RULES_PATH = Path(__file__).parent / "dfe_rules.yaml"
HELPER = "dfe__{code}"
# a rule that finds a repeated code needs a group for its back-reference; pandas warns about
# every group when GX runs the pattern, once per run, in the run's log
warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression",
                        category=UserWarning)


@dataclass(frozen=True)
class DfeRule:
    code: str
    message: str
    same_as: str | None = None
    check: dict | None = None

    @property
    def label(self) -> str:
        return f"DfE {self.code}: {self.message}"

    @property
    def helper(self) -> str:
        return HELPER.format(code=re.sub(r"\W", "_", self.code))


@cache
def rules_for(map_name: str) -> tuple[DfeRule, ...]:
    return tuple(DfeRule(**r) for r in read_yaml(RULES_PATH).get(map_name) or [])


def named(rule_text: str, rules: tuple[DfeRule, ...]) -> str:
    """A suite rule's text, led by the DfE rule it is when it is one."""
    for rule in rules:
        if rule.same_as and re.match(rule.same_as, rule_text):
            return f"{rule.label} ({rule_text})"
    return rule_text


def expectations(rules: tuple[DfeRule, ...]):
    """(expectation, rule text, severity) of each check rule."""
    for rule in rules:
        if rule.check:
            yield (gxe.ExpectColumnValuesToNotMatchRegex(column=rule.helper,
                                                         regex=rule.check["breaks"]),
                   rule.label, rule.check.get("severity", "warning"))


def add_helper_columns(frame: pd.DataFrame, source: pd.DataFrame | None,
                       rules: tuple[DfeRule, ...]) -> None:
    """One column per check rule, in place: its parts joined with '|' (NULL when every part is
    blank, so a row the rule cannot apply to is not judged)."""
    for rule in rules:
        if not rule.check:
            continue
        parts = [_part(p, frame, source) for p in rule.check["parts"]]
        joined = parts[0].fillna("")
        for part in parts[1:]:
            joined = joined + "|" + part.fillna("")
        blank = pd.concat([p.isna() for p in parts], axis=1).all(axis=1)
        frame[rule.helper] = joined.astype(object).where(~blank, None)


def _part(part, frame: pd.DataFrame, source: pd.DataFrame | None) -> pd.Series:
    empty = pd.Series(None, index=frame.index, dtype=object)
    if isinstance(part, str):
        if source is None or part not in source:
            return empty
        text = source[part].reindex(frame.index).astype("string").str.strip()
        return text.mask(text == "").astype(object)
    if "age_at" in part:
        if "dob" not in frame or part["age_at"] not in frame:
            return empty
        born, at = pd.to_datetime(frame["dob"]), pd.to_datetime(frame[part["age_at"]])
        years = at.dt.year - born.dt.year - ((at.dt.month * 100 + at.dt.day)
                                             < (born.dt.month * 100 + born.dt.day))
        return years.astype("Int64").astype("string").astype(object).where(years.notna(), None)
    if "ended_after" in part:
        if "end_at" not in frame:
            return pd.Series("open", index=frame.index, dtype=object)
        limit = pd.Timestamp(date.fromisoformat(str(part["ended_after"])))
        end = pd.to_datetime(frame["end_at"])
        return pd.Series(np.where(end.isna(), "open", np.where(end > limit, "after",
                                                                "on_or_before")),
                         index=frame.index, dtype=object)
    raise ValueError(f"{RULES_PATH}: a rule part is a flat column, age_at or ended_after, "
                     f"not {part!r}")
