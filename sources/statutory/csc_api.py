"""The DfE children's social care API payload (JSON, spec v0.7) into event rows.

The payload is a stream of submissions, not a return: a first full submission, then deltas that
send a changed child's details whole but a changed item as its id and the changed fields only,
and deletions ({la_child_id, mis_child_id, purge: true}) for a child who must leave the data.
A delivery therefore means nothing alone. Its reader folds every earlier delivery of the feed
and then this one, child by child and item by item (matched by their ids), and hands on the
children as they now stand: a delta updates an item, never adds a second copy of it, and a
purged child (or purged item) is simply absent, so it leaves the build made from this delivery
and, since every later delivery folds this one, every later build. The feed uses the newest
delivery only (its ledger header says `folds_earlier`).

Every file is checked whole before anything is read from it: JSON that does not parse, or a
record missing a required field, refuses the delivery naming the file and the JSON path.
"""

from __future__ import annotations

import json
from pathlib import Path

from sources.errors import ExtractError
from sources.readers import RawExtract
from sources.statutory.flat import FlatRows
from sources.statutory.specs import spec

FORMAT = "csc_api"
MAP_NAME = "csc_api"
EVENT_COLUMNS = ["CSCEventRef", "CSCEventType", "StartDate", "EndDate", "Factors",
                 "FactorsAsSent"]
ASK = "Ask the council's data team to produce the payload again from ssd_api_data_staging."


def columns() -> list[str]:
    s = spec(FORMAT)
    fields = [f for e in s["events"] for f in (e.get("fields") or {})]
    return [*EVENT_COLUMNS, *dict.fromkeys(fields), *s["person"]]


class CscApiHeader:
    """What the delivery says about itself, for the ledger (counts, no personal data)."""

    def __init__(self):
        self.fields: dict = {}

    def record(self) -> dict:
        return {"format": FORMAT, "folds_earlier": True, **self.fields}


class CscApiSource:
    """One payload file, read after the feed's `earlier` deliveries (path, delivered name),
    oldest first."""

    map_name = MAP_NAME

    def __init__(self, path: Path, file_name: str | None = None,
                 earlier: list[tuple[Path, str]] | tuple = ()):
        self.path = path
        self.file_name = file_name or path.name
        self.earlier = list(earlier)
        self.header = CscApiHeader()

    def peek(self) -> list[list[str]]:
        self._count(child_records(self.path, self.file_name))
        return [columns()]

    def _count(self, records: list[tuple[dict, str]]) -> None:
        purged = sum(1 for r, _ in records if r.get(spec(FORMAT)["purge"]) is True)
        self.header.fields.update({"children": len(records) - purged, "deletions": purged})

    def read(self, header_row: int = 1) -> RawExtract:
        state: dict[str, dict] = {}
        for path, name in [*self.earlier, (self.path, self.file_name)]:
            records = child_records(path, name)
            for record, _ in records:
                fold(state, record)
        self._count(records)
        self.header.fields["earlier_deliveries"] = len(self.earlier)
        rows = FlatRows(columns())
        for child_id in sorted(state):
            _child_rows(state[child_id], rows)
        if not len(rows):
            raise ExtractError(self.file_name, "after this delivery no child has a social care "
                               "episode (every child is purged or has none)",
                               "Check that the right payload was sent; an empty delivery is "
                               "not loaded, so it cannot replace the previous one.")
        return rows.extract()


def _load(path: Path, file_name: str):
    try:
        with path.open("rb") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise ExtractError(file_name, f"the payload is not valid JSON: {exc.msg} at line "
                           f"{exc.lineno}, column {exc.colno}", ASK) from None
    except UnicodeDecodeError:
        raise ExtractError(file_name, "the payload is not UTF-8 text", ASK) from None


def child_records(path: Path, file_name: str) -> list[tuple[dict, str]]:
    """Every child record of the file with its JSON path, each checked (`check_child`)."""
    s = spec(FORMAT)
    found: list[tuple[dict, str]] = []
    la_codes: set[str] = set()

    def walk(node, where: str) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")
        elif isinstance(node, dict) and s["children"] in node:
            if node.get(s["la_code"]) is not None:
                la_codes.add(str(node[s["la_code"]]))
            walk(node[s["children"]], f"{where}.{s['children']}")
        elif isinstance(node, dict) and s["child_id"] in node:
            found.append((node, where))
        else:
            raise ExtractError(file_name, f"{where} is neither a child record (with "
                               f"{s['child_id']}) nor a document holding {s['children']}",
                               ASK)

    walk(_load(path, file_name), "$")
    if len(la_codes) > 1:
        raise ExtractError(file_name, f"the payload holds documents of {len(la_codes)} local "
                           f"authorities ({s['la_code']}); a feed is one authority's", ASK)
    for record, where in found:
        check_child(record, where, file_name)
    return found


def _missing(file_name: str, where: str, what: str) -> ExtractError:
    return ExtractError(file_name, f"{where} {what}, so nothing of the payload was loaded", ASK)


def check_child(record: dict, where: str, file_name: str) -> None:
    s = spec(FORMAT)
    child_id = record.get(s["child_id"])
    if not isinstance(child_id, str | int) or not str(child_id).strip():
        raise _missing(file_name, f"{where}.{s['child_id']}", "is missing or empty")
    if record.get(s["purge"]) is True:
        return
    for field in s["required"]:
        if record.get(field) in (None, ""):
            raise _missing(file_name, f"{where}.{field}", "is missing (only a deletion, with "
                           f"{s['purge']}: true, may leave it out)")
    if not isinstance(record["child_details"], dict):
        raise _missing(file_name, f"{where}.child_details", "is not an object")
    episodes = s["episodes"]
    for e_where, episode in _items(record, episodes["list"], episodes["id"], where, file_name):
        for name, id_key in s["items"].items():
            for i_where, item in _items(episode, name, id_key, e_where, file_name):
                factors = item.get("factors")
                if factors is not None and not (isinstance(factors, list) and
                                                all(isinstance(f, str) for f in factors)):
                    raise _missing(file_name, f"{i_where}.factors", "is not a list of codes")
        for block in s["blocks"]:
            if episode.get(block) is not None and not isinstance(episode[block], dict):
                raise _missing(file_name, f"{e_where}.{block}", "is not an object")


def _items(holder: dict, name: str, id_key: str, where: str, file_name: str):
    items = holder.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        raise _missing(file_name, f"{where}.{name}", "is not a list")
    out = []
    for i, item in enumerate(items):
        item_where = f"{where}.{name}[{i}]"
        if not isinstance(item, dict):
            raise _missing(file_name, item_where, "is not an object")
        if item.get(id_key) in (None, ""):
            raise _missing(file_name, f"{item_where}.{id_key}", "is missing (items are "
                           "matched across deliveries by it)")
        out.append((item_where, item))
    return out


def _purged(node: dict) -> bool:
    return node.get(spec(FORMAT)["purge"]) is True


def _merge(old: dict, new: dict, lists: dict[str, str]) -> dict:
    """`new` over `old`: fields it sends replace, lists of items merge by id, a purged item or
    block is removed."""
    out = dict(old)
    for key, value in new.items():
        if key in lists and isinstance(value, list):
            out[key] = _merge_items(old.get(key) or [], value, lists[key])
        elif isinstance(value, dict):
            if _purged(value):
                out.pop(key, None)
            else:
                out[key] = {**(old.get(key) or {}), **value}
        else:
            out[key] = value
    return out


def _merge_items(old: list[dict], new: list[dict], id_key: str) -> list[dict]:
    s = spec(FORMAT)
    nested = s["items"] if id_key == s["episodes"]["id"] else {}
    merged = {str(item[id_key]): item for item in old}
    for item in new:
        key = str(item[id_key])
        if _purged(item):
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key, {}), item, nested)
    return list(merged.values())


def fold(state: dict[str, dict], record: dict) -> None:
    """Apply one child record (full, delta or deletion) to the children as they stand."""
    s = spec(FORMAT)
    child_id = str(record[s["child_id"]]).strip()
    if _purged(record):
        state.pop(child_id, None)
        return
    lists = {s["episodes"]["list"]: s["episodes"]["id"]}
    state[child_id] = _merge(state.get(child_id, {}), record, lists)


def _text(value) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _at(record: dict, path: str):
    node = record
    for step in path.split("/"):
        node = node.get(step) if isinstance(node, dict) else None
    return node


def _child_rows(child: dict, rows: FlatRows) -> None:
    s = spec(FORMAT)
    person = {c: _text(_at(child, p)) for c, p in s["person"].items()}
    child_id = person["LAChildID"]
    for episode in child.get(s["episodes"]["list"]) or []:
        episode_id = str(episode[s["episodes"]["id"]])
        assessments = episode.get("child_and_family_assessments") or []
        every = sorted({f.strip().upper() for a in assessments for f in a.get("factors") or []
                        if f.strip()})
        for event in s["events"]:
            at = event["at"]
            if at == ".":
                blocks = [(episode, f"{child_id}/{episode_id}")]
            elif at in s["blocks"]:
                block = episode.get(at)
                blocks = [(block, f"{child_id}/{episode_id}/{at}")] if block else []
            else:
                id_key = s["items"][at]
                blocks = [(item, f"{child_id}/{episode_id}/{at}/{item[id_key]}")
                          for item in episode.get(at) or []]
            for block, ref in blocks:
                start = _text(block.get(event["start"]))
                if start is None and event["type"] != "REFERRAL":
                    continue        # an optional date (an ICPC not held) is no event
                sent = [f.strip().upper() for f in block.get("factors") or [] if f.strip()]
                own = sorted(set(sent))
                factors = (own if event.get("factors") == "own" else
                           every if event.get("factors") == "episode" else [])
                rows.add({**person, "CSCEventRef": f"{ref}#{event['type']}",
                          "CSCEventType": event["type"], "StartDate": start,
                          "EndDate": _text(block.get(event["end"])) if event.get("end")
                          else None,
                          "Factors": ",".join(f for f in factors if f != "21") or None,
                          "FactorsAsSent": ",".join(sent) if event.get("factors") == "own"
                          and sent else None,
                          **{c: _text(block.get(f))
                             for c, f in (event.get("fields") or {}).items()}})
