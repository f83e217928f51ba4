"""Name lists, drawing names for a population, and the ways agencies write names differently.

Everything here works on arrays of names; the few per-name Python loops run over distinct
names or over the small share of records an error touches, so 1M children stay fast.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np

from sources.standardise import TRANSLIT
from sources.synth.config import load

ZIPF_EXPONENT = 0.9
ZIPF_OFFSET = 6.0
TYPO_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def rank_weights(n: int) -> np.ndarray:
    w = 1.0 / (np.arange(n) + ZIPF_OFFSET) ** ZIPF_EXPONENT
    return w / w.sum()


@dataclass(frozen=True)
class NameList:
    names: np.ndarray
    p: np.ndarray

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.names[rng.choice(len(self.names), size=size, p=self.p)]


@cache
def first_names(origin: str, sex: str) -> NameList:
    names = load("first_names")[origin][sex]
    return NameList(np.array(names, dtype=object), rank_weights(len(names)))


@cache
def surnames(origin: str) -> NameList:
    names = load("surnames")[origin]
    return NameList(np.array(names, dtype=object), rank_weights(len(names)))


@cache
def initial_index(origin: str, sex: str) -> dict[str, np.ndarray]:
    """Positions of the names in a list by first letter (twins often share an initial)."""
    names = first_names(origin, sex).names
    out: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        out.setdefault(strip_accents(name)[0], []).append(i)
    return {k: np.array(v) for k, v in out.items()}


def feminine_polish(surname: str) -> str:
    for masc, fem in (("dzki", "dzka"), ("cki", "cka"), ("ski", "ska")):
        if surname.endswith(masc):
            return surname[: -len(masc)] + fem
    return surname


@cache
def variant_table() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(spellings, nicknames): name -> other spellings / familiar forms."""
    raw = load("name_variants")
    spell: dict[str, set[str]] = {}
    for group in raw["spelling"]:
        for name in group:
            spell.setdefault(name, set()).update(g for g in group if g != name)
    nick = {k: tuple(v) for k, v in raw["nickname"].items()}
    return {k: tuple(sorted(v)) for k, v in spell.items()}, nick


def strip_accents(text: str) -> str:
    text = text.translate(TRANSLIT)
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


def to_charset(text: str, encoding: str) -> str:
    """Text as a system limited to `encoding` stores it: unencodable letters lose accents."""
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for ch in text:
        try:
            ch.encode(encoding)
            out.append(ch)
        except UnicodeEncodeError:
            out.append(strip_accents(ch) or "?")
    return "".join(out)


def map_unique(values: np.ndarray, func) -> np.ndarray:
    """Apply a str -> str function once per distinct value (None passes through)."""
    out = np.empty(len(values), dtype=object)
    if len(values) == 0:
        return out
    series_vals, inverse = np.unique(values.astype(str), return_inverse=True)
    mapped = np.array([func(v) for v in series_vals], dtype=object)
    out[:] = mapped[inverse]
    out[np.array([v is None for v in values], dtype=bool)] = None
    return out


def typo(rng: np.random.Generator, name: str) -> str:
    """One keying slip: insert, delete, substitute or transpose a letter (not the first)."""
    if len(name) < 3:
        return name
    kind = rng.integers(0, 4)
    pos = int(rng.integers(1, len(name) - 1))
    letter = str(TYPO_LETTERS[rng.integers(0, 26)])
    if name[pos - 1].isupper() and name[pos].isupper():
        letter = letter.upper()
    if kind == 0:
        return name[:pos] + letter + name[pos:]
    if kind == 1:
        return name[:pos] + name[pos + 1:]
    if kind == 2:
        return name[:pos] + letter + name[pos + 1:]
    return name[:pos] + name[pos + 1] + name[pos] + name[pos + 2:]


def variant(rng: np.random.Generator, name: str, kinds: tuple[str, ...]) -> str | None:
    """Another form of `name` (spelling and/or nickname), or None when there is none."""
    spell, nick = variant_table()
    options: list[str] = []
    if "spelling" in kinds:
        options += spell.get(name, ())
    if "nickname" in kinds:
        options += nick.get(name, ())
    if not options:
        return None
    return options[int(rng.integers(0, len(options)))]


def title_case(name: str) -> str:
    """'o'brien-smith' -> "O'Brien-Smith"; leaves particles like 'Ó', 'Mac' readable."""
    parts = []
    for word in name.split(" "):
        sub = "-".join(_cap(w) for w in word.split("-"))
        parts.append(sub)
    return " ".join(parts)


def _cap(word: str) -> str:
    if not word:
        return word
    if "'" in word:
        head, _, tail = word.partition("'")
        return _cap(head) + "'" + _cap(tail)
    if word.lower().startswith("mc") and len(word) > 2:
        return "Mc" + word[2:3].upper() + word[3:].lower()
    return word[:1].upper() + word[1:].lower()
