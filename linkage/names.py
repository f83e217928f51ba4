"""Written names -> forename, middle names, surname and the alternatives a name implies.

Why: a file of unknown origin may hold a person's name as one text ("thomas clifford, 1st baron
clifford of chudleigh", "Smith, John Paul", "Mr. J. van Dijk") or put a title or an ordinal in
its forename column ("1st", "sir"). Compared as they are, titles agree between strangers and a
peer's two names never meet. The words that are not names (titles, suffixes, ordinals) and the
words that shape a surname (particles, a territorial "of") are data: linkage/data/
name_parts.yaml. Used by `joinedup link` (flows/link_files.py) before names are standardised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd
import yaml

NAME_PARTS_PATH = Path(__file__).parent / "data" / "name_parts.yaml"
ORDINAL = re.compile(r"^\d+(st|nd|rd|th)?$")
WORD = re.compile(r"[^\W\d_][\w'\u2019.-]*|\d+\w*", re.UNICODE)


@dataclass(frozen=True)
class NameParts:
    titles: frozenset[str]
    suffixes: frozenset[str]
    particles: frozenset[str]
    territorial: frozenset[str]

    def is_style(self, word: str) -> bool:
        """A word of a name that names no one: a title, a suffix or an ordinal."""
        w = word.lower().strip(".")
        return w in self.titles or w in self.suffixes or bool(ORDINAL.match(w))


@cache
def name_parts() -> NameParts:
    data = yaml.safe_load(NAME_PARTS_PATH.read_text(encoding="utf-8"))
    return NameParts(*(frozenset(data[key]) for key in ("titles", "suffixes", "particles",
                                                        "territorial")))


@dataclass(frozen=True)
class ParsedName:
    first: str | None
    middles: list[str]
    last: str | None
    other_lasts: list[str]          # surnames the name also implies (a peerage, a place)


def _words(text: str) -> list[str]:
    return [w.strip(".") for w in WORD.findall(text) if w.strip(".")]


def strip_styles(text: str | None) -> str | None:
    """A forename or surname column's value without titles, suffixes and ordinals; None when
    nothing else is left ("1st", "Sir")."""
    if text is None or pd.isna(text):
        return None
    parts = name_parts()
    words = [w for w in _words(str(text)) if not parts.is_style(w)]
    return " ".join(words) or None


def _surname_start(words: list[str], parts: NameParts) -> int:
    """Index where the surname begins: the last word, with the particles before it."""
    start = len(words) - 1
    while start > 1 and words[start - 1].lower() in parts.particles:
        start -= 1
    return start


def parse_full_name(text: str | None) -> ParsedName:
    """Forename, middle names and surname of one written name.

    'First Middle Last'; 'Last, First Middle'; and 'First Last, style' where what follows the
    comma starts with a title or an ordinal ("..., 1st baron clifford of chudleigh"): the style
    is dropped, but a territorial "of Place" in it gives Place as another surname."""
    if text is None or pd.isna(text):
        return ParsedName(None, [], None, [])
    parts = name_parts()
    head, comma, tail = str(text).partition(",")
    tail_words = _words(tail)
    styled = bool(comma and tail_words and parts.is_style(tail_words[0]))
    if comma and tail_words and not styled:
        words = tail_words + _words(head)               # 'Last, First Middle'
    else:
        words = _words(head)
    kept, others, place = [], [], False
    titled = bool(words) and parts.is_style(words[0])
    for word in words:
        if word.lower() in parts.territorial:
            place = True
        elif not parts.is_style(word):
            (others if place else kept).append(word)
    if styled:      # the words of a peerage's style ("baron clifford of chudleigh") are names
        others += [w for w in tail_words
                   if not parts.is_style(w) and w.lower() not in parts.territorial]
    if not kept:
        return ParsedName(None, [], None, others)
    if len(kept) == 1:
        if titled:                      # "Mrs Dodsworth": a title before one word, a surname
            return ParsedName(None, [], kept[0], others)
        if others:                      # "John of Gaunt": the place is the surname
            return ParsedName(kept[0], [], others[-1], others[:-1])
        return ParsedName(kept[0], [], None, [])
    start = _surname_start(kept, parts)
    return ParsedName(kept[0], kept[1:start], " ".join(kept[start:]), others)


def person_names(first: pd.Series | None, middle: pd.Series | None, last: pd.Series | None,
                 full: pd.Series | None, index: pd.Index) -> pd.DataFrame:
    """first_name, middle_names, last_name, alias_first_names, alias_last_names (raw text, to be
    standardised) from whichever name columns a file has. A column given for a part wins over
    the full name's parse of it; where the full name says otherwise, its forename and surname
    are kept as aliases, so that either form can agree with another record."""
    def column(series: pd.Series | None) -> list:
        return [None] * len(index) if series is None else _each_distinct(series, strip_styles)

    given = {"first_name": column(first), "middle_names": column(middle),
             "last_name": column(last)}
    parts = {role: list(values) for role, values in given.items()}
    alias_first: list[list[str]] = [[] for _ in index]
    alias_last: list[list[str]] = [[] for _ in index]
    if full is not None:
        for i, name in enumerate(_each_distinct(full, parse_full_name)):
            parsed = {"first_name": name.first, "middle_names": " ".join(name.middles) or None,
                      "last_name": name.last}
            for role, value in parsed.items():
                if given[role][i] is None:
                    parts[role][i] = value
            if name.first and given["first_name"][i] not in (None, name.first):
                alias_first[i].append(name.first)
            if name.last and given["last_name"][i] not in (None, name.last):
                alias_last[i].append(name.last)
            alias_last[i].extend(o for o in name.other_lasts if o != parts["last_name"][i])
    out = pd.DataFrame(parts, index=index)
    out["alias_first_names"] = alias_first
    out["alias_last_names"] = alias_last
    return out


def _each_distinct(series: pd.Series, parse) -> list:
    """parse of every value, run once per distinct value: a file's names repeat (thousands of
    Johns), and parsing them one by one was most of reading a file's names."""
    values = series.astype("object").where(series.notna(), None)
    done = {value: parse(value) for value in dict.fromkeys(values)}
    return [done[value] for value in values]
