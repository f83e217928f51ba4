"""Children's social care events for the fictional council: referrals (with CIN factors),
assessments, CIN and CP plans, looked-after episodes and placements, missing episodes with
return interviews, and children missing education.

Who meets children's social care follows the latent vulnerability `v`; exploitation factors
and missing episodes follow `cse_v`, so the same children tend to present to several agencies.
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
PRIMARY_NEEDS = {"N1": 0.55, "N2": 0.08, "N3": 0.05, "N4": 0.12, "N5": 0.1, "N6": 0.03,
                 "N7": 0.01, "N8": 0.02, "N9": 0.04}
DECLINED = {"Young person declined": 0.7, "Parent or carer declined": 0.3}


def _instants(rng, start: np.ndarray, end: np.datetime64) -> np.ndarray:
    s = start.astype("datetime64[m]").astype(np.int64)
    e = np.int64(end.astype("datetime64[m]").astype(np.int64))
    span = np.maximum(e - s, 60)
    return (s + (rng.random(len(s)) * span).astype(np.int64)).astype("datetime64[m]")


def _frame(event_type: str, child: np.ndarray, start: np.ndarray, **cols) -> pd.DataFrame:
    frame = pd.DataFrame({"child": child, "event_type": event_type,
                          "start_at": start.astype("datetime64[m]")})
    for name, values in cols.items():
        frame[name] = values
    return frame


def _close(end: np.ndarray, as_of: np.datetime64) -> np.ndarray:
    """An end after the extract date has not happened yet: the episode is open (NaT)."""
    end = end.astype("datetime64[m]")
    return np.where(end <= as_of.astype("datetime64[m]"), end, np.datetime64("NaT", "m"))


def _referrals(rng, pop, cfg, ages, as_of):
    referred = np.flatnonzero(draw(rng, calibrated_probability(1.3 * pop["v"].to_numpy(),
                                                               cfg["referral"])))
    counts = 1 + rng.binomial(cfg["referral_max"] - 1, 0.25, len(referred))
    child = np.repeat(referred, counts)
    earliest = np.maximum(pop["dob"].to_numpy()[child].astype("datetime64[D]"),
                          as_of - HISTORY_DAYS * DAYS)
    when = _instants(rng, earliest, as_of)
    older = ages[child] >= 11
    female = pop["sex"].to_numpy()[child] == "F"
    male = ~female
    factors = [[] for _ in range(len(child))]
    for factor, p in cfg["factors"].items():
        if factor == "CSE":
            score = 1.6 * pop["cse_v"].to_numpy()[child] + 0.8 * female
            hit = older & draw(rng, calibrated_probability(score, p))
        elif factor in ("GANGS", "CCE"):
            score = 1.2 * pop["v"].to_numpy()[child] + 1.0 * male
            hit = older & draw(rng, calibrated_probability(score, p))
        else:
            hit = rng.random(len(child)) < p
        for i in np.flatnonzero(hit):
            factors[i].append(factor)
    return _frame("REFERRAL", child, when, factors=[f or None for f in factors])


def _plans(rng, pop, cfg, referrals, as_of):
    assessed = referrals[rng.random(len(referrals)) < cfg["assessed"]]
    a_start = assessed["start_at"].to_numpy() + rng.integers(7, 45, len(assessed)) * DAYS
    keep = a_start <= as_of
    assessed, a_start = assessed[keep], a_start[keep]
    children = np.unique(assessed["child"].to_numpy())
    v = pop["v"].to_numpy()[children]
    cp_share = min(0.9, cfg["cp_plan"] * len(pop) / max(len(children), 1))
    cp_children = set(children[draw(rng, calibrated_probability(1.2 * v, cp_share))].tolist())
    cp_followed = np.array([c in cp_children for c in assessed["child"]], dtype=bool)
    need = choice(rng, PRIMARY_NEEDS, len(assessed))
    assessment = _frame("ASSESSMENT", assessed["child"].to_numpy(), a_start, primary_need=need,
                        cp_followed=cp_followed)
    frames = [assessment]
    first = assessment.drop_duplicates("child")
    cin = first[~first["child"].isin(cp_children) & (rng.random(len(first)) < cfg["cin_plan"])]
    c_start = cin["start_at"].to_numpy() + rng.integers(3, 20, len(cin)) * DAYS
    c_end = _close(c_start + rng.integers(90, 420, len(cin)) * DAYS, as_of)
    frames.append(_frame("CIN_PLAN", cin["child"].to_numpy(), c_start, end_at=c_end))
    cp = first[first["child"].isin(cp_children)]
    p_start = cp["start_at"].to_numpy() + rng.integers(10, 30, len(cp)) * DAYS
    p_start = np.minimum(p_start, as_of.astype("datetime64[m]"))
    frames.append(_frame("CP_CONFERENCE", cp["child"].to_numpy(), p_start))
    category = choice(rng, cfg["cp_categories"], len(cp))
    p_end = _close(p_start + rng.integers(120, 600, len(cp)) * DAYS, as_of)
    frames.append(_frame("CP_PLAN", cp["child"].to_numpy(), p_start, end_at=p_end,
                         cp_category=category))
    return frames


def _looked_after(rng, pop, cfg, ages, as_of):
    v = pop["v"].to_numpy()
    lac = np.flatnonzero(draw(rng, calibrated_probability(1.5 * v, cfg["looked_after"])))
    dob = pop["dob"].to_numpy()[lac].astype("datetime64[D]")
    back = (rng.random(len(lac)) ** 1.5 * 6 * 365).astype(np.int64) * DAYS
    start = np.maximum(as_of - back, dob).astype("datetime64[m]") + np.int64(9 * 60) * MINUTES
    ended = rng.random(len(lac)) < 0.25
    end = np.where(ended, start + rng.integers(30, 700, len(lac)) * DAYS,
                   np.datetime64("NaT", "m"))
    end = _close(end, as_of)
    episodes = _frame("LAC_EPISODE", lac, start, end_at=end,
                      legal_status=choice(rng, cfg["legal_status"], len(lac)))
    n_place = 1 + rng.binomial(2, 0.35, len(lac))
    p_child = np.repeat(lac, n_place)
    p_ep_start = np.repeat(start, n_place)
    p_rank = np.concatenate([np.arange(k) for k in n_place]) if len(lac) else np.array([], int)
    p_start = np.minimum(p_ep_start + p_rank * rng.integers(60, 240, len(p_child)) * DAYS,
                         as_of.astype("datetime64[m]"))
    ptype = choice(rng, cfg["placements"], len(p_child))
    last = np.r_[p_rank[1:] == 0, True] if len(p_rank) else np.array([], bool)
    older = (ages[p_child] >= 16) & last & (rng.random(len(p_child)) < cfg["older_moving_on"])
    ptype[older] = choice(rng, cfg["older_placements"], int(older.sum()))
    placements = _frame("PLACEMENT", p_child, p_start, placement_type=ptype)
    return lac, start, [episodes, placements]


def _missing(rng, cfg, pool, earliest, score, share, as_of, missing_from):
    """Missing episodes for children of `pool` (each not before its `earliest` instant)."""
    picked = draw(rng, calibrated_probability(score, share))
    hit, hit_from = pool[picked], earliest[picked]
    counts = 1 + np.minimum(rng.poisson(cfg["episodes_mean"] - 1, len(hit)), 20)
    child = np.repeat(hit, counts)
    begin = _instants(rng, np.repeat(hit_from, counts), as_of)
    hours = np.exp(rng.normal(np.log(9), 1.3, len(child)))
    end = _close(begin + (hours * 60).astype(np.int64) * MINUTES, as_of)
    away = rng.random(len(child)) < cfg["away_share"]
    offered = ~np.isnat(end) & (rng.random(len(child)) < cfg["rhi_offered"])
    accepted = offered & (rng.random(len(child)) < cfg["rhi_accepted"])
    declined = np.where(offered & ~accepted, choice(rng, DECLINED, len(child)), None)
    rhi_date = np.where(accepted, (end + rng.integers(0, 7, len(child)) * DAYS)
                        .astype("datetime64[D]"), np.datetime64("NaT", "D"))
    rhi_date = np.where(rhi_date <= as_of, rhi_date, np.datetime64("NaT", "D"))
    return _frame("MISSING", child, begin, end_at=end,
                  missing_type=np.where(away, "AWAY", "MISSING").astype(object),
                  missing_from=missing_from,
                  rhi_offered=np.where(np.isnat(end), None, offered).astype(object),
                  rhi_accepted=np.where(offered, accepted, None).astype(object),
                  rhi_declined_reason=declined, rhi_date=rhi_date)


def events(rng: np.random.Generator, pop: pd.DataFrame, cfg: dict, as_of: date) -> pd.DataFrame:
    """All events, one row each, with the population row of the child in `child`."""
    end = day(as_of)
    ages = age_on(pop["dob"].to_numpy().astype("datetime64[D]"), end)
    referrals = _referrals(rng, pop, cfg, ages, end)
    frames = [referrals, *_plans(rng, pop, cfg, referrals, end)]
    lac, lac_start, lac_frames = _looked_after(rng, pop, cfg, ages, end)
    frames += lac_frames
    history = (end - HISTORY_DAYS * DAYS).astype("datetime64[m]")
    frames.append(_missing(rng, cfg, lac, np.maximum(lac_start, history),
                           1.5 * pop["cse_v"].to_numpy()[lac], cfg["missing_from_care"], end,
                           "CARE"))
    teens = np.flatnonzero((ages >= 10) & (ages <= 17))
    teens = teens[~np.isin(teens, lac)]
    frames.append(_missing(rng, cfg, teens, np.full(len(teens), history),
                           1.5 * pop["cse_v"].to_numpy()[teens],
                           cfg["missing_from_home"] * len(pop) / max(len(teens), 1), end, "HOME"))
    school_age = np.flatnonzero((ages >= 5) & (ages <= 15))
    cme = school_age[draw(rng, calibrated_probability(
        1.3 * pop["absence_v"].to_numpy()[school_age],
        cfg["cme"]))]
    c_start = _instants(rng, np.full(len(cme), end - HISTORY_DAYS * DAYS), end)
    c_end = _close(c_start + rng.exponential(cfg["cme_mean_days"], len(cme)).astype(np.int64)
                   * DAYS, end)
    frames.append(_frame("CME", cme, c_start, end_at=c_end))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["child", "start_at"], kind="stable").reset_index(drop=True)
