"""File names as people and ledgers see them.

A delivered file's name is whatever bytes the supplier's system wrote: not always UTF-8, and
able to hold a newline, a terminal escape or a right-to-left override. Shown raw, such a name
forges a log line or breaks every writer that encodes text (the Data Docs failed with
`UnicodeEncodeError: surrogates not allowed`). Every name a ledger stores or a message quotes
goes through `shown_name` first, which is printable UTF-8 and says which bytes it escaped.
"""

from __future__ import annotations

import os
import unicodedata

# control characters, invisible formatting (bidi overrides) and line/paragraph separators
ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}


def shown_name(name: str) -> str:
    """`name` with every byte that is not UTF-8 written `\\xNN`, every control or formatting
    character `\\xNN` / `\\uNNNN`, and a backslash doubled, so the result is one printable line
    that names exactly one file."""
    text = os.fsencode(name).decode("utf-8", errors="surrogateescape")
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:                 # a byte that was not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif unicodedata.category(ch) in ESCAPED_CATEGORIES:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def is_shown(name: str) -> bool:
    """Whether `name` is already as `shown_name` writes names (no raw byte, control or
    formatting character; its backslashes taken as escapes)."""
    return all(not 0xDC80 <= ord(ch) <= 0xDCFF and unicodedata.category(ch)
               not in ESCAPED_CATEGORIES for ch in name)
