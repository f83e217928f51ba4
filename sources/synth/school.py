"""School attendance (one row per pupil per term) and suspensions / exclusions for the fictional
council's pupils. Absence follows `absence_v`, so persistent absence clusters with the children
other agencies know; the last four terms are sent, one of them before the reporting period.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from sources.synth.dates import age_on, day
from sources.synth.rng import calibrated_probability, choice, draw

TERM_STARTS = (("AUT", 9), ("SPR", 1), ("SUM", 4))   # term, month it starts (1st of the month)
TERMS_SENT = 4
PRIMARY_URNS = 40
SECONDARY_URNS = 10
URN_BASE = 990_000           # fictional URN range


def recent_terms(as_of: date, count: int = TERMS_SENT) -> list[tuple[str, str, date]]:
    """(term, academic year, start) of the `count` terms that started last, newest first."""
    out = []
    year = as_of.year
    while len(out) < count:
        for term, month in sorted(TERM_STARTS, key=lambda t: -t[1]):
            start = date(year, month, 1)
            if start <= as_of and len(out) < count:
                first_year = year if term == "AUT" else year - 1
                out.append((term, f"{first_year}/{str(first_year + 1)[-2:]}", start))
        year -= 1
    return out


def _phase(rng, pop, pupils, ages, cfg) -> np.ndarray:
    phase = np.where(ages[pupils] <= 10, "PRIMARY", "SECONDARY").astype(object)
    v = pop["v"].to_numpy()[pupils]
    special = draw(rng, calibrated_probability(1.0 * v, cfg["special"]))
    phase[special] = "SPECIAL"
    secondary = np.flatnonzero(phase == "SECONDARY")
    pru = secondary[draw(rng, calibrated_probability(2.0 * v[secondary], cfg["pru"]))]
    phase[pru] = "PRU"
    return phase


def _urns(rng, phase: np.ndarray) -> np.ndarray:
    urn = URN_BASE + rng.integers(0, PRIMARY_URNS, len(phase))
    sec = phase != "PRIMARY"
    urn[sec] = URN_BASE + PRIMARY_URNS + rng.integers(0, SECONDARY_URNS, int(sec.sum()))
    urn[phase == "SPECIAL"] = URN_BASE + PRIMARY_URNS + SECONDARY_URNS
    urn[phase == "PRU"] = URN_BASE + PRIMARY_URNS + SECONDARY_URNS + 1
    return urn.astype(str).astype(object)


def _attendance(rng, pop, pupils, phase, urn, cfg, as_of) -> pd.DataFrame:
    absence_v = pop["absence_v"].to_numpy()[pupils]
    base = np.exp(np.log(cfg["absence_median_percent"] / 100)
                  + cfg["absence_spread"] * (0.7 * absence_v + 0.3 * rng.standard_normal(
                      len(pupils))))
    frames = []
    for term, year, _start in recent_terms(as_of):
        possible = cfg["sessions"][term] - rng.integers(0, 7, len(pupils))
        rate = np.clip(base * np.exp(0.35 * rng.standard_normal(len(pupils))), 0, 0.95)
        absent = np.round(rate * possible).astype(int)
        unauth_share = np.clip(cfg["unauthorised_share"] + 0.3 * absence_v
                               + 0.15 * rng.standard_normal(len(pupils)), 0, 1)
        unauthorised = np.round(absent * unauth_share).astype(int)
        frames.append(pd.DataFrame({
            "child": pupils, "record_type": "ATTENDANCE", "school_urn": urn,
            "school_type": phase, "academic_year": year, "term": term,
            "sessions_possible": pd.array(possible, dtype="Int64"),
            "sessions_authorised_absence": pd.array(absent - unauthorised, dtype="Int64"),
            "sessions_unauthorised_absence": pd.array(unauthorised, dtype="Int64"),
        }))
    return pd.concat(frames, ignore_index=True)


def _exclusions(rng, pop, pupils, phase, urn, cfg, as_of) -> pd.DataFrame:
    secondary = np.flatnonzero(phase != "PRIMARY")
    v = pop["v"].to_numpy()[pupils[secondary]]
    hit = secondary[draw(rng, calibrated_probability(1.4 * v, cfg["suspended"]))]
    counts = 1 + rng.binomial(3, 0.2, len(hit))
    idx = np.repeat(hit, counts)
    start = (day(as_of) - rng.integers(1, 365, len(idx)) * np.timedelta64(1, "D"))
    terms = recent_terms(as_of)
    year = np.array([next((y for _t, y, s in terms if s <= d), terms[-1][1])
                     for d in start.astype("datetime64[D]").astype(object)], dtype=object)
    permanent = rng.random(len(idx)) < cfg["permanent"]
    sessions = np.where(permanent, None, rng.integers(1, 11, len(idx))).astype(object)
    return pd.DataFrame({
        "child": pupils[idx], "record_type": "EXCLUSION", "school_urn": urn[idx],
        "school_type": phase[idx], "academic_year": year,
        "exclusion_category": np.where(permanent, "PERMANENT", "FIXED").astype(object),
        "exclusion_reason": choice(rng, cfg["exclusion_reasons"], len(idx)),
        "exclusion_start": start.astype("datetime64[D]"),
        "exclusion_sessions": pd.array(list(sessions), dtype="Int64"),
    })


def events(rng: np.random.Generator, pop: pd.DataFrame, cfg: dict, as_of: date,
           sixth_form: bool = False) -> pd.DataFrame:
    """`sixth_form` adds the 16- and 17-year-olds in school sixth forms, whom the termly census
    counts; the Register export holds pupils of compulsory school age only."""
    ages = age_on(pop["dob"].to_numpy().astype("datetime64[D]"), day(as_of))
    school_age = np.flatnonzero((ages >= 4) & (ages <= 15))
    pupils = school_age[rng.random(len(school_age)) < cfg["on_roll"]]
    if sixth_form:
        older = np.flatnonzero((ages >= 16) & (ages <= 17))
        pupils = np.sort(np.r_[pupils, older[rng.random(len(older)) < cfg["sixth_form"]]])
    phase = _phase(rng, pop, pupils, ages, cfg)
    urn = _urns(rng, phase)
    out = pd.concat([_attendance(rng, pop, pupils, phase, urn, cfg, as_of),
                     _exclusions(rng, pop, pupils, phase, urn, cfg, as_of)], ignore_index=True)
    return out.sort_values(["child", "record_type"], kind="stable").reset_index(drop=True)
