"""Keyed Bloom filters of q-grams, with the hardening the schema asks for.

The positions of each (field, salt, q-gram) and the filter of each distinct (value, salt) are made
once: unsalted fields repeat (a town has a few thousand postcodes among a hundred thousand
children), and children born on one day share their salted q-grams' positions.
"""

from __future__ import annotations

import hmac

import numpy as np

from sources.encoding.schema import EncodingSchema, derive

SEPARATOR = "\x1f"
POSITIONS_PER_DIGEST = 8           # 32-bit positions in one SHA-256 digest


def qgrams(value: str, q: int) -> list[str]:
    """The value's q-grams, padded so its first and last letters count as often as the rest."""
    pad = "_" * (q - 1)
    text = f"{pad}{value}{pad}"
    return [text[i:i + q] for i in range(len(text) - q + 1)]


class FilterMaker:
    """Bloom filters of one schema under one secret."""

    def __init__(self, schema: EncodingSchema, secret: bytes) -> None:
        self.schema = schema
        self._key = derive(secret, "bloom")
        width = schema.bits * (2 if schema.hardening.get("balance") else 1)
        seed = int.from_bytes(derive(secret, "permutation")[:16], "big")
        self._permutation = (np.random.Generator(np.random.PCG64(seed)).permutation(width)
                             if schema.hardening.get("permute") else None)
        self._positions: dict[tuple[str, str, str], np.ndarray] = {}
        self._filters: dict[tuple[str, str, str], bytes] = {}

    def positions(self, role: str, gram: str, salt: str = "") -> np.ndarray:
        """`hashes` bit positions read from keyed HMACs of the q-gram (as many as it takes, each
        with its own counter): independent positions, where double hashing's arithmetic can be
        undone, and each one a value no one without the secret can compute."""
        key = (role, salt, gram)
        found = self._positions.get(key)
        if found is None:
            message = SEPARATOR.join(key).encode("utf-8")
            wanted = self.schema.bloom[role]["hashes"]
            digests = b"".join(hmac.digest(self._key, bytes([block]) + message, "sha256")
                               for block in range(-(-wanted // POSITIONS_PER_DIGEST)))
            found = (np.frombuffer(digests, dtype=">u4")[:wanted] % self.schema.bits)
            self._positions[key] = found
        return found

    def encode(self, role: str, value: str, salt: str = "") -> bytes:
        """The hardened filter of one value, packed into bytes."""
        key = (role, salt, value)
        found = self._filters.get(key)
        if found is None:
            bits = np.zeros(self.schema.bits, dtype=bool)
            for gram in qgrams(value, self.schema.q):
                bits[self.positions(role, gram, salt)] = True
            found = np.packbits(self._harden(bits)).tobytes()
            self._filters[key] = found
        return found

    def _harden(self, bits: np.ndarray) -> np.ndarray:
        hardening = self.schema.hardening
        if hardening.get("balance"):
            bits = np.concatenate([bits, ~bits])
        if self._permutation is not None:
            bits = bits[self._permutation]
        if hardening.get("xor_fold"):
            half = len(bits) // 2
            bits = bits[:half] ^ bits[half:]
        return bits


def dice(a: bytes, b: bytes) -> float:
    """The Dice coefficient of two packed filters: 2 |a and b| / (|a| + |b|)."""
    x = np.unpackbits(np.frombuffer(a, dtype=np.uint8))
    y = np.unpackbits(np.frombuffer(b, dtype=np.uint8))
    total = int(x.sum()) + int(y.sum())
    return 2.0 * int((x & y).sum()) / total if total else 0.0
