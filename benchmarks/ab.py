"""Interleaved A/B of CPU inference paths (not a test): which path is faster on a machine whose speed drifts.

    python benchmarks/ab.py --configs default xception+densenet121 resnet50 --paths bf16 bf16_fast

bench.py measures each path in a process of its own, minutes apart; on a shared machine whose speed changes by 1.5x
from one minute to the next, that can put noise between two paths. Here the paths of one configuration run in one
process, alternating call by call, so each round sees the same machine; the medians over the rounds are printed (and
written with --json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import PATHS, load, machine, make_runner


def ab(config: str, paths: list[str], rounds: int, tmp: Path) -> dict:
    models = {path: load(config) for path in paths}  # a model each: a path may change its memory format
    size = models[paths[0]].preprocessing.img_size
    runners = {path: make_runner(model, path, tmp) for path, model in models.items()}
    rng = np.random.default_rng(0)
    out: dict = {}
    for batch in (1, 32):
        x = rng.random((batch, 3, size, size), dtype=np.float32)
        times: dict[str, list[float]] = {path: [] for path in paths}
        for run in runners.values():
            run(x)  # warm-up
        for _ in range(rounds):
            for path, run in runners.items():
                start = time.perf_counter()
                run(x)
                times[path].append(time.perf_counter() - start)
        for path in paths:
            out.setdefault(path, {})[f"faces_per_s_b{batch}"] = round(batch / statistics.median(times[path]), 2)
    for path in paths:
        print(f"{config:28s} {path:12s} {out[path]}", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["default", "xception+densenet121"])
    p.add_argument("--paths", nargs="+", default=["bf16", "bf16_fast"], choices=PATHS)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    report: dict = {"machine": machine(), "rounds": args.rounds, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            report["models"][config] = ab(config, args.paths, args.rounds, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
