"""Which statutory reader a delivery needs, from what it is rather than what it is called: a
folder is an SSDA903 set, an XML file is told by its root element."""

from __future__ import annotations

from pathlib import Path

from sources.errors import ExtractError
from sources.statutory.cin_census import CinCensusSource
from sources.statutory.specs import spec
from sources.statutory.xml_stream import root_name


def open_statutory(path: Path, file_name: str):
    """The reader for a statutory return, or None for a file the column-map readers read."""
    if path.is_dir():
        from sources.statutory.ssda903 import Ssda903SetSource

        return Ssda903SetSource(path, file_name)
    if path.suffix.lower() != ".xml":
        return None
    root = root_name(path, file_name)
    if root == spec("cin_census")["root"]:
        return CinCensusSource(path, file_name)
    if root == spec("ssda903")["xml"]["root"]:
        from sources.statutory.ssda903 import Ssda903XmlSource

        return Ssda903XmlSource(path, file_name)
    if not root:        # refused with its reason (DOCTYPE, entities) by the reader
        return CinCensusSource(path, file_name)
    raise ExtractError(file_name, f"an XML file whose root element is <{root}>; Joined Up reads "
                       f"XML only as a CIN census (<{spec('cin_census')['root']}>) or an "
                       f"SSDA903 return (<{spec('ssda903')['xml']['root']}>)",
                       "Check that the right file was sent.")
