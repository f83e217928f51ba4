"""Named random streams, so that each part of the generator draws from its own sequence.

One stream per part (population, names, each agency...) keeps the output of one part unchanged
when another part is edited, and avoids Python's salted `hash()`: names are turned into stream
keys with CRC-32, which is the same in every process.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrated_probability(score: np.ndarray, target: float, sample: int = 200_000) -> np.ndarray:
    """Probabilities sigmoid(a + score) whose mean is `target`, solving for the intercept a.

    Calibrating on the population actually drawn keeps prevalences near their targets at any
    size, while the score keeps them correlated through the latent vulnerability. The intercept
    is found on the first `sample` values (the order is already random) to keep 1M runs cheap.
    """
    if score.size == 0:
        return np.zeros(0)
    target = float(np.clip(target, 1e-6, 1 - 1e-6))
    s = score[:sample]
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if sigmoid(mid + s).mean() < target:
            lo = mid
        else:
            hi = mid
    return sigmoid((lo + hi) / 2 + score)


def draw(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    return rng.random(p.shape[0]) < p


def choice(rng: np.random.Generator, weights: dict, size: int) -> np.ndarray:
    """`size` keys of `weights` drawn with those (unnormalised) weights, as an object array."""
    keys = list(weights)
    p = np.array([float(weights[k]) for k in keys])
    idx = rng.choice(len(keys), size=size, p=p / p.sum())
    return np.array(keys, dtype=object)[idx]


def distinct_numbers(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """n different integers in [low, high), in scrambled order, without materialising the range:
    x -> (a*x + b) mod (high - low) is a bijection when a is coprime with the range size."""
    size = high - low
    if n > size:
        raise ValueError(f"cannot draw {n:,} different numbers from a range of {size:,}")
    while True:
        a = int(rng.integers(size // 3, size - 1))
        if np.gcd(a, size) == 1:
            break
    b = int(rng.integers(0, size))
    return low + (a * np.arange(n, dtype=np.int64) + b) % size
