"""Fuzz the loader with damaged files: anything it cannot read must be a LoadError with a reason,
never another exception (no 500 over HTTP, no traceback on the command line).

    .venv/bin/python tests/fuzz_ingest.py [--seed N] [--seconds S] [--direct]

(--direct: every load through the direct lane, tables built aside and swapped in, half of them
with --replace; seed 30, 600 s: 33,956 inputs, 0 crashes.)

Bases: the ingest tests' city (GeoJSON layers), a CSV of cases, the grids as KML, zipped and loose
(GBK, no .cpg) shapefiles, GeoPackages, an XLSX, an ODS, an XLS, a zipped File Geodatabase, MapInfo TAB
and MIF (GBK, a projected CoordSys). Text files get byte flips, cuts, spliced
fragments and hostile tokens; binary ones the same, half of them in the header; zips have a member
mutated, dropped, renamed outside the archive or a .cpg added, then maybe their own bytes mutated.
Each input is loaded with --check (nothing is written) into a fresh migrated database, which is
dropped at the end. An input that raises anything else is kept under --keep (default
test-output/fuzz/) with its traceback printed. Not part of `make test`: run by hand; it found the
crashes fixed in the commits that name it (a CSV cut inside a multi-byte character, damaged zip
members, zips Python's zipfile cannot open).
"""
from __future__ import annotations

import argparse
import io
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import new_database  # noqa: E402
from tests.ingest.city import write_city  # noqa: E402
from tests.paths import OUTPUT  # noqa: E402
from urbangis.ingest.gazetteer import LoadError, LoadOptions, load_gazetteer  # noqa: E402
from urbangis.layers import database as db  # noqa: E402

CASES_CSV = ("case_no,kind,major_class,minor_class,status,reported_at,closed_at,lon,lat,component_code,description\n"
             "F1,event,01,02,reported,2024-05-01 08:00,,87.6191,43.7895,,路面破损\n"
             "F2,component,01,01,closed,2024/5/1 8:30,2024-05-02 09:00,87.6192,43.7896,6501020101000001,井盖\n"
             "F3,event,01,02,处置中,2024年5月1日,,87.6193,43.7894,,\"含,逗号\"\"引号\"\n")
TEXT_TOKENS = ["\x00", "１２", "一百二十三", "\ufeff", "\u202e", "𠀀", "\r", "\n", "\"", ",", "'", "NaN", "1e400", "-0",
               "9" * 40, "\t", "null", "[", "{", "]", "}", "true", "<![CDATA[", "&amp;", "</", "\\u0000", "\\ud800"]
BINARY_TOKENS = [b"\x00", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\xe4\xb8", b"\xd5\xfd", b"9" * 30, b"-1", b" ",
                 b"\r\n", b"NaN"]


def _ogr(*args: str) -> None:
    subprocess.run(["ogr2ogr", *args], check=True, capture_output=True)


def bases(city: Path, work: Path) -> dict[str, bytes | dict[str, bytes]]:
    """name -> the file's bytes, or a multi-file base (zip members, a loose shapefile's files)."""
    out: dict[str, bytes | dict[str, bytes]] = {p.name: p.read_bytes() for p in city.iterdir()}
    out["cases.csv"] = CASES_CSV.encode("utf-8")
    src = work / "src"
    src.mkdir()
    _ogr("-f", "KML", str(src / "单元网格.kml"), str(city / "unit_grids.geojson"))
    out["单元网格.kml"] = (src / "单元网格.kml").read_bytes()
    for layer in ("unit_grids", "components", "roads"):
        geojson = city / f"{layer}.geojson"
        utf8, gbk = src / f"{layer}_utf8", src / f"{layer}_gbk"
        utf8.mkdir()
        gbk.mkdir()
        _ogr("-f", "ESRI Shapefile", "-lco", "ENCODING=UTF-8", str(utf8 / f"{layer}.shp"), str(geojson))
        out[f"{layer}.zip"] = {p.name: p.read_bytes() for p in utf8.iterdir()}
        _ogr("-f", "ESRI Shapefile", "-lco", "ENCODING=CP936", str(gbk / f"{layer}.shp"), str(geojson))
        out[f"{layer}.shp"] = {p.name: p.read_bytes() for p in gbk.iterdir() if p.suffix != ".cpg"}
        _ogr("-f", "GPKG", str(src / f"{layer}.gpkg"), str(geojson))
        out[f"{layer}.gpkg"] = (src / f"{layer}.gpkg").read_bytes()
    (src / "x.csv").write_text("case_no,kind,major_class,minor_class,status,reported_at,经度,纬度\n"
                               "X1,event,01,02,reported,2024-05-01 08:00,87.6191,43.7895\n", encoding="utf-8")
    _ogr("-f", "XLSX", str(src / "cases.xlsx"), str(src / "x.csv"))
    with zipfile.ZipFile(src / "cases.xlsx") as zf:
        out["cases.xlsx"] = {n: zf.read(n) for n in zf.namelist()}
    _ogr("-f", "ODS", str(src / "cases.ods"), str(src / "x.csv"))
    with zipfile.ZipFile(src / "cases.ods") as zf:
        out["cases.ods"] = {n: zf.read(n) for n in zf.namelist()}
    out["案件2024.xls"] = (Path(__file__).parent / "data" / "案件2024.xls").read_bytes()
    # desktop GIS: components as a zipped File Geodatabase (in EPSG:4538) and as MapInfo TAB and MIF in GBK
    components = str(city / "components.geojson")
    _ogr("-f", "OpenFileGDB", "-t_srs", "EPSG:4538", "-nln", "部件", str(src / "城管.gdb"), components)
    out["城管gdb.zip"] = {f"城管.gdb/{p.name}": p.read_bytes() for p in (src / "城管.gdb").iterdir()}
    with zipfile.ZipFile(Path(__file__).parent / "data" / "部件_domains.gdb.zip") as zf:  # coded-value domains
        out["部件domains.zip"] = {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    for suffix in ("tab", "mif"):
        folder = src / f"mapinfo_{suffix}"
        folder.mkdir()
        _ogr("-f", "MapInfo File", "-t_srs", "EPSG:4538", "-lco", "ENCODING=CP936",
             str(folder / f"components.{suffix}"), components)
        out[f"components.{suffix}"] = {p.name: p.read_bytes() for p in folder.iterdir()}
    return out


def mutate_text(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        if not b:
            break
        i, op = rnd.randrange(len(b)), rnd.random()
        if op < 0.25:
            b[i] = rnd.randrange(256)
        elif op < 0.5:
            b[i:i] = rnd.choice(TEXT_TOKENS).encode("utf-8")
        elif op < 0.6:
            del b[i:i + rnd.randint(1, 20)]
        elif op < 0.7:
            b = b[:i]
        elif op < 0.8:
            j = rnd.randrange(len(b))
            b[i:i] = b[j:j + rnd.randint(1, 50)]
        else:  # a token of the text replaced by a hostile one
            text = b.decode("utf-8", "replace")
            k = rnd.randrange(len(text))
            b = bytearray((text[:k] + rnd.choice(TEXT_TOKENS) + text[k + rnd.randint(0, 8):]).encode("utf-8"))
    return bytes(b)


def mutate_binary(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        if not b:
            break
        # headers matter most in binary formats: half the mutations land in the first 128 bytes
        i = rnd.randrange(min(len(b), 128)) if rnd.random() < 0.5 else rnd.randrange(len(b))
        op = rnd.random()
        if op < 0.4:
            b[i] = rnd.randrange(256)
        elif op < 0.55:
            b[i:i + 4] = rnd.choice(BINARY_TOKENS)[:4].ljust(4, b"\x00")
        elif op < 0.65:
            b[i:i] = rnd.choice(BINARY_TOKENS)
        elif op < 0.75:
            del b[i:i + rnd.randint(1, 20)]
        elif op < 0.85:
            b = b[:i]
        else:
            j = rnd.randrange(len(b))
            b[i:i] = b[j:j + rnd.randint(1, 50)]
    return bytes(b)


def mutate_zip(members: dict[str, bytes], rnd: random.Random) -> bytes:
    members = dict(members)
    r = rnd.random()
    if r < 0.6:
        k = rnd.choice(list(members))
        members[k] = mutate_binary(members[k], rnd)
    elif r < 0.7:
        members.pop(rnd.choice(list(members)))
    elif r < 0.8:
        k = rnd.choice(list(members))
        members[rnd.choice(["../" + k, "/abs/" + k, "a/b/" + k, k.upper()])] = members.pop(k)
    elif r < 0.9:
        members["extra.cpg"] = rnd.choice([b"GBK", b"UTF-8", b"\xff\xfe", b"LATIN1", b"bogus", b""])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    data = out.getvalue()
    return mutate_binary(data, rnd) if rnd.random() < 0.2 else data


def one_input(name: str, base, rnd: random.Random, folder: Path) -> Path:
    """Write one mutated input of ``base`` into ``folder``; returns what to load."""
    if name.endswith((".zip", ".xlsx", ".ods")):
        (folder / name).write_bytes(mutate_zip(base, rnd))
    elif isinstance(base, dict):  # a loose shapefile or MapInfo table: one of its files mutated, maybe one missing
        files = dict(base)
        k = rnd.choice(list(files))
        files[k] = mutate_text(files[k], rnd) if k.endswith((".mif", ".mid", ".tab")) else mutate_binary(files[k], rnd)
        if rnd.random() < 0.1:
            files.pop(rnd.choice([f for f in files if f != name]), None)
        for k, v in files.items():
            (folder / k).write_bytes(v)
    elif name.endswith((".gpkg", ".xls")):
        (folder / name).write_bytes(mutate_binary(base, rnd))
    else:
        (folder / name).write_bytes(mutate_text(base, rnd))
    return folder / name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=300, help="how long to run [default: 300]")
    ap.add_argument("--keep", type=Path, default=OUTPUT / "fuzz", help="where inputs that crash are kept")
    ap.add_argument("--direct", action="store_true",
                    help="take every load through the direct lane (tables built aside and swapped in where "
                         "they can be), half of them with --replace; by default only loads of 10,000 rows do")
    args = ap.parse_args()
    if args.direct:
        from urbangis.ingest import direct

        direct.DIRECT_ROWS = 1
    rnd = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="urbangis-fuzz-"))
    info = new_database("urbangis_fuzz")
    n = crashes = 0
    try:
        city = write_city(work / "city")
        with db.connect(info) as conn:
            load_gazetteer(conn, city)
        all_bases = bases(city, work)
        names = sorted(all_bases)
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            name = rnd.choice(names)
            folder = work / f"case{n}"
            folder.mkdir()
            target = one_input(name, all_bases[name], rnd, folder)
            n += 1
            try:
                with db.connect(info) as conn:
                    load_gazetteer(conn, target, LoadOptions(check_only=True, report_path=folder / "r.json",
                                                             replace=args.direct and rnd.random() < 0.5))
            except LoadError:
                pass
            except Exception as exc:  # the bug this looks for
                crashes += 1
                kept = args.keep / f"{args.seed}-{n}-{name}"
                shutil.copytree(folder, kept, dirs_exist_ok=True)
                print(f"CRASH {kept}: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
                traceback.print_exc(limit=-4)
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        db.drop_database(info)
        shutil.rmtree(work, ignore_errors=True)
    print(f"seed {args.seed}: {n} inputs, {crashes} crashes", flush=True)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
