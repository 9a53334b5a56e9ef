"""Batch geocoding shared by the API and the CLI: rows in (JSON or CSV), one answer per row, in
input order. A bad row yields an error answer for that row; it never stops the batch."""
from __future__ import annotations

import csv
import io
from typing import Iterable, Iterator

from urbangis.layers.errors import Invalid

from .engine import Geocoder, QueryError, check_query
from .output import answer_dict

MAX_ROWS = 100_000
QUERY_COLUMNS = ("q", "address", "query", "地址")
CSV_FIELDS = ("row", "id", "query", "found", "x", "y", "model", "match_level", "confidence",
              "standard_address", "district", "street", "community", "unit_grid", "responsibility_grid", "error")


class BatchError(Invalid, ValueError):
    """The batch as a whole cannot be read (not its rows: those fail one by one)."""


def rows_from_json(data) -> list[tuple[str | None, object]]:
    """A JSON list of strings or of {"id", "q"} objects -> (id, query) pairs."""
    if isinstance(data, dict) and isinstance(data.get("queries"), list):
        data = data["queries"]
    if not isinstance(data, list):
        raise BatchError("the body must be a JSON list of address strings or of {\"id\", \"q\"} objects")
    out = []
    for item in data:
        if isinstance(item, dict):
            q = next((item[c] for c in QUERY_COLUMNS if c in item), None)
            ident = item.get("id")
            out.append((None if ident is None else str(ident), q))
        else:
            out.append((None, item))
    return out


def rows_from_csv(text: str) -> list[tuple[str | None, object]]:
    """CSV with a header naming the address column (q, address, query or 地址) and optionally id;
    without such a header, the first column of every line is the address."""
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise BatchError(f"the CSV cannot be read: {exc}") from None
    names = [h.strip().lower() for h in header]
    qcol = next((names.index(c) for c in QUERY_COLUMNS if c in names), None)
    idcol = names.index("id") if "id" in names else None
    out: list[tuple[str | None, object]] = []
    if qcol is None:
        qcol, idcol = 0, None
        out.append((None, header[0] if header else ""))
    try:
        for rec in reader:
            if not rec:
                continue
            q = rec[qcol] if qcol < len(rec) else ""
            ident = rec[idcol] if idcol is not None and idcol < len(rec) else None
            out.append((ident, q))
    except csv.Error as exc:
        raise BatchError(f"the CSV cannot be read at line {reader.line_num}: {exc}") from None
    return out


def geocode_rows(geocoder: Geocoder, rows: Iterable[tuple[str | None, object]], limit: int, crs: str) -> Iterator[dict]:
    """One answer per row, in order; the row number is 1-based."""
    ix = geocoder.ix
    for n, (ident, q) in enumerate(rows, start=1):
        head = {"row": n, "id": ident}
        try:
            text = check_query(q)
        except QueryError as exc:
            yield {**head, "query": q if isinstance(q, str) else None, "found": False,
                   "error": {"code": "InvalidParameterValue", "description": f"row {n}: {exc}"}}
            continue
        try:
            body = answer_dict(ix, geocoder.geocode(text, limit), crs)
        except Exception as exc:  # one row must never fail the batch; say which and why
            yield {**head, "query": text, "found": False,
                   "error": {"code": "InternalError", "description": f"row {n}: {type(exc).__name__}: {exc}"}}
            continue
        yield {**head, **body}


def csv_record(ans: dict) -> dict:
    """A batch answer flattened to the columns of :data:`CSV_FIELDS`."""
    coords = ans.get("coordinates") or [None, None]
    admin = {a["level"]: a["name"] for a in ans.get("admin") or ()}
    err = ans.get("error")
    return {
        "row": ans.get("row"), "id": ans.get("id"), "query": ans.get("query"), "found": ans.get("found"),
        "x": coords[0], "y": coords[1], "model": ans.get("model"), "match_level": ans.get("match_level"),
        "confidence": ans.get("confidence"), "standard_address": ans.get("standard_address"),
        "district": admin.get("district"), "street": admin.get("street"), "community": admin.get("community"),
        "unit_grid": ans.get("unit_grid"), "responsibility_grid": ans.get("responsibility_grid"),
        "error": err["description"] if err else None,
    }
