"""``urbangis geocode`` and ``urbangis reverse``: the geocoder from the command line, on an index
built in this process from the configured database (no server needed)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
import orjson


def _geocoder():
    from urbangis.geocoder.engine import Geocoder
    from urbangis.geocoder.index import build_index
    from urbangis.geocoder.models import load_models
    from urbangis.layers import database as db

    from .cli import settings

    config = settings()
    try:
        with db.connect(db.conninfo(config.database)) as conn:
            ix = build_index(conn, side_offset=config.geocoder.side_offset)
        models = load_models(config.geocoder.models)
    except Exception as exc:
        click.secho(f"error: cannot build the geocoder index: {exc}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"index: {ix.stats['house_numbers']} house numbers, {ix.stats['names']} names, "
               f"built in {ix.build_seconds:.1f} s", err=True)
    return Geocoder(ix, models)


def _crs(value: str | None) -> str:
    from urbangis.geocoder.output import UnknownCRS, parse_crs

    try:
        return parse_crs(value)
    except UnknownCRS as exc:
        raise click.BadParameter(str(exc), param_hint="--crs") from None


def _print_answer(body: dict, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    if not body.get("found"):
        click.echo(f"not found: {body.get('query')!r} (read as {body.get('normalised')!r})")
        return
    for i, c in enumerate([body] + body.get("candidates", [])):
        x, y = c["coordinates"]
        click.echo(f"{'*' if i == 0 else ' '} {c['standard_address']}  ({x}, {y})  model {c['model']}, "
                   f"{c['match_level']}, confidence {c['confidence']}, unit grid {c['unit_grid'] or '-'}, "
                   f"responsibility grid {c['responsibility_grid'] or '-'}")


@click.command("geocode")
@click.argument("address", required=False)
@click.option("--batch", "batch", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV of addresses (column q, address, query or 地址; optional id).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where --batch writes its CSV [default: stdout].")
@click.option("--limit", default=None, type=click.IntRange(1, 20),
              help="Candidates to show [default: 5; 1 in --batch].")
@click.option("--crs", default=None,
              help="Output CRS: CRS84 (default), EPSG:4490, EPSG:4326, EPSG:3857 or a Gauss-Kruger zone "
                   "EPSG:4534-4554.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
def geocode_cmd(address: str | None, batch: Path | None, out: Path | None, limit: int | None, crs: str | None,
                as_json: bool) -> None:
    """Geocode ADDRESS (any of the 18 combination models), or every row of a CSV with --batch.

    \b
    urbangis geocode "天山区解放南路12号3号楼"
    urbangis geocode --batch addresses.csv --out answers.csv
    """
    from urbangis.geocoder.engine import QueryError, check_query
    from urbangis.geocoder.output import answer_dict

    out_crs = _crs(crs)
    if batch is None and address is None:
        raise click.UsageError("give an ADDRESS or --batch FILE")
    if batch is not None and address is not None:
        raise click.UsageError("give either an ADDRESS or --batch FILE, not both")
    if batch is None:
        try:
            text = check_query(address)
        except QueryError as exc:
            raise click.BadParameter(str(exc), param_hint="ADDRESS") from None
        g = _geocoder()
        _print_answer(answer_dict(g.ix, g.geocode(text, limit or 5), out_crs), as_json)
        return
    _batch(batch, out, limit or 1, out_crs)


def _batch(path: Path, out: Path | None, limit: int, crs: str) -> None:
    from tqdm import tqdm

    from urbangis.geocoder.batch import CSV_FIELDS, BatchError, csv_record, geocode_rows, rows_from_csv

    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")
    try:
        rows = rows_from_csv(text)
    except BatchError as exc:
        raise click.BadParameter(str(exc), param_hint="--batch") from None
    g = _geocoder()
    sink = out.open("w", newline="", encoding="utf-8") if out else sys.stdout
    found = errors = 0
    try:
        w = csv.DictWriter(sink, fieldnames=CSV_FIELDS)
        w.writeheader()
        for ans in tqdm(geocode_rows(g, rows, limit, crs), total=len(rows), unit="rows", desc="geocoding",
                        file=sys.stderr, disable=None):
            w.writerow(csv_record(ans))
            found += bool(ans.get("found"))
            errors += "error" in ans
    finally:
        if out:
            sink.close()
    click.echo(f"{len(rows)} rows: {found} found, {len(rows) - found - errors} not found, {errors} refused"
               + (f"; written to {out}" if out else ""), err=True)


@click.command("reverse")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option("--radius", default=100.0, show_default=True, type=click.FloatRange(0, 5000, min_open=True),
              help="Search radius in metres.")
@click.option("--crs", default=None, help="CRS of LON LAT and of the answer [default: CRS84].")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
def reverse_cmd(lon: float, lat: float, radius: float, crs: str | None, as_json: bool) -> None:
    """The standard address at LON LAT: nearest house number or building, road, admin chain, grids.

    Negative numbers need `--` first: urbangis reverse -- -70.1 40.2
    """
    from urbangis.geocoder.output import reverse_dict, unproject
    from urbangis.geocoder.reverse import reverse

    in_crs = _crs(crs)
    try:
        glon, glat = unproject(lon, lat, in_crs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="LON LAT") from None
    g = _geocoder()
    x, y = g.ix.plane.fwd(glon, glat)
    body = reverse_dict(g.ix, reverse(g.ix, x, y, radius), in_crs, glon, glat)
    if as_json:
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"{body['standard_address'] or '(nothing known here)'}  [{body['match_level']}]")
    for key in ("house_number", "building", "road"):
        if body[key]:
            click.echo(f"  {key}: {body[key]['label']} ({body[key]['distance_m']} m)")
    click.echo(f"  unit grid: {body['unit_grid'] or '-'}, responsibility grid: {body['responsibility_grid'] or '-'}")
