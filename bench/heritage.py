"""Change detection (heritage/): accuracy on semi-synthetic pairs, load on the real pair, throughput.

    .venv/bin/python bench/heritage.py                 # everything, seeds 1 2 3
    .venv/bin/python bench/heritage.py --only synthetic --seeds 0

(a) semi-synthetic pairs from the NAIP 2009 image (heritage/synthetic.py), second date with gain,
offset, noise and a 0.3 px shift: object-level precision and recall for patches >= 3 x 3 px;
(b) the same with 1 px of misregistration: (b1) a 1 px shift that co-registration corrects, and
(b2) 1 px left uncorrected (co-registration off), the detector's own tolerance;
(c) the real NAIP 2009 -> 2020 pair: candidates per km2, and the recall of building-like patches
pasted into the 2020 image;
(d) throughput: the real pair tiled to ~8000 x 8000 px and written as COGs, read -> patches, one core.
Object level: a truth patch is found when a detected patch overlaps it; a detected patch is a true
positive when it overlaps a truth patch. Bias: pasted patches are easier than real change (sharp
roof colours on natural backgrounds, no shadows, no seasonal or view-angle change in (a) and (b)).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
import shapely

from urbangis.heritage import detect as D
from urbangis.heritage import synthetic

HERE = Path(__file__).resolve().parent
IMAGERY = HERE.parent / "data-samples" / "imagery"  # copies of the real pairs, with provenance
NAIP_2009 = IMAGERY / "m_4709963_se_14_1_20090818.tif"
NAIP_2020 = IMAGERY / "m_4709963_se_14_1_20200831.tif"


def write_like(path: Path, ref: str | Path, data: np.ndarray) -> None:
    """A GeoTIFF with ``ref``'s georeferencing holding ``data``."""
    with rasterio.open(ref) as src:
        profile = src.profile
    profile.update(count=data.shape[0], height=data.shape[1], width=data.shape[2])
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def score(patches: list[D.Patch], truth: list[synthetic.Truth]) -> dict:
    """Object-level precision, recall and class agreement of patches against the truth."""
    tgeoms = [t.geometry for t in truth]
    tree = shapely.STRtree(tgeoms)
    tp = 0
    found = np.zeros(len(truth), bool)
    right_class = Counter()
    for p in patches:
        hits = [int(i) for i in tree.query(p.geometry, predicate="intersects")
                if p.geometry.intersection(tgeoms[int(i)]).area > 0]
        if hits:
            tp += 1
            found[hits] = True
            best = max(hits, key=lambda i: p.geometry.intersection(tgeoms[i]).area)
            right_class[truth[best].cls == p.cls] += 1
    by_class = Counter(t.cls for t in truth)
    found_by_class = Counter(t.cls for t, f in zip(truth, found) if f)
    return {"precision": tp / len(patches) if patches else 1.0, "recall": found.mean() if truth else 1.0,
            "n_detected": len(patches), "n_truth": len(truth), "class_ok": right_class[True] / max(tp, 1),
            "recall_by_class": {c: f"{found_by_class[c]}/{n}" for c, n in by_class.items()},
            "missed": [(t.cls, t.pixels) for t, f in zip(truth, found) if not f]}


def run_synthetic(seed: int, shift: float, coregister: bool, tmp: Path, params: D.Params) -> dict:
    """One semi-synthetic pair from NAIP 2009: detect, then score against the truth."""
    with rasterio.open(NAIP_2009) as src:
        img, transform = src.read(), src.transform
    pair = synthetic.make_pair(img, seed=seed, transform=transform, shift=(shift, shift))
    b, a = tmp / f"b{seed}.tif", tmp / f"a{seed}.tif"
    write_like(b, NAIP_2009, pair.before)
    write_like(a, NAIP_2009, pair.after)
    p = D.Params(**{**params.__dict__, "coregister": coregister})
    patches = D.detect(str(b), str(a), progress=False, params=p)
    return score(patches, pair.truth)


def line(name: str, value: float, target: str, ok: bool) -> None:
    print(f"  {name:<48} {value:8.3f}   target {target:<8} {'ok' if ok else 'MISSED'}")


def bench_synthetic(seeds: list[int], tmp: Path, params: D.Params) -> None:
    cases = [("(a) 0.3 px shift, co-registered", 0.3, True, 0.85),
             ("(b1) 1 px shift, co-registered", 1.0, True, 0.75),
             ("(b2) 1 px misregistration left uncorrected", 1.0, False, 0.75)]
    for name, shift, coreg, p_target in cases:
        runs = [run_synthetic(s, shift, coreg, tmp, params) for s in seeds]
        prec = float(np.mean([r["precision"] for r in runs]))
        rec = float(np.mean([r["recall"] for r in runs]))
        print(f"{name}  seeds {seeds}")
        line("object precision (mean over seeds)", prec, f">= {p_target}", prec >= p_target)
        line("object recall (mean over seeds)", rec, ">= 0.95", rec >= 0.95)
        line("class agreement of true positives", float(np.mean([r["class_ok"] for r in runs])), "-", True)
        for s, r in zip(seeds, runs):
            print(f"    seed {s}: P {r['precision']:.3f} R {r['recall']:.3f} detected {r['n_detected']} "
                  f"truth {r['n_truth']} by class {r['recall_by_class']} missed {r['missed']}")


def bench_real(seeds: list[int], tmp: Path, params: D.Params) -> None:
    print(f"(c) real NAIP 2009 -> 2020, highpass={params.highpass}, detail score from plain/detail noise "
          f"{params.detail_when:g}")
    grid = D.grid_of(str(NAIP_2009))
    km2 = grid.width * grid.height * grid.pixel_size[0] * grid.pixel_size[1] / 1e6
    t = time.perf_counter()
    try:
        patches = D.detect(str(NAIP_2009), str(NAIP_2020), progress=False, params=params)
    except D.coregister.Misregistered as e:
        print(f"  refused: {e.reason}")
        return
    dt = time.perf_counter() - t
    print(f"  {len(patches)} candidates on {km2:.1f} km2 ({dt:.1f} s): {dict(Counter(p.cls for p in patches))}")
    line("candidates per km2", len(patches) / km2, "<= 15", len(patches) / km2 <= 15)
    recs = []
    with rasterio.open(NAIP_2020) as src:
        img, transform = src.read(), src.transform
    for s in seeds:
        rng = np.random.default_rng(1000 + s)
        pair = synthetic.make_pair(img, seed=1000 + s, transform=transform, n_new=30, n_demolished=0, n_altered=0,
                                   n_veg=0, shift=(0.0, 0.0), gain=(1.0, 1.0), offset=(0.0, 0.0), noise=0.0)
        del rng
        a = tmp / f"real_after_{s}.tif"
        write_like(a, NAIP_2020, pair.after)
        found = D.detect(str(NAIP_2009), str(a), progress=False, params=params)
        r = score(found, pair.truth)
        recs.append(r["recall"])
        print(f"    seed {s}: recall of pasted {r['recall']:.3f} ({r['n_truth']} pasted) missed {r['missed']}")
    line("recall of building-like patches pasted into 2020", float(np.mean(recs)), ">= 0.85", np.mean(recs) >= 0.85)


def tiled_cogs(tmp: Path, size: int) -> tuple[Path, Path]:
    """The real pair tiled (repeated: a mirror would flip the 2020 grid offset) to ``size`` x ``size`` px, as COGs."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    out = []
    for src_path, name in ((NAIP_2009, "before"), (NAIP_2020, "after")):
        with rasterio.open(src_path) as src:
            img, profile = src.read(), src.profile
        img = img[:, :720, :930]  # the 2020 image has a row less; keep both whole
        reps = (1, -(-size // img.shape[1]), -(-size // img.shape[2]))
        big = np.pad(img, ((0, 0), (0, (reps[1] - 1) * img.shape[1]), (0, (reps[2] - 1) * img.shape[2])),
                     mode="wrap")[:, :size, :size]
        raw = tmp / f"{name}_raw.tif"
        profile.update(width=size, height=size, tiled=True, blockxsize=512, blockysize=512, compress="deflate")
        with rasterio.open(raw, "w", **profile) as dst:
            dst.write(big)
        del big
        cog = tmp / f"{name}_cog.tif"
        cog_translate(str(raw), str(cog), cog_profiles.get("deflate"), quiet=True)
        raw.unlink()
        out.append(cog)
    return out[0], out[1]


def _timed_detect(before: str, after: str, params: D.Params) -> tuple[int, float, float]:
    """In a process of its own (so that its peak resident set is detection's, not the pair's making):
    patches, seconds, peak resident set in MB."""
    # numba loads its compiled kernels from the cache on first use (~0.3 s a process): warm them on the
    # small real pair, as the other parts of the bench do, so that --only speed measures the same
    D.detect(str(NAIP_2009), str(NAIP_2020), progress=False, params=params)
    t = time.perf_counter()
    patches = D.detect(before, after, progress=False, params=params)
    dt = time.perf_counter() - t
    return len(patches), dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_speed(tmp: Path, size: int, params: D.Params) -> None:
    print(f"(d) throughput, {size} x {size} px COG pair (NAIP 2009/2020 tiled), one core")
    b, a = tiled_cogs(tmp, size)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        n, dt, peak = pool.submit(_timed_detect, str(b), str(a), params).result()
    mpx = size * size / 1e6
    print(f"  {n} patches in {dt:.2f} s; peak resident set of the detecting process {peak:.0f} MB (the block's "
          f"working set is fixed, the patches found grow with the change)")
    line("Mpixel/s per core (two COGs read -> patches)", mpx / dt, ">= 25", mpx / dt >= 25)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="synthetic seeds (0 is for tuning)")
    ap.add_argument("--only", choices=["synthetic", "real", "speed"], help="one part only")
    ap.add_argument("--size", type=int, default=8000, help="side of the tiled pair for throughput")
    ap.add_argument("--threshold", default="li", help="li, otsu, triangle or a number")
    ap.add_argument("--highpass", type=int, default=D.Params.highpass, help="Params.highpass (0: no detail score)")
    ap.add_argument("--detail-when", type=float, default=D.Params.detail_when,
                    help="Params.detail_when: plain / detail noise from which the detail score is asked (0: always)")
    args = ap.parse_args(argv)
    # one core: numba and GDAL threads off
    os.environ.setdefault("GDAL_NUM_THREADS", "1")
    thr: str | float = args.threshold if args.threshold in ("li", "otsu", "triangle") else float(args.threshold)
    params = D.Params(threshold=thr, highpass=args.highpass, detail_when=args.detail_when)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only in (None, "synthetic"):
            bench_synthetic(args.seeds, tmp, params)
        if args.only in (None, "real"):
            bench_real(args.seeds, tmp, params)
            if args.highpass > 0:  # beside it, the plain score alone (what the real pair gave before)
                bench_real(args.seeds, tmp, D.Params(**{**params.__dict__, "highpass": 0}))
        if args.only in (None, "speed"):
            bench_speed(tmp, args.size, params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
