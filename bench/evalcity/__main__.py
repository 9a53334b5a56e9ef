"""``python -m bench.evalcity --out DIR [--county 652902] [--seed 1] [--per-model 80] [--no-check]``"""
from __future__ import annotations

import argparse
from pathlib import Path

from .assemble import build
from .check import check


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.evalcity", description=__doc__)
    ap.add_argument("--out", type=Path, required=True, help="folder to write gazetteer/ and queries.jsonl into")
    ap.add_argument("--county", default="652902", help="6-digit adcode of a Xinjiang county (default 652902 库车市)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-model", type=int, default=80, help="clean queries per model (as many noisy ones)")
    ap.add_argument("--no-check", action="store_true", help="skip reading the files back against the contract")
    args = ap.parse_args(argv)
    res = build(args.out, args.county, args.seed, args.per_model)
    print(f"gazetteer: {res['gazetteer']}")
    for layer, n in res["layers"].items():
        print(f"  {layer:22s} {n:7d}")
    print(f"queries:   {res['queries']}  ({sum(res['queries_by_model'].values())} lines, "
          f"{res['noisy']} noisy, {res['made_up']} made up)")
    print("  by model: " + ", ".join(f"{m}: {n}" for m, n in res["queries_by_model"].items()))
    print("  noise:    " + ", ".join(f"{k}: {n}" for k, n in res["noise"].items()))
    print(f"built in {res['seconds']} s")
    if not args.no_check:
        problems = check(args.out)
        print(f"check: {len(problems)} problem(s)")
        for p in problems[:30]:
            print("  " + p)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
