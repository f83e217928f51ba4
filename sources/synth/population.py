"""The fictional council's children: families, dates of birth, twins, names, addresses, moves.

Families (1-5 children) share a surname (mostly), an address and a postcode. Twins and triplets
share all of that and the date of birth, and often have first names with the same initial:
they are the pairs record linkage must *not* merge. Every child also carries latent scores
(`v` general vulnerability, `cse_v` exploitation risk, `absence_v`) that the agency modules use
so that involvement with different agencies is correlated, within families too.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from sources.synth import names as nm
from sources.synth.config import load
from sources.synth.dates import day
from sources.synth.identifiers import nhs_numbers, postcode_units
from sources.synth.rng import choice, stream

FAMILY_SIZES = {1: 0.42, 2: 0.38, 3: 0.14, 4: 0.045, 5: 0.015}
AGE_MAX = 18.25            # a few who turned 18 in the last three months
YOUNGEST_BETA = 0.75      # U-shaped for sibling groups, so ages spread evenly over 0-18
MIN_GAP_YEARS = 0.85
MEAN_EXTRA_GAP_YEARS = 1.6
TWIN_SHARE_OF_SIBLING_FAMILIES = 0.04
TRIPLET_SHARE_OF_LARGE_FAMILIES = 0.008
SAME_SEX_TWINS = 0.65
TWIN_SAME_INITIAL = 0.6
MIDDLE_NAME = 0.62
HYPHENATED_FAMILIES = 0.045
HALF_SIBLING_SURNAME = 0.08
SURNAME_CHANGE_FAMILIES = 0.04
MOVED_FAMILIES = 0.12
MALE = 0.512
FAMILY_LATENT_WEIGHT = 0.55
CSE_LATENT_WEIGHT = 0.6
ABSENCE_LATENT_WEIGHT = 0.45


def _family_sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    draws = choice(rng, FAMILY_SIZES, n // 1 + 10).astype(int)
    total = np.cumsum(draws)
    k = int(np.searchsorted(total, n)) + 1
    sizes = draws[:k].copy()
    sizes[-1] -= int(total[k - 1] - n)
    return sizes[sizes > 0]


def _mix(rng: np.random.Generator, a: np.ndarray, weight: float) -> np.ndarray:
    return weight * a + np.sqrt(1 - weight**2) * rng.standard_normal(a.shape[0])


def build(n: int, seed: int, as_of: date) -> pd.DataFrame:
    if n < 1:
        raise ValueError("children must be at least 1")
    rng = stream(seed, "population")
    eth_cfg = load("ethnicity")
    places = load("places")

    sizes = _family_sizes(rng, n)
    n_fam = len(sizes)
    fam = np.repeat(np.arange(n_fam), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pos = np.arange(n) - starts[fam]

    # --- family attributes ------------------------------------------------------------------
    groups = eth_cfg["groups"]
    eth_fam = choice(rng, {k: v["share"] for k, v in groups.items()}, n_fam)
    first_origin_fam = np.empty(n_fam, dtype=object)
    surname_origin_fam = np.empty(n_fam, dtype=object)
    for code in groups:
        idx = np.flatnonzero(eth_fam == code)
        if idx.size == 0:
            continue
        combos = groups[code]["names"]
        pick = rng.choice(len(combos), idx.size, p=np.array([c[2] for c in combos]) /
                          sum(c[2] for c in combos))
        first_origin_fam[idx] = np.array([c[0] for c in combos], dtype=object)[pick]
        surname_origin_fam[idx] = np.array([c[1] for c in combos], dtype=object)[pick]

    twins_fam = (sizes >= 2) & (rng.random(n_fam) < TWIN_SHARE_OF_SIBLING_FAMILIES)
    triplets_fam = (sizes >= 3) & (rng.random(n_fam) < TRIPLET_SHARE_OF_LARGE_FAMILIES)

    # --- ages: youngest age plus gaps between siblings (zero for twins and triplets) ---------
    gaps = MIN_GAP_YEARS + rng.exponential(MEAN_EXTRA_GAP_YEARS, n)
    gaps[pos == 0] = 0.0
    gaps[(pos == 1) & twins_fam[fam]] = 0.0
    gaps[(pos <= 2) & triplets_fam[fam]] = 0.0
    span = np.bincount(fam, weights=gaps, minlength=n_fam)
    scale = np.where(span > AGE_MAX - 0.1, (AGE_MAX - 0.1) / np.maximum(span, 1e-9), 1.0)
    gaps = gaps * scale[fam]
    span = span * scale
    spread = np.where(sizes > 1, rng.beta(YOUNGEST_BETA, YOUNGEST_BETA, n_fam), rng.random(n_fam))
    youngest = spread * (AGE_MAX - span)
    offset = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[starts] - 0, sizes) + 0
    age = youngest[fam] + offset
    dob = day(as_of) - np.floor(age * 365.25).astype(np.int64).astype("timedelta64[D]") - 1

    multiple = ((pos <= 1) & twins_fam[fam]) | ((pos <= 2) & triplets_fam[fam])
    twin_group = np.where(multiple, fam, -1)

    # --- sex ---------------------------------------------------------------------------------
    sex = np.where(rng.random(n) < MALE, "M", "F").astype(object)
    co_twin = multiple & (pos >= 1)
    same = rng.random(n) < SAME_SEX_TWINS
    first_of_set = starts[fam]
    sex[co_twin & same] = sex[first_of_set[co_twin & same]]

    # --- first and middle names ---------------------------------------------------------------
    first_origin = first_origin_fam[fam].copy()
    anglicise = (first_origin != "english") & (rng.random(n) < eth_cfg["anglicised_first_name"])
    first_origin[anglicise] = "english"
    first = np.empty(n, dtype=object)
    middle = np.full(n, None, dtype=object)
    has_middle = rng.random(n) < MIDDLE_NAME
    for origin in np.unique(first_origin):
        for s in ("F", "M"):
            idx = np.flatnonzero((first_origin == origin) & (sex == s))
            if idx.size:
                lst = nm.first_names(origin, s)
                first[idx] = lst.draw(rng, idx.size)
                mids = idx[has_middle[idx]]
                middle[mids] = lst.draw(rng, mids.size)
    middle[middle == first] = None
    _twin_names(rng, first, first_origin, sex, np.flatnonzero(co_twin), first_of_set)
    _distinct_sibling_names(rng, first, fam, first_origin, sex)

    # --- surnames ----------------------------------------------------------------------------
    surname_fam = np.empty(n_fam, dtype=object)
    for origin in np.unique(surname_origin_fam):
        idx = np.flatnonzero(surname_origin_fam == origin)
        surname_fam[idx] = nm.surnames(origin).draw(rng, idx.size)
    hyphen_fam = rng.random(n_fam) < HYPHENATED_FAMILIES
    second = nm.surnames("english").draw(rng, n_fam)
    ok = hyphen_fam & (second != surname_fam) & ~pd.Series(surname_fam).str.contains(
        "-| ").to_numpy()
    surname_fam[ok] = surname_fam[ok] + "-" + second[ok]
    hyphen_fam = ok
    surname = surname_fam[fam].copy()
    half = (pos >= 1) & ~multiple & (sizes[fam] >= 2) & (rng.random(n) < HALF_SIBLING_SURNAME)
    if half.any():
        own = nm.surnames("english").draw(rng, int(half.sum()))
        same_origin = rng.random(int(half.sum())) < 0.5
        hidx = np.flatnonzero(half)
        for i, j in enumerate(hidx):
            if same_origin[i]:
                own[i] = nm.surnames(surname_origin_fam[fam[j]]).draw(rng, 1)[0]
        surname[half] = own
    changed_fam = rng.random(n_fam) < SURNAME_CHANGE_FAMILIES
    new_fam = nm.surnames("english").draw(rng, n_fam)
    changed = changed_fam[fam] & (surname != new_fam[fam])
    former = np.full(n, None, dtype=object)
    former[changed] = surname[changed]
    surname[changed] = new_fam[fam][changed]
    polish_girls = (surname_origin_fam[fam] == "polish") & (sex == "F")
    surname[polish_girls] = nm.map_unique(surname[polish_girls], nm.feminine_polish)
    pf = polish_girls & changed
    former[pf] = nm.map_unique(former[pf], nm.feminine_polish)

    # --- addresses ---------------------------------------------------------------------------
    address_fam, postcode_fam, old_address_fam, old_postcode_fam, moved_fam, move_date_fam = (
        _addresses(rng, n_fam, places, as_of))

    # --- latent scores -----------------------------------------------------------------------
    fam_effect = rng.standard_normal(n_fam)
    v = _mix(rng, fam_effect[fam], FAMILY_LATENT_WEIGHT)
    cse_v = _mix(rng, v, CSE_LATENT_WEIGHT)
    absence_v = _mix(rng, v, ABSENCE_LATENT_WEIGHT)

    nhs = nhs_numbers(stream(seed, "nhs"), n)

    frame = pd.DataFrame({
        "child_id": np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), 7)),
        "family": fam,
        "family_id": np.char.add("F", np.char.zfill((fam + 1).astype(str), 7)),
        "family_size": sizes[fam],
        "sex": sex,
        "dob": dob,
        "twin_group": twin_group,
        "ethnicity": eth_fam[fam],
        "first_origin": first_origin,
        "surname_origin": surname_origin_fam[fam],
        "first_name": first,
        "middle_name": middle,
        "surname": surname,
        "former_surname": former,
        "hyphenated": hyphen_fam[fam] & ~half,
        "postcode": postcode_fam[fam],
        "address": address_fam[fam],
        "moved": moved_fam[fam],
        "old_postcode": old_postcode_fam[fam],
        "old_address": old_address_fam[fam],
        "move_date": move_date_fam[fam],
        "nhs_number": nhs,
        "v": v,
        "cse_v": cse_v,
        "absence_v": absence_v,
    })
    frame["twin_group_id"] = np.where(twin_group >= 0, frame["family_id"].str.replace(
        "F", "T", n=1), "")
    return frame


def _twin_names(rng, first, origin, sex, co_twins: np.ndarray, first_of_set: np.ndarray) -> None:
    """Give second and third members of a multiple birth a different name, often same initial."""
    for j in co_twins:
        anchor = first_of_set[j]
        taken = {first[k] for k in range(anchor, j)}
        lst = nm.first_names(origin[j], sex[j]).names
        pool = None
        if rng.random() < TWIN_SAME_INITIAL:
            pool = nm.initial_index(origin[j], sex[j]).get(nm.strip_accents(first[anchor])[0])
        if pool is None or len(pool) < 2:
            pool = np.arange(len(lst))
        for _ in range(20):
            candidate = lst[pool[rng.integers(0, len(pool))]]
            if candidate not in taken:
                first[j] = candidate
                break
        else:
            first[j] = next(x for x in lst if x not in taken)


def _distinct_sibling_names(rng, first, fam, origin, sex) -> None:
    """Parents do not give two of their children the same first name (or forms of one name)."""
    spellings, nicknames = nm.variant_table()

    def forms(name: str) -> set[str]:
        return {name, *spellings.get(name, ()), *nicknames.get(name, ())}

    taken_by_family: dict[int, set[str]] = {}
    for j in np.flatnonzero(pd.Series(fam).duplicated(keep=False).to_numpy()):
        taken = taken_by_family.setdefault(int(fam[j]), set())
        if forms(first[j]) & taken:
            names = nm.first_names(origin[j], sex[j])
            for _ in range(50):
                candidate = names.draw(rng, 1)[0]
                if not forms(candidate) & taken:
                    first[j] = candidate
                    break
        taken.update(forms(first[j]))


def _addresses(rng, n_fam: int, places: dict, as_of: date):
    n_units = max(30, n_fam // places["families_per_postcode"])
    units = postcode_units(rng, n_units, places["postcode_area"], places["districts"],
                           places["inward_letters"])
    street_base = np.array(places["street_names"], dtype=object)
    streets = (street_base[rng.integers(0, len(street_base), n_units)] + " "
               + choice(rng, places["street_suffixes"], n_units))
    buildings = np.array(places["building_names"], dtype=object)[
        rng.integers(0, len(places["building_names"]), n_units)]
    flat_unit = rng.random(n_units) < places["flat_share"]

    unit = rng.integers(0, n_units, n_fam)
    order = np.argsort(unit, kind="stable")
    rank = np.empty(n_fam, dtype=np.int64)
    counts = np.bincount(unit, minlength=n_units)
    unit_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank[order] = np.arange(n_fam) - unit_start[unit[order]]
    odd = rng.integers(0, 2, n_units)
    number = (1 + 2 * rank + odd[unit]).astype(str).astype(object)
    address = np.where(flat_unit[unit], "Flat " + (rank + 1).astype(str).astype(object) + " "
                       + buildings[unit], number + " " + streets[unit])
    postcode = units[unit]

    moved = rng.random(n_fam) < MOVED_FAMILIES
    old_unit = (unit + rng.integers(1, n_units, n_fam)) % n_units
    old_number = rng.integers(1, 160, n_fam).astype(str).astype(object)
    old_address = np.where(flat_unit[old_unit], "Flat " + old_number + " " + buildings[old_unit],
                           old_number + " " + streets[old_unit])
    move_days = rng.integers(14, 730, n_fam).astype("timedelta64[D]")
    move_date = np.where(moved, day(as_of) - move_days, np.datetime64("NaT", "D"))
    old_address = np.where(moved, old_address, None)
    old_postcode = np.where(moved, units[old_unit], None)
    return address, postcode, old_address, old_postcode, moved, move_date
