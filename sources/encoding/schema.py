"""The encoding schema: how a file was encoded, written beside it and checked when it is read.

Two agencies' encodings compare only if they used the same fields, q, bits, hash counts and
hardening, and the same secret. The schema records all of them but the secret, which it proves
instead by a key check (a keyed HMAC of a fixed text): a file encoded under another secret, or
with another schema, is refused with what differs rather than linked into nonsense.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sources.common.yamlfiles import read_yaml

DEFAULTS = Path(__file__).with_name("encoding.yaml")
SCHEMA_SUFFIX = ".schema.json"
KEY_CHECK_TEXT = b"joinedup encoding key check"
MIN_SECRET_BYTES = 16


class EncodingError(ValueError):
    """An encoded file, its schema or the secret cannot be used; the message says what to do."""


@dataclass(frozen=True)
class EncodingSchema:
    version: int
    q: int
    bits: int
    bloom: dict[str, dict[str, int]]
    exact: list[str]
    blocking: dict[str, list[str]]
    hardening: dict[str, Any]
    key_check: str = ""
    id_column: str = ""
    fields: list[str] = field(default_factory=list)      # the roles this file encodes
    records: int = 0

    @classmethod
    def defaults(cls) -> EncodingSchema:
        return cls(**read_yaml(DEFAULTS))

    def comparable(self) -> dict[str, Any]:
        """What two files must share to be compared (not their own id column or size)."""
        return {k: v for k, v in asdict(self).items()
                if k not in ("id_column", "fields", "records")}

    @property
    def filter_bytes(self) -> int:
        """Bytes of one stored filter after hardening."""
        bits = self.bits * (2 if self.hardening.get("balance") else 1)
        if self.hardening.get("xor_fold"):
            bits //= 2
        return (bits + 7) // 8


def schema_path(encoded: Path) -> Path:
    return encoded.with_name(encoded.name + SCHEMA_SUFFIX)


def key_check(secret: bytes) -> str:
    return hmac.new(derive(secret, "check"), KEY_CHECK_TEXT, hashlib.sha256).hexdigest()[:32]


def derive(secret: bytes, purpose: str) -> bytes:
    """One key per use (filters, exact identifiers, blocking, permutation, check), so that no
    output made with one reveals anything about another."""
    return hmac.new(secret, b"joinedup:" + purpose.encode(), hashlib.sha256).digest()


def check_secret(secret: bytes, origin: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise EncodingError(f"the secret from {origin} is shorter than {MIN_SECRET_BYTES} bytes: "
                            "use the partnership's encoding secret (docs/privacy.md)")
    return secret


def write_schema(encoded: Path, schema: EncodingSchema) -> Path:
    path = schema_path(encoded)
    path.write_text(json.dumps(asdict(schema), indent=1, sort_keys=True), encoding="utf-8")
    return path


def _difference(key: str, theirs: Any, ours: Any) -> str:
    """One setting as the file has it and as expected; nested settings by the entries that
    differ, so a message names `hardening.salt` rather than printing two whole tables."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        keys = sorted(k for k in {*theirs, *ours} if theirs.get(k) != ours.get(k))
        return "; ".join(_difference(f"{key}.{k}", theirs.get(k), ours.get(k)) for k in keys)
    return f"{key} is {json.dumps(theirs)} in the file, {json.dumps(ours)} expected"


def read_schema(encoded: Path, secret: bytes | None = None,
                expected: EncodingSchema | None = None) -> EncodingSchema:
    """The schema beside `encoded`, refused if it is missing, of another version or settings
    than `expected`, or made under another secret than `secret`."""
    path = schema_path(encoded)
    if not path.is_file():
        raise EncodingError(f"{encoded.name}: no encoding schema beside it ({path.name}); "
                            "encoded files travel with the schema `joinedup encode` writes")
    try:
        schema = EncodingSchema(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise EncodingError(f"{path.name}: not an encoding schema ({type(exc).__name__}); ask "
                            "the agency to encode the file again") from None
    if expected is not None:
        ours, theirs = expected.comparable(), schema.comparable()
        ours.pop("key_check"), theirs.pop("key_check")
        differ = sorted(k for k in ours if ours[k] != theirs.get(k))
        if differ:
            shown = "; ".join(_difference(k, theirs.get(k), ours[k]) for k in differ)
            raise EncodingError(f"{encoded.name} was encoded with other settings "
                                f"({', '.join(differ)} differ: {shown}): every agency must "
                                "encode with the partnership's schema (sources/encoding/"
                                "encoding.yaml) and the same version of Joined Up")
    if secret is not None and schema.key_check != key_check(secret):
        raise EncodingError(f"{encoded.name} was encoded under another secret than this one: "
                            "records encoded under different secrets never match")
    return schema
