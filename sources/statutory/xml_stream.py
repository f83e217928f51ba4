"""Streaming a statutory XML return safely, one record element at a time.

A CIN census of 200,000 children is hundreds of megabytes: parsed whole it would not fit the
memory a nightly run has, so records are handed out one by one and cleared once read. The file
comes from outside, and no return declares a DOCTYPE, so any DOCTYPE is refused before the file
is parsed: without one no entity can be declared, which rules out entity expansion (billion
laughs) and external entities that would make the reader open a local file or a URL. The
prolog is read first by expat with a handler that stops at a DOCTYPE (nothing it names is
fetched) or at the root element; the records are then streamed by ElementTree's C parser, three
times faster than defusedxml's Python one, which a file already known to hold no DOCTYPE does not
need (an undeclared entity in it is a parse error). defusedxml still tells where a broken file
broke.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree
from xml.etree.ElementTree import Element, ParseError
from xml.parsers import expat

import defusedxml
import defusedxml.ElementTree as SafeET

from sources.errors import ExtractError

READ_AGAIN = "Ask the supplier to export the return again and check that the whole file arrived."


def local(tag: str) -> str:
    """The element name without its namespace (suppliers' tools differ on declaring one)."""
    return tag.rsplit("}", 1)[-1]


@dataclass
class Found:
    """A complete element the caller asked for, with its place for messages and row ids."""

    element: Element
    path: str           # e.g. Child[1204]


def child_text(element: Element, path: str) -> str | None:
    """The stripped text at `path` (names separated by '/', namespaces ignored), or None."""
    node = element
    for name in path.split("/"):
        node = next((c for c in node if local(c.tag) == name), None)
        if node is None:
            return None
    text = (node.text or "").strip()
    return text or None


def stream(path: Path, file_name: str, wanted: set[str]) -> Iterator[Found]:
    """Every complete element named in `wanted` (names a return uses at one place only), in
    file order, each cleared once the caller has moved on; `Found.path` is `<name>[<n>]`.

    Only end events are asked for, which halves the parser's work; where a broken file broke is
    found by a second pass over it, only when it has (`_broken_at`)."""
    counts = dict.fromkeys(wanted, 0)
    _refuse_doctype(path, file_name)
    try:
        for _, element in ElementTree.iterparse(path, events=("end",)):
            tag = element.tag
            name = tag if tag[0] != "{" else local(tag)
            if name in counts:
                counts[name] += 1
                yield Found(element, f"{name}[{counts[name]}]")
                element.clear()
    except ParseError as exc:
        line, column = exc.position
        inside = _broken_at(path)
        raise ExtractError(
            file_name,
            f"the XML is not well formed at line {line}, column {column}"
            + (f" (inside {_plain(inside)})" if inside else "")
            + f": {_reason(exc)}", READ_AGAIN) from None


class _Doctype(Exception):
    pass


class _Root(Exception):
    pass


PROLOG_CHUNK = 1 << 16


def _refuse_doctype(path: Path, file_name: str) -> None:
    """Refuse a file whose prolog declares a DOCTYPE (or, which needs one, an entity), reading
    only up to its root element; a file broken before it is left for the parse to report."""
    parser = expat.ParserCreate()

    def doctype(*_args):
        raise _Doctype

    def root(*_args):
        raise _Root

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = root
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(PROLOG_CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except _Root:
        return
    except _Doctype:
        raise ExtractError(
            file_name, "the XML declares a DOCTYPE, which no CIN census or SSDA903 return has; "
            "it was refused unread because a DOCTYPE can expand entities or name other files "
            "for the reader to open",
            "Ask the supplier to export the return again without a DOCTYPE.") from None
    except expat.ExpatError:
        return


def _broken_at(path: Path) -> str:
    """The path of elements open where the file stops being well formed (Child[3] and the
    elements inside it), so a person can find the place."""
    stack: list[tuple[str, dict[str, int]]] = [("", {})]
    try:
        for event, element in SafeET.iterparse(path, events=("start", "end"), forbid_dtd=True,
                                               forbid_entities=True, forbid_external=True):
            if event == "start":
                name = local(element.tag)
                counts = stack[-1][1]
                counts[name] = counts.get(name, 0) + 1
                stack.append((f"{name}[{counts[name]}]", {}))
            else:
                stack.pop()
                element.clear()
    except ParseError:
        pass
    return "/".join(step for step, _ in stack[1:])


def _plain(where: str) -> str:
    """Message[1]/Children[1]/Child[3]: the root has no index (there is one)."""
    root, _, rest = where.partition("/")
    return "/".join(filter(None, [root.partition("[")[0], rest]))


def _reason(exc: ParseError) -> str:
    text = str(exc).split(":")[0]
    if text in ("no element found", "unclosed token"):    # what expat says at a cut
        return "the file ends before its elements are closed (truncated)"
    return text


def root_name(path: Path, file_name: str) -> str:
    """The root element's name, read from the start of the file only, so a return can be told
    from another XML file before it is streamed."""
    try:
        for _, element in SafeET.iterparse(path, events=("start",), forbid_dtd=True,
                                           forbid_entities=True, forbid_external=True):
            return local(element.tag)
    except ParseError as exc:
        line, column = exc.position
        raise ExtractError(file_name, f"the XML is not well formed at line {line}, column "
                           f"{column}: {_reason(exc)}", READ_AGAIN) from None
    except defusedxml.DefusedXmlException:
        return ""      # refused with its reason when streamed
    return ""
