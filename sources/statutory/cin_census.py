"""The CIN census XML return (schemas 2017 to 2026), streamed child by child into event rows.

The census carries no names: children are identified by LAchildID, UPN, former UPN, date of
birth and sex, and linkage joins them on those. Years differ in element names (GenderCurrent
became Sex in the 2024-25 return) and in the blocks a child may hold; both are in
specs/cin_census.yaml, so a new year is an edit there. A year outside the spec is refused rather
than read by a neighbouring year's rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element

from sources.errors import ExtractError
from sources.readers import RawExtract
from sources.statutory.flat import FlatRows
from sources.statutory.specs import spec
from sources.statutory.xml_stream import child_text, local, stream

FORMAT = "cin_census"
MAP_NAME = "cin_census"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
EVENT_COLUMNS = ["CINEventRef", "CINEventType", "StartDate", "EndDate", "Factors",
                 "CPPFollowed", "CategoryOfAbuse", "InitialCategoryOfAbuse", "Disability"]


def columns() -> list[str]:
    s = spec(FORMAT)
    return [*EVENT_COLUMNS, *s["child"]["fields"], *s["episode"]["fields"]]


@dataclass
class CinHeader:
    """What the file says about itself, for the ledger (no personal data)."""

    fields: dict[str, str] = field(default_factory=dict)
    year: int | None = None
    year_from: str = ""          # header | elements

    def record(self) -> dict:
        return {"format": FORMAT, **self.fields, "schema_year": self.year,
                "schema_year_from": self.year_from}


class CinCensusSource:
    """A CIN census file, read like the other sources (peek, then read) under its own map."""

    map_name = MAP_NAME

    def __init__(self, path: Path, file_name: str | None = None):
        self.path = path
        self.file_name = file_name or path.name
        self.header = CinHeader()

    def peek(self) -> list[list[str]]:
        """The flat layout's headings, once the header and the first child say which schema
        year the file is (so a wrong year is refused at receipt)."""
        if next(self._children(), None) is None:
            raise self._no_children()
        self._settle_year(set())
        return [columns()]

    def read(self, header_row: int = 1) -> RawExtract:
        rows = FlatRows(columns())
        seen: set[str] = set()
        for found in self._children():
            # rows name their place from the child on (Child[12]/CINdetails[1]/...)
            _child_rows(found.element, found.path, rows, seen)
        self._settle_year(seen)
        if not len(rows):
            raise self._no_children()
        return rows.extract()

    def _no_children(self) -> ExtractError:
        return ExtractError(self.file_name, "the CIN census holds no children with a "
                            "referral (no Message/Children/Child/CINdetails)",
                            "Ask the supplier to export the full return; an empty delivery is "
                            "not loaded, so it cannot replace the previous one.")

    def _children(self):
        s = spec(FORMAT)
        wanted = {s["header"]["element"], s["child"]["element"]}
        for found in stream(self.path, self.file_name, wanted):
            if local(found.element.tag) == s["header"]["element"]:
                self._read_header(found.element)
            else:
                yield found

    def _read_header(self, element: Element) -> None:
        s = spec(FORMAT)
        values = {k: child_text(element, p) for k, p in s["header"]["fields"].items()}
        self.header.fields = {k: v for k, v in values.items() if v is not None}
        collection = values.get("collection")
        if collection is not None and collection.upper() != s["collection"]:
            raise ExtractError(self.file_name, f"Header/CollectionDetails/Collection says "
                               f"'{collection}', not '{s['collection']}': this is not a CIN "
                               "census return", "Check that the right file was sent.")
        year = values.get("year")
        if year is not None:
            self.header.year = _year(year, self.file_name)
            self.header.year_from = "header"

    def _settle_year(self, seen: set[str]) -> None:
        if self.header.year is None:
            introduced = spec(FORMAT)["introduced"]
            dated = [introduced[e] for e in seen if e in introduced]
            self.header.year = max(dated, default=spec(FORMAT)["years"]["first"])
            self.header.year_from = "elements"


def _year(text: str, file_name: str) -> int:
    years = spec(FORMAT)["years"]
    if not text.isdigit() or not years["first"] <= int(text) <= years["last"]:
        raise ExtractError(
            file_name, f"Header/CollectionDetails/Year is '{text}', a schema year Joined Up "
            f"does not know (it reads the CIN census of {years['first']} to {years['last']}), "
            "so the file was not read",
            "Check the collection year with the supplier; a new year's schema is added to "
            "sources/statutory/specs/cin_census.yaml.")
    return int(text)


class _Child:
    """One child's elements indexed as they are first asked for: under each element asked
    about, every path to a descendant (its first occurrence) and each name's elements. A
    census child is read through a few dozen paths, and walking the element for each was most
    of the reader's cost."""

    def __init__(self):
        self.index: dict[int, dict[str, list[Element]]] = {}
        self.paths: dict[int, dict[str, Element]] = {}

    def kids(self, element: Element, name: str) -> list[Element]:
        found = self.index.get(id(element))
        if found is None:
            found = {}
            for node in element:
                tag = node.tag
                found.setdefault(tag if tag[0] != "{" else local(tag), []).append(node)
            self.index[id(element)] = found
        return found.get(name, [])

    def node(self, element: Element, path: str) -> Element | None:
        found = self.paths.get(id(element))
        if found is None:
            found = self.paths[id(element)] = {}
            _walk(element, "", found)
        return found.get(path)

    def text(self, element: Element, path: str) -> str | None:
        node = self.node(element, path)
        if node is None or node.text is None:
            return None
        return node.text.strip() or None

    def first(self, element: Element, paths: list[str]) -> str | None:
        for path in paths:
            value = self.text(element, path)
            if value is not None:
                return value
        return None

    def codes(self, element: Element, list_path: str, item: str) -> list[str]:
        holder = self.node(element, list_path)
        if holder is None:
            return []
        return [t for c in self.kids(holder, item) if c.text and (t := c.text.strip())]


def _walk(element: Element, prefix: str, found: dict[str, Element]) -> None:
    for node in element:
        tag = node.tag
        path = prefix + (tag if tag[0] != "{" else local(tag))
        if path not in found:
            found[path] = node
        if len(node):
            _walk(node, path + "/", found)


def _date(text: str | None) -> str | None:
    """An xs:date may carry a time zone ('2025-04-01Z'); the day is what the census means."""
    if text is not None and len(text) > 10 and ISO_DATE.match(text):
        return text[:10]
    return text


def _disability(codes: list[str], none: str) -> str | None:
    """One code for the person's disability column: the first condition listed, or NONE."""
    conditions = [c for c in codes if c.upper() != none]
    if conditions:
        return conditions[0]
    return none if codes else None


def _used(tree: _Child, child: Element, seen: set[str]) -> None:
    """The dating elements the child uses (specs: `introduced`), at the places they occur."""
    s = spec(FORMAT)
    if tree.node(child, "ChildIdentifiers/Sex") is not None:
        seen.add("Sex")
    for episode in tree.kids(child, s["episode"]["element"]):
        if tree.kids(episode, "PreProceedingsandFGDM"):
            seen.add("PreProceedingsandFGDM")


def _child_rows(child: Element, where: str, rows: FlatRows, seen: set[str]) -> None:
    s = spec(FORMAT)
    tree = _Child()
    _used(tree, child, seen)
    person = {name: tree.first(child, paths) for name, paths in s["child"]["fields"].items()}
    for name in ("PersonBirthDate", "ExpectedPersonBirthDate", "PersonDeathDate"):
        person[name] = _date(person[name])
    dis = s["child"]["disabilities"]
    person["Disability"] = _disability(tree.codes(child, dis["list"], dis["item"]), dis["none"])
    episode_spec = s["episode"]
    for number, episode in enumerate(tree.kids(child, episode_spec["element"]), start=1):
        base = {**person,
                **{n: tree.first(episode, p) for n, p in episode_spec["fields"].items()}}
        episode_where = f"{where}/{episode_spec['element']}[{number}]"
        _episode_rows(tree, episode, episode_where, base, rows)


def _episode_rows(tree: _Child, episode: Element, where: str, base: dict,
                  rows: FlatRows) -> None:
    """The episode's event rows, handed on together with what they share (the child and the
    episode), which is coded once for all of them."""
    events = []
    s = spec(FORMAT)["episode"]
    factors_of = {id(a): [c for c in tree.codes(a, s["factors"]["list"], s["factors"]["item"])
                          if c != s["factors"]["none"]]
                  for a in tree.kids(episode, "Assessments")}
    every_factor = sorted({f for codes in factors_of.values() for f in codes})
    has_plan = bool(tree.kids(episode, s["cp_plan"]))
    for event in spec(FORMAT)["events"]:
        if event.get("unless") and _any_text(tree, episode, event["unless"]):
            continue
        blocks = ([(episode, where)] if event["at"] == "." else
                  [(b, f"{where}/{event['at']}[{n}]")
                   for n, b in enumerate(tree.kids(episode, event["at"]), start=1)])
        for block, block_where in blocks:
            start = _date(tree.text(block, event["start"]))
            if start is None and event["type"] != "REFERRAL":
                continue        # an optional date (an ICPC not held) is no event; a referral
                                # without its date is kept, for validation to quarantine
            factors = (factors_of.get(id(block), []) if event.get("factors") == "own"
                       else every_factor if event.get("factors") == "episode" else [])
            values = {"CINEventRef": f"{block_where}#{event['type']}",
                      "CINEventType": event["type"], "StartDate": start,
                      "EndDate": _date(tree.text(block, event["end"])) if event.get("end")
                      else None,
                      "Factors": ",".join(factors) or None,
                      "CPPFollowed": ("true" if has_plan else "false")
                      if event.get("cp_followed") else None}
            for column, path in (event.get("fields") or {}).items():
                values[column] = tree.text(block, path)
            events.append(values)
    rows.add_many(base, events)


def _any_text(tree: _Child, episode: Element, path: str) -> bool:
    block, _, leaf = path.partition("/")
    return any(tree.text(b, leaf) for b in tree.kids(episode, block))
