"""Does model A beat model B on the same items? A paired bootstrap of the ROC AUC difference.

    python train/compare.py eval/fusion/scores.csv eval/member/scores.csv

Both files are ``scores.csv`` written by ``train/evaluate.py`` on the same data; items are paired by file name.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from train.metrics import paired_bootstrap_auc


def read_scores(path: Path) -> dict[str, tuple[int, float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["file"]: (int(row["label"]), float(row["score"])) for row in csv.DictReader(fh)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path, help="scores.csv of model A")
    p.add_argument("b", type=Path, help="scores.csv of model B")
    p.add_argument("--resamples", type=int, default=1000)
    args = p.parse_args(argv)
    a, b = read_scores(args.a), read_scores(args.b)
    files = sorted(set(a) & set(b))
    if not files or any(a[f][0] != b[f][0] for f in files):
        raise SystemExit("error: the two files share no items, or disagree on their labels.")
    y = np.array([a[f][0] for f in files])
    result = paired_bootstrap_auc(y, np.array([a[f][1] for f in files]), np.array([b[f][1] for f in files]),
                                  args.resamples)
    result["n"] = len(files)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
