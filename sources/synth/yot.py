"""Youth Offending Team assessments (AssetPlus-style indicator answers) for the fictional
council's children aged 10-17. Supervision follows `v` (boys more often); the looked-after
answer agrees with social care for the children the council looks after.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from sources.synth.dates import age_on, day
from sources.synth.rng import calibrated_probability, draw

HISTORY_DAYS = 730
NOT_ASSESSED = 0.04         # answers left blank


def events(rng: np.random.Generator, pop: pd.DataFrame, cfg: dict, as_of: date,
           looked_after: np.ndarray) -> pd.DataFrame:
    ages = age_on(pop["dob"].to_numpy().astype("datetime64[D]"), day(as_of))
    eligible = np.flatnonzero((ages >= 10) & (ages <= 17))
    male = pop["sex"].to_numpy()[eligible] == "M"
    share = cfg["supervised"] * len(pop) / max(len(eligible), 1)
    score = 1.5 * pop["v"].to_numpy()[eligible] + 1.2 * male + 0.3 * (ages[eligible] - 14)
    hit = eligible[draw(rng, calibrated_probability(score, share))]
    counts = 1 + rng.binomial(cfg["assessments_max"] - 1, 0.35, len(hit))
    child = np.repeat(hit, counts)
    when = day(as_of) - rng.integers(1, HISTORY_DAYS, len(child)) * np.timedelta64(1, "D")
    frame = pd.DataFrame({"child": child, "assessment_date": when})
    cse_v = pop["cse_v"].to_numpy()[child]
    lac = np.isin(child, looked_after)
    for flag, p in cfg["flags"].items():
        answer = draw(rng, calibrated_probability(0.8 * cse_v, p))
        if flag == "looked_after":
            answer = lac | answer
        blank = rng.random(len(child)) < NOT_ASSESSED
        frame[flag] = pd.array(np.where(blank, None, answer), dtype="boolean")
    return frame.sort_values(["child", "assessment_date"], kind="stable").reset_index(drop=True)
