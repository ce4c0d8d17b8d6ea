"""Does softness read as fake? An intervention, not a correlation: soften the face crops of one class and score again.

    python train/soften_probe.py --model assets/models/default --data /packs/syn /packs/of /packs/dfdc \
        --split val --factors 0.7 0.5 --limit 3000 --out eval/soften.json

Each crop is softened by shrinking it to ``factor`` of its side (area averaging) and enlarging it back (bilinear):
the same face, content and framing, with less fine detail, as a downscaled or upscaled photo has. For each dataset
and factor the model scores the crops as packed, with only the fakes softened, only the reals softened and both, and
reports the ROC AUC and each class's mean P(fake) (per source too, where the manifest names one). A model that reads
the face barely moves; one that learnt "soft = fake" raises the softened class's scores, so softening only the reals
costs ranking and softening only the fakes helps it. ``train/quality_probe.py`` measures the correlation on the
crops as they come; this measures the cause.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from detector.api import Detector
from train.data import dataset_name, discover, limit_split, load_split, sources
from train.data import soften as soften_one


def soften(crops: np.ndarray, factor: float) -> np.ndarray:
    """``(N, S, S, 3)`` uint8 crops shrunk to ``factor`` of their side and enlarged back (``train.data.soften``, the
    softening ``fit.py --soften-reals`` trains with)."""
    if not 0 < factor <= 1:
        raise ValueError(f"factor must be in (0, 1], got {factor}")
    return np.stack([soften_one(c, factor) for c in crops])


def _summary(y: np.ndarray, scores: np.ndarray) -> dict:
    return {"roc_auc": round(float(roc_auc_score(y, scores)), 4) if 0 < y.sum() < len(y) else None,
            "mean_fake_score_of_fakes": round(float(scores[y == 1].mean()), 4) if (y == 1).any() else None,
            "mean_fake_score_of_reals": round(float(scores[y == 0].mean()), 4) if (y == 0).any() else None}


def probe(detector: Detector, crops: np.ndarray, y: np.ndarray, factors: list[float],
          source: list[str] | None = None) -> dict:
    """Scores as packed and under each softening (fakes only, reals only, both), with per-source mean scores."""
    base = detector.score_crops(crops)
    out = {"n": len(y), "as packed": _summary(y, base), "factors": {}}
    for factor in factors:
        soft = detector.score_crops(soften(crops, factor))
        row = {"fakes softened": _summary(y, np.where(y == 1, soft, base)),
               "reals softened": _summary(y, np.where(y == 0, soft, base)),
               "both softened": _summary(y, soft)}
        if source is not None:
            names = np.asarray(source)
            row["mean score per source (as packed -> softened)"] = {
                name: [round(float(base[names == name].mean()), 4), round(float(soft[names == name].mean()), 4)]
                for name in sorted(set(source))}
        out["factors"][str(factor)] = row
    return out


def load_probe_set(data: Path, split_name: str, limit: int | None,
                   size: int) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """A packed dataset's split (at most ``limit`` items, seeded) as crops of ``size``, labels and each item's source
    (``None`` when the manifest names none)."""
    split = limit_split(discover(data)[split_name], limit, seed=0)
    if not split.files:
        raise SystemExit(f"{data}: no {split_name} items")
    crops, y, skipped = load_split(split, size)
    if skipped:
        raise SystemExit(f"{data}: {skipped} unreadable items")
    own = sources(data)
    names = [own.get(f, dataset_name(data)) for f in split.files] if own else None
    return crops, np.asarray(y), names


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint folder or Hub id (default: the bundled model)")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="packed face crops (train/pack.py)")
    p.add_argument("--split", default="val")
    p.add_argument("--factors", type=float, nargs="+", default=[0.7, 0.5])
    p.add_argument("--limit", type=int, default=None, help="at most this many crops per dataset (seeded)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    detector = Detector.from_pretrained(args.model)
    result = {"model": detector.name, "split": args.split, "datasets": {}}
    for data in args.data:
        crops, y, names = load_probe_set(data, args.split, args.limit, detector.pre.img_size)
        result["datasets"][dataset_name(data)] = row = probe(detector, crops, y, args.factors, names)
        print_row(dataset_name(data), row, "factors", "soften ")
    write_result(args.out, result)
    return result


def print_row(name: str, row: dict, variants: str, prefix: str = "") -> None:
    """One dataset's probe: its summary on one line, then a line per variant (without the per-source means)."""
    print(name, json.dumps({k: v for k, v in row.items() if k != variants}))
    for variant, r in row[variants].items():
        print(f"  {prefix}{variant}: " + "; ".join(f"{k} {v}" for k, v in r.items() if "per source" not in k))


def write_result(out: Path | None, result: dict) -> None:
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
