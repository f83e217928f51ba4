"""The DfE's own validation rules (dfe_rules.yaml) in the suite of a statutory return's map.

A data team fixes a return by the DfE rule code its validator gives ("8869", "217t"), so a row
quarantined or warned about for the same reason says that code and message. Some DfE rules are
checks the suite already makes (a sex code not in the list): those keep their check and take the
DfE name. The others read fields of the reader's flat row that the social-care kind has no
column for (UPNunknown, ReferralNFA, URN): each has a helper column holding, on the rows that
break it, the rule's parts joined with '|' that its regular expression matched, and the suite
expects that column empty, as it does for a value that could not be read. A rule is data.
"""

from __future__ import annotations

import re
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
    """(expectation, rule text, severity) of each check rule: its helper column holds the
    joined parts of the rows that break it, so the suite expects it empty."""
    for rule in rules:
        if rule.check:
            yield (gxe.ExpectColumnValuesToBeNull(column=rule.helper), rule.label,
                   rule.check.get("severity", "warning"))


def add_helper_columns(frame: pd.DataFrame, source: pd.DataFrame | None,
                       rules: tuple[DfeRule, ...]) -> None:
    """One column per check rule, in place: the rule's parts joined with '|' on the rows that
    break it, NULL on the others. Each part is coded by its distinct values and each distinct
    combination of them joined and matched once: a return repeats the same few codes on
    hundreds of thousands of rows, and a string per row and a regular expression run by GX over
    every row were most of the rules' cost."""
    for rule in rules:
        if not rule.check:
            continue
        coded = [_part(p, frame, source) for p in rule.check["parts"]]
        key = np.zeros(len(frame), dtype=np.int64)
        for codes, texts in coded:      # one compact code per combination, kept small
            key = pd.factorize(key * len(texts) + codes)[0]
        _, first, rows = np.unique(key, return_index=True, return_inverse=True)
        joined = np.array(["|".join(texts[codes[r]] for codes, texts in coded) for r in first],
                          dtype=object)
        pattern = re.compile(rule.check["breaks"])
        broken = np.array([pattern.search(j) is not None for j in joined], dtype=bool)
        # a category per breaking combination: GX copies the frame for every metric, and a
        # small code per row costs it far less than an object pointer per row
        codes_of_broken, categories = pd.factorize(joined[broken])   # two may read alike
        category = np.full(len(joined), -1, dtype=np.int64)
        category[broken] = codes_of_broken
        frame[rule.helper] = pd.Categorical.from_codes(category[rows], categories)


def _part(part, frame: pd.DataFrame, source: pd.DataFrame | None
          ) -> tuple[np.ndarray, np.ndarray]:
    """A part as (a code per row, the text of each code), a blank as ''."""
    blank = (np.zeros(len(frame), dtype=np.int64), np.array([""], dtype=object))
    if isinstance(part, str):
        if source is None or part not in source:
            return blank
        return _coded(source[part].reindex(frame.index))
    if "age_at" in part:
        if "dob" not in frame or part["age_at"] not in frame:
            return blank
        born, at = pd.to_datetime(frame["dob"]), pd.to_datetime(frame[part["age_at"]])
        years = at.dt.year - born.dt.year - ((at.dt.month * 100 + at.dt.day)
                                             < (born.dt.month * 100 + born.dt.day))
        return _coded(years.astype("Int64"))
    if "ended_after" in part:
        states = np.array(["open", "after", "on_or_before"], dtype=object)
        if "end_at" not in frame:
            return np.zeros(len(frame), dtype=np.int64), states
        limit = pd.Timestamp(date.fromisoformat(str(part["ended_after"])))
        end = pd.to_datetime(frame["end_at"])
        return np.where(end.isna(), 0, np.where(end > limit, 1, 2)).astype(np.int64), states
    raise ValueError(f"{RULES_PATH}: a rule part is a flat column, age_at or ended_after, "
                     f"not {part!r}")


def _coded(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.array([str(u).strip() for u in uniques] + [""], dtype=object)
    return np.where(codes < 0, len(uniques), codes).astype(np.int64), texts
