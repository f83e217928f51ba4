"""How one agency records a child's identity: the population's true details, with that agency's
errors (sources/synth/data/agencies.yaml `identity`).

Each person record draws its own errors, so two records of one child in two systems (or two
records in one system) rarely share a mistake, as in real extracts. Loops run only over the small
share of records an error touches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sources.synth import names as nm
from sources.synth.config import load
from sources.synth.dates import ymd
from sources.synth.rng import choice

POSTCODE_TYPO_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)


def _hits(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    return rng.random(n) < p


def _apply(values: np.ndarray, mask: np.ndarray, func) -> None:
    for i in np.flatnonzero(mask):
        if values[i] is not None:
            values[i] = func(values[i])


def _first_names(rng, pop: pd.DataFrame, child: np.ndarray, profile: dict) -> np.ndarray:
    first = pop["first_name"].to_numpy()[child].copy()
    n = len(first)
    nick = _hits(rng, n, profile["nickname"])
    spell = ~nick & _hits(rng, n, profile["spelling"])
    for i in np.flatnonzero(nick | spell):
        other = nm.variant(rng, first[i], ("nickname",) if nick[i] else ("spelling",))
        if other:
            first[i] = other
    _apply(first, _hits(rng, n, profile["first_typo"]), lambda v: nm.typo(rng, v))
    return first


def _surnames(rng, pop: pd.DataFrame, child: np.ndarray, profile: dict) -> np.ndarray:
    last = pop["surname"].to_numpy()[child].copy()
    former = pop["former_surname"].to_numpy()[child]
    n = len(last)
    old = (np.array([f is not None for f in former], dtype=bool)
           & _hits(rng, n, profile["former_surname"]))
    last[old] = former[old]
    hyphen = (np.array(["-" in s for s in last], dtype=bool)
              & _hits(rng, n, profile["hyphen_one_part"]))
    take_second = rng.random(n) < 0.4
    for i in np.flatnonzero(hyphen):
        parts = last[i].split("-")
        last[i] = parts[-1] if take_second[i] else parts[0]
    _apply(last, _hits(rng, n, profile["last_typo"]), lambda v: nm.typo(rng, v))
    return last


def _dobs(rng, pop: pd.DataFrame, child: np.ndarray, profile: dict) -> np.ndarray:
    dob = pop["dob"].to_numpy()[child].astype("datetime64[D]").copy()
    n = len(dob)
    y, m, d = ymd(dob)
    swap = _hits(rng, n, profile["dob_day_month_swap"]) & (d <= 12) & (d != m)
    one_part = ~swap & _hits(rng, n, profile["dob_one_part"])
    year = ~swap & ~one_part & _hits(rng, n, profile["dob_year"])
    new_y, new_m, new_d = y.copy(), m.copy(), d.copy()
    new_m[swap], new_d[swap] = d[swap], m[swap]
    day_slip = rng.random(n) < 0.6
    shift = rng.choice(np.array([-1, 1, 10, -10]), n)
    new_d[one_part & day_slip] = np.clip(d + shift, 1, 28)[one_part & day_slip]
    month_shift = rng.choice(np.array([-1, 1]), n)
    new_m[one_part & ~day_slip] = np.clip(m + month_shift, 1, 12)[one_part & ~day_slip]
    new_y[year] = (y + rng.choice(np.array([-1, 1]), n))[year]
    # a keyed month or year must still make a real date (31 April, 29 February 2011 do not)
    moved = (one_part & ~day_slip) | year
    new_d[moved] = np.minimum(new_d[moved], 28)
    changed = swap | one_part | year
    if changed.any():
        frame = pd.DataFrame({"year": new_y[changed], "month": new_m[changed],
                              "day": new_d[changed]})
        dob[changed] = pd.to_datetime(frame, errors="coerce").to_numpy().astype("datetime64[D]")
    dob[_hits(rng, n, profile["dob_missing"])] = np.datetime64("NaT")
    return dob


def _postcode_typo(rng, code: str) -> str:
    outward, _, inward = code.partition(" ")
    if len(inward) != 3:
        return code
    pos = int(rng.integers(1, 3))
    letter = POSTCODE_TYPO_LETTERS[rng.integers(0, len(POSTCODE_TYPO_LETTERS))]
    return f"{outward} {inward[:pos]}{letter}{inward[pos + 1:]}"


def _addresses(rng, pop: pd.DataFrame, child: np.ndarray, profile: dict):
    postcode = pop["postcode"].to_numpy()[child].copy()
    address = pop["address"].to_numpy()[child].copy()
    moved = pop["moved"].to_numpy()[child]
    n = len(postcode)
    stale = moved & _hits(rng, n, profile["stale_address"])
    postcode[stale] = pop["old_postcode"].to_numpy()[child][stale]
    address[stale] = pop["old_address"].to_numpy()[child][stale]
    _apply(postcode, _hits(rng, n, profile["postcode_typo"]), lambda v: _postcode_typo(rng, v))
    postcode[_hits(rng, n, profile["postcode_missing"])] = None
    return postcode, address


def _ethnicity(rng, pop: pd.DataFrame, child: np.ndarray, profile: dict) -> np.ndarray:
    eth = pop["ethnicity"].to_numpy()[child].copy()
    confusable = load("ethnicity")["confusable"]
    slip = _hits(rng, len(eth), profile["ethnicity_slip"])
    for i in np.flatnonzero(slip):
        options = confusable.get(eth[i])
        if options:
            eth[i] = options[int(rng.integers(0, len(options)))]
    eth[_hits(rng, len(eth), profile["ethnicity_missing"])] = None
    return eth


def _strong_id(rng, pop: pd.DataFrame, child: np.ndarray, column: str, p: float) -> np.ndarray:
    values = pop[column].to_numpy()[child].copy()
    values[~_hits(rng, len(values), p)] = None
    return values


def record_identities(rng: np.random.Generator, pop: pd.DataFrame, child: np.ndarray,
                      profile: dict) -> pd.DataFrame:
    """One row per person record (`child` = population row of each record) as the agency has it."""
    n = len(child)
    first = _first_names(rng, pop, child, profile)
    last = _surnames(rng, pop, child, profile)
    swap = _hits(rng, n, profile["swap_names"])
    first[swap], last[swap] = last[swap], first[swap].copy()
    middle = pop["middle_name"].to_numpy()[child].copy()
    middle[~_hits(rng, n, profile["middle_recorded"])] = None
    sex = pop["sex"].to_numpy()[child].copy()
    sex[_hits(rng, n, profile["sex_missing"])] = None
    postcode, address = _addresses(rng, pop, child, profile)
    frame = pd.DataFrame({
        "child": child,
        "first_name": first,
        "middle_name": middle,
        "last_name": last,
        "dob": _dobs(rng, pop, child, profile),
        "sex": sex,
        "ethnicity": _ethnicity(rng, pop, child, profile),
        "postcode": postcode,
        "address": address,
        "nhs_number": _strong_id(rng, pop, child, "nhs_number", profile["nhs_recorded"]),
        "upn": _strong_id(rng, pop, child, "upn", profile["upn_recorded"]),
        "la_child_id": _strong_id(rng, pop, child, "la_child_id", profile["la_id_recorded"]),
        "former_surname": pop["former_surname"].to_numpy()[child],
        "surname_origin": pop["surname_origin"].to_numpy()[child],
    })
    if profile.get("preferred_name"):
        preferred = np.full(n, None, dtype=object)
        known_as = _hits(rng, n, profile["preferred_name"])
        for i in np.flatnonzero(known_as):
            preferred[i] = nm.variant(rng, pop["first_name"].iat[child[i]], ("nickname",))
        frame["preferred_name"] = preferred
    if profile.get("case") == "upper":
        for column in ("first_name", "middle_name", "last_name"):
            frame[column] = frame[column].map(lambda v: v.upper() if isinstance(v, str) else v)
    return frame


def person_records(rng: np.random.Generator, children: np.ndarray,
                   profile: dict) -> tuple[np.ndarray, np.ndarray]:
    """(child per record, is-duplicate per record): one record per child, and a second one for
    the share of children the system holds twice. Records are shuffled."""
    dup = children[_hits(rng, len(children), profile["duplicate_record"])]
    child = np.concatenate([children, dup])
    duplicate = np.r_[np.zeros(len(children), bool), np.ones(len(dup), bool)]
    order = rng.permutation(len(child))
    return child[order], duplicate[order]


def split_events(rng: np.random.Generator, event_child: np.ndarray, rec_child: np.ndarray,
                 rec_ref: np.ndarray) -> np.ndarray:
    """The person_ref of each event: a child with two records has its events spread over both."""
    order = np.argsort(rec_child, kind="stable")
    sorted_child = rec_child[order]
    first = np.searchsorted(sorted_child, event_child, side="left")
    count = np.searchsorted(sorted_child, event_child, side="right") - first
    if (count == 0).any():
        raise ValueError("an event belongs to a child with no person record")
    pick = first + (rng.random(len(event_child)) * count).astype(np.int64)
    return rec_ref[order[pick]]


def ethnicity_codes(rng: np.random.Generator, main: np.ndarray, origin: np.ndarray,
                    scheme: str) -> np.ndarray:
    """An agency's own ethnicity code for each DfE main code (None stays None), drawn per
    (main code, name origin) group so that a million records cost a few dozen draws."""
    cfg = load("ethnicity")
    out = np.full(len(main), None, dtype=object)
    known = np.array([c is not None for c in main], dtype=bool)
    keys = pd.DataFrame({"code": main[known], "origin": origin[known]})
    positions = np.flatnonzero(known)
    for (code, orig), rows in keys.groupby(["code", "origin"]).indices.items():
        where = positions[rows]
        if scheme == "school_extended":
            weights = cfg["school_extended"][code]
            out[where] = choice(rng, weights.get(orig, weights["default"]), len(where))
        elif scheme == "police_sde":
            out[where] = cfg["police_sde_by_origin"].get(orig) or cfg["police_sde"][code]
        elif scheme == "police_ic":
            out[where] = choice(rng, cfg["police_ic"][code], len(where))
        elif scheme == "yot_words":
            out[where] = cfg["yot_words_by_origin"].get(orig) or cfg["yot_words"][code]
        else:
            out[where] = code
    return out
