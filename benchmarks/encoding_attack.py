"""A frequency attack on Joined Up's own encodings, by an attacker who knows the population's
names (the generator's name lists and their frequencies) but not the secret.

Records: `--records` children drawn as the generator draws them (English forenames, by sex, with
the generator's Zipf weights; birth years 2008-2025). For each encoding of the forename the
attacker sorts the distinct encodings by how often they occur, sorts the names by how often the
attacker expects them, and pairs them rank for rank (within each Hamming weight, where the
weight varies, since an unbalanced filter's weight follows the name's length). A record is
re-identified when the name its encoding is paired with is its own. Printed: the share of
records re-identified for each hardening. Figures are what this run measured; nothing is
asserted.

    .venv/bin/python benchmarks/encoding_attack.py --records 100000
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import replace

import numpy as np

from sources.encoding.bloom import FilterMaker
from sources.encoding.schema import EncodingSchema
from sources.synth.names import first_names

SECRET = b"benchmark secret, not a real one: 0123456789"
HARDENINGS = {
    "none": {"balance": False, "permute": False, "xor_fold": False, "salt": None},
    "default (balanced, permuted)": None,
    "balanced, permuted, salted by birth year": {"balance": True, "permute": True,
                                                 "xor_fold": False, "salt": "year"},
}


def population(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Counter]:
    """(names, birth years, the attacker's expected count of each name)."""
    sexes = rng.choice(["F", "M"], size=n)
    names = np.empty(n, dtype=object)
    expected: Counter = Counter()
    for sex in ("F", "M"):
        lst = first_names("english", sex)
        chosen = sexes == sex
        names[chosen] = [s.upper() for s in lst.draw(rng, int(chosen.sum()))]
        for name, p in zip(lst.names, lst.p, strict=True):
            expected[name.upper()] += p * chosen.sum()
    years = rng.integers(2008, 2026, size=n).astype(str)
    return names, years, expected


def attack(encodings: list[bytes], names: np.ndarray, expected: Counter) -> float:
    """Share of records whose encoding is paired with their own name by frequency rank;
    `expected` counts (name, salt) as the attacker expects them."""
    weight = {e: int(np.unpackbits(np.frombuffer(e, dtype=np.uint8)).sum())
              for e in set(encodings)}
    # where weights differ, an attacker who has the encoding function's shape (not its key)
    # knows roughly how weight grows with length: pair within each weight's names by length
    by_weight: dict[int, Counter] = {}
    for e, count in Counter(encodings).items():
        by_weight.setdefault(weight[e], Counter())[e] = count
    weights = sorted(by_weight)
    lengths = sorted({len(n) for n, _salt in expected})
    guess: dict[bytes, str] = {}
    if len(weights) == 1:
        groups = [(by_weight[weights[0]], expected)]
    else:
        # the k-th smallest weight goes with the k-th shortest names (a rough but real lever)
        per_length = {ln: Counter({k: c for k, c in expected.items() if len(k[0]) == ln})
                      for ln in lengths}
        cut = np.array_split(np.array(weights), len(lengths))
        groups = []
        for ln, ws in zip(lengths, cut, strict=True):
            merged = Counter()
            for w in ws:
                merged.update(by_weight[int(w)])
            groups.append((merged, per_length[ln]))
    for observed, candidates in groups:
        ranked_names = [n for (n, _salt), _c in candidates.most_common()]
        for (e, _count), name in zip(observed.most_common(), ranked_names, strict=False):
            guess[e] = name
    hits = sum(guess.get(e) == n for e, n in zip(encodings, names, strict=True))
    return hits / len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    names, years, expected = population(args.records, np.random.default_rng(args.seed))
    base = EncodingSchema.defaults()
    print(f"{args.records:,} records, {len(set(names))} distinct forenames; frequency attack on "
          "the forename's Bloom filter")
    for label, hardening in HARDENINGS.items():
        schema = base if hardening is None else replace(base, hardening=hardening)
        maker = FilterMaker(schema, SECRET)
        salted = schema.hardening.get("salt") == "year"
        encodings = [maker.encode("first_name", n, y if salted else "")
                     for n, y in zip(names, years, strict=True)]
        # against salted encodings the attacker, knowing births are spread over the years,
        # ranks (name, year) combinations instead: a guess is right if the name is
        candidates = (Counter({(n, y): c / len(set(years)) for n, c in expected.items()
                               for y in sorted(set(years))}) if salted
                      else Counter({(n, ""): c for n, c in expected.items()}))
        share = attack(encodings, names, candidates)
        print(f"  hardening {label:42s} re-identified {100 * share:5.1f}% of records "
              f"({len(set(encodings)):,} distinct encodings)")


if __name__ == "__main__":
    main()
