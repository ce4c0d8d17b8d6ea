"""Does model A beat model B on the same items? A paired bootstrap of the ROC AUC difference.

    python train/compare.py eval/fusion/scores.csv eval/member/scores.csv

Both files are ``scores.csv`` written by ``train/evaluate.py`` on the same data; items are paired by file name.
``--half B`` keeps only the faces of half B (``train/halves.py``: faces a head fitted on half A never saw);
``--exclude S`` drops every item whose path contains S; ``--held-out S`` marks items of a source left out of both
halves, kept whatever ``--half`` says; ``--fakes-matching S`` keeps only the fakes whose path contains S (one
generator against every real):

    python train/compare.py new/scores.csv old/scores.csv --half B --exclude dalle3__
    python train/compare.py new/scores.csv old/scores.csv --half B --held-out dalle3__ --fakes-matching dalle3__
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from train.halves import half
from train.metrics import paired_bootstrap_auc


def read_scores(path: Path) -> dict[str, tuple[int, float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["file"]: (int(row["label"]), float(row["score"])) for row in csv.DictReader(fh)}


def keep(file: str, label: int, args: argparse.Namespace) -> bool:
    """Whether an item takes part under ``--half``, ``--exclude``, ``--held-out`` and ``--fakes-matching``."""
    if any(s in file for s in args.exclude):
        return False
    if args.fakes_matching is not None and label == 1 and args.fakes_matching not in file:
        return False
    held = any(s in file for s in args.held_out)
    return args.half is None or held or half(file) == args.half


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path, help="scores.csv of model A")
    p.add_argument("b", type=Path, help="scores.csv of model B")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--half", choices=["A", "B"], default=None, help="only the items of this half (train/halves.py)")
    p.add_argument("--exclude", nargs="+", default=[], metavar="S", help="drop items whose path contains S")
    p.add_argument("--held-out", nargs="+", default=[], metavar="S",
                   help="items whose path contains S are in neither half: kept whatever --half says")
    p.add_argument("--fakes-matching", default=None, metavar="S", help="only the fakes whose path contains S")
    args = p.parse_args(argv)
    a, b = read_scores(args.a), read_scores(args.b)
    files = sorted(f for f in set(a) & set(b) if keep(f, a[f][0], args))
    if not files or any(a[f][0] != b[f][0] for f in files):
        raise SystemExit("error: the two files share no items, or disagree on their labels.")
    y = np.array([a[f][0] for f in files])
    if len(set(y.tolist())) < 2:
        raise SystemExit(f"error: the {len(files)} items left hold one class only; ROC AUC needs reals and fakes.")
    result = paired_bootstrap_auc(y, np.array([a[f][1] for f in files]), np.array([b[f][1] for f in files]),
                                  args.resamples)
    result["n"] = len(files)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
