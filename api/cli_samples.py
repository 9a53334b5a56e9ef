"""``urbangis samples``: generate the sample city and its geocoding evaluation set."""
from __future__ import annotations

import sys
from pathlib import Path

import click

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data-samples"


@click.group("samples")
def samples() -> None:
    """The sample city: Urumqi's real districts, street offices and communities with a seeded
    synthetic gazetteer (grids, roads, addresses, places, components, cases) at any scale."""


@samples.command("generate")
@click.option("--scale", default=1.0, show_default=True, type=float,
              help="Volume factor: house numbers and components grow ~N-fold, cases N²-fold "
                   "(20 gives >1M house numbers, 1M components, 10M cases).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: data-samples/urumqi].")
@click.option("--seed", default=None, type=int, help="Random seed; the same seed gives the same city.")
@click.option("--cases", default=None, type=int, help="Number of cases instead of the scale's default.")
def generate_cmd(scale: float, out: Path | None, seed: int | None, cases: int | None) -> None:
    """Write the sample city as a gazetteer folder that `urbangis load` reads.

    Big layers are written in chunks (GeoPackage, appended), so memory stays bounded at any scale.
    """
    from tqdm import tqdm

    from urbangis.samplecity.city import DEFAULT_SEED
    from urbangis.samplecity.generate import generate

    out = out or SAMPLES_DIR / "urumqi"
    bars: dict[str, tqdm] = {}

    def progress(layer: str, k: int, total: int) -> None:
        bar = bars.get(layer)
        if bar is None:
            bar = bars[layer] = tqdm(total=total or None, desc=layer, unit="rows", file=sys.stderr)
        bar.update(k)

    try:
        counts = generate(out, seed=DEFAULT_SEED if seed is None else seed, scale=scale, cases=cases,
                          progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    for layer, n in counts.items():
        click.echo(f"{layer:40s} {n:>12,d}")
    click.echo(f"written to {out}")


@samples.command("heritage")
def heritage_cmd() -> None:
    """Write the heritage sample: data-samples/heritage (the five national historic cities of
    Xinjiang at their real county seats, synthetic zones and streets) and data-samples/heritage-demo
    (a demonstration site over each real imagery pair). `urbangis heritage samples` loads them."""
    from urbangis.samplecity.heritage import write

    for layer, n in write().items():
        click.echo(f"{layer}: {n} rows")


@samples.command("queries")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON Lines file [default: data-samples/urumqi_queries.jsonl].")
@click.option("--per-model", default=100, show_default=True, type=int,
              help="Clean queries per model (as many noisy ones again).")
@click.option("--seed", default=None, type=int, help="Seed of the city the queries are drawn from.")
def queries_cmd(out: Path | None, per_model: int, seed: int | None) -> None:
    """Write the geocoder's evaluation set: address queries for all 18 combination models,
    clean and noisy, each with its true position (EPSG:4490) and target row."""
    from collections import Counter

    from urbangis.samplecity.city import DEFAULT_SEED, build_city
    from urbangis.samplecity.queries import NOISES, build_queries, noise_counts, write_queries

    city = build_city(DEFAULT_SEED if seed is None else seed, 1.0)
    aside: Counter = Counter()
    rows = build_queries(city, per_model, aside)
    out = out or SAMPLES_DIR / "urumqi_queries.jsonl"
    write_queries(out, rows)
    used = noise_counts(rows)
    click.echo(f"{'noise':16s} {'queries':>8s} {'drafts set aside (two readings)':>32s}")
    for kind in NOISES:
        click.echo(f"{kind:16s} {used[kind]:>8,d} {aside[kind]:>32,d}")
    click.echo(f"{len(rows)} queries for {len({r['model'] for r in rows})} models written to {out}")


@samples.command("rounds")
@click.option("--minutes", default=120, show_default=True, type=click.IntRange(1, 24 * 60),
              help="Length of the round, ending now.")
@click.option("--every", "step_s", default=60, show_default=True, type=click.IntRange(5, 3600),
              help="Seconds between two fixes of one supervisor.")
@click.option("--seed", default=None, type=int, help="Random seed [default: the sample city's].")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database holds GPS fixes already.")
def rounds_cmd(minutes: int, step_s: int, seed: int | None, if_empty: bool) -> None:
    """Simulate every supervisor's patrol round (巡查) of the last MINUTES: a walk through the patrol
    points of their own grids, posted as GPS fixes through the same code as POST
    /supervisors/fixes. Gives the sample city tracks, last positions and on-duty supervisors."""
    import datetime as dt

    from tqdm import tqdm

    from urbangis.api.cli import settings
    from urbangis.cases import patrols
    from urbangis.layers import database as db
    from urbangis.samplecity.city import DEFAULT_SEED
    from urbangis.samplecity.rounds import simulate_round

    config = settings()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    with db.connect(db.conninfo(config.database)) as conn:
        present = conn.execute("SELECT EXISTS (SELECT 1 FROM supervisor_fixes)").fetchone()
        if if_empty and present and present[0]:
            click.echo("GPS fixes present already: no round simulated")
            return
        routes = patrols.patrol_routes(conn)
        if not routes:
            click.echo("no supervisor has patrol points (load the sample city first): no round simulated")
            return
        fixes = [patrols.Fix(**f) for sid in sorted(routes)
                 for f in simulate_round(routes[sid], sid, now, minutes, step_s,
                                         DEFAULT_SEED if seed is None else seed)]
        accepted = 0
        with tqdm(total=len(fixes), desc="fixes", unit="fixes", file=sys.stderr) as bar:
            for k in range(0, len(fixes), patrols.MAX_FIXES):
                batch = fixes[k:k + patrols.MAX_FIXES]
                result = patrols.post_fixes(conn, batch, config.database.timezone, now)
                conn.commit()
                accepted += result.accepted
                for bad in result.rejected[:5]:
                    click.echo(f"set aside: {bad}", err=True)
                bar.update(len(batch))
    click.echo(f"{accepted:,} fixes of {len(routes):,} supervisors stored, their last positions moved")
