"""Attacks on Joined Up's own encodings, and what each hardening leaves for linkage.

The attacker holds an encoded file and its schema (so knows q, bits, hash counts and the
hardening, but not the secret), its clear `sex` column, and the population's names: the
generator's English forename (by sex) and surname lists with their Zipf weights, and that births
are spread evenly over 2008-2025. Two attacks, on the forename and on the surname filters:

- frequency: identical filters are one encoded value (the hardening adds no noise, so identical
  is exactly "same value and salt"); values are ranked by how many records share them and paired
  rank for rank with the (name, salt) combinations the attacker expects most often (within sex
  for forenames). Every record is guessed.
- pattern mining (after Christen, Schnell et al.): which bit positions are set together
  whenever a q-gram is in the name. Starting from the commonest encoded values named by
  frequency rank, the attack learns each q-gram's positions as the bits (nearly) all values
  holding it share, reads every filter as the name whose learnt bits fit it best, and learns
  again from the readings that fit clearly, so rare names are read from the q-grams of common
  ones; where few enough, each name is given to one encoded value per salt value.

- the frequency attack on each blocking key made of a name code and date parts (the Soundex of
  the surname, the forename's initial): a key value is paired with a (code, date part)
  combination by rank and the record guessed to have the commonest name with that code.

A guess scores against the record's true name; "chance" is what the same guesses score against
the names shuffled within sex (guessing the commonest names for everyone scores a few per cent
with no encoding at all), and "re-identified" is the difference: what the encodings gave away.

Linkability: the forename filter Dice coefficient of the same child at two agencies (same value;
one keying slip; day and month of birth swapped; a day of birth keyed one off) against two
different children (any; namesakes), for the linkage model's thresholds. Figures are what this
run measured; nothing is asserted.

    .venv/bin/python benchmarks/encoding_attack.py --records 100000
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from sources.encoding.bloom import dice, qgrams
from sources.encoding.encode import TRANSFORMS, encode_records
from sources.encoding.schema import EncodingSchema
from sources.synth.names import first_names, surnames, typo

SECRET = b"benchmark secret, not a real one: 0123456789"
FIRST, LAST = date(2008, 1, 1), date(2025, 12, 31)
NAMES = ["first_name", "last_name"]
BY_YEAR = {"from": ["dob:year"], "fields": NAMES}
UNSALTED = {"balance": True, "permute": True, "xor_fold": False, "salt": None}
# the blocking keys before the names were salted: the surname's Soundex with only the year
YEAR_KEYS = {"surname_sound_birth_year": ["last_name:soundex", "dob:year"],
             "forename_initial_dob": ["first_name:initial", "dob:value"]}
HARDENINGS = {   # label -> (hardening, blocking keys); None: the schema's own (encoding.yaml)
    "none": ({"balance": False, "permute": False, "xor_fold": False, "salt": None}, YEAR_KEYS),
    "balanced, permuted": (UNSALTED, YEAR_KEYS),
    "balanced, permuted, names salted by birth year": ({**UNSALTED, "salt": BY_YEAR},
                                                       YEAR_KEYS),
    "default (names salted by date of birth)": (None, None),
}
ANCHORS = 25               # the pattern attack first learns from this many commonest values
HELD = 0.9                 # a q-gram's bit: set in this share of the values holding it
FIT, MARGIN = 0.8, 0.03    # a reading: Dice of the filter and the name's learnt bits, and lead
ROUNDS = 8
ASSIGNABLE = 5_000         # values: at most this many are read by a one-to-one assignment
CHUNK = 8_192
PAIRS = 5_000


def population(n: int, rng: np.random.Generator) -> pd.DataFrame:
    sex = rng.choice(np.array(["F", "M"]), size=n)
    first = np.empty(n, dtype=object)
    for s in ("F", "M"):
        chosen = sex == s
        first[chosen] = [v.upper() for v in first_names("english", s).draw(rng,
                                                                           int(chosen.sum()))]
    last = [v.upper() for v in surnames("english").draw(rng, n)]
    days = rng.integers(0, (LAST - FIRST).days + 1, size=n)
    dob = [FIRST + timedelta(days=int(d)) for d in days]
    return pd.DataFrame({"first_name": first, "last_name": last, "dob": dob, "sex": sex})


def date_shares(parts: list[str]) -> dict[str, float]:
    """How often the attacker expects each value of a key made from the date of birth (the
    salt, a blocking key's date part): every birth date equally likely."""
    days = [(FIRST + timedelta(days=d)).strftime("%Y%m%d")
            for d in range((LAST - FIRST).days + 1)]
    values = Counter("|".join(TRANSFORMS[p.partition(":")[2]](v) for p in parts) for v in days)
    return {k: c / len(days) for k, c in values.items()}


def salt_shares(schema: EncodingSchema) -> dict[str, float]:
    salt = schema.hardening.get("salt")
    return date_shares(salt["from"]) if salt else {"": 1.0}


def priors(field: str) -> dict[str, tuple[list[str], np.ndarray]]:
    """Group -> (names, probabilities): forenames by sex, surnames for everyone."""
    if field == "first_name":
        return {s: ([v.upper() for v in first_names("english", s).names],
                    first_names("english", s).p) for s in ("F", "M")}
    lst = surnames("english")
    return {"all": ([v.upper() for v in lst.names], lst.p)}


def bits(filters: list[bytes]) -> np.ndarray:
    packed = np.frombuffer(b"".join(filters), dtype=np.uint8).reshape(len(filters), -1)
    return np.unpackbits(packed, axis=1).astype(bool)


def _by_frequency(counts: np.ndarray, names: list[str], p: np.ndarray,
                  shares: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """The name of each encoded value paired with it by frequency rank: the k-th commonest value
    takes the name of the k-th commonest (name, salt) combination the attacker expects."""
    order = np.lexsort((rng.random(len(counts)), -counts))       # ties in random order
    salt_p = np.array(sorted(shares.values(), reverse=True))
    expected = np.outer(p, salt_p).ravel()
    ranked = np.argsort(-expected, kind="stable")[:len(counts)] // len(salt_p)
    guess = np.empty(len(counts), dtype=object)
    guess[order[:len(ranked)]] = np.array(names, dtype=object)[ranked]
    return guess


def frequency_attack(filters: np.ndarray, names: list[str], p: np.ndarray,
                     shares: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """The name paired with each record's encoded value by frequency rank."""
    _values, inverse, counts = np.unique(filters, return_inverse=True, return_counts=True)
    return _by_frequency(counts, names, p, shares, rng)[inverse]


def _chunks(x: np.ndarray):
    """Row blocks of a bit matrix as float32: 100,000 filters of 2,048 bits would be 800 MB."""
    for start in range(0, len(x), CHUNK):
        yield slice(start, start + CHUNK), x[start:start + CHUNK].astype(np.float32)


def pattern_attack(filters: np.ndarray, names: list[str], p: np.ndarray,
                   shares: dict[str, float], balanced: bool, q: int,
                   rng: np.random.Generator) -> np.ndarray:
    """The name each record's filter is read as from learnt q-gram positions, or None.

    Alternates two steps. Learn: the positions of a q-gram are the bits set in at least
    `HELD` of the (count-weighted) encoded values whose current name holds it. Read: each value
    takes the name whose learnt bits fit its own best (Dice), each name once per salt value
    where that is few enough to assign (Hungarian); only fits of at least `FIT`, leading the
    next by `MARGIN`, are kept and teach the next round. The first round learns from the
    `ANCHORS` commonest values, named by frequency rank."""
    values, inverse, counts = np.unique(filters, return_inverse=True, return_counts=True)
    x = bits(list(values))
    if balanced:   # the complement half: flipped, its columns repeat the filter's own
        x[:, np.average(x, axis=0, weights=counts) > 0.5] ^= True
    ones = x.sum(axis=1).astype(np.float32)
    vocab = sorted({g for n in names for g in qgrams(n, q)})
    at = {g: i for i, g in enumerate(vocab)}
    holds = np.zeros((len(names), len(vocab)), dtype=np.float32)
    for i, n in enumerate(names):
        holds[i, [at[g] for g in set(qgrams(n, q))]] = 1
    index = {n: i for i, n in enumerate(names)}
    name_of = np.array([index[v] for v in _by_frequency(counts, names, p, shares, rng)])
    weight = np.zeros(len(values), dtype=np.float32)
    commonest = np.argsort(-counts, kind="stable")[:ANCHORS]
    weight[commonest] = counts[commonest]
    per_name = len(shares)
    assignable = per_name * len(names) < 4 * len(values) and len(values) <= ASSIGNABLE
    sure = np.zeros(len(values), dtype=bool)
    for _round in range(ROUNDS):
        held = holds[name_of] * weight[:, None]                       # values x q-grams
        seen = np.zeros((len(vocab), x.shape[1]), dtype=np.float32)
        for rows, block in _chunks(x):
            seen += held[rows].T @ block
        mass = held.sum(axis=0)
        learnt = (seen >= HELD * np.maximum(mass[:, None], 1e-9)) & (mass[:, None] >= 3)
        readable = holds @ (mass < 3).astype(np.float32) == 0         # every q-gram learnt
        predicted = ((holds @ learnt.astype(np.float32)) > 0).astype(np.float32)
        fit = np.empty((len(values), len(names)), dtype=np.float32)
        for rows, block in _chunks(x):
            fit[rows] = 2 * (block @ predicted.T) / (ones[rows, None] + predicted.sum(axis=1))
        fit[:, ~readable] = -1
        top = np.argsort(-fit, axis=1)[:, :2]
        chosen = top[:, 0]
        best = fit[np.arange(len(fit)), chosen]
        lead = best - fit[np.arange(len(fit)), top[:, 1]]
        if assignable:
            columns = np.repeat(np.arange(len(names)), per_name)
            rows, picked = linear_sum_assignment(-fit[:, columns])
            chosen = np.full(len(values), -1)
            chosen[rows] = columns[picked]
            best = np.where(chosen >= 0, fit[np.arange(len(fit)), np.maximum(chosen, 0)], -1)
            lead = np.ones(len(values))
        sure = (best >= FIT) & (lead >= MARGIN)
        name_of = np.where(sure, chosen, name_of)
        weight = np.where(sure, counts, 0).astype(np.float32)
        weight[commonest] = np.maximum(weight[commonest], counts[commonest])
    guess = np.where(sure, np.array(names, dtype=object)[name_of], None)
    return guess[inverse]


def score(guess: np.ndarray, truth: np.ndarray, groups: np.ndarray,
          rng: np.random.Generator) -> tuple[float, float]:
    """(share of records guessed right, share right against names shuffled within group)."""
    shuffled = truth.copy()
    for g in np.unique(groups):
        at = np.flatnonzero(groups == g)
        shuffled[at] = truth[rng.permutation(at)]
    return float(np.mean(guess == truth)), float(np.mean(guess == shuffled))


def attacks(encoded: pd.DataFrame, people: pd.DataFrame, schema: EncodingSchema,
            rng: np.random.Generator) -> dict[tuple[str, str], tuple[float, float]]:
    out = {}
    shares = salt_shares(schema)
    for field in NAMES:
        column = encoded[f"{field}_bf"]
        groups = people["sex"].to_numpy() if field == "first_name" else np.full(len(people),
                                                                                "all")
        truth = people[field].to_numpy(dtype=object)
        guesses = {"frequency": np.full(len(people), None, dtype=object),
                   "pattern mining": np.full(len(people), None, dtype=object)}
        for g, (names, p) in priors(field).items():
            at = np.flatnonzero((groups == g) & column.notna().to_numpy())
            filters = np.array(column.iloc[at].tolist(), dtype=object)
            guesses["frequency"][at] = frequency_attack(filters, names, p, shares, rng)
            guesses["pattern mining"][at] = pattern_attack(
                filters, names, p, shares, bool(schema.hardening.get("balance")), schema.q, rng)
        for attack, guess in guesses.items():
            out[(attack, field)] = score(guess, truth, groups, rng)
    return out


def blocking_attacks(encoded: pd.DataFrame, people: pd.DataFrame, schema: EncodingSchema,
                     rng: np.random.Generator) -> dict[tuple[str, str], tuple[float, float]]:
    """The frequency attack on each blocking key made of one name part and date parts: the key
    value is paired with a (name code, date part) combination, and the record guessed to have
    the commonest name (of its sex, for forenames) with that code."""
    out = {}
    for key, parts in schema.blocking.items():
        roles = [p.partition(":")[0] for p in parts]
        named = [p for p in parts if p.partition(":")[0] in NAMES]
        if len(named) != 1 or not set(roles) <= {*NAMES, "dob"}:
            continue
        field, _sep, transform = named[0].partition(":")
        code_p: Counter = Counter()
        commonest: dict[tuple[str, str], tuple[str, float]] = {}
        for group, (names, p) in priors(field).items():
            share = 0.5 if field == "first_name" else 1.0
            for n, pn in zip(names, p, strict=True):
                code = TRANSFORMS[transform](n)
                code_p[code] += pn * share
                if pn > commonest.get((group, code), ("", 0.0))[1]:
                    commonest[(group, code)] = (n, pn)
        codes = sorted(code_p)
        dates = date_shares([p for p in parts if p.startswith("dob:")])
        values = np.array(encoded[f"block_{key}"].tolist(), dtype=object)
        at = np.flatnonzero(encoded[f"block_{key}"].notna().to_numpy())
        codes_guessed = frequency_attack(values[at], codes, np.array([code_p[c] for c in codes]),
                                         dates, rng)
        groups = (people["sex"].to_numpy() if field == "first_name"
                  else np.full(len(people), "all"))
        guess = np.full(len(people), None, dtype=object)
        guess[at] = [commonest.get((g, c), (None, 0))[0]
                     for g, c in zip(groups[at], codes_guessed, strict=True)]
        out[(f"block_{key}", field)] = score(guess, people[field].to_numpy(dtype=object),
                                             groups, rng)
    return out


def linkability(schema: EncodingSchema, people: pd.DataFrame,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Forename filter Dice of PAIRS pairs of each sort."""
    a = people.sample(PAIRS, random_state=1).reset_index(drop=True)

    def encode(frame: pd.DataFrame) -> list[bytes]:
        return encode_records(frame, ["first_name", "dob"], schema, SECRET)["first_name_bf"]

    def moved(d: date, swap: bool) -> date:
        if swap:
            return d.replace(month=d.day, day=d.month) if d.day <= 12 and d.day != d.month else d
        return d + timedelta(days=1)

    base = encode(a)
    sorts = {
        "same child, same value": a,
        "same child, one keying slip": a.assign(first_name=[typo(rng, v) for v in a.first_name]),
        "same child, day and month swapped": a.assign(dob=[moved(d, True) for d in a.dob]),
        "same child, day of birth one off": a.assign(dob=[moved(d, False) for d in a.dob]),
        "different children": a.sample(frac=1, random_state=2).reset_index(drop=True),
        "different children, namesakes": a.assign(
            dob=a.dob.sample(frac=1, random_state=3).to_numpy()),
    }
    return {label: np.array([dice(x, y) for x, y in zip(base, encode(other), strict=True)])
            for label, other in sorts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    people = population(args.records, rng)
    base = EncodingSchema.defaults()
    print(f"{args.records:,} records: {people.first_name.nunique()} distinct forenames, "
          f"{people.last_name.nunique()} surnames; re-identified = right guesses minus chance")
    for label, (hardening, keys) in HARDENINGS.items():
        schema = replace(base, hardening=hardening or base.hardening,
                         blocking=keys or base.blocking)
        started = time.process_time()
        encoded = encode_records(people, [*NAMES, "dob"], schema, SECRET)
        encoding = time.process_time() - started
        print(f"\nhardening: {label}  ({encoding:.1f} s CPU to encode)")
        found = {**attacks(encoded, people, schema, rng),
                 **blocking_attacks(encoded, people, schema, rng)}
        for (attack, field), (right, chance) in found.items():
            gain = 100 * (right - chance)
            print(f"  {attack:32s} attack on {field:10s} re-identified {gain:5.1f}% of records "
                  f"(right {100 * right:5.1f}%, chance {100 * chance:4.1f}%)")
        for what, d in linkability(schema, people, rng).items():
            print(f"  forename Dice, {what:36s} mean {d.mean():.3f}  5th pct "
                  f"{np.percentile(d, 5):.3f}  95th pct {np.percentile(d, 95):.3f}")


if __name__ == "__main__":
    main()
