"""Police occurrences involving the fictional council's children: missing-person reports (from
care, mirroring most of social care's episodes, and from home, some in bursts) and recorded
sexual offences with a child victim (Home Office code, suspects linked, CSE flag).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from sources.synth.dates import age_on, day
from sources.synth.rng import calibrated_probability, choice, draw

HISTORY_DAYS = 730
MINUTES = np.timedelta64(1, "m")
DAYS = np.timedelta64(1, "D")
UNDER_13_CODES = {"17B", "19E", "19H", "20B", "21"}
SIXTEEN_PLUS_CODES = {"19C", "19F"}     # given only to victims aged 16 or 17


def _reports(rng, child, since, found, missing_from, cfg, as_of) -> pd.DataFrame:
    reported = since + rng.integers(30, 6 * 60, len(child)) * MINUTES
    reported = np.minimum(reported, as_of.astype("datetime64[m]"))
    absent = rng.random(len(child)) < cfg["absent_share"]
    return pd.DataFrame({
        "child": child,
        "occurrence_type": np.where(absent, "ABSENT", "MISSING").astype(object),
        "role": "SUBJECT",
        "reported_at": reported,
        "missing_since": since,
        "found_at": np.where(found > reported, found, np.datetime64("NaT", "m")),
        "missing_from": missing_from,
        "risk_level": choice(rng, cfg["risk"], len(child)),
    })


def _from_care(rng, care_missing: pd.DataFrame, cfg, as_of) -> pd.DataFrame:
    episodes = care_missing[(care_missing["missing_type"] == "MISSING")
                            & (care_missing["missing_from"] == "CARE")]
    episodes = episodes[rng.random(len(episodes)) < cfg["missing_reported_from_care"]]
    return _reports(rng, episodes["child"].to_numpy(),
                    episodes["start_at"].to_numpy().astype("datetime64[m]"),
                    episodes["end_at"].to_numpy().astype("datetime64[m]"), "CARE", cfg, as_of)


def _from_home(rng, pop, cfg, ages, as_of) -> pd.DataFrame:
    teens = np.flatnonzero((ages >= 10) & (ages <= 17))
    share = cfg["missing_from_home"] * len(pop) / max(len(teens), 1)
    hit = teens[draw(rng, calibrated_probability(1.5 * pop["cse_v"].to_numpy()[teens], share))]
    counts = 1 + np.minimum(rng.poisson(1.2, len(hit)), 12)
    child = np.repeat(hit, counts)
    first = (as_of - rng.integers(15, HISTORY_DAYS, len(hit)) * DAYS).astype("datetime64[m]")
    burst = rng.random(len(hit)) < cfg["repeat_burst"]
    spread_days = np.where(burst, 13, 300)
    offsets = (rng.random(len(child)) * np.repeat(spread_days, counts) * 24 * 60).astype(np.int64)
    since = np.repeat(first, counts) + offsets * MINUTES + rng.integers(0, 60, len(child)) * MINUTES
    since = np.minimum(since, (as_of - np.timedelta64(1, "D")).astype("datetime64[m]"))
    hours = np.exp(rng.normal(np.log(10), 1.2, len(child)))
    found = since + (hours * 60).astype(np.int64) * MINUTES
    found = np.where(found <= as_of.astype("datetime64[m]"), found, np.datetime64("NaT", "m"))
    return _reports(rng, child, since, found, "HOME", cfg, as_of)


def _crimes(rng, pop, cfg, ages, as_of) -> pd.DataFrame:
    eligible = np.flatnonzero((ages >= 5) & (ages <= 17))
    female = pop["sex"].to_numpy()[eligible] == "F"
    score = 1.6 * pop["cse_v"].to_numpy()[eligible] + 1.2 * female + 0.8 * (ages[eligible] >= 12)
    share = cfg["sexual_offence_victim"] * len(pop) / max(len(eligible), 1)
    victims = eligible[draw(rng, calibrated_probability(score, share))]
    counts = 1 + rng.binomial(2, 0.12, len(victims))
    child = np.repeat(victims, counts)
    offence = (as_of - rng.integers(1, HISTORY_DAYS, len(child)) * DAYS).astype("datetime64[D]")
    dob = pop["dob"].to_numpy()[child].astype("datetime64[D]")
    offence = np.maximum(offence, dob + 5 * 365 * DAYS)
    age_then = age_on(dob, offence)
    codes = choice(rng, cfg["offence_codes"], len(child))
    young = age_then < 13
    child_codes = {c: w for c, w in cfg["offence_codes"].items() if c in UNDER_13_CODES}
    older_codes = {c: w for c, w in cfg["offence_codes"].items()
                   if c not in UNDER_13_CODES | SIXTEEN_PLUS_CODES}
    codes[young] = choice(rng, child_codes, int(young.sum()))
    wrong_older = ~young & np.isin(codes, list(UNDER_13_CODES | SIXTEEN_PLUS_CODES))
    codes[wrong_older] = choice(rng, older_codes, int(wrong_older.sum()))
    sixteen = (age_then >= 16) & (rng.random(len(child)) < 0.1)
    codes[sixteen] = "19C"
    reported = (offence.astype("datetime64[m]")
                + rng.integers(0, 45 * 24 * 60, len(child)) * MINUTES)
    reported = np.minimum(reported, as_of.astype("datetime64[m]"))
    suspects = choice(rng, cfg["suspects"], len(child))
    cse = rng.random(len(child)) < calibrated_probability(
        pop["cse_v"].to_numpy()[child], cfg["cse_flag"])
    return pd.DataFrame({
        "child": child,
        "occurrence_type": "CRIME",
        "role": "VICTIM",
        "reported_at": reported,
        "offence_code": codes,
        "offence_date": offence,
        "cse_flag": cse,
        "suspect_count": pd.array([int(s) if s else None for s in suspects], dtype="Int64"),
        "intrafamilial": rng.random(len(child)) < cfg["intrafamilial"],
    })


def events(rng: np.random.Generator, pop: pd.DataFrame, cfg: dict, as_of: date,
           care_missing: pd.DataFrame) -> pd.DataFrame:
    end = day(as_of)
    ages = age_on(pop["dob"].to_numpy().astype("datetime64[D]"), end)
    frames = [_from_care(rng, care_missing, cfg, end), _from_home(rng, pop, cfg, ages, end),
              _crimes(rng, pop, cfg, ages, end)]
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["reported_at", "child"], kind="stable").reset_index(drop=True)
