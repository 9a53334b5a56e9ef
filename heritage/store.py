"""Heritage data in PostGIS: a site's zones, the patches of a detection run (stored once per run,
each with its zone and the rules it breaks), and an inspector's review of a patch."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

import psycopg
import shapely
from shapely.geometry import shape

from urbangis.layers.errors import Invalid, NotFound

from .detect import Patch, to_geojson
from .rules import Zone, patch_violations, zone_of

REVIEWS = ("待核查", "属实", "不属实")
REVIEW_ALIASES = {"pending": "待核查", "confirmed": "属实", "rejected": "不属实"}


@dataclass(frozen=True)
class Stored:
    run: str
    patches: int
    violations: int
    already: bool  # the run was stored before: nothing was written again
    carried: int = 0  # reviews carried over from the run this one supersedes (see CARRY)


def site_zones(conn: psycopg.Connection, site_id: str) -> list[tuple[Zone, object]]:
    """The zones of ``site_id`` with their outlines in lon/lat (NotFound when there is no such site)."""
    if conn.execute("SELECT 1 FROM heritage_sites WHERE id = %s", (site_id,)).fetchone() is None:
        raise NotFound(f"no heritage site {site_id!r}", parameter="site", value=site_id)
    rows = conn.execute("SELECT id, site_id, name, zone_kind, new_construction, max_height_m, max_footprint_change, "
                        "ST_AsBinary(geom) FROM protection_zones WHERE site_id = %s ORDER BY id", (site_id,)).fetchall()
    return [(Zone(*r[:7]), shapely.from_wkb(bytes(r[7]))) for r in rows]


def site_outline(conn: psycopg.Connection, site_id: str):
    row = conn.execute("SELECT ST_AsBinary(geom) FROM heritage_sites WHERE id = %s", (site_id,)).fetchone()
    if row is None:
        raise NotFound(f"no heritage site {site_id!r}", parameter="site", value=site_id)
    return shapely.from_wkb(bytes(row[0]))


def run_key(site_id: str, before: str, after: str, settings: str) -> str:
    """The identity of a detection run: the same site, images and parameters are the same run."""
    return hashlib.sha256("\x1f".join((site_id, before, after, settings)).encode()).hexdigest()[:24]


def save_run(conn: psycopg.Connection, site_id: str, patches: Sequence[Patch], before_date: dt.date,
             after_date: dt.date, run: str, before_epoch: int | None = None, after_epoch: int | None = None,
             replace: bool = False) -> Stored:
    """Store the patches of one run for ``site_id`` in one transaction: each with the zone it lies in
    and the rules it breaks. A run stored before is left as it is (its reviews kept) unless
    ``replace``."""
    _check_order(before_date, after_date)
    zones = site_zones(conn, site_id)
    return _store(conn, run, replace, lambda: [
        _row(feature, zones, site_id, before_epoch, after_epoch, before_date, after_date, run)
        for feature in to_geojson(patches)["features"]], (site_id, before_date, after_date, "imagery"))


def save_buildings(conn: psycopg.Connection, site_id: str, features: Sequence[dict], before_date: dt.date,
                   after_date: dt.date, run: str, replace: bool = False) -> Stored:
    """Store the building changes of a footprint comparison (heritage/buildings.py features; the
    unchanged ones are not stored) as patches of class new_construction, demolition or alteration,
    confidence 1, with their rules broken and the comparison in ``attrs``."""
    _check_order(before_date, after_date)
    site_zones(conn, site_id)  # (NotFound for an unknown site)

    def rows() -> list[tuple]:
        out = []
        for f in features:
            p = f["properties"]
            if p["class"] is None:
                continue
            geom = shape(f["geometry"])
            area = p["area_after_m2"] if p["area_after_m2"] is not None else p["area_before_m2"]
            attrs = {k: p[k] for k in ("status", "iou", "reasons", "height_before", "height_after",
                                       "footprint_change_pct")}
            out.append((site_id, p["zone_id"], None, None, before_date, after_date, p["class"], area or 0.0, 1.0,
                        p["violations"], run, shapely.to_wkb(_multi(geom)), json.dumps({"source": "footprints",
                                                                                         **attrs})))
        return out
    return _store(conn, run, replace, rows, (site_id, before_date, after_date, "footprints"))


# An inspector's verdict on a patch of the run a new run supersedes (the latest other run of the
# same site, dates and source: heritage/report.py) goes over to the new run's patch of the same
# class that overlaps it most, when their intersection over union is at least CARRY_IOU: detecting
# the same images again with other parameters does not make the inspectors review the same change
# twice. The note says where the verdict came from; the earlier run keeps its own.
CARRY_IOU = 0.5
CARRY = """
WITH prev AS (
    SELECT run FROM change_patches
    WHERE site_id = %(site)s AND before_date = %(d0)s AND after_date = %(d1)s AND run <> %(run)s
      AND coalesce(attrs->>'source', 'imagery') = %(source)s
    GROUP BY run ORDER BY max(detected_at) DESC, max(id) DESC LIMIT 1),
pairs AS (
    SELECT DISTINCT ON (n.id) n.id AS new_id, o.id AS old_id, o.run AS old_run, o.review, o.reviewed_by,
           o.reviewed_at, o.review_note,
           ST_Area(ST_Intersection(n.geom, o.geom)::geography) / NULLIF(ST_Area(ST_Union(n.geom, o.geom)::geography), 0)
           AS iou
    FROM change_patches n JOIN change_patches o ON o.run = (SELECT run FROM prev) AND o.class = n.class
         AND o.review <> '待核查' AND ST_Intersects(n.geom, o.geom)
    WHERE n.run = %(run)s
    ORDER BY n.id, iou DESC NULLS LAST, o.id)
UPDATE change_patches c SET review = p.review, reviewed_by = p.reviewed_by, reviewed_at = p.reviewed_at,
       review_note = concat_ws(' ', p.review_note, format('(carried over from patch %%s of run %%s)', p.old_id,
                                                          p.old_run))
FROM pairs p WHERE c.id = p.new_id AND p.iou >= %(iou)s"""




def _check_order(before_date: dt.date, after_date: dt.date) -> None:
    if before_date >= after_date:
        raise Invalid(f"the before date {before_date} is not before the after date {after_date}",
                      parameter="before_date", value=str(before_date))


def _store(conn: psycopg.Connection, run: str, replace: bool, make_rows,
           pair: tuple[str, dt.date, dt.date, str]) -> Stored:
    """The rows ``make_rows()`` gives stored as run ``run``, once (see :func:`save_run`), with the
    verdicts of the run it supersedes carried over (:data:`CARRY`) in the same transaction. ``pair``:
    the site, the two dates and the source (imagery, footprints) of the run."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"heritage-run-{run}",))
        have = (conn.execute("SELECT count(*) FROM change_patches WHERE run = %s", (run,)).fetchone() or (0,))[0]
        if have and not replace:
            broken = (conn.execute("SELECT count(*) FROM change_patches WHERE run = %s AND violations <> '{}'",
                                   (run,)).fetchone() or (0,))[0]
            result = Stored(run, have, broken, True)
        else:
            conn.execute("DELETE FROM change_patches WHERE run = %s", (run,))
            rows = make_rows()
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO change_patches (site_id, zone_id, before_epoch, after_epoch, before_date, after_date, "
                    "class, area_m2, confidence, violations, run, geom, attrs) VALUES (%s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s, %s, ST_SetSRID(ST_GeomFromWKB(%s), 4490), %s::jsonb)",
                    [r if len(r) == 13 else (*r, "{}") for r in rows])
            site_id, d0, d1, source = pair
            carried = conn.execute(CARRY, {"site": site_id, "d0": d0, "d1": d1, "run": run, "source": source,
                                           "iou": CARRY_IOU}).rowcount
            result = Stored(run, len(rows), sum(1 for r in rows if r[9]), False, max(carried, 0))
    conn.commit()  # (the reads above opened the transaction: the block was a savepoint of it)
    return result


def _multi(geom):
    return geom if geom.geom_type == "MultiPolygon" else shapely.multipolygons(shapely.get_parts(geom))


def _row(feature: dict, zones: list[tuple[Zone, object]], site_id: str, before_epoch: int | None,
         after_epoch: int | None, before_date: dt.date, after_date: dt.date, run: str) -> tuple:
    """The change_patches row of one patch (a GeoJSON feature in lon/lat): its zone and violations."""
    geom = shape(feature["geometry"])
    props = feature["properties"]
    cls = props["class"].replace(" ", "_")
    zone = zone_of(geom, zones)
    return (site_id, zone.id if zone else None, before_epoch, after_epoch, before_date, after_date, cls,
            props["area_m2"], props["confidence"], patch_violations(cls, zone), run, shapely.to_wkb(_multi(geom)))


def review(conn: psycopg.Connection, patch_id: int, status: str, by: str, note: str | None = None) -> dict:
    """An inspector's review of a patch (待核查 / 属实 / 不属实, or pending / confirmed / rejected)."""
    value = REVIEW_ALIASES.get(status.strip().lower(), status.strip())
    if value not in REVIEWS:
        raise Invalid(f"review: {status!r} is not one of {', '.join(REVIEWS)} (or pending, confirmed, rejected)",
                      parameter="review", value=status)
    row = conn.execute("UPDATE change_patches SET review = %s, reviewed_by = %s, reviewed_at = now(), review_note = %s "
                       "WHERE id = %s RETURNING id, review, reviewed_by, reviewed_at, review_note",
                       (value, by, note, patch_id)).fetchone()
    if row is None:
        raise NotFound(f"no change patch {patch_id}", parameter="id", value=patch_id)
    conn.commit()
    return {"id": row[0], "review": row[1], "reviewed_by": row[2], "reviewed_at": row[3].isoformat(),
            "review_note": row[4]}


def check_dates(date_from: dt.date | None, date_to: dt.date | None) -> None:
    if date_from and date_to and date_from > date_to:
        raise Invalid(f"from {date_from} is after to {date_to}", parameter="from", value=str(date_from))
