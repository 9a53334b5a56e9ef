"""The coded-value domains of an Esri File Geodatabase: what the codes a field stores mean.

ArcGIS surveys keep many attributes as codes of a domain (部件状态: 1 完好, 2 破损; 权属单位: SZ
市政局). GDAL's Arrow stream decodes an integer-coded field itself (a dictionary array: see
vector._undictionary) but hands a text-coded one over as its codes, and a loader taking those as
they are stores "SZ" as a component's owner (free text: nothing rejects it). pyogrio exposes no
domains, so they are read where ArcGIS keeps them: the XML definitions in the geodatabase's
GDB_Items table (each GPCodedValueDomain2, and each feature class's GPFieldInfoEx naming its
field's domain), which GDAL's OpenFileGDB driver lists as a table with LIST_ALL_TABLES=YES.
"""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import pyogrio.raw

log = logging.getLogger("urbangis.ingest")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ET.Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return child.text
    return None


def coded_domains(gdb: Path, layer: str | None) -> dict[str, tuple[str, dict[str, str]]]:
    """{field: (domain name, {code as text: meaning})} for the fields of ``layer`` (the first
    feature class when None) that use a coded-value domain; {} when there are none or the
    catalogue cannot be read (the codes are then loaded as they are)."""
    try:
        meta, _, _, cols = pyogrio.raw.read(gdb, layer="GDB_Items", read_geometry=False, columns=["Name", "Definition"],
                                            LIST_ALL_TABLES="YES")
    except Exception as exc:  # a damaged or unusual catalogue: no domains, not a failed load
        log.debug("%s: no domains read (%s)", Path(gdb).name, exc)
        return {}
    fields = list(meta["fields"])
    names, definitions = cols[fields.index("Name")], cols[fields.index("Definition")]
    domains: dict[str, dict[str, str]] = {}
    classes: dict[str, ET.Element] = {}
    for name, definition in zip(names, definitions):
        if not definition:
            continue
        try:
            root = ET.fromstring(definition)
        except ET.ParseError:
            continue
        kind = _local(root.tag)
        if kind == "GPCodedValueDomain2":
            values = {}
            for coded in root.iter():
                if _local(coded.tag) == "CodedValue":
                    code, meaning = _child_text(coded, "Code"), _child_text(coded, "Name")
                    if code is not None and meaning:
                        values[code.strip()] = meaning.strip()
            domains[_child_text(root, "DomainName") or str(name)] = values
        elif kind in ("DEFeatureClassInfo", "DETableInfo"):
            classes[str(name).lower()] = root
    wanted = classes.get((layer or "").lower()) or (next(iter(classes.values())) if layer is None and classes else None)
    if wanted is None or not domains:
        return {}
    out = {}
    for info in wanted.iter():
        if _local(info.tag) != "GPFieldInfoEx":
            continue
        field, domain = _child_text(info, "Name"), _child_text(info, "DomainName")
        if field and domain in domains and domains[domain]:
            out[field] = (domain, domains[domain])
    return out


def decode(values: list, meanings: dict[str, str]) -> list:
    """The values with each code a domain names replaced by its meaning; the others as they are
    (a code outside the domain is then judged by the checks like any value)."""
    out: list = []
    for v in values:
        if v is None:
            out.append(v)
            continue
        key = str(v).strip()
        if isinstance(v, float) and v.is_integer():
            key = str(int(v))
        out.append(meanings.get(key, v))
    return out
